#!/usr/bin/env python3
"""faults.term: SIGTERM and SIGINT end a run as a power-off does: exit status 128 + signal, a
line on stderr naming the signal, the --stats-file written, every record written before the
signal on disk (the image is flushed and closed on the way out), with one CPU and with CPUs
on host threads (-smp 2 --accel tcg,thread=multi).

usage: term_test.py SOFTCPU ata_writer.rom MAKE_DISK"""
import json
import os
import signal
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402
from kill_test import Run, check_records  # noqa: E402

CASES = [
    ("SIGTERM, one CPU", signal.SIGTERM, []),
    ("SIGINT, one CPU", signal.SIGINT, []),
    ("SIGTERM, CPUs on threads", signal.SIGTERM, ["-smp", "2", "--accel", "tcg,thread=multi"]),
]


def main():
    softcpu, rom, disk_maker = sys.argv[1:4]
    failures = []
    with faultlib.scratch_dir() as tmp:
        disk = faultlib.make_disk(disk_maker, tmp)
        for n, (name, sig, extra) in enumerate(CASES):
            tag = 0x5157 + n
            with open(disk, "r+b") as f:
                f.write(b"TAG!" + struct.pack("<I", tag))
                os.fsync(f.fileno())
            stats = os.path.join(tmp, f"stats{n}.json")
            cmd = faultlib.softcpu_cmd(softcpu, rom, f"file={disk},format=raw", 60,
                                       ["--stats=json", "--stats-file", stats, *extra])
            run = Run(cmd)
            run.wait_flushed(20)
            with run.cond:
                acked = run.flushed
                run.proc.send_signal(sig)
            try:
                status = run.proc.wait(timeout=20)
            except Exception:
                run.proc.kill()
                failures.append(f"{name}: still running 20 s after the signal")
                continue
            with run.cond:
                run.cond.wait_for(lambda: None in run.lines, timeout=5)
                out = "\n".join(l for l in run.lines if l is not None)
            want = f"stopped by signal {int(sig)}"
            problems = []
            if status != 128 + int(sig):
                problems.append(f"exit status {status}, expected {128 + int(sig)}")
            if want not in out:
                problems.append(f"no '{want}' in the output: {out[-300:]!r}")
            try:
                with open(stats) as f:
                    insns = json.load(f).get("instructions", 0)
                if insns <= 0:
                    problems.append(f"stats file says {insns} instructions")
            except (OSError, ValueError) as e:
                problems.append(f"no usable stats file: {e}")
            problem = check_records(disk, tag, acked)
            if problem:
                problems.append(problem)
            print(f"{name}: status {status}, FLUSHED {acked} before the signal: "
                  f"{'; '.join(problems) or 'ok'}")
            failures += [f"{name}: {p}" for p in problems]
    return faultlib.report(failures, "faults.term")


if __name__ == "__main__":
    sys.exit(main())
