#!/usr/bin/env python3
"""linux.kill: SIGKILL while the Linux guest writes and syncs; nothing it saw synced is lost.

usage: kill_linux.py --image COPY.img [--timeout S] -- SOFTCPU ARGS...

Boots the default guest read-write on a copy of the disk; the guest writes records to
/dev/sda2, record i to its sector i ("REC TAG i"), each with dd conv=fsync (so Linux sends
FLUSH CACHE), and prints "SYNCED i" after each. After a random number of records softcpu is
SIGKILLed; every record up to the last SYNCED line read before the kill must be in the image."""
import argparse
import os
import random
import re
import secrets
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest_session as gs  # noqa: E402


def main():
    argv = sys.argv[1:]
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    offset, size = gs.partition_offset(args.image, 2)
    tag = secrets.token_hex(4)
    target = random.randrange(5, 60)
    print(f"kill_linux: tag {tag}, SIGKILL after about {target} synced records")
    con = gs.Console(cmd, time.monotonic() + args.timeout)
    failures = []
    acked = 0
    try:
        gs.boot_to_prompt(con)
        con.run("for i in $(seq 120); do [ -b /dev/sda2 ] && break; sleep 1; done", "sda2")
        start = con.mark()
        con.type_line(f"i=0; while [ $i -lt 1000 ]; do i=$((i+1)); printf 'REC {tag} %05d\\n' $i"
                      f" | dd of=/dev/sda2 bs=512 seek=$i conv=fsync,notrunc 2>/dev/null"
                      f" && echo SYNCED-$i; done")
        con.wait_for(re.compile(rf"^SYNCED-{target}\r?$", re.M), start, f"SYNCED-{target}")
        time.sleep(random.uniform(0, 0.5))
        with con.cond:  # what was read before the signal counts as acknowledged
            seen = re.findall(r"^SYNCED-(\d+)\r?$", con.buf[start:].decode("latin-1"), re.M)
            acked = max(map(int, seen))
            con.proc.send_signal(signal.SIGKILL)
        con.proc.wait()
        print(f"\nkill_linux: killed after SYNCED-{acked}")
        with open(args.image, "rb") as f:
            for i in range(1, acked + 1):
                f.seek(offset + i * 512)
                want = f"REC {tag} {i:05d}\n".encode()
                got = f.read(len(want))
                if got != want:
                    failures.append(f"record {i} of {acked} synced is missing: {got!r}")
                    break
    except gs.Failure as e:
        failures.append(str(e))
    finally:
        con.kill()
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print(f"linux.kill: PASSED ({acked} synced records all in the image)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
