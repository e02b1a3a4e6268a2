#!/usr/bin/env python3
"""End-to-end checks of the softcpu command line: bad inputs get one clear line and a
non-zero status (never a crash), and the exit statuses the README promises hold.
Usage: cli_test.py SOFTCPU"""
import json
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_roms import rom_with_reset_code  # noqa: E402

SOFTCPU = sys.argv[1]
failures = 0


def run(args, timeout=60):
    p = subprocess.run([SOFTCPU] + args, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def check(name, args, status, err_has=None, out_has=None, one_line=False):
    global failures
    code, out, err = run(args)
    ok = code == status
    if err_has and err_has not in err:
        ok = False
    if out_has and out_has not in out:
        ok = False
    if one_line and err.count("\n") != 1:
        ok = False
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        failures += 1
        print(f"  expected status {status}" + (f", stderr containing {err_has!r}" if err_has else "")
              + (f", stdout containing {out_has!r}" if out_has else ""))
        print(f"  saw status {code}\n  stdout: {out[-2000:]!r}\n  stderr: {err[-2000:]!r}")


with tempfile.TemporaryDirectory() as d:
    def write(name, data):
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # out 0xF4, al with al = 0x21 -> status 0x43; reached from the reset vector.
    exit_rom = write("exit.rom", rom_with_reset_code(b"\xB0\x21\xE6\xF4\xF4"))
    # jmp $ forever.
    loop_rom = write("loop.rom", rom_with_reset_code(b"\xEB\xFE"))
    # lidt with limit 0, then int3: #GP delivering it, then #DF, then a triple fault.
    # The IDTR image (limit 0, base 0) sits at offset 0 of the ROM segment F000:0000.
    tf_rom = write("triple.rom", rom_with_reset_code(
        b"\x2E\x0F\x01\x1E\x00\x00"  # lidt cs:[0x0000]
        b"\xCC",                     # int3
        size=64 * 1024, body=b"\x00\x00\x00\x00\x00\x00", body_at=0))
    # Print "hi\n" through the debug console at 0xE9, then exit with 0.
    hello_rom = write("hello.rom", rom_with_reset_code(
        b"\xB0h\xE6\xE9\xB0i\xE6\xE9\xB0\n\xE6\xE9\x31\xC0\xE6\xF4"))
    # A guest that reads and writes every port from 0x100 to 0x3F7 (none is assigned), then
    # exits with 0. Exactly the 16 bytes of the reset vector.
    hammer_rom = write("hammer.rom", rom_with_reset_code(
        b"\xBA\x00\x01"       # mov dx, 0x100
        b"\xEC\xEE\x42"       # in al, dx ; out dx, al ; inc dx
        b"\x81\xFA\xF8\x03"  # cmp dx, 0x3F8
        b"\x75\xF7"           # jne in
        b"\x31\xC0\xE6\xF4"))  # xor ax, ax ; out 0xF4, al
    short_rom = write("short.rom", b"\xF4" * 1000)

    check("debug-exit status is (v << 1) | 1", ["run", "--bios", exit_rom], 0x43)
    check("debugcon to stdout", ["run", "--bios", hello_rom, "--debugcon", "0xE9:-"], 1,
          out_has="hi\n")
    dc = os.path.join(d, "dc.txt")
    check("debugcon to a file", ["run", "--bios", hello_rom, "--debugcon", f"0xe9:{dc}"], 1)
    if open(dc).read() != "hi\n":
        failures += 1
        print("FAIL debugcon file content:", repr(open(dc).read()))
    check("timeout exits 124", ["run", "--bios", loop_rom, "--timeout", "0.5"], 124,
          err_has="timeout")
    check("triple fault exits 3 with the state", ["run", "--bios", tf_rom,
          "--on-triple-fault", "exit"], 3, err_has="triple fault")
    # Default: a triple fault resets the CPU and keeps RAM. This ROM counts its boots in RAM
    # at 0x500 and triple-faults until the third boot, which exits with the count: (3<<1)|1.
    boots = (b"\xFE\x06\x00\x05"          # inc byte [0x500]
             b"\xA0\x00\x05"              # mov al, [0x500]
             b"\x3C\x03"                  # cmp al, 3
             b"\x75\x02"                  # jne +2
             b"\xE6\xF4"                  # out 0xF4, al
             b"\x2E\x0F\x01\x1E\x18\x00"  # lidt cs:[0x18] (limit 0)
             b"\xCC")                     # int3 -> #GP -> #DF -> triple fault
    body = boots + b"\xF4" * (0x18 - len(boots)) + b"\x00" * 6
    reset_rom = write("reset.rom", rom_with_reset_code(b"\xEA\x00\x00\x00\xF0", body=body))
    check("triple fault resets by default and keeps RAM", ["run", "--bios", reset_rom,
          "--stats=json"], 7, err_has='"resets": 2')
    check("bad --on-triple-fault", ["run", "--bios", reset_rom, "--on-triple-fault", "halt"], 2,
          err_has="expected reset or exit", one_line=True)
    check("unassigned ports read all ones and do not crash", ["run", "--bios", hammer_rom,
          "--stats"], 1, err_has="io.unassigned_accesses")
    check("missing BIOS file", ["run", "--bios", os.path.join(d, "nope.rom")], 2,
          err_has="cannot open BIOS image", one_line=True)
    check("wrong ROM size", ["run", "--bios", short_rom], 2, err_has="1000 bytes", one_line=True)
    check("unknown option", ["run", "--frob"], 2, err_has="unknown option", one_line=True)
    check("bad number", ["run", "-m", "lots", "--bios", exit_rom], 2,
          err_has="bad memory size", one_line=True)
    check("bad -smp", ["run", "-smp", "9", "--bios", exit_rom], 2,
          err_has="between 1 and 8", one_line=True)
    check("-smp 0", ["run", "-smp", "0", "--bios", exit_rom], 2,
          err_has="bad CPU count", one_line=True)
    check("-smp with a one-CPU option", ["run", "-smp", "2", "--trace", "-", "--bios", exit_rom],
          2, err_has="works with one CPU only", one_line=True)
    check("-smp 2 runs a guest that never starts CPU 1", ["run", "-smp", "2", "--bios", exit_rom], 67)
    check("bad --accel", ["run", "-smp", "2", "-accel", "tcg,thread=lots", "--bios", exit_rom], 2,
          err_has="expected tcg,thread=multi or tcg,thread=single", one_line=True)
    check("threads on: a guest that never starts CPU 1",
          ["run", "-smp", "2", "--accel", "tcg,thread=multi", "--bios", exit_rom], 67)
    check("threads on with --jit on: the JIT stays on (a translator per CPU thread)",
          ["run", "-smp", "2", "--accel", "tcg,thread=multi", "--jit", "on", "--bios", exit_rom,
           "--stats=json"], 67, err_has='"jit"')
    check("round-robin -smp with --jit on: the JIT stays on",
          ["run", "-smp", "2", "--jit", "on", "--bios", exit_rom, "--stats=json"], 67,
          err_has='"jit"')
    check("threads on with --stats-interval", ["run", "-smp", "2", "--accel", "tcg,thread=multi",
          "--stats-interval", "100", "--stats-file", os.path.join(d, "s.jsonl"), "--bios", exit_rom],
          2, err_has="works with one CPU only",
          one_line=True)
    # -smp N snapshots hold CPU 0, taken before the APs start (docs/snapshot.md): save, load
    # into a like machine (the AP starts from reset), refuse a machine with another CPU count.
    smp_snap = os.path.join(d, "smp.snap")
    check("-smp 2 --save-on-exit before CPU 1 starts", ["run", "-smp", "2", "--accel",
          "tcg,thread=multi", "--insn-limit", "10000", "--save-on-exit", smp_snap, "--bios", loop_rom],
          124, err_has="saved the machine")
    check("-smp 2 --loadvm", ["run", "-smp", "2", "--accel", "tcg,thread=multi", "--insn-limit",
          "10000", "--loadvm", smp_snap, "--bios", loop_rom], 124, err_has="instruction limit")
    check("--loadvm of a 2-CPU snapshot with one CPU", ["run", "--loadvm", smp_snap, "--bios",
          loop_rom], 2, err_has="the snapshot has 'CPUs: 2'")
    # Without --bios the machine runs Debian's SeaBIOS; with no disk it finds nothing to boot
    # and says so on COM1 (its text console goes to the serial port, like QEMU -nographic).
    sb_serial = os.path.join(d, "seabios.txt")
    check("default firmware is SeaBIOS", ["run", "--serial", "file:" + sb_serial,
          "--timeout", "10"], 124)
    sb_out = open(sb_serial, errors="replace").read()
    if "SeaBIOS" not in sb_out or "No bootable device" not in sb_out:
        failures += 1
        print("FAIL SeaBIOS serial output:", sb_out[-500:])
    # -smp 2 under SeaBIOS: it starts CPU 1 with INIT/SIPI and waits for CMOS 0x5F + 1 CPUs
    # in a loop that frees and retakes a lock (PAUSE must yield, docs/design.md "SMP vCPUs").
    sb_debug = os.path.join(d, "seabios-smp.log")
    check("SeaBIOS finds 2 CPUs with -smp 2", ["run", "-smp", "2", "--serial", "none",
          "--debugcon", "0x402:" + sb_debug, "--timeout", "8"], 124)
    sb_log = open(sb_debug, errors="replace").read()
    if "Found 2 cpu(s) max supported 2 cpu(s)" not in sb_log:
        failures += 1
        print("FAIL SeaBIOS with -smp 2, its debug log:", sb_log[-800:])
    check("missing disk image", ["run", "--bios", exit_rom, os.path.join(d, "no.img")], 2,
          err_has="cannot open disk image", one_line=True)
    # A blank disk: SeaBIOS reads its MBR (finds no boot signature) and the disk's counters show it.
    blank = os.path.join(d, "blank.img")
    open(blank, "wb").write(bytes(1 << 20))
    code, out, err = run(["run", "--drive", "file=" + blank + ",snapshot=on", "--serial", "none",
                          "--timeout", "4", "--stats=json"])
    try:
        st = json.loads(err.strip().splitlines()[-1])
        assert code == 124 and st["disk0"]["reads"] >= 1 and st["disk0"]["writes"] == 0, st
        assert open(blank, "rb").read() == bytes(1 << 20), "blank image changed"
        print("ok   disk statistics")
    except Exception as e:  # noqa: BLE001
        failures += 1
        print("FAIL disk statistics:", e, err[-500:])
    # Trace filters: events (interrupts, port I/O) and instruction address ranges, on SeaBIOS.
    tr_ev = os.path.join(d, "trace-events.txt")
    check("trace int and io events", ["run", "--serial", "none", "--timeout", "2", "--trace",
          tr_ev, "--trace-events", "int,io"], 124)
    ev = open(tr_ev).read().splitlines()
    if (not any(" INT 0x08 external" in l for l in ev) or  # the PIT's IRQ0 through the 8259
            not any(" OUT port=0x0402 " in l for l in ev) or  # SeaBIOS's debug log port
            any("EAX=" in l for l in ev)):  # no instruction lines
        failures += 1
        print("FAIL trace events content:", ev[:5])
    tr_rg = os.path.join(d, "trace-range.txt")
    check("trace an address range", ["run", "--serial", "none", "--timeout", "2", "--trace",
          tr_rg, "--trace-range", "0xfe05b-0xfe0ff"], 124)
    rg = open(tr_rg).read().splitlines()
    eips = [int(l.split()[0].split(":")[1], 16) for l in rg]
    if not rg or not all(0xe05b <= e <= 0xe0ff for e in eips) or not rg[0].startswith("f000:0000e05b"):
        failures += 1
        print("FAIL trace range content:", rg[:5])
    # Bad boot inputs: one clear line and status 2, never a crash or a half-started guest.
    import struct
    trunc = bytearray(2048)  # a bzImage header promising 4 setup sectors, cut short
    trunc[0x1F1] = 4
    trunc[0x1FE:0x200] = b"\x55\xaa"
    trunc[0x202:0x206] = b"HdrS"
    trunc[0x206:0x208] = struct.pack("<H", 0x020F)
    trunc[0x211] = 1  # loadflags LOADED_HIGH: a bzImage
    trunc_path = os.path.join(d, "trunc.bzimage")
    open(trunc_path, "wb").write(bytes(trunc))
    check("truncated bzImage", ["run", "--kernel", trunc_path, "--serial", "none"], 2,
          err_has="truncated bzImage", one_line=True)
    elf = bytearray(4096)  # an ELF32 file with no Multiboot header in its first 8 KiB
    elf[0:7] = b"\x7fELF\x01\x01\x01"
    elf_path = os.path.join(d, "plain.elf")
    open(elf_path, "wb").write(bytes(elf))
    check("ELF that is not Multiboot", ["run", "--kernel", elf_path, "--serial", "none"], 2,
          err_has="not a bzImage or a Multiboot kernel", one_line=True)
    check("missing kernel", ["run", "--kernel", os.path.join(d, "no.bzimage")], 2,
          err_has="No such file", one_line=True)
    tiny = os.path.join(d, "tiny.img")
    open(tiny, "wb").write(b"x" * 100)
    check("disk image below one sector", ["run", tiny], 2, err_has="smaller than one",
          one_line=True)
    unreadable = os.path.join(d, "locked.img")
    open(unreadable, "wb").write(bytes(4096))
    os.chmod(unreadable, 0)
    if os.geteuid() != 0:  # root reads anything; the check means something only for users
        check("unreadable disk image", ["run", unreadable], 2, err_has="cannot open disk image",
              one_line=True)
    check("bad serial spec", ["run", "--bios", exit_rom, "--serial", "file:/nonexistent/dir/x"],
          2, one_line=True)
    # --device pc-testdev: mov eax, 0x12345678; out 0xE0, eax; in al, 0xE2; out 0xF4, al.
    # The latch echoes byte 2 (0x34: status 0x69); without the device the port reads 0xFF.
    testdev_rom = write("testdev.rom", rom_with_reset_code(
        b"\x66\xB8\x78\x56\x34\x12\x66\xE7\xE0\xE4\xE2\xE6\xF4\xF4"))
    check("--device pc-testdev latches port 0xE0", ["run", "--bios", testdev_rom,
          "--device", "pc-testdev"], 0x69)
    check("no pc-testdev unless asked", ["run", "--bios", testdev_rom], 0xFF)
    check("unknown --device", ["run", "--bios", testdev_rom, "--device", "sb16"], 2,
          err_has="unknown --device 'sb16'", one_line=True)
    check("run help names pc-testdev", ["run", "--help"], 0, out_has="--device pc-testdev")

    # Snapshots (docs/snapshot.md): print "a", exit 0x21; a run started from the snapshot saved
    # at that exit goes on after the OUT: prints "b", exits 0x22.
    two_rom = write("two.rom", rom_with_reset_code(
        b"\xB0a\xE6\xE9\xB0\x21\xE6\xF4\xB0b\xE6\xE9\xB0\x22\xE6\xF4"))
    snap = os.path.join(d, "two.snap")
    check("--save-on-exit saves at the debug exit", ["run", "--bios", two_rom, "--debugcon",
          "0xE9:-", "--save-on-exit", snap], 0x43, out_has="a", err_has="saved the machine to")
    check("--loadvm goes on after the saved instruction", ["run", "--bios", two_rom,
          "--debugcon", "0xE9:-", "--loadvm", snap], 0x45, out_has="b")
    # The tiers count what this run retired, not the instructions before the snapshot (which
    # CPU 0's instruction count carries on from): all of it interpreted here.
    code, out, err = run(["run", "--bios", two_rom, "--loadvm", snap, "--stats=json"])
    try:
        stats = json.loads(err.strip().splitlines()[-1])
        assert stats["tier1"]["instructions"] == 0, stats["tier1"]
        assert stats["tier0"]["instructions"] >= 1, stats["tier0"]
        print("ok   --loadvm: the tiers count this run's instructions")
    except Exception as e:  # noqa: BLE001 - report whatever went wrong
        failures += 1
        print("FAIL --loadvm: the tiers count this run's instructions:", e, err)
    check("--loadvm refuses other firmware", ["run", "--bios", exit_rom, "--loadvm", snap], 2,
          err_has="differently configured machine", one_line=True)
    check("--loadvm refuses another RAM size", ["run", "--bios", two_rom, "-m", "64",
          "--loadvm", snap], 2, err_has="'RAM: 128 MiB', this machine 'RAM: 64 MiB'",
          one_line=True)
    with open(snap, "rb") as f:
        data = f.read()
    bad = write("bad.snap", data[:-1] + bytes([data[-1] ^ 1]))
    check("--loadvm refuses a damaged file", ["run", "--bios", two_rom, "--loadvm", bad], 2,
          err_has="checksum mismatch", one_line=True)
    old = write("old.snap", data[:8] + b"\x00\x00\x00\x00" + data[12:])
    check("--loadvm refuses another format version", ["run", "--bios", two_rom, "--loadvm", old],
          2, err_has="format version 0", one_line=True)
    check("--loadvm of a missing file", ["run", "--bios", two_rom, "--loadvm",
          os.path.join(d, "none.snap")], 2, err_has="cannot open snapshot", one_line=True)
    check("--loadvm with --kernel", ["run", "--kernel", "x", "--loadvm", snap], 2,
          err_has="--kernel is not used", one_line=True)
    check("--save-on-exit needs a value", ["run", "--save-on-exit"], 2, err_has="needs a value",
          one_line=True)
    check("--save-on-exit to an unwritable place", ["run", "--bios", exit_rom, "--save-on-exit",
          "/nonexistent/dir/x.snap"], 1, err_has="cannot write snapshot")
    # A guest that halts for good (CLI; HLT) ends with 0; a failed save makes that 1.
    halt_rom = write("halt.rom", rom_with_reset_code(b"\xFA\xF4"))
    check("a clean stop is status 0", ["run", "--bios", halt_rom], 0)
    check("--save-on-exit failing after a clean stop", ["run", "--bios", halt_rom,
          "--save-on-exit", "/nonexistent/dir/x.snap"], 1, err_has="cannot write snapshot")
    check("help", ["--help"], 0, out_has="usage: softcpu")
    check("run help", ["run", "--help"], 0, out_has="--debugcon")
    tr = os.path.join(d, "trace.txt")
    check("trace writes one line per instruction", ["run", "--bios", exit_rom, "--trace", tr],
          0x43)
    lines = open(tr).read().splitlines()
    if len(lines) != 2 or "f000:0000fff0" not in lines[0] or "mov al, 0x21" not in lines[0]:
        failures += 1
        print("FAIL trace content:", lines)
    code, out, err = run(["run", "--bios", exit_rom, "--stats=json"])
    try:
        stats = json.loads(err.strip().splitlines()[-1])
        assert stats["instructions"] == 2 and stats["exits"]["io"] == 1, stats
        assert stats["cache"]["misses"] == 1 and stats["tlb"]["fills"] == 0, stats  # no data access
        code, out, err = run(["run", "--bios", reset_rom, "--stats=json"])
        stats = json.loads(err.strip().splitlines()[-1])
        # Each reset flushes the TLB (power-on and 2 resets; the chipset's memory routing
        # reset may flush too), so every boot fills again: one fill per boot for inc [0x500].
        assert stats["resets"] == 2 and stats["tlb"]["flushes"] >= 3, stats
        assert stats["tlb"]["fills"] >= 3 and stats["tlb"]["slow_accesses"] >= 3, stats
        print("ok   stats json")
    except Exception as e:  # noqa: BLE001 - report whatever went wrong
        failures += 1
        print("FAIL stats json:", e, err)

print(f"{failures} failed" if failures else "all CLI checks passed")
sys.exit(1 if failures else 0)
