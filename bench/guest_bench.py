#!/usr/bin/env python3
"""Userland benchmark: real programs inside the default Linux guest, softcpu against QEMU TCG.

usage: guest_bench.py [--guest DIR] [--softcpu PATH] [--qemu PATH|none] [--runs N]
                      [--workloads a,b,...] [--variant NAME=ARGS]... [--mem MiB]
                      [--boot-timeout SEC] [--workload-timeout SEC] [--json PATH] [--log-dir DIR]

The guest is the default kernel booted directly with initrd-bench.img (tools/guest/
build-image.sh: the initramfs plus Debian's i386 gzip, bzip2, xz, lua5.4, their libraries,
a 4 MiB input and /opt/bench/bench.sh). Each emulator (every softcpu --variant, then QEMU)
boots it once per run; all of them stay up at their shell prompt and take the workloads in
turn (workload 1 on A, on B, workload 2 on A, on B, ...; the order of the emulators flips
every run), so a change in the machine's load hits them alike. Before each workload the
script waits (up to 30 s) until no emulator uses more than 15 % of a core: a softcpu may still
be finishing a compile, which would take the second core from the emulator that runs next.
For each workload the
script types `/opt/bench/bench.sh run W` on the serial console and records
  guest CPU   user+sys seconds of the workload's processes, from busybox `time -p` inside
              the guest (the guest's clock follows the host's, so host load inflates it);
  wall        host seconds from the command's newline to its end marker;
  host CPU    user+sys seconds the emulator process used meanwhile (/proc/PID/stat, all
              threads): the figure least disturbed by other load on the machine;
then `bench.sh check W`, whose digests and results must be right (else the workload fails):
decompressed output = the input (sha256), compressed output the same on every emulator and
equal to the host's own gzip/bzip2/xz of the same upstream version, the Lua scripts' result
lines equal to a Python model of them, and the spawn loop's fork count >= its 200 processes.
Ratios are softcpu/QEMU per run (same run, adjacent in time), the median over runs, and
their geometric mean over the workloads. softcpu runs with --stats=json: instructions, MIPS
(per host CPU second and per wall second) and every tier0.*, tier1.* and jit.* counter,
per boot (boot + all workloads). See bench/README.md.
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in tests/linux
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "linux"))
import guest_session  # noqa: E402  (the serial-console driver of the Linux boot tests)

WORKLOADS = ("gzip", "bzip2", "xz", "lua-int", "lua-float", "spawn")
COMPRESSORS = {  # workload -> (host command for the reference digest, guest tool name)
    "gzip": (["gzip", "-9", "-n", "-c"], "gzip"),
    "bzip2": (["bzip2", "-9", "-c"], "bzip2"),
    "xz": (["xz", "-2", "-T1", "-c"], "xz"),
}
LUA_INT_N = 200000   # as in tools/guest/bench/bench.sh
LUA_FLOAT_N = 256
SPAWN_N = 200
DEFAULT_APPEND = "console=ttyS0 cryptomgr.notests noisapnp"
# softcpu's CPU: GenuineIntel family 6 model 6 stepping 3 (interp/trap.h), CPUID.1:EDX =
# fpu vme de pse tsc msr cx8 apic sep pge cmov (interp/ops_trap.cpp): a P6 without MMX,
# FXSR or SSE. QEMU's pentium2 is the nearest model (family 6 model 5, adding MMX, FXSR,
# PAE, MCE, MCA, MTRR, PAT and PSE36): remove those and set model and stepping, so the
# guest's kernel and libraries pick the same code paths (no MMX/SSE variants of glibc's
# string functions, x87 floating point, the same kernel features).
# QEMU also drops its "hypervisor" bit, and gets softcpu's extended leaves (up to the brand
# string, none of them with a feature). softcpu's VME is the one difference left: QEMU 7.2's
# TCG does not implement it (Linux uses it only for vm86()).
QEMU_CPU = ("pentium2,model=6,stepping=3,-mmx,-fxsr,-pae,-mce,-mca,-mtrr,-pat,-pse36,"
            "-hypervisor,xlevel=0x80000004,model-id=QEMU pentium2 as a softcpu P6")
STATS_PREFIXES = ("tier0.", "tier1.", "jit.")


class Failure(Exception):
    pass


# --- results the guest must print ------------------------------------------------------------

def lua_int_reference(n):
    """What tools/guest/bench/int.lua prints, computed the same way in Python."""
    x, h, parts = 12345, 2166136261, []
    for i in range(1, n + 1):
        x = (x * 1103515245 + 12345) & 0x7fffffff
        s = "%d:%x" % (i, x)
        for c in s.encode():
            h = ((h ^ c) * 16777619) & 0xffffffff
        if i % 97 == 0:
            parts.append(s[:5])
    joined = ",".join(parts)
    pieces = len([p for p in joined.split(",") if p])
    t = []
    for _ in range(n // 10):
        x = (x * 1103515245 + 12345) & 0x7fffffff
        t.append(x)
    t.sort()
    return "lua-int %d %08x %d %d %d %d %d" % (n, h, pieces, len(joined), t[0], t[len(t) // 2],
                                              t[-1])


def lua_float_reference(n):
    """(N, points inside, energy) of tools/guest/bench/float.lua, in Python doubles. The guest
    computes on the x87 (each result rounded to extended, then to double when Lua stores it),
    so the energy may differ in its last bits: it is compared with a tolerance."""
    inside = 0
    for py in range(n):
        ci = -1.25 + 2.5 * py / n
        for px in range(n):
            cr = -2.0 + 2.5 * px / n
            zr = zi = 0.0
            k = 0
            while k < 64:
                zr2, zi2 = zr * zr, zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = 2.0 * zr * zi + ci
                zr = zr2 - zi2 + cr
                k += 1
            if k == 64:
                inside += 1
    bodies = [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 39.47],
              [4.84, -1.16, -0.10, 0.606, 2.81, -0.02, 0.037],
              [8.34, 4.12, -0.40, -1.01, 1.82, 0.008, 0.011],
              [12.89, -15.11, -0.22, 1.08, 0.868, -0.01, 0.0017]]
    dt = 0.01
    for _ in range(n * 8):
        for i in range(4):
            a = bodies[i]
            for j in range(i + 1, 4):
                b = bodies[j]
                dx, dy, dz = a[0] - b[0], a[1] - b[1], a[2] - b[2]
                d2 = dx * dx + dy * dy + dz * dz
                mag = dt / (d2 * math.sqrt(d2))
                bm, am = b[6] * mag, a[6] * mag
                a[3], a[4], a[5] = a[3] - dx * bm, a[4] - dy * bm, a[5] - dz * bm
                b[3], b[4], b[5] = b[3] + dx * am, b[4] + dy * am, b[5] + dz * am
        for a in bodies:
            a[0], a[1], a[2] = a[0] + dt * a[3], a[1] + dt * a[4], a[2] + dt * a[5]
    e = 0.0
    for i in range(4):
        a = bodies[i]
        e += 0.5 * a[6] * (a[3] * a[3] + a[4] * a[4] + a[5] * a[5])
        for j in range(i + 1, 4):
            b = bodies[j]
            dx, dy, dz = a[0] - b[0], a[1] - b[1], a[2] - b[2]
            e -= a[6] * b[6] / math.sqrt(dx * dx + dy * dy + dz * dz)
    return n, inside, e


class References:
    """Everything a workload's check compares with."""

    def __init__(self, guest, workloads):
        path = os.path.join(guest, "bench", "input.bin")
        with open(path, "rb") as f:
            data = f.read()
        self.input_sha256 = hashlib.sha256(data).hexdigest()
        self.input_bytes = len(data)
        self.host_compressed = {}   # workload -> (sha256, host --version line)
        self.host_notes = {}
        for w in workloads:
            if w in COMPRESSORS:
                cmd = COMPRESSORS[w][0]
                if not shutil.which(cmd[0]):
                    self.host_notes[w] = "no %s on the host" % cmd[0]
                    continue
                out = subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
                ver = subprocess.run([cmd[0], "--version"], capture_output=True, text=True,
                                     input="")
                self.host_compressed[w] = (hashlib.sha256(out).hexdigest(),
                                           first_line(ver.stdout + ver.stderr))
        self.lua_int = lua_int_reference(LUA_INT_N) if "lua-int" in workloads else None
        self.lua_float = lua_float_reference(LUA_FLOAT_N) if "lua-float" in workloads else None


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


