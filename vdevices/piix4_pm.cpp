#include "vdevices/piix4_pm.h"

#include "hostio/state_stream.h"

namespace softcpu {

namespace {
constexpr uint64_t NS_PER_S = 1000000000;
constexpr unsigned TIMER_BITS = 24;
// TMROF_STS is set each time bit 23 of the PM timer changes (ACPI 1.0b 4.7.2.1).
constexpr unsigned TMROF_SHIFT = TIMER_BITS - 1;
// Event bits that raise SCI when enabled (PIIX4 has no sleep button).
constexpr uint16_t SCI_EVENTS = Piix4Pm::TMROF | Piix4Pm::GBL | Piix4Pm::PWRBTN | Piix4Pm::RTC;

// First guest time (ns) at which the timer has counted `ticks`.
uint64_t ticks_to_ns(uint64_t ticks) {
  const uint64_t q = ticks / Piix4Pm::PM_TIMER_HZ, r = ticks % Piix4Pm::PM_TIMER_HZ;
  return q * NS_PER_S + (r * NS_PER_S + Piix4Pm::PM_TIMER_HZ - 1) / Piix4Pm::PM_TIMER_HZ;
}
}  // namespace

Piix4Pm::Piix4Pm(VirtualClock& clock, IrqLine sci)
    : PciDevice("piix4-pm", VENDOR, DEVICE, 0x068000, 0x03, 0x00), clock_(clock), sci_(sci) {
  init_reg8(INTERRUPT_PIN, 0x01);               // INTA, as QEMU reports it
  init_reg32(PMBA, 0x00000001, 0x0000FFC0);      // 64-byte I/O space, bit 0 hardwired to 1
  // DEVACTB bit 25 (APMC_EN) set: QEMU without SMM does the same so that SeaBIOS thinks SMM
  // is already set up and does not wait for an SMI handler that does not exist.
  init_reg32(DEVACTB, 0x02000000, 0x00000000);
  init_reg8(PMREGMISC, 0x00, 0x01);              // bit 0: PM I/O space enable
  init_reg32(SMBBA, 0x00000001, 0x0000FFF0);     // SMBus I/O base (stored only)
  init_reg8(SMBHSTCFG, 0x00, 0x0F);
  overflow_timer_ = clock_.create_timer([this](uint64_t) { update_sci(); update_overflow_timer(); });
}

void Piix4Pm::reset() {
  PciDevice::reset();
  apm_.reset();
  pm1_sts_ = 0;
  pm1_en_ = 0;
  pm1_cnt_ = 0;
  tmrof_acked_epoch_ = timer_ticks() >> TMROF_SHIFT;
  clock_.cancel(overflow_timer_);
  update_sci();
  update_io_mapping();
}

uint64_t Piix4Pm::timer_ticks() const {
  const uint64_t ns = clock_.now_ns();
  return ns / NS_PER_S * PM_TIMER_HZ + ns % NS_PER_S * PM_TIMER_HZ / NS_PER_S;
}

uint32_t Piix4Pm::pm_timer() const {
  return uint32_t(timer_ticks() & ((1u << TIMER_BITS) - 1));
}

uint16_t Piix4Pm::pm1_sts() const {
  uint16_t sts = pm1_sts_;
  if ((timer_ticks() >> TMROF_SHIFT) != tmrof_acked_epoch_) sts |= TMROF;
  return sts;
}

void Piix4Pm::raise_event(uint16_t sts_bits) {
  pm1_sts_ |= uint16_t(sts_bits & ~TMROF);
  update_sci();
}

void Piix4Pm::update_sci() {
  const bool level = (pm1_sts() & pm1_en_ & SCI_EVENTS) != 0;
  if (level == sci_level_) return;
  sci_level_ = level;
  sci_.set(level);
}

// Only needed while the guest wants an SCI on overflow and has none pending.
void Piix4Pm::update_overflow_timer() {
  if (!(pm1_en_ & TMROF) || (pm1_sts() & TMROF)) {
    clock_.cancel(overflow_timer_);
    return;
  }
  clock_.arm(overflow_timer_, ticks_to_ns((tmrof_acked_epoch_ + 1) << TMROF_SHIFT));
}

uint32_t Piix4Pm::io_read(uint16_t port, unsigned size) {
  const unsigned off = uint16_t(port - io_base_) & (PM_IO_SIZE - 1);
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    const unsigned b = off + i;
    uint32_t byte = 0;
    if (b < 2) byte = pm1_sts() >> (8 * b);
    else if (b < 4) byte = pm1_en_ >> (8 * (b - 2));
    else if (b < 6) byte = pm1_cnt_ >> (8 * (b - 4));
    else if (b >= 8 && b < 12) byte = pm_timer() >> (8 * (b - 8));
    value |= (byte & 0xFF) << (8 * i);
  }
  return value;
}

