#!/usr/bin/env python3
"""Memory use of a long Linux run (measured once for docs/design.md, not a ctest).

usage: rss_soak.py [--seconds N] [--interval S] -- SOFTCPU_COMMAND...

Boots the default guest with the given softcpu command (serial on stdio), records the peak RSS
(VmHWM) at the shell prompt, starts a busy shell loop in the guest (process creation, file
writes in tmpfs, /proc reads), samples VmRSS every INTERVAL seconds for N seconds, then powers
off and prints the samples and the growth."""
import argparse
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "linux"))
import guest_session  # noqa: E402


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def main():
    argv = sys.argv[1:]
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--interval", type=float, default=10)
    args = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    start = time.monotonic()
    con = guest_session.Console(cmd, start + args.seconds + 900)
    sys.stdout = open(os.devnull, "w") if False else sys.stdout
    try:
        guest_session.boot_to_prompt(con)
        pid = con.proc.pid
        boot_s = time.monotonic() - start
        hwm_boot = status_kib(pid, "VmHWM")
        rss_boot = status_kib(pid, "VmRSS")
        print(f"rss_soak: prompt after {boot_s:.1f} s; VmRSS {rss_boot} KiB, VmHWM {hwm_boot} KiB",
              file=sys.stderr, flush=True)
        con.type_line("(while :; do ls -lR /proc/self >/dev/null 2>&1; date >>/tmp/log; "
                      "cat /proc/meminfo >/dev/null; [ $(wc -l </tmp/log) -gt 1000 ] && "
                      ": >/tmp/log; done) &")
        samples = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            time.sleep(args.interval)
            samples.append((round(time.monotonic() - t0), status_kib(pid, "VmRSS")))
            # As they come (stderr): a run that fails at its end still shows them.
            print(f"rss_soak: t={samples[-1][0]:4d} s  VmRSS {samples[-1][1]} KiB",
                  file=sys.stderr, flush=True)
        hwm_end = status_kib(pid, "VmHWM")
        con.type_line("poweroff -f")
        con.wait_exit()
    finally:
        con.kill()
    print("\n==== rss_soak")
    print(f"prompt after {boot_s:.1f} s; VmRSS {rss_boot} KiB, peak (VmHWM) {hwm_boot} KiB")
    for t, rss in samples:
        print(f"  t={t:4d} s  VmRSS {rss} KiB")
    first = samples[0][1] if samples else rss_boot
    last = samples[-1][1] if samples else rss_boot
    print(f"growth over the loop: {last - first} KiB (first sample {first}, last {last}); "
          f"peak at the end {hwm_end} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
