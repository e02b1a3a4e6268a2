#!/usr/bin/env python3
"""The JIT's command-line options end to end on bench.rom (a deterministic compute benchmark:
~260M instructions, exits with status 1 when its checksum is right):

  --perf-map       /tmp/perf-PID.map names every installed region (non-zero address, positive
                   size, guest_0xADDR_len_N_rK), one line per jit.regions_installed;
  --jit-dump DIR   NAME.pre.ll, NAME.ll (defining NAME) and NAME.s (the symbol NAME) per region;
  --jit off / on   with --stats=json: same guest instruction count and checksum, tier1 counts
                   instructions only with the JIT on, and regions are installed;
  lazy start       --jit on for 1 000 instructions: nothing requested, LLVM never started
                   (jit.start_cpu_us 0; the compiling run above has it > 0);
  gdb              the real gdb interrupts the bench while compiled code runs (tier 1 counted
                   at the stop), reads EIP, the machine stays stopped, a second continue and
                   interrupt work, and `kill` ends softcpu.

Usage: jit_cli_test.py SOFTCPU BENCH_ROM"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import checklist  # noqa: E402  (check() and the failure count)
from checklist import check  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from run_bench import find_json, stat  # noqa: E402  (the --stats=json object in softcpu's stderr)

SOFTCPU = sys.argv[1]
ROM = sys.argv[2]
RUN_TIMEOUT = 120  # seconds for one bench run (it takes 1-3 s; ~8 s interpreted at worst)


def run_bench(*extra, tmp):
    """Runs bench.rom with extra options; returns (status, pid, stats or None, output, debugcon
    text, wall seconds). Never waits longer than RUN_TIMEOUT (+ a grace period)."""
    dbg = os.path.join(tmp, "debugcon-%d.txt" % time.monotonic_ns())
    cmd = [SOFTCPU, "run", "--bios", ROM, "--serial", "none", "--debugcon", "0xE9:" + dbg,
           "--timeout", str(RUN_TIMEOUT)] + list(extra)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=RUN_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err += "\n[killed: softcpu outlived its own --timeout]"
    wall = time.monotonic() - t0
    guest = open(dbg, errors="replace").read() if os.path.exists(dbg) else ""
    return p.returncode, p.pid, find_json(err), out + err, guest, wall


def tail(text, n=1500):
    return text[-n:].strip()


# ---- --perf-map ------------------------------------------------------------------------------

PERF_LINE = re.compile(r"^([0-9a-f]+) ([0-9a-f]+) (guest_0x([0-9a-f]{8})_len_(\d+)_r(\d+))$")


def perf_map(tmp):
    status, pid, stats, out, _, _ = run_bench("--jit", "on", "--jit-threshold", "1000", "--perf-map", "--stats=json",
                                               tmp=tmp)
    check("perf-map: bench exits 1 (checksum right)", status == 1, f"status {status}: {tail(out)}")
    path = f"/tmp/perf-{pid}.map"
    if not check("perf-map: " + path + " exists", os.path.exists(path)):
        return
    try:
        lines = open(path).read().splitlines()
    finally:
        os.remove(path)
    bad = [l for l in lines if not PERF_LINE.match(l)]
    check("perf-map: every line is 'ADDR SIZE guest_0x..._len_..._r...'", not bad,
          "e.g. " + repr(bad[:3]))
    check("perf-map: at least one region", len(lines) >= 1, "empty map")
    fields = [PERF_LINE.match(l).groups() for l in lines if PERF_LINE.match(l)]
    check("perf-map: addresses non-zero, sizes positive",
          all(int(a, 16) != 0 and int(s, 16) > 0 for a, s, *_ in fields), repr(lines[:5]))
    # bench.rom's code is in the ROM (0xF0000..0xFFFFF) and every region has instructions.
    check("perf-map: names give guest ROM addresses and lengths",
          all(0xF0000 <= int(g, 16) <= 0xFFFFF and int(n) > 0 for _, _, _, g, n, _ in fields),
          repr([f[2] for f in fields][:5]))
    check("perf-map: names are unique", len({f[2] for f in fields}) == len(fields))
    ranges = sorted((int(a, 16), int(a, 16) + int(s, 16)) for a, s, *_ in fields)
    check("perf-map: code ranges do not overlap",
          all(ranges[i][1] <= ranges[i + 1][0] for i in range(len(ranges) - 1)), repr(ranges[:8]))
    installed = stat(stats, "jit.regions_installed") if stats else None
    check("perf-map: one line per installed region", installed == len(lines),
          f"{len(lines)} lines, jit.regions_installed {installed}")


# ---- --jit-dump ------------------------------------------------------------------------------

def jit_dump(tmp):
    d = os.path.join(tmp, "dump")
    os.mkdir(d)
    status, _, stats, out, _, _ = run_bench("--jit", "on", "--jit-threshold", "1000", "--jit-dump", d,
                                            "--stats=json", tmp=tmp)
    check("jit-dump: bench exits 1 (checksum right)", status == 1, f"status {status}: {tail(out)}")
    files = sorted(os.listdir(d))
    names = sorted({f.split(".")[0] for f in files})
    check("jit-dump: at least one region", len(names) >= 1, "directory is empty")
    check("jit-dump: file names are guest_0x..._len_..._r...",
          all(re.fullmatch(r"guest_0x[0-9a-f]{8}_len_\d+_r\d+", n) for n in names), repr(names[:5]))
    missing = [n + ext for n in names for ext in (".pre.ll", ".ll", ".s")
               if not os.path.isfile(os.path.join(d, n + ext))]
    check("jit-dump: NAME.pre.ll, NAME.ll and NAME.s for every region", not missing,
          repr(missing[:5]))
    extra = [f for f in files if not re.fullmatch(r"[^.]+\.(pre\.ll|ll|s)", f)]
    check("jit-dump: no other files", not extra, repr(extra[:5]))
    bad_ll, bad_s = [], []
    for n in names:
        for ext in (".pre.ll", ".ll"):
            p = os.path.join(d, n + ext)
            text = open(p, errors="replace").read() if os.path.exists(p) else ""
            if not re.search(r"^define .*@" + re.escape(n) + r"\(", text, re.M):
                bad_ll.append(n + ext)
        p = os.path.join(d, n + ".s")
        text = open(p, errors="replace").read() if os.path.exists(p) else ""
        if not re.search(r"^" + re.escape(n) + r":", text, re.M):
            bad_s.append(n + ".s")
    check("jit-dump: each .ll defines its function", not bad_ll, repr(bad_ll[:5]))
    check("jit-dump: each .s has its symbol", not bad_s, repr(bad_s[:5]))
    # A region is dumped when LLVM has compiled it, before it is added to the JIT; so at least
    # every region the statistics count as compiled has its files.
    compiled = stat(stats, "jit.regions_compiled") if stats else None
    check("jit-dump: a dump per compiled region",
          isinstance(compiled, int) and 1 <= compiled <= len(names),
          f"{len(names)} dumped, jit.regions_compiled {compiled}")


# ---- --jit off / on ------------------------------------------------------------------------

def jit_off_on(tmp):
    """Returns the JIT run's wall seconds (the guest's own figure), or None."""
    runs = {}
    for mode in ("off", "on"):
        status, _, stats, out, guest, _ = run_bench("--jit", mode, *(["--jit-threshold", "1000"] if mode == "on" else []),
                                                "--stats=json", tmp=tmp)
        check(f"jit {mode}: bench exits 1 (checksum right)", status == 1,
              f"status {status}: {tail(out)}\n{tail(guest)}")
        check(f"jit {mode}: the guest reports its checksum ok",
              re.search(r"^bench: checksum 0x[0-9a-f]{8} ok$", guest, re.M) is not None,
              tail(guest))
        if not check(f"jit {mode}: --stats=json printed", stats is not None, tail(out)):
            return None
        runs[mode] = stats
    off, on = runs["off"], runs["on"]
    t1_off = stat(off, "tier1.instructions", 0)
    check("jit off: tier1.instructions is 0", t1_off == 0, f"{t1_off}")
    check("jit off: no region installed", stat(off, "jit.regions_installed", 0) == 0,
          f"{stat(off, 'jit.regions_installed')}")
    t1_on = stat(on, "tier1.instructions", 0)
    check("jit on: tier1.instructions > 0", isinstance(t1_on, int) and t1_on > 0, f"{t1_on}")
    installed = stat(on, "jit.regions_installed", 0)
    check("jit on: jit.regions_installed >= 1", isinstance(installed, int) and installed >= 1,
          f"{installed}")
    check("jit on: tier1 is part of all instructions", t1_on < on["instructions"],
          f"tier1 {t1_on}, instructions {on['instructions']}")
    start = stat(on, "jit.start_cpu_us", 0)
    check("jit on: LLVM started when regions were requested (jit.start_cpu_us > 0)",
          isinstance(start, (int, float)) and start > 0, f"{start}")
    # The guest is deterministic (no timer, no input): both tiers retire the same instructions.
    check("jit off and on retire the same number of instructions",
          off["instructions"] == on["instructions"],
          f"off {off['instructions']}, on {on['instructions']}")
    return stat(on, "wall_seconds")


def lazy_start(tmp):
    """--jit on starts LLVM only when a region is requested: a run where nothing gets hot
    (1 000 instructions, no block near the threshold) never starts it."""
    status, _, stats, out, _, _ = run_bench("--jit", "on", "--insn-limit", "1000", "--stats=json",
                                            tmp=tmp)
    if not check("lazy start: --stats=json printed", stats is not None, f"status {status}: {tail(out)}"):
        return
    # --insn-limit stops at the end of the block that reaches it.
    check("lazy start: about 1 000 instructions run", 1000 <= stats.get("instructions", 0) < 2000,
          f"{stats.get('instructions')}")
    check("lazy start: no region requested", stat(stats, "jit.requests", -1) == 0,
          f"{stat(stats, 'jit.requests')}")
    check("lazy start: LLVM not started (jit.start_cpu_us is 0)",
          stat(stats, "jit.start_cpu_us", -1) == 0, f"{stat(stats, 'jit.start_cpu_us')}")


# ---- gdb interrupting compiled code --------------------------------------------------------

class Gdb:
    """The real gdb, interactive over pipes. Its output is collected by a thread, so every
    wait has a deadline. Interrupts are real Ctrl-C: SIGINT to the gdb process, which (in
    all-stop mode, while `continue` waits for the remote target) sends the stub the 0x03 byte,
    exactly what a terminal's Ctrl-C does. This is simpler and steadier than a Python gdb
    script: gdb -batch runs its commands back to back and cannot easily wait for an
    asynchronous stop between them."""

    def __init__(self):
        self.p = subprocess.Popen(["gdb", "-nx", "-q"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  bufsize=1)
        self.out = ""
        self.pos = 0  # where the next expect() starts looking
        self.cv = threading.Condition()
        self.marks = 0
        self.eof = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.out += line
                self.cv.notify_all()
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def send(self, line):
        try:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        except OSError:
            pass  # gdb is gone: the next expect() fails and says what was seen

    def expect(self, pattern, timeout):
        """Waits for pattern after the last match; returns the match or None at the deadline."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                m = rx.search(self.out, self.pos)
                if m:
                    self.pos = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return None
                self.cv.wait(min(left, 0.2))

    def command(self, line, timeout=20):
        """Runs a command and returns its output (up to an echoed marker), or None."""
        self.marks += 1
        mark = f"@@done{self.marks}@@"
        start = self.pos
        self.send(line)
        self.send(f"echo {mark}\\n")
        m = self.expect(re.escape(mark), timeout)
        return None if m is None else self.out[start:m.start()]

    def interrupt(self):
        os.kill(self.p.pid, signal.SIGINT)

    def close(self):
        try:
            if self.p.poll() is None:
                self.send("quit")
            self.p.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def counters(text):
    """The counts in `monitor stats` (the --stats text report: group titles, then indented
    "name value [unit]" rows, thousands grouped with commas, zero rows left out) as a dict of
    ints."""
    return {k: int(v.replace(",", ""))
            for k, v in re.findall(r"^(?:\(gdb\) )*[ \t]+([a-z0-9_.]+)[ \t]+([\d,]+)$",
                                   text or "", re.M)}


