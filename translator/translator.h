// Tier 1: compiles regions of hot guest code to native code with LLVM ORC, on a background
// thread, and installs it in the decoded blocks the interpreter runs (interp/native_tier.h).
// This header holds no LLVM types: only translator/*.cpp include LLVM.
//
// Threads: the CPU thread calls hot(), poll() and stats(); the compile thread owns the
// LLVMContext, the pass pipeline, the TargetMachine and the JIT. They share only the request
// and completion queues (each under its own mutex) and atomic counters. Decoded blocks, the
// block cache and the Cpus are touched on the CPU thread only: a request carries copies of the
// instructions it compiles, never pointers into the cache. The CPU thread may run several
// CPUs over the one block cache (-smp N, round-robin): compiled code takes the Cpu it runs
// for as its argument, and hot() and warm() read the state of the CPU that calls them. With
// CPUs on host threads (--accel tcg,thread=multi) each CPU thread has its own block cache and
// its own Translator filling it, so this contract holds per CPU thread; translators share
// nothing but the process's perf map (docs/design.md "Tier 1 on CPU threads").
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "interp/native_tier.h"

namespace softcpu {

struct Cpu;
class BlockCache;

struct TranslatorConfig {
  uint64_t threshold = 1000000;    // --jit-threshold: block executions that make it hot
  // A block executed early_threshold times (0 = never; below `threshold`) is compiled then if
  // the compile thread has had a host core to itself: over its recent compiles it got at least
  // early_min_share permille of their wall time as its own CPU time (a quiet host with a core
  // to spare). On a loaded host a compile costs the guest CPU time, and the block waits for
  // `threshold`. Only where hot blocks are candidates (choosing(): not with --jit-sync,
  // --deterministic or --jit-cache), since the decision depends on the host's timing. The
  // monitor sets it to threshold / 10 unless --jit-threshold is given (docs/design.md "An
  // early threshold for a spare core").
  uint64_t early_threshold = 0;
  unsigned early_min_share = 800;
  bool sync = false;               // --jit-sync: compile on the CPU thread when a block is hot
  bool perf_map = false;           // --perf-map: /tmp/perf-PID.map names each region
  std::string dump_dir;            // --jit-dump DIR: each region's IR and assembly
  // --jit-cache DIR (translator/jit_cache.h): compiled regions are kept in DIR and loaded in
  // later runs. A block executed cache_threshold times (--jit-cache-threshold, when below
  // `threshold`) probes the cache for a region entered there and installs it if found; one
  // that misses is compiled when it reaches `threshold`, as without a cache.
  std::string cache_dir;
  uint64_t cache_threshold = 1000;
  // --jit-cache-max SIZE: the bound on the directory's files (0 = none); a write past it
  // removes the files loaded or written longest ago, down to 9/10 of it (JitCache::trim).
  uint64_t cache_max_bytes = 256ull << 20;
  // --jit-cache-finish MS: at the end of a run (finish_writes), the regions requested and not
  // compiled yet are compiled and written, not installed, for at most MS ms (0 = not at all).
  uint64_t cache_finish_ms = 2000;
  unsigned max_region_blocks = 32;
  // Bound on a region's weight (RegionCompiler::blocks_within: IR instructions its handlers
  // bring in). Blocks past it are left out, so no region takes seconds to compile.
  uint64_t max_region_weight = 8000;
  // ... and, for a candidate's region handed over while other candidates wait, this smaller
  // bound, so that one large first compile does not hold the others up for seconds (the blocks
  // left out heat again and may become regions of their own; jit.regions_trimmed_waiting).
  uint64_t max_region_weight_waiting = 2000;
  unsigned max_queue = 64;         // requests beyond this are dropped (counted)
  // A hot block waits on the CPU thread as a candidate (at most max_queue of them) until the
  // compile thread is free, which then gets the region of the candidate whose entry ran the
  // most guest instructions per guest instruction since the last choice (its region made
  // then, from the heat seen then); one whose entry has not run for `cold_insns` guest
  // instructions is dropped and heats again from zero. Not with --jit-sync, --deterministic
  // or --jit-cache, whose requests go to the compile thread in the order they come.
  uint64_t cold_insns = 50000000;
  unsigned max_lookups = 1024;     // ... persistent-cache lookups (served before compiles) beyond this
  unsigned smc_blacklist = 8;      // a page whose regions were invalidated this often is not compiled again
  // Deterministic installation (--deterministic, docs/determinism.md): when set, a region
  // requested at instruction count N is installed by install_due() once *install_clock (the
  // CPU's icount) reaches N + install_delay, the CPU waiting for the compile thread if it is
  // late; poll() installs nothing, and the queue limit counts the requests not installed yet.
  // The compile thread's timing then changes nothing, not even the statistics.
  const uint64_t* install_clock = nullptr;
  uint64_t install_delay = 0;
};

// What --stats reports about tier 1 (a consistent snapshot).
struct TranslatorStats {
  uint64_t requests = 0;            // hot blocks handed over
  uint64_t covered = 0;             // ... already entries of a region compiled or queued
  uint64_t region_entries = 0;      // blocks that enter the regions installed
  uint64_t regions_compiled = 0;
  uint64_t regions_installed = 0;
  uint64_t dropped_stale = 0;       // their code was written while they compiled
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_no_room = 0;     // no room in a bounded cache (or a flush took its entry)
  uint64_t dropped_unsuitable = 0;  // entry not compilable (crosses a page, blacklisted, ...)
  uint64_t dropped_cold = 0;        // candidates whose entry stopped running while they waited
  uint64_t early_requests = 0;      // blocks at early_threshold handed over (the host had a core)
  uint64_t early_passed = 0;        // ... passed by (the compile thread had not): hot later
  uint64_t compile_cpu_share = 0;   // permille: the compile thread's CPU / wall time, recent compiles
  uint64_t regions_trimmed = 0;     // blocks left out to keep the region under max_region_weight
  uint64_t regions_trimmed_waiting = 0;  // ... of them, under max_region_weight_waiting
  uint64_t compile_failures = 0;
  uint64_t compiles_cancelled = 0;  // given up at shutdown (the guest had stopped)
  uint64_t regions_invalidated = 0; // installed regions retired by writes to their code
  uint64_t pages_blacklisted = 0;
  uint64_t native_code_bytes = 0;   // machine code of the regions compiled
  uint64_t region_blocks = 0;       // blocks in the regions compiled
  uint64_t region_insns = 0;        // guest instructions in the regions compiled
  uint64_t inlined_insns = 0;       // ... whose semantics were inlined (the rest are calls)
  uint64_t queue_high_water = 0;
  double compile_us_total = 0;      // compile thread time per region: IR, optimisation, codegen
  double compile_cpu_us_build = 0, compile_cpu_us_inline = 0;  // thread CPU time by phase
  double compile_cpu_us_opt = 0, compile_cpu_us_codegen = 0;
  double compile_us_mean = 0, compile_us_p50 = 0, compile_us_p99 = 0;
  double start_cpu_us = 0;          // thread CPU starting LLVM at the first request (0: none came)
  // From a block getting hot to its region's installation (the regions installed): wall time,
  // and the entry's tier-0 runs meanwhile (runs a compile at once would have run compiled).
  double wait_us_p50 = 0, wait_us_p99 = 0;
  uint64_t entry_runs_waiting = 0;
  // The persistent cache (--jit-cache).
  uint64_t cache_probes = 0;        // lookups: warm blocks, and hot ones before they compile
  uint64_t cache_hits = 0;          // regions loaded from it and linked (installed unless unusable)
  uint64_t cache_misses = 0;        // lookups that found no region (or another one)
  uint64_t cache_bad = 0;           // damaged, truncated, foreign or stale files (removed)
  uint64_t cache_unusable = 0;      // loaded, but its blocks are not (all) in the block cache as they were
  // What each lookup (a probe, or a compile's look for its entry block) came to, one of:
  uint64_t lookup_no_file = 0;         // no file for the block
  uint64_t lookup_key_differs = 0;     // a file, but the region in it is not the one keyed
  uint64_t lookup_blocks_missing = 0;  // the file's region has a block not in the block cache
  uint64_t lookup_blocks_differ = 0;   // ... or one decoded differently there
  uint64_t lookup_installed = 0;       // the file's region installed
  uint64_t cache_hits_other_entry = 0; // of the hits, regions found through another entry's reference file
  uint64_t cache_writes = 0;        // objects written
  uint64_t cache_write_failures = 0;
  uint64_t cache_evicted = 0;       // files removed to keep the directory under its bound
  uint64_t cache_bytes_read = 0, cache_bytes_written = 0;
  double cache_load_us = 0;         // compile-thread CPU reading, checking and linking cached regions
  double cache_key_us = 0;          // ... of it, building regions' IR for their keys
};

// The handler registry as the translator sees it: per family, how many of its handlers
// compiled code can inline, and why the others cannot (the external functions they call).
struct SemanticsReport {
  struct Family {
    std::string name;
    uint32_t handlers = 0, inlinable = 0;
    std::vector<std::string> not_inlinable;  // demangled handler names
  };
  std::vector<Family> families;
  // Bitcode function bodies read: once the semantics are loaded, after one handler (the
  // first family's first) was looked up, after every handler; and how many there are.
  size_t bodies_read_at_start = 0, bodies_read_after_one = 0, bodies_read_after_all = 0,
         bodies = 0;
};
SemanticsReport semantics_report();  // throws std::runtime_error like the Translator

class Translator : public NativeTier {
 public:
  // Touches nothing of LLVM: that starts when the first region is requested, on the thread
  // that compiles it, and if it cannot start (e.g. LLVM cannot target this host) the message
  // "the JIT is off" is printed then and the run goes on in tier 0. Throws std::runtime_error
  // only when the --perf-map file cannot be written.
  Translator(BlockCache& cache, const TranslatorConfig& config);
  ~Translator() override;