# --- one emulator process --------------------------------------------------------------------

class QuietConsole(guest_session.Console):
    """guest_session's console without echoing the guest's output to our stdout; the output
    also goes to a log file when one is given."""

    def __init__(self, cmd, deadline, log_path=None):
        self.log = open(log_path, "wb") if log_path else None
        super().__init__(cmd, deadline)

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if data and self.log:
                self.log.write(data)
                self.log.flush()
            with self.cond:
                if data:
                    self.buf += data
                else:
                    self.eof = True
                self.cond.notify_all()
            if not data:
                if self.log:
                    self.log.close()
                return


def process_cpu_seconds(pid):
    """user + system seconds of a process and all its threads, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(guests, limit=30.0, quiet=0.15, window=0.25):
    """Wait until no booted emulator uses more than `quiet` of a core (a softcpu may still be
    finishing a compile, which would take the host's second core from the next emulator's run),
    for at most `limit` seconds. The seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        pids = [g.con.proc.pid for g in guests.values() if g.alive]
        before = {pid: process_cpu_seconds(pid) for pid in pids}
        time.sleep(window)
        busy = False
        for pid, c0 in before.items():
            c1 = process_cpu_seconds(pid)
            if c0 is not None and c1 is not None and c1 - c0 > quiet * window:
                busy = True
        if not busy:
            break
    return time.monotonic() - t0


