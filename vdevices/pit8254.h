// 8254 programmable interval timer (Intel 82C54 datasheet): three 16-bit counters at ports
// 0x40-0x42 and the control word register at 0x43, clocked at 1193182 Hz.
//
// Counters are not ticked: each one remembers the CLK tick at which its counting element was
// loaded, and its count and OUT level are computed from VirtualClock::now_ns() when read. CLK
// ticks are counted from guest time 0, tick k falling at ceil(k * 1e9 / 1193182) ns, so a count
// written between two ticks is loaded on the next one, as the datasheet describes. Channel 0's
// OUT drives IRQ0: one clock timer is armed at OUT's next rising edge, where the line is pulsed
// (the PIC input is edge-triggered).
//
// Not modelled: in mode 3 a new count written while counting takes effect at the end of the
// whole cycle rather than of the current half-cycle; counts read between a write and the next
// CLK tick show the new count instead of the old element contents.
#pragma once
#include <cstdint>

#include "vdevices/io_device.h"
#include "vdevices/irq.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {

class StateReader;
class StateWriter;

class Pit8254 final : public IoDevice {
 public:
  static constexpr uint16_t BASE = 0x40;
  static constexpr uint16_t CONTROL_PORT = 0x43;
  static constexpr unsigned NUM_CHANNELS = 3;
  static constexpr uint64_t INPUT_CLOCK_HZ = 1193182;

  // Access modes (control word bits 5-4).
  enum : uint8_t { RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_LSB_MSB = 3 };

  // The clock must outlive the device. irq0 is channel 0's OUT wire.
  Pit8254(VirtualClock& clock, IrqLine irq0 = {});
  ~Pit8254() override;
  Pit8254(const Pit8254&) = delete;
  Pit8254& operator=(const Pit8254&) = delete;

  const char* name() const override { return "pit8254"; }
  // Byte registers; a wider access touches port, port+1, ... in turn.
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // Power-on: no counter programmed (mode 0 without a count, OUT low), gates 0 and 1 high
  // (tied high on a PC), gate 2 low.
  void reset() override;

  // GATE inputs (channel 2's comes from port 0x61 bit 0).
  void set_gate(unsigned channel, bool level);
  bool gate(unsigned channel) const { return channels_[channel].gate; }
  // The OUT pin now.
  bool out(unsigned channel);
  // The counting element now, as the guest would read it (BCD-coded in BCD mode).
  uint16_t current_count(unsigned channel);
  unsigned mode(unsigned channel) const { return channels_[channel].mode(); }

  // CLK tick at guest time ns (floor), and the first guest time at which tick k has happened.
  static uint64_t tick_at(uint64_t ns);
  static uint64_t time_of_tick(uint64_t tick);

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  static constexpr uint64_t NO_TICK = UINT64_MAX;

  struct Channel {
    uint8_t mode_bits = 0;  // control word bits 3-1 as written (6 and 7 alias 2 and 3)
    uint8_t rw = RW_LSB_MSB;
    bool bcd = false;
    bool gate = false;

    uint32_t cr = 0;         // count register: last full count written (1..65536)
    uint32_t n = 0;          // count the counting element works with
    bool counting = false;   // a count was loaded since the control word
    bool triggered = false;  // modes 1 and 5: a gate trigger started the element
    uint64_t load_tick = 0;  // the tick at which the element was (or will be) loaded with n
    uint64_t count_in_ce_tick = NO_TICK;  // when the last written count reaches the element
    bool reload_pending = false;          // modes 2/3: cr replaces n at pending_tick
    uint64_t pending_tick = 0;
    bool held = false;    // gate low stopped counting
    uint64_t held_d = 0;  // ticks counted when the gate fell

    bool write_msb_next = false;
    uint8_t lsb_written = 0;
    bool read_msb_next = false;
    bool count_latched = false;
    uint16_t latch = 0;
    bool status_latched = false;
    uint8_t status = 0;

    unsigned mode() const { return mode_bits > 5 ? mode_bits - 4u : mode_bits; }
    uint32_t modulus() const { return bcd ? 10000 : 65536; }
    bool gated_mode() const { return mode() == 1 || mode() == 5; }
    void sync(uint64_t t);                // apply a pending reload due by tick t
    bool started(uint64_t t) const;       // the element holds n and counts
    uint64_t elapsed(uint64_t t) const;   // clocks counted since the load (started only)
    uint32_t count_at(uint64_t t) const;  // binary value of the element
    bool out_at(uint64_t t) const;
    uint64_t next_rise(uint64_t t) const;  // first tick > t at which OUT goes high, or NO_TICK
    uint16_t encode(uint32_t value) const;
  };

  uint64_t now_tick() const { return tick_at(clock_.now_ns()); }
  uint8_t read_counter(Channel& ch);
  void write_counter(Channel& ch, uint8_t value);
  void write_control(uint8_t value);
  void load_count(Channel& ch, uint32_t written);
  void latch_count(Channel& ch, uint64_t t);
  void latch_status(Channel& ch, uint64_t t);
  // Run `change` on channel `index`, then pulse IRQ0 if channel 0's OUT rose and re-arm its
  // timer.
  template <typename F>
  void change_channel(unsigned index, F&& change);
  void arm_irq_timer();
  void on_timer(uint64_t now_ns);

  VirtualClock& clock_;
  IrqLine irq0_;
  VirtualClock::TimerId timer_;
  Channel channels_[NUM_CHANNELS];
};

}  // namespace softcpu
