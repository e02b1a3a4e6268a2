#!/usr/bin/env python3
"""Translation-cache sweep: one workload under a list of cache sizes and eviction policies.

usage: tcache_sweep.py [--softcpu PATH] (--rom ROM | --disk IMAGE | --kernel K [--initrd I]
                       [--append A]) [--marker REGEX] [--command CMD [--command-check RX]]
                       [--sizes 64K,256K,1M,4M,unbounded]
                       [--policies flush,fifo,lru] [--blocks N] [--jit on|off] [--repeat N]
                       [--expect-status N] [--timeout SEC] [--extra-args ARGS]
                       [--out PREFIX] [--no-plot] [--time cpu|wall]
       tcache_sweep.py --from-csv CSV [--out PREFIX] [--time cpu|wall]

Every (size, policy) pair runs the workload once per repeat; the runs are interleaved (every
pair of repeat 1, then every pair of repeat 2, in reverse order, ...) so a change in the
machine's load hits all sizes alike. softcpu runs with --tcache-size SIZE --tcache-policy
POLICY (and --tcache-blocks N when given) and --stats=json --stats-file F; the cache.*
counters, the guest instruction count and jit.compile_us_total are read from that file, the
CPU seconds of the child process (user + system, all its threads) from getrusage.

  ROM      softcpu run --bios ROM --debugcon 0xE9:FILE --serial none: the run is the whole
           process; its result is the exit status (debug-exit) and the debugcon output,
           which must be the same in every run (and equal --expect-status when given).
  Linux    --kernel/--initrd/--append (direct boot) or --disk (SeaBIOS, snapshot=on), the
           serial console driven with tests/linux/guest_session.py's Console: the run time
           is the wall time from process start to the first line matching --marker (default:
           the busybox prompt); then `poweroff -f` is typed and the exit status must be 0
           (--expect-status), which also makes softcpu write its statistics. With
           --command CMD, CMD is typed at the marker and the run time goes on to the end of
           CMD (boot plus workload; the counters cover both).

Writes PREFIX.csv (one row per run), PREFIX.png and PREFIX.svg (hit rate and run time
against the cache size, one line per policy; miss classes as stacked bars), prints a table
of medians and, per policy, the smallest size whose run time is within 5% of the unbounded
cache's. Exits 1 if a run fails or a guest result differs. See bench/README.md.
"""
import argparse
import csv
import json
import os
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in bench/ or tests/linux
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest_bench import flatten  # noqa: E402  (the statistics JSON as dotted names)
import boot_bench  # noqa: E402  (QuietConsole, DEFAULT_APPEND and guest_session)

guest_session = boot_bench.guest_session

POLICIES = ("flush", "fifo", "lru")
SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
TOLERANCE = 0.05  # "within 5% of the unbounded run time"

# CSV columns, in order; see bench/README.md for what each one means.
COLUMNS = [
    "size", "size_bytes", "policy", "repeat", "result", "status",
    "wall_s", "cpu_s", "cpu_user_s", "cpu_sys_s", "softcpu_wall_s", "instructions",
    "transitions", "lookups", "hits", "hits_chain", "hits_jump", "hits_hash",
    "hit_rate", "lookup_hit_rate",
    "misses", "misses_compulsory", "misses_capacity", "misses_invalidated",
    "evictions", "retranslations", "inserts", "flushes",
    "bytes_decoded", "bytes_native", "bytes_peak", "entries_tier0", "entries_tier1",
    "jit_compile_s",
]
# CSV column <- the statistics JSON's dotted name.
FROM_STATS = {
    "instructions": "instructions", "softcpu_wall_s": "wall_seconds",
    "lookups": "cache.lookups", "hits_chain": "cache.chained",
    "hits_jump": "cache.jump_cache_hits", "hits_hash": "cache.hash_hits",
    "misses": "cache.misses", "misses_compulsory": "cache.misses_compulsory",
    "misses_capacity": "cache.misses_capacity", "misses_invalidated": "cache.misses_invalidated",
    "evictions": "cache.evictions", "retranslations": "cache.retranslations",
    "inserts": "cache.inserts", "flushes": "cache.flushes",
    "bytes_decoded": "cache.bytes_decoded", "bytes_native": "cache.bytes_native",
    "bytes_peak": "cache.bytes_peak", "entries_tier0": "cache.entries_tier0",
    "entries_tier1": "cache.entries_tier1",
}


