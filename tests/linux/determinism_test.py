#!/usr/bin/env python3
"""Deterministic runs, record and replay of the default Linux guest (docs/determinism.md).

usage: determinism_test.py [--timeout SEC] [--workdir DIR] SCENARIO -- SOFTCPU GUEST_DIR

SCENARIO:
  twice      two --deterministic direct boots (interpreted) that run a command from the
             kernel command line and power off: serial output, instruction count and the
             --stats json statistics (wall-time fields aside) must be byte-for-byte equal.
  twice-jit  the same with --jit on; and the JIT-on run must agree with an interpreted one on
             the serial output and the instruction count (tier independence).
  record     a --record boot of the real init to its shell, where a command is typed (the
             output must show its result) and `poweroff -f`; then --replay of the record must
             give the same serial output and instruction count and report a match; a record
             whose typed bytes were changed must be reported as diverged (exit status 6); a
             file that is not a record must be refused (exit status 2).
The runs of a scenario go in parallel (the machine has few cores; each boot is 2-3 G
instructions). Exit status 0 means pass; a failure says which comparison failed and how.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import checklist  # noqa: E402


def check(ok, name, detail=""):
    return checklist.check(name, bool(ok), detail)

APPEND = "console=ttyS0 cryptomgr.notests noisapnp"
# The default guest's initramfs with busybox as PID 1 running a fixed command: no input
# from the host is needed, so two deterministic runs must be identical.
INIT_CMD = ('rdinit=/bin/busybox -- sh -c "/bin/busybox --install -s; '
            'export PATH=/bin:/sbin:/usr/bin:/usr/sbin; mount -t proc proc /proc; '
            'echo det-test-$((6*7)); cat /proc/uptime; date; uname -r; poweroff -f"')
PROMPT = b"softcpu# "
# Wall-time (host-dependent) statistics; everything else must match.
WALL_FIELDS = re.compile(r"^(wall_seconds|mips|jit\.compile_us.*|jit\.compile_cpu_us.*|jit\.start_cpu_us|jit\.compile_cpu_share.*|jit\.wait_us.*)$")


def flatten(prefix, value, out):
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out[prefix] = value
    return out


class Run:
    """One softcpu process: serial output (stdout), stderr, status, statistics."""

    def __init__(self, name, cmd, workdir, stdin_data=None, typed=None, timeout=300):
        self.name, self.cmd, self.workdir = name, cmd, workdir
        self.stdin_data, self.typed, self.timeout = stdin_data, typed, timeout
        self.stats_path = os.path.join(workdir, name + ".stats.json")
        self.cmd = cmd + ["--stats=json", "--stats-file", self.stats_path]
        self.out = b""
        self.err = b""
        self.status = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        t0 = time.monotonic()
        proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=0)
        err_chunks = []
        et = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
        et.start()
        buf = bytearray()
        steps = list(self.typed or [])
        fd = proc.stdout.fileno()
        deadline = t0 + self.timeout
        try:
            while True:
                if time.monotonic() > deadline:
                    proc.kill()
                    break
                data = os.read(fd, 65536)
                if not data:
                    break
                buf += data
                # Type each step once its prompt has appeared (record scenario).
                while steps and buf.count(PROMPT) >= steps[0][0]:
                    proc.stdin.write(steps.pop(0)[1])
                    proc.stdin.flush()
        finally:
            proc.stdin.close()
            self.status = proc.wait()
            et.join(5)
        self.out = bytes(buf)
        self.err = b"".join(err_chunks)
        self.seconds = time.monotonic() - t0

    def join(self):
        self.thread.join()
        return self

    def stats(self):
        try:
            with open(self.stats_path) as f:
                return flatten("", json.load(f), {})
        except (OSError, ValueError) as e:
            return {"<unreadable>": str(e)}

    def describe(self):
        tail = self.out.decode(errors="replace").splitlines()[-8:]
        return (f"{self.name}: status {self.status}, {self.seconds:.1f} s\n  serial tail: " +
                "\n    ".join(tail) + "\n  stderr: " + self.err.decode(errors="replace")[-600:])


def first_difference(a, b):
    n = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
    line = a[:n].count(b"\n") + 1
    return f"byte {n} (line {line}): {a[n:n + 60]!r} vs {b[n:n + 60]!r}"


def compare_runs(a, b, stats=True, ok=True):
    ok &= check(a.status == 0 and b.status == 0, f"{a.name} and {b.name} powered off (status 0)",
                f"{a.describe()}\n{b.describe()}")
    ok &= check(a.out == b.out, f"{a.name} and {b.name}: identical serial output "
                f"({len(a.out)} bytes)", first_difference(a.out, b.out))
    sa, sb = a.stats(), b.stats()
    ok &= check(sa.get("instructions") == sb.get("instructions") and sa.get("instructions"),
                f"{a.name} and {b.name}: same instruction count ({sa.get('instructions')})",
                f"{sa.get('instructions')} vs {sb.get('instructions')}")
    if stats:
        keys = sorted(k for k in set(sa) | set(sb) if not WALL_FIELDS.match(k))
        diff = [f"{k}: {sa.get(k)} vs {sb.get(k)}" for k in keys if sa.get(k) != sb.get(k)]
        ok &= check(not diff, f"{a.name} and {b.name}: same statistics ({len(keys)} counters "
                    "besides wall time)", "\n".join(diff[:20]))
    return ok


def softcpu_cmd(args, *extra):
    g = args.guest_dir
    return [args.softcpu, "run", "--kernel", f"{g}/vmlinuz", "--initrd", f"{g}/initrd.img",
            *extra]


def scenario_twice(args, jit):
    # A high threshold keeps the JIT boot short: a deterministic run compiles every region
    # requested and waits for late compiles (docs/determinism.md), about 0.5 s of CPU each.
    extra = ["--jit", "on", "--jit-threshold", "1000000"] if jit else ["--jit", "off"]
    cmd = softcpu_cmd(args, "--append", f"{APPEND} {INIT_CMD}", "--deterministic", *extra)
    tag = "jit" if jit else "interp"
    runs = [Run(f"{tag}{k}", cmd, args.workdir, timeout=args.timeout).start() for k in (1, 2)]
    if jit:  # the tier comparison runs beside them
        plain = softcpu_cmd(args, "--append", f"{APPEND} {INIT_CMD}", "--deterministic",
                            "--jit", "off")
        runs.append(Run("interp", plain, args.workdir, timeout=args.timeout).start())
    for r in runs:
        r.join()
        print(f"{r.name}: status {r.status}, {r.seconds:.1f} s wall", flush=True)
    ok = check(b"det-test-42" in runs[0].out, "the guest ran its command (det-test-42)",
               runs[0].describe())
    ok &= check(b"Wed Jan  1 00:00:0" in runs[0].out,
                "the RTC starts at the deterministic base date 2025-01-01", runs[0].describe())
    ok = compare_runs(runs[0], runs[1], ok=ok)
    if jit:
        sj = runs[0].stats()
        ok &= check(sj.get("tier1.instructions", 0) > 0, "the JIT ran compiled code "
                    f"({sj.get('tier1.instructions')} instructions in tier 1)", "none")
        ok = compare_runs(runs[0], runs[2], stats=False, ok=ok)
    return ok


def scenario_record(args):
    rec = os.path.join(args.workdir, "boot.rec")
    base = softcpu_cmd(args, "--append", APPEND)
    typed = [(1, b"echo typed-$((7*6)); uname -r\n"), (2, b"poweroff -f\n")]
    r = Run("record", base + ["--record", rec], args.workdir, typed=typed,
            timeout=args.timeout).start().join()
    print(f"record: status {r.status}, {r.seconds:.1f} s wall", flush=True)
    ok = check(r.status == 0 and b"typed-42" in r.out,
               "the recorded boot ran the typed command (typed-42) and powered off", r.describe())
    with open(rec) as f:
        lines = f.read().splitlines()
    serial = [l for l in lines if l.startswith("serial ")]
    ok &= check(lines[0] == "softcpu-replay 1" and serial and lines[-1].startswith("end "),
                f"the record file has a header, {len(serial)} serial events and an end",
                "\n".join(lines[:5] + lines[-3:]))
    # A tampered copy: the first typed byte changed ('e' of echo -> 'f').
    bad = os.path.join(args.workdir, "tampered.rec")
    tampered = []
    done = False
    for l in lines:
        if not done and l.startswith("serial "):
            f = l.split()
            f[3] = ("%02x" % (int(f[3][:2], 16) ^ 3)) + f[3][2:]
            l = " ".join(f)
            done = True
        tampered.append(l)
    with open(bad, "w") as f:
        f.write("\n".join(tampered) + "\n")
    notrec = os.path.join(args.workdir, "notrec.rec")
    with open(notrec, "w") as f:
        f.write("hello\n")
    runs = [Run("replay", base + ["--replay", rec], args.workdir, timeout=args.timeout),
            Run("tampered", base + ["--replay", bad], args.workdir, timeout=args.timeout)]
    for x in runs:
        x.start()
    for x in runs:
        x.join()
        print(f"{x.name}: status {x.status}, {x.seconds:.1f} s wall", flush=True)
    p, t = runs
    ok &= check(p.status == 0 and b"matched" in p.err, "the replay reported a match",
                p.describe())
    ok = compare_runs(r, p, stats=False, ok=ok)
    ok &= check(t.status == 6 and b"replay diverged" in t.err,
                "the tampered record was reported as diverged (status 6)", t.describe())
    n = Run("notrec", base + ["--replay", notrec], args.workdir, timeout=60).start().join()
    ok &= check(n.status == 2 and b"not a softcpu record file" in n.err,
                "a file that is not a record is refused (status 2)", n.describe())
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--workdir")
    ap.add_argument("scenario", choices=["twice", "twice-jit", "record"])
    ap.add_argument("softcpu")
    ap.add_argument("guest_dir")
    args = ap.parse_args()
    for f in ("vmlinuz", "initrd.img"):
        if not os.path.exists(os.path.join(args.guest_dir, f)):
            print(f"FAIL: {args.guest_dir}/{f} is missing (tools/guest/build-image.sh)")
            return 1
    with tempfile.TemporaryDirectory() as tmp:
        if not args.workdir:
            args.workdir = tmp
        os.makedirs(args.workdir, exist_ok=True)
        if args.scenario == "record":
            ok = scenario_record(args)
        else:
            ok = scenario_twice(args, args.scenario == "twice-jit")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
