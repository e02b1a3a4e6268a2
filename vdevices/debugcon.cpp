#include "vdevices/debugcon.h"

#include "vdevices/port_mask.h"

namespace softcpu {

uint32_t Debugcon::io_read(uint16_t port, unsigned size) {
  (void)port;
  return (port_size_mask(size) & ~0xFFu) | READBACK;
}

void Debugcon::io_write(uint16_t port, unsigned size, uint32_t value) {
  (void)port;
  (void)size;
  uint8_t byte = static_cast<uint8_t>(value);
  backend_.write(&byte, 1);
  ++bytes_written_;
}

}  // namespace softcpu