class Failure(Exception):
    pass


def parse_size(text):
    """'64K' -> 65536, '1M', '2G', '4096'; 'unbounded' or '0' -> 0 (no bound)."""
    t = text.strip().upper()
    if t in ("UNBOUNDED", "0", ""):
        return 0
    m = re.match(r"^(\d+)([KMG]?)I?B?$", t)
    if not m:
        raise ValueError("bad size %r (a number with an optional K, M or G, or unbounded)" % text)
    return int(m.group(1)) * SUFFIXES[m.group(2)]


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


def base_cmd(args):
    """softcpu run plus the workload's own arguments (without the cache options)."""
    cmd = [args.softcpu, "run"]
    if args.rom:
        cmd += ["--bios", args.rom, "--serial", "none", "--timeout", "%g" % args.timeout]
    elif args.disk:
        cmd += ["--drive", "file=%s,snapshot=on" % args.disk]
    else:
        cmd += ["--kernel", args.kernel]
        if args.initrd:
            cmd += ["--initrd", args.initrd]
        cmd += ["--append", args.append]
    if args.jit:
        cmd += ["--jit", args.jit]
    return cmd + shlex.split(args.extra_args or "")


def cache_args(size_bytes, policy, blocks):
    out = ["--tcache-size", str(size_bytes), "--tcache-policy", policy]
    if blocks:
        out += ["--tcache-blocks", str(blocks)]
    return out


def run_rom(cmd, tmp, timeout):
    """One ROM run: (status, wall seconds, the guest's debugcon output)."""
    dbg = os.path.join(tmp, "debugcon.txt")
    if os.path.exists(dbg):
        os.unlink(dbg)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd + ["--debugcon", "0xE9:" + dbg], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        raise Failure("softcpu did not exit within %g s (killed)" % (timeout + 60))
    wall = time.monotonic() - t0
    guest_out = ""
    if os.path.exists(dbg):
        with open(dbg, errors="replace") as f:
            guest_out = f.read()
    if p.returncode < 0:
        raise Failure("softcpu died by signal %d\n%s" % (-p.returncode,
                                                          out.decode(errors="replace")[-2000:]))
    if p.returncode == 124:
        raise Failure("softcpu stopped at --timeout %g (status 124)" % timeout)
    if p.returncode == 2:
        raise Failure("softcpu refused its options (status 2): %s"
                      % out.decode(errors="replace").strip()[-1000:])
    return p.returncode, wall, guest_out


def run_linux(cmd, marker, timeout, command=None):
    """One Linux boot: (status, seconds from process start to the marker, or to the end of
    `command` typed at the marker (an in-guest workload), its output)."""
    started = time.monotonic()
    con = boot_bench.QuietConsole(cmd, started + timeout)
    out = ""
    try:
        con.wait_for(marker, 0, "the marker %r" % marker.pattern)
        if command:
            out = con.run(command, "the end of %r" % command)
        wall = time.monotonic() - started
        con.type_line("poweroff -f")
        status = con.wait_exit()
        con.reader.join(timeout=5)
    except guest_session.Failure as e:
        tail = con.text().replace("\r\n", "\n").split("\n")[-30:]
        raise Failure("%s\n  last lines of the serial console:\n    %s" % (e, "\n    ".join(tail)))
    finally:
        con.kill()
    return status, wall, out


def stat(s, key):
    """A counter of the flattened statistics; 0 when absent or null (the JSON's NaN)."""
    v = s.get(key)
    return v if isinstance(v, (int, float)) else 0


def row_from_stats(row, s):
    for col, key in FROM_STATS.items():
        row[col] = stat(s, key)
    if "cache.misses" not in s:
        # Before the bounded cache every lookup that missed was compulsory or invalidated.
        row["misses"] = max(0, stat(s, "cache.lookups") - stat(s, "cache.hits"))
    row["jit_compile_s"] = float(stat(s, "jit.compile_us_total")) / 1e6
    row["hits"] = row["hits_jump"] + row["hits_hash"]
    row["transitions"] = row["lookups"] + row["hits_chain"]
    row["hit_rate"] = ((row["hits"] + row["hits_chain"]) / row["transitions"]
                       if row["transitions"] else 0.0)
    row["lookup_hit_rate"] = row["hits"] / row["lookups"] if row["lookups"] else 0.0