class Guest:
    """A booted emulator: its console, and the commands that drive bench.sh."""

    def __init__(self, name, cmd, stats_file, log_path):
        self.name = name
        self.cmd = cmd
        self.stats_file = stats_file
        self.log_path = log_path
        self.con = None
        self.alive = False

    def boot(self, timeout):
        started = time.monotonic()
        self.con = QuietConsole(self.cmd, started + timeout, self.log_path)
        try:
            self.con.wait_for(re.escape(guest_session.INIT_MARKER), 0, "the initramfs's /init")
            self.con.wait_for(re.escape(guest_session.PROMPT), 0, "the shell prompt")
        except guest_session.Failure as e:
            self.kill()
            raise Failure("%s: boot: %s%s" % (self.name, e, self.tail()))
        self.alive = True
        return time.monotonic() - started

    def tail(self, lines=25):
        if not self.con:
            return ""
        t = self.con.text().replace("\r\n", "\n").split("\n")[-lines:]
        return "\n  last lines of the serial console:\n    " + "\n    ".join(t)

    def command(self, command, what, timeout):
        """Run a shell command; returns (output, wall seconds from its newline to its end
        marker, the emulator's host CPU seconds over the same interval)."""
        con = self.con
        con.deadline = time.monotonic() + timeout
        tag = secrets.token_hex(3)
        start = con.mark()
        line = "%s; echo END%s-$((1+1))" % (command, tag)
        try:
            for ch in line:  # as guest_session.Console.type_line, the newline sent below
                size = con.mark()
                con._write(ch.encode())
                con._wait_growth(size, 2.0)
            cpu0 = process_cpu_seconds(con.proc.pid)
            t0 = time.monotonic()
            con._write(b"\n")
            m = con.wait_for(re.compile(r"^(.*?)END%s-2\r?$" % tag, re.M | re.S), start, what)
            wall = time.monotonic() - t0
            cpu1 = process_cpu_seconds(con.proc.pid)
        except guest_session.Failure as e:
            self.kill()
            raise Failure("%s: %s: %s%s" % (self.name, what, e, self.tail()))
        out = m.group(1)
        nl = out.find("\n")
        out = out[nl + 1:] if nl >= 0 else ""
        host_cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        return out.replace("\r", ""), wall, host_cpu

    def poweroff(self, timeout):
        """Power off; returns the process's total host CPU seconds (read just before)."""
        if not self.alive:
            return None
        self.con.deadline = time.monotonic() + timeout
        cpu = process_cpu_seconds(self.con.proc.pid)
        try:
            self.con.type_line("poweroff -f")
            status = self.con.wait_exit()
            self.con.reader.join(timeout=5)
        except guest_session.Failure as e:
            self.kill()
            raise Failure("%s: poweroff: %s" % (self.name, e))
        self.alive = False
        if status != 0:
            raise Failure("%s: exit status %d after poweroff -f, expected 0" % (self.name, status))
        return cpu

    def kill(self):
        self.alive = False
        if self.con:
            self.con.kill()


