#!/usr/bin/env python3
"""bench/tcache_sweep.py end to end on a small ROM: a cache small enough to evict and an
unbounded one, under every policy, then the CSV's identities:
  lookups = jump-cache hits + hash hits + misses, misses = compulsory + capacity + invalidated;
  per policy, the small cache has evictions and at least as many capacity misses as the
  unbounded one, which has no capacity misses and no evictions;
  every run ends with the expected exit status (the ROM checks its own checksum), the same
  debugcon output (the sweep compares them) and the same guest instruction count.

usage: tcache_sweep_test.py SOFTCPU ROM [--small SIZE] [--expect-status N] [-- SWEEP-ARGS...]
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SWEEP = os.path.join(HERE, "..", "..", "bench", "tcache_sweep.py")
POLICIES = ("flush", "fifo", "lru")


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("softcpu")
    ap.add_argument("rom")
    ap.add_argument("--small", default="4K", help="the cache size that must evict")
    ap.add_argument("--expect-status", type=int, default=1)
    args = ap.parse_args(argv)

    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="tcache_sweep_test.") as tmp:
        prefix = os.path.join(tmp, "sweep")
        cmd = [sys.executable, SWEEP, "--softcpu", args.softcpu, "--rom", args.rom,
               "--sizes", "%s,unbounded" % args.small, "--policies", ",".join(POLICIES),
               "--expect-status", str(args.expect_status), "--timeout", "120",
               "--out", prefix] + extra
        print("+ " + " ".join(cmd), flush=True)
        p = subprocess.run(cmd)
        if p.returncode != 0:
            sys.exit("FAIL: tcache_sweep.py exited with status %d" % p.returncode)
        with open(prefix + ".csv") as f:
            rows = list(csv.DictReader(f))

    def num(r, c):
        return float(r[c]) if r[c] != "" else 0.0

    check(len(rows) == 2 * len(POLICIES), "%d rows, expected %d" % (len(rows), 2 * len(POLICIES)))
    by = {}
    for r in rows:
        name = "%s/%s" % (r["size"], r["policy"])
        by[(r["size"], r["policy"])] = r
        check(r["result"] == "ok", "%s: result %s" % (name, r["result"]))
        check(r["status"] == str(args.expect_status),
              "%s: exit status %s, expected %d" % (name, r["status"], args.expect_status))
        lookups, misses = num(r, "lookups"), num(r, "misses")
        hits = num(r, "hits_jump") + num(r, "hits_hash")
        check(lookups > 0, "%s: no lookups" % name)
        check(lookups == hits + misses,
              "%s: lookups %d != jump-cache hits + hash hits + misses = %d"
              % (name, lookups, hits + misses))
        classes = num(r, "misses_compulsory") + num(r, "misses_capacity") + \
            num(r, "misses_invalidated")
        check(misses == classes, "%s: misses %d != compulsory + capacity + invalidated = %d"
              % (name, misses, classes))
    insns = set(r["instructions"] for r in rows)
    check(len(insns) == 1, "the guest instruction count differs between runs: %s" % sorted(insns))
    for policy in POLICIES:
        small, unb = by.get((args.small, policy)), by.get(("unbounded", policy))
        if not small or not unb:
            failures.append("%s: a run is missing" % policy)
            continue
        check(num(unb, "misses_capacity") == 0,
              "%s: the unbounded cache has %s capacity misses" % (policy, unb["misses_capacity"]))
        check(num(unb, "evictions") == 0,
              "%s: the unbounded cache has %s evictions" % (policy, unb["evictions"]))
        check(num(small, "evictions") > 0,
              "%s: the %s cache has no evictions (too large to test the policy)"
              % (policy, args.small))
        check(num(small, "misses_capacity") >= num(unb, "misses_capacity"),
              "%s: the %s cache has fewer capacity misses (%s) than the unbounded one (%s)"
              % (policy, args.small, small["misses_capacity"], unb["misses_capacity"]))
        print("ok   %-5s %s: evictions %s, capacity misses %s, retranslations %s; unbounded: "
              "misses %s" % (policy, args.small, small["evictions"], small["misses_capacity"],
                             small["retranslations"], unb["misses"]))
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("PASS")


if __name__ == "__main__":
    main()
