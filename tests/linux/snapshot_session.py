#!/usr/bin/env python3
"""Machine snapshots with the default Linux guest (docs/snapshot.md).

usage: snapshot_session.py --softcpu BIN --guest DIR --work DIR [--timeout SEC] [--maker BIN]
                           [--jit]

With --maker BIN (or SOFTCPU_SNAPSHOT_MAKER in the environment) BIN makes the snapshot (step 1)
and --softcpu runs from it: `make test-tsan` has the release build boot Linux, which is too slow
under ThreadSanitizer, and the instrumented one run the rest (docs/hardening.md
"ThreadSanitizer"). --jit runs step 2 with the JIT on (its compile thread).

1. Cold boot (--kernel, a snapshot=on disk, --save-on-exit FILE): wait for the shell, run a
   command, then SIGTERM: the run ends and the machine is saved at the shell.
2. A new process with --loadvm FILE: the shell answers at once; run the same command, compare
   its output with the cold boot's; with gdb installed, `monitor savevm` and `monitor loadvm`
   through the GDB stub, the shell still answering after each; `poweroff -f`, exit status 0.
3. A damaged copy (one byte flipped), a truncated copy and a differently configured machine
   (-m) are refused: exit status 2 and a message naming the problem.
Prints the times (cold boot to the shell's answer, --loadvm to the shell's answer) and the
snapshot file's size.
"""
import argparse
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest_session import Console, Failure, boot_to_prompt  # noqa: E402

APPEND = "console=ttyS0 cryptomgr.notests noisapnp"
COMMAND = "uname -r; echo $((6*7)); cat /proc/cmdline"
KERNEL_LOG = re.compile(r"^\[ *\d+\.\d+\] ")


def result_lines(out):
    """The command's output: the lines after the last echo of the typed line (a shell's line
    editor may redraw it), without kernel log lines and blank lines."""
    lines = [l.rstrip("\r") for l in out.split("\n")]
    last = max((i for i, l in enumerate(lines) if "echo END" in l), default=-1)
    return [l for l in lines[last + 1:] if l.strip() and not KERNEL_LOG.match(l)]


