#!/usr/bin/env python3
"""--stats-interval MS --stats-file FILE end to end on bench.rom (a compute benchmark, cut
short with --insn-limit): every line of FILE is one complete --stats=json object (schema
softcpu-stats) with guest_ms; guest time goes up from line to line, instructions never go
down, and the last line, and only it, has "final": true. Also: --stats=json still prints to
stderr, and bad uses of the option are clear errors (status 2).

Usage: stats_series_test.py SOFTCPU BENCH_ROM"""
import json
import os
import subprocess
import sys
import tempfile

import checklist  # check() and the failure count
from checklist import check

SOFTCPU = sys.argv[1]
ROM = sys.argv[2]


# The guest's --timeout is a guard only: under ThreadSanitizer on the loaded 2-core host the
# 30 M instructions below took more than 60 s (28.2 M by then, 2026-12-06, load 12), which
# ended the run with the same status 124 as the instruction limit.
def run(*extra):
    cmd = [SOFTCPU, "run", "--bios", ROM, "--serial", "none", "--timeout", "600"] + list(extra)
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=700)
    return p.returncode, p.stdout + p.stderr, p.stderr


with tempfile.TemporaryDirectory() as tmp:
    series = os.path.join(tmp, "series.jsonl")
    # 30 M instructions: a few tenths of a second, tens of samples at 5 ms.
    status, out, err = run("--insn-limit", "30000000", "--stats-interval", "5",
                           "--stats-file", series, "--stats=json")
    check("the run ends at the instruction limit", status == 124 and "timeout after" not in err,
          out[-800:])
    lines = open(series).read().splitlines() if os.path.exists(series) else []
    try:
        objs = [json.loads(line) for line in lines]
        parsed = True
    except ValueError as e:
        objs, parsed = [], False
        check("every line is JSON", False, e)
    if parsed:
        check("every line is JSON", True)
    check("several samples and a final line", len(objs) >= 3, f"{len(objs)} lines")
    if objs:
        check("each line is a complete softcpu-stats object",
              all(o.get("schema") == "softcpu-stats" and o.get("version") == 1
                  and "instructions" in o and "cache" in o and "tlb" in o for o in objs),
              lines[0][:300])
        check("zeros are kept", all("exits" in o and "msr" in o["exits"] for o in objs))
        ms = [o.get("guest_ms") for o in objs]
        check("every line has guest_ms", all(isinstance(m, (int, float)) for m in ms), ms[:5])
        if all(isinstance(m, (int, float)) for m in ms):
            check("guest time increases from sample to sample",
                  all(a < b for a, b in zip(ms[:-2], ms[1:-1])) and ms[-1] >= ms[-2], ms)
            # Sample k is due at k * 5 ms of guest time (or later, when the guest was busy).
            check("sample k is taken at k * 5 ms of guest time or later",
                  all(m >= 5 * (k + 1) for k, m in enumerate(ms[:-1])), ms)
        insns = [o.get("instructions", -1) for o in objs]
        check("instructions never decrease", all(a <= b for a, b in zip(insns, insns[1:])),
              insns)
        check("the last line is final, the others not",
              objs[-1].get("final") is True and not any("final" in o for o in objs[:-1]))
        check("the final line counts the whole run", insns[-1] >= 29000000, insns[-1])
    # --stats=json was asked for as well: it goes to stderr, the file keeps the series.
    tail = err.strip().splitlines()[-1] if err.strip() else ""
    try:
        final = json.loads(tail)
        check("--stats=json prints to stderr alongside the series",
              final.get("schema") == "softcpu-stats" and "guest_ms" not in final, tail[:200])
    except ValueError:
        check("--stats=json prints to stderr alongside the series", False, tail[:200])

    for name, args, message in [
            ("--stats-interval needs --stats-file", ["--stats-interval", "5"],
             "--stats-interval needs --stats-file"),
            ("--stats-interval 0 is refused", ["--stats-interval", "0", "--stats-file", series],
             "bad --stats-interval '0'"),
            ("--stats-interval abc is refused",
             ["--stats-interval", "abc", "--stats-file", series], "bad --stats-interval 'abc'"),
            ("an unwritable series file is an error",
             ["--stats-interval", "5", "--stats-file", os.path.join(tmp, "no", "dir", "f")],
             "cannot write the statistics series")]:
        status, out, _ = run(*args)
        check(name, status == 2 and message in out, f"status {status}: {out[-300:]}")

print(f"{checklist.failures} failed" if checklist.failures else "all stats-series checks passed")
sys.exit(1 if checklist.failures else 0)
