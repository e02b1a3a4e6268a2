#include "translator/translator.h"

#include <llvm/Demangle/Demangle.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/Support/MemoryBuffer.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "cache/block_cache.h"
#include "interp/block.h"
#include "interp/cpu.h"
#include "interp/sem/registry.h"
#include "translator/jit_cache.h"
#include "translator/jit_engine.h"
#include "translator/latency_summary.h"
#include "translator/region_compiler.h"
#include "translator/region_spec.h"
#include "translator/semantics.h"

namespace softcpu {

namespace {

constexpr uint32_t kPage = 4096;

double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

uint64_t line_bits(uint32_t from, uint32_t to) {  // 64-byte lines covering [from, to) of a page
  if (from >= to) return 0;
  const unsigned first = (from % kPage) >> 6, last = ((to - 1) % kPage) >> 6;
  const uint64_t upto = last == 63 ? ~0ull : ((1ull << (last + 1)) - 1);
  return upto & ~((1ull << first) - 1);
}

// Hands the code of retired regions back to the JIT. Regions are freed on the CPU thread
// (BlockCache::collect_garbage, when no block runs); the JIT belongs to the compile thread,
// which removes them between compiles. Shared so that it outlives whichever goes last.
struct CodeReaper {
  std::mutex mu;
  std::vector<void*> handles;
  void release(void* h) {
    std::lock_guard<std::mutex> lock(mu);
    handles.push_back(h);
  }
  std::vector<void*> take() {
    std::lock_guard<std::mutex> lock(mu);
    return std::exchange(handles, {});
  }
};

// /tmp/perf-PID.map, one per process: every Translator of the process (one per CPU with
// --accel tcg,thread=multi, one per partition) appends its regions to it, each line whole.
// Opened (truncated) by the first translator that wants it, closed with the last.
struct PerfMap {
  std::mutex mu;
  FILE* file = nullptr;
  ~PerfMap() {
    if (file) std::fclose(file);
  }
  void write(uintptr_t addr, uint64_t bytes, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu);
    std::fprintf(file, "%lx %lx %s\n", static_cast<unsigned long>(addr),
                 static_cast<unsigned long>(bytes ? bytes : 1), name.c_str());
    std::fflush(file);
  }
  static std::shared_ptr<PerfMap> open() {
    static std::mutex mu;
    static std::weak_ptr<PerfMap> shared;
    std::lock_guard<std::mutex> lock(mu);
    if (auto m = shared.lock()) return m;
    auto m = std::make_shared<PerfMap>();
    const std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    m->file = std::fopen(path.c_str(), "w");
    if (!m->file) throw std::runtime_error("cannot write " + path);
    shared = m;
    return m;
  }
};

}  // namespace

// A compiled region in the block cache (a companion entry covering its blocks' lines).
struct JitRegion : NativeRegion {
  std::shared_ptr<CodeReaper> reaper;
  void* handle = nullptr;
  Translator::Impl* owner = nullptr;
  ~JitRegion() override {
    if (handle) reaper->release(handle);
  }
  void on_retire(RetireCause cause) override;
};

struct Translator::Impl {
  BlockCache& cache;
  TranslatorConfig config;

  // Compile-thread state (the CPU thread uses it only in sync mode, with no thread running),
  // made by start_llvm() when the first request comes, not at start-up: parsing the semantics
  // bitcode, LLVM's target set-up and the LLJIT cost ~0.1 s of CPU that a run where nothing
  // gets hot would pay for nothing.
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<Semantics> semantics;
  std::unique_ptr<JitEngine> engine;
  std::unique_ptr<RegionCompiler> compiler;
  std::unique_ptr<JitCache> jcache;  // --jit-cache
  // Checksums of the region files whose key this run has checked (rebuilt their IR): a
  // region found again (through another of its entries, before the first was installed)
  // is not keyed twice.
  std::set<CacheDigest> keyed_files;
  bool cache_write_warned = false;
  std::shared_ptr<CodeReaper> reaper = std::make_shared<CodeReaper>();
  // Set when LLVM could not start: every request is then answered uncompiled, and the CPU
  // thread makes no more (the machine runs interpreted, as the message says).
  std::atomic<bool> llvm_failed{false};
  // Whether the persistent cache takes writes: unknown until LLVM starts (the cache's key
  // needs the semantics and the TargetMachine), then yes or no (finish_writes reads it).
  enum CacheWrites : int { UNKNOWN, WRITABLE, NOT_WRITABLE };
  std::atomic<int> cache_writes{UNKNOWN};

  // Queues: requests CPU -> compile thread, results compile thread -> CPU.
  std::mutex req_mu;
  std::condition_variable req_cv;
  std::deque<RegionSpec> requests;
  // Lookups in the persistent cache (probes, and lookup_first requests), served before
  // compiles: a lookup costs milliseconds at most, a compile up to seconds, and a region found
  // in the cache should not wait for (or be dropped behind) a queue of compiles. One FIFO with
  // `requests` under deterministic installation, whose results come in request order.
  std::deque<RegionSpec> lookups;
  bool stopping = false;
  std::atomic<bool> cancel{false};  // set at shutdown: an in-flight compile gives up
  unsigned in_flight = 0;  // requests taken but not yet in `results` (under req_mu)
  std::condition_variable idle_cv;
  std::mutex res_mu;
  std::vector<CompiledRegion> results;
  std::atomic<bool> results_ready{false};
  std::thread worker;

