// High Precision Event Timer (IA-PC HPET Specification 1.0a) at 0xFED00000, as QEMU's "pc"
// machine has one: a 64-bit main counter at 100 MHz (10 ns per tick, QEMU's rate: guest time
// is in nanoseconds, so ticks convert exactly) and three comparators ("timers"), each 64-bit
// and periodic capable, with the legacy replacement route.
//
// Nothing ticks: the main counter is computed from VirtualClock time while ENABLE_CNF is set.
// Comparator matches are found when something looks (a register access, the clock timer):
// one clock timer is armed at the next match that raises an interrupt or sets a status bit.
// A timer matches whenever the main counter (its low 32 bits in 32-bit mode) becomes equal to
// its comparator (2.3.9.2.1: a one-shot fires again after the counter wraps); a periodic
// timer then adds its period to the comparator (2.3.9.2.2). Matches missed while the host
// stalled are coalesced into one interrupt.
//
// Interrupts: edge timers pulse their line; level timers set their General Interrupt Status
// bit and hold the line until software writes 1 to that bit (2.3.6); Tn_INT_ENB_CNF = 0 or
// ENABLE_CNF = 0 keeps the line quiet (the status bit still follows matches). Routes: with
// LEG_RT_CNF, timer 0 drives ISA IRQ0 (8259 IR0, IOAPIC pin 2) and timer 1 ISA IRQ8, and the
// PIT's and RTC's own interrupts are cut off (2.3.5, "Legacy Replacement Route"); otherwise
// Tn_INT_ROUTE_CNF names an IOAPIC pin among Tn_INT_ROUTE_CAP, pins 16-23 here (nothing else
// drives them on this machine: PCI interrupts go through the PIIX3's PIRQ routing to ISA IRQs).
// FSB (MSI) delivery is not offered.
//
// The device sits between the PIT / RTC and the ISA interrupt router: they drive its inputs
// 0 and 8 (IrqSink), which it passes through unless legacy replacement is on.
#pragma once
#include <array>
#include <cstdint>

#include "interp/memory.h"
#include "vdevices/irq.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {

class StateReader;
class StateWriter;

class Hpet final : public MmioHandler, public IrqSink {
 public:
  static constexpr uint32_t DEFAULT_BASE = 0xFED00000;
  static constexpr uint32_t MMIO_SIZE = 0x400;  // 2.3.1: the register block is 1 KiB
  static constexpr unsigned NUM_TIMERS = 3;
  static constexpr uint64_t TICK_NS = 10;
  static constexpr uint32_t PERIOD_FS = TICK_NS * 1'000'000;  // COUNTER_CLK_PERIOD
  static constexpr uint16_t VENDOR_ID = 0x8086;
  static constexpr uint32_t ROUTE_CAP = 0x00FF0000;  // IOAPIC pins 16-23

  // Register offsets (2.3.1, table 2).
  enum : uint32_t {
    REG_CAP = 0x000, REG_CONFIG = 0x010, REG_STATUS = 0x020, REG_COUNTER = 0x0F0,
    REG_TIMER0 = 0x100, TIMER_STRIDE = 0x20,
    TIMER_CONFIG = 0x00, TIMER_COMPARATOR = 0x08, TIMER_FSB_ROUTE = 0x10,
  };
  // General configuration (2.3.5).
  static constexpr uint64_t CFG_ENABLE = 1u << 0, CFG_LEGACY = 1u << 1;
  // Timer N configuration and capabilities (2.3.8).
  static constexpr uint64_t TN_LEVEL = 1u << 1, TN_INT_ENB = 1u << 2, TN_PERIODIC = 1u << 3,
                            TN_PER_CAP = 1u << 4, TN_SIZE_CAP = 1u << 5, TN_VAL_SET = 1u << 6,
                            TN_32BIT = 1u << 8, TN_ROUTE_SHIFT = 9, TN_ROUTE_MASK = 0x1Fu << 9,
                            TN_FSB_EN = 1u << 14, TN_FSB_CAP = 1u << 15;

  // `isa` receives ISA IRQ0/IRQ8 (the legacy routes and the PIT/RTC pass-through), `ioapic`
  // the standard routes (IOAPIC pin numbers). Either may be null in tests.
  Hpet(VirtualClock& clock, IrqSink* isa, IrqSink* ioapic);
  ~Hpet() override;
  Hpet(const Hpet&) = delete;
  Hpet& operator=(const Hpet&) = delete;

  // Power-on state: counter halted at 0, legacy route off, timers one-shot/edge/disabled with
  // comparators all ones.
  void reset();

  // Registers are 64-bit, reached here as 32-bit halves; narrower accesses read or merge the
  // bytes they cover. `addr` is absolute; only its offset in the block counts.
  uint32_t mmio_read(uint32_t addr, unsigned size) override;
  void mmio_write(uint32_t addr, unsigned size, uint32_t value) override;

  // IrqSink: the PIT's OUT0 (line 0) and the RTC's IRQ8 (line 8).
  void set_irq(unsigned line, bool level) override;

  // Introspection (tests, debugger).
  uint64_t main_counter();
  uint64_t capabilities() const;
  bool legacy_mode() const { return (config_ & CFG_LEGACY) != 0; }
  uint64_t comparator(unsigned timer);
  uint64_t timer_config(unsigned timer) const { return timers_[timer].config; }
  uint64_t interrupt_status();

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  struct Timer {
    uint64_t config = 0;
    uint64_t comparator = ~0ull;
    uint64_t period = 0;  // the last value written to the comparator (periodic mode)
  };
  enum Sink : unsigned { NOWHERE, ISA, IOAPIC };

  uint64_t counter_at(uint64_t now_ns) const;
  uint64_t read_reg64(uint32_t offset);
  void write_reg64(uint32_t offset, uint64_t value, uint64_t mask);
  void write_config(uint64_t value);
  void write_timer_config(unsigned n, uint64_t value);
  void write_comparator(unsigned n, uint64_t value, uint64_t mask);
  // Account for every match up to the counter's value now.
  void sync();
  void match(unsigned n);
  // Ticks from `count` to the timer's next match (at least 1; 0: never).
  uint64_t ticks_to_match(const Timer& t, uint64_t count) const;
  bool is_32bit(const Timer& t) const { return (t.config & TN_32BIT) != 0; }
  // Where timer n's interrupt goes now.
  Sink route(unsigned n, unsigned* pin) const;
  // Bring every output (ISA IRQ0/IRQ8, IOAPIC pins) to what the configuration, the status
  // bits of level timers and the PIT/RTC inputs ask for; change only what differs.
  void update_lines();
  void pulse(unsigned n);
  void arm();
  void on_timer();

  VirtualClock& clock_;
  VirtualClock::TimerId timer_id_;
  IrqSink* isa_;
  IrqSink* ioapic_;

  uint64_t config_ = 0;
  uint64_t status_ = 0;
  // The main counter is base_count_ at guest time base_ns_ (+ elapsed ticks while enabled).
  uint64_t base_count_ = 0, base_ns_ = 0;
  uint64_t synced_count_ = 0;  // matches up to this counter value are accounted for
  std::array<Timer, NUM_TIMERS> timers_{};
  bool pit_level_ = false, rtc_level_ = false;  // legacy inputs as their devices drive them
  bool isa_out_[2] = {};                         // what we drive on ISA IRQ0 and IRQ8
  std::array<bool, 32> ioapic_out_{};            // ... and on IOAPIC pins
};

}  // namespace softcpu
