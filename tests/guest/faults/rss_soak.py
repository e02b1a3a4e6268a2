#!/usr/bin/env python3
"""Memory use of a long Linux run, told apart by what holds it (docs/hardening.md "Long runs";
measured by hand, not a ctest).

usage: rss_soak.py [--seconds N] [--interval S] [--ram-mib M] [--stats-file F] [--csv F]
                   -- SOFTCPU_COMMAND...

Boots the default guest with the given softcpu command (serial on stdio), records the peak RSS
(VmHWM) at the shell prompt, starts a busy shell loop in the guest (process creation, file
writes in tmpfs, /proc reads), samples every INTERVAL seconds for N seconds, then powers off
and prints the samples and the growth of each part.

Each sample reads /proc/PID/smaps and sums the resident size (Rss) of each kind of mapping:
  ram   the guest RAM: the one anonymous mapping of exactly M MiB (interp/memory.cpp mmaps it
        whole, MAP_NORESERVE, so its RSS is the guest pages touched so far);
  jit   anonymous executable mappings: code of compiled regions (ORC's memory manager maps
        them; nothing else in softcpu makes anonymous memory executable);
  arena anonymous read-write mappings at 64 MiB-aligned addresses: glibc malloc's arenas of
        the threads other than the main one (the JIT's compile thread, the event loop); freed
        memory in them stays resident until the arena's top is trimmed;
  heap  [heap] (the main thread's malloc heap: decoded blocks, the page tables of the
        physical memory map) and every other anonymous mapping (thread stacks, large malloc
        blocks mmapped on their own, the compiled regions' data sections);
  file  file-backed mappings: softcpu's and the shared libraries' pages (libLLVM's code is
        touched as compiles reach new paths), and [stack]/[vdso]/other named ones.
With --stats-file F the command gets `--stats-interval 1000 --stats-file F` added (after its
"run" word) and each sample also shows the last line of F: cache.blocks and cache.bytes_decoded
(the decoded blocks, held on the heap), jit.regions_installed,
jit.regions_invalidated, jit.native_code_bytes and the guest time."""
import argparse
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "linux"))
import guest_session  # noqa: E402

PARTS = ("ram", "jit", "arena", "heap", "file")
ARENA_ALIGN = 64 << 20  # glibc's thread arenas: mappings of up to 64 MiB at 64 MiB-aligned addresses


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def smaps_parts(pid, ram_kib):
    """Resident KiB per kind of mapping (PARTS), and the number of jit mappings."""
    parts = dict.fromkeys(PARTS, 0)
    jit_maps = 0
    kind = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                fields = line.split()
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                perms = fields[1]
                name = fields[5] if len(fields) > 5 else ""
                size_kib = (hi - lo) // 1024
                if name and name != "[heap]":
                    kind = "file"
                elif not name and size_kib == ram_kib:
                    kind = "ram"
                elif not name and "x" in perms:
                    kind = "jit"
                    jit_maps += 1
                elif not name and perms.startswith("rw") and lo % ARENA_ALIGN == 0:
                    kind = "arena"
                else:
                    kind = "heap"
            elif first == "Rss:":
                parts[kind] += int(line.split()[1])
    return parts, jit_maps


def last_stats(path):
    """The counters of the last complete JSON line of the --stats-file series, or {}."""
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    for raw in reversed(lines):
        try:
            s = json.loads(raw)
        except ValueError:
            continue  # a line being written
        cache, jit = s.get("cache", {}), s.get("jit", {})
        return {"guest_ms": s.get("guest_ms", 0), "blocks": cache.get("blocks", 0),
                "decoded_kib": cache.get("bytes_decoded", 0) // 1024,
                "regions": jit.get("regions_installed", 0),
                "invalidated": jit.get("regions_invalidated", 0),
                "code_bytes": jit.get("native_code_bytes", 0)}
    return {}


def take_sample(t, pid, args):
    parts, jit_maps = smaps_parts(pid, args.ram_mib * 1024)
    row = {"t": t, "rss": status_kib(pid, "VmRSS"), **parts, "jit_maps": jit_maps}
    if args.stats_file:
        row.update(last_stats(args.stats_file))
    return row


