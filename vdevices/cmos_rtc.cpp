#include "vdevices/cmos_rtc.h"

#include "hostio/state_stream.h"

#include <time.h>

#include <algorithm>

namespace softcpu {

namespace {

constexpr int64_t NS_PER_S = 1000000000;
constexpr int64_t DIVIDER_HZ = 32768;  // the 32.768 kHz time base after the divider

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Index of the last periodic-interrupt boundary at or before RTC time r (ns). Periods are
// powers of two of the 32768 Hz divider output, so every second starts a period.
int64_t period_index(int64_t r, int64_t period_ticks) {
  int64_t sec = floor_div(r, NS_PER_S);
  int64_t sub = r - sec * NS_PER_S;
  int64_t tick = sub * DIVIDER_HZ / NS_PER_S;
  return sec * (DIVIDER_HZ / period_ticks) + tick / period_ticks;
}

// RTC time (ns) at which periodic boundary `index` happens.
int64_t period_time(int64_t index, int64_t period_ticks) {
  int64_t per_sec = DIVIDER_HZ / period_ticks;
  int64_t sec = floor_div(index, per_sec);
  int64_t tick = (index - sec * per_sec) * period_ticks;
  return sec * NS_PER_S + (tick * NS_PER_S + DIVIDER_HZ - 1) / DIVIDER_HZ;
}

int64_t host_unix_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * NS_PER_S + ts.tv_nsec;
}

}  // namespace

CmosRtc::CmosRtc(VirtualClock& clock, IrqLine irq8, std::optional<int64_t> start_unix_ns)
    : clock_(clock), irq8_(irq8) {
  timer_ = clock_.create_timer([this](uint64_t now) { on_timer(now); });
  const uint64_t now = clock_.now_ns();
  base_ns_ = start_unix_ns.value_or(host_unix_ns()) - int64_t(now);
  flags_until_ = now;
  ram_[REG_A] = 0x26;
  ram_[REG_B] = B_24H;
  ram_[REG_D] = D_VRT;
  refresh_time(now);
}

CmosRtc::~CmosRtc() { clock_.cancel(timer_); }

void CmosRtc::reset() {
  account_flags(clock_.now_ns());
  ram_[REG_B] &= uint8_t(~(B_PIE | B_AIE | B_UIE | B_SQWE));
  ram_[REG_C] = 0;
  index_ = 0;
  update_irq();
  arm_timer();
}

// ---- time registers ----

uint8_t CmosRtc::encode(unsigned value) const {
  if (ram_[REG_B] & B_BINARY) return uint8_t(value);
  return uint8_t(((value / 10) << 4) | (value % 10));
}

unsigned CmosRtc::decode(uint8_t value) const {
  if (ram_[REG_B] & B_BINARY) return value;
  return (value >> 4) * 10 + (value & 0x0F);
}

uint8_t CmosRtc::encode_hours(unsigned hours) const {
  if (ram_[REG_B] & B_24H) return encode(hours);
  // 12-hour mode: 1-12 with bit 7 set for PM.
  unsigned h12 = hours % 12 == 0 ? 12 : hours % 12;
  return uint8_t(encode(h12) | (hours >= 12 ? 0x80 : 0));
}

void CmosRtc::refresh_time(uint64_t now) {
  if (!updating()) return;  // SET or a stopped divider freezes the registers
  time_t seconds = time_t(floor_div(rtc_ns(now), NS_PER_S));
  tm t;
  gmtime_r(&seconds, &t);
  ram_[SECONDS] = encode(unsigned(t.tm_sec));
  ram_[MINUTES] = encode(unsigned(t.tm_min));
  ram_[HOURS] = encode_hours(unsigned(t.tm_hour));
  ram_[DAY_OF_WEEK] = encode(unsigned(t.tm_wday + 1));  // 1 = Sunday
  ram_[DAY_OF_MONTH] = encode(unsigned(t.tm_mday));
  ram_[MONTH] = encode(unsigned(t.tm_mon + 1));
  unsigned year = unsigned(t.tm_year + 1900);
  ram_[YEAR] = encode(year % 100);
  ram_[CENTURY] = encode(year / 100);
}

