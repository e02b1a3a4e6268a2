// SMP vCPUs on parallel host threads (docs/design.md "SMP vCPUs on host threads"): what the
// CPU side needs from the monitor that runs several CPUs at once. With one host thread (one
// CPU, or -smp N round-robin) none of this is set up and Cpu::smp is null.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>

namespace softcpu {

struct Cpu;
struct Insn;

// The big lock (QEMU's BQL): device models are single-threaded, so port I/O, MMIO into
// devices, interrupt acknowledge and the monitor's device servicing run holding it. A plain
// mutex; it remembers its owner so debug builds can assert the thread contract cheaply.
class BigLock {
 public:
  void lock() {
    mu_.lock();
    owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  }
  void unlock() {
    owner_.store(std::thread::id(), std::memory_order_relaxed);
    mu_.unlock();
  }
  bool held_by_me() const {
    return owner_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

 private:
  std::mutex mu_;
  std::atomic<std::thread::id> owner_{};
};

// Per CPU: the monitor's side of the parallel run (monitor/vcpu_threads.cpp implements it).
class SmpHooks {
 public:
  virtual ~SmpHooks() = default;
  // QEMU's start_exclusive/end_exclusive: every other vCPU has left guest code (and waits
  // at its next entry) until end_exclusive. Called on this CPU's thread, inside its run, never
  // holding the big lock.
  virtual void start_exclusive() = 0;
  virtual void end_exclusive() = 0;
  // This CPU wrote [phys, phys + len) on a page where some CPU has decoded code: the other
  // CPUs whose blocks hold those bytes drop them (asynchronously, at their next block boundary).
  virtual void code_written(uint32_t phys, uint32_t len) = 0;
  // Physical page `page` starts holding this CPU's decoded code: the other CPUs drop their
  // write TLB entries for it (asynchronously, at their next block boundary).
  virtual void code_page_added(uint32_t page) = 0;

  unsigned index = 0;                // the CPU's index (APIC ID)
  alignas(4096) uint8_t scratch[4096];  // locked instructions run against it (interp/ops_atomic.cpp)
};

// Threads on: a LOCK-prefixed read-modify-write, XCHG with memory, CMPXCHG8B become the
// wrapper in ops_atomic.cpp, which makes them atomic on the host. `bytes` are the instruction's
// bytes (prefixes and opcode), `insn` as decoded; false if the instruction is not one of them.
bool make_atomic(Insn& insn, const uint8_t* bytes, unsigned len);

}  // namespace softcpu
