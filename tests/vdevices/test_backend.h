// A CharBackend for device tests: records output, serves queued input.
#pragma once
#include <deque>
#include <vector>

#include "hostio/char_backend.h"

namespace softcpu::test {

class RecordingBackend final : public CharBackend {
 public:
  const char* kind() const override { return "test"; }
  void write(const uint8_t* data, size_t len) override { out.insert(out.end(), data, data + len); }
  bool read_byte(uint8_t& b) override {
    if (in.empty()) return false;
    b = in.front();
    in.pop_front();
    return true;
  }
  bool has_input() override { return !in.empty(); }
  void feed(std::initializer_list<uint8_t> bytes) { in.insert(in.end(), bytes); }

  std::vector<uint8_t> out;
  std::deque<uint8_t> in;
};

}  // namespace softcpu::test
