#!/usr/bin/env python3
"""`softcpu check-config FILE` and `softcpu run --config FILE` end to end: the two-Linux
example of docs/config.md (taken from the doc, so the doc cannot rot) passes check-config; bad
files are rejected with status 2 and FILE:LINE messages; a one-partition file runs a guest ROM
exactly as the same options on the command line do; `vcpus = 2` runs the two-CPU guest
SMP_ROM (tests/guest/platform/smp_counter.c) as -smp 2 does.
Usage: config_cli_test.py SOFTCPU DOCS_CONFIG_MD GUEST_ROM [SMP_ROM]"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklist  # check() and the failure count
from checklist import check
from test_roms import rom_with_reset_code

SOFTCPU, DOC, GUEST_ROM = sys.argv[1:4]
SMP_ROM = sys.argv[4] if len(sys.argv) > 4 else None


def run(args, timeout=60):
    p = subprocess.run([SOFTCPU] + args, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def toml_blocks(path):
    return re.findall(r"```toml\n(.*?)```", open(path).read(), re.S)


HEAD = """machine_memory = "256M"
[[processor_set]]
name = "host"
[[hypervisor]]
name = "primary"
processor_set = "host"
"""


def one_partition(rom, extra="", sub=""):
    return HEAD + f"""[[partition]]
