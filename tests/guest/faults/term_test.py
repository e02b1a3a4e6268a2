#!/usr/bin/env python3
"""faults.term: SIGTERM and SIGINT end a run as a power-off does: exit status 128 + signal, a
line on stderr naming the signal, the --stats-file written, every record written before the
signal on disk (the image is flushed and closed on the way out), with one CPU, with CPUs
on host threads (-smp 2 --accel tcg,thread=multi), and in a system of two partitions
(run --config: the writer beside a partition that spins; both stopped by the primary).

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
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from test_roms import rom_with_reset_code  # noqa: E402

CASES = [
    ("SIGTERM, one CPU", signal.SIGTERM, []),
    ("SIGINT, one CPU", signal.SIGINT, []),
    ("SIGTERM, CPUs on threads", signal.SIGTERM, ["-smp", "2", "--accel", "tcg,thread=multi"]),
    ("SIGTERM, a system of partitions", signal.SIGTERM, None),
    ("SIGINT, a system of partitions", signal.SIGINT, None),
]

SYSTEM = """machine_memory = "64M"
[[processor_set]]
name = "host"
threads = 2
[[hypervisor]]
name = "primary"
processor_set = "host"
[[partition]]
name = "writer"
exit_on_poweroff = true
[[partition.memory]]
base = 0
size = "16M"
[[partition.disk]]
file = "{disk}"
[[partition.debugcon]]
port = 0xE9
file = "-"
[partition.boot]
bios = "{rom}"
[[partition]]
name = "spinner"
[[partition.memory]]
base = 0
size = "16M"
[partition.boot]
bios = "{spin}"
"""


def system_cmd(softcpu, rom, disk, tmp, stats):
    """run --config of the writer and a partition that spins (JMP $ at the reset vector)."""
    spin = os.path.join(tmp, "spin.rom")
    with open(spin, "wb") as f:
        f.write(rom_with_reset_code(b"\xEB\xFE"))  # jmp $
    config = os.path.join(tmp, "system.toml")
    with open(config, "w") as f:
        f.write(SYSTEM.format(disk=disk, rom=os.path.abspath(rom), spin=spin))
    return [softcpu, "run", "--config", config, "--stats=json", "--stats-file", stats]


def instructions(stats):
    """Guest instructions in a stats file: the single guest's, or the writer partition's."""
    with open(stats) as f:
        data = json.load(f)
    if "partitions" in data:
        for p in data["partitions"]:
            if p.get("name") == "writer":
                return p.get("instructions", 0)
        return 0
    return data.get("instructions", 0)


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
            if extra is None:
                cmd = system_cmd(softcpu, rom, disk, tmp, stats)
            else:
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
                insns = instructions(stats)
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
