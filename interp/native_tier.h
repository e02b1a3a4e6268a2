// Tier 1 as the interpreter sees it: translator/ implements this, the interpreter calls it.
// interp/ knows nothing of LLVM; the translator compiles regions of hot blocks and installs
// their code in DecodedBlock::native, which the run loop enters (interp/interpreter.cpp).
#pragma once
#include <cstdint>

namespace softcpu {

struct DecodedBlock;

class NativeTier {
 public:
  virtual ~NativeTier() = default;
  // The interpreter has entered `b` `threshold()` times (CPU thread).
  virtual void hot(DecodedBlock& b) = 0;
  // Top of the run loop, no block executing (CPU thread): install finished compiles.
  virtual void poll() = 0;
  // Executions of a block that make it hot; 0 = never.
  virtual uint64_t threshold() const = 0;
};

}  // namespace softcpu
