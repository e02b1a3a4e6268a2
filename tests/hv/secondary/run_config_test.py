#!/usr/bin/env python3
"""`softcpu run --config` of a system with a thin partition on the secondary hypervisor: the RTOS
test guest (tests/guest/hv/rtos_tests.c) runs its scenarios through the hypercalls, writes
"done" on its debug console and asks the primary to stop its partition; the system ends with
status 1 (the partition stopped rather than powered off) and the partition table on stderr.
The same file with priority_inheritance = false shows the inversion (H after M's spin).

Usage: run_config_test.py SOFTCPU RTOS_TESTS_ROM"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import checklist  # check() and the failure count
from checklist import check

SOFTCPU, ROM = sys.argv[1:3]

SYSTEM = """machine_memory = "64M"
[[processor_set]]
name = "host"
[[processor_set]]
name = "rt0"
[[hypervisor]]
name = "primary"
processor_set = "host"
[[hypervisor]]
name = "rt"
kind = "secondary"
processor_set = "rt0"
scheduler = "priority"
priorities = [1, 200]
priority_inheritance = {inherit}
[[partition]]
name = "rtos"
hypervisor = "rt"
priority = 10
priority_range = [1, 200]
timeout = 50
[[partition.memory]]
base = 0
size = "2M"
[[partition.debugcon]]
port = 0xE9
file = "{con}"
[partition.boot]
bios = "{rom}"
"""

with tempfile.TemporaryDirectory() as d:
    for inherit in ("true", "false"):
        con = os.path.join(d, f"con_{inherit}.txt")
        cfg = os.path.join(d, f"rtos_{inherit}.toml")
        with open(cfg, "w") as f:
            f.write(SYSTEM.format(inherit=inherit, con=con, rom=ROM))
        p = subprocess.run([SOFTCPU, "run", "--config", cfg], capture_output=True, text=True,
                           timeout=90)
        log = open(con).read() if os.path.exists(con) else ""
        detail = f"status {p.returncode}\nstderr:\n{p.stderr}\nconsole:\n{log}"
        check(f"inheritance {inherit}: the guest ran every scenario", "\ndone\n" in log
              and "FAIL" not in log, detail)
        check(f"inheritance {inherit}: status 1, the partition stopped at its own request",
              p.returncode == 1 and "partition 'rtos' stopped" in p.stderr, detail)
        check(f"inheritance {inherit}: the console hypercall reached stdout",
              "rtos: console 42 ok" in p.stdout, detail + "\nstdout:\n" + p.stdout)
        line = next((l for l in log.splitlines() if l.startswith("inversion ")), "")
        want = "h_before_m_end=1" if inherit == "true" else "h_before_m_end=0"
        check(f"inheritance {inherit}: {want}", want in line, detail)

sys.exit(1 if checklist.failures else 0)