# --- workloads --------------------------------------------------------------------------------

def parse_times(out, workload):
    """The BENCH-TIME lines of bench.sh run: {phase: (status, real, user, sys)}."""
    phases = {}
    for m in re.finditer(r"^BENCH-TIME (\S+) (\S+) (\d+) (\S+) (\S+) (\S+)$", out, re.M):
        if m.group(1) != workload:
            continue
        try:
            phases[m.group(2)] = (int(m.group(3)), float(m.group(4)), float(m.group(5)),
                                  float(m.group(6)))
        except ValueError:
            raise Failure("unreadable time report: %r" % m.group(0))
    return phases


def parse_checks(out, workload):
    checks = {}
    for m in re.finditer(r"^BENCH-CHECK (\S+) (\S+) ?(.*)$", out, re.M):
        if m.group(1) == workload:
            checks[m.group(2)] = m.group(3).strip()
    return checks


def verify(workload, checks, refs, versions):
    """Raise Failure unless the check lines show a right result; return notes."""
    notes = []
    if workload in COMPRESSORS:
        if checks.get("output_sha256") != refs.input_sha256:
            raise Failure("decompressed output sha256 %s, the input's is %s"
                          % (checks.get("output_sha256"), refs.input_sha256))
        if checks.get("output_bytes") != str(refs.input_bytes):
            raise Failure("decompressed %s bytes, the input has %d"
                          % (checks.get("output_bytes"), refs.input_bytes))
        try:
            csize = int(checks.get("compressed_bytes", ""))
        except ValueError:
            raise Failure("no compressed size in %r" % checks)
        if not 0 < csize < refs.input_bytes:
            raise Failure("compressed size %d for an input of %d" % (csize, refs.input_bytes))
        host = refs.host_compressed.get(workload)
        guest_ver = versions.get(COMPRESSORS[workload][1])
        if host and guest_ver and host[1] == guest_ver:
            if checks.get("compressed_sha256") != host[0]:
                raise Failure("compressed output sha256 %s, the host's %s (%s) gives %s"
                              % (checks.get("compressed_sha256"), COMPRESSORS[workload][0][0],
                                 host[1], host[0]))
            notes.append("compressed output = host's")
    elif workload == "lua-int":
        if checks.get("result") != refs.lua_int:
            raise Failure("int.lua printed %r, expected %r" % (checks.get("result"), refs.lua_int))
    elif workload == "lua-float":
        n, inside, energy = refs.lua_float
        m = re.match(r"lua-float (\d+) (\d+) (\S+)$", checks.get("result", ""))
        if not m:
            raise Failure("float.lua printed %r" % checks.get("result"))
        if int(m.group(1)) != n or int(m.group(2)) != inside:
            raise Failure("float.lua printed %r, expected N %d and %d points inside"
                          % (checks.get("result"), n, inside))
        if abs(float(m.group(3)) - energy) > 1e-9 * abs(energy):
            raise Failure("float.lua's energy %s, expected %.12e" % (m.group(3), energy))
    elif workload == "spawn":
        try:
            forks = int(checks.get("forks", ""))
        except ValueError:
            raise Failure("no fork count in %r" % checks)
        if not SPAWN_N <= forks < SPAWN_N + 50:
            raise Failure("the spawn loop forked %d processes, expected %d" % (forks, SPAWN_N))
    return notes


