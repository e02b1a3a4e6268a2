#!/usr/bin/env python3
"""Runs each libFuzzer harness of a SOFTCPU_FUZZ=ON build for a bounded time over its seed
corpus (make fuzz-smoke). The seeds in git are not changed: each run starts from a copy in a
working directory, where new inputs and crash artifacts stay. Prints one line per harness
(executions, exec/s, coverage, features, crashes) and exits 1 if any harness found a crash.

  tests/fuzz/fuzz_smoke.py --build build-fuzz --seconds 60 [--only insn,gdb] [--work DIR]
                           [--keep-going | --fixed]

--fixed is CI's run: libFuzzer's seed 1 and a fixed number of executions per harness (RUNS),
so every machine does the same amount of fuzzing and starts down the same mutation sequence
(with a time bound alone, CI's faster machine went 2.5 times as far as the local run and met
an input the local one never reached). The sequence is the same only while the harness's
coverage is: it depends on addresses (vtables, heap objects: README.md "Repeatable coverage"),
so the harnesses run without ASLR and a fixed run keeps libFuzzer's own heap use the same
(relative paths, no slow-unit reports, no symbolised function names); two runs here then
repeat execution for execution. A binary laid out differently (CI's) can still part, so a
local pass makes CI's likely, not certain. --seconds is then only a ceiling, reported if hit.

--keep-going runs libFuzzer in fork mode with one worker (-fork=1 -ignore_crashes=1
-ignore_timeouts=1 -ignore_ooms=1): a crash ends only the worker, the run goes on for the whole
time and every crash input lands in the artifacts directory (the default stops at the first).
"""

import argparse
import base64
import ctypes
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESSES = ["insn", "platform", "gdb", "boot", "config", "insn_jit"]
# config reads TOML through toml++ 3.3, whose undefined behaviour on some non-ASCII text the
# reader now refuses first (monitor/hv/config_file.cpp toml_unsafe_char). insn_jit compiles at
# most 48 guest instructions of each input (insn_target.cpp JIT_INSNS; 0.3-0.7 s of CPU per
# input here, not the tens of seconds of compiling every block) and keeps a longer per-input
# timeout for a slow compile on a loaded machine (a libFuzzer timeout is wall time). Its
# coverage repeats since branch jitfuzz (README.md "Repeatable coverage"), so it is in the list.
DEFAULT = ["insn", "platform", "gdb", "boot", "config", "insn_jit"]
TIMEOUT = {"insn_jit": 120}
# --fixed: executions per harness, about 70-90 s each on CI's machine (2026-12-06: insn 19/s,
# platform 480/s, gdb 430/s, boot 68/s there). config and insn_jit (2026-12-06, branch
# fuzzfast) are scaled from the rates on the development machine (config 1 714/s, insn_jit
# 1.5/s at nice 10, load average 12-18), where the other four ran at 0.4-1.2 times CI's rate
# the same hour (docs/hardening.md "fuzz_config and insn_jit in CI"). insn_jit 200 (branch
# jitfuzz): 89 s here in the final --fixed run (load average 10-12), and CI ran platform, gdb
# and boot at 1.0-2.2 times this machine's rates, so 40-89 s there (hardening.md "insn_jit's
# coverage made repeatable").
RUNS = {"insn": 1500, "platform": 40000, "gdb": 36000, "boot": 5500, "config": 300000,
        "insn_jit": 200}
ADDR_NO_RANDOMIZE = 0x0040000  # <sys/personality.h>
SEEDS = {"insn_jit": "insn"}  # harnesses that share another one's seed corpus
DICTS = {"config": "config.dict"}  # libFuzzer dictionaries (written by make_seeds.py)


# Fork mode's progress line: "#N: cov: C ft: F corp: K exec/s: E oom/timeout/crash: a/b/c
# time: Ts ..." (E is the last job's rate; the run's is N / T).
FORK_LINE = re.compile(r"#(\d+): cov: (\d+) ft: (\d+) corp: (\d+) exec/s: (\d+) "
                       r"oom/timeout/crash: (\d+)/(\d+)/(\d+) time: (\d+)s")


