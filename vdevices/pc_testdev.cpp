#include "vdevices/pc_testdev.h"

#include "hostio/state_stream.h"

#include <algorithm>
#include <cstring>

namespace softcpu {

namespace {

bool latch_port(unsigned port) {
  return (port >= PcTestdev::LATCH_PORT && port < PcTestdev::LATCH_PORT + 4) ||
         (port >= PcTestdev::LATCH_BYTE_PORT && port < PcTestdev::LATCH_BYTE_PORT + 4);
}

}  // namespace

PcTestdev::PcTestdev(IrqSink* isa, IrqSink* ioapic, std::function<void(uint32_t)> flush_page)
    : isa_(isa), ioapic_(ioapic), flush_page_(std::move(flush_page)), iomem_(IOMEM_SIZE, 0) {}

void PcTestdev::reset() {
  latch_ = 0;
  for (unsigned n = 0; n < NUM_IRQ_LINES; ++n) set_line(n, false);
  std::memset(iomem_.data(), 0, iomem_.size());
}

uint32_t PcTestdev::io_read(uint16_t port, unsigned size) {
  // QEMU's regions take naturally aligned accesses only; an unaligned one is invalid and
  // reads 0 (its memory core's answer for an access a region does not accept).
  if (port & (size - 1)) return 0;
  // Byte by byte: latch bytes at their positions, everything else (flush, IRQ ports) 0.
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) {
    const unsigned p = port + i;
    if (latch_port(p)) v |= ((latch_ >> (8 * (p & 3))) & 0xFF) << (8 * i);
  }
  return v;
}

void PcTestdev::io_write(uint16_t port, unsigned size, uint32_t value) {
  if (port & (size - 1)) return;  // unaligned: invalid in QEMU, dropped
  if (port >= IRQ_PORT && port < IRQ_PORT + NUM_IRQ_LINES) {
    if (size == 1) set_line(port - IRQ_PORT, (value & 0xFF) != 0);
    return;
  }
  if (port == FLUSH_PORT) {
    if (size == 4 && flush_page_) flush_page_(value & ~(PAGE_SIZE - 1));
    return;
  }
  for (unsigned i = 0; i < size; ++i) {
    const unsigned p = port + i;
    if (!latch_port(p)) continue;
    const unsigned shift = 8 * (p & 3);
    latch_ = (latch_ & ~(0xFFu << shift)) | (((value >> (8 * i)) & 0xFF) << shift);
  }
}

void PcTestdev::set_line(unsigned n, bool level) {
  if (lines_[n] == level) return;
  lines_[n] = level;
  IrqSink* sink = n < 16 ? isa_ : ioapic_;
  if (sink) sink->set_irq(n, level);
}

uint32_t PcTestdev::mmio_read(uint32_t addr, unsigned size) {
  const uint32_t off = addr - IOMEM_BASE;
  uint32_t v = 0;
  for (unsigned i = 0; i < size && off + i < IOMEM_SIZE; ++i) v |= uint32_t(iomem_[off + i]) << (8 * i);
  return v;
}

void PcTestdev::mmio_write(uint32_t addr, unsigned size, uint32_t value) {
  const uint32_t off = addr - IOMEM_BASE;
  for (unsigned i = 0; i < size && off + i < IOMEM_SIZE; ++i) iomem_[off + i] = uint8_t(value >> (8 * i));
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void PcTestdev::visit_state(A& a) {
  const size_t iomem_size = iomem_.size();
  a(latch_, lines_, iomem_);
  if (iomem_.size() != iomem_size) throw StateError{"pc-testdev iomem has a different size"};
}

void PcTestdev::save_state(StateWriter& w) const { const_cast<PcTestdev*>(this)->visit_state(w); }

void PcTestdev::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