def run_workload(guest, workload, refs, versions, timeout):
    out, wall, host_cpu = guest.command("/opt/bench/bench.sh run %s" % workload,
                                        "workload %s" % workload, timeout)
    phases = parse_times(out, workload)
    if not phases:
        raise Failure("%s: %s: no BENCH-TIME line in %r" % (guest.name, workload, out[-2000:]))
    bad = [p for p, t in phases.items() if t[0] != 0]
    if bad or "BENCH-ERROR" in out:
        raise Failure("%s: %s: phase %s failed:\n%s" % (guest.name, workload, ",".join(bad),
                                                        out[-2000:]))
    cout, _, _ = guest.command("/opt/bench/bench.sh check %s" % workload,
                               "check of %s" % workload, timeout)
    checks = parse_checks(cout, workload)
    try:
        notes = verify(workload, checks, refs, versions)
    except Failure as e:
        raise Failure("%s: %s: wrong result: %s" % (guest.name, workload, e))
    return {
        "guest_cpu_s": sum(t[2] + t[3] for t in phases.values()),
        "guest_real_s": sum(t[1] for t in phases.values()),
        "wall_s": wall,
        "host_cpu_s": host_cpu,
        "phases": {p: {"real": t[1], "user": t[2], "sys": t[3]} for p, t in phases.items()},
        "checks": checks,
        "notes": notes,
    }


def guest_info(guest, timeout):
    out, _, _ = guest.command("/opt/bench/bench.sh info", "bench.sh info", timeout)
    info = {"versions": {}}
    for m in re.finditer(r"^BENCH-INFO (\S+) ?(.*)$", out, re.M):
        if m.group(1) == "version":
            tool, _, ver = m.group(2).partition(" ")
            info["versions"][tool] = ver.strip()
        else:
            info[m.group(1)] = m.group(2).strip()
    return info


# --- statistics and the report ----------------------------------------------------------------