name = "guest"
{extra}[[partition.memory]]
base = 0
size = "16M"
{sub}[partition.boot]
bios = "{rom}"
"""


with tempfile.TemporaryDirectory() as d:
    def write(name, data):
        path = os.path.join(d, name)
        with open(path, "w" if isinstance(data, str) else "wb") as f:
            f.write(data)
        return path

    blocks = toml_blocks(DOC)
    check("docs/config.md has the two examples", len(blocks) >= 2, len(blocks))
    example = write("two-linux.toml", blocks[0])
    code, out, err = run(["check-config", example])
    check("check-config accepts the documented example", code == 0 and err == "" and
          out == example + ": ok: 2 partitions: web (1 vCPU, 256M), db (2 vCPUs, 256M); "
          "2 hypervisors on 2 processor sets; 640M of 1G machine memory used\n", (code, out, err))
    code, out, err = run(["check-config", write("one.toml", blocks[1])])
    check("check-config accepts the one-partition example", code == 0 and "ok: 1 partition" in out,
          (code, out, err))

    # Several mistakes in one file: each reported with its line, then a count; status 2.
    bad = blocks[0].replace('vcpus = 2', 'vcpus = 0').replace(
        'gsi = 4', 'gsi = 4\n  colour = "blue"').replace('machine_memory = "1G"',
                                                         'machine_memory = "512M"')
    lines = bad.split("\n")
    vline = lines.index("vcpus = 0") + 1
    cline = lines.index('  colour = "blue"') + 1
    bad_path = write("bad.toml", bad)
    code, out, err = run(["check-config", bad_path])
    check("check-config rejects a bad file with status 2", code == 2 and out == "", (code, out))
    check("vcpus = 0 is reported on its line",
          f"{bad_path}:{vline}:" in err and "'vcpus' in partition 'db' is 0" in err, err)
    check("an unknown key is reported on its line",
          f"{bad_path}:{cline}:3: unknown key 'colour' in an irq route of partition 'db'" in err, err)
    check("too much memory is reported", "need 640M but machine_memory is 512M" in err, err)
    check("the errors are counted", err.endswith(f"softcpu: 3 errors in {bad_path}\n"), err)

    syntax = write("syntax.toml", HEAD + "[[partition]\n")
    code, out, err = run(["check-config", syntax])
    check("a TOML syntax error gives its line and status 2",
          code == 2 and f"{syntax}:{HEAD.count(chr(10)) + 1}:" in err and "TOML syntax" in err,
          (code, err))
    code, out, err = run(["check-config", os.path.join(d, "missing.toml")])
    check("a missing file is an error", code == 2 and "cannot read the file" in err, (code, err))
    code, out, err = run(["check-config"])
    check("check-config without a file is a usage error",
          code == 2 and "usage: softcpu check-config FILE" in err, (code, err))
    code, out, err = run(["run", "--config", example])
    # The secondary hypervisor is built (issue 14); here the example stops at its first
    # partition's disk, which the temporary folder lacks (and its 2-vCPU "db" needs SMP).
    check("run --config of the example is refused with one clear message",
          code == 2 and err.startswith(f"softcpu: {example}: ") and err.count("\n") == 1,
          (code, err))
    code, out, err = run(["run", "--config", example, "--jit", "on"])
    check("run --config takes no other option", code == 2 and "takes no other option" in err,
          (code, err))

    # A one-partition system runs the ROM as `run --bios ROM` does: same status, same output.
    cfg = write("rom.toml", one_partition(GUEST_ROM, sub='[[partition.debugcon]]\nport = 0xE9\nfile = "-"\n'))
    want = run(["run", "--bios", GUEST_ROM, "--debugcon", "0xE9:-", "-m", "16"])
    got = run(["run", "--config", cfg])
    check("run --config runs the guest ROM like the command line", got == want and want[0] == 1,
          f"command line {want}, --config {got}")
    if SMP_ROM:  # a partition's vcpus = 2 is -smp 2 (docs/design.md "SMP vCPUs")
        smp_cfg = write("smp.toml", one_partition(
            SMP_ROM, "vcpus = 2\n", sub='[[partition.debugcon]]\nport = 0xE9\nfile = "-"\n'))
        code, out, err = run(["run", "--config", smp_cfg])
        check("vcpus = 2 starts the second CPU and counts to the exact total",
              code == 1 and "smp_counter: ok" in out, (code, out, err))
        # ... on two host threads, each CPU thread with its own JIT (docs/design.md "Tier 1 on
        # CPU threads"): cpu1.jit.requests counts the blocks CPU 1 made hot for its translator
        # (the guest may end before its compile thread delivers one).
        jit_cfg = write("smp_jit.toml", one_partition(
            SMP_ROM, 'vcpus = 2\nvcpu_threads = "multi"\njit = true\njit_threshold = 200\n',
            sub='[[partition.debugcon]]\nport = 0xE9\nfile = "-"\n').replace(
                'name = "host"\n', 'name = "host"\nthreads = 2\n', 1))
        code, out, err = run(["run", "--config", jit_cfg, "--stats=json"])
        stats = json.loads(err[err.find("{"):]) if "{" in err else {}
        cpu1_requests = stats.get("cpu1", {}).get("jit", {}).get("requests", 0)
        check('vcpus = 2, vcpu_threads = "multi", jit = true: the exact total, and CPU 1\'s '
              'own translator had requests', code == 1 and "smp_counter: ok" in out and
              "the JIT is off" not in err and cpu1_requests > 0, (code, out, err[-1500:]))
    # Paths in the file are relative to its folder.
    exit_rom = write("exit.rom", rom_with_reset_code(b"\xB0\x21\xE6\xF4\xF4"))  # out 0xF4, 0x21
    code, out, err = run(["run", "--config", write("rel.toml", one_partition("exit.rom"))])
    check("a relative bios path is found next to the file; debug-exit status", code == 0x43,
          (code, err))
    loop = write("loop.rom", rom_with_reset_code(b"\xEB\xFE"))  # jmp $
    code, out, err = run(["run", "--config", write("loop.toml", one_partition(loop, "timeout = 0.5\n"))])
    check("timeout in the file stops the guest with status 124", code == 124 and "timeout" in err,
          (code, err))
    code, out, err = run(["run", "--config", write("gap.toml", one_partition(
        exit_rom, sub='[[partition.memory]]\nbase = "32M"\nsize = "16M"\n'))])
    check("a memory gap is refused by the single-guest runner",
          code == 2 and "gap at 0x1000000" in err, (code, err))

    # Two partitions run under the primary hypervisor: the system ends when the one that must
    # (exit_on_poweroff) stops, with its status; the other is stopped, and both are listed.
    def partition(name, rom, extra=""):
        return f"""[[partition]]
name = "{name}"
{extra}[[partition.memory]]
base = 0
size = "16M"
[partition.boot]
bios = "{rom}"
"""
    two = write("two.toml", HEAD + partition("first", exit_rom) +
                partition("second", loop, "exit_on_poweroff = false\n"))
    code, out, err = run(["run", "--config", two])
    check("two partitions: the system exits with the deciding partition's status",
          code == 0x43, (code, err))
    check("two partitions: both are listed at the end",
          re.search(r"^first\b", err, re.M) and re.search(r"^second\b", err, re.M), err)

sys.exit(1 if checklist.failures else 0)
