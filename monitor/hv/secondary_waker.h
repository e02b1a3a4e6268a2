// The wake hypercalls of a partition of the primary that shares a [[shared]] region with a thin
// partition of the secondary (docs/design.md "A waker in a partition of the primary"). Internal
// to the secondary (secondary.cpp, secondary_waker.cpp).
#pragma once
#include <string>

#include "monitor/hv/secondary.h"
#include "monitor/hypercall.h"
#include "monitor/machine.h"

namespace softcpu::hv {

// Its guest has no vCPU of ours: it may wake (HC_WAKE) and read the time (HC_TIME_NS), and every
// other hypercall returns -ENOSYS (a wait would block one of the primary's threads). It runs on
// the thread of the CPU that made the call, under the secondary's mutex.
class SecondaryHypervisor::Waker final : public HypercallHandler {
 public:
  Waker(SecondaryHypervisor& hv, std::string name, Machine& m, Stage2View view, unsigned cpus)
      : name(std::move(name)), machine(m), cpus(cpus), hv_(hv), view_(view) {}
  void hypercall(Cpu& c) override;
  void poll(Cpu&) override {}

  const std::string name;
  Machine& machine;
  const unsigned cpus;  // the CPUs it serves: 0..cpus-1
  ThinStats st_;        // under hv_.mu_: hypercalls and bad_hypercalls

 private:
  SecondaryHypervisor& hv_;
  const Stage2View view_;
};

}  // namespace softcpu::hv
