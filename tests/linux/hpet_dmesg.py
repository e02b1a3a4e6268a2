#!/usr/bin/env python3
"""Boot the default Linux guest and check that it finds and uses the HPET.

usage: hpet_dmesg.py [--timeout SEC] -- SOFTCPU-COMMAND...

The kernel log on the serial console must show the ACPI HPET table, the HPET clocksource and
the hpet0 device with its three comparators at 100 MHz, the timer interrupt through IOAPIC
pin 2 (which the HPET's legacy route drives once Linux takes it as its clockevent), and
none of Linux's HPET complaints; at the shell, hpet must still be an available clocksource
(the TSC watchdog did not throw it out). Then `poweroff -f`. Exit status 0 means pass.
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest_session import Console, Failure, boot_to_prompt  # noqa: E402

EXPECTED = [
    r"ACPI: HPET id: 0x8086a201 base: 0xfed00000",
    r"clocksource: hpet: mask: 0xffffffff",
    r"hpet0: at MMIO 0xfed00000, IRQs 2, 8, 0",
    r"hpet0: 3 comparators, 64-bit 100\.000000 MHz counter",
    r"\.\.TIMER: vector=0x30 apic1=0 pin1=2",
]
# arch/x86/kernel/hpet.c and io_apic.c messages for an HPET or timer that does not work.
FORBIDDEN = [
    r"HPET counter not counting",
    r"HPET period too",
    r"HPET not enabled",
    r"timekeeping watchdog.*hpet",
    r"IO-APIC \+ timer doesn't work",
    r"hpet.*unstable",
]


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit(__doc__)
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    con = Console(cmd, time.monotonic() + args.timeout)
    try:
        boot_to_prompt(con)
        log = con.text()
        for pattern in EXPECTED:
            if not re.search(pattern, log):
                raise Failure(f"the kernel log lacks {pattern!r}")
        for pattern in FORBIDDEN:
            m = re.search(pattern, log, re.I)
            if m:
                raise Failure(f"the kernel log says {m.group(0)!r}")
        out = con.run("cat /sys/devices/system/clocksource/clocksource0/available_clocksource",
                      "the clocksources")
        if "hpet" not in out.split():
            raise Failure(f"hpet is not an available clocksource: {out!r}")
        con.type_line("poweroff -f")
        status = con.wait_exit()
        if status != 0:
            raise Failure(f"exit status {status} after poweroff")
    except Failure as e:
        con.kill()
        print(f"\n===== hpet_dmesg: FAILED: {e}", flush=True)
        return 1
    finally:
        con.kill()
    print("\nhpet_dmesg: PASSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