  // CPU thread only.
  std::deque<uint64_t> due;              // deterministic installation: per request in flight
  std::deque<CompiledRegion> arrived;    // ... and the results received for the first of them
  uint64_t next_id = 0;
  std::unordered_map<uint32_t, unsigned> page_retirements;
  std::unordered_set<uint32_t> blacklist;
  // Hot blocks waiting for the compile thread (TranslatorConfig::cold_insns): the hottest
  // since the last choice is compiled next (choose()). CPU thread.
  struct Candidate {
    const Cpu* cpu;  // whose run loop found it hot (its chain links and TLB make the region)
    uint32_t phys, mode, eip, cs_base;
    uint8_t flat_segs;
    uint64_t seen, seen_icount;  // its entry's executions, and the icount, at the last look
    uint64_t ran_icount;         // the icount at the last look that found it had run
    int64_t hot_ns;
    uint64_t hot_executions;
    uint64_t heat;  // the threshold it was handed over at (early or hot)
  };
  std::vector<Candidate> candidates;
  uint64_t next_choice = 0;  // clock() before which poll() does not choose again (none ran)
  // The candidates' clock: the guest instructions retired together by the CPUs that have
  // called hot() (-smp N round-robin: all on this thread), counted from each one's first
  // hot() on, so that a CPU seen late, or an icount set back by a loaded snapshot, does not
  // make it jump (which would drop every candidate as cold).
  struct ClockedCpu {
    const Cpu* cpu;
    uint64_t last;  // its icount when the clock last read it
  };
  std::vector<ClockedCpu> cpus;
  uint64_t clock_ = 0;
  uint64_t clock() {
    for (ClockedCpu& c : cpus) {
      if (c.cpu->icount > c.last) clock_ += c.cpu->icount - c.last;
      c.last = c.cpu->icount;
    }
    return clock_;
  }
  void clock_in(const Cpu& cpu) {
    for (const ClockedCpu& c : cpus)
      if (c.cpu == &cpu) return;
    cpus.push_back({&cpu, cpu.icount});
  }
  // Set by the compile thread when it has nothing to do: poll() then hands it a candidate.
  std::atomic<bool> want_work{true};
  // The compile thread's CPU time over the wall time of its recent compiles, in permille,
  // each compile's weight decaying by a quarter per compile (written by the compile thread,
  // read by the CPU thread at the early threshold). Starts at 1000: the first compiles say.
  std::atomic<unsigned> cpu_share{1000};
  double share_cpu_us = 0, share_wall_us = 0;  // compile thread
  // Physical addresses of the blocks of the regions queued and not yet installed or dropped
  // (a count each: a block may be in two): a block in one is not made a region again.
  std::unordered_map<uint32_t, unsigned> queued_blocks;
  std::shared_ptr<PerfMap> perf_map;

  // Statistics: counters under stats_mu (the compile thread and the CPU thread both count).
  mutable std::mutex stats_mu;
  TranslatorStats st;
  LatencySummary compile_us;  // per compile
  LatencySummary wait_us;     // hot to installed, per region installed

  Impl(BlockCache& bc, const TranslatorConfig& cfg) : cache(bc), config(cfg) {}

  void compile_loop();
  CompiledRegion compile(RegionSpec spec);
  CompiledRegion probe(RegionSpec spec);
  bool submit(RegionSpec spec);
  void install(CompiledRegion& r);
  void release_queued(const RegionSpec& s);
  bool start_llvm();
  CompiledRegion after_lookup(RegionSpec spec, CompiledRegion r);
  // Decided from the configuration (the cache itself is made with LLVM, later): with a
  // directory that turns out untrusted the lookups find nothing (probe()).
  bool probing() const { return !config.cache_dir.empty() && config.cache_threshold < config.threshold; }
  void request(const Cpu& cpu, DecodedBlock& b, uint64_t heat);
  void enqueue(RegionSpec spec);
  // Are the blocks of a region from the persistent cache in the block cache, decoded the same?
  // 0 if so, else the lookup outcome counter that says why not.
  uint64_t TranslatorStats::*blocks_unchanged(const RegionSpec& s);
  void count(uint64_t TranslatorStats::*counter) {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++(st.*counter);
  }
  void reap() {
    if (!engine) return;  // nothing was ever compiled
    for (void* h : reaper->take()) engine->remove(h);
  }
  // Whether a region may start at `b`: not a block that crosses into a second page, nor one on
  // a page blacklisted for self-modifying code.
  bool entry_ok(const DecodedBlock& b) const {
    return b.page2 == NO_PAGE && !blacklist.count(b.phys / kPage);
  }
  // The region entered at `b` at CS base + `entry_eip`, made on the CPU thread from `cpu`'s
  // chain links and soft TLB (jump tables).
  bool make_region(const Cpu& cpu, DecodedBlock& b, uint32_t entry_eip, uint32_t cs_base,
                   uint64_t heat, RegionSpec& spec);
  // Candidates (TranslatorConfig::cold_insns) instead of a request per hot block in order?
  bool choosing() const {
    return !config.sync && !config.install_clock && config.cache_dir.empty();
  }
  void choose();
  void dispatch(Candidate c, DecodedBlock& b);
};

