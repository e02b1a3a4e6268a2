// The interrupt controller as the CPU sees it during an INTA cycle (SDM vol.3 6.3): the one
// interface of interp/ that devices implement (the 8259 pair, the local APIC). Knows no Cpu,
// so a device that includes it does not see the CPU's state (docs/design.md "Parts and
// dependencies"; the build checks it: tools/check_layering.py).
#pragma once

namespace softcpu {

// The interrupt controller the CPU acknowledges INTR with (the 8259 pair, or the local APIC
// once enabled). acknowledge() returns the vector to deliver, or -1 if the request went away
// (the CPU then delivers nothing; a PIC answers with its spurious vector itself).
class InterruptAcknowledge {
 public:
  virtual ~InterruptAcknowledge() = default;
  virtual int acknowledge() = 0;
};

}  // namespace softcpu
