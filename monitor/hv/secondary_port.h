// What the primary hypervisor hands the secondary hypervisor (issue 14): read-only stage-2
// views of every partition and requests to start or stop one, which the primary carries out.
// Nothing here can program a stage-2 table (tests/hv/secondary_port_test.cpp).
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "monitor/hv/stage2.h"

namespace softcpu {
class Machine;
}

namespace softcpu::hv {

class SecondaryPort {
 public:
  struct Hooks {
    std::function<const Stage2Table*(const std::string&)> table;  // nullptr: no such partition
    std::function<bool(const std::string&)> request_start;
    std::function<bool(const std::string&)> request_stop;
    // The machine of a partition the secondary schedules (its CPU thread runs there), or of a
    // partition of the primary that shares a [[shared]] region with one of the secondary's
    // (whose wakes it serves: secondary_waker.h); nullptr for any other partition.
    std::function<Machine*(const std::string&)> machine;
    // Dynamic memory by request (HC_MEM_LEND / HC_MEM_RETURN): the primary's lend (lend =
    // true) or take_back of `bytes` from partition `from` to `to`; "" when done, else why not.
    std::function<std::string(const std::string& from, const std::string& to, uint64_t bytes,
                              bool lend)> move_memory;
    const uint8_t* machine_base = nullptr;  // machine memory, read through a Stage2View only
    uint64_t machine_bytes = 0;
  };
  explicit SecondaryPort(Hooks hooks) : hooks_(std::move(hooks)) {}

  // A partition's stage-2 table, read-only; nullopt when there is no such partition.
  std::optional<Stage2View> stage2(const std::string& partition) const {
    const Stage2Table* t = hooks_.table(partition);
    if (!t) return std::nullopt;
    return Stage2View(*t);
  }
  bool request_start(const std::string& partition) const { return hooks_.request_start(partition); }
  bool request_stop(const std::string& partition) const { return hooks_.request_stop(partition); }
  std::string move_memory(const std::string& from, const std::string& to, uint64_t bytes,
                          bool lend) const {
    if (!hooks_.move_memory) return "the primary does not lend memory";
    return hooks_.move_memory(from, to, bytes, lend);
  }
  Machine* machine(const std::string& partition) const {
    return hooks_.machine ? hooks_.machine(partition) : nullptr;
  }
  // The bytes at a machine address a Stage2View translated (read-only).
  const uint8_t* machine_bytes(uint64_t machine_address, uint64_t len) const {
    if (machine_address + len > hooks_.machine_bytes || machine_address + len < len) return nullptr;
    return hooks_.machine_base + machine_address;
  }

 private:
  Hooks hooks_;
};

}  // namespace softcpu::hv
