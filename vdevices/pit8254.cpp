#include "vdevices/pit8254.h"

#include "hostio/state_stream.h"

#include <algorithm>

namespace softcpu {

namespace {

constexpr uint64_t NS_PER_S = 1000000000;

uint16_t to_bcd(uint32_t v) {
  return uint16_t((v % 10) | ((v / 10 % 10) << 4) | ((v / 100 % 10) << 8) |
                  ((v / 1000 % 10) << 12));
}

uint32_t from_bcd(uint32_t v) {
  return (v & 0xF) + ((v >> 4) & 0xF) * 10 + ((v >> 8) & 0xF) * 100 + ((v >> 12) & 0xF) * 1000;
}

}  // namespace

uint64_t Pit8254::tick_at(uint64_t ns) {
  return uint64_t((unsigned __int128)ns * INPUT_CLOCK_HZ / NS_PER_S);
}

uint64_t Pit8254::time_of_tick(uint64_t tick) {
  return uint64_t(((unsigned __int128)tick * NS_PER_S + INPUT_CLOCK_HZ - 1) / INPUT_CLOCK_HZ);
}

// ---- one counter ----

void Pit8254::Channel::sync(uint64_t t) {
  if (reload_pending && t >= pending_tick) {
    // Modes 2/3: a count written while counting is loaded at the end of the current period.
    n = cr;
    load_tick = pending_tick;
    reload_pending = false;
  }
}

bool Pit8254::Channel::started(uint64_t t) const {
  if (!counting || (gated_mode() && !triggered)) return false;
  return t >= load_tick;
}

uint64_t Pit8254::Channel::elapsed(uint64_t t) const { return held ? held_d : t - load_tick; }

uint32_t Pit8254::Channel::count_at(uint64_t t) const {
  if (!started(t)) return n;
  const uint64_t d = elapsed(t);
  const uint32_t m = modulus();
  switch (mode()) {
    case 2:  // N, N-1, ..., 1, reload N
      return uint32_t(n - d % n);
    case 3: {
      // Square wave (datasheet "Mode 3"): even N counts N, N-2, ..., 2 in each half; odd N
      // loads N-1 and counts down by two, the high half one clock longer.
      const uint64_t phase = d % n;
      if (n % 2 == 0) {
        const uint64_t half = n / 2;
        return uint32_t(n - 2 * (phase < half ? phase : phase - half));
      }
      const uint64_t high = (n + 1) / 2;
      return uint32_t((n - 1) - 2 * (phase < high ? phase : phase - high));
    }
    default:  // modes 0, 1, 4, 5 count down once and wrap
      return uint32_t((n + m - d % m) % m);
  }
}

bool Pit8254::Channel::out_at(uint64_t t) const {
  const unsigned m = mode();
  // After the control word OUT is low in mode 0 and high in every other mode.
  if (!counting) return m != 0;
  switch (m) {
    case 0:  // low until terminal count, then high
      return started(t) && elapsed(t) >= n;
    case 1:  // low from the clock after the trigger until terminal count
      return !started(t) || elapsed(t) >= n;
    case 2:  // low for the one clock at count 1
      return held || !started(t) || elapsed(t) % n != n - 1;
    case 3: {
      if (held || !started(t)) return true;
      return elapsed(t) % n < (n + 1) / 2;
    }
    default:  // 4, 5: low for the one clock at terminal count
      return !started(t) || elapsed(t) != n;
  }
}

uint64_t Pit8254::Channel::next_rise(uint64_t t) const {
  if (!counting) return NO_TICK;
  switch (mode()) {
    case 0:
    case 1:
    case 4:
    case 5: {
      if (held || (gated_mode() && !triggered)) return NO_TICK;
      // Modes 0/1: OUT rises at terminal count; modes 4/5 one clock after the strobe.
      uint64_t rise = load_tick + n + (mode() >= 4 ? 1 : 0);
      return rise > t ? rise : NO_TICK;
    }
    default: {  // 2, 3: rises at the start of every period
      if (held || n < 2) return NO_TICK;
      uint64_t k = t >= load_tick ? (t - load_tick) / n + 1 : 1;
      return load_tick + k * n;
    }
  }
}

uint16_t Pit8254::Channel::encode(uint32_t value) const {
  value %= modulus();  // 65536 (10000 in BCD) reads as 0
  return bcd ? to_bcd(value) : uint16_t(value);
}

// ---- the device ----

Pit8254::Pit8254(VirtualClock& clock, IrqLine irq0) : clock_(clock), irq0_(irq0) {
  timer_ = clock_.create_timer([this](uint64_t now) { on_timer(now); });
  reset();
}

Pit8254::~Pit8254() { clock_.cancel(timer_); }

void Pit8254::reset() {
  for (unsigned i = 0; i < NUM_CHANNELS; ++i) {
    channels_[i] = Channel{};
    channels_[i].gate = i != 2;
  }
  clock_.cancel(timer_);
}

bool Pit8254::out(unsigned channel) {
  uint64_t t = now_tick();
  channels_[channel].sync(t);
  return channels_[channel].out_at(t);
}

uint16_t Pit8254::current_count(unsigned channel) {
  Channel& ch = channels_[channel];
  uint64_t t = now_tick();
  ch.sync(t);
  return ch.encode(ch.count_at(t));
}

void Pit8254::load_count(Channel& ch, uint32_t written) {
  const uint64_t t = now_tick();
  ch.sync(t);
  uint32_t value = ch.bcd ? from_bcd(written) : written;
  const uint32_t count = value == 0 ? ch.modulus() : value;  // 0 is the largest count
  ch.cr = count;
  switch (ch.mode()) {
    case 0:
    case 4:
      // Loaded on the next CLK pulse; a gate held low keeps it from counting.
      ch.n = count;
      ch.load_tick = t + 1;
      ch.counting = true;
      ch.held = !ch.gate;
      ch.held_d = 0;
      ch.count_in_ce_tick = t + 1;
      break;
    case 1:
    case 5:
      // Waits for a gate trigger; a count written during a one-shot takes effect at the next.
      if (!ch.triggered) ch.n = count;
      ch.counting = true;
      ch.count_in_ce_tick = NO_TICK;
      break;
    default:  // 2, 3
      if (!ch.counting) {
        ch.n = count;
        ch.load_tick = t + 1;
        ch.counting = true;
        ch.held = !ch.gate;
        ch.held_d = 0;
        ch.count_in_ce_tick = t + 1;
      } else if (ch.held) {
        ch.count_in_ce_tick = NO_TICK;  // loaded by the next gate rising edge
      } else if (t < ch.load_tick) {
        ch.n = count;  // the previous count has not reached the element yet
      } else {
        ch.reload_pending = true;
        ch.pending_tick = ch.load_tick + ((t - ch.load_tick) / ch.n + 1) * ch.n;
        ch.count_in_ce_tick = ch.pending_tick;
      }
      break;
  }
}

void Pit8254::latch_count(Channel& ch, uint64_t t) {
  // A second latch before the first is read is ignored (datasheet "Counter Latch Command").
  if (ch.count_latched) return;
  ch.latch = ch.encode(ch.count_at(t));
  ch.count_latched = true;
}

void Pit8254::latch_status(Channel& ch, uint64_t t) {
  if (ch.status_latched) return;
  // Status byte (datasheet "Read-Back Command"): OUT, NULL COUNT, RW1 RW0 M2 M1 M0 BCD.
  ch.status = uint8_t((ch.out_at(t) ? 0x80 : 0) | (t < ch.count_in_ce_tick ? 0x40 : 0) |
                      (ch.rw << 4) | (ch.mode_bits << 1) | (ch.bcd ? 1 : 0));
  ch.status_latched = true;
}

void Pit8254::write_control(uint8_t value) {
  const unsigned select = value >> 6;
  const uint64_t t = now_tick();
  if (select == 3) {
    // Read-back: bit 5 = 0 latches the count, bit 4 = 0 the status, bits 3-1 pick counters.
    for (unsigned i = 0; i < NUM_CHANNELS; ++i) {
      if (!(value & (2u << i))) continue;
      Channel& ch = channels_[i];
      ch.sync(t);
      if (!(value & 0x10)) latch_status(ch, t);
      if (!(value & 0x20)) latch_count(ch, t);
    }
    return;
  }
  Channel& ch = channels_[select];
  ch.sync(t);
  const uint8_t rw = (value >> 4) & 3;
  if (rw == RW_LATCH) {
    latch_count(ch, t);
    return;
  }
  // A control word resets the counter's control logic; counting waits for a new count.
  ch.rw = rw;
  ch.mode_bits = (value >> 1) & 7;
  ch.bcd = (value & 1) != 0;
  ch.counting = false;
  ch.triggered = false;
  ch.reload_pending = false;
  ch.held = false;
  ch.count_in_ce_tick = NO_TICK;
  ch.write_msb_next = false;
  ch.read_msb_next = false;
  ch.count_latched = false;
  ch.status_latched = false;
}

void Pit8254::write_counter(Channel& ch, uint8_t value) {
  switch (ch.rw) {
    case RW_LSB:
      load_count(ch, value);
      return;
    case RW_MSB:
      load_count(ch, uint32_t(value) << 8);
      return;
    default:
      if (!ch.write_msb_next) {
        ch.lsb_written = value;
        ch.write_msb_next = true;
        // Mode 0: writing the first byte stops the count and sets OUT low at once.
        if (ch.mode() == 0) ch.counting = false;
        return;
      }
      ch.write_msb_next = false;
      load_count(ch, ch.lsb_written | (uint32_t(value) << 8));
      return;
  }
}

uint8_t Pit8254::read_counter(Channel& ch) {
  if (ch.status_latched) {
    ch.status_latched = false;
    return ch.status;
  }
  uint16_t value;
  if (ch.count_latched) {
    value = ch.latch;
  } else {
    uint64_t t = now_tick();
    ch.sync(t);
    value = ch.encode(ch.count_at(t));
  }
  bool msb;
  bool done = true;
  switch (ch.rw) {
    case RW_LSB:
      msb = false;
      break;
    case RW_MSB:
      msb = true;
      break;
    default:
      msb = ch.read_msb_next;
      ch.read_msb_next = !ch.read_msb_next;
      done = msb;
      break;
  }
  if (done) ch.count_latched = false;
  return uint8_t(msb ? value >> 8 : value);
}

uint32_t Pit8254::io_read(uint16_t port, unsigned size) {
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    uint16_t p = uint16_t(port + i);
    uint8_t byte = 0xFF;  // the control port cannot be read
    if (p >= BASE && p < BASE + NUM_CHANNELS) byte = read_counter(channels_[p - BASE]);
    value |= uint32_t(byte) << (8 * i);
  }
  return value;
}