def fmt(row):
    s = (f"t={row['t']:5d} s  VmRSS {row['rss']} KiB = ram {row['ram']} + jit {row['jit']} "
         f"({row['jit_maps']} maps) + arena {row['arena']} + heap {row['heap']} + file {row['file']}")
    if "blocks" in row:
        s += (f"; guest {row['guest_ms'] / 1000:.1f} s, blocks {row['blocks']} "
              f"({row['decoded_kib']} KiB decoded), regions "
              f"{row['regions']} (invalidated {row['invalidated']}), code {row['code_bytes']} B")
    return s


def main():
    argv = sys.argv[1:]
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--ram-mib", type=int, default=128, help="the guest's -m (default 128)")
    ap.add_argument("--stats-file", help="add --stats-interval 1000 --stats-file F to the command")
    ap.add_argument("--csv", help="also write the samples to this CSV file")
    ap.add_argument("--trim", action="store_true",
                    help="at the end, call malloc_trim(0) in softcpu (gdb -p) and sample again: "
                         "what it gives back was free memory malloc kept, not a leak")
    args = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    if args.stats_file:
        at = cmd.index("run") + 1 if "run" in cmd else len(cmd)
        cmd[at:at] = ["--stats-interval", "1000", "--stats-file", args.stats_file]
    start = time.monotonic()
    con = guest_session.Console(cmd, start + args.seconds + 900)
    samples = []
    try:
        guest_session.boot_to_prompt(con)
        pid = con.proc.pid
        boot_s = time.monotonic() - start
        hwm_boot = status_kib(pid, "VmHWM")
        at_prompt = take_sample(0, pid, args)
        print(f"rss_soak: prompt after {boot_s:.1f} s; VmHWM {hwm_boot} KiB; {fmt(at_prompt)}",
              file=sys.stderr, flush=True)
        con.type_line("(while :; do ls -lR /proc/self >/dev/null 2>&1; date >>/tmp/log; "
                      "cat /proc/meminfo >/dev/null; [ $(wc -l </tmp/log) -gt 1000 ] && "
                      ": >/tmp/log; done) &")
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            time.sleep(args.interval)
            samples.append(take_sample(round(time.monotonic() - t0), pid, args))
            # As they come (stderr): a run that fails at its end still shows them.
            print(f"rss_soak: {fmt(samples[-1])}", file=sys.stderr, flush=True)
        hwm_end = status_kib(pid, "VmHWM")
        if args.trim:
            subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex",
                            "call (int) malloc_trim(0)"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=300)
            trimmed = take_sample(round(time.monotonic() - t0), pid, args)
            print(f"rss_soak: after malloc_trim(0): {fmt(trimmed)}", file=sys.stderr, flush=True)
        con.type_line("poweroff -f")
        con.wait_exit()
    finally:
        con.kill()
        if args.csv and samples:
            with open(args.csv, "w") as f:
                keys = list(samples[-1].keys())
                f.write(",".join(keys) + "\n")
                for r in samples:
                    f.write(",".join(str(r.get(k, "")) for k in keys) + "\n")
    print("\n==== rss_soak")
    print(f"prompt after {boot_s:.1f} s; peak (VmHWM) {hwm_boot} KiB; {fmt(at_prompt)}")
    for r in samples:
        print("  " + fmt(r))
    first = samples[0] if samples else at_prompt
    last = samples[-1] if samples else at_prompt
    growth = ", ".join(f"{k} {last[k] - first[k]:+d}" for k in ("rss",) + PARTS)
    print(f"growth over the loop (KiB, first sample to last): {growth}; "
          f"peak at the end {hwm_end} KiB")
    if args.trim:
        back = ", ".join(f"{k} {trimmed[k] - last[k]:+d}" for k in ("rss",) + PARTS)
        print(f"after malloc_trim(0) (KiB, against the last sample): {back}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
