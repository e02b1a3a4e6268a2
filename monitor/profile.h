// --profile: a sampling hot-code profile of the translation cache. A sampler thread wakes every
// millisecond of host wall time and asks the CPU thread for a sample the way an interrupt pin
// does: it counts the period and sets Cpu::events, so either tier stops at the next block boundary
// (compiled code leaves with NATIVE_EXIT_EVENT) and the interpreter hands the sampler the
// CS:EIP about to run (Interpreter::set_sampler). Nothing is added to the fast path. At exit
// the samples are joined with the cache's blocks (join_profile) and written as a table.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/block_cache.h"
#include "interp/cpu.h"

namespace softcpu {

class SymbolTable;

// Samples by translation key (physical address, mode), with the linear address seen.
class Sampler {
 public:
  static constexpr std::chrono::microseconds kPeriod{1000};

  explicit Sampler(Cpu& cpu);  // starts the thread
  ~Sampler();                  // stops it
  void stop();

  std::atomic<uint32_t>* pending() { return &pending_; }
  // CPU thread. Interpreter hook: the periods elapsed since the last sample are samples at
  // CS:EIP (more than one when the CPU thread was long away from a block boundary: a
  // synchronous compile, a long REP chunk), so shares stay proportional to time.
  static void hook(void* self, Cpu& c) { static_cast<Sampler*>(self)->record(c); }
  void record(Cpu& c);
  // Between runs (the monitor): a request the boundary did not see is taken here, as a
  // sample at CS:EIP or, when the CPU is halted, as an idle one.
  void poll(Cpu& c, bool halted);

  struct Site {
    uint32_t lin = 0;
    uint64_t count = 0;
  };
  const std::unordered_map<uint64_t, Site>& sites() const { return sites_; }
  uint64_t total() const { return total_; }        // all samples
  uint64_t halted() const { return halted_; }      // taken while the CPU was halted
  uint64_t unmapped() const { return unmapped_; }  // CS:EIP not fetchable (a #PF follows)

 private:
  void run();

  Cpu& cpu_;
  std::atomic<uint32_t> pending_{0};  // periods elapsed, not yet taken
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::unordered_map<uint64_t, Site> sites_;
  uint64_t total_ = 0, halted_ = 0, unmapped_ = 0;
};

// One translation key in the profile.
struct ProfileRow {
  uint32_t lin = 0, phys = 0, mode = 0;
  uint32_t bytes = 0, insns = 0;  // 0 when no translation is live at exit
  uint64_t executions = 0;        // run-loop entries, all translations of the key (kHowMeasured)
  uint64_t native_entries = 0;    // ... of them into compiled code
  bool live = false;              // a translation of the key is in the cache at exit
  bool compiled = false;          // ... and compiled code is entered at it
  int64_t translated = -1, evicted = -1, invalidated = -1;  // -1: no history
  uint64_t samples = 0;
};

// The join: every live block and every sampled key, one row each.
std::vector<ProfileRow> join_profile(const BlockCache& cache, const Sampler& sampler);

struct ProfileHeader {
  std::string guest;   // what ran (for the header line)
  bool jit = false;
  double wall_seconds = 0;
  uint64_t instructions = 0;
};

// The top `top` rows by executions and by samples, as a text table or (json) one JSON object.
void write_profile(FILE* out, bool json, const ProfileHeader& h, std::vector<ProfileRow> rows,
                   const Sampler& sampler, unsigned top, const SymbolTable* symbols);

}  // namespace softcpu