def one_run(args, tmp, size_label, size_bytes, policy, rep):
    stats_file = os.path.join(tmp, "stats.json")
    if os.path.exists(stats_file):
        os.unlink(stats_file)
    cmd = base_cmd(args) + cache_args(size_bytes, policy, args.blocks) + [
        "--stats=json", "--stats-file", stats_file]
    row = {c: "" for c in COLUMNS}
    row.update(size=size_label, size_bytes=size_bytes, policy=policy, repeat=rep)
    u0, s0 = children_cpu()
    try:
        if args.rom:
            status, wall, guest_out = run_rom(cmd, tmp, args.timeout)
        else:
            status, wall, guest_out = run_linux(cmd, args.marker_rx, args.timeout, args.command)
            if args.command_check and not re.search(args.command_check, guest_out):
                raise Failure("the output of %r does not match %r:\n%s" % (
                    args.command, args.command_check, guest_out[-2000:]))
    finally:
        u1, s1 = children_cpu()
    row.update(status=status, wall_s=wall, cpu_user_s=u1 - u0, cpu_sys_s=s1 - s0,
               cpu_s=(u1 - u0) + (s1 - s0))
    if args.expect_status is not None and status != args.expect_status:
        raise Failure("exit status %d, expected %d%s" % (
            status, args.expect_status,
            "\n---- guest output (last 2000 bytes) ----\n" + guest_out[-2000:] if guest_out else ""))
    try:
        with open(stats_file) as f:
            row_from_stats(row, flatten(json.load(f)))
    except (OSError, ValueError) as e:
        raise Failure("no statistics from softcpu (%s): %s" % (stats_file, e))
    return row, (status, guest_out)


def progress_line(i, n, row, rom):
    return ("tcache_sweep: [%d/%d] %-9s %-5s rep %d: hit %.4f%% (lookups %d, misses %d = "
            "%s+%s+%s, evictions %s), %s %.2f s, cpu %.2f s" % (
                i, n, row["size"], row["policy"], row["repeat"], 100 * row["hit_rate"],
                row["lookups"], row["misses"], row["misses_compulsory"], row["misses_capacity"],
                row["misses_invalidated"], row["evictions"],
                "wall" if rom else "to marker", row["wall_s"], row["cpu_s"]))


def median_rows(rows, sizes, policies, metric):
    """{(size_label, policy): {column: median}} over the successful repeats."""
    out = {}
    for label, _ in sizes:
        for policy in policies:
            rs = [r for r in rows if r["size"] == label and r["policy"] == policy
                  and r["result"] == "ok"]
            if not rs:
                continue
            med = {}
            for c in COLUMNS:
                vals = [r[c] for r in rs if isinstance(r[c], (int, float))]
                if vals:
                    med[c] = statistics.median(vals)
            med["time"] = med.get(metric, 0.0)
            med["runs"] = len(rs)
            out[(label, policy)] = med
    return out


def knee(med, sizes, policies):
    """Per policy: the smallest finite size from which on every larger size runs within
    TOLERANCE of the unbounded cache's median time (the unbounded runs of every policy
    pooled: the policy does nothing without a bound)."""
    unb = [m["time"] for (label, p), m in med.items()
           if dict(sizes)[label] == 0]
    if not unb:
        return None, {}
    ref = statistics.median(unb)
    finite = [(label, b) for label, b in sizes if b > 0]
    out = {}
    for policy in policies:
        best = None
        for label, _ in reversed(finite):
            m = med.get((label, policy))
            if m is None or m["time"] > ref * (1 + TOLERANCE):
                break
            best = label
        out[policy] = best
    return ref, out


