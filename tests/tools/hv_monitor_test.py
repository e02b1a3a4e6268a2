#!/usr/bin/env python3
"""The primary hypervisor's monitor end to end: `softcpu run --config` of two partitions (guest
ROMs that write a marker each and halt with interrupts on), with the monitor console on a TCP
port (`monitor` in the file) and the real gdb attached to partition "a" only (its `gdb` key):
`info partitions`, `partition stop|start|reset`, `partition mem-lend|mem-return` and their
errors through the console; through gdb, memory of its own partition only and the same
commands as `monitor ...`; `quit`; then `--stats=json` per partition and per vCPU.
Usage: hv_monitor_test.py SOFTCPU"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklist  # check() and the failure count
from checklist import check

SOFTCPU = sys.argv[1]
MARK_A, MARK_B = 0xAAAA5555, 0xBBBB6666


def rom(code: bytes) -> bytes:
    """64 KiB ROM at 0xF0000: `code` at F000:0000, the reset vector jumps there."""
    r = bytearray(b"\xF4" * 0x10000)
    r[0:len(code)] = code
    r[0xFFF0:0xFFF5] = b"\xEA\x00\x00\x00\xF0"  # jmp far F000:0000
    return bytes(r)


def marker_then_idle(marker: int) -> bytes:
    # xor ax,ax; mov ds,ax; mov dword [0x1000], marker; sti; hlt; jmp back to the hlt
    return (b"\x31\xC0\x8E\xD8" + b"\x66\xC7\x06\x00\x10" + marker.to_bytes(4, "little") +
            b"\xFB\xF4\xEB\xFD")


# Partition a first reads guest-physical 0x100000, past its 1 MiB of RAM (A20 on through port
# 0x92): one stage-2 violation. mov al,2; out 0x92,al; mov ax,0xffff; mov ds,ax; mov al,[0x10]
ROM_A = rom(b"\xB0\x02\xE6\x92\xB8\xFF\xFF\x8E\xD8\xA0\x10\x00" + marker_then_idle(MARK_A))
ROM_B = rom(marker_then_idle(MARK_B))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def system(rom_a, rom_b, monitor_port, gdb_port):
    return f"""machine_memory = "64M"
monitor = "tcp:127.0.0.1:{monitor_port}"
[[processor_set]]
name = "host"
[[hypervisor]]
name = "primary"
processor_set = "host"
[[pool]]
name = "spare"
size = "64K"
[[partition]]
name = "a"
gdb = "tcp:127.0.0.1:{gdb_port}"
  [[partition.memory]]
  base = 0
  size = "1M"
  [[partition.memory]]
  base = "16M"
  size = "64K"
  pool = "spare"
  [partition.boot]
  bios = "{rom_a}"
[[partition]]
name = "b"
  [[partition.memory]]
  base = 0
  size = "1M"
  [[partition.memory]]
  base = "16M"
  size = "64K"
  pool = "spare"
  [partition.boot]
  bios = "{rom_b}"
