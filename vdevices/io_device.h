// What a device looks like to the machine: port handlers, reset. Devices see only
// read/write(port, size) and never the CPU's internals.
#pragma once
#include <cstdint>

namespace softcpu {

class IoDevice {
 public:
  virtual ~IoDevice() = default;
  virtual const char* name() const = 0;
  // size is 1, 2 or 4 bytes.
  virtual uint32_t io_read(uint16_t port, unsigned size) = 0;
  virtual void io_write(uint16_t port, unsigned size, uint32_t value) = 0;
  virtual void reset() {}
};

}  // namespace softcpu