void Piix4Pm::io_write(uint16_t port, unsigned size, uint32_t value) {
  const unsigned off = uint16_t(port - io_base_) & (PM_IO_SIZE - 1);
  // Split the access over the 16-bit registers it touches; bytes it does not cover keep
  // their value (or, for the write-one-to-clear status, clear nothing).
  for (uint16_t reg : {PM1_STS, PM1_EN, PM1_CNT}) {
    uint16_t v = 0, byte_mask = 0;
    for (unsigned i = 0; i < size; ++i) {
      const unsigned b = off + i;
      if (b < reg || b >= reg + 2u) continue;
      const unsigned shift = 8 * (b - reg);
      v = uint16_t(v | ((value >> (8 * i)) & 0xFF) << shift);
      byte_mask = uint16_t(byte_mask | 0xFF << shift);
    }
    if (byte_mask) write_reg16(reg, v, byte_mask);
  }
}

void Piix4Pm::write_reg16(uint16_t reg, uint16_t value, uint16_t byte_mask) {
  switch (reg) {
    case PM1_STS: {
      const uint16_t clear = value & byte_mask;
      pm1_sts_ = uint16_t(pm1_sts_ & ~clear);
      if (clear & TMROF) tmrof_acked_epoch_ = timer_ticks() >> TMROF_SHIFT;
      break;
    }
    case PM1_EN:
      pm1_en_ = uint16_t((pm1_en_ & ~byte_mask) | (value & byte_mask & SCI_EVENTS));
      break;
    case PM1_CNT: {
      const uint16_t merged = uint16_t((pm1_cnt_ & ~byte_mask) | (value & byte_mask));
      // SLP_EN is write-only: it starts the sleep transition and reads back as 0.
      pm1_cnt_ = uint16_t(merged & (SCI_EN | SLP_TYP_MASK | 0x0006));
      if ((merged & SLP_EN) &&
          ((merged & SLP_TYP_MASK) >> SLP_TYP_SHIFT) == SLP_TYP_SOFT_OFF && power_off_)
        power_off_();
      break;
    }
  }
  update_sci();
  update_overflow_timer();
}

void Piix4Pm::config_written(uint8_t offset, unsigned size, uint32_t old) {
  (void)old;
  const bool pmba = offset < PMBA + 4 && offset + size > PMBA;
  const bool misc = offset <= PMREGMISC && offset + size > PMREGMISC;
  if (pmba || misc) update_io_mapping();
}

void Piix4Pm::update_io_mapping() {
  const bool mapped = pm_io_enabled();
  const uint16_t base = mapped ? pm_base() : 0;
  if (mapped == io_mapped_ && base == io_base_) return;
  const bool old_mapped = io_mapped_;
  const uint16_t old_base = io_base_;
  io_mapped_ = mapped;
  io_base_ = base;
  if (io_change_) io_change_(old_mapped, old_base, mapped, base);
}

void Piix4Pm::apm_command(uint8_t value) {
  if (value == ACPI_ENABLE) pm1_cnt_ |= SCI_EN;
  else if (value == ACPI_DISABLE) pm1_cnt_ = uint16_t(pm1_cnt_ & ~SCI_EN);
}

uint32_t Piix4Pm::ApmPorts::io_read(uint16_t port, unsigned size) {
  (void)size;
  return port == APM_CNT_PORT ? cnt_ : sts_;
}

void Piix4Pm::ApmPorts::io_write(uint16_t port, unsigned size, uint32_t value) {
  (void)size;
  if (port == APM_CNT_PORT) {
    cnt_ = uint8_t(value);
    pm_.apm_command(cnt_);
  } else {
    sts_ = uint8_t(value);
  }
}

void Piix4Pm::save_state(StateWriter& w) const {
  PciDevice::save_state(w);
  w(apm_.cnt_, apm_.sts_, pm1_sts_, pm1_en_, pm1_cnt_, tmrof_acked_epoch_, sci_level_);
  state_timer(w, clock_, overflow_timer_);
}

// The PM I/O block is mapped where the loaded PMBA says.
void Piix4Pm::load_state(StateReader& r) {
  PciDevice::load_state(r);
  r(apm_.cnt_, apm_.sts_, pm1_sts_, pm1_en_, pm1_cnt_, tmrof_acked_epoch_, sci_level_);
  state_timer(r, clock_, overflow_timer_);
  update_io_mapping();
}

}  // namespace softcpu
