"""`softcpu run --config` of a thin partition with two processors (vcpus = 2, vcpu_threads =
"multi") on a secondary hypervisor whose processor set has two threads: check-config accepts
it, the guest (tests/guest/hv/rtos_smp.c) gets the exact LOCK XADD total and finishes its
ping-pong, and `--stats` shows both vCPUs on the secondary's set, each with instructions.

Usage: smp_run_config_test.py SOFTCPU RTOS_SMP_ROM"""
import os
import re
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
threads = 2
[[hypervisor]]
name = "primary"
processor_set = "host"
[[hypervisor]]
name = "rt"
kind = "secondary"
processor_set = "rt0"
scheduler = "priority"
priorities = [1, 200]
[[partition]]
name = "rtos"
hypervisor = "rt"
priority = 10
priority_range = [1, 200]
vcpus = 2
vcpu_threads = "multi"
timeout = 100
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
    con = os.path.join(d, "con.txt")
    cfg = os.path.join(d, "smp.toml")
    with open(cfg, "w") as f:
        f.write(SYSTEM.format(con=con, rom=ROM))
    p = subprocess.run([SOFTCPU, "check-config", cfg], capture_output=True, text=True, timeout=30)
    check("check-config accepts vcpu_threads = \"multi\" for a thin partition",
          p.returncode == 0 and "2 vCPUs" in p.stdout, p.stdout + p.stderr)
    p = subprocess.run([SOFTCPU, "run", "--config", cfg, "--stats"], capture_output=True,
                       text=True, timeout=110)
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

sys.exit(1 if checklist.failures else 0)
