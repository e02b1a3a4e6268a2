// QEMU's "pc-testdev" (hw/misc/pc-testdev.c), the ISA test device that kvm-unit-tests and
// other test kernels written for QEMU use beside isa-debug-exit (`--device pc-testdev`):
//  - ports 0xE0-0xE3: a 32-bit latch; a write of any width stores its bytes at the port's
//    byte positions, a read returns them (0xE8-0xEB reach the same latch one byte at a time,
//    which gives the same bytes);
//  - port 0xE4 (32-bit writes only): "flush page": the host forgets what it cached of the
//    guest page holding the written physical address (QEMU unmaps it from KVM; here: decoded
//    code and TLB entries). Reads 0;
//  - ports 0x2000-0x2017 (byte writes only): 0x2000 + n sets interrupt line n to (value != 0):
//    ISA IRQ n (8259 and IOAPIC, IRQ0 on pin 2) for n < 16, IOAPIC pin n for 16-23. Reads 0.
//    A line another device drives too takes whichever level was set last, as in QEMU;
//  - MMIO 0xFF000000-0xFF00FFFF ("iomem"): 64 KiB of device memory, read and written as is.
// Accesses QEMU declares invalid (unaligned ones anywhere, a wider write to the IRQ or flush
// ports) are ignored, and such reads return 0, as under QEMU.
// Reset clears the latch and the memory and lowers the lines the device raised (QEMU's has
// no reset; nothing depends on state surviving it).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "interp/memory.h"
#include "vdevices/io_device.h"
#include "vdevices/irq.h"

namespace softcpu {

class StateReader;
class StateWriter;

class PcTestdev final : public IoDevice, public MmioHandler {
 public:
  static constexpr uint16_t LATCH_PORT = 0xE0, FLUSH_PORT = 0xE4, LATCH_BYTE_PORT = 0xE8;
  static constexpr uint16_t PORTS_LOW = 0xE0, PORTS_LOW_COUNT = 12;  // 0xE0-0xEB
  static constexpr uint16_t IRQ_PORT = 0x2000;
  static constexpr unsigned NUM_IRQ_LINES = 24;
  static constexpr uint32_t IOMEM_BASE = 0xFF000000, IOMEM_SIZE = 0x10000;

  // `isa` takes lines 0-15, `ioapic` pins 16-23; `flush_page` gets the page's physical
  // address. Any may be empty / null.
  PcTestdev(IrqSink* isa, IrqSink* ioapic, std::function<void(uint32_t page)> flush_page);

  const char* name() const override { return "pc-testdev"; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  void reset() override;

  uint32_t mmio_read(uint32_t addr, unsigned size) override;
  void mmio_write(uint32_t addr, unsigned size, uint32_t value) override;

  uint32_t latch() const { return latch_; }
  bool line(unsigned n) const { return lines_[n]; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  void set_line(unsigned n, bool level);

  IrqSink* isa_;
  IrqSink* ioapic_;
  std::function<void(uint32_t)> flush_page_;
  uint32_t latch_ = 0;
  std::array<bool, NUM_IRQ_LINES> lines_{};
  std::vector<uint8_t> iomem_;
};

}  // namespace softcpu
