// A waker in a partition of the primary (secondary_waker.h; docs/hypercalls.md "Wakers in
// partitions of the primary").
#include "monitor/hv/secondary_waker.h"

#include "guests/include/softcpu/hypercall.h"

namespace softcpu::hv {

void SecondaryHypervisor::Waker::hypercall(Cpu& c) {
  c.eip += c.trap_insn->len;
  std::lock_guard lock(hv_.mu_);
  ++st_.hypercalls;
  auto fail = [&](int err) {
    ++st_.bad_hypercalls;
    c.regs[EAX] = uint32_t(-err);
  };
  switch (c.regs[EAX]) {
    case HC_WAKE: {
      uint64_t key;
      int err = 0;
      if (!hv_.word_at(view_, c.regs[EBX], &key, &err)) return fail(err);
      c.regs[EAX] = uint32_t(hv_.wake_waiters_locked(key, c.regs[ECX], nullptr, 0));
      return;
    }
    case HC_TIME_NS: {
      const uint64_t t = hv_.now_ns();
      c.regs[EAX] = uint32_t(t);
      c.regs[EDX] = uint32_t(t >> 32);
      return;
    }
    default: return fail(SC_ENOSYS);
  }
}

}  // namespace softcpu::hv