  void warm(Cpu& cpu, DecodedBlock& b) override;
  void early(Cpu& cpu, DecodedBlock& b) override;
  void hot(Cpu& cpu, DecodedBlock& b) override;
  void poll() override;
  Thresholds thresholds() const override;

  // Wait until every request so far is compiled and installed (tests, --jit-sync).
  void drain();
  // The run has ended: with a persistent cache to write, compile (and so write) the regions
  // still queued, for at most TranslatorConfig::cache_finish_ms; queued probes are dropped.
  // Nothing is installed: the guest does not run on (the destructor frees the code).
  void finish_writes();
  // Deterministic installation (TranslatorConfig::install_clock): the count at which the next
  // region is due (UINT64_MAX if none), and install every region due at `icount`.
  uint64_t next_install() const;
  void install_due(uint64_t icount);
  // Stop the compile thread: queued requests are dropped and a compile in flight gives up at
  // its next phase, so the guest's exit never waits for LLVM. The destructor calls it.
  void shutdown();
  // With `percentiles` false the compile-time mean, p50 and p99 (and the wait's) stay 0: they
  // walk a histogram of wall-clock durations (translator/latency_summary.h), so code that polls
  // the counters (the insn_jit fuzzer, whose coverage must not depend on timing:
  // docs/hardening.md) leaves them out.
  TranslatorStats stats(bool percentiles = true) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace softcpu
