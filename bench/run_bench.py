#!/usr/bin/env python3
"""Run bench.rom under softcpu (and qemu-system-i386 if installed) and report
guest MIPS, decoded-block cache hit rate and blocks decoded.  If the paged
variant (bench_paged.rom: the same program as ring-3 code with paging on) is
given or sits next to bench.rom, run it too and print the paged/flat MIPS ratio.

usage: run_bench.py --softcpu PATH --rom bench.rom [--rom-paged PATH|none]
                    [--qemu auto|none|PATH] [--timeout SECONDS] [--runs N]
"""
import argparse
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import time


def find_json(text):
    """The --stats=json object printed by softcpu (on stderr), or None."""
    dec = json.JSONDecoder()
    pos = text.find("{")
    while pos != -1:
        try:
            obj, _ = dec.raw_decode(text, pos)
            if isinstance(obj, dict) and "instructions" in obj:
                return obj
        except ValueError:
            pass
        pos = text.find("{", pos + 1)
    return None


def stat(stats, dotted, default=None):
    """stats["a"]["b"] for "a.b" (the JSON nests the dotted names of --stats=text)."""
    node = stats
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def number(stats, dotted):
    """The counter at "a.b" as a number: 0 when absent, not a leaf, or null (the JSON's NaN)."""
    v = stat(stats, dotted)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def run_softcpu(args, rom):
    with tempfile.TemporaryDirectory() as tmp:
        dbg = os.path.join(tmp, "debugcon.txt")
        cmd = [args.softcpu, "run", "--bios", rom, "--debugcon", "0xE9:" + dbg,
               "--serial", "none", "--timeout", str(args.timeout), "--stats=json"]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - t0
        guest_out = open(dbg, errors="replace").read() if os.path.exists(dbg) else ""
    stats = find_json(p.stderr) or find_json(p.stdout)
    return p.returncode, wall, stats, guest_out, p.stdout + p.stderr


def run_qemu(qemu, args):
    with tempfile.TemporaryDirectory() as tmp:
        dbg = os.path.join(tmp, "debugcon.txt")
        cmd = [qemu, "-accel", "tcg", "-nographic", "-bios", args.rom,
               "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-display", "none",
               "-monitor", "none", "-serial", "none", "-debugcon", "file:" + dbg]
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            status = p.returncode
        except subprocess.TimeoutExpired:
            status = 124
        wall = time.monotonic() - t0
        guest_out = open(dbg, errors="replace").read() if os.path.exists(dbg) else ""
    return status, wall, guest_out


def bench_rom(args, rom, label):
    """Runs rom args.runs times, prints its report; returns (fastest wall, its
    stats, guest output, MIPS of every run) or None on failure."""
    best = None
    mips_runs = []
    for _ in range(max(1, args.runs)):
        status, wall, stats, guest_out, raw = run_softcpu(args, rom)
        if status != 1:
            print("%s: bench failed with exit status %d (expected 1)" % (label, status))
            print("---- guest output (last 4000 bytes) ----\n" + guest_out[-4000:] + "\n---- softcpu output ----\n" + raw[-4000:])
            return None
        if stats is None:
            print("%s: no --stats=json object in the output:\n" % label + raw[-4000:])
            return None
        secs = float(stats.get("wall_seconds") or wall)
        mips_runs.append(float(stats.get("instructions", 0)) / secs / 1e6 if secs > 0 else 0)
        if best is None or wall < best[0]:
            best = (wall, stats, guest_out)
    wall, stats, guest_out = best

    insns = float(stats.get("instructions", 0))
    secs = float(stats.get("wall_seconds") or wall)
    cache = stats.get("cache", {})
    lookups = float(cache.get("lookups", 0))
    hits = float(cache.get("hits", 0))
    print(guest_out.rstrip())
    print(label + ":")
    print("  guest instructions   %d" % insns)
    print("  wall seconds         %.3f (process: %.3f)" % (secs, wall))
    print("  guest MIPS           %.1f" % (insns / secs / 1e6 if secs > 0 else 0))
    if len(mips_runs) > 1:
        print("  guest MIPS, %d runs   median %.1f (%s)"
              % (len(mips_runs), statistics.median(mips_runs), " ".join("%.1f" % m for m in mips_runs)))
    chained = float(cache.get("chained", 0))
    if lookups:
        print("  cache hit rate       %.4f%% (%d of %d lookups, %d misses, %s invalidations)"
              % (100 * hits / lookups, hits, lookups, cache.get("misses", 0), cache.get("invalidations", "?")))
        # Chained transitions found their block through a link, without any lookup.
        print("  block transitions    %d (%.1f%% chained, %.1f instructions per block)"
              % (lookups + chained, 100 * chained / (lookups + chained), insns / (lookups + chained)))
    print("  blocks decoded       %s" % stats.get("blocks_decoded", "?"))
    if "exits" in stats:
        print("  exits                %s" % json.dumps(stats["exits"], sort_keys=True))
    if isinstance(stats.get("tlb"), dict):
        tlb = stats["tlb"]
        keys = [k for k in ("fills", "flushes", "slow_accesses") if k in tlb]
        keys += sorted(k for k in tlb if k not in keys)
        print("  tlb                  %s" % ", ".join("%s %s" % (k, tlb[k]) for k in keys))
    return wall, stats, guest_out, mips_runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--softcpu", required=True)
    ap.add_argument("--rom", required=True)
    ap.add_argument("--qemu", default="auto", help="auto (use qemu-system-i386 from PATH if any), none, or a path")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--runs", type=int, default=1, help="repeat and report the fastest run")
    ap.add_argument("--rom-paged", default=None,
                    help="the paged ring-3 variant (default: bench_paged.rom next to --rom if present), or none")
    args = ap.parse_args()

    paged = args.rom_paged
    if paged is None:
        cand = os.path.join(os.path.dirname(os.path.abspath(args.rom)), "bench_paged.rom")
        paged = cand if os.path.exists(cand) else "none"

    flat = bench_rom(args, args.rom, "softcpu")
    if flat is None:
        return 1
    wall, stats, guest_out, mips_runs = flat
    insns = float(stats.get("instructions", 0))
    if paged != "none":
        pres = bench_rom(args, paged, "softcpu, paged ring 3 (%s)" % os.path.basename(paged))
        if pres is None:
            return 1
        pmips = pres[3]
        print("paged/flat MIPS        %.3f (median), %.3f (best)"
              % (statistics.median(pmips) / statistics.median(mips_runs), max(pmips) / max(mips_runs)))

    qemu = None
    if args.qemu == "auto":
        qemu = shutil.which("qemu-system-i386")
    elif args.qemu != "none":
        qemu = args.qemu
    if not qemu:
        print("qemu-system-i386: not installed, no comparison")
        return 0
    qstatus, qwall, qout = run_qemu(qemu, args)
    print("qemu-system-i386 (TCG):")
    if qstatus != 1:
        print("  failed with exit status %d (expected 1); guest output:\n%s" % (qstatus, qout))
        return 0
    print("  wall seconds         %.3f (process, incl. startup)" % qwall)
    print("  guest MIPS (approx.) %.1f (softcpu's instruction count / qemu wall time)"
          % (insns / qwall / 1e6 if qwall > 0 else 0))
    print("  softcpu/qemu wall    %.2fx" % (wall / qwall if qwall > 0 else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
