#!/usr/bin/env python3
"""faults.image_lock: a disk image used by two softcpu processes at once is refused unless
both only read it (readonly=on or snapshot=on), with a message naming the image and the other
process; the lock goes away with the process, even after SIGKILL.

usage: image_lock_test.py SOFTCPU ROM MAKE_DISK

The holder is `softcpu run -S --gdb tcp:127.0.0.1:0` (frozen, waiting for gdb, image open)."""
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402


def holder(softcpu, rom, drive):
    p = subprocess.Popen(faultlib.softcpu_cmd(softcpu, rom, drive, 60, ["-S", "--gdb",
                                              "tcp:127.0.0.1:0"]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()  # "softcpu: waiting for gdb on ..." once the machine is built
    if "waiting for gdb" not in line:
        raise SystemExit(f"FAIL: the holder did not start: {line!r}")
    return p


def second(softcpu, rom, drive):
    p = subprocess.run(faultlib.softcpu_cmd(softcpu, rom, drive, 5), capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stderr.strip()


def main():
    softcpu, rom, disk_maker = sys.argv[1:4]
    failures = []

    def expect(what, result, status, *needles):
        code, err = result
        ok = code == status and all(n in err for n in needles)
        print(f"{'ok  ' if ok else 'FAIL'} {what}: status {code}: {err.splitlines()[:1]}")
        if not ok:
            failures.append(f"{what}: status {code} (want {status}), stderr {err!r}, "
                            f"want {needles}")

    with faultlib.scratch_dir() as tmp:
        disk = faultlib.make_disk(disk_maker, tmp)
        rw, ro, snap = f"file={disk}", f"file={disk},readonly=on", f"file={disk},snapshot=on"

        h = holder(softcpu, rom, rw)
        who = f"pid {h.pid} (softcpu)"
        expect("read-write while read-write", second(softcpu, rom, rw), 2,
               f"cannot open disk image '{disk}': it is in use by {who}", "readonly=on")
        expect("readonly=on while read-write", second(softcpu, rom, ro), 2,
               f"it is open read-write by {who}")
        expect("snapshot=on while read-write", second(softcpu, rom, snap), 2,
               f"it is open read-write by {who}")
        h.send_signal(signal.SIGKILL)  # the kernel drops the lock with the last descriptor
        h.wait()
        # The image opens, so ata_writer.rom runs: sector 0 holds no tag, the guest exits with
        # 3 (status 7) at once.
        expect("read-write after the holder was killed", second(softcpu, rom, rw), 7)

        h = holder(softcpu, rom, ro)
        expect("snapshot=on while readonly=on", second(softcpu, rom, snap), 7)
        h2 = holder(softcpu, rom, snap)
        expect("read-write while readonly=on and snapshot=on", second(softcpu, rom, rw), 2,
               f"it is in use by pid {h.pid} (softcpu), pid {h2.pid} (softcpu)")
        for p in (h, h2):
            p.send_signal(signal.SIGTERM)
            p.wait()
    return faultlib.report(failures, "faults.image_lock")


if __name__ == "__main__":
    sys.exit(main())
