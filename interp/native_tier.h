// Tier 1 as the interpreter sees it: translator/ implements this, the interpreter calls it.
// interp/ knows nothing of LLVM; the translator compiles regions of hot blocks and installs
// their code in DecodedBlock::native, which the run loop enters (interp/interpreter.cpp).
#pragma once
#include <cstdint>

namespace softcpu {

struct DecodedBlock;

class NativeTier {
 public:
  // The block execution counts at which the interpreter calls the tier, each once per block
  // (a count set back to 0 reaches them again); 0 = never. Compiled code is entered only in
  // blocks run at least the smaller of the two (non-zero) counts.
  struct Thresholds {
    uint64_t warm = 0;  // warm(): install code made before (the persistent cache), if any
    uint64_t hot = 0;   // hot(): make code
  };

  virtual ~NativeTier() = default;
  // The interpreter has entered `b` `thresholds().warm` times (CPU thread; CS:EIP is b's start).
  virtual void warm(DecodedBlock&) {}
  // ... `thresholds().hot` times.
  virtual void hot(DecodedBlock& b) = 0;
  // Top of the run loop, no block executing (CPU thread): install finished compiles.
  virtual void poll() = 0;
  // Read once, when the tier is set (Interpreter::set_native_tier).
  virtual Thresholds thresholds() const = 0;
};

}  // namespace softcpu
