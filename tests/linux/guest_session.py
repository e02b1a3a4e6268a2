#!/usr/bin/env python3
"""Drive the default Linux guest over an emulator's serial console on stdio.

usage: guest_session.py [--expect-status N] [--timeout SEC] [--image PATH] SCENARIO -- CMD...

The emulator command (after "--") must put the guest's serial port on its stdin/stdout
(QEMU: -nographic; softcpu: its stdio backend). SCENARIO:
  shell       wait for the prompt, run `uname -r; echo $((6*7))`, check the kernel version and
              42, then `poweroff -f` and expect the emulator to exit with the expected status.
  durability  write 4 KiB of random bytes plus a host-chosen marker to /dev/sda2 (dd, fsync,
              sync), power off, then read the image at partition 2 (from its MBR) and check
              the bytes landed there.
  snapshot    the same writes (the caller runs the disk with snapshot=on); the guest must read
              them back, and the image file must be byte-for-byte unchanged afterwards.
  smp         (--cpus N, the emulator started with N CPUs) `nproc` prints N and every CPU's
              column of /proc/interrupts has counted interrupts; then `poweroff -f`.
The guest's serial output is echoed to our stdout as it arrives. On failure or timeout the last
100 lines of it are printed again and the emulator is killed. Exit status 0 means pass.
"""
import argparse
import hashlib
import os
import re
import secrets
import struct
import subprocess
import sys
import threading
import time

PROMPT = "softcpu# "
INIT_MARKER = "softcpu-guest: init started"
KERNEL_VERSION = re.compile(r"^\d+\.\d+\.\d+-\d+-686\r?$", re.M)
PATTERN_BYTES = 4096


class Failure(Exception):
    pass