int64_t CmosRtc::time_from_registers() const {
  tm t{};
  t.tm_sec = int(decode(ram_[SECONDS]));
  t.tm_min = int(decode(ram_[MINUTES]));
  uint8_t h = ram_[HOURS];
  if (ram_[REG_B] & B_24H) {
    t.tm_hour = int(decode(h));
  } else {
    t.tm_hour = int(decode(h & 0x7F) % 12 + ((h & 0x80) ? 12 : 0));
  }
  t.tm_mday = int(decode(ram_[DAY_OF_MONTH]));
  t.tm_mon = int(decode(ram_[MONTH])) - 1;
  t.tm_year = int(decode(ram_[CENTURY]) * 100 + decode(ram_[YEAR])) - 1900;
  // The device keeps its time as int64 nanoseconds since 1970 (base_ns_), which holds 1678-2262;
  // the registers can say year 0 to 9999 (century and year bytes, any value). Dates beyond
  // +-8e9 s (1716-2223) are clamped, so base_ns_ = seconds * 1e9 + ... never overflows (with
  // 38 years of guest uptime to spare). Found by fuzz_platform (regressions/platform/).
  constexpr int64_t LIMIT_S = 8000000000;
  return std::clamp(int64_t(timegm(&t)), -LIMIT_S, LIMIT_S);
}

bool CmosRtc::alarm_matches(int64_t seconds) const {
  time_t s = time_t(seconds);
  tm t;
  gmtime_r(&s, &t);
  auto match = [](uint8_t alarm, uint8_t value) {
    return (alarm & ALARM_DONT_CARE) == ALARM_DONT_CARE || alarm == value;
  };
  return match(ram_[SECONDS_ALARM], encode(unsigned(t.tm_sec))) &&
         match(ram_[MINUTES_ALARM], encode(unsigned(t.tm_min))) &&
         match(ram_[HOURS_ALARM], encode_hours(unsigned(t.tm_hour)));
}

int64_t CmosRtc::unix_time() {
  const uint64_t now = clock_.now_ns();
  if (updating()) return floor_div(rtc_ns(now), NS_PER_S);
  return time_from_registers();
}

// ---- flags and IRQ8 ----

uint64_t CmosRtc::periodic_ticks() const {
  unsigned rs = ram_[REG_A] & A_RS;
  if (rs == 0) return 0;
  // Rate select (datasheet table "Periodic Interrupt Rate"): 1 and 2 give 256 and 128 Hz with a
  // 32.768 kHz time base, 3-15 give 32768 >> (rs - 1) Hz.
  return rs <= 2 ? 1u << (rs + 6) : 1u << (rs - 1);
}

void CmosRtc::account_flags(uint64_t now) {
  if (now <= flags_until_) return;
  const int64_t r1 = rtc_ns(flags_until_);
  const int64_t r2 = rtc_ns(now);
  flags_until_ = now;
  if (!divider_running()) return;
  if (uint64_t pt = periodic_ticks()) {
    // PF is set at every period whether or not PIE enables the interrupt.
    if (period_index(r2, int64_t(pt)) > period_index(r1, int64_t(pt))) ram_[REG_C] |= C_PF;
  }
  if (ram_[REG_B] & B_SET) return;  // no update cycles while SET
  const int64_t s1 = floor_div(r1, NS_PER_S);
  const int64_t s2 = floor_div(r2, NS_PER_S);
  if (s2 <= s1) return;
  ram_[REG_C] |= C_UF;
  if (!(ram_[REG_C] & C_AF)) {
    // Check each update since the last look; a day covers every alarm pattern.
    for (int64_t s = std::max(s1 + 1, s2 - 86400); s <= s2; ++s) {
      if (alarm_matches(s)) {
        ram_[REG_C] |= C_AF;
        break;
      }
    }
  }
}

