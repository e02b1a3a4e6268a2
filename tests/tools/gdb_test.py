#!/usr/bin/env python3
"""The GDB stub end to end: the real gdb debugs tests/guest/gdb/gdb_guest.asm through
`softcpu run --gdb tcp:127.0.0.1:PORT -S` (reset vector, real-mode breakpoint, stepi,
register and memory writes the guest then acts on, protected-mode breakpoint, a hardware
watchpoint, `monitor stats`, the guest's exit status), and a raw socket feeds malformed
packets to check the stub survives them.
Usage: gdb_test.py SOFTCPU GDB_GUEST_ROM"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import checklist  # check() and the failure count
from checklist import check

SOFTCPU = sys.argv[1]
ROM = sys.argv[2]

# Places in gdb_guest.asm (fixed offsets in the ROM at 0xF0000).
RM_BREAK = 0xF0100    # mov bx, 0x5678 (3 bytes)
PM_BREAK = 0xF0210    # mov dword [0x2000], 0x12345678 (10 bytes)
SIGNATURE = 0xF0300   # "GDB!"
WATCHED = 0x2000
EXIT_BYTE = 0x3000    # the guest exits with this byte when EAX was set to 0x1234
EXIT_VALUE = 0x2A




def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_softcpu(rom, port, frozen=True):
    args = [SOFTCPU, "run", "--bios", rom, "--gdb", f"tcp:127.0.0.1:{port}",
            "--serial", "none", "--timeout", "60"]
    if frozen:
        args.append("-S")
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    banner = p.stderr.readline()  # printed once the port listens
    return p, banner


def finish(p, timeout=30):
    try:
        status = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        status = p.wait()
    return status, p.stderr.read()


# ---- the real gdb ----------------------------------------------------------------------------

def gdb_session():
    port = free_port()
    p, banner = start_softcpu(ROM, port)
    check("banner says where gdb should connect",
          banner.strip() == f"softcpu: waiting for gdb on tcp:127.0.0.1:{port}", banner)
    cmds = [
        "set architecture i8086",
        f"target remote :{port}",
        "printf \"RESET pc=%#x cs=%#x\\n\", $pc, $cs",
        f"break *{RM_BREAK:#x}",
        "continue",
        "printf \"RM pc=%#x\\n\", $pc",
        "x/i $pc",
        "stepi",
        "printf \"STEP pc=%#x bx=%#x\\n\", $pc, $ebx & 0xffff",
        "info registers",
        "set $eax = 0x1234",
        "printf \"EAX=%#x\\n\", $eax",
        f"x/4xb {SIGNATURE:#x}",
        f"set {{unsigned char}}{EXIT_BYTE:#x} = {EXIT_VALUE:#x}",
        f"printf \"BYTE=%#x\\n\", *(unsigned char*){EXIT_BYTE:#x}",
        "set architecture i386",
        f"break *{PM_BREAK:#x}",
        "continue",
        "printf \"PM pc=%#x cs=%#x cr0=%#x\\n\", $pc, $cs, $cr0",
        "monitor info registers",
        "monitor info tlb",
        f"watch *(unsigned int*){WATCHED:#x}",
        "continue",
        "printf \"WATCH pc=%#x\\n\", $pc",
        "monitor stats",
        "continue",
    ]
    args = ["gdb", "-batch", "-nx"]
    for c in cmds:
        args += ["-ex", c]
    try:
        g = subprocess.run(args, capture_output=True, text=True, timeout=90,
                           stdin=subprocess.DEVNULL)
        out = g.stdout + g.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += "\n[gdb timed out]"
    status, err = finish(p)

    def has(name, pattern):
        check(name, re.search(pattern, out, re.M) is not None, "no /" + pattern + "/")

    # A 386 starts at F000:FFF0 with CS.base = 0xFFFF0000 (SDM vol.3 9.1.4); gdb's pc is
    # linear in real mode (monitor/gdb_stub.h).
    has("reset vector", r"^RESET pc=0xfffffff0 cs=0xf000$")
    has("real-mode breakpoint set", rf"^Breakpoint 1 at {RM_BREAK:#x}$")
    has("real-mode breakpoint hit", rf"^Breakpoint 1, 0x000{RM_BREAK:x} in")
    has("stopped at the real-mode breakpoint", rf"^RM pc={RM_BREAK:#x}$")
    # With `set architecture i8086` gdb decodes real-mode code as 16-bit (3-byte mov to bx).
    has("real-mode code disassembles as 16-bit", r"mov\s+\$0x5678,%bx")
    # stepi ran exactly `mov bx, 0x5678` (3 bytes).
    has("stepi runs one instruction", rf"^STEP pc={RM_BREAK + 3:#x} bx=0x5678$")
    has("info registers: eip", rf"^eip\s+{RM_BREAK + 3:#x}\s")
    has("info registers: cs", r"^cs\s+0xf000\s")
    has("register write reads back", r"^EAX=0x1234$")
    has("x/4xb reads the ROM", rf"^{SIGNATURE:#x}:\s+0x47\s+0x44\s+0x42\s+0x21$")
    has("memory write reads back", rf"^BYTE={EXIT_VALUE:#x}$")
    has("protected-mode breakpoint hit", rf"^Breakpoint 2, 0x000{PM_BREAK:x} in")
    has("stopped in protected mode", rf"^PM pc={PM_BREAK:#x} cs=0x8 cr0=0x60000011$")
    has("hardware watchpoint set", rf"^Hardware watchpoint 3: \*\(unsigned int\*\){WATCHED:#x}$")
    has("watchpoint old value", r"^Old value = 0$")
    has("watchpoint new value", rf"^New value = {0x12345678}$")
    # The watchpoint traps after the 10-byte store.
    has("watchpoint stops after the store", rf"^WATCH pc={PM_BREAK + 10:#x}$")
    has("monitor info registers shows protected mode", r"^CS\s+0008 base=00000000 .*$")
    has("monitor info registers shows CR0.PE", r"^CR0=[0-9a-f]*[13579bdf] ")
    has("monitor info tlb", r"^paging off, CR3=")
    # The --stats text report: the Run group's instructions row (thousands grouped).
    has("monitor stats", r"^Run$")
    has("monitor stats counts instructions", r"^[ \t]+instructions[ \t]+[\d,]+$")
    # The guest exits through port 0xF4 with the byte gdb wrote, provided gdb's EAX write
    # reached it: status = value * 2 + 1 (0x7F, status 255, otherwise).
    check("guest exit status follows what gdb wrote", status == EXIT_VALUE * 2 + 1,
          f"status {status}")
    if checklist.failures:
        print("---- gdb output ----\n" + out + "\n---- softcpu stderr ----\n" + banner + err)


def gdb_reset_session():
    """`monitor system_reset` from a breakpoint: the machine starts again at the reset vector."""
    port = free_port()
    p, _ = start_softcpu(ROM, port)
    cmds = ["set architecture i8086", f"target remote :{port}", f"break *{RM_BREAK:#x}",
            "continue", "monitor system_reset",
            # gdb caches registers across monitor commands (as with QEMU): refetch them.
            "maintenance flush register-cache", "printf \"AFTER pc=%#x cs=%#x\\n\", $pc, $cs",
            "kill"]
    args = ["gdb", "-batch", "-nx"]
    for c in cmds:
        args += ["-ex", c]
    g = subprocess.run(args, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    out = g.stdout + g.stderr
    finish(p)
    check("monitor system_reset answers", "machine reset" in out, out[-400:])
    check("after system_reset the CPU is at the reset vector",
          re.search(r"^AFTER pc=0xfffffff0 cs=0xf000$", out, re.M) is not None, out[-400:])


# ---- malformed packets over a raw socket -----------------------------------------------------

def packet(payload):
    return b"$" + payload + b"#%02x" % (sum(payload) & 0xFF)


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, b):
        self.s.sendall(b)

    def read_until(self, pred):
        """Read until pred(buf) gives a length; return and consume that many bytes."""
        deadline = time.time() + 10
        while True:
            n = pred(self.buf)
            if n:
                out, self.buf = self.buf[:n], self.buf[n:]
                return out
            if time.time() > deadline:
                raise TimeoutError(repr(self.buf))
            chunk = self.s.recv(4096)
            if not chunk:
                raise ConnectionError("closed; got " + repr(self.buf))
            self.buf += chunk

    def ack(self):
        return self.read_until(lambda b: 1 if b else 0)

    def reply(self):
        """The next whole packet's payload (checksum verified)."""
        m = self.read_until(lambda b: (lambda m: m.end() if m else 0)(
            re.search(rb"\$([^#]*)#([0-9a-f]{2})", b)))
        body = re.search(rb"\$([^#]*)#([0-9a-f]{2})", m)
        assert int(body.group(2), 16) == sum(body.group(1)) & 0xFF, m
        self.send(b"+")
        return body.group(1)

    def close(self):
        self.s.close()


