// The device behind every port nobody claims: reads return all ones (masked to the access
// size, as a floating ISA bus reads), writes are ignored. Accesses are counted per port so
// --stats can report them.
#pragma once
#include <cstdint>
#include <map>

#include "vdevices/io_device.h"

namespace softcpu {

class UnassignedPorts final : public IoDevice {
 public:
  struct Count {
    uint64_t reads = 0;
    uint64_t writes = 0;
  };

  const char* name() const override { return "unassigned"; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // Counts survive reset(): they describe the whole run.

  // Per port, in port order; only ports that were accessed appear.
  const std::map<uint16_t, Count>& accesses() const { return counts_; }
  uint64_t total_reads() const { return total_reads_; }
  uint64_t total_writes() const { return total_writes_; }
  uint64_t total() const { return total_reads_ + total_writes_; }
  void clear_counts();

 private:
  std::map<uint16_t, Count> counts_;
  uint64_t total_reads_ = 0;
  uint64_t total_writes_ = 0;
};

}  // namespace softcpu
