#!/usr/bin/env python3
"""faults.kill: SIGKILL at random points loses nothing acknowledged as flushed; snapshot=on
never opens the image for writing.

usage: kill_test.py SOFTCPU ata_writer.rom MAKE_DISK [ROUNDS]

Each round writes a fresh tag to sector 0, runs ata_writer.rom (records to sectors 1, 2, ...,
FLUSH CACHE every 1-4 records, "FLUSHED n" after each flush) on the image read-write, and
SIGKILLs softcpu at a random moment (a random number of FLUSHED lines, then a random delay).
Every record up to the last FLUSHED line read before the kill must be in the image with this
round's tag. The open flags of the image's descriptor (/proc/PID/fdinfo) must be O_RDWR. A
last round runs with snapshot=on: the descriptor must be O_RDONLY (and the only one on the
image), and the image's bytes must not change though the guest wrote and flushed."""
import hashlib
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402


class Run:
    """softcpu on the writer guest; collects the FLUSHED numbers as they arrive."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.flushed = 0
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("latin-1").strip()
            with self.cond:
                self.lines.append(line)
                if line.startswith("FLUSHED "):
                    self.flushed = int(line.split()[1])
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def wait_flushed(self, n, timeout=30):
        end = time.monotonic() + timeout
        with self.cond:
            while self.flushed < n and None not in self.lines:
                left = end - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"FAIL: no FLUSHED {n} within {timeout} s: {self.lines[-5:]}")
                self.cond.wait(left)

    def kill(self):
        """SIGKILL; returns the last FLUSHED number read before the signal was sent."""
        with self.cond:
            acknowledged = self.flushed
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return acknowledged


def image_fds(pid, image):
    """(fd, open flags) of each descriptor of pid open on image."""
    found = []
    real = os.path.realpath(image)
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.path.realpath(os.readlink(f"/proc/{pid}/fd/{fd}")) != real:
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                flags = int(next(l for l in f if l.startswith("flags:")).split()[1], 8)
        except (OSError, StopIteration):
            continue
        found.append((int(fd), flags))
    return found


def check_records(image, tag, upto):
    with open(image, "rb") as f:
        for n in range(1, upto + 1):
            f.seek(n * 512)
            s = f.read(512)
            if s[:4] != b"REC!" or struct.unpack_from("<II", s, 4) != (tag, n):
                return f"record {n} (of {upto} acknowledged) is missing: {s[:12]!r}"
            want = bytes(b for i in range(6, 256)
                         for b in struct.pack("<H", (tag * 31 + n * 7 + i) & 0xFFFF))
            if s[12:] != want:
                return f"record {n} has the wrong contents"
    return None


def main():
    softcpu, rom, disk_maker = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    seed = int(os.environ.get("KILL_TEST_SEED", time.time_ns() % 1000000))
    rng = random.Random(seed)
    print(f"kill_test: seed {seed} (KILL_TEST_SEED={seed} repeats this run)")
    failures = []
    with faultlib.scratch_dir() as tmp:
        disk = faultlib.make_disk(disk_maker, tmp)
        for r in range(rounds):
            tag = rng.randrange(1, 1 << 31)
            with open(disk, "r+b") as f:
                f.write(b"TAG!" + struct.pack("<I", tag))
                os.fsync(f.fileno())
            run = Run(faultlib.softcpu_cmd(softcpu, rom, f"file={disk},format=raw", 60))
            run.wait_flushed(rng.randrange(1, 100))  # each flush is an fsync: slow on a busy disk
            if r == 0:
                fds = image_fds(run.proc.pid, disk)
                if [fl & os.O_ACCMODE for _, fl in fds] != [os.O_RDWR]:
                    failures.append(f"read-write run: image descriptors {fds}, expected one O_RDWR")
            time.sleep(rng.uniform(0, 0.3))
            acked = run.kill()
            problem = check_records(disk, tag, acked)
            print(f"round {r}: tag {tag:#x}, killed after FLUSHED {acked}: "
                  f"{problem or 'all acknowledged records present'}")
            if problem:
                failures.append(f"round {r}: {problem}")

        # snapshot=on: read-only descriptor, image unchanged.
        before = hashlib.sha256(open(disk, "rb").read()).hexdigest()
        run = Run(faultlib.softcpu_cmd(softcpu, rom, f"file={disk},format=raw,snapshot=on", 60))
        run.wait_flushed(50)
        fds = image_fds(run.proc.pid, disk)
        modes = [fl & os.O_ACCMODE for _, fl in fds]
        print(f"snapshot=on: image descriptors (fd, flags) {[(fd, oct(fl)) for fd, fl in fds]}")
        if modes != [os.O_RDONLY]:
            failures.append(f"snapshot=on: image descriptors {fds}, expected one O_RDONLY")
        acked = run.kill()
        if hashlib.sha256(open(disk, "rb").read()).hexdigest() != before:
            failures.append("snapshot=on: the image changed")
        print(f"snapshot=on: killed after FLUSHED {acked}; image unchanged: "
              f"{'no' if failures and 'changed' in failures[-1] else 'yes'}")
    return faultlib.report(failures, "faults.kill")


if __name__ == "__main__":
    sys.exit(main())