def run_one(build, name, seconds, work, jobs_nice, extra):
    exe = os.path.join(build, "tests", "fuzz", "fuzz_" + name)
    if not os.path.exists(exe):
        sys.exit(f"fuzz_smoke: {exe} is missing; build the fuzzers first "
                 f"(cmake -DSOFTCPU_FUZZ=ON, target 'fuzzers')")
    corpus = os.path.join(work, name, "corpus")
    artifacts = os.path.join(work, name, "artifacts") + "/"
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    for f in glob.glob(os.path.join(HERE, "corpus", SEEDS.get(name, name), "*")):
        shutil.copy(f, corpus)
    # libFuzzer runs in the harness's directory and sees only relative paths (its executable
    # through a link there, corpus/, artifacts/, the dictionary copied there), so the strings it
    # allocates are the same length wherever the work directory and the tree are: the
    # harnesses' coverage depends on the heap's layout (README.md "Repeatable coverage"), and
    # two insn_jit runs whose work directories' names differed by 3 characters parted at #21.
    here = os.path.join(work, name)
    link = os.path.join(here, "fuzz_" + name)
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.abspath(exe), link)
    cmd = ["nice", "-n", str(jobs_nice), "./fuzz_" + name, "corpus", f"-max_total_time={seconds}",
           f"-timeout={TIMEOUT.get(name, 20)}", "-rss_limit_mb=3072", "-max_len=4096", "-print_final_stats=1",
           "-artifact_prefix=artifacts/"] + extra
    if name in DICTS:
        shutil.copy(os.path.join(HERE, DICTS[name]), here)
        cmd.append("-dict=" + DICTS[name])
    env = dict(os.environ, TMPDIR=os.path.join(work, name))
    # Stack use-after-return detection would take most of the time (softcpu's faults unwind
    # through C++ exceptions, and each unwind collects ASan's fake stacks).
    env.setdefault("ASAN_OPTIONS", "detect_stack_use_after_return=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    log_path = os.path.join(work, name, "log.txt")
    with open(log_path, "w") as log:
        status = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=here)
    text = open(log_path, errors="replace").read()
    stat = lambda key: (re.findall(r"stat::%s:\s+(\d+)" % key, text) or ["?"])[-1]
    cov = re.findall(r"cov: (\d+) ft: (\d+)", text)
    # crash-, leak-, timeout-, oom- files; slow-unit- ones are only slow.
    crashes = sorted(os.path.basename(p) for p in glob.glob(artifacts + "*")
                     if not os.path.basename(p).startswith("slow-unit-"))
    fork = FORK_LINE.findall(text)
    if fork:  # --keep-going: the workers' own statistics are per job; take the parent's
        n, c, f, _, _, ooms, timeouts, crashed, t = fork[-1]
        return {
            "name": name, "status": status, "execs": n, "exec_s": f"{int(n) / max(1, int(t)):.1f}",
            "cov": c, "ft": f,
            "crashes": crashes, "log": log_path, "corpus": len(os.listdir(corpus)),
            "fork": f"oom/timeout/crash {ooms}/{timeouts}/{crashed}",
        }
    return {
        "name": name, "status": status, "execs": stat("number_of_executed_units"),
        "exec_s": stat("average_exec_per_sec"), "cov": cov[-1][0] if cov else "?",
        "ft": cov[-1][1] if cov else "?", "crashes": crashes, "log": log_path,
        "corpus": len(os.listdir(corpus)),
    }


