#include "vdevices/system_control_a.h"

#include "hostio/state_stream.h"

#include "vdevices/port_mask.h"

namespace softcpu {

SystemControlA::SystemControlA(std::function<void(bool)> a20, std::function<void()> system_reset)
    : a20_(std::move(a20)), reset_(std::move(system_reset)) {}

uint32_t SystemControlA::io_read(uint16_t, unsigned size) {
  return (port_size_mask(size) & ~0xFFu) | value_;
}

void SystemControlA::io_write(uint16_t, unsigned, uint32_t value) {
  const uint8_t old = value_;
  value_ = uint8_t(value & FAST_A20);
  if (((old ^ value_) & FAST_A20) && a20_) a20_(a20_enabled());
  // Last: the machine's reset may reset this device too.
  if ((value & FAST_RESET) && reset_) reset_();
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void SystemControlA::visit_state(A& a) {
  a(value_);
}

void SystemControlA::save_state(StateWriter& w) const { const_cast<SystemControlA*>(this)->visit_state(w); }

void SystemControlA::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