namespace {
int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void JitRegion::on_retire(RetireCause cause) {
  NativeRegion::on_retire(cause);
  if (owner && cause == RetireCause::INVALIDATED) {
    const uint32_t page = phys / kPage;
    {
      std::lock_guard<std::mutex> lock(owner->stats_mu);
      ++owner->st.regions_invalidated;
    }
    // Code that keeps rewriting itself is not worth compiling again and again.
    if (++owner->page_retirements[page] >= owner->config.smc_blacklist &&
        owner->blacklist.insert(page).second) {
      std::lock_guard<std::mutex> lock(owner->stats_mu);
      ++owner->st.pages_blacklisted;
    }
  }
}

Translator::Translator(BlockCache& cache, const TranslatorConfig& config)
    : impl_(std::make_unique<Impl>(cache, config)) {
  Impl& m = *impl_;
  if (m.config.threshold == 0) m.config.threshold = 1;
  if (m.config.perf_map) m.perf_map = PerfMap::open();
  if (!m.config.sync) m.worker = std::thread([&m] { m.compile_loop(); });
}

// LLVM, the semantics and the persistent cache, made on the thread that compiles (the compile
// thread, or the CPU thread with --jit-sync) when the first request needs them. False if they
// cannot be made: that is reported once and the run goes on interpreted.
bool Translator::Impl::start_llvm() {
  if (compiler) return true;
  if (llvm_failed.load(std::memory_order_relaxed)) return false;
  const double t0 = thread_cpu_us();
  struct Timed {  // however it ends
    Impl& m;
    double t0;
    ~Timed() {
      std::lock_guard<std::mutex> lock(m.stats_mu);
      m.st.start_cpu_us = thread_cpu_us() - t0;
    }
  } timed{*this, t0};
  try {
    context = std::make_unique<llvm::LLVMContext>();
    semantics = std::make_unique<Semantics>(*context);
    engine = std::make_unique<JitEngine>();
    // What compiled code refers to by name (region_compiler.cpp): the cache generation and
    // the host handlers it calls.
    engine->define(RegionCompiler::kGenerationSymbol, cache.generation_address());
    engine->define_on_demand(RegionCompiler::host_symbol(""), [this](const std::string& name) {
      return semantics->host_address(name);
    });
    if (!config.cache_dir.empty()) {
      jcache = std::make_unique<JitCache>(config.cache_dir,
                                          jit_cache_env(*semantics, engine->target_machine()),
                                          *semantics, config.cache_max_bytes);
      if (!jcache->why_untrusted().empty()) {
        std::fprintf(stderr,
                     "softcpu: warning: --jit-cache directory '%s' is %s: it holds native code "
                     "softcpu would run, so it is not used\n",
                     config.cache_dir.c_str(), jcache->why_untrusted().c_str());
        jcache.reset();
      } else if (!jcache->writable())
        std::fprintf(stderr,
                     "softcpu: warning: cannot write to --jit-cache directory '%s' (%s): compiled "
                     "regions will not be saved\n",
                     config.cache_dir.c_str(), jcache->why_not_writable().c_str());
    }
    compiler = std::make_unique<RegionCompiler>(*context, *semantics, engine->target_machine());
  } catch (const std::runtime_error& e) {
    jcache.reset();
    engine.reset();
    semantics.reset();
    context.reset();
    std::fprintf(stderr, "softcpu: the JIT is off: %s\n", e.what());
    llvm_failed.store(true, std::memory_order_relaxed);
    cache_writes.store(NOT_WRITABLE, std::memory_order_relaxed);
    return false;
  }
  cache_writes.store(jcache && jcache->writable() ? WRITABLE : NOT_WRITABLE,
                     std::memory_order_relaxed);
  return true;
}

void Translator::shutdown() {
  Impl& m = *impl_;
  if (!m.worker.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(m.req_mu);
    m.stopping = true;
  }
  m.cancel.store(true, std::memory_order_relaxed);
  m.req_cv.notify_all();
  m.worker.join();
}

Translator::~Translator() {
  Impl& m = *impl_;
  shutdown();
  // Every region goes before the JIT that holds its code.
  m.cache.flush();
  m.cache.collect_garbage();
  m.reap();
  for (CompiledRegion& r : m.results)
    if (r.tracker) m.engine->remove(r.tracker);  // a tracker comes only from an engine
  for (CompiledRegion& r : m.arrived)
    if (r.tracker) m.engine->remove(r.tracker);
}

NativeTier::Thresholds Translator::thresholds() const {
  const Impl& m = *impl_;
  const bool early = m.choosing() && m.config.early_threshold < m.config.threshold;
  return {m.probing() ? std::max<uint64_t>(1, m.config.cache_threshold) : 0,
          early ? m.config.early_threshold : 0, m.config.threshold};
}

// ---- CPU thread: regions --------------------------------------------------------------------

// The region entered at `b` at `cs_base` + `entry_eip` (where `cpu` ran it: at hot(), or
// for a candidate made later, its CS:EIP then): it and the warm blocks reachable from it
// inside its page, through its static successors (fall-through, relative branch targets) and
// the successors the interpreter has chained it to, each run at least an eighth of `heat` (the
// threshold at which the entry was handed over) times. Linear addresses are `cpu`'s: with several CPUs the chain links followed are
// its own (a switch of CPU starts a new link generation: monitor/machine.cpp run_aps).
bool Translator::Impl::make_region(const Cpu& cpu, DecodedBlock& b, uint32_t entry_eip,
                                   uint32_t cs_base, uint64_t heat, RegionSpec& spec) {
  const uint32_t entry_lin = cs_base + entry_eip;
  const uint32_t page_lin = entry_lin & ~(kPage - 1), page_phys = b.phys & ~(kPage - 1);
  if (!entry_ok(b)) return false;
  spec.id = ++next_id;
  spec.entry_phys = b.phys;
  spec.mode = b.mode;
  spec.entry_lin = entry_lin;
  spec.page_version = cache.page_version(b.phys / kPage);
  const uint64_t warm = std::max<uint64_t>(1, heat / 8);
  spec.flat_segs = RegionCompiler::flat_segments(cpu);

  std::vector<std::pair<DecodedBlock*, uint32_t>> todo{{&b, entry_eip}};
  std::unordered_set<uint32_t> seen{b.phys};
  for (size_t at = 0; at < todo.size() && spec.blocks.size() < config.max_region_blocks; ++at) {
    auto [blk, eip] = todo[at];
    RegionBlock rb;
    rb.eip = eip;
    rb.phys = blk->phys;
    rb.bytes = blk->bytes;
    rb.executions = blk->executions;
    rb.insns.assign(blk->insns.begin(), blk->insns.end());
    spec.lines |= line_bits(blk->phys, blk->phys_end);
    spec.blocks.push_back(std::move(rb));

    auto consider = [&](uint32_t succ_eip) {
      const uint32_t lin = cs_base + succ_eip;
      if ((lin & ~(kPage - 1)) != page_lin) return;  // other page: through the run loop
      const uint32_t phys = page_phys | (lin & (kPage - 1));
      if (seen.count(phys)) return;
      auto* s = static_cast<DecodedBlock*>(cache.find(phys, b.mode));
      // A block that already enters a compiled region is reached through an exit slot or
      // the jump cache rather than compiled a second time.
      if (!s || s->page2 != NO_PAGE || s->native || s->executions < warm) return;
      seen.insert(phys);
      todo.push_back({s, succ_eip});
    };
    const Insn& tail = blk->insns.back();
    const uint32_t next = eip + blk->bytes;
    if (!(tail.flags & INSN_ENDS_BLOCK) || (tail.flags & INSN_REL_BRANCH)) consider(next);
    if (tail.flags & INSN_REL_BRANCH) {
      uint32_t target = next + tail.disp;
      if (tail.opsize == 2) target &= 0xFFFF;  // IP wraps with a 16-bit operand size
      consider(target);
    }
    if (blk->chain_generation == cache.generation() ||
        blk->chain_generation == cache.global_link_generation())
      for (unsigned k = 0; k < 2; ++k)
        if (blk->chain[k]) {
          spec.blocks.back().next_eips.push_back(blk->chain_lin[k] - cs_base);
          consider(blk->chain_lin[k] - cs_base);
        }
    // A jump table's targets in this page (RegionCompiler::jump_table_targets).
    for (uint32_t t : RegionCompiler::jump_table_targets(cpu, tail, cs_base, page_lin)) {
      spec.blocks.back().next_eips.push_back(t);
      consider(t);
    }
  }
  return true;
}

// The compile threshold: the block's region compiled (with a cache, looked up there first:
// a block probed at the warm threshold may find its region usable now, when the blocks it
// needs have been decoded, and without a warm threshold this is the lookup).
void Translator::hot(Cpu& cpu, DecodedBlock& b) {
  Impl& m = *impl_;
  if (m.llvm_failed.load(std::memory_order_relaxed)) return;
  // The run loop is about to run b: the CPU's CS:EIP is its start.
  m.request(cpu, b, m.config.threshold);
}

// The early threshold: compiled now if the compile thread has had a core of its own lately
// (cpu_share), so that the compile costs the guest nothing; else the block waits for hot().
void Translator::early(Cpu& cpu, DecodedBlock& b) {
  Impl& m = *impl_;
  if (m.llvm_failed.load(std::memory_order_relaxed)) return;
  if (m.cpu_share.load(std::memory_order_relaxed) < m.config.early_min_share ||
      m.candidates.size() >= m.config.max_queue) {
    m.count(&TranslatorStats::early_passed);
    return;
  }
  m.count(&TranslatorStats::early_requests);
  m.request(cpu, b, m.config.early_threshold);
}

// The probe threshold (with --jit-cache below the compile threshold): a region entered here in
// the persistent cache, installed if found; otherwise the block compiles at the threshold
// (the interpreter calls hot() then).
void Translator::warm(Cpu& cpu, DecodedBlock& b) {
  Impl& m = *impl_;
  if (m.llvm_failed.load(std::memory_order_relaxed)) return;
  const uint32_t cs_base = cpu.seg[CS].base;
  if (b.native || m.queued_blocks.count(b.phys)) return;
  RegionSpec spec;
  if (!m.entry_ok(b)) return;
  spec.id = ++m.next_id;
  spec.probe = true;
  spec.entry_phys = b.phys;
  spec.mode = b.mode;
  spec.entry_lin = cs_base + cpu.eip;
  spec.page_version = m.cache.page_version(b.phys / kPage);
  RegionBlock rb;
  rb.eip = cpu.eip;
  rb.phys = b.phys;
  rb.bytes = b.bytes;
  rb.insns.assign(b.insns.begin(), b.insns.end());
  spec.blocks.push_back(std::move(rb));
  if (m.config.sync) {
    CompiledRegion r = m.compile(std::move(spec));
    m.install(r);
    return;
  }
  // A probe that finds no room is not made: the block still compiles at the threshold.
  if (m.config.install_clock) {
    if (m.due.size() >= m.config.max_queue) return;
    m.due.push_back(*m.config.install_clock + m.config.install_delay);
  }
  m.submit(std::move(spec));
}

// A block that is hot (the compile threshold) entered at the CPU's CS base + EIP: its region compiled.
void Translator::Impl::request(const Cpu& cpu, DecodedBlock& b, uint64_t heat) {
  RegionSpec spec;
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++st.requests;
  }
  // Already an entry of a region, or of one being compiled: no second copy of its code.
  if (b.native || queued_blocks.count(b.phys)) {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++st.covered;
    return;
  }
  if (choosing()) {
    if (!entry_ok(b)) {
      std::lock_guard<std::mutex> lock(stats_mu);
      ++st.dropped_unsuitable;
      return;
    }
    if (candidates.size() >= config.max_queue) {
      std::lock_guard<std::mutex> lock(stats_mu);
      ++st.dropped_queue_full;
      return;
    }
    clock_in(cpu);
    const uint64_t now = clock();
    candidates.push_back(Candidate{&cpu, b.phys, b.mode, cpu.eip, cpu.seg[CS].base,
                                   RegionCompiler::flat_segments(cpu), b.executions, now, now,
                                   steady_ns(), b.executions, heat});
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      st.queue_high_water = std::max<uint64_t>(st.queue_high_water, candidates.size());
    }
    if (want_work.load(std::memory_order_relaxed)) choose();
    return;
  }
  if (!make_region(cpu, b, cpu.eip, cpu.seg[CS].base, heat, spec)) {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++st.dropped_unsuitable;
    return;
  }
  spec.hot_ns = steady_ns();
  spec.hot_executions = b.executions;
  // Looked up in the persistent cache first when there is one (the CPU thread decides it from
  // the options: the cache itself is the compile thread's).
  spec.probe = spec.lookup_first = !config.cache_dir.empty();
  if (!config.sync)
    for (const RegionBlock& rb : spec.blocks) spec.queued.push_back(rb.phys);
  enqueue(std::move(spec));
}

