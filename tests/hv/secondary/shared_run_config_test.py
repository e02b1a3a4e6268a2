#!/usr/bin/env python3
"""`softcpu run --config` of the last example of docs/config.md (two thin partitions with a
shared page and a pool they lend from): the file as documented, with the two guest ROMs of
tests/guest/hv/rtos_shared.c in place of its relative paths and a debug console added to each
partition. Both guests finish their scenarios (cross-partition wake, lending by hypercall) and
ask the primary to stop their own partition; the system then ends (status 1: stopped, not
powered off).

Usage: shared_run_config_test.py SOFTCPU CONFIG_MD ROM_DIR"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import checklist  # check() and the failure count
from checklist import check

SOFTCPU, CONFIG_MD, ROM_DIR = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])

system = checklist.toml_block(CONFIG_MD, 3)

with tempfile.TemporaryDirectory() as d:
    for role in ("a", "b"):
        system = system.replace(f'"tests/guest/hv/rtos_shared_{role}.rom"',
                                '"' + os.path.join(ROM_DIR, f"rtos_shared_{role}.rom") + '"')
    # A debug console for each partition, just before its boot table.
    parts = system.split("  [partition.boot]")
    logs = [os.path.join(d, f"con_{k}.txt") for k in range(len(parts) - 1)]
    system = "".join(
        part + (f'  [[partition.debugcon]]\n  port = 0xE9\n  file = "{logs[k]}"\n\n  [partition.boot]'
                if k < len(logs) else "")
        for k, part in enumerate(parts))
    cfg = os.path.join(d, "shared.toml")
    with open(cfg, "w") as f:
        f.write(system)
    chk = subprocess.run([SOFTCPU, "check-config", cfg], capture_output=True, text=True, timeout=30)
    check("check-config accepts it", chk.returncode == 0 and "1 shared region" in chk.stdout,
          chk.stdout + chk.stderr)
    p = subprocess.run([SOFTCPU, "run", "--config", cfg], capture_output=True, text=True,
                       timeout=50)
    a = open(logs[0]).read() if os.path.exists(logs[0]) else ""
    b = open(logs[1]).read() if os.path.exists(logs[1]) else ""
    detail = f"status {p.returncode}\nstderr:\n{p.stderr}\na:\n{a}\nb:\n{b}"
    check("both partitions stopped at their own request (status 1)",
          p.returncode == 1 and "partition 'a' stopped" in p.stderr
          and "partition 'b' stopped" in p.stderr, detail)
    check("a woke b across the shared page", "cross_wake woken=1" in a
          and "cross_wait result=0 note=1234abcd" in b, detail)
    check("a lent b 8K and got it back zeroed",
          "lent=0 after_lend=ffffffff wait=0 b_result=0 after_return=0" in a
          and "borrow nonzero=0 wrote=5a5a5a5a back=0 after_back=ffffffff" in b, detail)
    check("both ran to the end", "done a" in a and "done b" in b and "FAIL" not in a + b, detail)

sys.exit(1 if checklist.failures else 0)
