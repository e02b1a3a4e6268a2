// Intel 82371AB PIIX4 power management function (datasheet 290562, PCI function 3,
// 8086:7113, class 0680), as QEMU's "pc" machine has it at 00:01.3: the ACPI fixed hardware
// that the FADT points at. Configuration space: PMBA (0x40, I/O base of the 64-byte PM register
// block, bit 0 reads 1), PMREGMISC (0x80, bit 0 enables that block), DEVACTB (0x58), SMBBA
// (0x90) and SMBHSTCFG (0xD2) stored. PM registers (offsets from PMBA):
//   +0 PM1_STS (write one to clear), +2 PM1_EN, +4 PM1_CNT (SCI_EN, SLP_TYP 12:10, SLP_EN 13),
//   +8 PM_TMR (3.579545 MHz, 24 bits, read only). Everything else in the block reads 0.
// SCI is a level on its IrqLine (ISA IRQ 9): high while PM1_STS & PM1_EN has an event bit.
// The APM ports 0xB2 (APMC, the FADT's SMI_CMD) and 0xB3 (APMS) are a separate IoDevice:
// there is no SMM, so writing ACPI_ENABLE / ACPI_DISABLE to 0xB2 just sets / clears SCI_EN.
// Sleep: SLP_EN with SLP_TYP = SLP_TYP_SOFT_OFF (0, "soft off" in the PIIX4's SUS_TYP
// encoding and in QEMU) powers the machine off through the callback; other types are ignored.
#pragma once
#include <cstdint>
#include <functional>

#include "vdevices/io_device.h"
#include "vdevices/irq.h"
#include "vdevices/pci_device.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {

class StateReader;
class StateWriter;

class Piix4Pm final : public PciDevice, public IoDevice {
 public:
  static constexpr uint16_t VENDOR = 0x8086, DEVICE = 0x7113;
  static constexpr uint8_t PMBA = 0x40, DEVACTB = 0x58, PMREGMISC = 0x80, SMBBA = 0x90,
                           SMBHSTCFG = 0xD2;
  static constexpr unsigned PM_IO_SIZE = 64;
  // Register offsets in the PM block.
  enum : uint16_t { PM1_STS = 0, PM1_EN = 2, PM1_CNT = 4, PM_TMR = 8 };
  // PM1_STS / PM1_EN bits (ACPI 1.0b 4.7.3.1).
  enum : uint16_t { TMROF = 1 << 0, GBL = 1 << 5, PWRBTN = 1 << 8, RTC = 1 << 10,
                    WAK_STS = 1 << 15 };
  // PM1_CNT bits (ACPI 1.0b 4.7.3.2.1).
  enum : uint16_t { SCI_EN = 1 << 0, SLP_TYP_SHIFT = 10, SLP_TYP_MASK = 7 << 10,
                    SLP_EN = 1 << 13 };
  static constexpr unsigned SLP_TYP_SOFT_OFF = 0;  // the \_S5 package's value
  static constexpr uint16_t APM_CNT_PORT = 0xB2, APM_STS_PORT = 0xB3;
  static constexpr uint8_t ACPI_ENABLE = 0xF1, ACPI_DISABLE = 0xF0;  // FADT values
  static constexpr uint64_t PM_TIMER_HZ = 3579545;

  Piix4Pm(VirtualClock& clock, IrqLine sci);

  const char* name() const override { return "piix4-pm"; }
  void reset() override;  // both the PCI function and the PM registers

  // PM register block, attached at pm_base() while pm_io_enabled().
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;

  uint16_t pm_base() const { return uint16_t(read16(PMBA) & 0xFFC0); }
  bool pm_io_enabled() const { return (config_byte(PMREGMISC) & 1) && pm_base() != 0; }
  // Called when the PM block moves or is switched on/off: (old enabled, old base, new enabled,
  // new base). The machine detaches/attaches PM_IO_SIZE ports.
  using PmIoChangeHandler = std::function<void(bool, uint16_t, bool, uint16_t)>;
  void set_pm_io_change_handler(PmIoChangeHandler h) { io_change_ = std::move(h); }
  // SLP_EN with the soft-off type.
  void set_power_off_handler(std::function<void()> h) { power_off_ = std::move(h); }

  // The APM control/status ports (0xB2, 0xB3).
  IoDevice& apm_ports() { return apm_; }

  // Register values for tests and the machine.
  uint32_t pm_timer() const;  // 24-bit count
  uint16_t pm1_sts() const;
  uint16_t pm1_en() const { return pm1_en_; }
  uint16_t pm1_cnt() const { return pm1_cnt_; }
  bool sci_level() const { return sci_level_; }
  // Set a PM1_STS event bit from a device (power button, RTC alarm).
  void raise_event(uint16_t sts_bits);

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const override;
  void load_state(StateReader& r) override;
 protected:
  void config_written(uint8_t offset, unsigned size, uint32_t old) override;

 private:
  class ApmPorts final : public IoDevice {
   public:
    explicit ApmPorts(Piix4Pm& pm) : pm_(pm) {}
    const char* name() const override { return "apm"; }
    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;
    void reset() override { cnt_ = sts_ = 0; }

   private:
    friend class Piix4Pm;  // snapshots
    Piix4Pm& pm_;
    uint8_t cnt_ = 0, sts_ = 0;
  };

  uint64_t timer_ticks() const;  // PM timer ticks since guest time 0 (not wrapped)
  void write_reg16(uint16_t reg, uint16_t value, uint16_t byte_mask);
  void update_sci();
  void update_overflow_timer();
  void update_io_mapping();
  void apm_command(uint8_t value);

  VirtualClock& clock_;
  IrqLine sci_;
  VirtualClock::TimerId overflow_timer_;
  ApmPorts apm_{*this};
  uint16_t pm1_sts_ = 0;  // event bits other than TMROF
  uint16_t pm1_en_ = 0;
  uint16_t pm1_cnt_ = 0;
  uint64_t tmrof_acked_epoch_ = 0;  // timer bit-23 toggles counted up to the last TMROF clear
  bool sci_level_ = false;
  bool io_mapped_ = false;
  uint16_t io_base_ = 0;
  PmIoChangeHandler io_change_;
  std::function<void()> power_off_;
};

}  // namespace softcpu
