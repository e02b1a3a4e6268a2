// Port and MMIO harness: the whole PC platform (monitor/pc_platform.h: PIC, PIT, RTC, i8042,
// port 0x92, UART, VGA, fw_cfg, PCI with the PIIX3 IDE and bus master, PIIX4 PM, local APIC,
// IOAPIC, HPET, pc-testdev) over 2 MiB of RAM and two IDE disks (a 1 MiB image and an odd-sized
// one, snapshot mode so the files are never written), driven by the input as a sequence of
// operations. Guest time is manual; device timers run between operations.
//
// Operation byte `op`: bits 0-2 the kind, bits 3-4 the size (1, 2, 4, 4 bytes).
//   0 port write   port selector, value (4 bytes)
//   1 port read    port selector
//   2 MMIO write   region byte, offset (2 bytes), value (4 bytes)
//   3 MMIO read    region byte, offset (2 bytes)
//   4 time         advance guest time by byte << (op >> 3) ns, run due timers
//   5 RAM poke     address (3 bytes, mod RAM), count byte, that many bytes (PRD tables,
//                  fw_cfg DMA descriptors, data buffers)
//   6 settle       wait for every disk request in flight and run its completion
//   7 interrupt    acknowledge INTR as the CPU would (the vector is discarded), or reset
// At most kMaxResets platform resets (op 7 or one the guest asks for through port 0xCF9,
// 0x92 or the i8042) per input: the next one ends the input. A reset clears pc-testdev's
// 64 KiB I/O memory, and inputs of hundreds of resets took a third of the fuzzer's time.
// Port selector: a byte < 0xE0 picks a known device base (the table below) plus 0-7; else the
// port is the next two bytes.
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#include "hostio/char_backend.h"
#include "hostio/cpu_mailbox.h"
#include "hostio/event_loop.h"
#include "interp/cpu.h"
#include "interp/exceptions.h"
#include "interp/interrupts.h"
#include "interp/memory.h"
#include "monitor/machine.h"
#include "monitor/pc_platform.h"
#include "monitor/port_bus.h"
#include "tests/fuzz/fuzz_memory.h"
#include "tests/fuzz/fuzz_targets.h"
#include "vdevices/unassigned.h"
#include "vdevices/virtual_clock.h"

namespace softcpu::fuzz {
namespace {

constexpr uint32_t RAM = 2u << 20;

// Device port bases (QEMU's pc layout; the PM block and bus-master BAR where SeaBIOS puts
// them, once the input programs PMBA and BAR4 there).
constexpr uint16_t kPorts[] = {
    0x20,  0xA0,  0x4D0, 0x40,  0x61,  0x70,  0x60,  0x64,  0x92,  0x3F8, 0x3B4, 0x3BA,
    0x3C0, 0x3C8, 0x3D4, 0x3DA, 0x510, 0x514, 0x518, 0xCF8, 0xCFC, 0xCF9, 0x1F0, 0x3F6,
    0x170, 0x376, 0xB2,  0x600, 0x608, 0xC000, 0xC008, 0xE0, 0xE4, 0x80,
};
// MMIO regions: local APIC, IOAPIC, HPET, pc-testdev, VGA memory, the BIOS area (shadowed
// by PAM), high ROM, RAM.
constexpr uint32_t kRegions[] = {0xFEE00000, 0xFEC00000, 0xFED00000, 0xFEBFF000, 0xA0000,
                                 0xB8000,    0xC0000,    0xF0000,    0xFFFF0000, 0x1000};

// The disk images: made once per process in the temporary directory.
std::string disk_image(const char* name, size_t bytes) {
  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/softcpu-fuzz-" +
                     std::to_string(getpid()) + "-" + name;
  if (access(path.c_str(), R_OK) != 0) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) fail("platform", "cannot create the disk image in TMPDIR");
    for (size_t k = 0; k < bytes; ++k) std::fputc(int((k * 131) >> 9 & 0xFF), f);
    std::fclose(f);
    remove_at_exit(path);
  }
  return path;
}

struct Reader {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint32_t le(unsigned bytes) {
    uint32_t v = 0;
    for (unsigned k = 0; k < bytes; ++k) v |= uint32_t(u8()) << (8 * k);
    return v;
  }
};