def print_report(med, sizes, policies, metric, ref, knees):
    print("\n== medians per size and policy (time = %s seconds)" % metric)
    print("%-10s %-6s %4s %9s %9s %10s %12s %10s %10s %10s %10s %9s %8s" % (
        "size", "policy", "runs", "time", "wall", "hit rate", "lookups", "compuls.",
        "capacity", "invalid.", "evictions", "retrans.", "jit s"))
    for label, _ in sizes:
        for policy in policies:
            m = med.get((label, policy))
            if not m:
                continue
            print("%-10s %-6s %4d %9.3f %9.3f %9.4f%% %12d %10d %10d %10d %10d %9d %8.2f" % (
                label, policy, m["runs"], m["time"], m.get("wall_s", 0),
                100 * m.get("hit_rate", 0), m.get("lookups", 0), m.get("misses_compulsory", 0),
                m.get("misses_capacity", 0), m.get("misses_invalidated", 0),
                m.get("evictions", 0), m.get("retranslations", 0), m.get("jit_compile_s", 0)))
    if ref is None:
        print("\nno unbounded size in --sizes: no reference for the 5%% rule")
        return
    print("\n== smallest size within %d%% of the unbounded run time (%.3f s, %s)" % (
        round(TOLERANCE * 100), ref, metric))
    for policy in policies:
        k = knees.get(policy)
        print("%-6s %s" % (policy, k if k else "none (only unbounded)"))


