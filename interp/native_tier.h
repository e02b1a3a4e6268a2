// Tier 1 as the interpreter sees it: translator/ implements this, the interpreter calls it.
// interp/ knows nothing of LLVM; the translator compiles regions of hot blocks and installs
// their code in DecodedBlock::native, which the run loop enters (interp/interpreter.cpp).
// One tier may serve several CPUs that share a block cache (-smp N, round-robin: every CPU's
// interpreter calls it, one at a time, on the machine's one thread), so each call names the
// CPU whose run loop made it. With CPUs on host threads each CPU thread has a tier of its own
// over its own block cache: a tier is never called by two threads at once.
#pragma once
#include <cstdint>

namespace softcpu {

struct Cpu;
struct DecodedBlock;

class NativeTier {
 public:
  // The block execution counts at which the interpreter calls the tier, each once per block
  // (a count set back to 0 reaches them again); 0 = never. Compiled code is entered only in
  // blocks run at least the smallest of the (non-zero) counts.
  struct Thresholds {
    uint64_t warm = 0;   // warm(): install code made before (the persistent cache), if any
    uint64_t early = 0;  // early(): make code if the tier can afford it now
    uint64_t hot = 0;    // hot(): make code
  };

  virtual ~NativeTier() = default;
  // The interpreter of `cpu` has entered `b` `thresholds().warm` times (CPU thread; the
  // CPU's CS:EIP is b's start).
  virtual void warm(Cpu& /*cpu*/, DecodedBlock&) {}
  // ... `thresholds().early` times: the tier makes code now if that costs the guest nothing
  // (a compile thread with a host core of its own), else the block waits for hot().
  virtual void early(Cpu& /*cpu*/, DecodedBlock&) {}
  // ... `thresholds().hot` times.
  virtual void hot(Cpu& cpu, DecodedBlock& b) = 0;
  // Top of the run loop, no block executing (CPU thread): install finished compiles.
  virtual void poll() = 0;
  // Read once, when the tier is set (Interpreter::set_native_tier).
  virtual Thresholds thresholds() const = 0;
};

}  // namespace softcpu