bool CmosRtc::irqf() const {
  const uint8_t b = ram_[REG_B];
  const uint8_t c = ram_[REG_C];
  // IRQF = PF.PIE + AF.AIE + UF.UIE (datasheet "Register C").
  return ((c & C_PF) && (b & B_PIE)) || ((c & C_AF) && (b & B_AIE)) || ((c & C_UF) && (b & B_UIE));
}

void CmosRtc::update_irq() {
  const bool level = irqf();
  ram_[REG_C] = uint8_t(level ? (ram_[REG_C] | C_IRQF) : (ram_[REG_C] & ~C_IRQF));
  if (level != irq_level_) {
    irq_level_ = level;
    irq8_.set(level);
  }
}

void CmosRtc::arm_timer() {
  const uint64_t now = clock_.now_ns();
  const uint8_t b = ram_[REG_B];
  const uint8_t c = ram_[REG_C];
  int64_t next = INT64_MAX;  // RTC time of the next event that could raise IRQ8
  if (divider_running()) {
    const int64_t r = rtc_ns(now);
    uint64_t pt = periodic_ticks();
    if ((b & B_PIE) && !(c & C_PF) && pt)
      next = period_time(period_index(r, int64_t(pt)) + 1, int64_t(pt));
    if (updating() && (((b & B_UIE) && !(c & C_UF)) || ((b & B_AIE) && !(c & C_AF))))
      next = std::min(next, (floor_div(r, NS_PER_S) + 1) * NS_PER_S);
  }
  if (next == INT64_MAX) {
    clock_.cancel(timer_);
  } else {
    clock_.arm(timer_, uint64_t(next - base_ns_));
  }
}

void CmosRtc::on_timer(uint64_t now) {
  account_flags(now);
  update_irq();
  arm_timer();
}

// ---- registers ----

uint8_t CmosRtc::read_register(uint8_t index) {
  const uint64_t now = clock_.now_ns();
  switch (index) {
    case SECONDS:
    case MINUTES:
    case HOURS:
    case DAY_OF_WEEK:
    case DAY_OF_MONTH:
    case MONTH:
    case YEAR:
    case CENTURY:
      refresh_time(now);
      return ram_[index];
    case REG_A: {
      uint8_t a = ram_[REG_A] & 0x7F;
      // UIP: an update is due within 244 us (datasheet "Update Cycle").
      if (updating() &&
          rtc_ns(now) - floor_div(rtc_ns(now), NS_PER_S) * NS_PER_S >= NS_PER_S - int64_t(UIP_NS))
        a |= A_UIP;
      return a;
    }
    case REG_C: {
      // Reading C returns the flags and clears them all, dropping IRQ8.
      // Flags found only now (a late timer) are reported without raising IRQ8 first.
      account_flags(now);
      uint8_t c = uint8_t((ram_[REG_C] & ~C_IRQF) | (irqf() ? C_IRQF : 0));
      ram_[REG_C] = 0;
      update_irq();
      arm_timer();
      return c;
    }
    case REG_D:
      return D_VRT;  // the battery is good
    default:
      return ram_[index];
  }
}

void CmosRtc::write_register(uint8_t index, uint8_t value) {
  const uint64_t now = clock_.now_ns();
  switch (index) {
    case SECONDS:
    case MINUTES:
    case HOURS:
    case DAY_OF_WEEK:
    case DAY_OF_MONTH:
    case MONTH:
    case YEAR:
    case CENTURY: {
      if (!updating()) {
        ram_[index] = value;  // frozen: taken into account when SET is cleared
        return;
      }
      // Running: the written field replaces the current one, keeping the sub-second phase.
      account_flags(now);
      refresh_time(now);
      ram_[index] = value;
      int64_t r = rtc_ns(now);
      int64_t sub = r - floor_div(r, NS_PER_S) * NS_PER_S;
      base_ns_ = time_from_registers() * NS_PER_S + sub - int64_t(now);
      break;
    }
    case REG_A: {
      account_flags(now);
      const bool was_running = divider_running();
      refresh_time(now);
      ram_[REG_A] = value & 0x7F;  // UIP is read-only
      if (!was_running && divider_running() && !(ram_[REG_B] & B_SET)) {
        // Leaving divider reset: the first update comes half a second later.
        base_ns_ = time_from_registers() * NS_PER_S + NS_PER_S / 2 - int64_t(now);
      }
      break;
    }
    case REG_B: {
      account_flags(now);
      const bool was_set = ram_[REG_B] & B_SET;
      refresh_time(now);                            // a SET freezes what the registers show now
      if (value & B_SET) value &= uint8_t(~B_UIE);  // SET clears UIE (datasheet "Register B")
      ram_[REG_B] = value;
      if (was_set && !(value & B_SET) && divider_running()) {
        // The guest's time starts now; the next update is a second away.
        base_ns_ = time_from_registers() * NS_PER_S - int64_t(now);
      }
      break;
    }
    case REG_C:
    case REG_D:
      return;  // read-only
    default:
      ram_[index] = value;
      return;
  }
  flags_until_ = now;
  update_irq();
  arm_timer();
}