"""


class Console:
    def __init__(self, port):
        # 60 s: a ThreadSanitizer build spends 10-25 s of a loaded machine filling the
        # partitions' tables before the console listens (docs/hardening.md); 2 s otherwise.
        deadline = time.time() + 60
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""
        self.banner = self.until_prompt()

    def until_prompt(self):
        while b"(softcpu) " not in self.buf:
            data = self.s.recv(4096)
            if not data:
                raise EOFError("monitor closed: " + self.buf.decode(errors="replace"))
            self.buf += data
        text, _, self.buf = self.buf.partition(b"(softcpu) ")
        return text.decode()

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\n")
        return self.until_prompt()


def rows(table):
    """`info partitions` -> {name: [columns]}"""
    out = {}
    for line in table.splitlines()[1:]:
        cols = line.split()
        if cols:
            out[cols[0]] = cols
    return out


def stage2_pages(table, name):
    return int(rows(table)[name][6])


def gdb_session(gdb_port):
    cmds = [
        "set architecture i8086",
        f"target remote :{gdb_port}",
        "printf \"MARK=%#x\\n\", *(unsigned int*)0x1000",
        "monitor info partitions",
        "monitor partition stop b",
        "monitor info partitions",
        "monitor partition start b",
        "monitor partition mem-lend a b 8K",
        "monitor info partitions",
        "monitor partition mem-return a b 8K",
        "monitor help",
        # Its own partition: the stub's thread cannot wait for a stop of itself; the reset
        # goes on in the primary, and the guest (RAM kept) runs again from the reset vector.
        "monitor partition reset a",
        "printf \"AFTER=%#x\\n\", *(unsigned int*)0x1000",
        "monitor info partitions",
        "detach",
    ]
    args = ["gdb", "-batch", "-nx"]
    for c in cmds:
        args += ["-ex", c]
    try:
        g = subprocess.run(args, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        return g.stdout + g.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out + "\n[gdb timed out]"


with tempfile.TemporaryDirectory() as d:
    ra, rb = os.path.join(d, "a.rom"), os.path.join(d, "b.rom")
    open(ra, "wb").write(ROM_A)
    open(rb, "wb").write(ROM_B)
    mport, gport = free_port(), free_port()
    cfg = os.path.join(d, "two.toml")
    open(cfg, "w").write(system(ra, rb, mport, gport))
    stats_path = os.path.join(d, "stats.json")

    code = subprocess.run([SOFTCPU, "check-config", cfg], capture_output=True, text=True)
    check("check-config accepts the monitor key", code.returncode == 0, code.stderr)

    gdb_ran = False
    p = subprocess.Popen([SOFTCPU, "run", "--config", cfg, "--stats=json", "--stats-file",
                          stats_path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        con = Console(mport)
        check("the console greets", "type 'help'" in con.banner, con.banner)
        check("help lists the partition commands",
              "partition mem-lend FROM TO SIZE" in con.cmd("help"))
        # Both run (they may still be on their way to the marker: wait until both idle).
        deadline = time.time() + 20
        while True:
            info = con.cmd("info partitions")
            r = rows(info)
            if all(n in r and r[n][1] == "running" and int(r[n][8]) > 0 for n in "ab") or \
                    time.time() > deadline:
                break
            time.sleep(0.2)
        check("info partitions: both running, with instructions",
              all(n in r and r[n][1] == "running" and int(r[n][8]) > 0 for n in "ab"), info)
        check("info partitions: a header", info.startswith("partition ") and "violations" in info,
              info)
        check("info partitions: one vCPU each, 1 MiB + 64 KiB / 0 KiB dynamic",
              r["a"][3] == "1" and stage2_pages(info, "a") == 256 + 16 and
              stage2_pages(info, "b") == 256, info)

        out = con.cmd("partition stop b")
        check("partition stop b", out == "partition 'b' stopped\n", out)
        check("b is stopped, a still runs",
              rows(con.cmd("info partitions"))["b"][1] == "stopped" and
              rows(con.cmd("info partitions"))["a"][1] == "running")
        out = con.cmd("partition stop b")
        check("stopping a stopped partition says so", "not running" in out, out)
        out = con.cmd("partition start b")
        check("partition start b", out == "partition 'b' started\n" and
              rows(con.cmd("info partitions"))["b"][1] == "running", out)
        out = con.cmd("partition start a")
        check("starting a running partition is refused", "is running" in out, out)
        out = con.cmd("partition reset b")
        check("partition reset b", out == "partition 'b' reset and started\n", out)

        out = con.cmd("partition mem-lend a b 16K")
        info = con.cmd("info partitions")
        check("mem-lend moves 4 pages from a to b",
              out.startswith("lent 16 KiB") and stage2_pages(info, "a") == 256 + 12 and
              stage2_pages(info, "b") == 256 + 4, out + info)
        out = con.cmd("partition mem-return a b 16K")
        info = con.cmd("info partitions")
        check("mem-return gives them back",
              "returned 16 KiB" in out and stage2_pages(info, "a") == 256 + 16 and
              stage2_pages(info, "b") == 256, out + info)
        for line, want in [("partition stop nosuch", "no partition named 'nosuch'"),
                           ("partition mem-lend a b 1M", "has only 64 KiB"),
                           ("partition mem-return a b 4K", "lent only 0 KiB"),
                           ("partition mem-lend a b lots", "bad size 'lots'"),
                           ("partition mem-lend a b", "usage: partition mem-lend FROM TO SIZE"),
                           ("partition mem-lend a a 4K", "cannot lend to itself"),
                           ("frobnicate", "unknown command 'frobnicate'")]:
            out = con.cmd(line)
            check(f"error: {line}", want in out, out)

        # The real gdb on partition a's stub: it sees a's memory, and drives the primary.
        gdb_ran = bool(shutil.which("gdb"))
        if gdb_ran:
            out = gdb_session(gport)
            check("gdb reads its own partition's memory", f"MARK={MARK_A:#x}" in out, out)
            check("gdb: monitor info partitions", re.search(r"^b\s+running\s", out, re.M), out)
            check("gdb: monitor partition stop b",
                  "partition 'b' stopped" in out and re.search(r"^b\s+stopped\s", out, re.M), out)
            check("gdb: partition start, mem-lend, mem-return",
                  "partition 'b' started" in out and "lent 8 KiB from 'a' to 'b'" in out and
                  "'b' returned 8 KiB to 'a'" in out, out)
            check("gdb: monitor help lists the primary's commands",
                  "partition reset NAME" in out and "icount" in out, out)
            check("gdb: reset of its own partition",
                  "partition 'a' is being stopped; the command goes on" in out and
                  f"AFTER={MARK_A:#x}" in out, out)
            info = con.cmd("info partitions")
            check("after gdb: both run again, memory back",
                  rows(info)["a"][1] == "running" and rows(info)["b"][1] == "running" and
                  stage2_pages(info, "a") == 256 + 16, info)
        else:
            print("skip gdb: not installed")

        out = con.cmd("quit")
        check("quit", "stopping every partition" in out, out)
        status = p.wait(timeout=30)
    except Exception as e:
        check("session", False, repr(e))
        p.kill()
        status = p.wait()
    err = p.stderr.read()
    check("quit ends the run with status 0", status == 0, (status, err))
    check("the banner names the monitor's port", f"softcpu: monitor on tcp:127.0.0.1:{mport}" in err,
          err)
    try:
        stats = json.load(open(stats_path))
    except (OSError, ValueError) as e:
        stats = {}
        check("--stats=json wrote one JSON object", False, repr(e))
    parts = {q["name"]: q for q in stats.get("partitions", [])}
    check("stats: schema, its version (3: docs/stats.md) and both partitions",
          stats.get("schema") == "softcpu-system-stats" and stats.get("version") == 3 and
          set(parts) == {"a", "b"}, stats)
    check("stats: the scheduler's fields of versions 2 and 3",
          all(k in q for q in parts.values() for k in
              ("wait_seconds", "max_wait_seconds", "passes", "borrowed_slices", "recalls",
               "max_recall_seconds", "lends", "empty_slices")), parts)
    if set(parts) == {"a", "b"}:
        a, b = parts["a"], parts["b"]
        # One violation per run of a from its reset vector: the start, and gdb's reset.
        runs_a = 2 if gdb_ran else 1
        check("stats: a's stage-2 violation (0x100000) once per run, none in b",
              a["stage2_violations"] == runs_a and b["stage2_violations"] == 0, (a, b))
        check("stats: instructions, exits and run time per partition",
              all(q["instructions"] > 0 and q["exits"] > 0 and q["run_seconds"] > 0
                  for q in (a, b)), (a, b))
        check("stats: one vCPU each whose counts are the partition's",
              all(len(q["vcpus"]) == 1 and q["vcpus"][0]["instructions"] == q["instructions"]
                  for q in (a, b)), (a, b))
        check("stats: the partition machine's counters",
              a["machine"]["schema"] == "softcpu-stats" and
              a["machine"]["instructions"] == a["instructions"] and
              a["machine"]["memory"]["stage2_violations"] == runs_a, a.get("machine"))

    # --monitor and --stats on the command line: the errors.
    for args, want in [(["run", "--monitor", "tcp::4444", "--bios", ra], "--monitor needs --config"),
                       (["run", "--config", cfg, "--monitor", "4444"], "bad --monitor '4444'"),
                       (["run", "--config", cfg, "--jit", "on"], "takes no other option")]:
        q = subprocess.run([SOFTCPU] + args, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        check("refused: " + " ".join(args[1:]), q.returncode == 2 and want in q.stderr, q.stderr)
    bad = os.path.join(d, "bad.toml")
    open(bad, "w").write(system(ra, rb, gport, gport).replace('monitor = "tcp:127.0.0.1',
                                                               'monitor = "tcp:127.0.0.1'))
    q = subprocess.run([SOFTCPU, "check-config", bad], capture_output=True, text=True)
    check("check-config: the monitor's port given to gdb too",
          q.returncode == 2 and f"TCP port {gport} (monitor) is also given to partition 'a'"
          in q.stderr, q.stderr)
    open(bad, "w").write(system(ra, rb, mport, gport).replace(f"tcp:127.0.0.1:{mport}", "4444"))
    q = subprocess.run([SOFTCPU, "check-config", bad], capture_output=True, text=True)
    check("check-config: a bad monitor", q.returncode == 2 and "bad monitor '4444'" in q.stderr,
          q.stderr)

sys.exit(1 if checklist.failures else 0)
