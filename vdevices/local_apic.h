// A CPU's local APIC, xAPIC register interface at 0xFEE00000 (SDM vol.3 ch.11
// "Advanced Programmable Interrupt Controller"; ch.10 in older editions). With -smp N each
// CPU has one, APIC ID = CPU index; the platform's APIC bus (monitor/pc_platform.cpp) carries
// IPIs and IOAPIC messages between them.
//
// Model choices:
// - Six LVT entries (timer, thermal, performance counter, LINT0, LINT1, error) and version
//   0x00050014 (max LVT entry 5, integrated APIC version 0x14), the set QEMU also reports.
//   The thermal and performance-counter LVTs are storage only: nothing raises them.
// - The timer counts at a 100 MHz bus clock (10 ns per tick before the divider), derived from
//   VirtualClock time; TSC-deadline mode is not offered (CPUID does not report it).
// - Interrupts are delivered instantly, so delivery-status bits always read 0.
// - Fixed interrupts are latched in IRR even while the APIC is software-disabled (as QEMU
//   does), but INTR is raised only when it is software-enabled; this keeps level-triggered
//   IOAPIC pins from sticking with remote IRR set and nobody to EOI them.
// - Virtual wire: while the APIC is globally disabled (IA32_APIC_BASE bit 11 clear) or
//   software-disabled (SVR bit 8 clear), LINT0 is the CPU's INTR and LINT1 its NMI, straight
//   through; when software-enabled, LINT0 passes the 8259 through only in unmasked ExtINT mode.
//   An ExtINT interrupt's vector comes from the 8259: acknowledge() forwards to it.
#pragma once
#include <array>
#include <cstdint>
#include <functional>

#include "interp/interrupt_ack.h"
#include "interp/memory.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {

class StateReader;
class StateWriter;

// Delivery modes shared by LVT entries, ICR and IOAPIC redirection entries (SDM 11.5.1).
enum ApicDeliveryMode : uint8_t {
  APIC_DM_FIXED = 0,
  APIC_DM_LOWEST = 1,
  APIC_DM_SMI = 2,
  APIC_DM_NMI = 4,
  APIC_DM_INIT = 5,
  APIC_DM_STARTUP = 6,
  APIC_DM_EXTINT = 7,
};

// One interrupt message to the local APIC (from the IOAPIC or an IPI).
struct ApicMessage {
  uint8_t vector = 0;
  uint8_t delivery_mode = APIC_DM_FIXED;
  bool logical = false;  // destination mode: false = physical APIC ID, true = logical (LDR/DFR)
  uint8_t dest = 0;
  bool level = false;    // trigger mode: level-triggered interrupts get an EOI broadcast
  bool deassert = false; // ICR level bit 0 with level trigger: INIT level de-assert (no effect)
};

class LocalApic final : public MmioHandler, public InterruptAcknowledge {
 public:
  static constexpr uint32_t DEFAULT_BASE = 0xFEE00000;
  static constexpr uint32_t MMIO_SIZE = 0x1000;
  static constexpr uint32_t VERSION = 0x00050014;
  static constexpr uint64_t BUS_CLOCK_HZ = 100'000'000;
  static constexpr uint64_t NS_PER_BUS_TICK = 1'000'000'000 / BUS_CLOCK_HZ;

