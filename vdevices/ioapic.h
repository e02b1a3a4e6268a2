// The I/O APIC (Intel 82093AA datasheet), register window at 0xFEC00000: IOREGSEL (offset
// 0x00) selects a register, IOWIN (offset 0x10) reads or writes it. 24 input pins, each with
// a 64-bit redirection entry that turns the pin into an APIC message for the local APIC.
//
// Pin levels: by default a pin's level is the *logical* request (true = asserted) and the
// polarity bit is only stored, as in QEMU: the devices' IrqLines say "asserted", and the
// guest's polarity programming (from the MP/ACPI tables the firmware wrote) cannot break
// them. set_electrical_levels(true) makes the level electrical instead: an active-low pin
// (polarity bit 13 = 1) is asserted while its level is false. In that mode the machine must
// drive every active-low line (PCI INTx) high while idle and low while asserted, from reset on.
//
// Delivery: edge-triggered pins send a message on the rising edge of the (asserted) request;
// level-triggered fixed/lowest-priority pins send one while asserted and set remote IRR until
// the local APIC's EOI broadcast for that vector (eoi()), then send again if still asserted.
// Masked pins send nothing; an edge seen while masked is lost (82093AA 3.2.4).
#pragma once
#include <array>
#include <cstdint>
#include <functional>

#include "interp/memory.h"
#include "vdevices/irq.h"
#include "vdevices/local_apic.h"

namespace softcpu {

class StateReader;
class StateWriter;

class Ioapic final : public MmioHandler, public IrqSink {
 public:
  static constexpr uint32_t DEFAULT_BASE = 0xFEC00000;
  static constexpr uint32_t MMIO_SIZE = 0x1000;
  static constexpr unsigned NUM_PINS = 24;
  static constexpr uint32_t VERSION = 0x00170011;  // max redirection entry 23, version 0x11

  enum : uint32_t { IOREGSEL = 0x00, IOWIN = 0x10 };
  enum : uint8_t { REG_ID = 0x00, REG_VERSION = 0x01, REG_ARB = 0x02, REG_REDTBL = 0x10 };
  // Redirection entry bits (82093AA 3.2.4).
  static constexpr uint64_t RTE_DEST_LOGICAL = 1ull << 11;
  static constexpr uint64_t RTE_DELIVERY_STATUS = 1ull << 12;
  static constexpr uint64_t RTE_ACTIVE_LOW = 1ull << 13;
  static constexpr uint64_t RTE_REMOTE_IRR = 1ull << 14;
  static constexpr uint64_t RTE_LEVEL = 1ull << 15;
  static constexpr uint64_t RTE_MASKED = 1ull << 16;

  // `deliver` carries each message to the local APIC (LocalApic::receive).
  explicit Ioapic(std::function<void(const ApicMessage&)> deliver = {});

  void set_deliver(std::function<void(const ApicMessage&)> deliver) { deliver_ = std::move(deliver); }
  void set_electrical_levels(bool electrical) { electrical_ = electrical; }

  // Power-up state: every entry masked, ID 0, pin levels kept (they belong to the devices).
  void reset();

  uint32_t mmio_read(uint32_t addr, unsigned size) override;
  void mmio_write(uint32_t addr, unsigned size, uint32_t value) override;

  // IrqSink: pins 0-23; others are ignored.
  void set_irq(unsigned pin, bool level) override;

  // EOI broadcast from the local APIC: clears remote IRR of level entries with this vector.
  void eoi(uint8_t vector);

  uint64_t entry(unsigned pin) const { return redtbl_[pin]; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  uint32_t read_reg(uint8_t reg) const;
  void write_reg(uint8_t reg, uint32_t value);
  static bool expects_eoi(uint64_t entry);
  bool asserted(unsigned pin) const;
  void service_level(unsigned pin);  // send if a level pin is asserted and may send
  void send(unsigned pin);

  std::function<void(const ApicMessage&)> deliver_;
  bool electrical_ = false;
  uint8_t regsel_ = 0;
  uint32_t id_ = 0;
  std::array<uint64_t, NUM_PINS> redtbl_{};
  std::array<bool, NUM_PINS> level_{};
};

}  // namespace softcpu
