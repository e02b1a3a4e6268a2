#!/usr/bin/env python3
"""Random-ROM fuzzer for softcpu.

Each seed makes one ROM: random bytes, and for most kinds a fixed prologue (prologue.asm) that
builds a machine state from a parameter block the generator fills in, then jumps into random
code. Kinds:

  raw     random bytes at the reset vector (real mode, nothing set up)
  real    real mode with a random IVT (into random code), segments, stack and flags
  pm16    protected mode, random GDT/LDT/IDT/TSS, far jump to a 16-bit code segment
  pm32    the same with a 32-bit code segment
  paged   pm32 with paging on: random page directory and tables (present or not, U/S, R/W,
          4 MiB pages with CR4.PSE, global, mappings of ROM, RAM, the page tables themselves,
          the IOAPIC/local APIC and unassigned space)
  ring3   IRET to CPL 3 (32- or 16-bit code), to V86 mode, or a task return (NT), with or
          without paging

Random code also gets copied into RAM, so entry points and handlers may be self-modifying.
Every run is `softcpu run --bios ROM -m M --serial none --timeout T --insn-limit N
--on-triple-fault exit|reset`. A run fails when softcpu dies by a signal, exits with a status
outside 0, odd (debug-exit), 3 (triple fault) or 124 (timeout or instruction limit), prints
anything unexpected on stderr, or is still running at its --timeout plus a grace period (it
is killed then). Failures print the seed and the commands to reproduce.

  random_rom.py --softcpu build/softcpu --seeds 0-299 --jobs 2      # what ctest runs
  random_rom.py --softcpu build/softcpu --seeds 0-99 --jit-threshold 20   # ... and with the JIT
  random_rom.py --softcpu build/softcpu --soak 100000 --jobs 2      # the long soak
  random_rom.py --softcpu build/softcpu --seed 1234 --keep /tmp/x.rom   # one seed, kept
"""

import argparse
import collections
import concurrent.futures
import os
import random
import resource
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

KINDS = ["raw", "real", "pm16", "pm32", "paged", "ring3"]
KIND_WEIGHTS = [10, 15, 12, 18, 25, 20]

# Linear layout of the ROM's last 64 KiB (also at 0xFFFF0000): random code below PROLOGUE,
# images (GDT, IDT, ... copied to RAM by the prologue) below that, the prologue, the
# parameter block, the reset vector.
PROLOGUE = 0xFE000
IMAGES_END = 0xFD000
PARAMS = 0xFF000
RESET = 0xFFFF0

# Page-table entry bits (SDM vol.3 4.3).
P, RW, US, PWT, PCD, A, D, PS, G = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80, 0x100
CR0_PE, CR0_MP, CR0_EM, CR0_TS, CR0_NE = 1, 2, 4, 8, 0x20
CR0_WP, CR0_AM, CR0_NW, CR0_CD, CR0_PG = 1 << 16, 1 << 18, 1 << 29, 1 << 30, 1 << 31
CR4_VME, CR4_PVI, CR4_TSD, CR4_DE, CR4_PSE, CR4_PGE, CR4_PCE = 1, 2, 4, 8, 0x10, 0x80, 0x100
EF_CF, EF_TF, EF_IF, EF_DF, EF_NT, EF_RF, EF_VM, EF_AC = 1, 0x100, 0x200, 0x400, 0x4000, \
    0x10000, 0x20000, 0x40000
EF_VIF, EF_VIP = 0x80000, 0x100000

# Messages softcpu may print on stderr in a healthy run; any other line fails the seed.
EXPECTED_STDERR = re.compile(
    r"^(softcpu: triple fault at |  EAX=|  CS=|softcpu: resetting the machine |"
    r"softcpu: timeout after |softcpu: instruction limit of |"
    r"softcpu: guest halted with interrupts disabled |softcpu: guest powered off )")


def read_params_inc():
    """The %define lines of params.inc as a dict (one source for the block layout)."""
    defs = {}
    with open(os.path.join(HERE, "params.inc")) as f:
        for line in f:
            m = re.match(r"%define\s+(\w+)\s+(\S+)", line)
            if m:
                defs[m.group(1)] = int(m.group(2), 0)
    return defs


DEF = read_params_inc()
assert DEF["PARAMS"] == PARAMS


def assemble_prologue(workdir):
    out = os.path.join(workdir, "prologue.bin")
    subprocess.run(["nasm", "-f", "bin", "-w+error", "-I" + HERE + "/", "-o", out,
                    os.path.join(HERE, "prologue.asm")], check=True)
    with open(out, "rb") as f:
        code = f.read()
    assert len(code) < 0x1000
    return code


def desc(base, limit, access, flags):
    """Segment descriptor: base, 20-bit limit, access byte, flags nibble (G, D/B, L, AVL)."""
    lo = (limit & 0xFFFF) | ((base & 0xFFFF) << 16)
    hi = ((base >> 16) & 0xFF) | (access << 8) | (limit & 0xF0000) | (flags << 20) | \
        (base & 0xFF000000)
    return (hi << 32) | lo


def gate(sel, off, typ, dpl, present=True):
    lo = ((sel & 0xFFFF) << 16) | (off & 0xFFFF)
    hi = (off & 0xFFFF0000) | (0x8000 if present else 0) | (dpl << 13) | (typ << 8)
    return (hi << 32) | lo


def le32(v):
    return (v & 0xFFFFFFFF).to_bytes(4, "little")


