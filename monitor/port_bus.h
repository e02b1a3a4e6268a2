// The I/O port space: a 64K-entry table of device handlers. Ports nobody claims go to the
// unassigned device (reads all ones), so the guest can never crash the process through I/O.
#pragma once
#include <array>
#include <cstdint>

#include "interp/trap.h"
#include "vdevices/io_device.h"

namespace softcpu {

class PortBus : public IoBus {
 public:
  explicit PortBus(IoDevice* unassigned);
  // Claim ports [first, first + count) for `dev` (later claims override earlier ones).
  void attach(IoDevice* dev, uint16_t first, unsigned count);
  // Give ports [first, first + count) back to the unassigned device (a PCI BAR moved away).
  void detach(uint16_t first, unsigned count) { attach(unassigned_, first, count); }
  IoDevice* device_at(uint16_t port) const { return table_[port]; }

  uint32_t in(uint16_t port, unsigned size) override;
  void out(uint16_t port, unsigned size, uint32_t value) override;

  uint64_t reads = 0, writes = 0;

 private:
  std::array<IoDevice*, 65536> table_;
  IoDevice* unassigned_;
};

}  // namespace softcpu
