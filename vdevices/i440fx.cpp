#include "vdevices/i440fx.h"

#include "hostio/state_stream.h"

namespace softcpu {

namespace {

// A PAM register holds two 4-bit fields (RE = bit 0, WE = bit 1 of each). PAM0's low field is
// reserved; its high field covers the 64 KiB BIOS area 0xF0000..0xFFFFF. PAM1..PAM6 cover
// 0xC0000..0xEFFFF in 16 KiB regions, low field first (datasheet 3.2.18).
struct PamRegion {
  uint32_t start, size;
};

bool pam_region(uint8_t reg, unsigned field, PamRegion* out) {
  if (reg == I440fx::PAM0) {
    if (field == 0) return false;
    *out = {0xF0000, 0x10000};
    return true;
  }
  unsigned index = (reg - I440fx::PAM0 - 1) * 2 + field;  // 0..11
  *out = {0xC0000 + index * 0x4000u, 0x4000};
  return true;
}

}  // namespace

I440fx::I440fx() : PciDevice("i440fx", VENDOR, DEVICE, 0x060000, 0x02, 0x00) {
  init_reg16(COMMAND, 0x0006, 0x0146);  // memory and bus master are always on
  // QEMU's subsystem IDs (Red Hat, QEMU): SeaBIOS's qemu_detect() looks for them.
  init_reg16(SUBSYS_VENDOR, 0x1AF4);
  init_reg16(SUBSYS_ID, 0x1100);
  init_reg8(0x50, 0x00, 0xFF);          // PMCCFG
  init_reg8(0x51, 0x01, 0xFF);          // DETURBO
  init_reg8(0x52, 0x00, 0xFF);          // DBC
  init_reg8(0x53, 0x80, 0xFF);          // AXC
  init_reg16(0x54, 0x0000, 0xFFFF);     // DRT
  init_reg8(0x57, 0x01, 0xFF);          // DRAMC
  init_reg8(0x58, 0x10, 0xFF);          // DRAMT
  init_reg8(PAM0, 0x00, 0x30);
  for (uint8_t reg = PAM0 + 1; reg <= PAM6; ++reg) init_reg8(reg, 0x00, 0x33);
  for (uint8_t drb = 0x60; drb <= 0x67; ++drb) init_reg8(drb, 0x01, 0xFF);  // DRB0..7
  init_reg8(0x68, 0x00, 0xFF);  // FDHC
  init_reg8(SMRAM, SMRAM_C_BASE_SEG, SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME);
}

void I440fx::reset() {
  uint8_t old_pam[PAM6 - PAM0 + 1];
  for (uint8_t reg = PAM0; reg <= PAM6; ++reg) old_pam[reg - PAM0] = config_byte(reg);
  PciDevice::reset();
  for (uint8_t reg = PAM0; reg <= PAM6; ++reg)
    pam_changed(reg, old_pam[reg - PAM0], config_byte(reg));
}

void I440fx::config_written(uint8_t offset, unsigned size, uint32_t old) {
  for (unsigned i = 0; i < size; ++i) {
    uint8_t reg = static_cast<uint8_t>(offset + i);
    uint8_t before = static_cast<uint8_t>(old >> (8 * i));
    if (reg >= PAM0 && reg <= PAM6) {
      pam_changed(reg, before, config_byte(reg));
    } else if (reg == SMRAM) {
      // Setting D_LCK clears D_OPEN; from then on only D_CLS can change until reset (3.2.24).
      uint8_t now = config_byte(SMRAM);
      if (before & SMRAM_D_LCK)
        now = static_cast<uint8_t>((before & ~SMRAM_D_CLS) | (now & SMRAM_D_CLS));
      if (now & SMRAM_D_LCK) now = static_cast<uint8_t>(now & ~SMRAM_D_OPEN);
      set_reg8(SMRAM, now);
    }
  }
}

void I440fx::pam_changed(uint8_t reg, uint8_t old_value, uint8_t new_value) {
  for (unsigned field = 0; field < 2; ++field) {
    uint8_t before = (old_value >> (4 * field)) & 3, after = (new_value >> (4 * field)) & 3;
    PamRegion region;
    if (before == after || !pam_region(reg, field, &region)) continue;
    if (pam_handler_) pam_handler_(region.start, region.size, after & 1, (after & 2) != 0);
  }
}

void I440fx::pam_routing(uint32_t addr, bool* read_ram, bool* write_ram) const {
  *read_ram = *write_ram = false;
  if (addr < 0xC0000 || addr > 0xFFFFF) return;
  uint8_t field;
  if (addr >= 0xF0000) {
    field = config_byte(PAM0) >> 4;
  } else {
    unsigned index = (addr - 0xC0000) / 0x4000;
    field = config_byte(static_cast<uint8_t>(PAM0 + 1 + index / 2)) >> (4 * (index % 2));
  }
  *read_ram = field & 1;
  *write_ram = (field & 2) != 0;
}

void I440fx::save_state(StateWriter& w) const { PciDevice::save_state(w); }

// The PAM routing follows the loaded registers as after a write (the handler remaps memory).
void I440fx::load_state(StateReader& r) {
  uint8_t old_pam[PAM6 - PAM0 + 1];
  for (uint8_t reg = PAM0; reg <= PAM6; ++reg) old_pam[reg - PAM0] = config_byte(reg);
  PciDevice::load_state(r);
  for (uint8_t reg = PAM0; reg <= PAM6; ++reg)
    pam_changed(reg, old_pam[reg - PAM0], config_byte(reg));
}

}  // namespace softcpu
