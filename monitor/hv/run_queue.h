// The secondary hypervisor's vCPU control blocks and its per-priority lists: for each
// priority level a ready list and a run list (intrusive, doubly linked), and a bitmap of the
// levels with a ready vCPU, so the highest ready vCPU is found in a few word scans. Every
// insertion or removal counts as a list touch (RunQueue::touches).
#pragma once
#include <array>
#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

#include "interp/cpu.h"

namespace softcpu::hv {

enum class VcpuState : uint8_t { READY, RUNNING, BLOCKED, EXITED };

// A vCPU of a thin guest: its registers while it is not on the CPU. The vCPUs of a partition
// share the rest of the CPU (segments, control registers, descriptor tables): thin guests
// run flat with paging off, and a task cannot change those for the others.
struct VcpuContext {
  uint32_t regs[8] = {};
  uint32_t eip = 0;
  uint32_t eflags = 2;
  FpuState fpu{};
};

struct VcpuBlock {
  unsigned id = 0;         // 1.. within its partition
  unsigned prio = 0;       // Prio: its own priority
  unsigned tprio = 0;      // Tprio: >= prio while it holds a lock word someone waits on
  VcpuState state = VcpuState::READY;
  VcpuContext ctx;
  // Lists (RunQueue): the level it is queued at, and which list.
  VcpuBlock* prev = nullptr;
  VcpuBlock* next = nullptr;
  int level = -1;          // -1: on no list
  bool on_run = false;
  // Blocked in HC_WAIT / HC_LOCK_WAIT.
  uint64_t wait_key = 0;   // machine byte address of the word
  bool lock_wait = false;
  uint64_t deadline = 0;   // host ns; 0: none
  uint64_t wait_seq = 0;   // FIFO among waiters of one priority
  uint64_t ran_ns = 0;     // of its round-robin slice, used before it was last preempted
  int woken_on = -1;       // HC_WAKE by a vCPU of its partition on this processor, not yet run
  // Priorities inherited: (lock word key, waiter's priority), dropped when it wakes that word.
  std::vector<std::pair<uint64_t, unsigned>> boosts;
};

class RunQueue {
 public:
  static constexpr unsigned LEVELS = 256;

  void push_ready(VcpuBlock* v, unsigned level, bool front) {
    link(ready_[level], v, front);
    v->level = int(level);
    v->on_run = false;
    bits_[level / 64] |= 1ull << (level % 64);
  }
  void push_run(VcpuBlock* v, unsigned level) {
    link(run_[level], v, false);
    v->level = int(level);
    v->on_run = true;
  }
  void remove(VcpuBlock* v) {
    if (v->level < 0) return;
    List& l = v->on_run ? run_[v->level] : ready_[v->level];
    ++touches;
    if (v->prev) v->prev->next = v->next; else l.head = v->next;
    if (v->next) v->next->prev = v->prev; else l.tail = v->prev;
    if (!v->on_run && !ready_[v->level].head) bits_[v->level / 64] &= ~(1ull << (v->level % 64));
    v->prev = v->next = nullptr;
    v->level = -1;
  }
  // The highest level with a ready vCPU, or -1.
  int highest_ready() const {
    for (int w = 3; w >= 0; --w)
      if (bits_[w]) return w * 64 + 63 - std::countl_zero(bits_[w]);
    return -1;
  }
  VcpuBlock* first_ready(unsigned level) const { return ready_[level].head; }

  uint64_t touches = 0;

 private:
  struct List {
    VcpuBlock* head = nullptr;
    VcpuBlock* tail = nullptr;
  };
  void link(List& l, VcpuBlock* v, bool front) {
    ++touches;
    if (front) {
      v->prev = nullptr;
      v->next = l.head;
      if (l.head) l.head->prev = v; else l.tail = v;
      l.head = v;
    } else {
      v->next = nullptr;
      v->prev = l.tail;
      if (l.tail) l.tail->next = v; else l.head = v;
      l.tail = v;
    }
  }
  std::array<List, LEVELS> ready_{}, run_{};
  std::array<uint64_t, LEVELS / 64> bits_{};
};

}  // namespace softcpu::hv
