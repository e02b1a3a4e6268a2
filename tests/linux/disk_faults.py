#!/usr/bin/env python3
"""linux.disk_faults: host I/O errors as Linux sees them.

usage: disk_faults.py --shim fault_shim.so --image COPY.img [--timeout S] -- SOFTCPU ARGS...

Runs the default guest on a writable copy of the disk with fault_shim.so preloaded: every
host write touching partition 2's first 4 KiB and every host read of its sector 2048 fail
with EIO. In the guest, `dd conv=fsync` to /dev/sda2 must fail and a direct read of sector
2048 must fail, with the kernel logging "I/O error" for /dev/sda; the guest keeps running (a
write elsewhere on sda2 works and reads back), softcpu reports each kind of failure once on
stderr, and the guest powers off normally (status 0)."""
import argparse
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest_session as gs  # noqa: E402


def main():
    argv = sys.argv[1:]
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--shim", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    offset, _ = gs.partition_offset(args.image, 2)
    os.environ.update(LD_PRELOAD=args.shim, SOFTCPU_FAULT_FILE=args.image,
                      ASAN_OPTIONS="verify_asan_link_order=0",
                      SOFTCPU_FAULTS=f"write:EIO:at={offset}:times=0,"
                                     f"read:EIO:at={offset + 2048 * 512}:times=0")
    start = time.monotonic()
    con = gs.Console(cmd, start + args.timeout)
    failures = []
    try:
        gs.boot_to_prompt(con)
        con.run("for i in $(seq 120); do [ -b /dev/sda2 ] && break; sleep 1; done", "sda2")
        out = con.run("dd if=/dev/urandom of=/dev/sda2 bs=4096 count=1 conv=fsync; echo W$?",
                      "the failing write")
        if re.search(r"^W0\r?$", out, re.M):
            failures.append(f"dd to the failing sectors succeeded: {out!r}")
        out = con.run("dd if=/dev/sda2 of=/dev/null bs=512 skip=2048 count=1 iflag=direct; "
                      "echo R$?", "the failing read")
        if re.search(r"^R0\r?$", out, re.M):
            failures.append(f"the read of the failing sector succeeded: {out!r}")
        out = con.run("dmesg | grep -i 'I/O error' | head -5", "dmesg")
        print(f"\ndisk_faults: kernel log: {out!r}")
        if not re.search(r"I/O error, dev sda, sector \d+ op 0x1:\(WRITE\)", out):
            failures.append("no write I/O error for sda in the kernel log")
        if not re.search(r"I/O error, dev sda, sector \d+ op 0x0:\(READ\)", out):
            failures.append("no read I/O error for sda in the kernel log")
        # The disk still works elsewhere.
        out = con.run("echo still-here >/tmp/s; dd if=/tmp/s of=/dev/sda2 bs=4096 seek=64 "
                      "conv=fsync 2>/dev/null; echo 3 >/proc/sys/vm/drop_caches; "
                      "dd if=/dev/sda2 bs=4096 skip=64 count=1 2>/dev/null | head -c 10; echo",
                      "a good write")
        if "still-here" not in out:
            failures.append(f"a write elsewhere on sda2 did not read back: {out!r}")
        con.type_line("poweroff -f")
        status = con.wait_exit()
        con.reader.join(timeout=5)
        if status != 0:
            failures.append(f"exit status {status}, expected 0")
        text = con.text()
        for kind in ("write", "read"):
            n = len(re.findall(rf"softcpu: disk '[^']*': {kind} of \d+ bytes", text))
            if n != 1:
                failures.append(f"softcpu reported {n} {kind} failures on stderr, expected 1")
    except gs.Failure as e:
        failures.append(str(e))
    finally:
        con.kill()
    for f in failures:
        print("FAIL:", f)
    if failures:
        tail = con.text().replace("\r\n", "\n").split("\n")[-60:]
        print("\n".join(tail))
        return 1
    print("linux.disk_faults: PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
