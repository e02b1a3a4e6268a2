#!/usr/bin/env python3
"""gdb at an instruction count of a replayed run (docs/determinism.md): record a run of
tests/guest/gdb/gdb_guest.asm, replay it under the real gdb (`--replay FILE -s -S`), stop with
`monitor break-icount N` + `continue` at counts N, and check `monitor icount` says N, that two
replays stop at the same place, and that stepping N instructions from the start arrives at the
same place as break-icount N. Also the command-line errors of --record/--replay/--icount/--rtc.
Usage: replay_gdb_test.py SOFTCPU GDB_GUEST_ROM"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

import checklist
from checklist import check

SOFTCPU = sys.argv[1]
ROM = sys.argv[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gdb_replay(rec, cmds):
    """Replay `rec` frozen under gdb running `cmds`; returns (gdb output, softcpu status, stderr)."""
    port = free_port()
    p = subprocess.Popen([SOFTCPU, "run", "--bios", ROM, "--serial", "none", "--timeout", "60",
                          "--replay", rec, "--gdb", f"tcp:127.0.0.1:{port}", "-S"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    p.stderr.readline()  # the banner: the port listens
    args = ["gdb", "-batch", "-nx", "-ex", "set architecture i386", "-ex",
            f"target remote :{port}"]
    for c in cmds:
        args += ["-ex", c]
    try:
        g = subprocess.run(args, capture_output=True, text=True, timeout=90,
                           stdin=subprocess.DEVNULL)
        out = g.stdout + g.stderr
    except subprocess.TimeoutExpired:
        out = "[gdb timed out]"
    try:
        status = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        status = p.wait()
    return out, status, p.stderr.read()


def where(out, tag):
    m = re.search(rf"^{tag} pc=(0x[0-9a-f]+) cs=(0x[0-9a-f]+) eax=(0x[0-9a-f]+)$", out, re.M)
    return m.groups() if m else None


def main():
    tmp = tempfile.mkdtemp()
    try:
        rec = os.path.join(tmp, "rom.rec")
        r = subprocess.run([SOFTCPU, "run", "--bios", ROM, "--serial", "none", "--timeout", "60",
                            "--record", rec], capture_output=True, text=True, timeout=90)
        lines = open(rec).read().splitlines() if os.path.exists(rec) else []
        end = [l for l in lines if l.startswith("end ")]
        check("the ROM run was recorded", r.returncode == 255 and len(end) == 1,
              f"status {r.returncode}, {r.stderr[-300:]}, lines {lines[-3:]}")
        total = int(end[0].split()[1]) if end else 0
        check("the recorded run retired instructions", total > 20, str(total))
        # Replay plainly first: it must match.
        p = subprocess.run([SOFTCPU, "run", "--bios", ROM, "--serial", "none", "--timeout", "60",
                            "--replay", rec], capture_output=True, text=True, timeout=90)
        check("a plain replay matches", p.returncode == 255 and "matched" in p.stderr,
              f"status {p.returncode}: {p.stderr[-300:]}")

        if not shutil.which("gdb"):
            print("SKIP: gdb is not installed (the gdb parts)")
            return 0 if not checklist.failures else 1
        n1, n2 = 7, total // 2
        show = "printf \"%s pc=%%#x cs=%%#x eax=%%#x\\n\", $pc, $cs, $eax"
        cmds = ["monitor icount", show % "START",
                f"monitor break-icount {n1}", "continue", "monitor icount", show % "AT1",
                f"monitor break-icount {n2}", "continue", "monitor icount", show % "AT2",
                "monitor break-icount 1", "continue"]
        out, status, err = gdb_replay(rec, cmds)
        counts = re.findall(r"^(\d+)$", out, re.M)
        check("monitor icount is 0 at the start, then the counts asked for",
              counts[:3] == ["0", str(n1), str(n2)], f"{counts}\n{out}")
        check("break-icount confirms", f"the guest stops at instruction {n1}" in out, out)
        check("a count already past is refused", "instruction 1 is already past" in out, out)
        check("the replay ran to its end under gdb and matched",
              status == 255 and "matched" in err, f"status {status}: {err[-400:]}")
        a1, a2 = where(out, "AT1"), where(out, "AT2")
        check("gdb stopped at both counts", a1 and a2, out)
        # The same stops in a second replay, and N stepi from the start land at the same place.
        out2, _, _ = gdb_replay(rec, [f"monitor break-icount {n2}", "continue", show % "AT2"])
        check("a second replay stops at the same place", where(out2, "AT2") == a2,
              f"{where(out2, 'AT2')} vs {a2}")
        out3, _, _ = gdb_replay(rec, [f"stepi {n1}", "monitor icount", show % "AT1"])
        check(f"stepi {n1} arrives where break-icount {n1} stopped",
              where(out3, "AT1") == a1 and re.search(rf"^{n1}$", out3, re.M),
              f"{where(out3, 'AT1')} vs {a1}\n{out3}")

        # Command-line errors: each a clear message and status 2.
        def bad(args, pattern, name):
            b = subprocess.run([SOFTCPU, "run", "--bios", ROM, "--serial", "none", *args],
                               capture_output=True, text=True, timeout=30)
            check(name, b.returncode == 2 and re.search(pattern, b.stderr),
                  f"status {b.returncode}: {b.stderr}")
        bad(["--icount", "21"], r"bad --icount '21'", "--icount out of range")
        bad(["--rtc", "base=2025-02-30"], r"bad --rtc 'base=2025-02-30'", "--rtc bad date")
        bad(["--record", rec, "--replay", rec], r"exclude each other", "--record with --replay")
        bad(["--replay", os.path.join(tmp, "missing.rec")], r"cannot open record file",
            "--replay of a missing file")
        trunc = os.path.join(tmp, "trunc.rec")
        with open(trunc, "w") as f:
            f.write("\n".join(lines[:-1]) + "\n")
        bad(["--replay", trunc], r"no end line", "--replay of a truncated record")
        other = os.path.join(tmp, "v9.rec")
        with open(other, "w") as f:
            f.write("softcpu-replay 9\n")
        bad(["--replay", other], r"version '9'", "--replay of another format version")
        bad(["--replay", rec, "--icount", "3"], r"made with --icount 0, this run has 3",
            "--replay with another --icount")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if checklist.failures else 0


if __name__ == "__main__":
    sys.exit(main())
