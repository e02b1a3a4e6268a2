// Debug console like QEMU's isa-debugcon: each byte written to the port goes to a CharBackend;
// reads return 0xE9 (QEMU's readback value). The device is one byte wide: a wider write sends
// its low byte, and in a wider read the bytes above the port read 0xFF as unclaimed ports do.
#pragma once
#include <cstdint>

#include "hostio/char_backend.h"
#include "vdevices/io_device.h"

namespace softcpu {

class Debugcon final : public IoDevice {
 public:
  static constexpr uint16_t DEFAULT_PORT = 0xE9;
  static constexpr uint8_t READBACK = 0xE9;

  // The backend must outlive the device.
  Debugcon(uint16_t port, CharBackend& backend) : port_(port), backend_(backend) {}

  const char* name() const override { return "debugcon"; }
  uint16_t port() const { return port_; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  uint16_t port_;
  CharBackend& backend_;
  uint64_t bytes_written_ = 0;
};

}  // namespace softcpu