void Pit8254::io_write(uint16_t port, unsigned size, uint32_t value) {
  const uint64_t t = now_tick();
  channels_[0].sync(t);
  const bool out0_before = channels_[0].out_at(t);
  for (unsigned i = 0; i < size; ++i) {
    uint16_t p = uint16_t(port + i);
    uint8_t byte = uint8_t(value >> (8 * i));
    if (p == CONTROL_PORT) {
      write_control(byte);
    } else if (p >= BASE && p < BASE + NUM_CHANNELS) {
      write_counter(channels_[p - BASE], byte);
    }
  }
  // Reprogramming can raise OUT0 at once (e.g. mode 0 with OUT low -> mode 2).
  channels_[0].sync(t);
  if (!out0_before && channels_[0].out_at(t)) irq0_.pulse();
  arm_irq_timer();
}

void Pit8254::set_gate(unsigned channel, bool level) {
  Channel& ch = channels_[channel];
  if (ch.gate == level) return;
  const uint64_t t = now_tick();
  ch.sync(t);
  const bool out_before = ch.out_at(t);
  ch.gate = level;
  const unsigned m = ch.mode();
  if (!level) {
    // Gate low stops counting in modes 0, 2, 3, 4 (and forces OUT high in 2 and 3).
    if (m != 1 && m != 5 && ch.counting) {
      ch.held_d = ch.started(t) ? ch.elapsed(t) : 0;
      ch.held = true;
    }
  } else if (ch.counting) {
    if (m == 1 || m == 5) {
      // Rising edge: (re)trigger; the element takes the count register on the next clock.
      ch.triggered = true;
      ch.n = ch.cr;
      ch.load_tick = t + 1;
      ch.count_in_ce_tick = std::min(ch.count_in_ce_tick, t + 1);
    } else if (m == 2 || m == 3) {
      // Rising edge reloads the initial count on the next clock.
      ch.held = false;
      ch.n = ch.cr;
      ch.load_tick = t + 1;
      ch.reload_pending = false;
      ch.count_in_ce_tick = std::min(ch.count_in_ce_tick, t + 1);
    } else if (ch.held) {
      // Modes 0 and 4 resume where they stopped.
      ch.held = false;
      ch.load_tick = std::max(ch.load_tick, t - ch.held_d);
    }
  }
  if (channel == 0) {
    if (!out_before && ch.out_at(t)) irq0_.pulse();
    arm_irq_timer();
  }
}

void Pit8254::arm_irq_timer() {
  Channel& ch = channels_[0];
  const uint64_t t = now_tick();
  ch.sync(t);
  uint64_t rise = ch.next_rise(t);
  if (rise == NO_TICK) {
    clock_.cancel(timer_);
  } else {
    clock_.arm(timer_, time_of_tick(rise));
  }
}

void Pit8254::on_timer(uint64_t now_ns) {
  channels_[0].sync(tick_at(now_ns));
  irq0_.pulse();  // OUT0 rose (the timer is armed only for a rising edge)
  arm_irq_timer();
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void Pit8254::visit_state(A& a) {
  a(channels_);
  state_timer(a, clock_, timer_);
}

void Pit8254::save_state(StateWriter& w) const { const_cast<Pit8254*>(this)->visit_state(w); }

void Pit8254::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
