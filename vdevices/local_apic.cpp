#include "vdevices/local_apic.h"

#include "hostio/state_stream.h"

#include "vdevices/port_mask.h"

namespace softcpu {

namespace {

// Writable bits of each LVT entry (SDM figure 11-8); delivery status and remote IRR are
// read-only. Timer mode bit 18 (TSC deadline) is not offered.
constexpr uint32_t LVT_WRITABLE[LocalApic::LVT_COUNT] = {
    0x300FF,  // timer: vector, mask, periodic
    0x107FF,  // thermal: vector, delivery mode, mask
    0x107FF,  // performance counter
    0x1A7FF,  // LINT0: vector, delivery mode, polarity, trigger mode, mask
    0x1A7FF,  // LINT1
    0x100FF,  // error: vector, mask
};

constexpr uint32_t ICR_LOW_WRITABLE = 0x000CCFFF;  // all but delivery status and reserved bits

}  // namespace

LocalApic::LocalApic(VirtualClock& clock, InterruptAcknowledge* pic)
    : clock_(clock),
      timer_id_(clock.create_timer([this](uint64_t now) { timer_fired(now); })),
      pic_(pic) {
  reset();
}

void LocalApic::set_intr_output(std::function<void(bool)> intr) {
  intr_ = std::move(intr);
  if (intr_) intr_(intr_level_);
}

void LocalApic::reset() {
  // SDM 11.4.7.1: everything 0 except DFR (all ones), LVTs (masked) and SVR (0xFF).
  tpr_ = 0;
  ldr_ = 0;
  dfr_ = 0xFFFFFFFF;
  svr_ = 0xFF;
  esr_ = esr_pending_ = 0;
  icr_low_ = icr_high_ = 0;
  lvt_.fill(LVT_MASKED);
  irr_ = {};
  isr_ = {};
  tmr_ = {};
  extint_pending_ = false;
  timer_divide_ = 0;
  timer_initial_ = 0;
  timer_start_ns_ = 0;
  timer_expired_ = false;
  clock_.cancel(timer_id_);
  note_timer();
  update_intr();
}

void LocalApic::set_global_enable(bool enabled) {
  if (enabled == global_enable_) return;
  global_enable_ = enabled;
  // SDM 11.4.3: after a global disable the APIC comes back in its power-up state.
  reset();
}

int LocalApic::highest(const Bits256& b) {
  for (int i = 7; i >= 0; --i)
    if (b[i]) return i * 32 + 31 - __builtin_clz(b[i]);
  return -1;
}

// ---- MMIO ---------------------------------------------------------------------------------

uint32_t LocalApic::mmio_read(uint32_t addr, unsigned size) {
  if (!global_enable_) return port_size_mask(size);
  const uint32_t offset = addr & 0xFFF;
  const uint32_t byte = offset & 0xF;
  if (byte >= 4) return 0;  // the rest of each 16-byte slot is reserved
  return (read_reg(offset & 0xFF0) >> (8 * byte)) & port_size_mask(size);
}

void LocalApic::mmio_write(uint32_t addr, unsigned size, uint32_t value) {
  if (!global_enable_) return;
  const uint32_t offset = addr & 0xFFF;
  if (size != 4 || (offset & 0xF) != 0) return;  // SDM 11.4.1: only aligned dword writes
  write_reg(offset, value);
}

uint32_t LocalApic::read_reg(uint32_t offset) {
  if (offset >= REG_ISR && offset < REG_ISR + 0x80) return isr_[(offset - REG_ISR) >> 4];
  if (offset >= REG_TMR && offset < REG_TMR + 0x80) return tmr_[(offset - REG_TMR) >> 4];
  if (offset >= REG_IRR && offset < REG_IRR + 0x80) return irr_[(offset - REG_IRR) >> 4];
  if (offset >= REG_LVT_TIMER && offset <= REG_LVT_ERROR)
    return lvt_[(offset - REG_LVT_TIMER) >> 4];
  switch (offset) {
    case REG_ID: return uint32_t(id_) << 24;
    case REG_VERSION: return VERSION;
    case REG_TPR: return tpr_;
    case REG_APR: return apr();
    case REG_PPR: return ppr();
    case REG_EOI: return 0;  // write-only
    case REG_RRD: return 0;  // remote read is never used by one CPU
    case REG_LDR: return ldr_;
    case REG_DFR: return dfr_;
    case REG_SVR: return svr_;
    case REG_ESR: return esr_;
    case REG_ICR_LOW: return icr_low_;
    case REG_ICR_HIGH: return icr_high_;
    case REG_TIMER_INITIAL: return timer_initial_;
    case REG_TIMER_CURRENT: return timer_current_count();
    case REG_TIMER_DIVIDE: return timer_divide_;
    default:
      signal_error(ESR_ILLEGAL_REGISTER);
      return 0;
  }
}

void LocalApic::write_reg(uint32_t offset, uint32_t value) {
  // Read-only registers: ID (fixed: the CPU's index), version, APR, PPR, RRD, ISR/TMR/IRR,
  // current count. Writes are ignored.
  if (offset >= REG_ISR && offset < REG_IRR + 0x80) return;
  if (offset >= REG_LVT_TIMER && offset <= REG_LVT_ERROR) {
    write_lvt(static_cast<Lvt>((offset - REG_LVT_TIMER) >> 4), value);
    return;
  }
  switch (offset) {
    case REG_ID: case REG_VERSION: case REG_APR: case REG_PPR: case REG_RRD:
    case REG_TIMER_CURRENT:
      return;
    case REG_TPR:
      tpr_ = value & 0xFF;
      update_intr();
      return;
    case REG_EOI: write_eoi(); return;
    case REG_LDR: ldr_ = value & 0xFF000000; return;
    case REG_DFR: dfr_ = value | 0x0FFFFFFF; return;  // only the model bits 28-31 are writable
    case REG_SVR: write_svr(value); return;
    case REG_ESR:
      // SDM 11.5.3: a write latches the errors seen since the previous write.
      esr_ = esr_pending_;
      esr_pending_ = 0;
      return;
    case REG_ICR_LOW:
      icr_low_ = value & ICR_LOW_WRITABLE;
      send_ipi();
      return;
    case REG_ICR_HIGH: icr_high_ = value & 0xFF000000; return;
    case REG_TIMER_INITIAL: start_timer(value); return;
    case REG_TIMER_DIVIDE: {
      const uint64_t now = clock_.now_ns();
      const bool running = timer_initial_ != 0 && !timer_expired_;
      uint64_t ticks = 0;
      if (running) {
        if (lvt_[LVT_TIMER] & LVT_TIMER_PERIODIC) rebase_periodic(now);
        ticks = (now - timer_start_ns_) / timer_period_ns();
      }
      timer_divide_ = value & 0xB;
      if (running) {
        // Keep the count where it is; it goes on at the new rate.
        timer_start_ns_ = now - ticks * timer_period_ns();
        schedule_timer();
      }
      return;
    }
    default: signal_error(ESR_ILLEGAL_REGISTER); return;
  }
}

void LocalApic::write_lvt(Lvt which, uint32_t value) {
  value &= LVT_WRITABLE[which];
  // SDM 11.4.7.2: while software-disabled, the mask bits stay set.
  if (!software_enabled()) value |= LVT_MASKED;
  const uint32_t old = lvt_[which];
  lvt_[which] = value;
  if (which == LVT_TIMER && ((old ^ value) & LVT_TIMER_PERIODIC) && timer_initial_ != 0 &&
      !timer_expired_) {
    // A periodic count leaving periodic mode continues from the current period.
    if (old & LVT_TIMER_PERIODIC) rebase_periodic(clock_.now_ns());
    schedule_timer();
  }
  update_intr();
}

void LocalApic::write_svr(uint32_t value) {
  svr_ = value & 0x3FF;  // spurious vector, APIC software enable, focus processor checking
  if (!software_enabled())
    for (uint32_t& l : lvt_) l |= LVT_MASKED;
  update_intr();
}

void LocalApic::write_eoi() {
  const int v = highest(isr_);
  if (v < 0) return;
  clear(isr_, static_cast<uint8_t>(v));
  // SDM 11.8.5: EOI of a level-triggered interrupt is broadcast to the IOAPICs.
  if (test(tmr_, static_cast<uint8_t>(v)) && eoi_broadcast_)
    eoi_broadcast_(static_cast<uint8_t>(v));
  update_intr();
}

void LocalApic::send_ipi() {
  ApicMessage m;
  m.vector = icr_low_ & 0xFF;
  m.delivery_mode = (icr_low_ >> 8) & 7;
  m.logical = (icr_low_ >> 11) & 1;
  m.level = (icr_low_ >> 15) & 1;
  // SDM 11.6.1: INIT with level 0 and level trigger is the INIT level de-assert message.
  m.deassert = m.delivery_mode == APIC_DM_INIT && m.level && !((icr_low_ >> 14) & 1);
  m.dest = static_cast<uint8_t>(icr_high_ >> 24);
  const unsigned shorthand = (icr_low_ >> 18) & 3;
  if (m.delivery_mode == APIC_DM_EXTINT || m.delivery_mode == APIC_DM_SMI) return;  // not IPIs here
  if ((m.delivery_mode == APIC_DM_FIXED || m.delivery_mode == APIC_DM_LOWEST) && m.vector < 16) {
    signal_error(ESR_SEND_ILLEGAL_VECTOR);
    return;
  }
  if (m.delivery_mode == APIC_DM_FIXED || m.delivery_mode == APIC_DM_LOWEST)
    m.level = false;  // an IPI is edge-triggered: no EOI broadcast
  if (ipi_bus_) {
    ipi_bus_(*this, m, shorthand);
    return;
  }
  bool to_self = false;
  switch (shorthand) {
    case 0: to_self = matches_destination(m.logical, m.dest); break;
    case 1: case 2: to_self = true; break;  // self; all including self
    case 3: to_self = false; break;         // all excluding self: there is nobody else
  }
  if (to_self) deliver(m);
}

void LocalApic::signal_error(uint32_t esr_bit) {
  const bool fresh = (esr_pending_ & esr_bit) == 0;
  esr_pending_ |= esr_bit;
  // SDM 11.5.3: each newly detected error raises the error LVT's interrupt.
  if (fresh && !(lvt_[LVT_ERROR] & LVT_MASKED))
    accept(static_cast<uint8_t>(lvt_[LVT_ERROR] & 0xFF), false);
}

// ---- Interrupt acceptance and priority -------------------------------------------------------

bool LocalApic::matches_destination(bool logical, uint8_t dest) const {
  if (dest == 0xFF) return true;  // broadcast in both modes
  if (!logical) return dest == id_;  // our APIC ID
  // SDM 11.6.2.2: flat model (DFR 1111) is a bit mask; cluster model (0000) has the cluster
  // in the high nibble (15 = all clusters) and a member mask in the low one.
  const uint8_t id = static_cast<uint8_t>(ldr_ >> 24);
  if ((dfr_ >> 28) == 0) {
    const bool cluster_ok = (dest >> 4) == 0xF || (dest >> 4) == (id >> 4);
    return cluster_ok && (dest & id & 0xF) != 0;
  }
  return (dest & id) != 0;
}

bool LocalApic::receive(const ApicMessage& msg) {
  if (!global_enable_) return false;
  if (!matches_destination(msg.logical, msg.dest)) return false;
  deliver(msg);
  return true;
}

void LocalApic::deliver(const ApicMessage& msg) {
  if (!global_enable_) return;
  switch (msg.delivery_mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:  // the bus chose this APIC
      accept(msg.vector, msg.level);
      break;
    case APIC_DM_NMI:
      if (nmi_) nmi_();
      break;
    case APIC_DM_EXTINT:
      extint_pending_ = true;
      update_intr();
      break;
    case APIC_DM_INIT:
      if (!msg.deassert && init_) init_();
      break;
    case APIC_DM_STARTUP:
      if (sipi_) sipi_(msg.vector);
      break;
    default:
      break;  // SMI: not modelled
  }
}

void LocalApic::accept(uint8_t vector, bool level_triggered) {
  if (vector < 16) {
    signal_error(ESR_RECEIVE_ILLEGAL_VECTOR);
    return;
  }
  set(irr_, vector);
  // SDM 11.8.4: TMR records the trigger mode of each accepted interrupt.
  if (level_triggered)
    set(tmr_, vector);
  else
    clear(tmr_, vector);
  update_intr();
}

uint8_t LocalApic::ppr() const {
  // SDM 11.8.3.1: PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4]:0.
  const int isrv = highest(isr_);
  const uint32_t isr_class = isrv < 0 ? 0 : static_cast<uint32_t>(isrv) & 0xF0;
  return static_cast<uint8_t>((tpr_ & 0xF0) >= isr_class ? tpr_ : isr_class);
}

uint8_t LocalApic::apr() const {
  // SDM 11.8.2 (arbitration priority, P6 and Pentium): TPR if its class is at least that of
  // the highest ISR and IRR vectors, else the highest of the three classes.
  const int isrv = highest(isr_), irrv = highest(irr_);
  const uint32_t isr_class = isrv < 0 ? 0 : static_cast<uint32_t>(isrv) & 0xF0;
  const uint32_t irr_class = irrv < 0 ? 0 : static_cast<uint32_t>(irrv) & 0xF0;
  const uint32_t tpr_class = tpr_ & 0xF0;
  if (tpr_class >= isr_class && tpr_class >= irr_class) return static_cast<uint8_t>(tpr_);
  uint32_t m = tpr_class > isr_class ? tpr_class : isr_class;
  return static_cast<uint8_t>(m > irr_class ? m : irr_class);
}

int LocalApic::deliverable_vector() const {
  // SDM 11.8.3.1: the highest IRR vector is dispatched if its class is above PPR's.
  const int v = highest(irr_);
  if (v < 0 || (static_cast<uint32_t>(v) & 0xF0) <= (ppr() & 0xF0u)) return -1;
  return v;
}

bool LocalApic::pic_passes_through() const {
  if (!global_enable_ || !software_enabled()) return true;
  const uint32_t lint0 = lvt_[LVT_LINT0];
  return !(lint0 & LVT_MASKED) && ((lint0 >> 8) & 7) == APIC_DM_EXTINT;
}

bool LocalApic::nmi_passes_through() const { return !global_enable_ || !software_enabled(); }

void LocalApic::update_intr() {
  bool level = pic_passes_through() && lint0_level_;
  if (global_enable_) {
    if (extint_pending_) level = true;
    if (software_enabled() && deliverable_vector() >= 0) level = true;
  }
  if (level == intr_level_) return;
  intr_level_ = level;
  if (intr_) intr_(level);
}

int LocalApic::acknowledge() {
  // ExtINT bypasses the APIC's priority logic (SDM 11.5.1): the 8259 supplies the vector.
  if (pic_passes_through() && lint0_level_) {
    const int v = pic_ ? pic_->acknowledge() : -1;
    update_intr();
    return v;
  }
  if (!global_enable_) return -1;
  if (extint_pending_) {
    extint_pending_ = false;
    const int v = pic_ ? pic_->acknowledge() : -1;
    update_intr();
    return v;
  }
  if (!software_enabled()) return -1;
  const int v = deliverable_vector();
  // SDM 11.9: a request that was masked (e.g. by TPR) after INTR rose gets the spurious vector,
  // which is not put in ISR and needs no EOI.
  if (v < 0) return static_cast<int>(svr_ & 0xFF);
  clear(irr_, static_cast<uint8_t>(v));
  set(isr_, static_cast<uint8_t>(v));
  update_intr();
  return v;
}

// ---- Local interrupt pins ---------------------------------------------------------------------

void LocalApic::set_lint0(bool level) {
  const bool rising = level && !lint0_level_;
  lint0_level_ = level;
  if (rising && !pic_passes_through()) lint_edge(LVT_LINT0, true);
  update_intr();
}

void LocalApic::set_lint1(bool level) {
  const bool rising = level && !lint1_level_;
  lint1_level_ = level;
  if (!rising) return;
  if (nmi_passes_through()) {
    if (nmi_) nmi_();
    return;
  }
  lint_edge(LVT_LINT1, true);
}

void LocalApic::lint_edge(Lvt which, bool rising) {
  const uint32_t lvt = lvt_[which];
  if (!rising || (lvt & LVT_MASKED)) return;
  switch ((lvt >> 8) & 7) {
    case APIC_DM_FIXED:
      // Approximation: a level-triggered LINT is accepted once per rising edge.
      accept(static_cast<uint8_t>(lvt & 0xFF), (lvt & LVT_LEVEL) != 0);
      break;
    case APIC_DM_NMI:
      if (nmi_) nmi_();
      break;
    default:
      break;
  }
}

// ---- Timer ------------------------------------------------------------------------------------

uint32_t LocalApic::timer_divider() const {
  // SDM figure 11-10: bits 3,1,0; 111 = divide by 1, otherwise 2 << value.
  const uint32_t bits = (timer_divide_ & 3) | ((timer_divide_ >> 1) & 4);
  return bits == 7 ? 1 : 2u << bits;
}

uint64_t LocalApic::timer_period_ns() const { return NS_PER_BUS_TICK * timer_divider(); }

void LocalApic::start_timer(uint32_t initial) {
  // SDM 11.5.4: writing the initial count starts the count; 0 stops the timer.
  timer_initial_ = initial;
  timer_start_ns_ = clock_.now_ns();
  timer_expired_ = false;
  schedule_timer();
}

void LocalApic::rebase_periodic(uint64_t now) {
  const uint64_t total = uint64_t(timer_initial_) * timer_period_ns();
  if (total == 0 || now < timer_start_ns_) return;
  const uint64_t elapsed = now - timer_start_ns_;
  if (elapsed >= total) timer_start_ns_ += (elapsed / total) * total;
}

void LocalApic::schedule_timer() {
  if (timer_initial_ == 0 || timer_expired_) {
    clock_.cancel(timer_id_);
  } else {
    const uint64_t total = uint64_t(timer_initial_) * timer_period_ns();
    clock_.arm(timer_id_, timer_start_ns_ + total);
  }
  note_timer();
}

uint32_t LocalApic::timer_current_count() const {
  if (timer_initial_ == 0 || timer_expired_) return 0;
  const uint64_t now = clock_.now_ns();
  const uint64_t ticks = now > timer_start_ns_ ? (now - timer_start_ns_) / timer_period_ns() : 0;
  if (lvt_[LVT_TIMER] & LVT_TIMER_PERIODIC)
    return static_cast<uint32_t>(timer_initial_ - ticks % timer_initial_);
  return ticks >= timer_initial_ ? 0 : static_cast<uint32_t>(timer_initial_ - ticks);
}

void LocalApic::timer_fired(uint64_t now) {
  if (timer_initial_ == 0) return note_timer();
  if (lvt_[LVT_TIMER] & LVT_TIMER_PERIODIC) {
    // Periods missed while the host was late are dropped, not queued.
    rebase_periodic(now);
    schedule_timer();
  } else {
    timer_expired_ = true;
    note_timer();
  }
  if (!(lvt_[LVT_TIMER] & LVT_MASKED) && global_enable_)
    accept(static_cast<uint8_t>(lvt_[LVT_TIMER] & 0xFF), false);
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void LocalApic::visit_state(A& a) {
  a(global_enable_, intr_level_, lint0_level_, lint1_level_, extint_pending_, tpr_, ldr_, dfr_,
    svr_, esr_, esr_pending_, icr_low_, icr_high_, lvt_, irr_, isr_, tmr_, timer_divide_,
    timer_initial_, timer_start_ns_, timer_expired_);
  state_timer(a, clock_, timer_id_);
}

void LocalApic::save_state(StateWriter& w) const { const_cast<LocalApic*>(this)->visit_state(w); }

void LocalApic::load_state(StateReader& r) {
  visit_state(r);
  note_timer();
}

}  // namespace softcpu