// The compile thread is free: look at every candidate's entry, drop those gone (retired, or
// entering a region by now) or cold, and hand over the region of the one whose entry ran the
// most guest instructions per guest instruction since the last look; none if none ran.
void Translator::Impl::choose() {
  const uint64_t now = clock();
  // Indices of candidates kept (looked at, not erased): erasing later ones keeps them. Both
  // are set only once a candidate has passed every test that may erase it, so neither can
  // name an erased one (or lie past the end: a candidate that got hot and was then not run
  // for cold_insns is dropped, not chosen).
  size_t best = SIZE_MAX;
  size_t fresh = SIZE_MAX;
  double best_rate = 0;
  uint64_t covered = 0, gone = 0, cold = 0;
  for (size_t k = 0; k < candidates.size();) {
    Candidate& c = candidates[k];
    auto* b = static_cast<DecodedBlock*>(cache.find(c.phys, c.mode));
    if (!b || b->native || queued_blocks.count(c.phys)) {
      ++(b ? covered : gone);  // an entry of a region by now; retired (written, evicted)
      candidates.erase(candidates.begin() + ptrdiff_t(k));
      continue;
    }
    const uint64_t runs = b->executions > c.seen ? b->executions - c.seen : 0;
    const bool unseen = c.seen_icount == c.ran_icount && c.seen == c.hot_executions;
    const double rate =
        double(runs * b->insns.size()) / double(std::max<uint64_t>(1, now - c.seen_icount));
    c.seen = b->executions;
    c.seen_icount = now;
    if (runs) c.ran_icount = now;
    if (now - c.ran_icount >= config.cold_insns) {
      b->executions = 0;  // heats again from zero
      ++cold;
      candidates.erase(candidates.begin() + ptrdiff_t(k));
      continue;
    }
    if (!runs && unseen && fresh == SIZE_MAX) fresh = k;  // it has just got hot
    if (rate > best_rate) {
      best_rate = rate;
      best = k;
    }
    ++k;
  }
  if (covered || gone || cold) {
    std::lock_guard<std::mutex> lock(stats_mu);
    st.covered += covered;
    st.dropped_stale += gone;
    st.dropped_cold += cold;
  }
  // None ran since the last look: one that has just got hot goes (the compile thread is
  // free), else look again a million instructions later.
  if (best == SIZE_MAX) best = fresh;
  if (best == SIZE_MAX) {
    next_choice = now + 1000000;
    return;
  }
  const Candidate c = candidates[best];
  candidates.erase(candidates.begin() + ptrdiff_t(best));
  dispatch(c, *static_cast<DecodedBlock*>(cache.find(c.phys, c.mode)));
}

