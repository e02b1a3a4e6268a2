// Port 0x92, "system control port A" (PS/2 technical reference; PIIX "Port 92h"): bit 1 is the
// fast A20 gate, writing bit 0 = 1 pulses the CPU reset (fast init). Reads return bit 1; the
// other bits (watchdog, security lock, activity lights) do not exist here and read 0.
#pragma once
#include <cstdint>
#include <functional>

#include "vdevices/io_device.h"

namespace softcpu {

class StateReader;
class StateWriter;

class SystemControlA final : public IoDevice {
 public:
  static constexpr uint16_t PORT = 0x92;
  enum : uint8_t { FAST_RESET = 0x01, FAST_A20 = 0x02 };

  // a20(level) is called when bit 1 changes (the machine ORs it with the 8042's A20 output);
  // system_reset() when the guest writes bit 0 = 1.
  explicit SystemControlA(std::function<void(bool)> a20 = {},
                          std::function<void()> system_reset = {});

  const char* name() const override { return "system_control_a"; }
  // One byte register; wider accesses see it in the low byte, 0xFF above.
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // Power-on: A20 bit 0 (the 8042 keeps A20 on). Calls no callback.
  void reset() override { value_ = 0; }

  void set_a20_callback(std::function<void(bool)> f) { a20_ = std::move(f); }
  void set_reset_callback(std::function<void()> f) { reset_ = std::move(f); }
  bool a20_enabled() const { return (value_ & FAST_A20) != 0; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  std::function<void(bool)> a20_;
  std::function<void()> reset_;
  uint8_t value_ = 0;
};

}  // namespace softcpu
