#!/usr/bin/env python3
"""A/B of softcpu builds or options on one guest workload, from a snapshot at the bench guest's
prompt: the same guest state every run, no boot in the figure, the variants interleaved (the
order flips every pair), so a difference of a few per cent can be told from this host's noise.

usage: snapshot_ab.py --softcpu A [--variant NAME=[softcpu=PATH] ARGS]... [--workload W]
                      [--pairs N] [--snapshot FILE] [--guest DIR] [--mem MIB]

The first variant is the baseline "base" (--softcpu, no extra arguments) unless --variant is
given twice or more; each --variant is as guest_bench.py's (another binary and/or `softcpu run`
arguments, e.g. `--variant off=--jit off`). The snapshot is made once with --jit off by the
baseline binary when --snapshot names no file yet (or in a temporary directory), then every
run is `softcpu run --loadvm SNAP` with a console script that types `bench.sh run W; bench.sh
check W`, and its result is checked as guest_bench checks it. Reported per variant: guest CPU
(user + sys of the workload, from bench.sh) per run, and against the first variant the ratio
of each pair, its median and mean, and how many pairs were higher; `--stats` adds the mean of
chosen statistics (dotted names, e.g. jit.compile_cpu_us.build,tier0.instructions).
See bench/README.md, "A/B from a snapshot".
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest_bench  # noqa: E402  (workloads, result checks, --variant parsing)
from run_bench import number  # noqa: E402

PROMPT = "softcpu# "


def boot_args(guest, mem):
    return ["-m", str(mem), "--kernel", os.path.join(guest, "vmlinuz"),
            "--initrd", os.path.join(guest, "initrd-bench.img"),
            "--append", guest_bench.kernel_append(guest)]


def make_snapshot(binary, guest, mem, path, tmp):
    script = os.path.join(tmp, "save.script")
    with open(script, "w") as f:
        f.write("wait '%s' 300\nexit 0\n" % PROMPT)
    cmd = [binary, "run", *boot_args(guest, mem), "--jit", "off", "--serial", "none",
           "--serial-script", script, "--save-on-exit", path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not os.path.isfile(path):
        sys.exit("snapshot_ab: booting to the prompt failed (status %d):\n%s"
                 % (r.returncode, r.stderr[-2000:]))


def run_once(binary, extra, snap, mem, workload, tmp, tag, refs, timeout):
    script = os.path.join(tmp, "run.script")
    with open(script, "w") as f:
        # The end marker is computed by the shell, so the echo of the typed line never matches.
        f.write('send "/opt/bench/bench.sh run %s; /opt/bench/bench.sh check %s; '
                'echo BENCH-AB-$((6*7))\\n"\n'
                "wait 'BENCH-AB-42' %d\nexit 0\n" % (workload, workload, timeout))
    transcript = os.path.join(tmp, "%s.txt" % tag)
    stats = os.path.join(tmp, "%s.json" % tag)
    cmd = [binary, "run", "-m", str(mem), "--loadvm", snap, "--serial", "none",
           "--serial-script", script, "--serial-transcript", transcript,
           "--stats=json", "--stats-file", stats, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60)
    with open(transcript, errors="replace") as f:
        out = f.read().replace("\r", "")
    phases = guest_bench.parse_times(out, workload)
    if r.returncode != 0 or not phases or any(t[0] for t in phases.values()):
        sys.exit("snapshot_ab: %s: the run failed (status %d): %s\n%s"
                 % (tag, r.returncode, r.stderr[-1000:], out[-1000:]))
    try:
        guest_bench.verify(workload, guest_bench.parse_checks(out, workload), refs, {})
    except guest_bench.Failure as e:
        sys.exit("snapshot_ab: %s: wrong result: %s" % (tag, e))
    with open(stats) as f:
        return sum(t[2] + t[3] for t in phases.values()), json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--softcpu", required=True)
    ap.add_argument("--variant", action="append", metavar="NAME=ARGS")
    ap.add_argument("--workload", default="spawn", choices=guest_bench.WORKLOADS)
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--snapshot", help="snapshot at the prompt (made here if it does not exist)")
    ap.add_argument("--guest", default=os.path.join("build", "guest"))
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per workload run")
    ap.add_argument("--stats", default="", help="comma-separated statistics to average")
    args = ap.parse_args()
    specs = args.variant or []
    if len(specs) < 2:
        specs = ["base="] + specs
    variants = [(name, *guest_bench.variant_binary(args.softcpu, extra))
                for name, extra in guest_bench.parse_variants(specs, "snapshot_ab")]
    refs = guest_bench.References(args.guest, [args.workload])
    with tempfile.TemporaryDirectory(prefix="snapshot_ab-") as tmp:
        snap = args.snapshot or os.path.join(tmp, "prompt.snap")
        if not os.path.isfile(snap):
            print("snapshot_ab: booting to the prompt for %s ..." % snap, flush=True)
            make_snapshot(args.softcpu, args.guest, args.mem, snap, tmp)
        times = {name: [] for name, _, _ in variants}
        stats = {name: [] for name, _, _ in variants}
        for p in range(args.pairs):
            order = variants if p % 2 == 0 else list(reversed(variants))
            for name, binary, extra in order:
                t, s = run_once(binary, extra, snap, args.mem, args.workload, tmp,
                                "%s%d" % (name, p), refs, args.timeout)
                times[name].append(t)
                stats[name].append(s)
            print("pair %d: %s" % (p + 1, "  ".join("%s %.2f s" % (n, times[n][-1])
                                                  for n, _, _ in variants)), flush=True)
    base = variants[0][0]
    wanted = [s for s in args.stats.split(",") if s]
    print("\n%s, guest CPU seconds over %d pairs (load average %.2f at the end)"
          % (args.workload, args.pairs, os.getloadavg()[0]))
    for name, _, _ in variants:
        t = times[name]
        line = "%-10s median %.3f mean %.3f (%.2f-%.2f)" % (
            name, statistics.median(t), statistics.mean(t), min(t), max(t))
        if name != base:
            r = [b / a for a, b in zip(times[base], t)]
            line += "   %s/%s per pair: median %.3f mean %.3f (%.2f-%.2f), higher in %d of %d" % (
                name, base, statistics.median(r), statistics.mean(r), min(r), max(r),
                sum(1 for x in r if x > 1), len(r))
        print(line)
        for s in wanted:
            print("%-10s   %s mean %.4g" % ("", s, statistics.mean(number(st, s)
                                                                for st in stats[name])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
