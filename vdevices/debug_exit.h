// Exit device like QEMU's isa-debug-exit: a write of value v (of the access size) to one of its
// ports requests process exit with status (v << 1) | 1, through a callback (the monitor stops
// the CPU and exits). Reads return all ones masked to the access size.
#pragma once
#include <cstdint>
#include <functional>

#include "vdevices/io_device.h"

namespace softcpu {

class DebugExit final : public IoDevice {
 public:
  static constexpr uint16_t DEFAULT_PORT = 0xF4;

  // Claims ports [port, port + iosize), iosize 1..4 (clamped). on_exit is called on the CPU
  // thread with the requested status, once per write.
  DebugExit(uint16_t port, unsigned iosize, std::function<void(int status)> on_exit);
  // The PC default: port 0xF4, four ports wide.
  explicit DebugExit(std::function<void(int status)> on_exit)
      : DebugExit(DEFAULT_PORT, 4, std::move(on_exit)) {}

  const char* name() const override { return "debug-exit"; }
  uint16_t port() const { return port_; }
  unsigned iosize() const { return iosize_; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;

  // The status a write of `value` requests (an int, as QEMU passes it to exit()).
  static int status_for(uint32_t value) { return static_cast<int>((value << 1) | 1u); }

 private:
  uint16_t port_;
  unsigned iosize_;
  std::function<void(int)> on_exit_;
};

}  // namespace softcpu