def refused(cmd, pattern, what):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    print(f"{what}: exit {p.returncode}: {p.stderr.strip()}")
    if p.returncode != 2 or not re.search(pattern, p.stderr):
        raise Failure(f"{what}: expected exit status 2 and /{pattern}/, got {p.returncode}: "
                      f"{p.stderr!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--softcpu", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--maker", default=os.environ.get("SOFTCPU_SNAPSHOT_MAKER") or None)
    ap.add_argument("--jit", action="store_true")
    args = ap.parse_args()
    for f in ("vmlinuz", "initrd.img", "disk.img"):
        if not os.path.exists(os.path.join(args.guest, f)):
            print(f"missing {args.guest}/{f}: run tools/guest/build-image.sh first")
            return 1
    os.makedirs(args.work, exist_ok=True)
    snap = os.path.join(args.work, "shell.snap")
    if os.path.exists(snap):
        os.remove(snap)
    disk = ["--drive", f"file={os.path.join(args.guest, 'disk.img')},snapshot=on"]
    base = [args.softcpu, "run", "-m", "128"] + disk
    deadline = time.monotonic() + args.timeout

    def cpu_seconds():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    # 1. Cold boot, command, SIGTERM -> saved.
    t0 = time.monotonic()
    c0 = cpu_seconds()
    maker = [args.maker or args.softcpu] + base[1:]
    con = Console(maker + ["--kernel", os.path.join(args.guest, "vmlinuz"), "--initrd",
                          os.path.join(args.guest, "initrd.img"), "--append", APPEND,
                          "--save-on-exit", snap], deadline)
    try:
        boot_to_prompt(con)
        cold_out = con.run(COMMAND, "the command (cold boot)")
        cold_time = time.monotonic() - t0
        con.proc.send_signal(signal.SIGTERM)
        status = con.wait_exit()
        cold_cpu = cpu_seconds() - c0  # includes the save
        if status != 128 + signal.SIGTERM:
            raise Failure(f"the first run ended with status {status}, expected "
                          f"{128 + signal.SIGTERM}")
        m = re.search(r"saved the machine to \S+ \((\d+) bytes; (\d+) of (\d+) RAM pages",
                      con.text())
        if not m or not os.path.exists(snap):
            raise Failure("no snapshot was saved at the end of the first run")
        size, zero, pages = (int(g) for g in m.groups())
        if size != os.path.getsize(snap):
            raise Failure(f"the reported size {size} is not the file's {os.path.getsize(snap)}")
    except Failure:
        con.kill()
        raise

    # 2. Restore, the same command, gdb's `monitor savevm` (if gdb is installed), poweroff.
    gdb = shutil.which("gdb")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gdb_snap = os.path.join(args.work, "gdb.snap")
    if os.path.exists(gdb_snap):
        os.remove(gdb_snap)
    t0 = time.monotonic()
    c0 = cpu_seconds()
    con = Console(base + ["--loadvm", snap] + (["--gdb", f"tcp:127.0.0.1:{port}"] if gdb else []) +
                  (["--jit", "on", "--jit-threshold", "1000"] if args.jit else []), deadline)
    try:
        warm_out = con.run(COMMAND, "the command (after --loadvm)")
        warm_time = time.monotonic() - t0
        if gdb:
            g = subprocess.run([gdb, "-nx", "-batch", "-ex", f"target remote 127.0.0.1:{port}",
                                "-ex", f"monitor savevm {gdb_snap}", "-ex", "detach"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=120)
            print(g.stdout + g.stderr)
            if "saved the machine to" not in g.stdout + g.stderr or not os.path.exists(gdb_snap):
                raise Failure("gdb's 'monitor savevm' did not save the machine")
            out = con.run("echo after-gdb", "a command after gdb detached")
            if "after-gdb" not in out:
                raise Failure(f"the guest did not go on after gdb detached: {out!r}")
            # `monitor loadvm` into the running machine: back to the cold boot's shell (its
            # shell history has one command less; the console just goes on).
            g = subprocess.run([gdb, "-nx", "-batch", "-ex", f"target remote 127.0.0.1:{port}",
                                "-ex", f"monitor loadvm {snap}", "-ex", "detach"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=120)
            print(g.stdout + g.stderr)
            if "loaded the machine from" not in g.stdout + g.stderr:
                raise Failure("gdb's 'monitor loadvm' did not load the machine")
            out = con.run("echo after-loadvm; uptime", "a command after monitor loadvm")
            if "after-loadvm" not in out:
                raise Failure(f"the guest did not go on after monitor loadvm: {out!r}")
        if result_lines(warm_out) != result_lines(cold_out):
            raise Failure(f"the restored guest printed {warm_out!r}, the cold boot {cold_out!r}")
        if "42" not in warm_out:
            raise Failure(f"no 42 in {warm_out!r}")
        con.type_line("poweroff -f")
        status = con.wait_exit()
        warm_cpu = cpu_seconds() - c0  # includes the poweroff
        if status != 0:
            raise Failure(f"the restored guest's poweroff ended with status {status}")
    except Failure:
        con.kill()
        raise

    # 3. Damaged, truncated, differently configured.
    data = open(snap, "rb").read()
    bad = os.path.join(args.work, "damaged.snap")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    open(bad, "wb").write(flipped)
    refused(base + ["--loadvm", bad], r"checksum", "a damaged snapshot")
    open(bad, "wb").write(data[: len(data) // 3])
    refused(base + ["--loadvm", bad], r"truncated|checksum", "a truncated snapshot")
    open(bad, "wb").write(b"XXXXXXXX" + data[8:])
    refused(base + ["--loadvm", bad], r"not a softcpu snapshot", "a file with a bad magic")
    other = [args.softcpu, "run", "-m", "64"] + disk + ["--loadvm", snap]
    refused(other, r"differently configured machine.*RAM: 128 MiB.*RAM: 64 MiB",
            "a snapshot of a 128 MiB machine on 64 MiB")
    refused([args.softcpu, "run", "-m", "128", "--loadvm", snap], r"differently configured",
            "a snapshot with a disk on a machine without one")
    if gdb:  # a well-formed file: refused only for the configuration
        refused([args.softcpu, "run", "-m", "64"] + disk + ["--loadvm", gdb_snap],
                r"differently configured", "gdb's snapshot on 64 MiB")

    print(f"\nRESULT wall time to the command's output: cold boot {cold_time:.2f} s, "
          f"--loadvm {warm_time:.2f} s")
    print(f"RESULT CPU time of the whole process: cold boot {cold_cpu:.2f} s, "
          f"--loadvm {warm_cpu:.2f} s")
    print(f"RESULT snapshot file: {size} bytes; {zero} of {pages} RAM pages zero and skipped; "
          f"without skipping about {size + zero * 4100} bytes")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"\nFAIL: {e}")
        sys.exit(1)
