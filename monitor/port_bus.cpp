#include "monitor/port_bus.h"

namespace softcpu {

PortBus::PortBus(IoDevice* unassigned) : unassigned_(unassigned) { table_.fill(unassigned); }

void PortBus::attach(IoDevice* dev, uint16_t first, unsigned count) {
  for (unsigned k = 0; k < count; ++k) table_[uint16_t(first + k)] = dev;
}

uint32_t PortBus::in(uint16_t port, unsigned size) {
  ++reads;
  return table_[port]->io_read(port, size);
}

void PortBus::out(uint16_t port, unsigned size, uint32_t value) {
  ++writes;
  table_[port]->io_write(port, size, value);
}

}  // namespace softcpu
