// Helpers shared by the device models.
#pragma once
#include <cstdint>

namespace softcpu {

// All-ones value of an I/O access of `size` bytes (1, 2 or 4).
constexpr uint32_t port_size_mask(unsigned size) {
  return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
}

}  // namespace softcpu
