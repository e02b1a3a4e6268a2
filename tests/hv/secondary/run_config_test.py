#!/usr/bin/env python3
"""`softcpu run --config` of a system with a thin partition on the secondary hypervisor: the RTOS
test guest (tests/guest/hv/rtos_tests.c) runs its scenarios through the hypercalls, writes
"done" on its debug console and asks the primary to stop its partition; the system ends with
status 1 (the partition stopped rather than powered off) and the partition table on stderr.
The same file with priority_inheritance = false shows the inversion (H after M's spin).

With --smp, the partition has two processors (vcpus = 2, vcpu_threads = "multi") on a
two-thread set and runs tests/guest/hv/rtos_smp.c: check-config accepts it, the LOCK XADD total
is exact, the ping-pong finishes and `--stats` shows both vCPUs on the secondary's set, each
with instructions (docs/design.md "A thin partition on several workers").

Usage: run_config_test.py [--smp] SOFTCPU ROM"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import checklist  # check() and the failure count
from checklist import check

# The partition's timeout and ours are guards: 12 times longer under ThreadSanitizer
# (HV_TIME_SCALE from ctest, tests/CMakeLists.txt), where the guest runs ~30 times slower.
SCALE = int(os.environ.get("HV_TIME_SCALE", "1"))
SMP = sys.argv[1] == "--smp"
SOFTCPU, ROM = sys.argv[2:4] if SMP else sys.argv[1:3]

SYSTEM = """machine_memory = "64M"
[[processor_set]]
name = "host"
[[processor_set]]
name = "rt0"
{set_threads}[[hypervisor]]
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
{vcpus}timeout = {timeout}
[[partition.memory]]
base = 0
size = "2M"
[[partition.debugcon]]
port = 0xE9
file = "{con}"
[partition.boot]
bios = "{rom}"
"""

def run_smp(d):
    con = os.path.join(d, "con.txt")
    cfg = os.path.join(d, "smp.toml")
    with open(cfg, "w") as f:
        f.write(SYSTEM.format(inherit="true", con=con, rom=ROM, set_threads="threads = 2\n",
                              vcpus='vcpus = 2\nvcpu_threads = "multi"\n', timeout=50 * SCALE))
    p = subprocess.run([SOFTCPU, "check-config", cfg], capture_output=True, text=True, timeout=30)
    check("check-config accepts vcpu_threads = \"multi\" for a thin partition",
          p.returncode == 0 and "2 vCPUs" in p.stdout, p.stdout + p.stderr)
    p = subprocess.run([SOFTCPU, "run", "--config", cfg, "--stats"], capture_output=True,
                       text=True, timeout=90 * SCALE)
    log = open(con).read() if os.path.exists(con) else ""
    detail = f"status {p.returncode}\nstderr:\n{p.stderr}\nconsole:\n{log}"
    m = re.search(r"counter=(\d+) expected=(\d+)", log)
    check("the LOCK XADD total is exact", m is not None and m.group(1) == m.group(2), detail)
    check("the ping-pong finished", "pingpong rounds=200 pong=200" in log and "smp done" in log,
          detail)
    for k in (0, 1):
        v = re.search(rf"vcpu {k} +instructions (\d+),.* on rt \(set rt0\)", p.stderr)
        check(f"vCPU {k} ran on the secondary's set", v is not None and int(v.group(1)) > 0,
              detail)


with tempfile.TemporaryDirectory() as d:
    for inherit in () if SMP else ("true", "false"):
        con = os.path.join(d, f"con_{inherit}.txt")
        cfg = os.path.join(d, f"rtos_{inherit}.toml")
        with open(cfg, "w") as f:
            f.write(SYSTEM.format(inherit=inherit, con=con, rom=ROM, set_threads="", vcpus="",
                                  timeout=50 * SCALE))
        p = subprocess.run([SOFTCPU, "run", "--config", cfg], capture_output=True, text=True,
                           timeout=90 * SCALE)
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
    if SMP:
        run_smp(d)

sys.exit(1 if checklist.failures else 0)
