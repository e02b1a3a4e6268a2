#pragma once
// The sequentially consistent fence of the store-buffering handshake around Cpu::events: a kick
// sets its flag, fences, sets events; the CPU thread clears events, fences, looks at the flag
// (Interpreter::set_attention, Machine::kick). GCC refuses std::atomic_thread_fence under
// -fsanitize=thread (ThreadSanitizer does not model fences); there the same hardware fence is
// issued directly (MFENCE, what the seq_cst fence compiles to on our x86-64 hosts). Both sides
// fence only relaxed atomic accesses, so ThreadSanitizer has no race to see with or without it.
// Its own header so that only the two files that fence include it.
#include <atomic>

namespace softcpu {

inline void events_fence() {
#if defined(__SANITIZE_THREAD__)
  __builtin_ia32_mfence();
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace softcpu
