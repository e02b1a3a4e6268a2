#!/usr/bin/env python3
"""faults.misbehave.CASE: a misbehaving guest (misbehave.c) ends or continues as documented
(`softcpu --help`: exit statuses), within its timeout, with peak RSS under a bound.

usage: misbehave_test.py SOFTCPU ROM_DIR CASE"""
import os
import re
import subprocess
import sys
import threading
import time

RSS_LIMIT_KIB = 256 * 1024  # an idle ROM guest peaks near 80 MiB on our builds

# case: (rom, extra options, --timeout, expected status, stdout pattern, stderr pattern)
CASES = {
    "triple_reset": ("triple", [], 20, 1, r"running again after the triple-fault reset",
                     r"triple fault at .*\n(.*\n)*softcpu: resetting the machine"),
    "triple_exit": ("triple", ["--on-triple-fault", "exit"], 20, 3, r"triple fault now",
                    r"triple fault at 0008:[0-9a-f]+ .*\n.*EAX="),
    "hlt_cli": ("hlt_cli", [], 20, 0, r"cli; hlt", r"halted with interrupts disabled"),
    "serial_flood": ("serial_flood", ["--serial", "stdio"], 4, 124, r"(ABCDEFGHIJKLMNOPQRSTUVWXYZ){100}",
                     r"timeout after 4 seconds"),
    "debugcon_flood": ("debugcon_flood", [], 4, 124, r"(abcdefghijklmnopqrstuvwxyz){2}",
                       r"timeout after 4 seconds"),
    "pit_max": ("pit_max", [], 4, 124, r"misbehave: [1-9]\d*000 PIT interrupts",
                r"timeout after 4 seconds"),
    "all_ports": ("all_ports", [], 40, 1, r"pass 0 over all ports done\s+misbehave: pass 1", r""),
}


def main():
    softcpu, rom_dir, case = sys.argv[1:4]
    rom, extra, timeout, want_status, out_rx, err_rx = CASES[case]
    cmd = [softcpu, "run", "--bios", os.path.join(rom_dir, f"misbehave_{rom}.rom"),
           "--debugcon", "0xE9:-", "--timeout", str(timeout), *extra]
    if "--serial" not in extra:
        cmd += ["--serial", "none"]
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Keep only the first MiB of a flood (and count the rest), as a terminal would scroll.
    got = {"out": bytearray(), "err": bytearray(), "out_bytes": 0}

    def pump(stream, key):
        while True:
            data = stream.read1(65536)
            if not data:
                return
            if key == "out":
                got["out_bytes"] += len(data)
            if len(got[key]) < (1 << 20):
                got[key] += data

    threads = [threading.Thread(target=pump, args=(p.stdout, "out")),
               threading.Thread(target=pump, args=(p.stderr, "err"))]
    for t in threads:
        t.start()
    _, wait_status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(wait_status)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    out = got["out"].decode("latin-1")
    err = got["err"].decode("latin-1")
    print(f"{case}: status {p.returncode} after {elapsed:.1f} s, peak RSS "
          f"{usage.ru_maxrss // 1024} MiB, {got['out_bytes']} bytes of output")
    print("stderr:", err.strip()[-2000:])
    print("stdout (start):", out[:300].strip())
    failures = []
    if p.returncode != want_status:
        failures.append(f"exit status {p.returncode}, expected {want_status}")
    if not re.search(out_rx, out):
        failures.append(f"stdout does not match {out_rx!r}")
    if err_rx and not re.search(err_rx, err):
        failures.append(f"stderr does not match {err_rx!r}")
    if usage.ru_maxrss > RSS_LIMIT_KIB:
        failures.append(f"peak RSS {usage.ru_maxrss} KiB over {RSS_LIMIT_KIB} KiB")
    if elapsed > timeout + 30:
        failures.append(f"took {elapsed:.0f} s with --timeout {timeout}")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