def plot(med, sizes, policies, metric, prefix, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("tcache_sweep: no plot: matplotlib is missing for %s (Debian: apt-get install "
              "python3-matplotlib)" % sys.executable)
        return []
    finite = [b for _, b in sizes if b > 0]
    # The unbounded cache sits one factor of 4 past the largest size on the log axis.
    unb_x = max(finite) * 4 if finite else 1
    xs = {label: (b if b > 0 else unb_x) for label, b in sizes}
    fig, (ax_hit, ax_time, ax_miss) = plt.subplots(3, 1, figsize=(8, 11))
    for policy in policies:
        pts = [(xs[label], med[(label, policy)]) for label, _ in sizes if (label, policy) in med]
        if not pts:
            continue
        ax_hit.plot([x for x, _ in pts], [100 * m.get("hit_rate", 0) for _, m in pts],
                    marker="o", label=policy)
        ax_time.plot([x for x, _ in pts], [m["time"] for _, m in pts], marker="o", label=policy)
    for ax in (ax_hit, ax_time):
        ax.set_xscale("log", base=2)
        ax.set_xticks([xs[label] for label, _ in sizes])
        ax.set_xticklabels([label for label, _ in sizes])
        ax.minorticks_off()
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.set_xlabel("translation cache size (bytes)")
    ax_hit.set_ylabel("hit rate (%, chained transitions count as hits)")
    ax_time.set_ylabel("run time (%s seconds, median)" % metric)
    ax_time.set_ylim(bottom=0)
    ax_hit.set_title(title, fontsize=9)

    classes = [("misses_compulsory", "compulsory"), ("misses_capacity", "capacity"),
               ("misses_invalidated", "invalidated")]
    colors = ["#4c72b0", "#dd8452", "#55a868"]
    width = 0.8 / max(1, len(policies))
    ticks, ticklabels = [], []
    for i, (label, _) in enumerate(sizes):
        for j, policy in enumerate(policies):
            m = med.get((label, policy))
            if not m:
                continue
            x = i + (j - (len(policies) - 1) / 2) * width
            bottom = 0
            for k, (col, name) in enumerate(classes):
                v = m.get(col, 0)
                ax_miss.bar(x, v, width * 0.9, bottom=bottom, color=colors[k],
                            label=name if (i, j) == (0, 0) else None)
                bottom += v
            ticks.append(x)
            ticklabels.append("%s\n%s" % (policy, label) if j == 0 else policy)
    ax_miss.set_xticks(ticks)
    ax_miss.set_xticklabels(ticklabels, fontsize=7)
    totals = [sum(m.get(c, 0) for c, _ in classes) for m in med.values()]
    if totals and min(totals) > 0 and max(totals) / min(totals) > 100:
        # Compulsory misses alone beside millions of capacity misses: a log axis shows both
        # (the stacked segments' heights are then not proportional; the CSV has the counts).
        ax_miss.set_yscale("log")
        least = min(m.get(c, 0) for m in med.values() for c, _ in classes if m.get(c, 0) > 0)
        ax_miss.set_ylim(bottom=least / 2)
        ax_miss.set_ylabel("misses by class (median, log scale)")
    else:
        ax_miss.set_ylabel("misses by class (median)")
    ax_miss.legend()
    ax_miss.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    written = []
    for ext in ("png", "svg"):
        path = "%s.%s" % (prefix, ext)
        fig.savefig(path, dpi=80)
        written.append(path)
    plt.close(fig)
    return written


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--softcpu", default=os.path.join(here, "..", "build", "softcpu"))
    w = ap.add_mutually_exclusive_group()
    w.add_argument("--rom", help="a ROM run with --bios (ends through the debug-exit port)")
    w.add_argument("--disk", help="a raw disk image booted through SeaBIOS (snapshot=on)")
    w.add_argument("--kernel", help="a Linux bzImage booted directly")
    w.add_argument("--from-csv", metavar="CSV",
                   help="run nothing: the report and plots of an earlier sweep's CSV")
    ap.add_argument("--initrd")
    ap.add_argument("--append", default=boot_bench.DEFAULT_APPEND)
    ap.add_argument("--marker", default=re.escape(guest_session.PROMPT),
                    help="regex on the serial console that ends a Linux run's measurement "
                         "(default: the busybox prompt)")
    ap.add_argument("--command", help="a shell command typed at the marker (an in-guest "
                    "workload, e.g. '/opt/bench/bench.sh run gzip' with initrd-bench.img): "
                    "the run then ends when it has finished")
    ap.add_argument("--command-check", metavar="REGEX",
                    help="the command's output must match this, or the run fails")
    ap.add_argument("--sizes", default="64K,256K,1M,4M,unbounded",
                    help="comma-separated cache sizes (K/M/G suffixes; unbounded or 0)")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--blocks", type=int, default=0, help="--tcache-blocks for every run")
    ap.add_argument("--jit", choices=("on", "off"))
    ap.add_argument("--repeat", type=int, default=1, help="runs per size and policy")
    ap.add_argument("--expect-status", type=int,
                    help="required exit status (default: none for a ROM, which must only agree "
                         "with the unbounded run; 0 for Linux, after poweroff -f)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run")
    ap.add_argument("--extra-args", default="", help="more softcpu options for every run")
    ap.add_argument("--out", default="tcache_sweep",
                    help="output prefix: PREFIX.csv, PREFIX.png, PREFIX.svg")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--time", choices=("cpu", "wall"), default="cpu",
                    help="the run time compared across sizes: the child's CPU seconds "
                         "(default; steadier on a loaded machine) or wall seconds")
    args = ap.parse_args()
    if not (args.rom or args.disk or args.kernel or args.from_csv):
        ap.error("give the workload: --rom, --disk or --kernel (or --from-csv)")
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    try:
        args.size_list = []
        for s in [x for x in args.sizes.split(",") if x.strip()]:
            args.size_list.append((s.strip(), parse_size(s)))
    except ValueError as e:
        ap.error(str(e))
    if not args.size_list:
        ap.error("--sizes is empty")
    if len(set(b for _, b in args.size_list)) != len(args.size_list):
        ap.error("--sizes has the same size twice")
    args.size_list.sort(key=lambda lb: (lb[1] == 0, lb[1]))
    args.policy_list = [p for p in args.policies.split(",") if p]
    bad = [p for p in args.policy_list if p not in POLICIES]
    if bad or not args.policy_list:
        ap.error("--policies takes %s" % ",".join(POLICIES))
    if args.rom is None and args.expect_status is None:
        args.expect_status = 0
    args.marker_rx = re.compile(args.marker)
    if args.from_csv:
        return args
    if not os.access(args.softcpu, os.X_OK):
        ap.error("no softcpu binary at %s" % args.softcpu)
    for f in (args.rom, args.disk, args.kernel, args.initrd):
        if f and not os.path.isfile(f):
            ap.error("no such file: %s" % f)
    return args


