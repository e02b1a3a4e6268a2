// A decoded block: the Insn records of straight-line guest code, cached by physical address.
#pragma once
#include <vector>

#include "cache/block_cache.h"
#include "interp/insn.h"

namespace softcpu {

struct DecodedBlock : CachedBlock {
  std::vector<Insn> insns;
  uint32_t bytes = 0;       // length of the block's code (EIP after it = entry EIP + bytes)
  uint64_t executions = 0;  // heat, for the JIT tier later
  // Successor links (taken / fall-through), keyed by the successor's linear EIP and valid in
  // cache generation `chain_generation` only.
  uint64_t chain_generation = 0;
  uint32_t chain_lin[2] = {};
  DecodedBlock* chain[2] = {};
};

// Longest block we decode; also bounds the work between checks of the run loop.
constexpr unsigned MAX_BLOCK_INSNS = 64;

}  // namespace softcpu
