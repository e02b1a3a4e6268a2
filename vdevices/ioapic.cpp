#include "vdevices/ioapic.h"

#include "hostio/state_stream.h"

#include "vdevices/port_mask.h"

namespace softcpu {

namespace {
// Writable bits of a redirection entry: all but delivery status (12) and remote IRR (14),
// and the reserved bits 17-55.
constexpr uint64_t RTE_WRITABLE = 0xFF000000'0001AFFFull;
}  // namespace

// Level-triggered fixed and lowest-priority entries: the local APIC EOIs them. Other delivery
// modes (NMI, ExtINT, ...) never come back with an EOI and would keep remote IRR set for ever,
// so they are treated as edge-triggered.
bool Ioapic::expects_eoi(uint64_t e) {
  const unsigned mode = (e >> 8) & 7;
  return (e & RTE_LEVEL) && (mode == APIC_DM_FIXED || mode == APIC_DM_LOWEST);
}

Ioapic::Ioapic(std::function<void(const ApicMessage&)> deliver) : deliver_(std::move(deliver)) {
  reset();
}

void Ioapic::reset() {
  regsel_ = 0;
  id_ = 0;
  redtbl_.fill(RTE_MASKED);
}

uint32_t Ioapic::mmio_read(uint32_t addr, unsigned size) {
  const uint32_t offset = addr & 0xFF;
  uint32_t value = 0;
  if (offset < IOREGSEL + 4)
    value = uint32_t(regsel_) >> (8 * (offset - IOREGSEL));
  else if (offset >= IOWIN && offset < IOWIN + 4)
    value = read_reg(regsel_) >> (8 * (offset - IOWIN));
  return value & port_size_mask(size);
}

void Ioapic::mmio_write(uint32_t addr, unsigned size, uint32_t value) {
  const uint32_t offset = addr & 0xFF;
  if (offset == IOREGSEL) {
    regsel_ = static_cast<uint8_t>(value);
  } else if (offset == IOWIN) {
    // Narrower writes change only their bytes of the selected register.
    const uint32_t mask = port_size_mask(size);
    write_reg(regsel_, (read_reg(regsel_) & ~mask) | (value & mask));
  }
}

uint32_t Ioapic::read_reg(uint8_t reg) const {
  switch (reg) {
    case REG_ID: return id_;
    case REG_VERSION: return VERSION;
    case REG_ARB: return id_;  // 82093AA 3.2.3: loaded from the ID register
    default: break;
  }
  if (reg >= REG_REDTBL && reg < REG_REDTBL + 2 * NUM_PINS) {
    const uint64_t e = redtbl_[(reg - REG_REDTBL) / 2];
    return static_cast<uint32_t>((reg & 1) ? e >> 32 : e);
  }
  return 0;
}

void Ioapic::write_reg(uint8_t reg, uint32_t value) {
  if (reg == REG_ID) {
    id_ = value & 0x0F000000;
    return;
  }
  if (reg < REG_REDTBL || reg >= REG_REDTBL + 2 * NUM_PINS) return;  // version, ARB: read-only
  const unsigned pin = (reg - REG_REDTBL) / 2;
  uint64_t& e = redtbl_[pin];
  const uint64_t shift = (reg & 1) ? 32 : 0;
  const uint64_t half = 0xFFFFFFFFull << shift;
  const uint64_t wanted = (e & ~half) | (uint64_t(value) << shift);
  e = (e & ~RTE_WRITABLE) | (wanted & RTE_WRITABLE);
  // Remote IRR means nothing for entries that get no EOI; clear it so a later switch to level
  // starts clean (as QEMU does).
  if (!expects_eoi(e)) e &= ~RTE_REMOTE_IRR;
  // Unmasking (or reprogramming) a level entry whose pin is asserted sends it now.
  service_level(pin);
}

bool Ioapic::asserted(unsigned pin) const {
  const bool active_low = electrical_ && (redtbl_[pin] & RTE_ACTIVE_LOW);
  return level_[pin] != active_low;
}

void Ioapic::set_irq(unsigned pin, bool level) {
  if (pin >= NUM_PINS) return;
  const bool was = asserted(pin);
  level_[pin] = level;
  const bool now = asserted(pin);
  const uint64_t e = redtbl_[pin];
  if (expects_eoi(e)) {
    service_level(pin);
  } else if (now && !was && !(e & RTE_MASKED)) {
    send(pin);
  }
}

void Ioapic::service_level(unsigned pin) {
  const uint64_t e = redtbl_[pin];
  if (!expects_eoi(e) || (e & (RTE_MASKED | RTE_REMOTE_IRR)) || !asserted(pin)) return;
  send(pin);
}

void Ioapic::send(unsigned pin) {
  uint64_t& e = redtbl_[pin];
  ApicMessage m;
  m.vector = static_cast<uint8_t>(e & 0xFF);
  m.delivery_mode = static_cast<uint8_t>((e >> 8) & 7);
  m.logical = (e & RTE_DEST_LOGICAL) != 0;
  m.dest = static_cast<uint8_t>(e >> 56);
  m.level = (e & RTE_LEVEL) != 0;
  if (expects_eoi(e))
    e |= RTE_REMOTE_IRR;
  else
    m.level = false;
  if (deliver_) deliver_(m);
}

void Ioapic::eoi(uint8_t vector) {
  for (unsigned pin = 0; pin < NUM_PINS; ++pin) {
    uint64_t& e = redtbl_[pin];
    if ((e & RTE_REMOTE_IRR) && (e & 0xFF) == vector) {
      e &= ~RTE_REMOTE_IRR;
      service_level(pin);
    }
  }
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void Ioapic::visit_state(A& a) {
  a(electrical_, regsel_, id_, redtbl_, level_);
}

void Ioapic::save_state(StateWriter& w) const { const_cast<Ioapic*>(this)->visit_state(w); }

void Ioapic::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
