#!/usr/bin/env python3
"""The persistent translation cache (--jit-cache) measured: a workload with the JIT off, with
the JIT and an empty cache directory (cold: it compiles and writes), with the cache that run
filled (warm: it loads), and under QEMU TCG, interleaved round by round (A B C D A B C D ...),
so that the machine's load hits every variant alike.

Workloads: bench.rom (--rom; ends by itself) and the default Linux guest's direct boot to the
shell prompt (--boot; powered off there, as bench/boot_bench.py does). Per run: wall seconds,
host CPU seconds of the process (children's rusage), compile CPU (jit.compile_us_total is
thread time of the compile thread per region), cache load CPU, hits, misses, regions
compiled, instructions in tier 1; the cache directory's size after the cold and warm runs
(region files and reference files).

usage: jit_cache_bench.py --softcpu PATH [--rom bench.rom] [--boot GUEST_DIR] [--runs N]
                          [--qemu auto|none|PATH] [--jit-args '...']"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_bench import find_json, number as stat  # noqa: E402


def rusage_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_rom(cmd, timeout):
    c0, t0 = rusage_cpu(), time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, time.monotonic() - t0, rusage_cpu() - c0, find_json(p.stderr)


def run_boot(cmd, stats_file, timeout):
    import boot_bench  # the default guest's boot to the prompt and power-off
    c0 = rusage_cpu()
    r = boot_bench.boot_once(cmd, timeout)
    stats = None
    if stats_file and os.path.exists(stats_file):
        stats = find_json(open(stats_file).read())
    return r["status"], r["prompt_s"], rusage_cpu() - c0, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--softcpu", required=True)
    ap.add_argument("--rom")
    ap.add_argument("--boot", help="guest image directory (vmlinuz, initrd.img, cmdline.txt)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--qemu", default="auto")
    ap.add_argument("--jit-args", default="--jit-threshold 1000",
                    help="JIT options of the cold and warm variants (besides --jit on --jit-cache)")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    qemu = shutil.which("qemu-system-i386") if args.qemu == "auto" else (
        None if args.qemu == "none" else args.qemu)
    jit = ["--jit", "on"] + args.jit_args.split()
    print("load before:", open("/proc/loadavg").read().strip())
    tmp = tempfile.mkdtemp(prefix="jitcache-bench-")
    workloads = []
    if args.rom:
        base = [args.softcpu, "run", "--bios", args.rom, "--serial", "none", "--timeout",
                str(args.timeout), "--stats=json"]
        q = [qemu, "-accel", "tcg", "-nographic", "-bios", args.rom, "-device",
             "isa-debug-exit,iobase=0xf4,iosize=4", "-display", "none", "-monitor", "none",
             "-serial", "none"] if qemu else None
        workloads.append(("bench.rom", base, q, None))
    if args.boot:
        import boot_bench
        g = boot_bench.guest_files(args.boot)
        workloads.append(("linux direct boot", None, boot_bench.qemu_cmd(qemu, g, "direct") if qemu else None, g))
    results = {}
    for name, base, q, g in workloads:
        for rnd in range(args.runs):
            d = os.path.join(tmp, f"{name}-{rnd}".replace(" ", "_"))
            variants = [("off", ["--jit", "off"]), ("cold", jit + ["--jit-cache", d]),
                        ("warm", jit + ["--jit-cache", d])]
            if q:
                variants.append(("qemu", None))
            for label, extra in variants:
                sf = os.path.join(tmp, "stats.json")
                if os.path.exists(sf):
                    os.remove(sf)
                if label == "qemu":
                    cmd = q
                elif g is not None:
                    import boot_bench
                    cmd = boot_bench.softcpu_cmd(args.softcpu, g, "direct", sf)
                    cmd = cmd[:2] + extra + cmd[2:]
                else:
                    cmd = base + extra
                if g is not None:
                    status, wall, cpu, st = run_boot(cmd, sf if label != "qemu" else None, args.timeout)
                else:
                    status, wall, cpu, st = run_rom(cmd, args.timeout)
                row = {"status": status, "wall": wall, "cpu": cpu,
                       "compile_cpu": stat(st, "jit.compile_cpu_us.build") + stat(st, "jit.compile_cpu_us.inline")
                       + stat(st, "jit.compile_cpu_us.opt") + stat(st, "jit.compile_cpu_us.codegen"),
                       "load_cpu": stat(st, "jit.cache_load_cpu_us"), "key_cpu": stat(st, "jit.cache_key_cpu_us"),
                       "hits": stat(st, "jit.cache_hits"), "misses": stat(st, "jit.cache_misses"),
                       "probes": stat(st, "jit.cache_probes"),
                       "compiled": stat(st, "jit.regions_compiled"), "installed": stat(st, "jit.regions_installed"),
                       "installed_cached": stat(st, "jit.cache_lookup.installed"),
                       "unusable": stat(st, "jit.cache_unusable"),
                       "queue_full": stat(st, "jit.dropped_queue_full"),
                       "tier1": stat(st, "tier1.instructions"), "insns": stat(st, "instructions"),
                       "written": stat(st, "jit.cache_bytes_written")}
                if label != "off" and label != "qemu":
                    names = os.listdir(d) if os.path.isdir(d) else []
                    row["dir_bytes"] = sum(os.path.getsize(os.path.join(d, f)) for f in names)
                    row["files"] = sum(f.endswith(".o") for f in names)  # regions
                    row["refs"] = sum(f.endswith(".ref") for f in names)  # their other entries
                results.setdefault(name, {}).setdefault(label, []).append(row)
                print(f"{name} round {rnd + 1} {label:5s}: status {status} wall {wall:6.2f} s, "
                      f"cpu {cpu:6.2f} s, compile {row['compile_cpu'] / 1e6:5.2f} s, load "
                      f"{row['load_cpu'] / 1e3:6.1f} ms (key {row['key_cpu'] / 1e3:5.1f}), "
                      f"hits {row['hits']} (installed {row['installed_cached']}, unusable "
                      f"{row['unusable']}), misses {row['misses']}, compiled {row['compiled']}, "
                      f"installed {row['installed']}, queue full {row['queue_full']}, "
                      f"tier1 {row['tier1'] / max(1, row['insns']) * 100:4.1f} %"
                      + (f", dir {row['dir_bytes']} B in {row['files']} region files + "
                         f"{row['refs']} references" if "files" in row else ""),
                      flush=True)
    print("load after:", open("/proc/loadavg").read().strip())
    print(json.dumps(results))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