def malformed_packets():
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        rom = os.path.join(tmp, "loop.rom")
        image = bytearray(64 * 1024)
        image[0xFFF0:0xFFF2] = b"\xEB\xFE"  # reset vector: jmp $ (never exits, never halts)
        with open(rom, "wb") as f:
            f.write(image)
        p, banner = start_softcpu(rom, port, frozen=False)
        check("banner without -S", banner.strip() == f"softcpu: gdb stub on tcp:127.0.0.1:{port}",
              banner)
        try:
            c = Client(port)
            c.send(b"$?#00")
            check("bad checksum is refused with '-'", c.ack() == b"-")
            c.send(b"hello\x00\xff garbage #zz ")  # noise between packets is ignored
            c.send(b"$?#zz")                       # checksum that is not hex
            check("non-hex checksum is refused with '-'", c.ack() == b"-")
            big = b"m" + b"0" * (0x5000)
            c.send(packet(big))
            check("overlong packet acknowledged", c.ack() == b"+")
            check("overlong packet answered with an error", c.reply().startswith(b"E"))
            c.send(packet(b"?"))
            check("clean '?' after garbage acknowledged", c.ack() == b"+")
            r = c.reply()
            check("clean '?' after garbage answered with a stop reply",
                  r.startswith(b"T05") or r.startswith(b"S05"), repr(r))
            second = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                check("a second client is closed at once", second.recv(16) == b"")
            except OSError:
                check("a second client is closed at once", True)
            second.close()
            c.send(b"$m0,4")  # cut off by the disconnect
            c.close()
            time.sleep(0.3)
            check("softcpu survives a packet cut off by disconnect", p.poll() is None)
            c = Client(port)
            c.send(packet(b"?"))
            ok = c.ack() == b"+"
            r = c.reply()
            check("reconnect: '?' answers", ok and (r.startswith(b"T05") or r.startswith(b"S05")),
                  repr(r))
            c.send(packet(b"k"))  # kill: the machine ends with status 0
            c.close()
        except (OSError, TimeoutError, ConnectionError, AssertionError) as e:
            check("socket session", False, repr(e))
        status, err = finish(p)
        check("'k' ends softcpu with status 0", status == 0, f"status {status}: {err}")