// A candidate's region, made now (from the heat seen now) and handed to the compile thread.
void Translator::Impl::dispatch(Candidate c, DecodedBlock& b) {
  RegionSpec spec;
  if (!make_region(*c.cpu, b, c.eip, c.cs_base, c.heat, spec)) {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++st.dropped_unsuitable;
    return;
  }
  spec.flat_segs = c.flat_segs;  // as the segments were when the block ran hot
  spec.hot_ns = c.hot_ns;
  spec.hot_executions = c.hot_executions;
  if (!candidates.empty()) spec.max_weight = config.max_region_weight_waiting;  // others wait
  for (const RegionBlock& rb : spec.blocks) spec.queued.push_back(rb.phys);
  want_work.store(false, std::memory_order_relaxed);
  enqueue(std::move(spec));
}

// A region request (made at the compile threshold, or one whose region from the cache could
// not be installed) to the compile thread, or compiled now with --jit-sync.
void Translator::Impl::enqueue(RegionSpec spec) {
  if (config.sync) {
    reap();
    CompiledRegion r = compile(std::move(spec));
    install(r);
    return;
  }
  if (config.install_clock) {
    if (due.size() >= config.max_queue) {
      std::lock_guard<std::mutex> lock(stats_mu);
      ++st.dropped_queue_full;
      return;
    }
    due.push_back(*config.install_clock + config.install_delay);
  }
  const std::vector<uint32_t> queued = spec.queued;
  if (submit(std::move(spec)))
    for (uint32_t phys : queued) ++queued_blocks[phys];
}

void Translator::finish_writes() {
  Impl& m = *impl_;
  // Deterministic runs have drained their queue (Machine::end_run); --jit-sync has none.
  // The cache is made with LLVM, on the compile thread: until then, whether it takes writes
  // is not known, and the wait ends early if it turns out not to.
  auto unwritable = [&m] { return m.cache_writes.load(std::memory_order_relaxed) == Impl::NOT_WRITABLE; };
  if (!m.worker.joinable() || m.config.cache_dir.empty() || unwritable() ||
      !m.config.cache_finish_ms || m.config.install_clock)
    return;
  std::unique_lock<std::mutex> lock(m.req_mu);
  // Probes write nothing; a lookup_first request compiles (and writes) if it finds nothing.
  std::erase_if(m.lookups, [](const RegionSpec& s) { return !s.lookup_first; });
  m.idle_cv.wait_for(lock, std::chrono::milliseconds(m.config.cache_finish_ms), [&] {
    return (m.requests.empty() && m.lookups.empty() && m.in_flight == 0) || unwritable();
  });
}

uint64_t Translator::next_install() const {
  const Impl& m = *impl_;
  return m.due.empty() ? UINT64_MAX : m.due.front();
}