def check_aslr(build):
    """The harnesses turn address space randomisation off by executing themselves again
    (fuzz_main.cpp); where personality() is refused they go on with it and say so. Runs one
    gdb seed through fuzz_gdb as it is and under no_personality (Docker's rule on
    personality(), a seccomp filter). Returns an error message or None."""
    exe = os.path.join(build, "tests", "fuzz", "fuzz_gdb")
    launcher = os.path.join(build, "tests", "fuzz", "no_personality")
    seed = sorted(glob.glob(os.path.join(HERE, "corpus", "gdb", "*")))[0]
    env = {k: v for k, v in os.environ.items() if k != "SOFTCPU_FUZZ_ASLR"}
    env.setdefault("ASAN_OPTIONS", "detect_stack_use_after_return=0")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.personality(0xffffffff) & ADDR_NO_RANDOMIZE:
        print("aslr      this process runs without ASLR already: the harnesses' re-execution "
              "is not checked")
        return None
    again, stays = "executing again without address space randomisation", "stays on"

    def run(cmd):
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           timeout=120)
        return p.returncode, p.stdout.decode(errors="replace")

    status, out = run([exe, seed])
    if status != 0 or "Executed" not in out:
        return f"fuzz_gdb {seed} failed (exit {status}):\n{out}"
    if again in out:
        plain = "executes itself again without ASLR"
    elif stays in out:  # this machine refuses personality() already (a container)
        plain = "ASLR stays on (personality() refused here): " + out.split(stays)[1].split(":")[0]
    else:
        return f"fuzz_gdb said neither '{again}' nor '{stays}':\n{out}"
    status, out = run([launcher, exe, seed])
    if status == 77:
        print(f"aslr      {plain}; the refused path is not checked (no seccomp filters here)")
        return None
    if status != 0 or "Executed" not in out or again in out or \
            f"{stays} (Operation not permitted)" not in out:
        return (f"under no_personality fuzz_gdb should go on with ASLR and say so "
                f"(exit {status}):\n{out}")
    print(f"aslr      {plain}; under a filter refusing personality() it goes on with ASLR "
          f"and says so")
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build-fuzz")
    ap.add_argument("--seconds", type=int, default=60, help="per harness")
    ap.add_argument("--only", help="comma-separated harnesses (default: all)")
    ap.add_argument("--work", help="working directory (default: a new temporary one, kept)")
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--keep-going", action="store_true",
                    help="fork mode, one worker: go on after a crash, a timeout or an OOM")
    ap.add_argument("--fixed", action="store_true",
                    help="seed 1 and RUNS executions per harness (CI's run; --seconds caps it)")
    ap.add_argument("extra", nargs="*", help="more libFuzzer flags (after --)")
    a = ap.parse_args()
    if a.fixed and a.keep_going:
        sys.exit("fuzz_smoke: --fixed and --keep-going do not mix (fork mode is not repeatable)")
    names = a.only.split(",") if a.only else DEFAULT
    for n in names:
        if n not in HARNESSES:
            sys.exit(f"fuzz_smoke: unknown harness '{n}' (have: {', '.join(HARNESSES)})")
    if a.seconds < 1:
        sys.exit("fuzz_smoke: --seconds must be at least 1")
    work = os.path.abspath(a.work or tempfile.mkdtemp(prefix="softcpu-fuzz-"))
    failed = False
    if "gdb" in names:
        error = check_aslr(a.build)
        if error:
            print(f"fuzz_smoke: {error}")
            failed = True
    print(f"fuzz_smoke: {'at most ' if a.fixed else ''}{a.seconds} s per harness"
          f"{', seed 1 and a fixed number of executions' if a.fixed else ''}, work in {work}")
    for n in names:
        extra = (["-fork=1", "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1"]
                 if a.keep_going else []) + a.extra
        if a.fixed:
            if n not in RUNS:
                sys.exit(f"fuzz_smoke: --fixed has no execution count for '{n}' (RUNS)")
            # -reload=0: libFuzzer otherwise rereads its corpus directory every second, and
            # what that finds (its own reduced inputs, at times that depend on the machine's
            # speed) shifts the mutation sequence: two insn runs side by side parted at #115
            # with it, at #1354 without it.
            # -report_slow_units and -print_funcs: the harnesses' coverage depends on where
            # their objects land in the heap (LLVM's and our tables keyed by pointers), and
            # libFuzzer allocates for the report of a slow input (which input is slow depends
            # on the machine's load: two insn_jit runs parted at #119, after a 10 s input in
            # one of them) and for the symbolised names of new functions (their source paths
            # depend on where the tree was built). README.md "Repeatable coverage".
            extra = ["-seed=1", f"-runs={RUNS[n]}", "-reload=0", "-report_slow_units=100000",
                     "-print_funcs=0"] + extra
        r = run_one(a.build, n, a.seconds, work, a.nice, extra)
        print(f"{n:9} execs {r['execs']:>9}  exec/s {r['exec_s']:>6}  cov {r['cov']:>6}  "
              f"ft {r['ft']:>7}  corpus {r['corpus']:>5}  crashes {len(r['crashes'])}"
              + (f"  ({r['fork']})" if "fork" in r else "")
              + (f"  (exit {r['status']}, see {r['log']})" if r["status"] else ""), flush=True)
        if a.fixed and r["execs"] != "?" and int(r["execs"]) < RUNS[n] and not r["crashes"]:
            print(f"  (stopped by the {a.seconds} s ceiling before its {RUNS[n]} executions: "
                  f"this run is not the one another machine makes)")
        for c in r["crashes"]:
            path = os.path.join(work, n, "artifacts", c)
            print(f"  {path}")
            # The input itself, for a CI log whose machine is gone (at most -max_len bytes):
            # base64 -d > FILE, then build-fuzz/tests/fuzz/fuzz_<harness> FILE.
            with open(path, "rb") as f:
                print(f"  base64: {base64.b64encode(f.read()).decode()}")
        failed |= bool(r["crashes"]) or r["status"] != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