def gdb_interrupt(delay):
    port = free_port()
    # --jit-sync: regions compile on the CPU thread when they turn hot, so compiled code has
    # run before the interrupt however loaded the host is (a compile thread may not have
    # finished one region in 0.7 s at load 12).
    args = [SOFTCPU, "run", "--bios", ROM, "--serial", "none", "--jit", "on", "--jit-sync",
            "--jit-threshold", "50", "--gdb", f"tcp:127.0.0.1:{port}", "-S", "--stats=json",
            "--timeout", "120"]
    sc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    err_lines = []
    got_banner = threading.Event()

    def read_err():
        for line in sc.stderr:
            err_lines.append(line)
            got_banner.set()
        got_banner.set()

    threading.Thread(target=read_err, daemon=True).start()
    got_banner.wait(30)  # the banner is printed once the port listens
    banner = err_lines[0] if err_lines else ""
    g = None
    try:
        if not check("gdb: softcpu waits for gdb",
                     banner.strip() == f"softcpu: waiting for gdb on tcp:127.0.0.1:{port}",
                     repr(banner)):
            return
        g = Gdb()
        for c in ("set pagination off", "set confirm off", "set width 0",
                  "set architecture i386"):
            g.command(c)
        out = g.command(f"target remote 127.0.0.1:{port}")
        if not check("gdb: connects, stopped at the reset vector",
                     out is not None and "0xfffffff0 in" in out, repr(out)):
            return
        total_t1 = 0
        for rnd in (1, 2):
            g.send("continue")
            if not check(f"gdb round {rnd}: continue runs the guest",
                         g.expect(r"Continuing\.$", 20) is not None, tail(g.out, 400)):
                return
            time.sleep(delay)
            if not check(f"gdb round {rnd}: the bench still runs after {delay:.2f} s",
                         sc.poll() is None, f"softcpu ended with status {sc.poll()}"):
                return
            t0 = time.monotonic()
            g.interrupt()
            m = g.expect(r"Program received signal (SIGINT|SIGTRAP)|Remote connection closed|"
                         r"exited", 10)
            latency = time.monotonic() - t0
            if not check(f"gdb round {rnd}: Ctrl-C stops the guest within a few seconds",
                         m is not None and m.group(1) is not None,
                         (m.group(0) if m else "no stop in 10 s") + "\n" + tail(g.out, 600)):
                return
            out = g.command("info registers eip")
            eip = re.search(r"^(?:\(gdb\) )*eip\s+(0x[0-9a-f]+)", out or "", re.M)
            check(f"gdb round {rnd}: info registers eip answers", eip is not None, repr(out))
            # bench.rom runs from the ROM (flat protected mode, CS base 0).
            check(f"gdb round {rnd}: eip is in the bench's code",
                  eip is not None and 0xF0000 <= int(eip.group(1), 16) <= 0xFFFFF,
                  eip.group(1) if eip else "")
            s1 = counters(g.command("monitor stats"))
            t1 = s1.get("tier1.instructions")
            # Compiled code ran before the interrupt (threshold 50: regions are hot at once).
            check(f"gdb round {rnd}: monitor stats shows tier1.instructions > 0",
                  t1 is not None and t1 > 0, f"tier1.instructions {t1}")
            if rnd == 2:
                check("gdb round 2: compiled code ran again after the first stop",
                      t1 is not None and t1 > total_t1, f"{total_t1} then {t1}")
            print(f"     (round {rnd}: {m.group(1)} {latency * 1000:.0f} ms after Ctrl-C at eip "
                  f"{eip.group(1) if eip else '?'}; instructions {s1.get('instructions')}, "
                  f"tier1 {t1})", flush=True)
            total_t1 = t1 or 0
            # Stopped means stopped: the counters do not move while gdb holds the machine.
            time.sleep(0.3)
            s2 = counters(g.command("monitor stats"))
            check(f"gdb round {rnd}: the guest stays stopped",
                  s1.get("instructions") is not None
                  and s1.get("instructions") == s2.get("instructions"),
                  f"instructions {s1.get('instructions')} then {s2.get('instructions')}")
            if rnd == 1:
                # bench.rom runs about a second; so that the second round cannot run into its
                # end, restart it (RAM and compiled regions are kept). gdb caches registers
                # across monitor commands: drop them.
                out = g.command("monitor system_reset")
                check("gdb: monitor system_reset answers", out is not None and
                      "machine reset" in out, repr(out))
                g.command("maintenance flush register-cache")
        g.send("kill")
        g.expect(r"killed", 10)
        g.close()
        try:
            status = sc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            status = None
        check("gdb: kill ends softcpu with status 0", status == 0, f"status {status}")
    finally:
        if g is not None and g.p.poll() is None:
            g.p.kill()
            g.p.wait()
        if sc.poll() is None:
            sc.kill()
            sc.wait()
        if checklist.failures:
            print("---- gdb output ----\n" + (tail(g.out, 4000) if g else "") +
                  "\n---- softcpu stderr ----\n" + tail("".join(err_lines), 2000))


def main():
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jit_cli_") as tmp:
        perf_map(tmp)
        jit_dump(tmp)
        wall = jit_off_on(tmp)
        lazy_start(tmp)
    if shutil.which("gdb") is None:
        print("SKIP gdb is not installed (tools/install-deps.sh installs it): gdb interrupt "
              "skipped")
    else:
        # Interrupt while the bench is running for sure: ~0.7 s in, but well before its end on
        # a fast host (0.4 of the measured JIT run).
        delay = 0.7 if not isinstance(wall, (int, float)) else max(0.25, min(0.7, 0.4 * wall))
        gdb_interrupt(delay)
    print("jit_cli_test: %d failure(s) in %.1f s" % (checklist.failures, time.monotonic() - t_start))
    sys.exit(1 if checklist.failures else 0)


main()
