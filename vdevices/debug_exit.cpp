#include "vdevices/debug_exit.h"

#include "vdevices/port_mask.h"

namespace softcpu {

DebugExit::DebugExit(uint16_t port, unsigned iosize, std::function<void(int status)> on_exit)
    : port_(port),
      iosize_(iosize < 1 ? 1 : iosize > 4 ? 4 : iosize),
      on_exit_(std::move(on_exit)) {}

uint32_t DebugExit::io_read(uint16_t port, unsigned size) {
  (void)port;
  return port_size_mask(size);
}

void DebugExit::io_write(uint16_t port, unsigned size, uint32_t value) {
  (void)port;
  uint32_t v = value & port_size_mask(size);
  if (on_exit_) on_exit_(status_for(v));
}

}  // namespace softcpu
