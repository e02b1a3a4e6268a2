// Loads and stores of guest RAM bytes by the emulator. Guest RAM is shared by vCPU threads as
// memory is by processors (interp/smp.h): a race between two guest CPUs is the guest's. In
// ThreadSanitizer builds every such access is therefore a relaxed atomic (which is what a
// plain aligned x86 access is), so the tool reports only the emulator's own races; in other
// builds these are the plain accesses they always were.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace softcpu {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kRamAtomic = true;
#else
inline constexpr bool kRamAtomic = false;
#endif

template <typename T>
inline T ram_load(const void* p) {
  T v;
  if constexpr (kRamAtomic) {
    if (reinterpret_cast<uintptr_t>(p) % sizeof(T) == 0)
      return __atomic_load_n(static_cast<const T*>(p), __ATOMIC_RELAXED);
    auto* b = reinterpret_cast<uint8_t*>(&v);
    for (unsigned k = 0; k < sizeof(T); ++k)
      b[k] = __atomic_load_n(static_cast<const uint8_t*>(p) + k, __ATOMIC_RELAXED);
    return v;
  }
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <typename T>
inline void ram_store(void* p, T v) {
  if constexpr (kRamAtomic) {
    if (reinterpret_cast<uintptr_t>(p) % sizeof(T) == 0)
      return __atomic_store_n(static_cast<T*>(p), v, __ATOMIC_RELAXED);
    auto* b = reinterpret_cast<const uint8_t*>(&v);
    for (unsigned k = 0; k < sizeof(T); ++k)
      __atomic_store_n(static_cast<uint8_t*>(p) + k, b[k], __ATOMIC_RELAXED);
    return;
  }
  std::memcpy(p, &v, sizeof(T));
}

// `size` bytes (1, 2 or 4), little endian.
inline uint32_t ram_load_n(const void* p, unsigned size) {
  return size == 1 ? ram_load<uint8_t>(p) : size == 2 ? ram_load<uint16_t>(p) : ram_load<uint32_t>(p);
}
inline void ram_store_n(void* p, unsigned size, uint32_t v) {
  if (size == 1) ram_store<uint8_t>(p, uint8_t(v));
  else if (size == 2) ram_store<uint16_t>(p, uint16_t(v));
  else ram_store<uint32_t>(p, v);
}

// Bulk copies and fills of guest RAM: REP MOVS/STOSB's fast path (interp/sem/string.h) and
// PhysicalMemory's byte copies (a page at a time). The copy runs forward (REP MOVS leaves a
// destination overlapping above the source to its slow path, so this is memmove's result). Byte-wise relaxed atomics in ThreadSanitizer builds (another vCPU
// may read the bytes meanwhile: hv.linux_smp2_bringup saw Linux do it), memmove/memset else.
inline void ram_copy_forward(void* dst, const void* src, size_t n) {
  if constexpr (kRamAtomic) {
    for (size_t k = 0; k < n; ++k)
      ram_store<uint8_t>(static_cast<uint8_t*>(dst) + k,
                         ram_load<uint8_t>(static_cast<const uint8_t*>(src) + k));
    return;
  }
  std::memmove(dst, src, n);
}
inline void ram_fill(void* dst, uint8_t v, size_t n) {
  if constexpr (kRamAtomic) {
    for (size_t k = 0; k < n; ++k) ram_store<uint8_t>(static_cast<uint8_t*>(dst) + k, v);
    return;
  }
  std::memset(dst, v, n);
}

}  // namespace softcpu
