#include "vdevices/unassigned.h"

#include "vdevices/port_mask.h"

namespace softcpu {

uint32_t UnassignedPorts::io_read(uint16_t port, unsigned size) {
  ++counts_[port].reads;
  ++total_reads_;
  return port_size_mask(size);
}

void UnassignedPorts::io_write(uint16_t port, unsigned size, uint32_t value) {
  (void)size;
  (void)value;
  ++counts_[port].writes;
  ++total_writes_;
}

void UnassignedPorts::clear_counts() {
  counts_.clear();
  total_reads_ = 0;
  total_writes_ = 0;
}

}  // namespace softcpu
