// Port 0x61, the AT "system control port B" (IBM PC AT technical reference; PIIX "NMI Status
// and Control Register"): bit 0 drives the 8254 channel 2 gate, bit 1 the speaker data enable,
// bits 2-3 the parity/channel check enables (stored only); reads add bit 4, the refresh
// request toggle (every 15.085 us, from the guest clock), and bit 5, channel 2's OUT.
// Bits 6-7 (parity/channel check status) read 0: those errors never happen here.
#pragma once
#include <cstdint>

#include "vdevices/io_device.h"
#include "vdevices/pit8254.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {

class StateReader;
class StateWriter;

class Port61 final : public IoDevice {
 public:
  static constexpr uint16_t PORT = 0x61;
  static constexpr uint64_t REFRESH_TOGGLE_NS = 15085;
  enum : uint8_t { GATE2 = 0x01, SPEAKER_DATA = 0x02, REFRESH = 0x10, OUT2 = 0x20 };

  // The PIT and clock must outlive the device.
  Port61(Pit8254& pit, VirtualClock& clock);

  const char* name() const override { return "port61"; }
  // One byte register; wider accesses see it in the low byte, 0xFF above.
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // All writable bits 0: channel 2 gate low, speaker off.
  void reset() override;

  // The speaker sounds when both its data enable and the gate are on (no audio output here).
  bool speaker_enabled() const {
    return (value_ & (GATE2 | SPEAKER_DATA)) == (GATE2 | SPEAKER_DATA);
  }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  Pit8254& pit_;
  VirtualClock& clock_;
  uint8_t value_ = 0;  // bits 0-3 as written
};

}  // namespace softcpu