def run_control():
    """Ctrl-C stops a running guest; a guest ending in cli;hlt stops for the debugger instead
    of ending the machine."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, code, expect in (("ctrl-c", b"\xEB\xFE", b"T02"),     # jmp $
                                   ("cli;hlt", b"\xFA\xF4", b"T05")):   # cli; hlt
            rom = os.path.join(tmp, "rc.rom")
            image = bytearray(64 * 1024)
            image[0xFFF0:0xFFF0 + len(code)] = code
            with open(rom, "wb") as f:
                f.write(image)
            port = free_port()
            p, _ = start_softcpu(rom, port)
            try:
                c = Client(port)
                c.send(packet(b"c"))
                c.ack()
                if name == "ctrl-c":
                    time.sleep(0.2)
                    check("ctrl-c: no stop reply while the guest runs", c.buf == b"")
                    c.send(b"\x03")
                r = c.reply()
                check(f"{name}: stop reply {expect.decode()}", r.startswith(expect), repr(r))
                check(f"{name}: softcpu stays up while stopped", p.poll() is None)
                c.send(packet(b"k"))
                c.close()
            except (OSError, TimeoutError, ConnectionError, AssertionError) as e:
                check(f"{name}: socket session", False, repr(e))
            status, err = finish(p)
            check(f"{name}: 'k' ends softcpu with status 0", status == 0, f"status {status}: {err}")


if shutil.which("gdb") is None:
    print("SKIP gdb is not installed (tools/install-deps.sh installs it): real-gdb session skipped")
else:
    gdb_session()
    gdb_reset_session()
malformed_packets()
run_control()
print("gdb_test: %d failure(s)" % checklist.failures)
sys.exit(1 if checklist.failures else 0)
