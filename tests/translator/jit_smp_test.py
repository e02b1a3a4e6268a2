#!/usr/bin/env python3
"""A -smp guest test ROM with the JIT on (docs/design.md "SMP vCPUs": compiled regions serve
every CPU of a round-robin machine; with --accel tcg,thread=multi each CPU thread has its own
translator, whose counters are cpuK.jit.*, and the counts below add CPU 1's). Runs

    SOFTCPU run --bios ROM --debugcon 0xE9:- --serial none --timeout T --stats=json OPTIONS...

and checks: the guest passed (exit status 1, what tests/guest/platform/run_platform.sh
expects), the JIT stayed on, and no compile failed. With --both-cpus, that regions were
installed and compiled code ran on CPU 0 and on CPU 1 (tier1.region_entries,
cpu1.tier1.region_entries): use it with --jit-sync, where regions are installed the moment a
block is hot; with the compile thread these guests (about a second each) may end before it
delivers a region on a loaded machine, and such a run checks the guest's results only. With --invalidated N, that at least N
installed regions were retired by writes to their code (smp_smc: each CPU writes code the
other runs). With --tier0-only (the run is --jit off), that every instruction retired is tier
0's or a trapped one: tier1.instructions (what neither tier 0 nor the monitor retired) is 0
on CPU 0 (PAUSE, which ends a CPU's slice and so is retired by its handler, not by the run
loop, counts as tier 0's), and no CPU's tier0.instructions exceeds its instructions.

Usage: jit_smp_test.py SOFTCPU ROM TIMEOUT [--both-cpus] [--invalidated N] [--tier0-only]
       -- OPTIONS..."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import checklist  # noqa: E402
from checklist import check  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from run_bench import find_json, number as stat  # noqa: E402


def jit(stats, name):
    """A jit.* counter of the machine: CPU 0's translator's, plus CPU 1's own with threads on."""
    return stat(stats, "jit." + name) + stat(stats, "cpu1.jit." + name)


def main():
    softcpu, rom, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rest = sys.argv[4:]
    split = rest.index("--") if "--" in rest else len(rest)
    flags, options = rest[:split], rest[split + 1:]
    both_cpus = "--both-cpus" in flags
    invalidated = int(flags[flags.index("--invalidated") + 1]) if "--invalidated" in flags else 0
    cmd = [softcpu, "run", "--bios", rom, "--debugcon", "0xE9:-", "--serial", "none",
           "--timeout", str(timeout), "--stats=json"] + options
    print(" ".join(cmd), flush=True)
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        check("softcpu ends by its own --timeout", False)
        return 1
    stats = find_json(p.stderr)
    out = (p.stdout + p.stderr[: p.stderr.find("{")] if stats else p.stdout + p.stderr).strip()
    print(out[-3000:], flush=True)
    check("the guest passed (exit status 1)", p.returncode == 1, "status %d" % p.returncode)
    if not check("--stats=json printed", stats is not None):
        return 1
    name = os.path.basename(rom)
    if "--tier0-only" in flags:
        check("no instruction counted as compiled code's (tier1.instructions)",
              stat(stats, "tier1.instructions") == 0, stat(stats, "tier1.instructions"))
        for cpu in ("", "cpu1."):
            insns, tier0 = stat(stats, cpu + "instructions"), stat(stats, cpu + "tier0.instructions")
            check("%stier0.instructions within %sinstructions" % (cpu, cpu),
                  0 < tier0 <= insns, (insns, tier0))
        return 1 if checklist.failures else 0
    check("the JIT stayed on with -smp (no 'the JIT is off')", "the JIT is off" not in p.stderr)
    check("no compile failed", jit(stats, "compile_failures") == 0,
          jit(stats, "compile_failures"))
    entries = [stat(stats, "tier1.region_entries"), stat(stats, "cpu1.tier1.region_entries")]
    print("%s: region entries per CPU %s, tier1 instructions (CPU 0) %d, regions installed %d, "
          "invalidated %d" % (name, entries, stat(stats, "tier1.instructions"),
                              jit(stats, "regions_installed"),
                              jit(stats, "regions_invalidated")), flush=True)
    if both_cpus:
        check("regions installed", jit(stats, "regions_installed") > 0,
              jit(stats, "regions_installed"))
        check("compiled code ran on CPU 0", entries[0] > 0, entries[0])
        check("compiled code ran on CPU 1", entries[1] > 0, entries[1])
        if "tcg,thread=multi" in options:  # CPU 1's thread compiled and installed its own
            check("CPU 1's translator installed regions",
                  stat(stats, "cpu1.jit.regions_installed") > 0,
                  stat(stats, "cpu1.jit.regions_installed"))
    if invalidated:
        check("at least %d regions retired by writes to their code" % invalidated,
              jit(stats, "regions_invalidated") >= invalidated,
              jit(stats, "regions_invalidated"))
    return 1 if checklist.failures else 0


if __name__ == "__main__":
    sys.exit(main())
