#!/usr/bin/env python3
"""Lockstep test of the two tiers: each deterministic guest runs with the JIT off and with every
block compiled at its first run (--jit-sync --jit-threshold 1), and at a middle threshold;
`--state-log` writes the guest state (instruction count, CS:EIP, registers, EFLAGS, a hash of
RAM) at every exit to the monitor and at the end. The logs and exit statuses must be identical;
the first differing line is reported with the state each tier had there.

usage: lockstep_test.py SOFTCPU ROM[:EXTRA-ARGS] ...

EXTRA-ARGS (space-separated softcpu options) go to every mode of that ROM, e.g.
`c_checksum.rom:--tcache-size 64K --tcache-policy lru` runs both tiers with a tiny
translation cache (the lockstep_tcache test).
"""
import os
import subprocess
import sys
import tempfile

RUN_TIMEOUT = 600  # seconds per run (softcpu --timeout)

MODES = [
    ("interpreter", ["--jit", "off"]),
    ("jit threshold 1", ["--jit", "on", "--jit-sync", "--jit-threshold", "1"]),
    ("jit threshold 7", ["--jit", "on", "--jit-sync", "--jit-threshold", "7"]),
]


def run(softcpu, rom, extra, mode_args, log):
    # Generous: compiling every block synchronously (threshold 1) costs c_checksum.rom ~45 s of
    # compiles on an idle machine, and a loaded one once took it past the old 120 s, which
    # then looked like a divergence (the log simply ended early).
    cmd = [softcpu, "run", "--bios", rom, "-m", "16", "--serial", "none", "--timeout",
           str(RUN_TIMEOUT), "--state-log", log] + extra + mode_args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=RUN_TIMEOUT + 120)
    if p.returncode < 0:
        sys.exit(f"FAIL: {' '.join(cmd)} died by signal {-p.returncode}\n{p.stderr.decode(errors='replace')}")
    with open(log) as f:
        return p.returncode, f.read().splitlines(), " ".join(cmd)


def main():
    softcpu, specs = sys.argv[1], sys.argv[2:]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            rom, _, extra = spec.partition(":")
            extra = extra.split() if extra else []
            # The same ROM may come several times with other extra arguments: name them.
            label = " ".join([os.path.basename(rom)] + extra)
            if not os.path.exists(rom):
                sys.exit(f"FAIL: missing guest {rom} (build it first)")
            results = []
            for k, (name, args) in enumerate(MODES):
                results.append((name,) + run(softcpu, rom, extra, args, os.path.join(tmp, f"{k}.log")))
            base_name, base_status, base_log, base_cmd = results[0]
            for name, status, log, cmd in results[1:]:
                problem = None
                if 124 in (status, base_status):
                    problem = (f"a run reached --timeout {RUN_TIMEOUT} (status {status}, the "
                               f"interpreter's {base_status}): the host is too slow or loaded, "
                               f"not a divergence")
                elif status != base_status:
                    problem = f"exit status {status}, the interpreter's {base_status}"
                for n, (a, b) in enumerate(zip(base_log, log)):
                    if a != b:
                        problem = (f"{problem + '; ' if problem else ''}state differs at exit "
                                   f"{n + 1}:\n    interpreter: {a}\n    {name}: {b}")
                        break
                else:
                    if not problem and len(log) != len(base_log):
                        problem = f"{len(log)} exits, the interpreter's {len(base_log)}"
                if problem:
                    failures += 1
                    print(f"FAIL {label} ({name}): {problem}\n    command: {cmd}")
                else:
                    print(f"ok   {label} ({name}): {len(log)} states, status {status}")
    if failures:
        sys.exit(f"{failures} lockstep failure(s)")


if __name__ == "__main__":
    main()
