#!/usr/bin/env python3
"""Run bench.rom under softcpu (and qemu-system-i386 if installed) and report
guest MIPS, decoded-block cache hit rate and blocks decoded.

usage: run_bench.py --softcpu PATH --rom bench.rom [--qemu auto|none|PATH]
                    [--timeout SECONDS] [--runs N]
"""
import argparse
import json
import os
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


def run_softcpu(args):
    with tempfile.TemporaryDirectory() as tmp:
        dbg = os.path.join(tmp, "debugcon.txt")
        cmd = [args.softcpu, "run", "--bios", args.rom, "--debugcon", "0xE9:" + dbg,
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--softcpu", required=True)
    ap.add_argument("--rom", required=True)
    ap.add_argument("--qemu", default="auto", help="auto (use qemu-system-i386 from PATH if any), none, or a path")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--runs", type=int, default=1, help="repeat and report the fastest run")
    args = ap.parse_args()

    best = None
    for _ in range(max(1, args.runs)):
        status, wall, stats, guest_out, raw = run_softcpu(args)
        if status != 1:
            print("softcpu: bench failed with exit status %d (expected 1)" % status)
            print("---- guest output (last 4000 bytes) ----\n" + guest_out[-4000:] + "\n---- softcpu output ----\n" + raw[-4000:])
            return 1
        if stats is None:
            print("softcpu: no --stats=json object in the output:\n" + raw[-4000:])
            return 1
        if best is None or wall < best[0]:
            best = (wall, stats, guest_out)
    wall, stats, guest_out = best

    insns = float(stats.get("instructions", 0))
    secs = float(stats.get("wall_seconds") or wall)
    cache = stats.get("cache", {})
    lookups = float(cache.get("lookups", 0))
    hits = float(cache.get("hits", 0))
    print(guest_out.rstrip())
    print("softcpu:")
    print("  guest instructions   %d" % insns)
    print("  wall seconds         %.3f (process: %.3f)" % (secs, wall))
    print("  guest MIPS           %.1f" % (insns / secs / 1e6 if secs > 0 else 0))
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
