#!/usr/bin/env python3
"""hostio.socket_robustness: the serial TCP backend and the gdb stub survive hostile clients.

usage: socket_robustness_test.py SOFTCPU misbehave_serial_flood.rom

Runs the COM1-flooding guest with `--serial tcp:127.0.0.1:P,server --gdb tcp:127.0.0.1:Q` and
throws at both sockets, over real loopback TCP: clients that connect and vanish (FIN and RST),
1 MiB of random garbage, 64 MiB sent as fast as the socket takes it, a gdb client that sends
requests and never reads the replies, a serial client that never reads the guest's flood.
Afterwards softcpu must still be running with VmRSS under a bound, a well-behaved gdb client
must get an answer to `?`, and a serial client must receive the guest's output. Also checks
the start-up line names the gdb stub's address, that both listen on loopback only, that
`--gdb tcp::PORT` means loopback, and that a non-loopback address gets a warning."""
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guest",
                                "faults"))
import faultlib  # noqa: E402

RSS_LIMIT_KIB = 300 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def vanish(port, rst):
    s = connect(port)
    if rst:  # SO_LINGER 0: close() sends RST
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def blast(port, total, chunk=b""):
    """Send `total` bytes (random garbage, or `chunk` repeated) without reading; returns the
    number of bytes the socket took before the peer closed or the time ran out."""
    s = connect(port)
    s.settimeout(5)
    data = chunk * (65536 // len(chunk) + 1) if chunk else random.randbytes(65536)
    sent = 0
    end = time.monotonic() + 8
    try:
        while sent < total and time.monotonic() < end:
            sent += s.send(data[:min(len(data), total - sent)])
    except (OSError, socket.timeout):
        pass
    s.close()
    return sent


def main():
    softcpu, rom = sys.argv[1:3]
    serial_port, gdb_port = free_port(), free_port()
    cmd = [softcpu, "run", "--bios", rom, "--debugcon", "0xE9:/dev/null", "--timeout", "120",
           "--serial", f"tcp:127.0.0.1:{serial_port},server", "--gdb", f"tcp:127.0.0.1:{gdb_port}"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    failures = []
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            try:
                peak[0] = max(peak[0], vm_kib(p.pid, "VmRSS"))
            except OSError:
                return

    try:
        line = p.stderr.readline().strip()
        print("start-up:", line)
        if line != f"softcpu: gdb stub on tcp:127.0.0.1:{gdb_port}":
            failures.append(f"start-up line {line!r} does not name the gdb stub's address")
        threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
        threading.Thread(target=sample, daemon=True).start()
        for port in (serial_port, gdb_port):  # listening on loopback only
            with open("/proc/net/tcp") as f:
                rows = [l.split() for l in f.readlines()[1:]]
            local = [r[1] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port]
            if local != ["0100007F:%04X" % port]:
                failures.append(f"port {port} listens on {local}, expected 127.0.0.1 only")
        deadline_ok = True
        for name, port in (("serial", serial_port), ("gdb", gdb_port)):
            for i in range(30):
                vanish(port, rst=i % 2 == 1)
            n = blast(port, 1 << 20)
            print(f"{name}: 30 connect-and-vanish clients; 1 MiB garbage took {n} bytes")
            n = blast(port, 64 << 20)
            print(f"{name}: flood took {n >> 20} MiB")
            if p.poll() is not None:
                failures.append(f"softcpu exited ({p.returncode}) during the {name} tests")
                deadline_ok = False
                break
        if deadline_ok:
            # A gdb client that sends requests and never reads the replies.
            n = blast(gdb_port, 64 << 20, b"$g#67")
            print(f"gdb: requests without reading the replies: {n >> 20} MiB taken")
            # A serial client that never reads the guest's flood.
            s = connect(serial_port)
            time.sleep(5)
            s.close()
            if p.poll() is not None:
                failures.append(f"softcpu exited ({p.returncode}) during the no-reader tests")
        if p.poll() is None:
            # Well-behaved clients still get served.
            g = connect(gdb_port)
            g.sendall(b"$?#3f")
            reply = b""
            end = time.monotonic() + 20
            while not re.search(rb"\$[ST][0-9a-f]{2}", reply) and time.monotonic() < end:
                try:
                    reply += g.recv(4096)
                except socket.timeout:
                    break
            g.close()
            print("gdb '?' reply:", reply[:40])
            if not re.search(rb"\$[ST][0-9a-f]{2}", reply):
                failures.append(f"no stop reply to '?' after the abuse: {reply[:80]!r}")
            s = connect(serial_port)
            data = b""
            end = time.monotonic() + 20
            while b"ABCDEFGHIJ" not in data and time.monotonic() < end:
                try:
                    data += s.recv(65536)
                except socket.timeout:
                    break
            s.close()
            if b"ABCDEFGHIJ" not in data:
                failures.append(f"the serial client got no guest output: {data[:80]!r}")
            rss = vm_kib(p.pid, "VmRSS")
            print(f"softcpu alive; VmRSS now {rss} KiB, sampled peak {peak[0]} KiB, "
                  f"VmHWM {vm_kib(p.pid, 'VmHWM')} KiB")
            if max(peak[0], vm_kib(p.pid, "VmHWM")) > RSS_LIMIT_KIB:
                failures.append(f"memory grew to {max(peak[0], vm_kib(p.pid, 'VmHWM'))} KiB")
    finally:
        stop.set()
        if p.poll() is None:
            p.terminate()
        p.wait()
    # No address named: loopback. Another address: said so, with a warning.
    for spec, want in (("tcp::0", r"softcpu: gdb stub on tcp:127\.0\.0\.1:\d+\n(?!.*warning)"),
                       ("tcp:0.0.0.0:0", r"softcpu: gdb stub on tcp:0\.0\.0\.0:\d+\n"
                                         r"softcpu: warning: the gdb stub is reachable from "
                                         r"other machines")):
        r = subprocess.run([softcpu, "run", "--bios", rom, "--debugcon", "0xE9:/dev/null",
                            "--serial", "none", "--timeout", "1", "--gdb", spec],
                           capture_output=True, text=True, timeout=60)
        print(f"--gdb {spec}: {r.stderr.strip().splitlines()[:2]}")
        if not re.match(want, r.stderr):
            failures.append(f"--gdb {spec}: start-up lines {r.stderr!r} do not match {want!r}")
    return faultlib.report(failures, "hostio.socket_robustness")


if __name__ == "__main__":
    sys.exit(main())