def flatten(obj, prefix=""):
    out = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out.update(flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def stats_summary(path, host_cpu):
    with open(path) as f:
        s = flatten(json.load(f))
    insns = float(s.get("instructions", 0))
    wall = float(s.get("wall_seconds") or 0)
    out = {
        "instructions": insns,
        "wall_seconds": wall,
        "host_cpu_seconds": host_cpu,
        # Guest instructions per second of the process's host CPU time (busy time) ...
        "mips_host_cpu": insns / host_cpu / 1e6 if host_cpu else 0.0,
        # ... and softcpu's own figure, per wall second of its life, which includes the
        # time it idled at the prompt while the other emulators ran their workloads.
        "mips_wall": insns / wall / 1e6 if wall > 0 else 0.0,
    }
    for k in ("blocks_decoded", "cache.hit_rate", "cache.invalidations", "exceptions.total",
              "tlb.flushes", "idle_waits"):
        if k in s:
            out[k] = float(s[k])
    for k, v in s.items():
        if k.startswith(STATS_PREFIXES):
            out[k] = float(v)
    return out


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def fmt(x, f="%.2f"):
    return f % x if x is not None else "-"


def summarize(results, emulators, workloads, runs, qemu_name):
    """Medians per workload and emulator, and per-run paired ratios against QEMU (and
    against the first softcpu variant when there are several)."""
    metrics = ("guest_cpu_s", "wall_s", "host_cpu_s")
    med = {}
    for w in workloads:
        med[w] = {}
        for e in emulators:
            rs = [results[r][w][e] for r in range(runs) if results[r].get(w, {}).get(e)]
            med[w][e] = {m: statistics.median([x[m] for x in rs if x[m] is not None])
                         if any(x[m] is not None for x in rs) else None for m in metrics}
            med[w][e]["runs"] = len(rs)
    baselines = ([qemu_name] if qemu_name else []) + \
        ([emulators[0]] if len([e for e in emulators if e != qemu_name]) > 1 else [])
    ratios = {}
    for base in baselines:
        for e in emulators:
            if e == base or e == qemu_name:
                continue
            key = "%s/%s" % (e, base)
            ratios[key] = {}
            for w in workloads:
                ratios[key][w] = {}
                for m in metrics:
                    per_run = []
                    for r in range(runs):
                        a = results[r].get(w, {}).get(e)
                        b = results[r].get(w, {}).get(base)
                        if a and b and a[m] and b[m]:
                            per_run.append(a[m] / b[m])
                    ratios[key][w][m] = statistics.median(per_run) if per_run else None
            ratios[key]["geomean"] = {m: geomean([ratios[key][w][m] for w in workloads])
                                      for m in metrics}
    return med, ratios


def print_report(summary):
    emulators, workloads = summary["emulators"], summary["workloads"]
    med, ratios = summary["medians"], summary["ratios"]
    print("\n== per workload: median over %d run(s); seconds" % summary["runs"])
    print("%-10s %-12s %10s %10s %10s" % ("workload", "emulator", "guest-cpu", "wall",
                                         "host-cpu"))
    for w in workloads:
        for e in emulators:
            r = med[w][e]
            if not r["runs"]:
                print("%-10s %-12s %10s" % (w, e, "failed"))
                continue
            print("%-10s %-12s %10s %10s %10s" % (w, e, fmt(r["guest_cpu_s"]), fmt(r["wall_s"]),
                                                 fmt(r["host_cpu_s"])))
    for key, rw in ratios.items():
        print("\n== %s (median of the per-run ratios; > 1 means %s is slower)"
              % (key, key.split("/")[0]))
        print("%-10s %10s %10s %10s" % ("workload", "guest-cpu", "wall", "host-cpu"))
        for w in list(workloads) + ["geomean"]:
            r = rw[w]
            print("%-10s %10s %10s %10s" % (w, fmt(r["guest_cpu_s"]), fmt(r["wall_s"]),
                                           fmt(r["host_cpu_s"])))
    for e, runs in summary["stats"].items():
        if not runs:
            continue
        print("\n== %s statistics per boot (boot + every workload; median over %d boot(s))"
              % (e, len(runs)))
        keys = []
        for s in runs:
            keys += [k for k in s if k not in keys]
        for k in keys:
            vals = [s[k] for s in runs if s.get(k) is not None]
            if not vals:
                continue
            v = statistics.median(vals)
            f = "%.1f" if k.startswith("mips") or k.endswith("seconds") else \
                ("%.6f" if k.endswith("rate") else "%.0f")
            print("  %-26s %16s" % (k, f % v))


# --- main -------------------------------------------------------------------------------------

def parse_variants(specs, prog="guest_bench"):
    """--variant NAME=ARGS, repeatable: NAME -> extra `softcpu run` arguments. ARGS may begin
    with softcpu=PATH, another binary for this variant (e.g. a build of main against a
    branch's); the variant's args then hold it as their first element."""
    variants = []
    for spec in specs or []:
        name, sep, rest = spec.partition("=")
        if not sep or not name or not re.match(r"^[A-Za-z0-9_.+-]+$", name):
            sys.exit("%s: --variant takes NAME=ARGS (NAME: letters, digits, _.+-), "
                     "got %r" % (prog, spec))
        variants.append((name, shlex.split(rest)))
    names = [n for n, _ in variants]
    if len(set(names)) != len(names) or "qemu" in names:
        sys.exit("%s: variant names must be distinct and not 'qemu'" % prog)
    return variants or [("softcpu", [])]


def variant_binary(default, args):
    """The binary and the `softcpu run` arguments of a variant's args (parse_variants)."""
    if args and args[0].startswith("softcpu="):
        return args[0][len("softcpu="):], args[1:]
    return default, args


def kernel_append(guest):
    """The guest's kernel command line: its cmdline.txt, else DEFAULT_APPEND."""
    path = os.path.join(guest, "cmdline.txt")
    if os.path.isfile(path):
        with open(path) as f:
            return f.read().strip() or DEFAULT_APPEND
    return DEFAULT_APPEND


def find_qemu(arg):
    if arg == "none":
        return None, "skipped (--qemu none)"
    q = arg or shutil.which("qemu-system-i386")
    if not q:
        return None, "qemu-system-i386 is not installed: softcpu only"
    try:
        ver = first_line(subprocess.run([q, "--version"], capture_output=True, text=True,
                                        timeout=60).stdout)
    except (OSError, subprocess.SubprocessError):
        return None, "%s does not run: softcpu only" % q
    return q, ver


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guest", default=os.path.join(here, "..", "build", "guest"),
                    help="guest image directory (vmlinuz, initrd-bench.img, bench/, cmdline.txt)")
    ap.add_argument("--softcpu", default=os.path.join(here, "..", "build", "softcpu"))
    ap.add_argument("--qemu", help="qemu-system-i386 to compare with, or none (default: PATH)")
    ap.add_argument("--qemu-cpu", default=QEMU_CPU, help="QEMU's -cpu (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=2, help="boots per emulator (default 2)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help="comma-separated, from %s" % ",".join(WORKLOADS))
    ap.add_argument("--variant", action="append", metavar="NAME=ARGS",
                    help="a softcpu variant: extra `softcpu run` arguments, after an optional "
                    "softcpu=PATH naming another binary (repeatable; "
                    "default: one variant 'softcpu' with none)")
    ap.add_argument("--mem", type=int, default=256, help="guest RAM in MiB (default 256)")
    ap.add_argument("--boot-timeout", type=float, default=600, help="seconds per boot")
    ap.add_argument("--workload-timeout", type=float, default=1200,
                    help="seconds per workload (its run, then its check)")
    ap.add_argument("--json", help="write every figure as JSON to this file")
    ap.add_argument("--log-dir", help="keep each boot's serial console output here")
    args = ap.parse_args()

    if args.runs < 1:
        sys.exit("guest_bench: --runs must be >= 1")
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown or not workloads:
        sys.exit("guest_bench: unknown workload(s) %s; have %s" % (",".join(unknown),
                                                                  ",".join(WORKLOADS)))
    variants = parse_variants(args.variant)
    if not os.access(args.softcpu, os.X_OK):
        sys.exit("guest_bench: no softcpu binary at %s" % args.softcpu)
    guest = os.path.abspath(args.guest)
    files = {n: os.path.join(guest, n) for n in ("vmlinuz", "initrd-bench.img")}
    files["input"] = os.path.join(guest, "bench", "input.bin")
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        sys.exit("guest_bench: guest image incomplete (build it with `make guest` or "
                 "tools/guest/build-image.sh DIR): missing " + ", ".join(missing))
    append = kernel_append(guest)
    qemu, qemu_note = find_qemu(args.qemu)
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)

    print("guest_bench: softcpu %s, variants: %s" % (
        args.softcpu, ", ".join("%s=[%s]" % (n, " ".join(a)) for n, a in variants)))
    print("guest_bench: QEMU: %s%s" % (qemu_note, (", -cpu " + args.qemu_cpu) if qemu else ""))
    print("guest_bench: workloads %s; %d run(s); guest RAM %d MiB" % (
        ",".join(workloads), args.runs, args.mem))
    print("guest_bench: computing the expected results on the host ...", flush=True)
    refs = References(guest, workloads)
    load_before = os.getloadavg()
    print("guest_bench: load average before: %.2f %.2f %.2f (%d CPUs)"
          % (load_before + (os.cpu_count(),)), flush=True)

    emulators = [n for n, _ in variants] + (["qemu"] if qemu else [])
    results = [dict() for _ in range(args.runs)]   # run -> workload -> emulator -> figures
    stats = {n: [] for n, _ in variants}
    boots = {e: [] for e in emulators}
    infos = {}
    failures = []
    loads = []

    def note_failure(msg):
        failures.append(msg)
        print("guest_bench: FAILED: %s" % msg, flush=True)

    with tempfile.TemporaryDirectory(prefix="guest_bench.") as tmp:
        for run in range(args.runs):
            order = emulators if run % 2 == 0 else emulators[::-1]
            guests = {}
            for e in order:
                stats_file = os.path.join(tmp, "stats-%s-%d.json" % (e, run))
                if e == "qemu":
                    cmd = [qemu, "-accel", "tcg", "-cpu", args.qemu_cpu, "-m", str(args.mem),
                           "-nographic", "-kernel", files["vmlinuz"],
                           "-initrd", files["initrd-bench.img"], "-append", append]
                else:
                    binary, extra = variant_binary(args.softcpu, dict(variants)[e])
                    cmd = [binary, "run", "-m", str(args.mem), "--kernel", files["vmlinuz"],
                           "--initrd", files["initrd-bench.img"], "--append", append,
                           "--stats=json", "--stats-file", stats_file] + extra
                log = (os.path.join(args.log_dir, "%s-run%d.log" % (e, run + 1))
                       if args.log_dir else None)
                g = Guest(e, cmd, stats_file, log)
                print("guest_bench: run %d: booting %s ..." % (run + 1, e), flush=True)
                try:
                    secs = g.boot(args.boot_timeout)
                    boots[e].append(secs)
                    info = guest_info(g, args.workload_timeout)
                    infos.setdefault(e, info)
                    print("guest_bench: run %d: %s at the prompt after %.1f s (%s)"
                          % (run + 1, e, secs, info.get("cpu", "?")), flush=True)
                    guests[e] = g
                except Failure as ex:
                    note_failure("run %d: %s" % (run + 1, ex))
            for w in workloads:
                results[run][w] = {}
                for e in order:
                    g = guests.get(e)
                    if not g or not g.alive:
                        continue
                    settled = settle(guests)
                    if settled > 1.0:
                        print("guest_bench: run %d: waited %.1f s for the emulators to go quiet"
                              % (run + 1, settled), flush=True)
                    try:
                        r = run_workload(g, w, refs, infos.get(e, {}).get("versions", {}),
                                         args.workload_timeout)
                    except Failure as ex:
                        note_failure("run %d: %s" % (run + 1, ex))
                        continue
                    results[run][w][e] = r
                    print("guest_bench: run %d: %-9s %-10s guest cpu %7.2f s  wall %7.2f s  "
                          "host cpu %7s s  load %.1f  %s" % (
                              run + 1, w, e, r["guest_cpu_s"], r["wall_s"], fmt(r["host_cpu_s"]),
                              os.getloadavg()[0], "; ".join(["ok"] + r["notes"])), flush=True)
                loads.append(os.getloadavg()[0])
            for e in order:
                g = guests.get(e)
                if not g or not g.alive:   # never booted, or killed after a failure
                    continue
                try:
                    host_cpu = g.poweroff(120)
                except Failure as ex:
                    note_failure("run %d: %s" % (run + 1, ex))
                    continue
                if e in stats:
                    try:
                        s = stats_summary(g.stats_file, host_cpu)
                        stats[e].append(s)
                        print("guest_bench: run %d: %s: %.0f M instructions, %.1f MIPS per host "
                              "CPU second" % (run + 1, e, s["instructions"] / 1e6,
                                              s["mips_host_cpu"]), flush=True)
                    except (OSError, ValueError) as ex:
                        note_failure("run %d: %s: no statistics: %s" % (run + 1, e, ex))

    load_after = os.getloadavg()
    qemu_name = "qemu" if qemu else None
    med, ratios = summarize(results, emulators, workloads, args.runs, qemu_name)
    # The CPUs the guests saw: the benchmark is fair only if they report the same features.
    flag_sets = {e: set(i.get("flags", "").split()) for e, i in infos.items()}
    summary = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": load_after,
        "load_during": loads,
        "softcpu": os.path.abspath(args.softcpu), "variants": dict(variants),
        "qemu": qemu, "qemu_version": qemu_note if qemu else None,
        "qemu_cpu": args.qemu_cpu if qemu else None,
        "mem_mib": args.mem, "append": append, "runs": args.runs,
        "emulators": emulators, "workloads": workloads,
        "input_sha256": refs.input_sha256,
        "guest_info": infos, "boot_seconds": boots,
        "results": results, "medians": med, "ratios": ratios, "stats": stats,
        "failures": failures,
    }
    print_report(summary)
    if len(flag_sets) > 1:
        base = next(iter(flag_sets))
        for e, fl in flag_sets.items():
            if fl != flag_sets[base]:
                print("\nguest_bench: note: CPU flags differ: %s has %s, %s has %s" % (
                    base, " ".join(sorted(flag_sets[base] - fl)) or "-", e,
                    " ".join(sorted(fl - flag_sets[base])) or "-"))
    for e, i in infos.items():
        print("guest CPU under %-10s %s; flags: %s" % (e, i.get("cpu", "?"), i.get("flags", "?")))
    print("\nboot to prompt (s): " + "; ".join("%s %s" % (e, " ".join("%.1f" % x for x in b))
                                              for e, b in boots.items()))
    print("load average: before %.2f, during %s, after %.2f (%d CPUs)" % (
        load_before[0], " ".join("%.1f" % x for x in loads), load_after[0], os.cpu_count()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
        print("guest_bench: written to %s" % args.json)
    if failures:
        print("\nguest_bench: %d failure(s):\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