def read_csv(path):
    """Rows of an earlier sweep's CSV (numbers as numbers), its sizes and its policies."""
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            for c, v in r.items():
                if c not in ("size", "policy", "result") and v != "":
                    r[c] = float(v) if re.search(r"[.eE]", v) else int(v)
            rows.append(r)
    sizes = sorted({(r["size"], r["size_bytes"]) for r in rows}, key=lambda lb: (lb[1] == 0, lb[1]))
    policies = [p for p in POLICIES if any(r["policy"] == p for r in rows)]
    return rows, sizes, policies


def report(args, rows, sizes, policies, workload, repeats):
    metric = "cpu_s" if args.time == "cpu" else "wall_s"
    med = median_rows(rows, sizes, policies, metric)
    ref, knees = knee(med, sizes, policies)
    print_report(med, sizes, policies, args.time, ref, knees)
    if not args.no_plot and med:
        title = "%s%s, %d repeat(s)" % (os.path.basename(workload),
                                         ", jit " + args.jit if args.jit else "", repeats)
        for path in plot(med, sizes, policies, args.time, args.out, title):
            print("tcache_sweep: plot written to %s" % path)


def main():
    args = parse_args()
    if args.from_csv:
        rows, sizes, policies = read_csv(args.from_csv)
        report(args, rows, sizes, policies, args.from_csv,
               max([r["repeat"] for r in rows if r["repeat"] != ""] or [0]))
        return 0
    sizes, policies = args.size_list, args.policy_list
    pairs = [(label, b, p) for label, b in sizes for p in policies]
    n = len(pairs) * args.repeat
    workload = args.rom or args.disk or args.kernel
    print("tcache_sweep: %s, %d sizes x %d policies x %d repeats = %d runs (jit %s)" % (
        workload, len(sizes), len(policies), args.repeat, n, args.jit or "default"), flush=True)
    rows, results, failures = [], {}, []
    i = 0
    with tempfile.TemporaryDirectory(prefix="tcache_sweep.") as tmp:
        for rep in range(1, args.repeat + 1):
            order = pairs if rep % 2 else list(reversed(pairs))
            for label, size_bytes, policy in order:
                i += 1
                try:
                    row, result = one_run(args, tmp, label, size_bytes, policy, rep)
                    row["result"] = "ok"
                    results[(label, policy, rep)] = result
                    print(progress_line(i, n, row, bool(args.rom)), flush=True)
                except Failure as e:
                    row = {c: "" for c in COLUMNS}
                    row.update(size=label, size_bytes=size_bytes, policy=policy, repeat=rep,
                               result="failed")
                    failures.append("%s %s rep %d: %s" % (label, policy, rep, e))
                    print("tcache_sweep: [%d/%d] %s %s rep %d FAILED: %s" % (
                        i, n, label, policy, rep, e), flush=True)
                rows.append(row)

    # A ROM's result (exit status and debugcon output) must be the same at every size: the
    # unbounded cache's if it ran, else the first run's.
    if args.rom and results:
        ref_key = next((k for k in sorted(results, key=lambda k: k[2])
                        if dict(sizes)[k[0]] == 0), None) or next(iter(results))
        want = results[ref_key]
        for key, res in results.items():
            if res != want:
                why = ("exit status %d, the reference's %d" % (res[0], want[0]) if res[0] != want[0]
                       else "other debugcon output")
                failures.append("%s %s rep %d: guest result differs from %s %s rep %d: %s\n"
                                "    this run:  %s\n    reference: %s" % (
                                    key[0], key[1], key[2], ref_key[0], ref_key[1], ref_key[2],
                                    why, res[1].strip()[-300:], want[1].strip()[-300:]))
                for r in rows:
                    if (r["size"], r["policy"], r["repeat"]) == key:
                        r["result"] = "wrong"

    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    csv_path = args.out + ".csv"
    with open(csv_path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=COLUMNS)
        wr.writeheader()
        for r in rows:
            wr.writerow({c: ("%.6g" % v if isinstance(v, float) else v) for c, v in r.items()})
    print("tcache_sweep: %d rows written to %s" % (len(rows), csv_path))

    report(args, rows, sizes, policies, workload, args.repeat)
    if failures:
        print("\ntcache_sweep: %d failure(s):\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