void Translator::install_due(uint64_t icount) {
  Impl& m = *impl_;
  while (!m.due.empty() && m.due.front() <= icount) {
    while (m.arrived.empty()) {  // results come in request order (one compile thread)
      {
        std::lock_guard<std::mutex> lock(m.res_mu);
        for (CompiledRegion& r : m.results) m.arrived.push_back(std::move(r));
        m.results.clear();
        m.results_ready.store(false, std::memory_order_relaxed);
      }
      if (m.arrived.empty()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    m.install(m.arrived.front());
    m.arrived.pop_front();
    m.due.pop_front();
  }
}

bool Translator::Impl::submit(RegionSpec spec) {
  size_t depth;
  {
    std::lock_guard<std::mutex> lock(req_mu);
    const bool lookup = spec.probe && !config.install_clock;
    std::deque<RegionSpec>& lane = lookup ? lookups : requests;
    if (lane.size() >= (lookup ? config.max_lookups : config.max_queue)) {
      std::lock_guard<std::mutex> slock(stats_mu);
      ++st.dropped_queue_full;
      return false;
    }
    lane.push_back(std::move(spec));
    // Deterministic installation counts what the CPU thread knows (not the thread's progress).
    depth = config.install_clock ? due.size() : requests.size() + lookups.size() + in_flight;
  }
  req_cv.notify_one();
  std::lock_guard<std::mutex> lock(stats_mu);
  st.queue_high_water = std::max<uint64_t>(st.queue_high_water, depth);
  return true;
}

void Translator::poll() {
  Impl& m = *impl_;
  if (!m.candidates.empty() && m.want_work.load(std::memory_order_relaxed) &&
      m.clock() >= m.next_choice)
    m.choose();
  if (!m.results_ready.load(std::memory_order_acquire) || m.config.install_clock) return;
  std::vector<CompiledRegion> done;
  {
    std::lock_guard<std::mutex> lock(m.res_mu);
    done.swap(m.results);
    m.results_ready.store(false, std::memory_order_relaxed);
  }
  for (CompiledRegion& r : done) m.install(r);
}

void Translator::drain() {
  Impl& m = *impl_;
  // Every candidate goes to the compile thread now, hottest first.
  while (!m.candidates.empty()) {
    m.next_choice = 0;
    const size_t before = m.candidates.size();
    m.choose();
    if (m.candidates.size() == before) {  // none ran since the last look: in order
      const Impl::Candidate c = m.candidates.front();
      m.candidates.erase(m.candidates.begin());
      if (auto* b = static_cast<DecodedBlock*>(m.cache.find(c.phys, c.mode)); b && !b->native)
        m.dispatch(c, *b);
    }
  }
  if (m.worker.joinable()) {
    std::unique_lock<std::mutex> lock(m.req_mu);
    m.idle_cv.wait(lock,
                   [&m] { return m.requests.empty() && m.lookups.empty() && m.in_flight == 0; });
  }
  poll();
}

// A request is installed or dropped: its blocks leave the queued set. One that hot() skipped
// as covered by it but that did not become an entry (trimmed away, or the region dropped)
// heats again from zero: hot() comes only when a block's count reaches the threshold.
void Translator::Impl::release_queued(const RegionSpec& s) {
  for (uint32_t phys : s.queued) {
    auto it = queued_blocks.find(phys);
    if (it == queued_blocks.end()) continue;
    if (--it->second != 0) continue;
    queued_blocks.erase(it);
    auto* blk = static_cast<DecodedBlock*>(cache.find(phys, s.mode));
    if (blk && !blk->native) blk->executions = 0;
  }
}

// Install compiled code if none of its source changed while it compiled; otherwise drop it.
void Translator::Impl::install(CompiledRegion& r) {
  const RegionSpec& s = r.spec;
  struct Release {  // however this ends: installed or dropped
    Impl& m;
    const RegionSpec& s;
    ~Release() { m.release_queued(s); }
  } release{*this, s};
  auto drop = [&](uint64_t TranslatorStats::*counter) {
    if (r.tracker) reaper->release(r.tracker);
    r.tracker = nullptr;
    count(counter);
    // A region from the cache found for a request at the compile threshold: the request's own
    // region is compiled instead (its blocks are queued again before this one lets them go),
    // unless its entry block has left the cache or enters a region by now.
    if (!r.fallback) return;
    auto* head = static_cast<DecodedBlock*>(cache.find(r.fallback->entry_phys, r.fallback->mode));
    if (head && !head->native) enqueue(std::move(*r.fallback));
  };
  const uint32_t cs_base = s.entry_lin - s.blocks[0].eip;
  if (r.queue_full) return drop(&TranslatorStats::dropped_queue_full);  // (heats again)
  if (s.probe) {
    // A probe: nothing found (the block compiles at the threshold), or a region from the
    // persistent cache, whose blocks must all be in the block cache as they were when it was
    // compiled (then the code is this run's guest code: a write to it would have retired them).
    if (!r.entry) return;
    if (auto why = blocks_unchanged(s)) {
      count(why);
      return drop(&TranslatorStats::cache_unusable);
    }
  } else if (!r.entry) {
    return drop(&TranslatorStats::compile_failures);
  }
  auto* entry = static_cast<DecodedBlock*>(cache.find(s.entry_phys, s.mode));
  if ((!s.probe && cache.page_version(s.entry_phys / kPage) != s.page_version) || !entry ||
      entry->native)
    return drop(&TranslatorStats::dropped_stale);
  auto region = std::make_unique<JitRegion>();
  region->phys = s.entry_phys & ~(kPage - 1);
  region->phys_end = region->phys + kPage;
  region->lines = s.lines;
  region->mode = s.mode;
  region->size_bytes = uint32_t(r.code_bytes + s.blocks.size() * sizeof(NativeLink));
  region->reaper = reaper;
  region->handle = r.tracker;
  region->owner = this;
  r.tracker = nullptr;
  JitRegion* placed = region.get();
  // A bounded cache makes room first; a flush there takes the entry block too (then the
  // region is dropped, and its code freed with it).
  if (!cache.insert_companion(std::move(region), entry)) {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++st.dropped_no_room;
    return;
  }
  // Every entry block of the region (RegionCompiler::mark_entries) still in the cache (the
  // same code: the page version is unchanged) enters it; a block that already enters another
  // region keeps that one.
  for (size_t k = 0; k < s.blocks.size(); ++k) {
    const RegionBlock& rb = s.blocks[k];
    auto* blk = k == 0 ? entry : static_cast<DecodedBlock*>(cache.find(rb.phys, s.mode));
    if (!rb.entry || !blk || blk->native || blk->bytes != rb.bytes ||
        blk->insns.size() != rb.insns.size())
      continue;
    blk->native = reinterpret_cast<NativeFn>(r.entry);
    blk->native_lin = cs_base + rb.eip;
    blk->native_eip = rb.eip;
    blk->native_region = placed;
    placed->entries.push_back(blk);
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    st.region_entries += placed->entries.size();
  }
  if (perf_map) perf_map->write(r.entry, r.code_bytes, RegionCompiler::function_name(s));
  std::lock_guard<std::mutex> lock(stats_mu);
  ++st.regions_installed;
  if (r.from_cache) ++st.lookup_installed;
  if (s.hot_ns) {
    wait_us.add(double(steady_ns() - s.hot_ns) / 1e3);
    if (entry->executions > s.hot_executions)
      st.entry_runs_waiting += entry->executions - s.hot_executions;
  }
}

uint64_t TranslatorStats::*Translator::Impl::blocks_unchanged(const RegionSpec& s) {
  for (const RegionBlock& rb : s.blocks) {
    auto* b = static_cast<DecodedBlock*>(cache.find(rb.phys, s.mode));
    if (!b) return &TranslatorStats::lookup_blocks_missing;
    if (b->page2 != NO_PAGE || !same_code(b->bytes, b->insns, rb.bytes, rb.insns))
      return &TranslatorStats::lookup_blocks_differ;
  }
  return nullptr;
}

// ---- compile thread -------------------------------------------------------------------------

void Translator::Impl::compile_loop() {
  for (;;) {
    RegionSpec spec;
    {
      std::unique_lock<std::mutex> lock(req_mu);
      if (requests.empty() && lookups.empty()) want_work.store(true, std::memory_order_relaxed);
      req_cv.wait(lock, [this] { return stopping || !requests.empty() || !lookups.empty(); });
      if (stopping) return;
      std::deque<RegionSpec>& lane = lookups.empty() ? requests : lookups;
      spec = std::move(lane.front());
      lane.pop_front();
      ++in_flight;
    }
    reap();
    const double cpu0 = thread_cpu_us();
    const int64_t wall0 = steady_ns();
    CompiledRegion r = compile(std::move(spec));
    share_cpu_us = share_cpu_us * 0.75 + (thread_cpu_us() - cpu0);
    share_wall_us = share_wall_us * 0.75 + double(steady_ns() - wall0) / 1e3;
    if (share_wall_us > 0)
      cpu_share.store(unsigned(std::min(1000.0, 1000.0 * share_cpu_us / share_wall_us)),
                      std::memory_order_relaxed);
    if (!r.cancelled && !r.requeued) {
      std::lock_guard<std::mutex> lock(res_mu);
      results.push_back(std::move(r));
      results_ready.store(true, std::memory_order_release);
    }
    {
      std::lock_guard<std::mutex> lock(req_mu);
      --in_flight;
    }
    idle_cv.notify_all();
  }
}

// A lookup: the region kept in the persistent cache for the probe's entry block (entered
// there, or there among its other entries), if its key is the one this run computes for it
// (its IR rebuilt from the blocks the file names), linked. A lookup_first request that finds
// none is compiled here; one that finds a region carries itself along as the fallback.
CompiledRegion Translator::Impl::probe(RegionSpec spec) {
  // The directory is not used (start_llvm said why): nothing to find, as for a miss.
  if (!jcache) return after_lookup(std::move(spec), CompiledRegion{});
  const double t0 = thread_cpu_us();
  CompiledRegion r;
  JitCache::Entry e;
  uint64_t bytes = 0;
  bool member = false;
  const JitCache::Found found = jcache->load(spec, &e, &bytes, &member);
  uint64_t TranslatorStats::*outcome = &TranslatorStats::cache_misses;
  uint64_t TranslatorStats::*lookup = nullptr;
  double key_us = 0;
  if (found == JitCache::Found::NONE) lookup = &TranslatorStats::lookup_no_file;
  if (found == JitCache::Found::BAD) outcome = &TranslatorStats::cache_bad;
  if (found == JitCache::Found::OK) {
    RegionSpec& s = e.spec;
    s.id = spec.id;
    s.probe = true;
    s.page_version = spec.page_version;
    for (const RegionBlock& b : s.blocks) s.lines |= line_bits(b.phys, b.phys + b.bytes);
    RegionCompiler::Output out;
    std::string error;
    const double k0 = thread_cpu_us();
    const bool known = keyed_files.count(e.checksum) != 0;
    const bool built = known || compiler->compile(s, false, out, &error, &cancel,
                                                  [](const RegionCompiler::Output&) { return false; });
    key_us = thread_cpu_us() - k0;
    if (cancel.load(std::memory_order_relaxed)) {
      // Shutting down: the file is not judged.
    } else if (!known && (!built || jcache->key(out.ir_hash) != e.key)) {
      // Built differently in this run: an object this run would not have made.
      std::remove(jcache->path(s).c_str());
      outcome = &TranslatorStats::cache_bad;
      lookup = &TranslatorStats::lookup_key_differs;
    } else if (engine->add(std::move(e.object), e.symbol, &r.entry,
                           &r.tracker, &error)) {
      outcome = &TranslatorStats::cache_hits;
      keyed_files.insert(e.checksum);
      r.from_cache = true;
      r.code_bytes = e.code_bytes;
      s.queued = spec.queued;  // released when this one is installed or dropped
      if (spec.lookup_first) {
        spec.probe = false;
        r.fallback = std::move(spec);
      }
      spec = std::move(s);
    } else {
      r.entry = 0;
      outcome = &TranslatorStats::cache_bad;
    }
  }
  r.cancelled = cancel.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++st.cache_probes;
    ++(st.*outcome);
    if (lookup) ++(st.*lookup);
    if (r.from_cache && member) ++st.cache_hits_other_entry;
    st.cache_bytes_read += bytes;
    st.cache_key_us += key_us;
    st.cache_load_us += thread_cpu_us() - t0;
    if (r.cancelled) ++st.compiles_cancelled;
  }
  return after_lookup(std::move(spec), std::move(r));
}

// What follows a lookup `r` for `spec`: a lookup_first request that found nothing installable
// goes on to be compiled; anything else is the result as it is.
CompiledRegion Translator::Impl::after_lookup(RegionSpec spec, CompiledRegion r) {
  if (!r.entry && !r.cancelled && spec.lookup_first) {
    spec.probe = false;
    // Compiled here when results must come in request order (--deterministic, --jit-sync);
    // otherwise behind the compiles queued, so that the lookups after it are not held up.
    if (config.sync || config.install_clock) return compile(std::move(spec));
    {
      std::lock_guard<std::mutex> lock(req_mu);
      if (requests.size() < config.max_queue) {
        requests.push_back(std::move(spec));
        r.requeued = true;
        return r;
      }
    }
    r.queue_full = true;
  }
  r.spec = std::move(spec);
  return r;
}

CompiledRegion Translator::Impl::compile(RegionSpec spec) {
  if (!start_llvm()) {  // answered uncompiled (a lookup: not found)
    CompiledRegion r;
    r.spec = std::move(spec);
    return r;
  }
  if (spec.probe) return probe(std::move(spec));
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t budget = spec.max_weight ? std::min(spec.max_weight, config.max_region_weight)
                                          : config.max_region_weight;
  const size_t keep = compiler->blocks_within(spec, budget);
  if (keep < spec.blocks.size()) {
    // Cut by the smaller bound alone? (Only then is the whole bound's count needed.)
    const bool waiting = budget < config.max_region_weight &&
                         compiler->blocks_within(spec, config.max_region_weight) > keep;
    spec.blocks.resize(keep);
    spec.lines = 0;
    for (const RegionBlock& b : spec.blocks) spec.lines |= line_bits(b.phys, b.phys + b.bytes);
    std::lock_guard<std::mutex> lock(stats_mu);
    ++st.regions_trimmed;
    if (waiting) ++st.regions_trimmed_waiting;
  }
  compiler->mark_entries(spec);
  CompiledRegion r;
  RegionCompiler::Output out;
  std::string error;
  const bool dump = !config.dump_dir.empty();
  // With the persistent cache the region was looked up there first (RegionSpec::lookup_first):
  // what is left is its key, once its IR is built, to store the object under.
  CacheDigest key{};
  auto keyed = [&](const RegionCompiler::Output& o) {
    key = jcache->key(o.ir_hash);
    return true;
  };
  const bool ok = jcache ? compiler->compile(spec, dump, out, &error, &cancel, keyed)
                         : compiler->compile(spec, dump, out, &error, &cancel);
  if (ok) {
    const std::string name = out.name;
    if (dump) {
      std::ofstream(config.dump_dir + "/" + name + ".pre.ll") << out.ir_before;
      std::ofstream(config.dump_dir + "/" + name + ".ll") << out.ir;
      std::ofstream(config.dump_dir + "/" + name + ".s") << out.assembly;
    }
    uint64_t written = 0;
    bool stored = false;
    std::string why;
    if (jcache && jcache->writable() && out.relocatable)
      stored = jcache->store(spec, key, out.code_bytes, out.name, *out.object, &written, &why);
    if (jcache && !why.empty()) {
      std::lock_guard<std::mutex> lock(stats_mu);
      ++st.cache_write_failures;
      if (!cache_write_warned)
        std::fprintf(stderr, "softcpu: warning: --jit-cache: %s (compiled regions are not saved)\n",
                     why.c_str());
      cache_write_warned = true;
    }
    if (stored) {
      const uint64_t evicted = jcache->trim();
      std::lock_guard<std::mutex> lock(stats_mu);
      ++st.cache_writes;
      st.cache_bytes_written += written;
      st.cache_evicted += evicted;
    }
    if (!engine->add(std::move(out.object), out.name, &r.entry, &r.tracker, &error)) r.entry = 0;
  }
  r.error = error;
  r.code_bytes = out.code_bytes;
  r.inlined_insns = out.inlined_insns;
  r.compile_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    if (r.entry) {
      ++st.regions_compiled;
      st.native_code_bytes += r.code_bytes;
      st.region_blocks += spec.blocks.size();
      for (const RegionBlock& b : spec.blocks) st.region_insns += b.insns.size();
      st.inlined_insns += r.inlined_insns;
    } else if (cancel.load(std::memory_order_relaxed)) {
      ++st.compiles_cancelled;  // not a compile: no times, nothing to install
      r.cancelled = true;
      r.spec = std::move(spec);
      return r;
    } else if (!error.empty() && st.compile_failures < 3) {
      std::fprintf(stderr, "softcpu: JIT: region at %08x not compiled: %s\n", spec.entry_lin,
                   error.c_str());
    }
    st.compile_us_total += r.compile_us;
    st.compile_cpu_us_build += out.build_us;
    st.compile_cpu_us_inline += out.inline_us;
    st.compile_cpu_us_opt += out.opt_us;
    st.compile_cpu_us_codegen += out.codegen_us;
    compile_us.add(r.compile_us);
  }
  r.spec = std::move(spec);
  return r;
}