uint32_t CmosRtc::io_read(uint16_t port, unsigned size) {
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    uint16_t p = uint16_t(port + i);
    // The index register is write-only on the PC.
    uint8_t byte = p == DATA_PORT ? read_register(index_) : 0xFF;
    value |= uint32_t(byte) << (8 * i);
  }
  return value;
}

void CmosRtc::io_write(uint16_t port, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size; ++i) {
    uint16_t p = uint16_t(port + i);
    uint8_t byte = uint8_t(value >> (8 * i));
    if (p == INDEX_PORT) {
      index_ = byte & 0x7F;
      nmi_masked_ = (byte & 0x80) != 0;
    } else if (p == DATA_PORT) {
      write_register(index_, byte);
    }
  }
}

// ---- PC BIOS fields ----

void CmosRtc::fill_pc_fields(uint64_t ram_bytes, unsigned cpu_count) {
  constexpr uint64_t KiB = 1024, MiB = 1024 * KiB;
  auto put16 = [this](uint8_t lo_index, uint64_t value) {
    value = std::min<uint64_t>(value, 0xFFFF);
    ram_[lo_index] = uint8_t(value);
    ram_[lo_index + 1] = uint8_t(value >> 8);
  };
  ram_[0x10] = 0x00;  // no floppy drives
  ram_[0x14] = 0x02;  // equipment: no floppy, math coprocessor, VGA display
  put16(0x15, 640);   // base memory in KiB
  const uint64_t ext_kib = ram_bytes > MiB ? (ram_bytes - MiB) / KiB : 0;
  put16(0x17, ext_kib);  // extended memory above 1 MiB, KiB
  put16(0x30, ext_kib);  // the same, as POST found it
  const uint64_t high = ram_bytes > 16 * MiB ? (ram_bytes - 16 * MiB) / (64 * KiB) : 0;
  put16(0x34, high);  // memory above 16 MiB in 64 KiB units (SeaBIOS / Bochs convention)
  ram_[0x5B] = ram_[0x5C] = ram_[0x5D] = 0;  // memory above 4 GiB: none (32-bit machine)
  ram_[0x5F] = uint8_t(cpu_count > 0 ? cpu_count - 1 : 0);
  ram_[CENTURY] = encode(20);
  ram_[0x3D] = 0x02;  // boot order: hard disk first, nothing second
  ram_[0x38] = 0x00;  // third boot device none; floppy signature check on
  // Standard checksum over 0x10-0x2D, big-endian at 0x2E/0x2F.
  unsigned sum = 0;
  for (unsigned i = 0x10; i <= 0x2D; ++i) sum += ram_[i];
  ram_[0x2E] = uint8_t(sum >> 8);
  ram_[0x2F] = uint8_t(sum);
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void CmosRtc::visit_state(A& a) {
  a(ram_, index_, nmi_masked_, irq_level_, base_ns_, flags_until_);
  state_timer(a, clock_, timer_);
}

void CmosRtc::save_state(StateWriter& w) const { const_cast<CmosRtc*>(this)->visit_state(w); }

void CmosRtc::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
