#!/usr/bin/env python3
"""How late a device interrupt reaches a vCPU the secondary hypervisor schedules (issue 14,
docs/design.md "A partition on both hypervisors"). Runs bench/hv_irq_guest.c (hv_irq.rom) as a
2-vCPU partition of the primary whose vCPU 1 is on the secondary ([partition.secondary]: the
last example of docs/config.md), through `softcpu run --config`, in two settings:

  idle  the primary's one-thread set has only that partition (its vCPU 0 halts);
  busy  a second partition of the primary spins on the same one thread.

The guest prints p50/p99/max lateness (ns) of its local APIC timer and of the PIT through the
IOAPIC. With several SOFTCPU binaries the runs are interleaved (A B A B ...), each setting in
turn, `--rounds` times; `uptime` is printed beside each round. After each run a `cost` line
gives, from `--stats=json`, the split partition's slices on the primary's set (and of them
`empty_slices`, where the binary has that field: its vCPU 0 woken for nothing), the host
seconds of those slices per second of its run (the primary's thread's time for it), and the
whole process's user+system CPU seconds per wall second.

Usage: hv_irq_bench.py --rom hv_irq.rom [--rounds N] [--settings idle,busy] SOFTCPU [SOFTCPU...]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "tools"))
import checklist  # noqa: E402  (toml_block)

# docs/config.md's last example ("A partition on both hypervisors", its 4th TOML block, which
# hv.both_run_config runs too): vCPU 0 on the primary's one-thread set, vCPU 1 on the
# secondary's at priority 20; our ROM and a debug console put in.
CONFIG_MD = os.path.join(HERE, "..", "docs", "config.md")

HOG = """
[[partition]]
name = "hog"
exit_on_poweroff = false

  [[partition.memory]]
  base = 0
  size = "2M"

  [partition.boot]
  bios = "{loop}"
"""

LINE = re.compile(r"^(lapic timer|pit via ioapic): n (\d+) p50 (\d+) p99 (\d+) max (\d+) ns$", re.M)


def loop_rom(path):
    rom = bytearray(b"\xF4" * 0x10000)
    rom[0xFFF0:0xFFF2] = b"\xEB\xFE"  # jmp $ at the reset vector
    with open(path, "wb") as f:
        f.write(rom)


def run_one(softcpu, rom, setting, d, timeout):
    log = os.path.join(d, "con.txt")
    if os.path.exists(log):
        os.remove(log)
    text = checklist.toml_block(CONFIG_MD, 4)
    text = text.replace('"tests/guest/platform/smp_overlap.rom"', f'"{rom}"')
    text = text.replace("timeout = 60", f"timeout = {timeout}")
    text = text.replace("  [partition.boot]",
                        f'  [[partition.debugcon]]\n  port = 0xE9\n  file = "{log}"\n\n'
                        "  [partition.boot]")
    if setting == "busy":
        loop = os.path.join(d, "loop.rom")
        loop_rom(loop)
        text += HOG.format(loop=loop)
    cfg = os.path.join(d, "sys.toml")
    with open(cfg, "w") as f:
        f.write(text)
    stats_path = os.path.join(d, "stats.json")
    if os.path.exists(stats_path):
        os.remove(stats_path)
    before = os.times()
    t0 = time.monotonic()
    p = subprocess.run([softcpu, "run", "--config", cfg, "--stats=json", "--stats-file",
                        stats_path], capture_output=True, text=True, timeout=timeout + 30)
    wall = time.monotonic() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user +
           after.children_system - before.children_system)
    con = open(log).read() if os.path.exists(log) else ""
    found = {m.group(1): tuple(int(x) for x in m.groups()[2:]) for m in LINE.finditer(con)}
    if p.returncode != 1 or len(found) != 2:
        sys.stderr.write(f"{softcpu} {setting}: status {p.returncode}\n{p.stderr}\n{con}\n")
    cost = {"process_cpu_per_s": cpu / wall, "wall": wall}
    try:
        parts = {q["name"]: q for q in json.load(open(stats_path))["partitions"]}
        q = parts.get("both") or next(iter(parts.values()))
        cost.update(slices=q["slices"], empty=q.get("empty_slices"),
                    slice_s_per_s=q["cpu_seconds"] / max(q["run_seconds"], 1e-9))
    except (OSError, ValueError, KeyError, StopIteration) as e:
        sys.stderr.write(f"{softcpu} {setting}: no partition stats ({e!r})\n")
    return found, cost


def us(ns):
    return f"{ns / 1000:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rom", required=True)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--settings", default="idle,busy")
    ap.add_argument("--timeout", type=int, default=240)
    ap.add_argument("softcpu", nargs="+")
    a = ap.parse_args()
    rom = os.path.abspath(a.rom)
    with tempfile.TemporaryDirectory() as d:
        for r in range(a.rounds):
            for setting in a.settings.split(","):
                for binary in a.softcpu:
                    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
                    found, cost = run_one(binary, rom, setting, d, a.timeout)
                    for kind in ("lapic timer", "pit via ioapic"):
                        if kind in found:
                            p50, p99, mx = found[kind]
                            print(f"round {r} {setting:4} {kind:14} {binary}: p50 {us(p50)} "
                                  f"p99 {us(p99)} max {us(mx)} us   [{load.split('load average: ')[-1]}]",
                                  flush=True)
                    if "slices" in cost:
                        empty = "-" if cost["empty"] is None else cost["empty"]
                        print(f"round {r} {setting:4} cost           {binary}: "
                              f"slices {cost['slices']} empty {empty} "
                              f"primary slice s/s {cost['slice_s_per_s']:.4f} "
                              f"process CPU s/s {cost['process_cpu_per_s']:.3f} "
                              f"wall {cost['wall']:.2f} s", flush=True)


if __name__ == "__main__":
    main()
