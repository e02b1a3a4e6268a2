#include "vdevices/port61.h"

#include "hostio/state_stream.h"

#include "vdevices/port_mask.h"

namespace softcpu {

Port61::Port61(Pit8254& pit, VirtualClock& clock) : pit_(pit), clock_(clock) { reset(); }

void Port61::reset() {
  value_ = 0;
  pit_.set_gate(2, false);
}

uint32_t Port61::io_read(uint16_t, unsigned size) {
  uint8_t v = value_;
  if ((clock_.now_ns() / REFRESH_TOGGLE_NS) & 1) v |= REFRESH;
  if (pit_.out(2)) v |= OUT2;
  return (port_size_mask(size) & ~0xFFu) | v;
}

void Port61::io_write(uint16_t, unsigned, uint32_t value) {
  value_ = uint8_t(value & 0x0F);
  pit_.set_gate(2, (value_ & GATE2) != 0);
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void Port61::visit_state(A& a) {
  a(value_);
}

void Port61::save_state(StateWriter& w) const { const_cast<Port61*>(this)->visit_state(w); }

void Port61::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
