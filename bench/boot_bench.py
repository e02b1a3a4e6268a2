#!/usr/bin/env python3
"""Boot-time benchmark: the default Linux guest under softcpu and QEMU TCG, same run.

usage: boot_bench.py [--runs N] [--guest DIR] [--softcpu PATH] [--qemu PATH] [--no-qemu]
                     [--variant NAME=ARGS]... [--json PATH] [--timeout SEC]

For each boot path (direct: --kernel/--initrd/--append; disk: the raw image through
SeaBIOS and the image's boot loader, snapshot=on) and each emulator it measures the wall
seconds from process start to the first shell prompt ("softcpu# ") on the serial console,
N runs each, and the host CPU seconds (user + system, all threads) the emulator used until
then, then types `poweroff -f` and checks the emulator exits 0. Runs are interleaved
(run 1 of every path and emulator, then run 2, ...) so a change in the machine's load
during the benchmark hits both emulators alike. softcpu also runs with --stats=json, and
the counters (whole process life: the boot plus the few instructions of the poweroff) are
reported per path as the median over the runs. Ratios are softcpu/QEMU prompt times of this
same invocation. `--variant NAME=ARGS` (repeatable, as in guest_bench.py: extra `softcpu run`
arguments, after an optional softcpu=PATH naming another binary) runs several softcpus in
each round, e.g. `--variant "off=--jit off" --variant "on=--jit on"`. See bench/README.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in tests/linux
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "linux"))
import guest_session  # noqa: E402  (the serial-console driver of the Linux boot tests)
from guest_bench import parse_variants, process_cpu_seconds, variant_binary  # noqa: E402

PATHS = ("direct", "disk")
DEFAULT_APPEND = "console=ttyS0 cryptomgr.notests noisapnp"
# The exit reasons the report names, in this order (softcpu's stats JSON "exits" object).
EXIT_REASONS = ("io", "hlt", "rdtsc", "cpuid", "msr")


class QuietConsole(guest_session.Console):
    """guest_session's console without echoing the guest's output to our stdout."""

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            with self.cond:
                if data:
                    self.buf += data
                else:
                    self.eof = True
                self.cond.notify_all()
            if not data:
                return


def guest_files(guest):
    files = {name: os.path.join(guest, name) for name in ("vmlinuz", "initrd.img", "disk.img")}
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        sys.exit("boot_bench: guest image incomplete (build it with `make guest` or "
                 "tools/guest/build-image.sh DIR): missing " + ", ".join(missing))
    append = DEFAULT_APPEND
    cmdline = os.path.join(guest, "cmdline.txt")
    if os.path.isfile(cmdline):
        with open(cmdline) as f:
            append = f.read().strip() or DEFAULT_APPEND
    files["append"] = append
    return files


def softcpu_cmd(softcpu, g, path, stats_file, extra=()):
    if path == "direct":
        boot = ["--kernel", g["vmlinuz"], "--initrd", g["initrd.img"], "--append", g["append"]]
    else:
        boot = ["--drive", "file=%s,snapshot=on" % g["disk.img"]]
    return [softcpu, "run"] + boot + ["--stats=json", "--stats-file", stats_file] + list(extra)


def qemu_cmd(qemu, g, path):
    base = [qemu, "-accel", "tcg", "-nographic", "-m", "128"]
    if path == "direct":
        return base + ["-kernel", g["vmlinuz"], "-initrd", g["initrd.img"], "-append", g["append"]]
    return base + ["-drive", "file=%s,format=raw,snapshot=on" % g["disk.img"]]


def boot_once(cmd, timeout):
    """Start cmd, wait for the prompt, power the guest off. Returns a dict with
    prompt_s (process start to the first prompt), cpu_s (the process's host CPU seconds
    until then), init_s (to the initramfs's /init banner), total_s and status, or raises
    guest_session.Failure."""
    started = time.monotonic()
    con = QuietConsole(cmd, started + timeout)
    try:
        con.wait_for(re.escape(guest_session.INIT_MARKER), 0, "the initramfs's /init")
        init_s = time.monotonic() - started
        con.wait_for(re.escape(guest_session.PROMPT), 0, "the shell prompt")
        prompt_s = time.monotonic() - started
        cpu_s = process_cpu_seconds(con.proc.pid)
        con.type_line("poweroff -f")
        status = con.wait_exit()
        total_s = time.monotonic() - started
        con.reader.join(timeout=5)
    except guest_session.Failure as e:
        tail = con.text().replace("\r\n", "\n").split("\n")[-30:]
        raise guest_session.Failure("%s\n  last lines of the serial console:\n    %s"
                                    % (e, "\n    ".join(tail)))
    finally:
        con.kill()
    if status != 0:
        raise guest_session.Failure("exit status %d after poweroff -f, expected 0" % status)
    return {"prompt_s": prompt_s, "cpu_s": cpu_s, "init_s": init_s, "total_s": total_s,
            "status": status}


def stats_summary(s):
    """The figures this benchmark reports from one softcpu --stats=json object."""
    cache = s.get("cache", {})
    lookups = cache.get("lookups", 0)
    hits = cache.get("hits", 0)
    chained = cache.get("chained", 0)
    secs = float(s.get("wall_seconds") or 0)
    insns = int(s.get("instructions", 0))
    exits = s.get("exits", {})
    out = {
        "instructions": insns,
        "mips": insns / secs / 1e6 if secs > 0 else 0.0,
        # softcpu's own cache.hit_rate: every block transition that found its block
        # without decoding it (chained jumps included) ...
        "cache_hit_rate": (hits + chained) / (lookups + chained) if lookups + chained else 0.0,
        # ... and the hit rate of the lookups alone (chained jumps need no lookup).
        "lookup_hit_rate": hits / lookups if lookups else 0.0,
        "chained": chained,
        "blocks_decoded": int(s.get("blocks_decoded", 0)),
        "idle_waits": int(s.get("idle_waits", 0)),
    }
    # Tier 1 (--jit on): the share of instructions run compiled, regions, compile CPU.
    jit = s.get("jit")
    if isinstance(jit, dict):
        t1 = s.get("tier1", {}).get("instructions", 0)
        out["tier1_share"] = t1 / insns if insns else 0.0
        out["regions_installed"] = int(jit.get("regions_installed", 0))
        out["region_insns"] = int(jit.get("region_insns", 0))
        out["compile_cpu_s"] = sum(jit.get("compile_cpu_us", {}).values()) / 1e6
        out["dropped_cold"] = int(jit.get("dropped_cold", 0))
        # Blocks compiled at the early threshold, and passed by there (the host had no core
        # to spare: the compile thread's CPU share, permille, was below the bound).
        out["early_requests"] = int(jit.get("early_requests", 0))
        out["early_passed"] = int(jit.get("early_passed", 0))
        out["compile_cpu_share"] = int(jit.get("compile_cpu_share_permille", 0))
    for r in EXIT_REASONS:
        out["exits_" + r] = int(exits.get(r, 0))
    return out


def median_stats(runs):
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def find_qemu(args):
    if args.no_qemu:
        return None, "skipped (--no-qemu)"
    q = args.qemu or shutil.which("qemu-system-i386")
    if not q:
        return None, "qemu-system-i386 is not installed (not on PATH): softcpu only"
    try:
        ver = subprocess.run([q, "--version"], capture_output=True, text=True,
                             timeout=30).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None, "%s does not run: softcpu only" % q
    return q, ver


def fmt_s(x):
    return "%.2f" % x if x is not None else "-"


def print_report(summary):
    print("\n== boot time to the first prompt (wall seconds from process start; %d runs each)"
          % summary["runs"])
    print("%-7s %-10s %8s %8s %8s %9s   %s" % ("path", "emul.", "median", "min", "init",
                                           "CPU med.", "runs (wall/CPU)"))
    for path in PATHS:
        for emu in summary["emulators"]:
            r = summary["results"].get(path, {}).get(emu)
            if not r:
                continue
            print("%-7s %-10s %8s %8s %8s %9s   %s" % (
                path, emu, fmt_s(r["prompt_median_s"]), fmt_s(r["prompt_min_s"]),
                fmt_s(r["init_median_s"]), fmt_s(r["cpu_median_s"]),
                " ".join("%.2f/%s" % (x, fmt_s(c)) for x, c in zip(r["prompt_s"], r["cpu_s"]))))
    if summary["qemu"] is None:
        print("QEMU: %s" % summary["qemu_note"])
    else:
        print("\n== softcpu/QEMU (same run; > 1 means softcpu is slower)")
        print("%-7s %-10s %8s %8s" % ("path", "softcpu", "median", "min"))
        for path in PATHS:
            for emu, ratio in summary["ratio_softcpu_over_qemu"].get(path, {}).items():
                print("%-7s %-10s %8.2f %8.2f" % (path, emu, ratio["median"], ratio["min"]))

    print("\n== softcpu statistics (median over runs; whole process life)")
    rows = [("instructions", "%.0f"), ("mips", "%.1f"), ("cache_hit_rate", "%.6f"),
            ("lookup_hit_rate", "%.4f"), ("chained", "%.0f"), ("blocks_decoded", "%.0f")] + [("exits_" + r, "%.0f") for r in EXIT_REASONS] + \
           [("idle_waits", "%.0f"), ("tier1_share", "%.3f"), ("regions_installed", "%.0f"),
            ("region_insns", "%.0f"), ("compile_cpu_s", "%.2f"), ("dropped_cold", "%.0f"),
            ("early_requests", "%.0f"), ("early_passed", "%.0f"), ("compile_cpu_share", "%.0f")]
    present = [(p, e) for p in PATHS for e in summary["emulators"]
               if "stats_median" in summary["results"].get(p, {}).get(e, {})]
    print("%-18s" % "" + "".join("%16s" % ("%s %s" % pe) for pe in present))
    for key, f in rows:
        med = [summary["results"][p][e]["stats_median"] for p, e in present]
        if not any(key in m for m in med):
            continue
        print("%-18s" % key + "".join("%16s" % (f % m[key] if key in m else "-") for m in med))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--runs", type=int, default=3, help="runs per path and emulator (default 3)")
    ap.add_argument("--guest", default=os.path.join(here, "..", "build", "guest"),
                    help="guest image directory (vmlinuz, initrd.img, disk.img, cmdline.txt)")
    ap.add_argument("--softcpu", default=os.path.join(here, "..", "build", "softcpu"))
    ap.add_argument("--qemu", help="qemu-system-i386 to compare with (default: from PATH)")
    ap.add_argument("--no-qemu", action="store_true", help="softcpu only")
    ap.add_argument("--paths", default=",".join(PATHS),
                    help="comma-separated boot paths to run (default direct,disk)")
    ap.add_argument("--variant", action="append", metavar="NAME=ARGS",
                    help="a softcpu variant: extra `softcpu run` arguments, after an optional "
                    "softcpu=PATH naming another binary (repeatable; default: one variant "
                    "'softcpu' with none)")
    ap.add_argument("--json", help="write the summary as JSON to this file")
    ap.add_argument("--timeout", type=float, default=300, help="seconds allowed per boot")
    args = ap.parse_args()
    variants = parse_variants(args.variant, "boot_bench")
    if args.runs < 1:
        sys.exit("boot_bench: --runs must be >= 1")
    paths = [p for p in args.paths.split(",") if p]
    if any(p not in PATHS for p in paths):
        sys.exit("boot_bench: --paths takes %s" % ",".join(PATHS))
    for _, extra in variants:
        binary = variant_binary(args.softcpu, extra)[0]
        if not os.access(binary, os.X_OK):
            sys.exit("boot_bench: no softcpu binary at %s" % binary)
    g = guest_files(os.path.abspath(args.guest))
    qemu, qemu_note = find_qemu(args)
    print("boot_bench: softcpu %s, variants: %s; QEMU: %s" % (
        args.softcpu, ", ".join("%s=[%s]" % (n, " ".join(a)) for n, a in variants), qemu_note))
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print("boot_bench: load before: %s" % uptime)

    emulators = [n for n, _ in variants] + (["qemu"] if qemu else [])
    raw = {p: {e: [] for e in emulators} for p in paths}
    stats = {p: {n: [] for n, _ in variants} for p in paths}
    failures = []
    with tempfile.TemporaryDirectory(prefix="boot_bench.") as tmp:
        for i in range(args.runs):
            for path in paths:
                for emu in emulators:
                    stats_file = os.path.join(tmp, "stats-%s-%s-%d.json" % (emu, path, i))
                    if emu == "qemu":
                        cmd = qemu_cmd(qemu, g, path)
                    else:
                        binary, extra = variant_binary(args.softcpu, dict(variants)[emu])
                        cmd = softcpu_cmd(binary, g, path, stats_file, extra)
                    try:
                        r = boot_once(cmd, args.timeout)
                    except guest_session.Failure as e:
                        failures.append("%s %s run %d: %s" % (path, emu, i + 1, e))
                        print("boot_bench: %s %s run %d FAILED: %s" % (path, emu, i + 1, e),
                              flush=True)
                        continue
                    raw[path][emu].append(r)
                    line = "boot_bench: run %d %-6s %-10s prompt %6.2f s, CPU %s s, load %.1f" % (
                        i + 1, path, emu, r["prompt_s"], fmt_s(r["cpu_s"]), os.getloadavg()[0])
                    if emu != "qemu":
                        try:
                            with open(stats_file) as f:
                                s = stats_summary(json.load(f))
                            stats[path][emu].append(s)
                            line += "  %.0f M insns, %.1f MIPS" % (s["instructions"] / 1e6,
                                                                    s["mips"])
                        except (OSError, ValueError) as e:
                            failures.append("%s %s run %d: no stats: %s" % (path, emu, i + 1, e))
                    print(line, flush=True)

    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    summary = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(),
        "uptime_before": uptime, "uptime_after": uptime_after,
        "runs": args.runs, "guest": os.path.abspath(args.guest), "append": g["append"],
        "softcpu": os.path.abspath(args.softcpu), "variants": dict(variants),
        "emulators": emulators,
        "softcpu_mtime": datetime.datetime.fromtimestamp(
            os.path.getmtime(args.softcpu)).astimezone().isoformat(timespec="seconds"),
        "qemu": qemu, "qemu_note": qemu_note,
        "results": {}, "ratio_softcpu_over_qemu": {}, "failures": failures,
    }
    for path in paths:
        summary["results"][path] = {}
        for emu in emulators:
            rs = raw[path][emu]
            if not rs:
                continue
            prompts = [r["prompt_s"] for r in rs]
            cpus = [r["cpu_s"] for r in rs]
            entry = {
                "prompt_s": prompts,
                "cpu_s": cpus,
                "cpu_median_s": (statistics.median(cpus) if all(c is not None for c in cpus)
                                 else None),
                "prompt_median_s": statistics.median(prompts),
                "prompt_min_s": min(prompts),
                "init_median_s": statistics.median(r["init_s"] for r in rs),
                "total_s": [r["total_s"] for r in rs],
            }
            if emu != "qemu" and stats[path][emu]:
                entry["stats_runs"] = stats[path][emu]
                entry["stats_median"] = median_stats(stats[path][emu])
            summary["results"][path][emu] = entry
        res = summary["results"][path]
        if "qemu" in res:
            summary["ratio_softcpu_over_qemu"][path] = {
                emu: {"median": res[emu]["prompt_median_s"] / res["qemu"]["prompt_median_s"],
                      "min": res[emu]["prompt_min_s"] / res["qemu"]["prompt_min_s"]}
                for emu in emulators if emu != "qemu" and emu in res}

    print_report(summary)
    print("\nload after: %s" % uptime_after)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
        print("boot_bench: summary written to %s" % args.json)
    if failures:
        print("\nboot_bench: %d failure(s):\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
