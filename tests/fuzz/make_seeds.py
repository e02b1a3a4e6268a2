#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer harnesses (tests/fuzz/corpus/<harness>/), small
inputs in each harness's format (the comments at the top of each *_target.cpp). The files are
in git; run this again after changing a format:  tests/fuzz/make_seeds.py"""

import os
import re
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


# ---- insn: mode, options, seed (4 bytes), code -------------------------------------------
SNIPPETS32 = [
    b"\x0f\x20\xc0\x0f\x22\xc0",          # mov eax, cr0; mov cr0, eax
    b"\xcd\x21",                          # int 0x21
    b"\x9c\x58\x50\x9d",                  # pushf; pop eax; push eax; popf
    b"\xb9\x10\x00\x00\x00\xf3\xa4",      # mov ecx, 16; rep movsb
    b"\x0f\xa2",                          # cpuid
    b"\xe6\x80\xe4\x61",                  # out 0x80, al; in al, 0x61
    b"\xea\x00\x00\x01\x00\x08\x00",      # jmp far 0x08:0x10000
    b"\x0f\x01\x15\x00\x08\x00\x00",      # lgdt [0x800]
    b"\x66\xb8\x10\x00\x8e\xd8",          # mov ax, 0x10; mov ds, ax
    b"\x0f\x22\xd8",                      # mov cr3, eax
    b"\x0f\x01\x38",                      # invlpg [eax]
    b"\xcf",                              # iretd
    b"\x9a\x00\x00\x00\x00\x48\x00",      # call far 0x48:0
    b"\x0f\x00\xd8",                      # ltr ax
    b"\xd9\xee\xdd\x30",                  # fldz; fnsave [eax]
    b"\xf4",                              # hlt
]


def code(rng, snippets, n=200):
    out = bytearray()
    while len(out) < n:
        out += rng.choice(snippets) if rng.random() < 0.6 else bytes(
            rng.randrange(256) for _ in range(rng.randrange(1, 6)))
    return out


rng = random.Random(15)
for mode in range(8):
    for variant in range(2):
        opt = rng.randrange(256) if variant else 0
        seed = struct.pack("<I", rng.randrange(1, 2**32))
        put("insn", f"mode{mode}-{variant}", bytes([mode, opt]) + seed + code(rng, SNIPPETS32))


# ---- platform: testdev byte, then operations ------------------------------------------------
def pw(sel, size, value):  # port write through the table (sel < 0xE0) or a raw port
    sz = {1: 0, 2: 1, 4: 2}[size]
    if sel >= 0x10000:
        return bytes([0 | sz << 3, sel >> 16]) + struct.pack("<HI", sel & 0xFFFF, value)
    return bytes([0 | sz << 3, sel]) + struct.pack("<I", value)


def raw_w(port, size, value):
    return bytes([0 | {1: 0, 2: 1, 4: 2}[size] << 3, 0xE0]) + struct.pack("<HI", port, value)


def raw_r(port, size):
    return bytes([1 | {1: 0, 2: 1, 4: 2}[size] << 3, 0xE0]) + struct.pack("<H", port)


def mmio_w(region, off, size, value):
    return bytes([2 | {1: 0, 2: 1, 4: 2}[size] << 3, region]) + struct.pack("<HI", off, value)


def mmio_r(region, off, size):
    return bytes([3 | {1: 0, 2: 1, 4: 2}[size] << 3, region]) + struct.pack("<H", off)


def time(n, shift):
    return bytes([4 | (shift & 15) << 3, n])


def poke(addr, data):
    return bytes([5]) + struct.pack("<I", addr)[:3] + bytes([len(data)]) + bytes(data)


SETTLE = bytes([6])
ACK = bytes([7])


def pci_w(dev, fn, reg, size, value):
    return raw_w(0xCF8, 4, 0x80000000 | dev << 11 | fn << 8 | (reg & ~3)) + \
        raw_w(0xCFC + (reg & 3), size, value)


pic = b"".join(raw_w(p, 1, v) for p, v in [(0x20, 0x11), (0x21, 0x20), (0x21, 4), (0x21, 1),
                                            (0x21, 0), (0x43, 0x34), (0x40, 0x10), (0x40, 0)])
put("platform", "pic-pit", b"\x00" + pic + time(200, 12) + ACK + raw_w(0x20, 1, 0x20) + ACK)
put("platform", "rtc", b"\x00" + b"".join(raw_w(0x70, 1, i) + raw_r(0x71, 1) for i in range(0, 0x40, 3))
    + raw_w(0x70, 1, 0x0B) + raw_w(0x71, 1, 0x70) + time(255, 15) + ACK)
ide_pio = (raw_w(0x1F6, 1, 0xE0) + raw_w(0x1F2, 1, 2) + raw_w(0x1F3, 1, 5) + raw_w(0x1F7, 1, 0x20)
           + SETTLE + b"".join(raw_r(0x1F0, 2) for _ in range(40)) + raw_w(0x1F7, 1, 0xEC) + SETTLE
           + raw_r(0x1F0, 4) + raw_w(0x176, 1, 0xA0) + raw_w(0x177, 1, 0xEC) + SETTLE + raw_r(0x170, 2))
put("platform", "ide-pio", b"\x00" + ide_pio)
prd = struct.pack("<IHH", 0x3000, 1024, 0) + struct.pack("<IHH", 0x1FFF00, 0, 0x8000)
ide_dma = (pci_w(1, 1, 0x20, 4, 0xC001) + pci_w(1, 1, 4, 2, 5) + poke(0x1000, prd)
           + raw_w(0xC004, 4, 0x1000) + raw_w(0x1F6, 1, 0xE0) + raw_w(0x1F2, 1, 3)
           + raw_w(0x1F3, 1, 0x7F) + raw_w(0x1F7, 1, 0xC8) + raw_w(0xC000, 1, 9) + SETTLE
           + raw_r(0xC002, 1) + raw_w(0x1F7, 1, 0xCA) + raw_w(0xC000, 1, 1) + SETTLE + ACK)
put("platform", "ide-dma", b"\x00" + ide_dma)
fw_desc = struct.pack(">IIQ", (0x19 << 16) | 0x0A, 64, 0x5000)  # select+read file dir
fwcfg = (raw_w(0x510, 2, 0) + b"".join(raw_r(0x511, 1) for _ in range(4)) + raw_w(0x510, 2, 0x19)
         + raw_r(0x511, 1) + poke(0x4000, fw_desc) + raw_w(0x514, 4, 0) + raw_w(0x518, 4, 0x00400000))
put("platform", "fw-cfg", b"\x00" + fwcfg)
apic = (mmio_w(0, 0xF0, 4, 0x1FF) + mmio_w(0, 0x320, 4, 0x20030) + mmio_w(0, 0x3E0, 4, 0xB)
        + mmio_w(0, 0x380, 4, 1000) + time(100, 10) + mmio_r(0, 0x390, 4) + mmio_w(1, 0, 4, 0x10)
        + mmio_w(1, 0x10, 4, 0x30) + mmio_r(1, 0x10, 4) + mmio_w(2, 0x10, 4, 3) + mmio_w(2, 0x100, 4, 0x44)
        + mmio_w(2, 0x108, 4, 500) + time(100, 10) + ACK + mmio_w(0, 0xB0, 4, 0))
put("platform", "apic-ioapic-hpet", b"\x00" + apic)
uart = (raw_w(0x3FB, 1, 0x80) + raw_w(0x3F8, 1, 1) + raw_w(0x3FB, 1, 3) + raw_w(0x3F9, 1, 0xF)
        + raw_w(0x3F8, 1, 0x41) + raw_r(0x3FD, 1) + raw_r(0x3FA, 1) + raw_w(0x3FC, 1, 0x1B) + ACK
        + raw_w(0x64, 1, 0xD1) + raw_w(0x60, 1, 0xDF) + raw_w(0x64, 1, 0x20) + raw_r(0x60, 1)
        + raw_w(0x3D4, 1, 0xE) + raw_r(0x3D5, 1) + raw_r(0x3DA, 1) + raw_w(0x3C0, 1, 0x10))
put("platform", "uart-i8042-vga", b"\x01" + uart)
pm = (pci_w(1, 3, 0x40, 4, 0x601) + pci_w(1, 3, 0x80, 1, 1) + raw_r(0x608, 4) + raw_w(0x604, 2, 0x2000)
      + pci_w(0, 0, 0x59, 1, 0x30) + mmio_w(6, 0, 4, 0x12345678) + mmio_r(6, 0, 4) + raw_w(0xB2, 1, 2))
put("platform", "pm-pam", b"\x00" + pm)


# ---- gdb: state byte, then the client's bytes ------------------------------------------------
def pkt(payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return b"$" + payload + b"#" + b"%02x" % (sum(payload) & 0xFF)


def hexs(s):
    return s.encode().hex()


sessions = {
    "query": ["qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386", "qAttached", "?",
              "Hg0", "qfThreadInfo", "qC", "qXfer:features:read:target.xml:0,ffb",
              "qXfer:features:read:32bit-core.xml:100,40", "qOffsets", "vCont?", "vMustReplyEmpty"],
    "regs-mem": ["g", "p8", "P0=78563412", "m10000,40", "M10000,2:9090", "m0,ffffffff", "qCRC:0,10"],
    "binary": [b"X10000,4:\x7d\x03\x7d\x04ab", "X10010,0:", "m10000,8"],
    "run": ["Z0,10004,1", "Z1,10008,1", "c", "s", "z0,10004,1", "Z2,20000,4", "vCont;s:1",
            "vCont;c", "z2,20000,4", "k"],
    "monitor": ["qRcmd," + hexs("info registers"), "qRcmd," + hexs("info tlb"),
                "qRcmd," + hexs("stats"), "qRcmd," + hexs("system_reset"), "QStartNoAckMode", "g", "D"],
}
for n, (name, packets) in enumerate(sessions.items()):
    data = b"+".join(pkt(p) for p in packets)
    put("gdb", name, bytes([[0, 1, 3, 0x1D, 0x41][n]]) + b"+" + data + b"\x03+-")


# ---- boot: kind, RAM MiB, param (2), count, file ----------------------------------------------
def bzimage(setup_sects=1, version=0x20F, loadflags=1, pm_size=2048, syssize=None):
    img = bytearray(512 * (setup_sects + 1) + pm_size)
    img[0x1F1] = setup_sects
    struct.pack_into("<I", img, 0x1F4, syssize if syssize is not None else (pm_size + 15) // 16)
    struct.pack_into("<H", img, 0x1FE, 0xAA55)
    struct.pack_into("<I", img, 0x202, 0x53726448)
    struct.pack_into("<H", img, 0x206, version)
    img[0x211] = loadflags
    struct.pack_into("<I", img, 0x214, 0x100000)
    struct.pack_into("<I", img, 0x22C, 0x37FFFFFF)
    struct.pack_into("<I", img, 0x238, 2047)
    img[512 * (setup_sects + 1)] = 0xF4
    return img


put("boot", "bzimage", bytes([0, 7, 4, 0, 2]) + bzimage())
put("boot", "bzimage-short", bytes([0, 0, 0xFF, 0x3F, 200]) + bzimage(setup_sects=4, syssize=0x10000)[:3000])


def mb_aout(flags=0x10003):
    hdr = struct.pack("<III", 0x1BADB002, flags, (-(0x1BADB002 + flags)) & 0xFFFFFFFF)
    hdr += struct.pack("<IIIII", 0x100000, 0x100000, 0x101000, 0x102000, 0x100020)
    return hdr + b"\xf4" * 200


def mb_elf():
    flags = 3
    hdr = struct.pack("<III", 0x1BADB002, flags, (-(0x1BADB002 + flags)) & 0xFFFFFFFF)
    eh = bytearray(52)
    eh[0:4] = b"\x7fELF"
    eh[4], eh[5], eh[6] = 1, 1, 1
    struct.pack_into("<HHIIIIIHHHHHH", eh, 16, 2, 3, 1, 0x100000, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    ph = struct.pack("<IIIIIIII", 1, 0x100, 0x100000, 0x100000, 0x40, 0x2000, 7, 0x1000)
    body = bytes(eh) + ph
    body += b"\0" * (0x100 - len(body))
    return bytes(body[:0x80]) + hdr + body[0x80 + len(hdr):] + b"\xf4" * 0x40


put("boot", "multiboot-aout", bytes([1, 3, 1, 0, 2]) + mb_aout())
put("boot", "multiboot-elf", bytes([1, 3, 2, 0, 1]) + mb_elf())
put("boot", "kernel-bzimage", bytes([2, 3, 1, 0, 1]) + bzimage())
put("boot", "kernel-multiboot", bytes([2, 3, 1, 0x80, 3]) + mb_elf())
put("boot", "rom-disk", bytes([3, 1, 0xAB, 0x01, 0x41]) + b"\xfa\xf4" + b"\x90" * 12 + b"\xeb\xf0")
put("boot", "rom-odd", bytes([3, 2, 1, 0, 3]) + b"\xf4" * 100)


# ---- config: the text of a system description (docs/config.md) -------------------------------
# The examples of docs/config.md (its ```toml blocks) and a few small files that reach the
# checks across elements and the reader's error paths.
with open(os.path.join(HERE, "..", "..", "docs", "config.md")) as f:
    doc = f.read()
for n, block in enumerate(doc.split("```toml\n")[1:]):
    put("config", f"doc-example-{n}", block.split("```")[0].encode())
put("config", "one-partition-errors", b"""name = "x"
[[processor_set]]
cpus = [0, 0]
[[hypervisor]]
processor_set = 7
[[partition]]
name = "a"
memory = "12Q"
vcpus = -1
[[partition.disk]]
image = "../disk.img"
bus = 3
[[partition.irq]]
from = 99
to = "ioapic:300"
""")
put("config", "syntax-errors", b"""[[partition]
name = "unterminated
memory = 0x
[a.b.c]
x = [1, 2,, ]
y = { z = 1, z = 2 }
""")

# The dictionary fuzz_smoke.py gives fuzz_config (-dict=): the keys and words the reader knows
# (every lower-case string literal of monitor/hv/config_file.cpp) and TOML's punctuation.
with open(os.path.join(HERE, "..", "..", "monitor", "hv", "config_file.cpp")) as f:
    words = sorted(set(re.findall(r'"([a-z_][a-z0-9_]*)"', f.read())))
tokens = ["[[", "]]", " = ", '"', "'''", '"""', "{", "}", "[", "]", ",", "0x", "1M", "4K", "2G",
          "true", "false", "\n[[partition]]\n", "\n[[partition.disk]]\n",
          "\n[[partition.memory]]\n", "\n[[partition.irq]]\n", "\n[[partition.serial]]\n",
          "\n[[partition.debugcon]]\n", "\n[partition.boot]\n", "\n[partition.secondary]\n",
          "\n[[processor_set]]\n", "\n[[hypervisor]]\n", "\n[[pool]]\n", "\n[[shared]]\n"]
# Non-ASCII text and the places toml++ 3.3 asks whether a character is whitespace (the reader's
# guard against its undefined behaviour, monitor/hv/config_file.cpp toml_unsafe_char): a
# comment, an escape and a line-ending backslash, a date-time, characters on both sides of each
# edge of the four ranges it cannot classify, and whitespace it can.
tokens += ["#", "\\", "\\\n", "1979-05-27 07:32:00", "\\u00E9"]
tokens += [chr(c) for c in (0xA0, 0xA1, 0xA7, 0xE9, 0x34A, 0x499, 0x49A, 0x2028, 0x2C5D, 0x2C5E,
                            0x2FFF, 0x3000, 0x3001, 0x3057, 0x3058, 0xFB25, 0xFB26, 0xFEFE, 0xFEFF)]
with open(os.path.join(HERE, "config.dict"), "w") as f:
    f.write("# fuzz_config's libFuzzer dictionary, written by make_seeds.py (do not edit)\n")
    for t in words + tokens:
        f.write('"' + "".join(chr(b) if 0x20 <= b < 0x7F and chr(b) not in '"\\' else
                              "\\" + chr(b) if chr(b) in '"\\' else "\\x%02X" % b
                              for b in t.encode()) + '"\n')
