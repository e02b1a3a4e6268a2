// System configurations shared by the hypervisor tests and tools that do not use GoogleTest
// (tests/hv/linux/two_linux.cpp): plain structs of monitor/hv/system_config.h.
#pragma once
#include <string>

#include "monitor/hv/system_config.h"

namespace softcpu::hv::test {

// A secondary hypervisor "rt" with the priority scheduler on processor set `set`, priorities
// 1-200 (the set itself is the caller's to add).
inline HypervisorConfig secondary_rt(const std::string& set) {
  HypervisorConfig rt;
  rt.name = "rt";
  rt.kind = HypervisorKind::SECONDARY;
  rt.processor_set = set;
  rt.scheduler = SchedulerKind::PRIORITY;
  rt.priority_range = {1, 200};
  return rt;
}

// [partition.secondary] for vCPU `vcpu` at `priority` (docs/config.md).
inline SplitConfig split_vcpu(unsigned vcpu, unsigned priority) {
  SplitConfig split;
  split.vcpus = {vcpu};
  split.priority = priority;
  return split;
}

}  // namespace softcpu::hv::test
