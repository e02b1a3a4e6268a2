#include "vdevices/piix3.h"

#include "hostio/state_stream.h"

namespace softcpu {

// ---- function 0: PCI-to-ISA bridge ----------------------------------------------------------

Piix3Isa::Piix3Isa()
    : PciDevice("piix3-isa", VENDOR, DEVICE, 0x060100, 0x00, HEADER_MULTI_FUNCTION) {
  init_reg16(COMMAND, 0x0007, 0x0108);  // I/O, memory and bus master are hardwired on
  init_reg8(0x4C, 0x4D, 0xFF);          // IORT: ISA I/O recovery timer
  init_reg16(0x4E, 0x0003, 0xFFFF);     // XBCS: X-bus chip select
  for (uint8_t r = PIRQRC; r < PIRQRC + NUM_PIRQS; ++r) init_reg8(r, 0x80, 0x8F);
  init_reg8(0x69, 0x02, 0xFF);      // TOM: top of memory
  init_reg16(0x6A, 0x0000, 0xFFFF);  // MSTAT: miscellaneous status
  init_reg8(0x70, 0x80, 0xEF);      // MBIRQ0: motherboard device IRQ route (disabled)
  init_reg8(0x71, 0x80, 0xEF);      // MBIRQ1
  init_reg16(0x76, 0x0C0C, 0x8F8F);  // MBDMA0/1
  init_reg16(0x78, 0x0002, 0xFFFF);  // PCSC: programmable chip select
  init_reg8(0x80, 0x00, 0x7F);      // APICBASE
  init_reg8(0x82, 0x00, 0x0F);      // DLC: deterministic latency
  init_reg8(0xA0, 0x08, 0x1F);      // SMICNTL
  init_reg16(0xA2, 0x0000, 0xFFFF);  // SMIEN
  init_reg32(0xA4, 0x00000000, 0xFFFFFFFF);  // SEE: system event enable
  init_reg8(0xA8, 0x0F, 0xFF);      // FTMR: fast off timer
  init_reg16(0xAA, 0x0000, 0xFFFF);  // SMIREQ
  init_reg8(0xAC, 0x00, 0xFF);      // CTLTMR
  init_reg8(0xAE, 0x00, 0xFF);      // CTHTMR
}

void Piix3Isa::reset() {
  PciDevice::reset();
  intx_.fill(false);
  deliver();
}

int Piix3Isa::route_pirq(unsigned n) const {
  if (n >= NUM_PIRQS) return -1;
  uint8_t value = config_byte(static_cast<uint8_t>(PIRQRC + n));
  if (value & 0x80) return -1;
  unsigned irq = value & 0x0F;
  // Reserved encodings: IRQ 0, 1, 2, 8 and 13 cannot take a PIRQ (82371SB 2.2.10).
  if (irq <= 2 || irq == 8 || irq == 13) return -1;
  return static_cast<int>(irq);
}

void Piix3Isa::set_irq(unsigned input, bool level) {
  if (input >= intx_.size() || intx_[input] == level) return;
  intx_[input] = level;
  deliver();
}

void Piix3Isa::config_written(uint8_t offset, unsigned size, uint32_t old) {
  (void)old;
  if (offset < PIRQRC + NUM_PIRQS && offset + size > PIRQRC) {
    deliver();
    if (on_route_change) on_route_change();
  }
}

void Piix3Isa::deliver() {
  bool pirq_level[NUM_PIRQS] = {};
  for (unsigned input = 0; input < intx_.size(); ++input)
    if (intx_[input]) pirq_level[pirq_for(input / 4, input % 4 + 1)] = true;
  std::array<bool, 16> want{};
  for (unsigned n = 0; n < NUM_PIRQS; ++n) {
    int irq = route_pirq(n);
    if (irq >= 0 && pirq_level[n]) want[irq] = true;
  }
  for (unsigned irq = 0; irq < 16; ++irq) {
    if (want[irq] == isa_level_[irq]) continue;
    isa_level_[irq] = want[irq];
    if (isa_) isa_->set_irq(irq, want[irq]);
  }
}

// ---- function 1: IDE ----------------------------------------------------------------------

Piix3Ide::Piix3Ide(IdeController& ide)
    : PciDevice("piix3-ide", VENDOR, DEVICE, 0x010180, 0x00, 0x00), ide_(ide) {
  init_reg16(COMMAND, 0x0000, CMD_IO | CMD_BUS_MASTER);
  init_reg16(STATUS, 0x0280);  // fast back-to-back capable, medium DEVSEL
  define_bar(BM_BAR, BarKind::IO, 16);
  init_reg16(0x40, 0x0000, 0xFFFF);  // IDETIM primary
  init_reg16(0x42, 0x0000, 0xFFFF);  // IDETIM secondary
  init_reg8(0x44, 0x00, 0xFF);       // SIDETIM
  ide_.set_bus_master_enabled(false);
}

void Piix3Ide::reset() {
  PciDevice::reset();
  ide_.set_bus_master_enabled(bus_master_enabled());
}

void Piix3Ide::config_written(uint8_t offset, unsigned size, uint32_t old) {
  (void)old;
  if (offset < COMMAND + 2 && offset + size > COMMAND)
    ide_.set_bus_master_enabled(bus_master_enabled());
}

void Piix3Isa::save_state(StateWriter& w) const {
  PciDevice::save_state(w);
  w(intx_, isa_level_);
}

void Piix3Isa::load_state(StateReader& r) {
  PciDevice::load_state(r);
  r(intx_, isa_level_);
}

void Piix3Ide::save_state(StateWriter& w) const { PciDevice::save_state(w); }

void Piix3Ide::load_state(StateReader& r) {
  PciDevice::load_state(r);
  ide_.set_bus_master_enabled(bus_master_enabled());
}

}  // namespace softcpu