constexpr unsigned kMaxResets = 4;

}  // namespace

int platform(const uint8_t* data, size_t size) {
  static const std::string disk0 = disk_image("disk0.img", 1u << 20);
  static const std::string disk1 = disk_image("disk1.img", 70001);

  MachineConfig config;
  config.ram_mib = RAM >> 20;
  config.drives = {{disk0, 0, true, false}, {disk1, 2, true, false}};
  config.pc_testdev = true;  // always: its MMIO page stays mapped in the reused memory

  PhysicalMemory& mem = reusable_memory("platform", RAM);
  // No code runs here, so the block cache stays empty: one for the process (constructing one
  // fills its 64 Ki-entry jump table, 8% of an input's time).
  static BlockCache cache;
  Cpu cpu{};
  cpu.mem = &mem;
  cpu.cache = &cache;
  reset_cpu(cpu);
  static const bool rom_mapped = [&] {
    const std::vector<uint8_t> rom(64 << 10, 0xF4);
    mem.map_rom(0xF0000, rom.data(), uint32_t(rom.size()));
    mem.alias_rom(0xFFFF0000, 0xF0000, uint32_t(rom.size()));
    return true;
  }();
  (void)rom_mapped;
  EventLoop loop;
  UnassignedPorts unassigned;
  PortBus ports(&unassigned);
  VirtualClock clock;
  clock.use_manual_time();
  CpuMailbox mailbox;
  std::string error;
  auto serial = open_char_backend("none", loop, &error);
  if (!serial) fail("platform", "no null serial backend");
  bool reset_requested = false;
  PcPlatform pc(config, cpu, mem, ports, clock, mailbox, loop, *serial,
                [&] { reset_requested = true; });

  Reader in{data + (size > 0), size > 0 ? size - 1 : 0};
  unsigned ops = 0, resets = 0;
  auto end = [&] {
    pc.drain_disk_io(mailbox);
    mailbox.drain();
    return 0;
  };
  while (!in.empty() && ops++ < 4096) {
    const uint8_t op = in.u8();
    const unsigned sz = (op >> 3 & 3) == 0 ? 1 : (op >> 3 & 3) == 1 ? 2 : 4;
    auto port_sel = [&]() -> uint16_t {
      const uint8_t b = in.u8();
      if (b >= 0xE0) return uint16_t(in.le(2));
      constexpr unsigned n = std::size(kPorts);
      return uint16_t(kPorts[b % n] + (b / n) % 8);
    };
    auto mmio_addr = [&]() -> uint32_t {
      const uint32_t base = kRegions[in.u8() % std::size(kRegions)];
      const uint32_t a = base + in.le(2);
      return a & ~uint32_t(sz - 1);  // within one page
    };
    switch (op & 7) {
      case 0: {
        const uint16_t port = port_sel();
        ports.out(port, sz, in.le(4));
        break;
      }
      case 1: ports.in(port_sel(), sz); break;
      case 2: {
        const uint32_t a = mmio_addr();
        mem.write(a, sz, in.le(4));
        break;
      }
      case 3: mem.read(mmio_addr(), sz); break;
      case 4: clock.advance_by(uint64_t(in.u8()) << (op >> 3 & 15)); break;
      case 5: {
        const uint32_t a = in.le(3) % RAM;
        uint8_t buf[256];
        const unsigned n = std::min<unsigned>(in.u8(), RAM - a);
        for (unsigned k = 0; k < n; ++k) buf[k] = in.u8();
        mem.write_bytes(a, buf, n);
        break;
      }
      case 6: pc.drain_disk_io(mailbox); break;
      case 7:
        if (op & 0x80) {
          if (resets++ == kMaxResets) return end();
          reset_cpu(cpu);
          pc.reset();
        } else if (cpu.intr && cpu.intc) {
          cpu.intc->acknowledge();
        }
        break;
    }
    mailbox.drain();
    clock.run_due();
    pc.poll();
    pc.update_ferr();
    if (reset_requested) {
      if (resets++ == kMaxResets) return end();
      reset_requested = false;
      reset_cpu(cpu);
      pc.reset();
    }
  }
  return end();
}

}  // namespace softcpu::fuzz
