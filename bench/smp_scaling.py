#!/usr/bin/env python3
"""SMP scaling of a parallel in-guest workload (smp_bench.rom, bench/smp_bench_guest.c).

Runs the ROM as -smp 1, -smp 2 with thread=single (round-robin on one host thread) and -smp 2
with thread=multi (a host thread per CPU), interleaved (one of each per repetition, so a change
in the host's load hits all three alike), and prints per configuration the wall time of the
process, its host CPU time (user + system, all threads), the guest's own measure of the compute
phase (TSC, which follows the host clock) and the load average before the runs. Every run must
print the same two results (the same seeds, whoever computes them).

  bench/smp_scaling.py --softcpu build/softcpu --rom build/bench/smp_bench.rom [--reps 3]
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = [
    ("smp1", ["-smp", "1"]),
    ("smp2_single", ["-smp", "2", "--accel", "tcg,thread=single"]),
    ("smp2_multi", ["-smp", "2", "--accel", "tcg,thread=multi"]),
]
LINE = re.compile(r"smp_bench: cpus (\d+) rounds (\d+) results ([0-9a-f]+) ([0-9a-f]+) compute_us (\d+)")


def run_once(softcpu, rom, extra, timeout):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([softcpu, "run", "--bios", rom, "--debugcon", "0xE9:-", "--serial", "none",
                        "--timeout", str(timeout)] + extra,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = LINE.search(p.stdout)
    if p.returncode != 1 or not m:
        sys.exit(f"smp_scaling: {' '.join(extra)}: status {p.returncode}, output:\n{p.stdout}")
    return {"wall": wall, "cpu": cpu, "cpus": int(m.group(1)), "results": (m.group(3), m.group(4)),
            "compute": int(m.group(5)) / 1e6}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--softcpu", required=True)
    ap.add_argument("--rom", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"host: {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} before the runs")
    runs = {name: [] for name, _ in CONFIGS}
    results = set()
    for rep in range(args.reps):
        for name, extra in CONFIGS:
            r = run_once(args.softcpu, args.rom, extra, args.timeout)
            expected_cpus = 1 if name == "smp1" else 2
            if r["cpus"] != expected_cpus:
                sys.exit(f"smp_scaling: {name}: the guest ran on {r['cpus']} CPUs")
            results.add(r["results"])
            runs[name].append(r)
            print(f"  rep {rep + 1} {name:12s} wall {r['wall']:7.2f} s  host CPU {r['cpu']:7.2f} s  "
                  f"guest compute {r['compute']:7.2f} s", flush=True)
    if len(results) != 1:
        sys.exit(f"smp_scaling: the results differ between runs: {sorted(results)}")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'config':12s} {'wall min-max (median)':>26s} {'host CPU min-max':>18s} {'compute min-max':>18s}")
    for name, _ in CONFIGS:
        rs = runs[name]
        w = [r["wall"] for r in rs]
        c = [r["cpu"] for r in rs]
        g = [r["compute"] for r in rs]
        print(f"{name:12s} {min(w):7.2f}-{max(w):7.2f} ({statistics.median(w):6.2f}) s "
              f"{min(c):7.2f}-{max(c):7.2f} s {min(g):7.2f}-{max(g):7.2f} s")
    base = statistics.median(r["compute"] for r in runs["smp2_single"])
    multi = statistics.median(r["compute"] for r in runs["smp2_multi"])
    print(f"speed-up of the compute phase, thread=multi over thread=single (medians): {base / multi:.2f}x")


if __name__ == "__main__":
    main()