class Snippets:
    """Short instruction sequences that matter to a system emulator, with random operands:
    control, debug and model-specific registers, segment and descriptor-table loads, far
    transfers, task switches, INT n, IRET, string instructions with REP and big counts, port
    I/O, INVLPG, stores into page tables, descriptor tables and the code itself (SMC), x87
    state saves, CPUID/RDTSC/RDPMC, SYSENTER/SYSEXIT, ENTER with deep nesting, ... Encoded
    by hand for 16- or 32-bit code. Random bytes alone reach these rarely."""

    def __init__(self, r, builder):
        self.r = r
        self.rb = builder

    # ---- encoding helpers (self.bits: the code size the bytes are meant for)
    def o32(self):
        return b"" if self.bits == 32 else b"\x66"

    def o16(self):
        return b"\x66" if self.bits == 32 else b""

    def mov_r32(self, reg, imm):
        return self.o32() + bytes([0xB8 + reg]) + le32(imm)

    def mov_r16(self, reg, imm):
        return self.o16() + bytes([0xB8 + reg]) + (imm & 0xFFFF).to_bytes(2, "little")

    def mem(self, reg, addr):
        """ModRM and displacement for [addr] with the ModRM reg field `reg`."""
        if self.bits == 32:
            return bytes([0x05 | (reg << 3)]) + le32(addr)
        return bytes([0x06 | (reg << 3)]) + (addr & 0xFFFF).to_bytes(2, "little")

    # ---- interesting values
    def addr(self):
        r, b = self.r, self.rb
        page = r.choice([0, 0x1000, 0xB8000, 0xF0000, 0xFEE00000, 0xFEC00000, 0xFFFFF000,
                         r.randrange(b.ram) & ~0xFFF, b.ram & ~0xFFF, 0x7FFFF000])
        if b.ram_code and r.random() < 0.3:
            page = r.choice(b.ram_code)[0]
        if b.sysbase is not None and r.random() < 0.3:
            page = b.sysbase + r.randrange(0, 0x8000, 0x1000)
        return page + r.choice([0, 4, 0xFFC, 0xFFD, 0xFFE, 0xFFF, r.randrange(0x1000)])

    def selector(self):
        r = self.r
        return r.choice([0x08, 0x10, 0x18, 0x1B, 0x20, 0x23, 0x28, 0x30, 0x38, 0x40, 0x48,
                         0x50, 0x58, 0x5B, 0x60, 0x0C, 0x0F, 0x14, 0x17, 0, 3,
                         r.randrange(0x10000), r.randrange(0x80)])

    def value(self):
        return self.rb.some_value()

    # ---- the snippets
    def s_cr(self):
        r = self.r
        n = r.choice([0, 0, 3, 4, 2])
        if n == 0:
            v = 0x11 | r.choice([0, 0x80000000]) | (r.getrandbits(32) & r.choice(
                [0x6005002E, 0xFFFFFFFF, 0x10000, 0x8]))
        elif n == 3:
            v = r.choice([self.rb.cr3 or 0, self.addr() & ~0xFFF, r.getrandbits(32)])
        elif n == 4:
            v = r.getrandbits(r.choice([9, 9, 11, 32])) & ~r.choice([0, 0x20])
        else:
            v = self.value()
        if r.random() < 0.25:
            return b"\x0F\x20" + bytes([0xC0 | (n << 3) | r.randrange(8)])  # MOV r32, CRn
        return self.mov_r32(0, v) + b"\x0F\x22" + bytes([0xC0 | (n << 3)])

    def s_dr(self):
        r = self.r
        n = r.choice([0, 1, 2, 3, 6, 7, 7, 4, 5])
        v = self.addr() if n < 4 else r.getrandbits(32) & r.choice([0xFFFFFFFF, 0xFFFF03FF,
                                                                     0x000F0003, 0x2FF])
        if r.random() < 0.2:
            return b"\x0F\x21" + bytes([0xC0 | (n << 3) | r.randrange(8)])
        return self.mov_r32(0, v) + b"\x0F\x23" + bytes([0xC0 | (n << 3)])

    def s_msr(self):
        r = self.r
        msr = r.choice([0x10, 0x1B, 0x174, 0x175, 0x176, 0xFE, 0x2FF, 0x250, 0x258, 0x277,
                        0x200 + r.randrange(16), 0x179, 0x17B, 0xC0000080, r.getrandbits(32)])
        out = self.mov_r32(1, msr) + self.mov_r32(0, self.value()) + self.mov_r32(2, self.value())
        return out + r.choice([b"\x0F\x30", b"\x0F\x32"])

    def s_seg(self):
        r = self.r
        sreg = r.choice([0, 2, 3, 4, 5, 3, 3])  # ES SS DS FS GS (MOV Sreg, AX)
        return self.mov_r16(0, self.selector()) + bytes([0x8E, 0xC0 | (sreg << 3)])

    def s_far(self):
        r = self.r
        sel = self.selector()
        off = self.rb.code_target()
        op = r.choice([0xEA, 0x9A])  # JMP far, CALL far
        if self.bits == 32:
            return bytes([op]) + le32(off) + sel.to_bytes(2, "little")
        return bytes([op]) + (off & 0xFFFF).to_bytes(2, "little") + sel.to_bytes(2, "little")

    def s_ret(self):
        r = self.r
        out = b""
        if r.random() < 0.5:  # IRET with a frame: EFLAGS, CS, EIP
            out += self.o32() + b"\x68" + le32(self.rb.random_eflags() |
                                              r.choice([0, 0, 0x20000, 0x4000, 0x3000]))
            out += self.o32() + b"\x68" + le32(self.selector())
            out += self.o32() + b"\x68" + le32(self.rb.code_target())
            return out + self.o32() + b"\xCF"
        out += self.o32() + b"\x68" + le32(self.selector())
        out += self.o32() + b"\x68" + le32(self.rb.code_target())
        return out + self.o32() + r.choice([b"\xCB", b"\xCA\x08\x00"])

    def s_int(self):
        r = self.r
        return r.choice([b"\xCD" + bytes([r.choice([r.randrange(32), r.randrange(256),
                                                    0x80, 0x21, 0x10])]),
                         b"\xCC", b"\xCE", b"\xF1", b"\x0F\x0B"])

    def s_table(self):
        r = self.r
        at = self.addr() & ~3
        store = self.o32() + b"\xC7" + self.mem(0, at) + le32(r.choice([0xFFFF, 0x7FF, 0x17, 0,
                                                                         r.getrandbits(32)]))
        store += self.o32() + b"\xC7" + self.mem(0, at + 4) + le32(self.value())
        which = r.choice([2, 3, 0, 1])  # LGDT LIDT SGDT SIDT
        return store + self.o32() + b"\x0F\x01" + self.mem(which, at)

    def s_ldt_tr(self):
        r = self.r
        op = r.choice([2, 3, 0, 1, 4, 5])  # LLDT LTR SLDT STR VERR VERW
        return self.mov_r16(0, self.selector()) + b"\x0F\x00" + bytes([0xC0 | (op << 3)])

    def s_lar(self):
        r = self.r
        return self.mov_r16(0, self.selector()) + r.choice([b"\x0F\x02\xC8", b"\x0F\x03\xC8",
                                                           b"\x63\xC1"])

    def s_string(self):
        r = self.r
        out = self.mov_r32(1, r.choice([0, 1, 7, 0x1000, 0x10000, 0xFFFFFFFF, 0x40000001,
                                        r.getrandbits(16)]))
        out += self.mov_r32(6, self.addr()) + self.mov_r32(7, self.addr())
        out += self.mov_r32(2, r.choice([0x1F0, 0x3F8, 0x80, 0x510, 0x511, 0xCFC, 0x60]))
        out += r.choice([b"\xFC", b"\xFC", b"\xFD"])  # CLD / STD
        op = r.choice([0xA4, 0xA5, 0xAA, 0xAB, 0xA6, 0xA7, 0xAE, 0xAF, 0xAC, 0xAD, 0x6C, 0x6D,
                       0x6E, 0x6F])
        prefix = r.choice([b"\xF3", b"\xF3", b"\xF2", b"\xF3\x66", b"\xF3\x67", b""])
        return out + prefix + bytes([op])

    def s_flags(self):
        r = self.r
        if r.random() < 0.5:
            return self.o32() + b"\x68" + le32(self.rb.random_eflags() |
                                              r.choice([0, 0x100, 0x4000, 0x20000, 0x3000,
                                                        0x40000, 0x80000, 0x100000])) + b"\x9D"
        return r.choice([b"\xFA", b"\xFB", b"\xF4", b"\xFB\xF4", b"\x9C", b"\x0F\x06",
                         b"\x0F\x08", b"\x0F\x09"])

    def s_io(self):
        r = self.r
        port = r.choice([0x20, 0x21, 0x40, 0x43, 0x61, 0x64, 0x70, 0x71, 0x92, 0xCF8, 0xCFC,
                         0x1F7, 0x3F8, 0x3FD, 0x510, 0x514, 0x518, 0xCF9, 0x3D4, 0x3DA,
                         r.randrange(0x10000)])
        if port == 0xF4:
            port = 0xF5
        return (self.mov_r16(2, port) + self.mov_r32(0, self.value()) +
                r.choice([b"\xEE", b"\xEF", b"\xEC", b"\xED", b"\x66\xEF"]))

    def s_smc(self):
        """CALL $+next; POP (E)BX; MOV [(E)BX+d8], imm: a store into the code just ahead,
        wherever the bytes were copied to (ROM copies become self-modifying RAM code)."""
        r = self.r
        call = b"\xE8" + (b"\0" * (4 if self.bits == 32 else 2))
        modrm = 0x43 if self.bits == 32 else 0x47  # [ebx+d8] / [bx+d8]
        store = self.o32() + bytes([0xC7, modrm, r.randrange(6, 40)]) + le32(self.value())
        return call + b"\x5B" + store

    def s_store(self):
        r = self.r
        at = self.addr()
        op = r.choice([b"\xC7", b"\xC6"])
        imm = le32(self.value()) if op == b"\xC7" else bytes([r.getrandbits(8)])
        return (self.o32() if op == b"\xC7" else b"") + op + self.mem(0, at) + imm

    def s_invlpg(self):
        return b"\x0F\x01" + self.mem(7, self.addr())

    def s_cpuid(self):
        r = self.r
        return self.mov_r32(0, r.choice([0, 1, 2, 3, 0x80000000, r.getrandbits(32)])) + \
            self.mov_r32(1, r.choice([0, 1, r.getrandbits(32)])) + \
            r.choice([b"\x0F\xA2", b"\x0F\x31", b"\x0F\x33"])

    def s_sysenter(self):
        r = self.r
        out = b""
        for msr, v in ((0x174, self.selector()), (0x175, self.addr()),
                       (0x176, self.rb.code_target())):
            if r.random() < 0.7:
                out += self.mov_r32(1, msr) + self.mov_r32(0, v) + self.mov_r32(2, 0) + \
                    b"\x0F\x30"
        out += self.mov_r32(1, self.addr()) + self.mov_r32(2, self.rb.code_target())
        return out + r.choice([b"\x0F\x34", b"\x0F\x35"])

    def s_fpu(self):
        r = self.r
        at = self.addr()
        return r.choice([
            b"\xDB\xE3", b"\xD9\xE8\xD9\xEE\xDE\xF9", b"\xD9\xEB\xD9\xFA", b"\x9B",
            b"\xDD" + self.mem(6, at), b"\xDD" + self.mem(4, at), b"\xD9" + self.mem(5, at),
            b"\xD9" + self.mem(4, at), b"\xD9" + self.mem(6, at), b"\xDF\xE0",
            bytes([0xD8 + r.randrange(8), r.getrandbits(8)])])

    def s_stack(self):
        r = self.r
        return r.choice([
            self.mov_r32(4, self.addr()),
            b"\xC8" + r.randrange(0x10000).to_bytes(2, "little") + bytes([r.randrange(32)]),
            b"\x60", b"\x61", b"\xC9", b"\x06\x07", b"\x1E\x1F", b"\x0F\xA0\x0F\xA1",
            b"\x16\x17"])

    def s_misc(self):
        r = self.r
        return r.choice([
            b"\xF0" + bytes([r.getrandbits(8), r.getrandbits(8)]),  # LOCK on anything
            b"\x0F\xC7" + self.mem(1, self.addr()),                   # CMPXCHG8B
            b"\x62" + self.mem(0, self.addr()),                       # BOUND
            b"\x0F\x01" + bytes([0xE0 | r.randrange(8)]),             # SMSW
            b"\x0F\x01" + bytes([0xF0 | r.randrange(8)]),             # LMSW
            b"\xC4" + self.mem(0, self.addr()), b"\x0F\xB2" + self.mem(0, self.addr()),
            b"\x8F" + self.mem(0, self.addr()), b"\xFF" + self.mem(r.choice([3, 5]), self.addr())])

    def one(self, bits):
        self.bits = bits
        f = self.r.choice([self.s_smc, self.s_cr, self.s_dr, self.s_msr, self.s_seg, self.s_seg, self.s_far,
                           self.s_ret, self.s_int, self.s_table, self.s_ldt_tr, self.s_lar,
                           self.s_string, self.s_string, self.s_flags, self.s_io, self.s_store,
                           self.s_store, self.s_invlpg, self.s_cpuid, self.s_sysenter,
                           self.s_fpu, self.s_stack, self.s_misc])
        return f()