class Console:
    """The emulator process and everything it has printed so far."""

    def __init__(self, cmd, deadline):
        self.deadline = deadline
        self.buf = bytearray()
        self.cond = threading.Condition()
        self.eof = False
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, bufsize=0)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if data:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            with self.cond:
                if not data:
                    self.eof = True
                else:
                    self.buf += data
                self.cond.notify_all()
            if not data:
                return

    def text(self, start=0):
        with self.cond:
            return self.buf[start:].decode("latin-1")

    def mark(self):
        with self.cond:
            return len(self.buf)

    def wait_for(self, pattern, start, what):
        """Wait until the output after offset start matches pattern; return the match."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        with self.cond:
            while True:
                m = rx.search(self.buf[start:].decode("latin-1"))
                if m:
                    return m
                if self.eof:
                    raise Failure(f"emulator output ended while waiting for {what}")
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise Failure(f"timed out waiting for {what}")
                self.cond.wait(min(left, 1.0))

    def _wait_growth(self, size, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while len(self.buf) <= size and not self.eof:
                left = end - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(left)

    def type_line(self, line, echo_timeout=2.0):
        """Type a line one character at a time, pacing on the guest's echo so a slow
        emulator's UART receive FIFO never overflows; a missing echo only costs a delay."""
        for ch in line:
            size = self.mark()
            self._write(ch.encode())
            self._wait_growth(size, echo_timeout)
        self._write(b"\n")

    def _write(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise Failure("emulator stopped reading its input")

    def run(self, command, what):
        """Run a shell command; return its output (between the typed line and the next
        prompt). A sentinel echo computed by the shell marks the end, so the echo of the
        typed line itself can never match it."""
        tag = secrets.token_hex(3)
        start = self.mark()
        self.type_line(f"{command}; echo END{tag}-$((1+1))")
        m = self.wait_for(re.compile(rf"^(.*?)END{tag}-2\r?$", re.M | re.S), start, what)
        out = m.group(1)
        # Drop the echoed command line.
        nl = out.find("\n")
        return out[nl + 1:] if nl >= 0 else ""

    def wait_exit(self):
        left = max(0.1, self.deadline - time.monotonic())
        try:
            return self.proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            raise Failure("timed out waiting for the emulator to exit after poweroff")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def partition_offset(image, index):
    """Byte offset and size of primary partition `index` (1-4) from the image's MBR."""
    with open(image, "rb") as f:
        mbr = f.read(512)
    if len(mbr) < 512 or mbr[510:512] != b"\x55\xaa":
        raise Failure(f"{image}: no MBR signature")
    entry = mbr[446 + 16 * (index - 1): 446 + 16 * index]
    ptype = entry[4]
    lba, sectors = struct.unpack_from("<II", entry, 8)
    if ptype == 0 or sectors == 0:
        raise Failure(f"{image}: partition {index} is empty")
    return lba * 512, sectors * 512


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def boot_to_prompt(con):
    con.wait_for(re.escape(INIT_MARKER), 0, "the initramfs's /init")
    con.wait_for(re.escape(PROMPT), 0, "the shell prompt")


def scenario_shell(con, args):
    out = con.run("uname -r; echo $((6*7))", "uname -r")
    if not KERNEL_VERSION.search(out):
        raise Failure(f"no kernel version in the output of uname -r: {out!r}")
    if not re.search(r"^42\r?$", out, re.M):
        raise Failure(f"$((6*7)) did not print 42: {out!r}")


def scenario_smp(con, args):
    out = con.run("nproc", "nproc")
    if not re.search(rf"^{args.cpus}\r?$", out, re.M):
        raise Failure(f"nproc did not print {args.cpus}: {out!r}")
    out = con.run("cat /proc/interrupts", "/proc/interrupts")
    lines = [l for l in out.replace("\r", "").split("\n") if l.strip()]
    # The header line (the echo of the typed command may come before it).
    want = [f"CPU{k}" for k in range(args.cpus)]
    at = next((k for k, l in enumerate(lines) if l.split() == want), None)
    if at is None:
        raise Failure(f"/proc/interrupts does not list CPU0..CPU{args.cpus - 1}: {out!r}")
    totals = [0] * args.cpus
    for line in lines[at + 1:]:
        fields = line.split()[1:1 + args.cpus]
        for k, f in enumerate(fields):
            if f.isdigit():
                totals[k] += int(f)
    print(f"\nguest_session: interrupts per CPU: {totals}", flush=True)
    if not all(totals):
        raise Failure(f"a CPU took no interrupts: {totals}")


def write_pattern(con, marker):
    """Write PATTERN_BYTES random bytes then the marker to /dev/sda2; return the bytes'
    sha256 as the guest computed it."""
    out = con.run("for i in $(seq 120); do [ -b /dev/sda2 ] && break; sleep 1; done",
                  "the disk to appear")
    out = con.run("ls /dev/sda2", "/dev/sda2")
    if "No such file" in out:
        raise Failure("the guest has no /dev/sda2")
    con.run(f"dd if=/dev/urandom of=/tmp/p bs=512 count={PATTERN_BYTES // 512} 2>/dev/null",
            "the random pattern")
    con.run(f"echo -n {marker} >/tmp/m", "the marker")
    out = con.run("cat /tmp/p /tmp/m | dd of=/dev/sda2 conv=fsync 2>/dev/null; echo W$?",
                  "the write to /dev/sda2")
    if not re.search(r"^W0\r?$", out, re.M):
        raise Failure(f"writing /dev/sda2 failed: {out!r}")
    con.run("sync", "sync")
    out = con.run("sha256sum /tmp/p", "sha256sum")
    m = re.search(r"\b([0-9a-f]{64})\s+/tmp/p", out)
    if not m:
        raise Failure(f"no sha256 of the pattern in {out!r}")
    return m.group(1)


def read_back_in_guest(con, digest, marker):
    """The guest must see its own writes from the device (page cache dropped first)."""
    con.run("echo 3 >/proc/sys/vm/drop_caches", "drop_caches")
    out = con.run(f"dd if=/dev/sda2 bs=512 count={PATTERN_BYTES // 512} 2>/dev/null | sha256sum",
                  "the read-back")
    if digest not in out:
        raise Failure(f"the guest read back other bytes from /dev/sda2: {out!r}")
    out = con.run(f"dd if=/dev/sda2 bs=512 skip={PATTERN_BYTES // 512} count=1 2>/dev/null"
                  f" | head -c {len(marker)}; echo", "the marker read-back")
    if marker not in out.replace("\r", ""):
        raise Failure(f"the guest read back no marker from /dev/sda2: {out!r}")


def check_image(image, digest, marker):
    offset, size = partition_offset(image, 2)
    if size < PATTERN_BYTES + len(marker):
        raise Failure("partition 2 is too small")
    with open(image, "rb") as f:
        f.seek(offset)
        data = f.read(PATTERN_BYTES + len(marker))
    if hashlib.sha256(data[:PATTERN_BYTES]).hexdigest() != digest:
        raise Failure(f"the pattern is not at partition 2 (offset {offset}) of {image}")
    if data[PATTERN_BYTES:] != marker.encode():
        raise Failure(f"the marker is not after the pattern in {image}: "
                      f"{data[PATTERN_BYTES:]!r}")
    print(f"guest_session: pattern and marker found at offset {offset} of {image}")


def find_image(cmd):
    """The disk image named by a -drive file=... or --disk option of the emulator command."""
    for i, a in enumerate(cmd):
        m = re.search(r"(?:^|,)file=([^,]+)", a)
        if m and i > 0 and cmd[i - 1] in ("-drive", "--drive"):
            return m.group(1)
        if a in ("-hda", "--hda", "--disk") and i + 1 < len(cmd):
            return cmd[i + 1]
    return None


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit("usage: guest_session.py [options] SCENARIO -- EMULATOR ARGS...")
    cut = argv.index("--")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--expect-status", type=int, default=0,
                    help="the emulator's exit status after poweroff -f")
    ap.add_argument("--timeout", type=float, default=300, help="seconds for the whole session")
    ap.add_argument("--image", help="disk image (durability/snapshot); default: from -drive")
    ap.add_argument("--emulator", action="store_true", help="accepted for readability; the "
                    "emulator command always follows --")
    ap.add_argument("--cpus", type=int, default=1, help="smp: the CPUs the guest must see")
    ap.add_argument("scenario", choices=["shell", "durability", "snapshot", "smp"])
    args = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    if not cmd:
        sys.exit("no emulator command after --")

    image = None
    if args.scenario not in ("shell", "smp"):
        image = args.image or find_image(cmd)
        if not image or not os.path.isfile(image):
            sys.exit(f"{args.scenario}: no disk image (give --image): {image}")
    before = sha256_file(image) if args.scenario == "snapshot" else None

    started = time.monotonic()
    con = Console(cmd, started + args.timeout)
    try:
        boot_to_prompt(con)
        print(f"\nguest_session: prompt after {time.monotonic() - started:.1f} s", flush=True)
        marker = digest = None
        if args.scenario == "shell":
            scenario_shell(con, args)
        elif args.scenario == "smp":
            scenario_smp(con, args)
        else:
            marker = "SOFTCPU-DURABLE-" + secrets.token_hex(8)
            digest = write_pattern(con, marker)
            if args.scenario == "snapshot":
                read_back_in_guest(con, digest, marker)
        con.type_line("poweroff -f")
        status = con.wait_exit()
        con.reader.join(timeout=5)
        print(f"\nguest_session: emulator exited with {status} after "
              f"{time.monotonic() - started:.1f} s", flush=True)
        if status != args.expect_status:
            raise Failure(f"exit status {status}, expected {args.expect_status}")
        if args.scenario == "durability":
            check_image(image, digest, marker)
        elif args.scenario == "snapshot":
            if sha256_file(image) != before:
                raise Failure(f"{image} changed although the disk was in snapshot mode")
            print(f"guest_session: {image} unchanged")
    except Failure as e:
        con.kill()
        tail = con.text().replace("\r\n", "\n").split("\n")[-100:]
        print("\n===== guest_session: FAILED: %s\n===== last %d lines of serial output:"
              % (e, len(tail)))
        print("\n".join(tail))
        print(f"===== FAILED: {e}", flush=True)
        return 1
    finally:
        con.kill()
    print(f"guest_session: {args.scenario}: PASSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
