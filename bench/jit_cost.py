#!/usr/bin/env python3
"""Tier-1 compile cost and compiled-code speed on bench.rom, softcpu builds side by side.

usage: jit_cost.py --rom build/bench/bench.rom [--runs 3] [--threshold 1000]
                   NAME=SOFTCPU [NAME=SOFTCPU ...]

Each softcpu runs the ROM with `--jit on --jit-sync --jit-threshold N` (every hot block is
compiled on the CPU thread before it runs, so the same regions compile in every run) and once
per round with `--jit off`; rounds are interleaved (A B off, A B off, ...) so a change in the
machine's load hits every variant alike. Per run it prints the process's host CPU seconds
(user + system), the compile CPU from --stats=json (build, inline, opt, codegen), the
difference ("run": tier 0 before the compiles plus compiled code), guest instructions compiled,
compile milliseconds and native code bytes per compiled guest instruction, and the load
average. The figures docs/design.md "Compile cost, fourth round" gives were taken this way.
With --ir, one more run per variant (untimed: dumping emits the code twice) writes the regions
with --jit-dump and counts the IR of the region functions per compiled guest instruction:
instructions before the optimiser, and instructions, basic blocks and phis after it
(docs/design.md "Compile cost, fifth round").
"""
import argparse
import glob
import json
import os
import re
import resource
import subprocess
import sys
import tempfile


def run(softcpu, rom, jit_args, stats_path):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([softcpu, "run", "--bios", rom, "--serial", "none", *jit_args,
                        "--stats=json", "--stats-file", stats_path],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode != 1:  # bench.rom exits 1 when its checksum is right
        sys.exit(f"jit_cost: {softcpu} exited {p.returncode} (checksum wrong?): {p.stderr[-400:]}")
    with open(stats_path) as f:
        return cpu, json.load(f)


def ir_counts(path):
    """(instructions, basic blocks, phis) of the region function (guest_0x...) in a .ll file."""
    insns = blocks = phis = 0
    inside = False
    with open(path) as f:
        for line in f:
            if not inside:
                if line.startswith("define") and "@guest_0x" in line:
                    inside, blocks = True, 1
                continue
            if line.startswith("}"):
                break
            t = line.strip()
            if not t or t.startswith(";"):
                continue
            if re.match(r"^[\w.$-]+:", t):
                blocks += 1
            else:
                insns += 1
                phis += " = phi " in t
    return insns, blocks, phis


def ir_report(softcpu, rom, jit_args, tmp):
    dump = tempfile.mkdtemp(dir=tmp)
    stats = os.path.join(tmp, "ir.json")
    _, s = run(softcpu, rom, [*jit_args, "--jit-dump", dump], stats)
    insns = s.get("jit", {}).get("region_insns", 0) or 1
    pre = [ir_counts(p) for p in glob.glob(os.path.join(dump, "*.pre.ll"))]
    post = [ir_counts(p) for p in glob.glob(os.path.join(dump, "*.ll")) if not p.endswith(".pre.ll")]
    return (f"IR per guest insn: {sum(c[0] for c in pre) / insns:5.1f} before opt, after: "
            f"{sum(c[0] for c in post) / insns:5.1f} insns {sum(c[1] for c in post) / insns:4.2f} "
            f"blocks {sum(c[2] for c in post) / insns:4.2f} phis ({len(post)} regions, {insns} insns)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rom", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threshold", type=int, default=1000)
    ap.add_argument("--ir", action="store_true", help="also count each variant's IR (--jit-dump)")
    ap.add_argument("variants", nargs="+", metavar="NAME=SOFTCPU")
    a = ap.parse_args()
    variants = []
    for v in a.variants:
        name, sep, path = v.partition("=")
        if not sep or not name or not os.access(path, os.X_OK):
            ap.error(f"bad variant '{v}': expected NAME=PATH to an executable softcpu")
        variants.append((name, path))
    if not os.path.isfile(a.rom):
        ap.error(f"no ROM at '{a.rom}'")
    jit = ["--jit", "on", "--jit-sync", "--jit-threshold", str(a.threshold)]
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "stats.json")
        if a.ir:
            for name, path in variants:
                print(f"{name:10s} {ir_report(path, a.rom, jit, tmp)}", flush=True)
        for r in range(1, a.runs + 1):
            for name, path in variants + [("off", variants[0][1])]:
                cpu, s = run(path, a.rom, ["--jit", "off"] if name == "off" else jit, stats)
                load = os.getloadavg()[0]
                j = s.get("jit", {})
                phases = j.get("compile_cpu_us", {})
                comp = sum(phases.values()) / 1e6
                insns = j.get("region_insns", 0)
                code = j.get("native_code_bytes", 0)
                per = (f"  {comp * 1e3 / insns:5.2f} ms/insn {code / insns:5.0f} B/insn"
                       if insns else "")
                print(f"round {r} {name:10s} load {load:5.2f}  host CPU {cpu:6.2f} s  compile "
                      f"{comp:5.2f} s (opt {phases.get('opt', 0) / 1e6:4.2f}, codegen "
                      f"{phases.get('codegen', 0) / 1e6:4.2f})  run {cpu - comp:5.2f} s  "
                      f"compiled insns {insns}{per}", flush=True)


if __name__ == "__main__":
    main()