  // Register offsets (SDM table 11-1).
  enum : uint32_t {
    REG_ID = 0x20, REG_VERSION = 0x30, REG_TPR = 0x80, REG_APR = 0x90, REG_PPR = 0xA0,
    REG_EOI = 0xB0, REG_RRD = 0xC0, REG_LDR = 0xD0, REG_DFR = 0xE0, REG_SVR = 0xF0,
    REG_ISR = 0x100, REG_TMR = 0x180, REG_IRR = 0x200, REG_ESR = 0x280, REG_ICR_LOW = 0x300,
    REG_ICR_HIGH = 0x310, REG_LVT_TIMER = 0x320, REG_LVT_THERMAL = 0x330, REG_LVT_PERF = 0x340,
    REG_LVT_LINT0 = 0x350, REG_LVT_LINT1 = 0x360, REG_LVT_ERROR = 0x370,
    REG_TIMER_INITIAL = 0x380, REG_TIMER_CURRENT = 0x390, REG_TIMER_DIVIDE = 0x3E0,
  };
  // LVT indices, in register order.
  enum Lvt : unsigned { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR,
                        LVT_COUNT };
  // Register bits.
  static constexpr uint32_t SVR_ENABLE = 1u << 8;
  static constexpr uint32_t LVT_MASKED = 1u << 16;
  static constexpr uint32_t LVT_TIMER_PERIODIC = 1u << 17;
  static constexpr uint32_t LVT_LEVEL = 1u << 15;
  static constexpr uint32_t ESR_SEND_ILLEGAL_VECTOR = 1u << 5;
  static constexpr uint32_t ESR_RECEIVE_ILLEGAL_VECTOR = 1u << 6;
  static constexpr uint32_t ESR_ILLEGAL_REGISTER = 1u << 7;

  // `pic` answers the INTA cycle for ExtINT (virtual wire) interrupts; may be null.
  LocalApic(VirtualClock& clock, InterruptAcknowledge* pic = nullptr);

  // Outputs. The INTR callback is called with the new level whenever it changes (and once
  // when set); NMI is an edge; the EOI broadcast carries the vector of a level-triggered
  // interrupt that was just EOIed (connect to Ioapic::eoi).
  void set_intr_output(std::function<void(bool)> intr);
  void set_nmi_output(std::function<void()> nmi) { nmi_ = std::move(nmi); }
  void set_eoi_broadcast(std::function<void(uint8_t vector)> eoi) { eoi_broadcast_ = std::move(eoi); }
  void set_pic(InterruptAcknowledge* pic) { pic_ = pic; }
  // The APIC bus: an IPI written to ICR goes here with its destination shorthand (SDM
  // 11.6.1: 0 the destination field, 1 self, 2 all including self, 3 all excluding self).
  // Not set: the APIC is alone and delivers to itself what addresses it.
  void set_ipi_bus(std::function<void(LocalApic& from, const ApicMessage&, unsigned shorthand)> bus) {
    ipi_bus_ = std::move(bus);
  }
  // INIT and STARTUP messages accepted by this APIC (SDM 8.4.4): the platform resets the CPU
  // into its wait-for-SIPI state, or starts it at vector * 4 KiB. Not set: ignored.
  void set_init_output(std::function<void()> init) { init_ = std::move(init); }
  void set_startup_output(std::function<void(uint8_t vector)> sipi) { sipi_ = std::move(sipi); }
  // Called with the timer's deadline (VirtualClock time; NEVER: none) after every change of it:
  // armed, cancelled, fired, reset, loaded. A vCPU another scheduler runs meets its own timer
  // with it (docs/design.md "A partition on both hypervisors"). Not set: nothing is called.
  void set_timer_observer(std::function<void(uint64_t deadline_ns)> observer) {
    timer_observer_ = std::move(observer);
  }
  // The clock's timer behind it (VirtualClock::set_owner: the platform names its CPU).
  VirtualClock::TimerId timer_id() const { return timer_id_; }
  // The APIC ID (bits 31:24 of the ID register); 0 for the bootstrap processor.
  void set_id(uint8_t id) { id_ = id; }
  uint8_t id() const { return id_; }

  // Power-up / INIT state (SDM 11.4.7.1); the global enable is left as it is.
  void reset();

  // IA32_APIC_BASE bit 11. Clearing it makes the APIC invisible (MMIO reads all ones, writes
  // are dropped, LINT0/LINT1 pass straight through) and returns it to its power-up state.
  void set_global_enable(bool enabled);
  bool globally_enabled() const { return global_enable_; }
  bool software_enabled() const { return (svr_ & SVR_ENABLE) != 0; }

  // MMIO: `addr` is the absolute physical address; only its low 12 bits select a register.
  // Registers are 32-bit; narrower reads return part of the register, narrower writes are
  // ignored (SDM 11.4.1: accesses must be 128-bit aligned dwords).
  uint32_t mmio_read(uint32_t addr, unsigned size) override;
  void mmio_write(uint32_t addr, unsigned size, uint32_t value) override;

