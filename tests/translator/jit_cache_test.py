#!/usr/bin/env python3
"""The persistent translation cache (--jit-cache DIR) end to end, with real files and LLVM:

  cold/warm    bench.rom (--jit-sync --jit-threshold 1000, so every hot block compiles at a
               fixed point) with an empty directory compiles N regions and writes N files; a
               second run (another process: softcpu is PIE, so its handlers and data are at
               other addresses) loads all N (jit.cache_hits == N, no compile) and writes the
               same --state-log (registers, EIP, instruction count, a hash of RAM at every
               exit) as the first and as the interpreter, with the same exit status;
  host calls   the same with a ROM whose regions call the x87 backend (softcpu_jit_fpu_exec)
               and one whose regions call host handlers (rm_smc.rom), by name in the object:
               a wrong address in the second process would crash it;
  damaged      one file truncated, a byte flipped in another: counted (jit.cache_bad == 2),
               removed and compiled again (written again), the rest loaded, same state log;
  other shape  a warm run that makes its regions at another point (--jit-threshold 100 after a
               cold run at 300: fewer blocks are warm, other blocks get hot first) installs
               every region the cold run wrote, the file's region as it was compiled (its key
               checked), one of them found through another entry's reference file, and writes
               the interpreter's state log;
  probe        --jit-cache-threshold 1000 below --jit-threshold 100000: the cold run compiles
               at 100000 and writes; the warm run installs regions from the cache at 1000
               executions (hits, more instructions run compiled), same state log;
  deterministic  --deterministic with the compile thread: cold and warm runs write the
               interpreter's state log;
  unwritable   a directory that cannot be made: a warning naming it, the run goes on.
  shared dir   a group/world-writable directory is not used (its files would be code we run).

  smc          a self-modifying ROM with every block compiled: the warm run's regions from
               the cache are invalidated by the guest's writes as the cold run's were (the
               state logs match);
  bounded      --jit-cache-max half of what bench.rom writes: files are evicted
               (jit.cache_evicted), the directory stays under the bound, the state log is the
               unbounded run's; so in a second run;
  lru          a directory of bench.rom's files, half of them dated long ago: another ROM's
               writes past the bound evict old files only;
  two processes  two cold runs at once sharing one small-bounded directory: both finish with
               the interpreter's state log, and what they leave loads with no damaged file;
  finish       a run cut short (--insn-limit) with compiles still queued writes every region
               it requested at exit (--jit-cache-finish), counted in its statistics;

Usage: jit_cache_test.py SOFTCPU BENCH_ROM HOST_CALL_ROM SMC_ROM"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import checklist  # noqa: E402  (check() and the failure count)
from checklist import check  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from run_bench import find_json, number as stat  # noqa: E402  (the --stats=json object, a counter)

SOFTCPU, BENCH, HOSTCALL, SMC = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
RUN_TIMEOUT = 300


def run(rom, tmp, tag, *extra):
    """Runs rom; returns (status, stats, stderr, state log lines)."""
    log = os.path.join(tmp, tag + ".log")
    cmd = [SOFTCPU, "run", "--bios", rom, "-m", "16", "--serial", "none", "--timeout",
           str(RUN_TIMEOUT), "--state-log", log, "--stats=json"] + list(extra)
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT + 60)
    lines = open(log).read().splitlines() if os.path.exists(log) else []
    return p.returncode, find_json(p.stderr), p.stderr, lines


def objects(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".o")) if os.path.isdir(d) else []


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in objects(d))


def cold_warm(rom, tmp, name, sync_args):
    d = os.path.join(tmp, name + "-cache")
    base = ["--jit", "on"] + sync_args
    s0, _, e0, log0 = run(rom, tmp, name + "-off", "--jit", "off")
    s1, st1, e1, log1 = run(rom, tmp, name + "-cold", *base, "--jit-cache", d)
    n = stat(st1, "jit.regions_compiled")
    check(f"{name} cold: same status as the interpreter", s1 == s0 and s0 not in (124, 2),
          f"{s1} vs {s0}: {e1[-800:]}")
    check(f"{name} cold: regions compiled", n >= 1, f"jit.regions_compiled {n}")
    check(f"{name} cold: one file written per region compiled",
          stat(st1, "jit.cache_writes") == n and len(objects(d)) == n and
          stat(st1, "jit.cache_hits") == 0,
          f"writes {stat(st1, 'jit.cache_writes')}, files {len(objects(d))}, compiled {n}")
    check(f"{name} cold: state log as the interpreter's", log1 == log0 and len(log0) > 0,
          f"{len(log1)} vs {len(log0)} lines")
    s2, st2, e2, log2 = run(rom, tmp, name + "-warm", *base, "--jit-cache", d)
    check(f"{name} warm: same status", s2 == s1, f"{s2} vs {s1}: {e2[-800:]}")
    check(f"{name} warm: every region loaded, none compiled",
          stat(st2, "jit.cache_hits") == n and stat(st2, "jit.regions_compiled") == 0 and
          stat(st2, "jit.regions_installed") == stat(st1, "jit.regions_installed"),
          f"hits {stat(st2, 'jit.cache_hits')}, compiled {stat(st2, 'jit.regions_compiled')}, "
          f"installed {stat(st2, 'jit.regions_installed')} of {n}")
    check(f"{name} warm: nothing written, bytes read",
          stat(st2, "jit.cache_writes") == 0 and stat(st2, "jit.cache_bytes_read") > 0,
          f"writes {stat(st2, 'jit.cache_writes')}, read {stat(st2, 'jit.cache_bytes_read')}")
    check(f"{name} warm: the same state log", log2 == log1, f"{len(log2)} vs {len(log1)} lines")
    check(f"{name} warm: as much ran compiled",
          stat(st2, "tier1.instructions") == stat(st1, "tier1.instructions"),
          f"{stat(st2, 'tier1.instructions')} vs {stat(st1, 'tier1.instructions')}")
    return d, n, st1, log1


def bounded(tmp, d, n, log1, sync):
    """--jit-cache-max: eviction in one run, by last use, and with two processes at once."""
    total = dir_bytes(d)
    db = os.path.join(tmp, "bounded-cache")
    bound = total // 2
    cap = ["--jit", "on"] + sync + ["--jit-cache", db, "--jit-cache-max", str(bound)]
    s1, st1, e1, l1 = run(BENCH, tmp, "bounded-cold", *cap)
    ev = stat(st1, "jit.cache_evicted")
    check("bounded: same status, the same state log", s1 == 1 and l1 == log1,
          f"{s1}, {len(l1)} vs {len(log1)} lines: {e1[-800:]}")
    check("bounded: every region written, files evicted, the rest kept",
          stat(st1, "jit.cache_writes") == n and ev >= 1 and len(objects(db)) == n - ev,
          f"writes {stat(st1, 'jit.cache_writes')} of {n}, evicted {ev}, files {len(objects(db))}")
    check("bounded: the directory under its bound", 0 < dir_bytes(db) <= bound,
          f"{dir_bytes(db)} bytes, bound {bound} ({total} unbounded)")
    # The second run wants the regions in the order the first wrote them, so each region it
    # compiles evicts the oldest file left, one it would have loaded a moment later (a cyclic
    # pattern longer than the cache: LRU keeps none of it). What counts: nothing is damaged.
    s2, st2, e2, l2 = run(BENCH, tmp, "bounded-warm", *cap)
    check("bounded warm: each region loaded or compiled, nothing damaged, same state log",
          s2 == 1 and l2 == log1 and
          stat(st2, "jit.cache_hits") + stat(st2, "jit.regions_compiled") == n and
          stat(st2, "jit.cache_bad") == 0,
          f"{s2}: hits {stat(st2, 'jit.cache_hits')}, compiled "
          f"{stat(st2, 'jit.regions_compiled')} of {n}, bad {stat(st2, 'jit.cache_bad')}: {e2[-400:]}")
    check("bounded warm: still under the bound", dir_bytes(db) <= bound,
          f"{dir_bytes(db)} bytes, bound {bound}")

    # Least recently used first: bench.rom's files, half dated 2001 and half 2020, then another
    # ROM's regions written with the bound at what is there already.
    dl = os.path.join(tmp, "lru-cache")
    os.makedirs(dl, mode=0o755)
    files = objects(d)
    old, recent = set(files[::2]), set(files[1::2])
    for f in files:
        with open(os.path.join(d, f), "rb") as src, open(os.path.join(dl, f), "wb") as dst:
            dst.write(src.read())
        t = 978307200 if f in old else 1577836800  # 2001-01-01, 2020-01-01
        os.utime(os.path.join(dl, f), (t, t))
    s3, st3, e3, _ = run(HOSTCALL, tmp, "lru", "--jit", "on", "--jit-sync", "--jit-threshold", "2",
                         "--jit-cache", dl, "--jit-cache-max", str(total))
    after = set(objects(dl))
    gone = set(files) - after
    check("lru: files evicted, all of them the old ones, the recent ones kept",
          s3 == 1 and stat(st3, "jit.cache_evicted") == len(gone) and len(gone) >= 1 and
          gone <= old and recent <= after,
          f"{s3}: evicted {stat(st3, 'jit.cache_evicted')}, gone {len(gone)} "
          f"({len(gone - old)} not old), recent kept {len(recent & after)} of {len(recent)}: "
          f"{e3[-400:]}")
    check("lru: under the bound", dir_bytes(dl) <= total, f"{dir_bytes(dl)} > {total}")

    # Two processes at once, one directory, a bound that makes both evict (each may remove a
    # file the other is about to read or has just written: a miss, never a crash or damage).
    # --jit-sync: both make the same regions, so a file either wrote loads in the third run.
    d2 = os.path.join(tmp, "shared-bounded-cache")
    os.makedirs(d2, mode=0o755)
    small = total // 3
    procs = []
    for k in range(2):
        log = os.path.join(tmp, f"two-{k}.log")
        cmd = [SOFTCPU, "run", "--bios", BENCH, "-m", "16", "--serial", "none", "--timeout",
               str(RUN_TIMEOUT), "--state-log", log, "--stats=json", "--jit", "on"] + sync + [
               "--jit-cache", d2, "--jit-cache-max", str(small)]
        procs.append((subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True), log))
    for k, (p, log) in enumerate(procs):
        err = p.communicate(timeout=RUN_TIMEOUT + 60)[1]
        lines = open(log).read().splitlines() if os.path.exists(log) else []
        check(f"two processes: run {k} exits 1 with the state log", p.returncode == 1 and
              lines == log1, f"{p.returncode}, {len(lines)} vs {len(log1)} lines: {err[-800:]}")
    s4, st4, e4, l4 = run(BENCH, tmp, "two-after", "--jit", "on", *sync, "--jit-cache", d2)
    check("two processes: what they left loads, nothing damaged",
          s4 == 1 and l4 == log1 and stat(st4, "jit.cache_bad") == 0 and
          stat(st4, "jit.cache_hits") >= 1,
          f"{s4}: bad {stat(st4, 'jit.cache_bad')}, hits {stat(st4, 'jit.cache_hits')}: {e4[-400:]}")


def other_shape(tmp, log0):
    """A region is found by any of its entries, and used as it was compiled."""
    d = os.path.join(tmp, "shape-cache")
    s1, st1, e1, l1 = run(BENCH, tmp, "shape-cold", "--jit", "on", "--jit-sync", "--jit-threshold",
                          "300", "--jit-cache", d)
    n = len(objects(d))
    check("other shape cold: regions written, the interpreter's state log",
          s1 == 1 and n >= 3 and l1 == log0, f"{s1}, {n} files, {len(l1)} vs {len(log0)} lines: {e1[-400:]}")
    s2, st2, e2, l2 = run(BENCH, tmp, "shape-warm", "--jit", "on", "--jit-sync", "--jit-threshold",
                          "100", "--jit-cache", d)
    check("other shape warm: every region of the cold run installed, none refused by its key",
          s2 == 1 and stat(st2, "jit.cache_lookup.installed") == n and
          stat(st2, "jit.cache_lookup.key_differs") == 0 and stat(st2, "jit.cache_bad") == 0,
          f"{s2}: installed {stat(st2, 'jit.cache_lookup.installed')} of {n}, key differs "
          f"{stat(st2, 'jit.cache_lookup.key_differs')}, bad {stat(st2, 'jit.cache_bad')}: {e2[-400:]}")
    check("other shape warm: a region found through another entry's reference file",
          stat(st2, "jit.cache_hits_other_entry") >= 1,
          f"{stat(st2, 'jit.cache_hits_other_entry')}")
    # Each lookup came to one outcome (a region loaded but refused counts in two: its hit and why).
    outcomes = sum(stat(st2, "jit.cache_lookup." + k) for k in
                   ("no_file", "key_differs", "blocks_missing", "blocks_differ", "installed"))
    check("other shape warm: every lookup counted once by its outcome",
          outcomes == stat(st2, "jit.cache_probes") and
          stat(st2, "jit.cache_unusable") == stat(st2, "jit.cache_lookup.blocks_missing") +
          stat(st2, "jit.cache_lookup.blocks_differ"),
          f"outcomes {outcomes}, probes {stat(st2, 'jit.cache_probes')}, unusable "
          f"{stat(st2, 'jit.cache_unusable')}")
    check("other shape warm: the interpreter's state log", l2 == log0, f"{len(l2)} vs {len(log0)} lines")


def finish_at_exit(tmp):
    """--jit-cache-finish: the regions queued when the run ends are compiled and written."""
    def submitted(st):
        return (stat(st, "jit.requests") - stat(st, "jit.requests_covered") -
                stat(st, "jit.dropped_unsuitable") - stat(st, "jit.dropped_queue_full"))
    short = ["--jit", "on", "--jit-threshold", "1000", "--insn-limit", "20000000"]
    df = os.path.join(tmp, "finish-cache")
    s, st, e, _ = run(BENCH, tmp, "finish", *short, "--jit-cache", df, "--jit-cache-finish",
                      "600000")
    n = submitted(st)
    check("finish: cut short, regions requested", s == 124 and n >= 3, f"{s}, {n}: {e[-400:]}")
    check("finish: every region requested compiled and written, counted",
          len(objects(df)) == n and stat(st, "jit.cache_writes") == n and
          stat(st, "jit.regions_compiled") == n,
          f"{len(objects(df))} files, writes {stat(st, 'jit.cache_writes')}, compiled "
          f"{stat(st, 'jit.regions_compiled')}, requested {n}")
    # Without it the queue is dropped at exit (how much depends on the compile thread's speed:
    # printed, not checked).
    d0 = os.path.join(tmp, "finish0-cache")
    _, st0, _, _ = run(BENCH, tmp, "finish0", *short, "--jit-cache", d0, "--jit-cache-finish", "0")
    print(f"finish 0: {len(objects(d0))} files of {submitted(st0)} regions requested")


def main():
    # softcpu is a PIE and the kernel randomises where it loads, so the warm run is a process
    # with other host addresses for every handler and global.
    with open(SOFTCPU, "rb") as f:
        e_type = int.from_bytes(f.read(18)[16:18], "little")
    aslr = open("/proc/sys/kernel/randomize_va_space").read().strip()
    print(f"softcpu ELF type {e_type} (3 = PIE), randomize_va_space {aslr}")
    check("softcpu is a PIE", e_type == 3, f"e_type {e_type}")

    with tempfile.TemporaryDirectory() as tmp:
        sync = ["--jit-sync", "--jit-threshold", "1000"]
        d, n, st1, log1 = cold_warm(BENCH, tmp, "bench", sync)

        # Damaged files: one cut in half, one with a byte flipped.
        files = objects(d)
        if len(files) >= 3:
            a, b = os.path.join(d, files[0]), os.path.join(d, files[1])
            size = os.path.getsize(a)
            with open(a, "r+b") as f:
                f.truncate(size // 2)
            with open(b, "r+b") as f:
                f.seek(os.path.getsize(b) // 2)
                byte = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([byte[0] ^ 0x40]))
            s3, st3, e3, log3 = run(BENCH, tmp, "bench-damaged", "--jit", "on", *sync,
                                    "--jit-cache", d)
            check("damaged: same status, no crash", s3 == 1, f"{s3}: {e3[-800:]}")
            check("damaged: both counted bad, compiled again, the rest loaded",
                  stat(st3, "jit.cache_bad") == 2 and stat(st3, "jit.regions_compiled") == 2 and
                  stat(st3, "jit.cache_hits") == n - 2 and stat(st3, "jit.cache_writes") == 2,
                  f"bad {stat(st3, 'jit.cache_bad')}, compiled {stat(st3, 'jit.regions_compiled')}, "
                  f"hits {stat(st3, 'jit.cache_hits')}, writes {stat(st3, 'jit.cache_writes')} (n {n})")
            check("damaged: the same state log", log3 == log1, f"{len(log3)} vs {len(log1)} lines")
            check("damaged: whole files again", len(objects(d)) == n and
                  os.path.getsize(a) >= size, f"{len(objects(d))} files, {os.path.getsize(a)} bytes")
        else:
            check("damaged: bench.rom makes at least 3 regions", False, f"{len(files)} files")

        # A directory others may write to is not used: its files would be code we run.
        os.chmod(d, 0o777)
        s9, st9, e9, log9 = run(BENCH, tmp, "bench-shared", "--jit", "on", *sync, "--jit-cache", d)
        os.chmod(d, 0o755)
        check("shared dir: the run goes on, a warning naming it",
              s9 == 1 and "writable by its group or by others" in e9 and d in e9, e9[-800:])
        check("shared dir: nothing loaded or written, all compiled",
              stat(st9, "jit.cache_hits") == 0 and stat(st9, "jit.cache_writes") == 0 and
              stat(st9, "jit.regions_compiled") == n,
              f"hits {stat(st9, 'jit.cache_hits')}, writes {stat(st9, 'jit.cache_writes')}, "
              f"compiled {stat(st9, 'jit.regions_compiled')} of {n}")
        check("shared dir: the same state log", log9 == log1, f"{len(log9)} vs {len(log1)} lines")

        # Its x87 blocks run a few times each: compiled at their second run, with inlined
        # handlers around calls of the x87 backend, a runtime symbol.
        _, nh, sth, _ = cold_warm(HOSTCALL, tmp, "hostcall", ["--jit-sync", "--jit-threshold", "2"])
        check("hostcall: x87 instructions compiled", stat(sth, "jit.inlined_insns") >= 10,
              f"{stat(sth, 'jit.inlined_insns')} inlined")

        # Self-modifying code: a region from the cache is retired by writes to its code as a
        # compiled one is (every block compiled at its first run, so the guest rewrites code
        # that has a region).
        _, ns, sts, _ = cold_warm(SMC, tmp, "smc", ["--jit-sync", "--jit-threshold", "1"])
        check("smc: regions invalidated by the guest's writes",
              stat(sts, "jit.regions_invalidated") >= 1, f"{stat(sts, 'jit.regions_invalidated')}")
        check("smc: some compiled instructions call host handlers",
              stat(sts, "jit.region_insns") > stat(sts, "jit.inlined_insns"),
              f"{stat(sts, 'jit.region_insns')} instructions, {stat(sts, 'jit.inlined_insns')} inlined")

        bounded(tmp, d, n, log1, sync)
        other_shape(tmp, log1)
        finish_at_exit(tmp)

        # Probing below the compile threshold.
        dp = os.path.join(tmp, "probe-cache")
        probe = ["--jit", "on", "--jit-sync", "--jit-threshold", "100000",
                 "--jit-cache-threshold", "1000", "--jit-cache", dp]
        s4, st4, e4, log4 = run(BENCH, tmp, "probe-cold", *probe)
        check("probe cold: same status", s4 == 1, f"{s4}: {e4[-800:]}")
        check("probe cold: probes missed, regions compiled and written",
              stat(st4, "jit.cache_probes") >= 1 and stat(st4, "jit.cache_hits") == 0 and
              stat(st4, "jit.regions_compiled") >= 1 and
              stat(st4, "jit.cache_writes") == stat(st4, "jit.regions_compiled"),
              f"probes {stat(st4, 'jit.cache_probes')}, compiled {stat(st4, 'jit.regions_compiled')}, "
              f"writes {stat(st4, 'jit.cache_writes')}")
        s5, st5, e5, log5 = run(BENCH, tmp, "probe-warm", *probe)
        check("probe warm: same status", s5 == 1, f"{s5}: {e5[-800:]}")
        check("probe warm: regions loaded at the probe threshold",
              stat(st5, "jit.cache_hits") >= 1 and
              stat(st5, "jit.regions_compiled") < stat(st4, "jit.regions_compiled") and
              stat(st5, "tier1.instructions") > stat(st4, "tier1.instructions"),
              f"hits {stat(st5, 'jit.cache_hits')}, compiled {stat(st5, 'jit.regions_compiled')} "
              f"(cold {stat(st4, 'jit.regions_compiled')}), tier 1 {stat(st5, 'tier1.instructions')} "
              f"(cold {stat(st4, 'tier1.instructions')})")
        check("probe warm: the same state log", log5 == log4 and log4 == log1,
              f"{len(log5)} vs {len(log4)} lines")

        # --deterministic with the compile thread (install_due): probes and compiles installed
        # at their due instruction counts; the guest sees the same as interpreted.
        dd = os.path.join(tmp, "det-cache")
        det = ["--deterministic", "--jit", "on", "--jit-threshold", "100000", "--jit-cache", dd]
        _, _, _, logd0 = run(BENCH, tmp, "det-off", "--deterministic", "--jit", "off")
        s7, st7, e7, logd1 = run(BENCH, tmp, "det-cold", *det)
        s8, st8, e8, logd2 = run(BENCH, tmp, "det-warm", *det)
        check("deterministic: cold and warm exit 1", s7 == 1 and s8 == 1, f"{s7} {s8}: {e8[-800:]}")
        check("deterministic: warm loads regions", stat(st8, "jit.cache_hits") >= 1 and
              stat(st7, "jit.cache_writes") >= 1,
              f"hits {stat(st8, 'jit.cache_hits')}, cold writes {stat(st7, 'jit.cache_writes')}")
        check("deterministic: the interpreter's state log, cold and warm",
              logd1 == logd0 and logd2 == logd0 and len(logd0) > 0,
              f"{len(logd0)} / {len(logd1)} / {len(logd2)} lines")

        # A directory that cannot be made (its parent is a file).
        blocker = os.path.join(tmp, "a-file")
        open(blocker, "w").close()
        s6, st6, e6, _ = run(BENCH, tmp, "unwritable", "--jit", "on", *sync, "--jit-cache",
                             os.path.join(blocker, "cache"))
        check("unwritable: the run goes on", s6 == 1, f"{s6}: {e6[-800:]}")
        check("unwritable: a warning naming the directory",
              "cannot write to --jit-cache directory" in e6 and blocker in e6, e6[-800:])
        check("unwritable: compiled, nothing written",
              stat(st6, "jit.regions_compiled") == n and stat(st6, "jit.cache_writes") == 0,
              f"compiled {stat(st6, 'jit.regions_compiled')}, writes {stat(st6, 'jit.cache_writes')}")
    print(f"{checklist.failures} failure(s)")
    return 1 if checklist.failures else 0


if __name__ == "__main__":
    sys.exit(main())
