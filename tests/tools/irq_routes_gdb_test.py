#!/usr/bin/env python3
"""`monitor info irq-routes` through the real gdb (docs/design.md "Interrupt routing table"):
the single guest has every device on its PC/AT line; a one-partition system (`run --config`)
shows only the devices its partition is given, with the file's route. Both guests are a
`jmp $` ROM that gdb interrupts.
Usage: irq_routes_gdb_test.py SOFTCPU"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import checklist
from checklist import check

SOFTCPU = sys.argv[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gdb_monitor(args, port, command):
    """Start softcpu with `args` (it listens for gdb on `port`), run `monitor COMMAND` in gdb;
    returns gdb's output."""
    p = subprocess.Popen([SOFTCPU, "run", *args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    banner = ""
    while "gdb" not in banner:  # the port listens once the banner is out
        line = p.stderr.readline()
        if not line:
            break
        banner += line
    try:
        g = subprocess.run(["gdb", "-batch", "-nx", "-ex", "set architecture i386",
                            "-ex", f"target remote :{port}", "-ex", f"monitor {command}"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        out = g.stdout + g.stderr
    except subprocess.TimeoutExpired:
        out = "[gdb timed out]"
    p.kill()
    p.wait()
    return banner + out


def main():
    if not shutil.which("gdb"):
        print("SKIP: gdb is not installed")
        return 0
    tmp = tempfile.mkdtemp()
    try:
        rom = os.path.join(tmp, "loop.rom")
        with open(rom, "wb") as f:
            f.write(b"\xF4" * (64 * 1024 - 16) + b"\xEB\xFE" + b"\xF4" * 14)  # jmp $ at reset
        disk = os.path.join(tmp, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)

        port = free_port()
        out = gdb_monitor(["--bios", rom, "--serial", "none", "--timeout", "30", "--drive",
                           f"file={disk},snapshot=on", "--gdb", f"tcp:127.0.0.1:{port}", "-S"],
                          port, "info irq-routes")
        for line in ["ide0   0 -> gsi 14  8259 IRQ 14  IOAPIC pin 14  asserted 0",
                     "ide1   0 -> gsi 15  8259 IRQ 15  IOAPIC pin 15  asserted 0",
                     "com1   0 -> gsi 4   8259 IRQ 4   IOAPIC pin 4   asserted 0"]:
            check(f"the single guest's table has '{line.split(' ->')[0]}' on its PC/AT line",
                  line in out, out)

        port = free_port()
        cfg = os.path.join(tmp, "one.toml")
        with open(cfg, "w") as f:
            f.write(f"""machine_memory = "16M"
[[processor_set]]
name = "host"
[[hypervisor]]
name = "primary"
processor_set = "host"
[[partition]]
name = "p"
timeout = 30
gdb = "tcp:127.0.0.1:{port}"
  [[partition.memory]]
  base = 0
  size = "16M"
  [[partition.disk]]
  file = "disk.img"
  snapshot = true
  [[partition.irq]]
  device = "ide0"
  gsi = 11
  [partition.boot]
  bios = "loop.rom"
""")
        out = gdb_monitor(["--config", cfg], port, "info irq-routes")
        check("the partition's table routes ide0 to gsi 11",
              "ide0   0 -> gsi 11  8259 IRQ 11  IOAPIC pin 11  asserted 0" in out, out)
        check("the partition's table has nothing for devices it is not given",
              "ide1" not in out and "com1" not in out, out)
        out = gdb_monitor(["--config", cfg], port, "help")
        check("monitor help lists info irq-routes", "info irq-routes" in out, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if checklist.failures else 0


if __name__ == "__main__":
    sys.exit(main())
