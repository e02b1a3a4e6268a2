// An IrqSink for device tests: each line's level and its rising edges.
#pragma once
#include <map>

#include "vdevices/irq.h"

namespace softcpu::test {

struct Lines : IrqSink {
  std::map<unsigned, bool> level;
  std::map<unsigned, unsigned> rises;
  void set_irq(unsigned line, bool l) override {
    if (l && !level[line]) ++rises[line];
    level[line] = l;
  }
};

}  // namespace softcpu::test