class RomBuilder:
    """One seed's ROM and the machine state its parameter block describes."""

    def __init__(self, seed, prologue, kind=None):
        self.seed = seed
        self.r = random.Random(seed)
        r = self.r
        self.kind = kind or r.choices(KINDS, KIND_WEIGHTS)[0]
        self.rom_size = r.choices([0x10000, 0x20000, 0x40000], [8, 1, 1])[0]
        self.ram_mib = r.choices([16, 1, 2, 4, 64], [10, 1, 1, 1, 1])[0]
        self.ram = self.ram_mib << 20
        self.reset_on_triple = r.random() < 0.15
        self.exit_extras = False  # --screen-dump and --stats-file at exit (drawn last)
        self.rom = bytearray(r.randbytes(self.rom_size))
        # Sane seeds keep what the set-up needs working (most IDT gates, the pages of the
        # prologue, system structures and code copies); the others are wilder.
        self.sane = r.random() < 0.8
        self.rom_low = 0x100000 - self.rom_size  # linear/physical start of the low alias
        self.prologue = prologue
        self.params = bytearray(0xFF0)
        self.copies = []   # (dst, src, len)
        self.writes = []   # (addr, value)
        self.io = []       # (port, op, value): op = size | IO_IN
        self.disk = False  # attach the scratch disk (snapshot=on) as IDE primary master
        self.image_at = IMAGES_END  # images grow down from here
        self.used = [(0, 0x500)]  # RAM ranges handed out by ram_addr (IVT and BDA first)
        self.sysbase = None   # protected modes: GDT, IDT, LDT, TSSs, stacks (32 KiB)
        self.cr3 = 0
        # Runs of Snippets in the ROM (below the images), on a stream of their own so seeds
        # without them stay as they were: (linear start, length, code bits).
        self.rs = random.Random(seed ^ 0x5EED5EED)
        self.runs = []
        if self.rs.random() < 0.6:
            for _ in range(self.rs.randrange(2, 12)):
                n = self.rs.choice([128, 256, 512, 1024])
                self.runs.append((self.rs.randrange(self.rom_low, 0xF4000 - n), n))
        self.ram_code = []    # (physical start, length) of random code copied into RAM

    # ---- helpers
    def put_rom(self, lin, data):
        off = lin - self.rom_low
        self.rom[off:off + len(data)] = data

    def image(self, data, align=8):
        """Place `data` in the ROM image area; returns its linear address."""
        self.image_at = (self.image_at - len(data)) & ~(align - 1)
        assert self.image_at > 0xF4000, "images overflow"
        self.put_rom(self.image_at, data)
        return self.image_at

    def copy_to_ram(self, dst, data, align=8):
        self.copies.append((dst, self.image(data, align), len(data)))

    def ram_addr(self, size, align=1):
        """A random free range of conventional memory (below 0xA0000: these runs may have
        1 MiB of RAM); ranges handed out do not overlap unless memory is short."""
        top = min(self.ram, 0xA0000)
        for _ in range(50):
            at = self.r.randrange(0x500, top - size) & ~(align - 1)
            if at >= 0x500 and all(at + size <= a or at >= a + n for a, n in self.used):
                break
        self.used.append((at, size))
        return at

    def param(self, name, value, size=4):
        off = DEF[name]
        self.params[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def code_target(self):
        """A linear address of random code: ROM (low alias or 4 GiB alias) or a RAM copy."""
        r = self.r
        if self.ram_code and r.random() < 0.4:
            base, n = r.choice(self.ram_code)
            return base + r.randrange(n)
        lin = r.randrange(self.rom_low, self.image_at)
        if r.random() < 0.3:
            lin = (lin - self.rom_low) + (0x100000000 - self.rom_size)
        if self.runs and self.rs.random() < 0.5:  # the start of a run of snippets
            lin = self.rs.choice(self.runs)[0]
        return lin

    def some_value(self):
        r = self.r
        return r.choice([0, 1, 0xFFFFFFFF, r.getrandbits(32), r.getrandbits(16),
                         r.getrandbits(8), r.randrange(self.ram), 0x80000000,
                         r.randrange(0x10000) << 4])

    # ---- the parts
    def copy_random_code(self):
        """Random ROM bytes into RAM: code the guest can overwrite (self-modifying code)."""
        for _ in range(self.r.randrange(1, 4)):
            n = self.r.choice([64, 256, 1024, 4096])
            dst = self.ram_addr(n)
            src = self.r.randrange(self.rom_low, 0xF8000 - n)
            if self.runs and self.rs.random() < 0.5:
                src = min(self.rs.choice(self.runs)[0], 0xF8000 - n)
            self.copies.append((dst, src, n))
            self.ram_code.append((dst, n))

    def real_mode(self):
        r = self.r
        self.copy_random_code()
        ivt = bytearray()
        for _ in range(256):
            if r.random() < 0.9:
                lin = self.code_target() & 0xFFFFF
                if lin >= 0xF0000 and r.random() < 0.7:
                    seg = 0xF000
                else:
                    seg = r.randrange(max(0, (lin >> 4) - 0xFFF), (lin >> 4) + 1)
                ivt += ((lin - (seg << 4)) & 0xFFFF).to_bytes(2, "little") + seg.to_bytes(2, "little")
            else:
                ivt += le32(r.getrandbits(32))
        self.copy_to_ram(0, bytes(ivt))
        for name in ("P_DS", "P_ES", "P_FS", "P_GS"):
            self.param(name, r.choice([0, 0xF000, r.getrandbits(16), r.randrange(0xA000)]), 2)
        ss = r.randrange(0x50, min(self.ram, 0xA0000) >> 4)
        self.param("P_SS", ss & 0xFFFF, 2)
        self.param("P_ESP", r.choice([r.randrange(0x100, 0x10000) & ~1, 0, 0xFFFF, 2]))
        self.param("P_EFLAGS", self.random_eflags(real=True))
        target = self.code_target() & 0xFFFFF
        seg = 0xF000 if target >= 0xF0000 else target >> 4
        self.param("P_ENTRY16", ((target - (seg << 4)) & 0xFFFF) | (seg << 16))
        self.param("P_MODE", DEF["MODE_REAL"])

    def random_eflags(self, real=False):
        r = self.r
        f = 2
        if r.random() < 0.6:
            f |= EF_IF
        if r.random() < 0.2:
            f |= r.randrange(4) << 12  # IOPL
        for bit, p in ((EF_DF, 0.2), (EF_AC, 0.1), (EF_TF, 0.03), (EF_NT, 0.05),
                       (EF_VIF, 0.05), (EF_VIP, 0.05), (EF_CF, 0.5), (EF_RF, 0.05)):
            if r.random() < p:
                f |= bit
        return f

    def random_descriptor(self):
        r = self.r
        base = r.choice([0, 0, self.rom_low, 0xF0000, r.randrange(self.ram) & ~0xFFF,
                         r.getrandbits(32), 0xFFFF0000])
        limit = r.choice([0xFFFFF, 0xFFFF, 0xFFF, 0, r.getrandbits(20)])
        flags = r.choice([0xC, 0x4, 0x0, 0x8, r.getrandbits(4)])  # G, D/B
        dpl = r.randrange(4) << 5
        kind = r.random()
        if kind < 0.35:  # code: readable or not, conforming or not
            access = 0x98 | dpl | r.choice([0, 2, 4, 6]) | r.choice([0, 1])
        elif kind < 0.7:  # data: writable, expand-down
            access = 0x90 | dpl | r.choice([2, 2, 0, 6, 4]) | r.choice([0, 1])
        elif kind < 0.85:  # system: LDT, TSS (available/busy, 16/32), gates in the GDT
            access = 0x80 | dpl | r.choice([1, 2, 3, 4, 5, 9, 0xB, 0xC, 0xE, 0xF])
        else:
            return r.getrandbits(64)
        if r.random() < 0.08:
            access &= 0x7F  # not present
        return desc(base, limit, access, flags)

    def tss32(self, cr3, ldt, code_sel, data_sel, stack_top, iomap_base, eip=None):
        r = self.r
        t = bytearray(r.randbytes(0x68)) if r.random() < 0.1 else bytearray(0x68)
        def s32(off, v):
            t[off:off + 4] = le32(v)
        def s16(off, v):
            t[off:off + 2] = (v & 0xFFFF).to_bytes(2, "little")
        s32(0x04, stack_top)      # ESP0
        s16(0x08, 0x10)           # SS0
        s32(0x0C, r.choice([stack_top - 0x400, r.getrandbits(32)]))
        s16(0x10, r.choice([0x10, 0x21, r.getrandbits(16)]))
        s32(0x14, r.choice([stack_top - 0x800, r.getrandbits(32)]))
        s16(0x18, r.choice([0x10, 0x22, r.getrandbits(16)]))
        s32(0x1C, cr3)
        s32(0x20, eip if eip is not None else self.code_target())
        s32(0x24, self.random_eflags() & ~EF_VM if r.random() < 0.9 else self.random_eflags())
        for off in range(0x28, 0x48, 4):
            s32(off, self.some_value())
        s32(0x38, stack_top - r.randrange(0, 0x1000, 4))  # ESP
        odd = [] if self.sane else [r.getrandbits(16)]
        s16(0x48, r.choice([data_sel, 0] + odd))  # ES
        s16(0x4C, code_sel)
        s16(0x50, data_sel)       # SS
        s16(0x54, r.choice([data_sel, 0]))
        s16(0x58, r.choice([data_sel, 0] + odd))
        s16(0x5C, r.choice([data_sel, 0]))
        s16(0x60, ldt)
        s16(0x64, 1 if r.random() < 0.1 else 0)  # T: debug trap on the switch
        s16(0x66, iomap_base)
        return t

    def protected_mode(self, entry_bits, paged, ring3):
        r = self.r
        self.copy_random_code()
        sysbase = self.ram_addr(0x8000, align=0x1000)
        self.sysbase = sysbase
        gdt_at, idt_at, ldt_at = sysbase, sysbase + 0x400, sysbase + 0xC00
        tss_a, tss_b, tss_c = sysbase + 0x1000, sysbase + 0x1800, sysbase + 0x1C00
        stack_top = sysbase + 0x8000 - r.randrange(0, 0x100, 4)
        cr3 = 0
        if paged:
            cr3 = self.cr3 = self.page_tables(sysbase)

        # GDT: fixed entries first, random ones after (some overwrite fixed ones' slots).
        n = r.randrange(16, 64)
        gdt = [self.random_descriptor() for _ in range(n)]
        code16_base = r.choice([0xF0000, 0, self.rom_low])
        gdt[0] = 0 if r.random() < 0.95 else r.getrandbits(64)
        gdt[1] = desc(0, 0xFFFFF, 0x9B, 0xC)      # 0x08 code32 flat, ring 0
        gdt[2] = desc(0, 0xFFFFF, 0x93, 0xC)      # 0x10 data32 flat, ring 0
        gdt[3] = desc(0, 0xFFFFF, 0xFB, 0xC)      # 0x18 code32 flat, ring 3
        gdt[4] = desc(0, 0xFFFFF, 0xF3, 0xC)      # 0x20 data32 flat, ring 3
        gdt[5] = desc(code16_base, 0xFFFF, r.choice([0x9B, 0x9F, 0xFB]), 0)  # 0x28 code16
        gdt[6] = desc(r.choice([0, 0xF0000]), 0xFFFF, 0x93, 0)                # 0x30 data16
        iomap = r.choice([0x68, 0x68, 0xFFFF, 0x60, r.randrange(0x68, 0x400)])
        tss_limit = r.choice([0x67, 0x67 + 0x20, 0x3FF, r.randrange(0x2B, 0x400)])
        gdt[7] = desc(tss_a, tss_limit, 0x89, 0)  # 0x38 TSS (current task)
        gdt[8] = desc(tss_b, 0x67, 0x89, 0)       # 0x40 TSS (task-switch target)
        gdt[9] = desc(tss_c, 0x2B, 0x81, 0)       # 0x48 16-bit TSS
        ldt_limit = r.choice([0x3F, 0x7, 0xFF])
        gdt[10] = desc(ldt_at, ldt_limit, 0x82, 0)  # 0x50 LDT
        gdt[11] = gate(r.choice([0x08, 0x18, 0x28]), self.code_target(), r.choice([0xC, 0x4]),
                       r.choice([0, 3]))         # 0x58 call gate
        gdt[12] = gate(r.choice([0x40, 0x48]), 0, 0x5, r.choice([0, 3]))  # 0x60 task gate
        for k in range(13, 13 + r.randrange(0, 3)):  # a few more call gates
            gdt[k] = gate(r.choice([0x08, 0x18, 0x28, 0x3B]), self.code_target(), 0xC,
                          r.randrange(4)) | (r.randrange(32) << 32)  # param count
        self.copy_to_ram(gdt_at, b"".join(d.to_bytes(8, "little") for d in gdt))
        self.param("P_GDTR", (len(gdt) * 8 - 1) | (gdt_at << 16), 6)

        ldt = [self.random_descriptor() for _ in range(8)]
        ldt[1] = desc(0, 0xFFFFF, 0xFB, 0xC)
        ldt[2] = desc(0, 0xFFFFF, 0xF3, 0xC)
        self.copy_to_ram(ldt_at, b"".join(d.to_bytes(8, "little") for d in ldt))

        # IDT: gates into random code through various selectors, types and DPLs. In a sane
        # seed most gates work, so faults lead to more random code instead of a triple fault.
        sane = self.sane
        nvec = 256 if sane else r.choice([256, 64, 32, r.randrange(1, 256)])
        idt = []
        for v in range(nvec):
            x = r.random()
            if v == 8 and r.random() < (0.7 if sane else 0.2):
                # #DF through a task gate, as OSes do: a fresh stack after a bad ESP
                idt.append(gate(0x40, 0, 0x5, 0))
            elif x < (0.9 if sane else 0.6):
                if r.random() < (0.95 if sane else 0.5):
                    sel = 0x08
                else:
                    sel = r.choice([0x18, 0x28, 0x0C, 0x1B, 0x5C, 0x0F, 0x28])
                off = self.code_target()
                if sel == 0x28:
                    off = (off - code16_base) & 0xFFFF
                typ = r.choice([0xE, 0xE, 0xF, 0xF, 0x6, 0x7])
                idt.append(gate(sel, off, typ, r.choice([0, 3, 3]), r.random() < 0.98))
            elif x < (0.96 if sane else 0.8) or v == 8:
                idt.append(gate(r.choice([0x40, 0x48, 0x38, 0x40]), 0, 0x5, r.choice([0, 3])))
            else:
                idt.append(r.getrandbits(64))
        self.copy_to_ram(idt_at, b"".join(g.to_bytes(8, "little") for g in idt))
        self.param("P_IDTR", (nvec * 8 - 1) | (idt_at << 16), 6)

        ring3_code = 0x1B
        ring3_data = 0x23
        self.copy_to_ram(tss_a, self.tss32(cr3, 0x50, 0x08, 0x10, stack_top, iomap))
        if iomap < 0x400:  # an I/O bitmap: mostly open, some ports closed
            bm = bytearray(0x400 - iomap + 1)
            for k in range(len(bm) - 1):
                bm[k] = r.choice([0, 0, 0xFF, r.getrandbits(8)])
            bm[-1] = 0xFF
            self.copy_to_ram(tss_a + iomap, bytes(bm), 1)
        b_user = r.random() < 0.3
        self.copy_to_ram(tss_b, self.tss32(cr3 if r.random() < 0.9 else self.some_value(),
                                           0x50, ring3_code if b_user else 0x08,
                                           ring3_data if b_user else 0x10, stack_top - 0x2000,
                                           0x68))
        tc = bytearray(r.randbytes(0x2C))
        tc[0x02:0x04] = (stack_top - 0x3000 & 0xFFFF).to_bytes(2, "little")
        tc[0x04:0x06] = (0x30).to_bytes(2, "little")
        tc[0x0E:0x10] = r.randrange(0x10000).to_bytes(2, "little")  # IP
        tc[0x10:0x12] = (self.random_eflags() & 0xFFFF).to_bytes(2, "little")
        tc[0x22:0x24] = (0x30).to_bytes(2, "little")  # ES
        tc[0x24:0x26] = (0x28).to_bytes(2, "little")  # CS
        tc[0x26:0x28] = (0x30).to_bytes(2, "little")  # SS
        tc[0x28:0x2A] = (0x30).to_bytes(2, "little")  # DS
        tc[0x2A:0x2C] = (r.choice([0, 0x50])).to_bytes(2, "little")  # LDT
        self.copy_to_ram(tss_c, bytes(tc))

        flags = DEF["F_LGDT"] | DEF["F_LIDT"]
        if r.random() < 0.9:
            flags |= DEF["F_LTR"]
            self.param("P_TR", 0x38, 2)
        if self.sane or r.random() < 0.6:
            flags |= DEF["F_LLDT"]
            self.param("P_LDTR", 0x50 if self.sane else r.choice([0x50, 0]), 2)
        cr0 = 0
        for bit, p in ((CR0_WP, 0.5), (CR0_NE, 0.5), (CR0_MP, 0.3), (CR0_EM, 0.05),
                       (CR0_TS, 0.1), (CR0_AM, 0.3), (CR0_CD, 0.05)):
            if r.random() < p:
                cr0 |= bit
        if paged:
            flags |= DEF["F_PAGING"]
            cr0 |= CR0_PG
            self.param("P_CR3", cr3)
            self.param("P_CR4", self.cr4)
        self.param("P_FLAGS", flags)
        self.param("P_CR0_OR", cr0)

        data_sels = [0x10, 0x10, 0x10, 0x20, 0x30, 0x14, 0, 0x17]
        if not self.sane:
            data_sels += [r.randrange(0x10000), r.randrange(0x80)]
        for name in ("P_DS", "P_ES", "P_FS", "P_GS"):
            self.param(name, r.choice(data_sels), 2)
        self.param("P_SS", 0x10, 2)
        self.param("P_ESP", stack_top - 0x40)
        for k in range(8):
            self.params[DEF["P_REGS"] + 4 * k:DEF["P_REGS"] + 4 * k + 4] = le32(self.some_value())

        if not ring3:
            self.param("P_MODE", DEF["MODE_FAR"])
            ef = self.random_eflags() & ~(EF_VM | EF_TF if r.random() < 0.9 else EF_VM)
            self.param("P_EFLAGS", ef)
            if entry_bits == 16:
                sel = 0x28
                off = (self.code_target() - code16_base) & 0xFFFF
            else:
                sel = r.choice([0x08, 0x08, 0x08, 0x38 if r.random() < 0.1 else 0x08,
                                0x40 if r.random() < 0.2 else 0x08,
                                0x58 if r.random() < 0.2 else 0x08])
                off = self.code_target()
            self.param("P_ENTRY", off, 4)
            self.params[DEF["P_ENTRY"] + 4:DEF["P_ENTRY"] + 6] = sel.to_bytes(2, "little")
        else:
            self.param("P_MODE", DEF["MODE_IRET"])
            self.ring3_frame(stack_top, code16_base)

    def ring3_frame(self, stack_top, code16_base):
        r = self.r
        x = r.random()
        pre = 2 | (EF_IF if r.random() < 0.3 else 0)
        if x < 0.55:  # CPL 3, 32-bit
            frame = [self.code_target(), r.choice([0x1B, 0x1B, 0x1B, 0x0F, 0x1B | 4]),
                     (self.random_eflags() & ~EF_VM) | 2,
                     stack_top - 0x4000 - r.randrange(0, 0x1000, 4), r.choice([0x23, 0x23, 0x17])]
            if frame[1] == 0x0F:  # LDT code (TI=1, index 1, RPL 3)
                frame[4] = 0x17
        elif x < 0.65:  # CPL 3, 16-bit code segment with RPL 3 (usually a #GP: DPL 0)
            frame = [(self.code_target() - code16_base) & 0xFFFF, 0x2B, self.random_eflags() & ~EF_VM,
                     r.randrange(0x10000), 0x23]
        elif x < 0.85:  # V86
            target = self.code_target() & 0xFFFFF
            seg = 0xF000 if target >= 0xF0000 else target >> 4
            frame = [(target - (seg << 4)) & 0xFFFF, seg, self.random_eflags() | EF_VM,
                     r.randrange(0x10000), r.randrange(0x50, 0x9000)] + \
                    [r.choice([0, 0xF000, r.getrandbits(16)]) for _ in range(4)]
        elif x < 0.93:  # same ring
            frame = [self.code_target(), 0x08, self.random_eflags() & ~EF_VM]
        else:  # task return: NT = 1 and a back link (the TSS's first word)
            pre |= EF_NT
            self.writes.append((self.tss_a_addr(), r.choice([0x40, 0x48, 0x38, 0x40])))
            frame = [0, 0, 0]
        self.param("P_EFLAGS", pre)
        for k, v in enumerate(frame):
            self.params[DEF["P_IRET"] + 4 * k:DEF["P_IRET"] + 4 * k + 4] = le32(v)
        self.param("P_IRET_LEN", len(frame))

    def tss_a_addr(self):
        gdtr_base = int.from_bytes(self.params[DEF["P_GDTR"] + 2:DEF["P_GDTR"] + 6], "little")
        return gdtr_base + 0x1000

    def page_tables(self, sysbase):
        """Random two-level page tables (SDM vol.3 4.3), copied to RAM as images; returns CR3.
        Usually the prologue, parameter, system-structure and stack pages stay identity-mapped
        for the supervisor, so the set-up completes and faults can be delivered."""
        r = self.r
        self.cr4 = 0
        for bit, p in ((CR4_PSE, 0.7), (CR4_PGE, 0.4), (CR4_VME, 0.2), (CR4_PVI, 0.2),
                       (CR4_DE, 0.3), (CR4_TSD, 0.1), (CR4_PCE, 0.2)):
            if r.random() < p:
                self.cr4 |= bit
        pse = bool(self.cr4 & CR4_PSE)
        npt = r.randrange(1, 4)
        base = self.ram_addr(0x1000 * (npt + 1), align=0x1000)
        pd_at = base
        pt_at = [base + 0x1000 * (k + 1) for k in range(npt)]
        targets = [
            lambda: r.randrange(self.ram) & ~0xFFF,                        # RAM
            lambda: r.randrange(min(self.ram, 0x100000)) & ~0xFFF,         # low RAM
            lambda: self.rom_low + (r.randrange(self.rom_size) & ~0xFFF),  # ROM, low alias
            lambda: 0x100000000 - self.rom_size + (r.randrange(self.rom_size) & ~0xFFF),
            lambda: r.choice([0xFEC00000, 0xFEE00000]),                    # IOAPIC, local APIC
            lambda: r.choice([0xE0000000, self.ram + 0x1000 * r.randrange(16), 0x7FFFF000,
                              0xA0000, 0xB8000]),                          # unassigned, VGA
            lambda: r.choice([pd_at] + pt_at),                             # the tables
            lambda: sysbase + 0x1000 * r.randrange(8),                     # GDT/IDT/TSS pages
        ]

        def rights(pde):
            f = 0
            for bit, p in ((P, 0.9), (RW, 0.7), (US, 0.6), (PWT, 0.05), (PCD, 0.05), (A, 0.3),
                           (D, 0.2)):
                if r.random() < p:
                    f |= bit
            if not pde and r.random() < 0.3:
                f |= G
            if r.random() < 0.05:
                f |= r.getrandbits(3) << 9  # available to software
            return f

        pts = []
        for _ in range(npt):
            pt = [0] * 1024
            for i in r.sample(range(1024), r.randrange(16, 200)):
                pt[i] = r.choice(targets)() | rights(False)
            pts.append(pt)
        # The first table maps the low 4 MiB: identity for much of the first MiB.
        pt0 = pts[0]
        for page in range(0x100):
            if r.random() < 0.6:
                pt0[page] = (page << 12) | rights(False)
        keep = [0xFE, 0xFF]  # prologue, parameters
        if self.sane:
            keep += [(sysbase >> 12) + k for k in range(8)] + list(range(0xF0, 0x100))
            for at, n in self.ram_code:
                keep += range(at >> 12, (at + n + 0xFFF) >> 12)
        for page in keep:
            pt0[page] = (page << 12) | P | RW | US | (pt0[page] & (A | D | G))
        if self.sane:  # the ROM's 4 GiB alias, where code targets may be too
            for page in range(0x3F0, 0x400):
                pts[-1][page] = (0xFFC00000 + (page << 12)) | P | US | A
        pd = [0] * 1024
        if pse and r.random() < 0.4:
            pd[0] = P | RW | PS | (US if r.random() < 0.7 else 0) | r.choice([0, G])
        else:
            pd[0] = pt_at[0] | P | RW | (US if r.random() < 0.8 else 0) | r.choice([0, A])
        # The top 4 MiB (ROM alias); 0xFEC00000-0xFEFFFFFF: IOAPIC and local APIC.
        pd[1023] = (pt_at[-1] | P | RW | US) if r.random() < 0.6 or not pse else \
            (0xFFC00000 | P | RW | PS | US)
        pd[1019] = (0xFEC00000 | P | RW | PS | PCD) if pse and r.random() < 0.5 else \
            pt_at[-1] | P | RW
        for i in r.sample(range(1, 1023), r.randrange(4, 60)):
            if i == 1019:
                continue
            x = r.random()
            if x < 0.4:
                pd[i] = r.choice(pt_at) | rights(True)
            elif x < 0.8:
                big = r.choice([0, 0x400000, r.randrange(max(1, self.ram >> 22)) << 22,
                                0xFEC00000, 0xFFC00000, 0xE0000000, r.getrandbits(10) << 22])
                pd[i] = big | PS | rights(False)
                if r.random() < 0.1:
                    pd[i] |= r.getrandbits(9) << 13  # reserved with PSE: #PF with RSVD
            else:
                pd[i] = r.getrandbits(32)
        for at, table in [(pd_at, pd)] + list(zip(pt_at, pts)):
            self.copy_to_ram(at, b"".join(le32(e) for e in table), 4)
        return pd_at | r.choice([0, PWT, PCD])

    # ---- devices: the prologue's write list (MMIO) and I/O list (ports)
    def out(self, port, value, size=1):
        self.io.append((port, size, value))

    def inp(self, port, size=1):
        self.io.append((port, size | DEF["IO_IN"], 0))

    def pci_write(self, dev, fn, reg, value, size=4):
        self.out(0xCF8, 0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xFC), 4)
        self.out(0xCFC + (reg & 3), value, size)

    def be(self, v, n):
        return int.from_bytes(v.to_bytes(n, "big"), "little")

    def devices(self):
        """Program devices the way a guest would, with random values: interrupt sources
        (PIC + PIT, the APIC timer, the RTC), DMA (fw_cfg, IDE bus master with a scratch
        disk), PCI configuration (PAM shadowing, BARs), MMIO registers and random ports."""
        r = self.r
        recipes = [self.rec_pit, self.rec_apic, self.rec_rtc, self.rec_fwcfg_dma,
                   self.rec_ide_dma, self.rec_pci, self.rec_mmio, self.rec_ports]
        for rec in r.sample(recipes, r.randrange(1, 5)):
            rec()

    def virtual_wire(self):
        """PIC interrupts reach the CPU: APIC enabled with LINT0 as ExtINT (SDM vol.3 10.5.1)."""
        self.writes.append((0xFEE000F0, 0x100 | self.r.randrange(256)))  # SVR: enable
        self.writes.append((0xFEE00350, 0x700))                           # LINT0: ExtINT

    def rec_pit(self):
        r = self.r
        base = r.choice([0x08, 0x20, 0x70, 0xF8, r.randrange(0, 256, 8)])
        for port, v in ((0x20, 0x11), (0x21, base), (0x21, 4), (0x21, 1),
                        (0xA0, 0x11), (0xA1, base ^ 8), (0xA1, 2), (0xA1, 1)):
            self.out(port, v)
        self.out(0x21, r.choice([0, 0xFE, 0xFA, r.getrandbits(8)]))
        self.out(0xA1, r.choice([0xFF, 0, r.getrandbits(8)]))
        mode = r.choice([0x34, 0x36, 0x30, 0x32, 0x38, r.getrandbits(8) & 0x3F])
        self.out(0x43, mode)
        count = r.choice([1, 2, 3, 10, 100, 1193, 0, r.getrandbits(16)])
        self.out(0x40, count & 0xFF)
        self.out(0x40, count >> 8)
        if r.random() < 0.3:
            self.out(0x43, r.choice([0xB6, 0x94, 0x74, 0xD2, 0xE2]))  # other channels, read-back
            self.out(0x42, r.getrandbits(8))
            self.out(0x61, r.getrandbits(8))
        self.virtual_wire()

    def rec_apic(self):
        r = self.r
        self.writes.append((0xFEE000F0, 0x100 | r.randrange(256)))
        self.writes.append((0xFEE003E0, r.randrange(16)))  # divide
        lvt = r.randrange(16, 256) | r.choice([0, 0x20000, 0x20000, 0x10000, 0x400])
        self.writes.append((0xFEE00320, lvt))                # LVT timer: periodic/one-shot
        self.writes.append((0xFEE00380, r.choice([1, 2, 16, 1000, r.getrandbits(32)])))
        if r.random() < 0.3:
            self.writes.append((0xFEE00080, r.randrange(256)))  # TPR
        if r.random() < 0.3:  # an IPI to self or all (fixed, NMI, INIT, ...)
            self.writes.append((0xFEE00310, r.choice([0, 0xFF000000])))
            self.writes.append((0xFEE00300, r.randrange(256) | (r.randrange(8) << 8) |
                                r.choice([0, 0x4000, 0x8000, 0x40000, 0x80000, 0xC0000])))

    def rec_rtc(self):
        r = self.r
        self.out(0x70, 0x0A | r.choice([0, 0x80]))
        self.out(0x71, 0x20 | r.randrange(16))  # rate
        self.out(0x70, 0x0B)
        self.out(0x71, r.choice([0x40, 0x42, 0x70, 0x12, r.getrandbits(8)]))  # PIE, AIE, UIE
        self.out(0x70, 0x0C)
        self.inp(0x71)
        for port, v in ((0x21, 0xFB), (0xA1, 0xFE)):  # unmask IRQ2 and IRQ8
            self.out(port, v)
        self.virtual_wire()

    def rec_fwcfg_dma(self):
        r = self.r
        for _ in range(r.randrange(1, 4)):
            rec = self.ram_addr(16, 8)
            control = r.choice([0x02, 0x08, 0x10, 0x04, r.getrandbits(32)]) | \
                (r.choice([0, 0x19, 0x8000, 0x8001, r.getrandbits(16)]) << 16)  # select key
            length = r.choice([16, 4096, 0x100000, 0xFFFFFFFF, r.getrandbits(32)])
            addr = r.choice([r.randrange(self.ram), 0, 0xFFFFF000, self.rom_low,
                             0xFEE00000, self.ram - 8, r.getrandbits(32)])
            for k, v in enumerate((self.be(control, 4), self.be(length, 4),
                                   self.be(addr >> 32, 4), self.be(addr & 0xFFFFFFFF, 4))):
                self.writes.append((rec + 4 * k, v))
            self.out(0x510, r.choice([0, 0x19, 0x8000, r.getrandbits(16)]), 2)
            self.out(0x514, self.be(r.choice([0, 0, 1]), 4), 4)
            self.out(0x518, self.be(rec, 4), 4)

    def rec_ide_dma(self):
        r = self.r
        self.disk = r.random() < 0.8
        bm = r.choice([0xC000, 0x1000, 0xFFF0, 0x3F0 & ~15])
        self.pci_write(1, 1, 0x20, bm | 1)          # BAR4: bus master base
        self.pci_write(1, 1, 0x04, r.choice([5, 7, 1]), 2)  # I/O + bus master
        self.pci_write(1, 1, 0x40, 0x8000, 2)       # IDE decode enable (primary)
        prd = self.ram_addr(64, 4)
        for k in range(r.randrange(1, 5)):
            last = 0x80000000 if r.random() < 0.6 else 0
            self.writes.append((prd + 8 * k, r.choice([r.randrange(self.ram), 0xFFFFF000,
                                                       r.getrandbits(32), self.rom_low])))
            self.writes.append((prd + 8 * k + 4, r.choice([512, 0, 4096, r.getrandbits(16)])
                                | last))
        self.out(bm + 4, prd, 4)
        self.out(0x1F6, r.choice([0xE0, 0xF0, 0xA0, r.getrandbits(8)]))
        self.out(0x1F2, r.choice([1, 0, 8, 255]))
        for port in (0x1F3, 0x1F4, 0x1F5):
            self.out(port, r.getrandbits(8) if r.random() < 0.3 else 0)
        self.out(0x1F7, r.choice([0xC8, 0xCA, 0x25, 0x35, 0xEC, 0x20, 0x30, 0xE7,
                                  r.getrandbits(8)]))
        self.out(bm, r.choice([0x09, 0x01, 0x08, r.getrandbits(8)]))
        if r.random() < 0.5:
            self.inp(bm + 2)
            self.out(bm + 2, r.getrandbits(8))
            self.inp(0x1F7)

    def rec_pci(self):
        r = self.r
        for _ in range(r.randrange(1, 8)):
            dev, fn = r.choice([(0, 0), (1, 0), (1, 1), (1, 3), (r.randrange(32), r.randrange(8))])
            reg = r.choice([0x04, 0x10, 0x20, 0x3C, 0x40, 0x59, 0x5A, 0x5F, 0x72, 0x80,
                            r.randrange(256)])
            self.pci_write(dev, fn, reg, r.getrandbits(32), r.choice([1, 2, 4]))
            if r.random() < 0.3:
                self.inp(0xCFC + r.randrange(4), r.choice([1, 2, 4]))

    def rec_mmio(self):
        r = self.r
        for _ in range(r.randrange(1, 12)):
            x = r.random()
            if x < 0.5:
                reg = r.choice([0x20, 0x80, 0xB0, 0xD0, 0xE0, 0xF0, 0x280, 0x300, 0x310, 0x320,
                                0x330, 0x340, 0x350, 0x360, 0x370, 0x380, 0x3E0,
                                r.randrange(0, 0x1000, 4)])
                self.writes.append((0xFEE00000 + reg, r.getrandbits(32)))
            elif x < 0.85:
                self.writes.append((0xFEC00000, r.choice([0, 1, 2, r.randrange(0x10, 0x40),
                                                          r.getrandbits(8)])))
                self.writes.append((0xFEC00010, r.getrandbits(32)))
            else:
                self.writes.append((0xFED00000 + r.choice([0x10, 0xF0, 0xF4, 0x100, 0x108,
                                                           0x120, r.randrange(0, 0x400, 4)]),
                                    r.getrandbits(32)))

    def rec_ports(self):
        r = self.r
        ports = [0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x60, 0x64,
                 0x92, 0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3B4, 0x3B5, 0x3C0, 0x3C4,
                 0x3C5, 0x3CE, 0x3CF, 0x3D4, 0x3D5, 0x3DA, 0x1F0, 0x1F1, 0x1F2, 0x1F6, 0x1F7,
                 0x3F6, 0x170, 0x177, 0x376, 0xCF8, 0xCFC, 0x510, 0x511, 0x514, 0x518, 0xCF9,
                 0x600, 0x604, 0x608, 0xB2, 0x80, 0x4D0, 0x4D1, 0x402]
        for _ in range(r.randrange(1, 24)):
            port = r.choice(ports) if r.random() < 0.9 else r.randrange(0x10000)
            if port == 0xF4:
                continue  # the debug-exit port would end the run before the random code
            size = r.choice([1, 1, 2, 4])
            if r.random() < 0.75:
                self.out(port, r.getrandbits(32), size)
            else:
                self.inp(port, size)

    def write_snippets(self):
        """Fill the runs with snippets for the seed's main code size (sometimes the other)."""
        rs = self.rs
        main = 16 if self.kind in ("real", "pm16") else 32
        sn = Snippets(rs, self)
        for at, n in self.runs:
            bits = main if rs.random() < 0.8 else 48 - main
            code = bytearray()
            while len(code) < n:
                code += sn.one(bits)
                if rs.random() < 0.1:
                    code += rs.randbytes(rs.randrange(1, 4))
            self.put_rom(at, bytes(code[:n]))

    def build(self):
        r = self.r
        k = self.kind
        if k == "raw":
            self.exit_extras = r.random() < 0.1
            return bytes(self.rom)
        self.cr4 = 0
        if k == "real":
            self.real_mode()
        elif k == "pm16":
            self.protected_mode(16, False, False)
        elif k == "pm32":
            self.protected_mode(32, False, False)
        elif k == "paged":
            self.protected_mode(32 if r.random() < 0.85 else 16, True, False)
        elif k == "ring3":
            self.protected_mode(32, r.random() < 0.6, True)
        if r.random() < 0.5:
            self.devices()
        self.write_snippets()
        self.param("P_NCOPY", len(self.copies))
        assert len(self.copies) <= 21 and len(self.writes) <= 320 and len(self.io) <= 126, \
            (len(self.copies), len(self.writes), len(self.io))
        self.param("P_NIO", len(self.io))
        for n, (port, op, v) in enumerate(self.io):
            at = DEF["P_IO"] + 8 * n
            self.params[at:at + 8] = port.to_bytes(2, "little") + op.to_bytes(2, "little") + \
                le32(v)
        for n, (dst, src, ln) in enumerate(self.copies):
            at = DEF["P_COPY"] + 12 * n
            self.params[at:at + 12] = le32(dst) + le32(src) + le32(ln)
        self.param("P_NWRITES", len(self.writes))
        for n, (addr, v) in enumerate(self.writes):
            at = DEF["P_WRITES"] + 8 * n
            self.params[at:at + 8] = le32(addr) + le32(v)
        self.put_rom(PROLOGUE, self.prologue)
        self.put_rom(PARAMS, bytes(self.params))
        self.put_rom(RESET, b"\xEA" + (PROLOGUE - 0xF0000).to_bytes(2, "little") +
                     (0xF000).to_bytes(2, "little"))  # jmp far F000:E000
        self.exit_extras = r.random() < 0.1
        return bytes(self.rom)

    extra_args = []  # for every seed (main: --jit-threshold)

    def args(self, rom_path, timeout, insn_limit, disk=None):
        a = ["run", "--bios", rom_path, "-m", str(self.ram_mib), "--serial", "none",
             "--timeout", str(timeout), "--insn-limit", str(insn_limit),
             "--on-triple-fault", "reset" if self.reset_on_triple else "exit"]
        if self.disk and disk:
            a += ["--drive", "file=%s,snapshot=on" % disk]
        if self.exit_extras:
            a += ["--screen-dump", "/dev/null", "--stats=json", "--stats-file", "/dev/null"]
        return a + self.extra_args