  // A message addressed to the APIC bus. Returns true if this APIC accepted it.
  bool receive(const ApicMessage& msg);
  // Does a message with this destination address this APIC (SDM 11.6.2)?
  bool accepts(bool logical, uint8_t dest) const { return global_enable_ && matches_destination(logical, dest); }
  // Act on a message already addressed to this APIC (by destination or shorthand).
  void deliver(const ApicMessage& msg);
  // Latch a fixed interrupt (destination already matched). Vectors 0-15 are illegal (ESR).
  void accept(uint8_t vector, bool level_triggered);

  // Local interrupt pins: LINT0 carries the 8259's INTR, LINT1 the chipset's NMI.
  void set_lint0(bool level);
  void set_lint1(bool level);

  // The INTA cycle: the vector to deliver, or -1 if the request went away.
  int acknowledge() override;

  // Introspection (tests, debugger).
  bool intr_level() const { return intr_level_; }
  uint8_t ppr() const;
  uint32_t timer_current_count() const;
  bool irr_bit(uint8_t v) const { return test(irr_, v); }
  bool isr_bit(uint8_t v) const { return test(isr_, v); }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  using Bits256 = std::array<uint32_t, 8>;
  static bool test(const Bits256& b, uint8_t v) { return (b[v >> 5] >> (v & 31)) & 1; }
  static void set(Bits256& b, uint8_t v) { b[v >> 5] |= 1u << (v & 31); }
  static void clear(Bits256& b, uint8_t v) { b[v >> 5] &= ~(1u << (v & 31)); }
  static int highest(const Bits256& b);  // -1 if empty

  uint32_t read_reg(uint32_t offset);
  void write_reg(uint32_t offset, uint32_t value);
  void write_lvt(Lvt which, uint32_t value);
  void write_svr(uint32_t value);
  void write_eoi();
  void send_ipi();
  void signal_error(uint32_t esr_bit);
  bool matches_destination(bool logical, uint8_t dest) const;
  bool pic_passes_through() const;
  bool nmi_passes_through() const;
  void lint_edge(Lvt which, bool rising);
  int deliverable_vector() const;  // highest IRR above PPR, or -1
  uint8_t apr() const;
  void update_intr();

  // Timer (SDM 11.5.4).
  uint64_t timer_period_ns() const;   // one count at the current divider
  uint32_t timer_divider() const;
  void start_timer(uint32_t initial);
  void rebase_periodic(uint64_t now);
  void schedule_timer();
  void timer_fired(uint64_t now);
  void note_timer() {  // set_timer_observer
    if (timer_observer_) timer_observer_(clock_.deadline(timer_id_));
  }

  VirtualClock& clock_;
  VirtualClock::TimerId timer_id_;
  InterruptAcknowledge* pic_;
  std::function<void(bool)> intr_;
  std::function<void()> nmi_;
  std::function<void(uint8_t)> eoi_broadcast_;
  std::function<void(LocalApic&, const ApicMessage&, unsigned)> ipi_bus_;
  std::function<void()> init_;
  std::function<void(uint8_t)> sipi_;
  std::function<void(uint64_t)> timer_observer_;
  uint8_t id_ = 0;

  bool global_enable_ = true;
  bool intr_level_ = false;
  bool lint0_level_ = false, lint1_level_ = false;
  bool extint_pending_ = false;  // an ExtINT message waits for the 8259's vector

  uint32_t tpr_ = 0, ldr_ = 0, dfr_ = 0xFFFFFFFF, svr_ = 0xFF;
  uint32_t esr_ = 0, esr_pending_ = 0;
  uint32_t icr_low_ = 0, icr_high_ = 0;
  std::array<uint32_t, LVT_COUNT> lvt_{};
  Bits256 irr_{}, isr_{}, tmr_{};

  uint32_t timer_divide_ = 0;     // divide configuration register
  uint32_t timer_initial_ = 0;
  uint64_t timer_start_ns_ = 0;   // when the count (re)started at timer_initial_
  bool timer_expired_ = false;    // one-shot count reached 0
};

}  // namespace softcpu