SemanticsReport semantics_report() {
  llvm::LLVMContext ctx;
  Semantics sem(ctx);
  SemanticsReport r;
  r.bodies_read_at_start = sem.bodies().read;
  if (softcpu_handler_family_count && softcpu_handler_families[0].count)
    sem.find(softcpu_handler_families[0].fns[0]);
  r.bodies_read_after_one = sem.bodies().read;
  for (const Semantics::Family& f : sem.families()) {
    SemanticsReport::Family out{f.name, uint32_t(f.handlers.size()), 0, {}};
    for (const Semantics::Handler* h : f.handlers) {
      if (h->inlinable) ++out.inlinable;
      else out.not_inlinable.push_back(llvm::demangle(h->name));
    }
    r.families.push_back(std::move(out));
  }
  r.bodies_read_after_all = sem.bodies().read;
  r.bodies = sem.bodies().total;
  return r;
}

TranslatorStats Translator::stats(bool percentiles) const {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.stats_mu);
  TranslatorStats s = m.st;
  if (percentiles && m.compile_us.count()) {
    s.compile_us_mean = s.compile_us_total / double(m.compile_us.count());
    s.compile_us_p50 = m.compile_us.quantile(0.5);
    s.compile_us_p99 = m.compile_us.quantile(0.99);
  }
  if (percentiles) {
    s.wait_us_p50 = m.wait_us.quantile(0.5);
    s.wait_us_p99 = m.wait_us.quantile(0.99);
    s.compile_cpu_share = m.cpu_share.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace softcpu