def make_disk(path):
    """The scratch disk some seeds attach (snapshot=on: never written): 1 MiB, fixed bytes."""
    with open(path, "wb") as f:
        f.write(random.Random(0).randbytes(1 << 20))


def cpu_seconds(pid):
    """User + system CPU time of a running process (Linux /proc), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def check_run(softcpu, builder, rom_path, timeout, grace, insn_limit, max_rss_mb=256,
              disk=None):
    """Run one ROM; returns (problem or None, status, seconds, stderr text).

    A run still going at --timeout + grace is killed if it has used more CPU than that (a
    busy hang), or once it is far past the deadline (a blocked hang). Until then it may just
    have been starved: on a loaded or niced host a healthy run can wait seconds for a CPU."""
    cmd = [softcpu] + builder.args(rom_path, timeout, insn_limit, disk)
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    lock = threading.Lock()
    state = {"reaped": False, "hung": None}
    finished = threading.Event()

    def watch():
        soft = start + timeout + grace
        hard = soft + 10 * grace + 30
        if finished.wait(timeout + grace):
            return
        while not finished.wait(0.5):
            cpu = cpu_seconds(p.pid)
            now = time.monotonic()
            why = None
            if cpu is not None and cpu > timeout + grace:
                why = "busy: %.1f s of CPU" % cpu
            elif now > hard:
                why = "blocked or starved: %.1f s of CPU" % (cpu or 0)
            if why:
                with lock:
                    if not state["reaped"]:
                        state["hung"] = why
                        os.kill(p.pid, 9)
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    err = p.stderr.read()  # to EOF: the process ended or was killed
    p.stderr.close()
    _, wstatus, usage = os.wait4(p.pid, 0)  # wait4 for the child's peak RSS
    with lock:
        state["reaped"] = True
    finished.set()
    watcher.join()
    st = p.returncode = os.waitstatus_to_exitcode(wstatus)
    secs = time.monotonic() - start
    text = err.decode(errors="replace")
    if state["hung"]:
        return ("still running %.1f s after start (--timeout %g plus %g s of grace; %s): "
                "killed" % (secs, timeout, grace, state["hung"]), None, secs, text)
    if st < 0:
        return ("killed by signal %d" % -st, st, secs, text)
    if not (st in (0, 3, 124) or st & 1):
        return ("exit status %d is not one a guest can cause" % st, st, secs, text)
    for line in text.splitlines():
        if not EXPECTED_STDERR.match(line):
            return ("unexpected message on stderr: %s" % line[:200], st, secs, text)
    # KiB on Linux. The child's peak includes what it had between fork and exec, the
    # harness's own pages, so the harness's peak is allowed on top.
    rss_mb = usage.ru_maxrss / 1024
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if rss_mb > max_rss_mb + builder.ram_mib + own_mb:
        return ("peak RSS %.0f MiB (more than %d MiB + guest RAM)" % (rss_mb, max_rss_mb),
                st, secs, text)
    return (None, st, secs, text)


def parse_seeds(spec):
    seeds = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            seeds.extend(range(int(a), int(b) + 1))
        else:
            seeds.append(int(part))
    return seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--softcpu", required=True, help="the softcpu binary")
    ap.add_argument("--seeds", default="0-299", help="seed list: 0-299 or 5,7,100-120")
    ap.add_argument("--seed", type=int, help="one seed (with --keep: keep its ROM)")
    ap.add_argument("--soak", type=int, metavar="N",
                    help="run N seeds from --first, printing progress; failures go to --out")
    ap.add_argument("--first", type=int, default=1000000, help="first soak seed")
    ap.add_argument("--kind", choices=KINDS, help="force one kind of ROM")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=2.0, help="softcpu --timeout per seed")
    ap.add_argument("--grace", type=float, default=3.0,
                    help="seconds past --timeout before a run counts as hung")
    ap.add_argument("--insn-limit", type=int, default=2000000)
    ap.add_argument("--jit-threshold", type=int, metavar="N",
                    help="run with --jit on --jit-threshold N (compiled code, background thread)")
    ap.add_argument("--keep", metavar="ROM", help="write the (single) seed's ROM here")
    ap.add_argument("--out", default=None,
                    help="directory for failing seeds' ROMs (default: a temporary one)")
    ap.add_argument("--max-failures", type=int, default=20)
    ap.add_argument("--max-rss", type=int, default=256, metavar="MIB",
                    help="peak RSS allowed beyond the guest's RAM (default 256 MiB)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    softcpu = os.path.abspath(a.softcpu)
    if a.jit_threshold is not None:
        RomBuilder.extra_args = ["--jit", "on", "--jit-threshold", str(a.jit_threshold)]
    work = tempfile.mkdtemp(prefix="random_rom.")
    out_dir = a.out or os.path.join(work, "failures")
    os.makedirs(out_dir, exist_ok=True)
    prologue = assemble_prologue(work)
    disk = os.path.join(out_dir, "disk.img")  # next to the failing ROMs, for their commands
    make_disk(disk)

    if a.seed is not None:
        seeds = [a.seed]
    elif a.soak:
        seeds = range(a.first, a.first + a.soak)
    else:
        seeds = parse_seeds(a.seeds)

    def one(seed):
        b = RomBuilder(seed, prologue, a.kind)
        rom = b.build()
        path = a.keep if (a.keep and a.seed is not None) else os.path.join(work, "%d.rom" % seed)
        with open(path, "wb") as f:
            f.write(rom)
        problem, st, secs, err = check_run(softcpu, b, path, a.timeout, a.grace, a.insn_limit,
                                           a.max_rss, disk)
        note = None
        if not problem and secs > a.timeout + a.grace:
            note = "ended %.1f s after start, past --timeout %g plus %g s of grace, but had " \
                   "little CPU (a starved host?)" % (secs, a.timeout, a.grace)
        if problem:
            keep = os.path.join(out_dir, "seed%d.rom" % seed)
            shutil.copyfile(path, keep)
        else:
            keep = None
        if not (a.keep and a.seed is not None):
            os.unlink(path)
        return seed, b, problem, st, secs, err, keep, note

    failures = []
    notes = []
    counts = {}
    slow = []
    t0 = time.monotonic()
    done = 0
    def bounded_map(ex, fn, items, window):
        """ex.map without submitting everything first: a soak of 10^5 seeds made 10^5 futures
        up front (hundreds of MiB of harness, which ru_maxrss then charged to every child)."""
        pending = collections.deque()
        for item in items:
            pending.append(ex.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        for seed, b, problem, st, secs, err, keep, note in bounded_map(ex, one, seeds,
                                                                         4 * a.jobs):
            done += 1
            if note:
                notes.append(seed)
                print("NOTE seed %d (%s): %s" % (seed, b.kind, note), flush=True)
            counts[(b.kind, st)] = counts.get((b.kind, st), 0) + 1
            if "softcpu: timeout after" in err:
                slow.append((seed, secs))
            if problem:
                failures.append(seed)
                cmd = " ".join([softcpu] + b.args(keep, a.timeout, a.insn_limit, disk))
                jit = "" if a.jit_threshold is None else " --jit-threshold %d" % a.jit_threshold
                print("FAIL seed %d (%s): %s\n  reproduce: %s --softcpu %s --seed %d "
                      "--timeout %g --insn-limit %d%s --keep seed%d.rom\n  or run:    %s\n"
                      "  stderr (last lines):\n    %s" % (
                          seed, b.kind, problem, os.path.abspath(__file__), softcpu, seed,
                          a.timeout, a.insn_limit, jit, seed, cmd,
                          "\n    ".join(err.splitlines()[-6:])), flush=True)
                if len(failures) >= a.max_failures:
                    print("too many failures; stopping", flush=True)
                    ex.shutdown(wait=False, cancel_futures=True)
                    break
            if a.soak and not a.quiet and done % 500 == 0:
                rate = done / (time.monotonic() - t0)
                print("%d/%d seeds, %d failures, %.1f seeds/s" % (done, len(seeds), len(failures),
                                                                   rate), flush=True)
    elapsed = time.monotonic() - t0
    if not a.quiet:
        summary = {}
        for (kind, st), n in sorted(counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            summary.setdefault(kind, []).append("%s:%d" % (st, n))
        print("%d seeds in %.1f s (%d failures); exit statuses by kind:" % (done, elapsed,
                                                                           len(failures)))
        for kind in KINDS:
            if kind in summary:
                print("  %-6s %s" % (kind, " ".join(summary[kind])))
        if slow:
            print("  %d ran to their --timeout (halted with nothing to wake them, or a slow "
                  "host): %s%s" % (len(slow), " ".join("%d" % s for s, _ in slow[:20]),
                                   " ..." if len(slow) > 20 else ""))
        if notes:
            print("  %d ended late but were starved, not hung: %s" % (
                len(notes), " ".join(map(str, notes[:20]))))
    if not failures:
        shutil.rmtree(work, ignore_errors=True)
        if a.out:
            os.unlink(disk)
    else:
        print("failing ROMs are in %s" % out_dir)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
