// Intel 82441FX PCI and Memory Controller (PMC), the i440FX host bridge at 00.0
// (82441FX datasheet, 3.2). It reports 8086:1237 (QEMU's SeaBIOS recognizes the platform by
// it) and models the registers firmware touches: the Programmable Attribute Map PAM0..PAM6
// (0x59..0x5F), which routes reads and writes of 0xC0000..0xFFFFF to RAM or to the ISA/PCI
// side (ROM), and SMRAM (0x72), which is only stored. DRAM registers are plain storage.
#pragma once
#include <cstdint>
#include <functional>

#include "vdevices/pci_device.h"

namespace softcpu {

class StateReader;
class StateWriter;

class I440fx final : public PciDevice {
 public:
  static constexpr uint16_t VENDOR = 0x8086, DEVICE = 0x1237;
  static constexpr uint8_t PAM0 = 0x59, PAM6 = 0x5F, SMRAM = 0x72;
  // SMRAM bits (datasheet 3.2.24).
  static constexpr uint8_t SMRAM_D_OPEN = 0x40, SMRAM_D_CLS = 0x20, SMRAM_D_LCK = 0x10,
                           SMRAM_G_SMRAME = 0x08, SMRAM_C_BASE_SEG = 0x02;  // 0xA0000

  // One PAM region's routing: read_ram / write_ram say whether reads / writes of
  // [start, start + size) go to RAM (else to the ROM or PCI behind it).
  using PamHandler =
      std::function<void(uint32_t start, uint32_t size, bool read_ram, bool write_ram)>;

  I440fx();
  void reset() override;

  // Called for each region whose setting changed (also on reset, for regions leaving RAM).
  void set_pam_handler(PamHandler handler) { pam_handler_ = std::move(handler); }
  // Current routing of the region holding `addr` (0xC0000..0xFFFFF); false/false elsewhere.
  void pam_routing(uint32_t addr, bool* read_ram, bool* write_ram) const;
  uint8_t smram() const { return config_byte(SMRAM); }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const override;
  void load_state(StateReader& r) override;
 protected:
  void config_written(uint8_t offset, unsigned size, uint32_t old) override;

 private:
  void pam_changed(uint8_t reg, uint8_t old_value, uint8_t new_value);

  PamHandler pam_handler_;
};

}  // namespace softcpu
