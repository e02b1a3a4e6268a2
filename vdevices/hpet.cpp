#include "vdevices/hpet.h"

#include "hostio/state_stream.h"

namespace softcpu {

namespace {

constexpr uint64_t LOW32 = 0xFFFFFFFFull;
constexpr unsigned ISA_PIT_IRQ = 0, ISA_RTC_IRQ = 8;

}  // namespace

Hpet::Hpet(VirtualClock& clock, IrqSink* isa, IrqSink* ioapic)
    : clock_(clock), isa_(isa), ioapic_(ioapic) {
  timer_id_ = clock_.create_timer([this](uint64_t) { on_timer(); });
  reset();
}

Hpet::~Hpet() { clock_.cancel(timer_id_); }

void Hpet::reset() {
  config_ = 0;
  status_ = 0;
  base_count_ = 0;
  base_ns_ = clock_.now_ns();
  synced_count_ = 0;
  for (Timer& t : timers_) {
    // 2.3.8: every timer here is 64-bit and periodic capable; 2.3.9: comparators reset to
    // all ones.
    t.config = TN_PER_CAP | TN_SIZE_CAP | (uint64_t(ROUTE_CAP) << 32);
    t.comparator = ~0ull;
    t.period = 0;
  }
  clock_.cancel(timer_id_);
  update_lines();
}

uint64_t Hpet::capabilities() const {
  // 2.3.4: REV_ID 1, NUM_TIM_CAP = timers - 1, COUNT_SIZE_CAP (64-bit), LEG_RT_CAP, vendor,
  // COUNTER_CLK_PERIOD in femtoseconds in the upper half.
  return 0x01 | uint64_t(NUM_TIMERS - 1) << 8 | 1u << 13 | 1u << 15 |
         uint64_t(VENDOR_ID) << 16 | uint64_t(PERIOD_FS) << 32;
}

uint64_t Hpet::counter_at(uint64_t now_ns) const {
  if (!(config_ & CFG_ENABLE)) return base_count_;
  return base_count_ + (now_ns - base_ns_) / TICK_NS;
}

uint64_t Hpet::main_counter() { return counter_at(clock_.now_ns()); }

uint64_t Hpet::comparator(unsigned timer) {
  sync();
  const Timer& t = timers_[timer];
  return is_32bit(t) ? t.comparator & LOW32 : t.comparator;
}

uint64_t Hpet::interrupt_status() {
  sync();
  return status_;
}

uint64_t Hpet::ticks_to_match(const Timer& t, uint64_t count) const {
  if (is_32bit(t)) {
    const uint32_t d = uint32_t(t.comparator) - uint32_t(count);
    return d ? d : 1ull << 32;  // equal now: the next match is a whole wrap away
  }
  return t.comparator - count;  // 0 (equal now): the next match is 2^64 ticks away, never
}

void Hpet::sync() {
  if (!(config_ & CFG_ENABLE)) return;
  const uint64_t now = counter_at(clock_.now_ns());
  if (now <= synced_count_) return;
  const uint64_t elapsed = now - synced_count_;
  for (unsigned n = 0; n < NUM_TIMERS; ++n) {
    Timer& t = timers_[n];
    const uint64_t d = ticks_to_match(t, synced_count_);
    if (d == 0 || d > elapsed) continue;
    if ((t.config & TN_PERIODIC) && t.period) {
      // 2.3.9.2.2: each match adds the period to the comparator; the first at d ticks, the
      // others every `period` ticks after it, all of them up to now.
      const uint64_t matches = (elapsed - d) / t.period + 1;
      t.comparator += matches * t.period;
      if (is_32bit(t)) t.comparator &= LOW32;
    }
    match(n);
  }
  synced_count_ = now;
}

void Hpet::match(unsigned n) {
  const Timer& t = timers_[n];
  if (t.config & TN_LEVEL) {
    status_ |= 1u << n;  // 2.3.6: set by a match even with the interrupt disabled
    update_lines();
  } else if ((config_ & CFG_ENABLE) && (t.config & TN_INT_ENB)) {
    pulse(n);
  }
}

Hpet::Sink Hpet::route(unsigned n, unsigned* pin) const {
  if ((config_ & CFG_LEGACY) && n < 2) {
    // 2.3.5 LEG_RT_CNF: timer 0 -> IRQ0 (IOAPIC pin 2), timer 1 -> IRQ8 (IOAPIC pin 8).
    *pin = n == 0 ? ISA_PIT_IRQ : ISA_RTC_IRQ;
    return ISA;
  }
  *pin = unsigned((timers_[n].config & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT);
  return (ROUTE_CAP >> *pin) & 1 ? IOAPIC : NOWHERE;
}

void Hpet::update_lines() {
  const bool legacy = (config_ & CFG_LEGACY) != 0;
  bool isa_want[2] = {legacy ? false : pit_level_, legacy ? false : rtc_level_};
  std::array<bool, 32> ioapic_want{};
  for (unsigned n = 0; n < NUM_TIMERS; ++n) {
    const Timer& t = timers_[n];
    const bool level = (config_ & CFG_ENABLE) && (t.config & TN_INT_ENB) &&
                       (t.config & TN_LEVEL) && (status_ >> n & 1);
    if (!level) continue;
    unsigned pin = 0;
    switch (route(n, &pin)) {
      case ISA: isa_want[pin == ISA_RTC_IRQ] = true; break;
      case IOAPIC: ioapic_want[pin] = true; break;
      case NOWHERE: break;
    }
  }
  // Lower first, then raise, so a line moving between two inputs is never high on both.
  for (bool raising : {false, true}) {
    for (unsigned i = 0; i < 2; ++i)
      if (isa_out_[i] != isa_want[i] && isa_want[i] == raising) {
        isa_out_[i] = raising;
        if (isa_) isa_->set_irq(i ? ISA_RTC_IRQ : ISA_PIT_IRQ, raising);
      }
    for (unsigned p = 0; p < ioapic_out_.size(); ++p)
      if (ioapic_out_[p] != ioapic_want[p] && ioapic_want[p] == raising) {
        ioapic_out_[p] = raising;
        if (ioapic_) ioapic_->set_irq(p, raising);
      }
  }
}

void Hpet::pulse(unsigned n) {
  unsigned pin = 0;
  const Sink sink = route(n, &pin);
  // A line another source holds high shows no edge (a shared edge input, as on the board).
  if (sink == ISA && !isa_out_[pin == ISA_RTC_IRQ] && isa_) {
    isa_->set_irq(pin, true);
    isa_->set_irq(pin, false);
  } else if (sink == IOAPIC && !ioapic_out_[pin] && ioapic_) {
    ioapic_->set_irq(pin, true);
    ioapic_->set_irq(pin, false);
  }
}

void Hpet::arm() {
  if (!(config_ & CFG_ENABLE)) {
    clock_.cancel(timer_id_);
    return;
  }
  uint64_t next = VirtualClock::NEVER;
  for (const Timer& t : timers_) {
    // Only matches that raise an interrupt or set a status bit need the clock; comparators
    // of other periodic timers catch up in sync() when read.
    if (!(t.config & (TN_INT_ENB | TN_LEVEL))) continue;
    const uint64_t d = ticks_to_match(t, synced_count_);
    if (d == 0) continue;
    const unsigned __int128 at =
        ((unsigned __int128)(synced_count_ - base_count_) + d) * TICK_NS + base_ns_;
    if (at < next) next = uint64_t(at);
  }
  if (next == VirtualClock::NEVER) clock_.cancel(timer_id_);
  else clock_.arm(timer_id_, next);
}

void Hpet::on_timer() {
  sync();
  arm();
}

void Hpet::set_irq(unsigned line, bool level) {
  if (line == ISA_PIT_IRQ) pit_level_ = level;
  else if (line == ISA_RTC_IRQ) rtc_level_ = level;
  else return;
  update_lines();
}

uint64_t Hpet::read_reg64(uint32_t offset) {
  switch (offset) {
    case REG_CAP: return capabilities();
    case REG_CONFIG: return config_;
    case REG_STATUS: return status_;
    case REG_COUNTER: return main_counter();
    default: break;
  }
  if (offset >= REG_TIMER0 && offset < REG_TIMER0 + NUM_TIMERS * TIMER_STRIDE) {
    const Timer& t = timers_[(offset - REG_TIMER0) / TIMER_STRIDE];
    switch ((offset - REG_TIMER0) % TIMER_STRIDE) {
      case TIMER_CONFIG: return t.config;
      case TIMER_COMPARATOR: return is_32bit(t) ? t.comparator & LOW32 : t.comparator;
      default: return 0;  // FSB route: no FSB delivery
    }
  }
  return 0;  // reserved
}

uint32_t Hpet::mmio_read(uint32_t addr, unsigned size) {
  const uint32_t offset = addr & 0xFFF;
  if (offset >= MMIO_SIZE) return 0;
  sync();
  const uint64_t reg = read_reg64(offset & ~7u) >> (8 * (offset & 7));
  return size >= 4 ? uint32_t(reg) : uint32_t(reg & ((1u << (8 * size)) - 1));
}

void Hpet::mmio_write(uint32_t addr, unsigned size, uint32_t value) {
  const uint32_t offset = addr & 0xFFF;
  if (offset >= MMIO_SIZE) return;
  const unsigned shift = 8 * (offset & 7);
  const uint64_t bytes = size >= 4 ? LOW32 : (1ull << (8 * size)) - 1;
  write_reg64(offset & ~7u, uint64_t(value) << shift, bytes << shift);
}

void Hpet::write_reg64(uint32_t offset, uint64_t value, uint64_t mask) {
  sync();
  value &= mask;
  switch (offset) {
    case REG_CONFIG:
      write_config((config_ & ~mask) | value);
      return;
    case REG_STATUS:
      status_ &= ~value;  // 2.3.6: writing 1 clears a level timer's bit
      update_lines();
      return;
    case REG_COUNTER: {
      // 2.3.7: software should halt the counter first; a write while it runs is taken too.
      const uint64_t now_ns = clock_.now_ns();
      base_count_ = (counter_at(now_ns) & ~mask) | value;
      base_ns_ = now_ns;
      synced_count_ = base_count_;
      arm();
      return;
    }
    default: break;
  }
  if (offset >= REG_TIMER0 && offset < REG_TIMER0 + NUM_TIMERS * TIMER_STRIDE) {
    const unsigned n = (offset - REG_TIMER0) / TIMER_STRIDE;
    switch ((offset - REG_TIMER0) % TIMER_STRIDE) {
      case TIMER_CONFIG:
        write_timer_config(n, (timers_[n].config & ~mask) | value);
        return;
      case TIMER_COMPARATOR:
        write_comparator(n, value, mask);
        return;
      default: return;  // FSB route: storage we do not offer
    }
  }
}

void Hpet::write_config(uint64_t value) {
  // Rebase on the counter's value now (frozen or running): halting keeps it, starting counts
  // from it. Matches up to here were accounted for by sync().
  const uint64_t now_ns = clock_.now_ns();
  base_count_ = counter_at(now_ns);
  base_ns_ = now_ns;
  if (!(config_ & CFG_ENABLE)) synced_count_ = base_count_;
  config_ = value & (CFG_ENABLE | CFG_LEGACY);
  update_lines();
  arm();
}

void Hpet::write_timer_config(unsigned n, uint64_t value) {
  Timer& t = timers_[n];
  const uint64_t writable = TN_LEVEL | TN_INT_ENB | TN_PERIODIC | TN_VAL_SET | TN_32BIT;
  uint64_t config = (t.config & ~writable) | (value & writable);
  // 2.3.8 Tn_INT_ROUTE_CNF: a pin outside Tn_INT_ROUTE_CAP is not taken (reads back the old).
  const uint64_t pin = (value & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT;
  if ((ROUTE_CAP >> pin) & 1) config = (config & ~TN_ROUTE_MASK) | (value & TN_ROUTE_MASK);
  t.config = config;
  if (is_32bit(t)) {  // 2.3.8 Tn_32MODE_CNF: the timer is 32 bits wide from now on
    t.comparator &= LOW32;
    t.period &= LOW32;
  }
  update_lines();
  arm();
}

void Hpet::write_comparator(unsigned n, uint64_t value, uint64_t mask) {
  Timer& t = timers_[n];
  if (is_32bit(t)) {
    value &= LOW32;
    mask &= LOW32;
  }
  // 2.3.9: a one-shot's comparator is what was written; a periodic timer's write sets the
  // period, and also the comparator itself when Tn_VAL_SET_CNF was set (which it clears).
  const bool periodic = (t.config & TN_PERIODIC) != 0;
  if (!periodic || (t.config & TN_VAL_SET)) t.comparator = (t.comparator & ~mask) | value;
  if (periodic) t.period = (t.period & ~mask) | value;
  t.config &= ~TN_VAL_SET;
  arm();
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void Hpet::visit_state(A& a) {
  a(config_, status_, base_count_, base_ns_, synced_count_, timers_, pit_level_, rtc_level_,
    isa_out_, ioapic_out_);
  state_timer(a, clock_, timer_id_);
}

void Hpet::save_state(StateWriter& w) const { const_cast<Hpet*>(this)->visit_state(w); }

void Hpet::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
