#include "translator/translator.h"

#include <llvm/Demangle/Demangle.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/Support/MemoryBuffer.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "cache/block_cache.h"
#include "interp/block.h"
#include "interp/cpu.h"
#include "translator/jit_engine.h"
#include "translator/region_compiler.h"
#include "translator/region_spec.h"
#include "translator/semantics.h"

namespace softcpu {

namespace {

constexpr uint32_t kPage = 4096;

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
  Cpu& cpu;
  BlockCache& cache;
  TranslatorConfig config;

  // Compile-thread state (the CPU thread uses it only in sync mode, with no thread running).
  llvm::LLVMContext context;
  std::unique_ptr<Semantics> semantics;
  std::unique_ptr<JitEngine> engine;
  std::unique_ptr<RegionCompiler> compiler;
  std::shared_ptr<CodeReaper> reaper = std::make_shared<CodeReaper>();

  // Queues: requests CPU -> compile thread, results compile thread -> CPU.
  std::mutex req_mu;
  std::condition_variable req_cv;
  std::deque<RegionSpec> requests;
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
  // Physical addresses of the blocks of the regions queued and not yet installed or dropped
  // (a count each: a block may be in two): a block in one is not made a region again.
  std::unordered_map<uint32_t, unsigned> queued_blocks;
  FILE* perf_map = nullptr;

  // Statistics: counters under stats_mu (the compile thread and the CPU thread both count).
  mutable std::mutex stats_mu;
  TranslatorStats st;
  std::vector<double> compile_us;

  Impl(Cpu& c, BlockCache& bc, const TranslatorConfig& cfg) : cpu(c), cache(bc), config(cfg) {}

  void compile_loop();
  CompiledRegion compile(RegionSpec spec);
  bool submit(RegionSpec spec);
  void install(CompiledRegion& r);
  void release_queued(const RegionSpec& s);
  void reap() {
    for (void* h : reaper->take()) engine->remove(h);
  }
  bool make_region(DecodedBlock& b, RegionSpec& spec);
};

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

Translator::Translator(Cpu& cpu, BlockCache& cache, const TranslatorConfig& config)
    : impl_(std::make_unique<Impl>(cpu, cache, config)) {
  Impl& m = *impl_;
  if (m.config.threshold == 0) m.config.threshold = 1;
  m.semantics = std::make_unique<Semantics>(m.context);
  m.engine = std::make_unique<JitEngine>();
  m.compiler = std::make_unique<RegionCompiler>(m.context, *m.semantics, m.engine->target_machine());
  if (m.config.perf_map) {
    const std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    m.perf_map = std::fopen(path.c_str(), "w");
    if (!m.perf_map) throw std::runtime_error("cannot write " + path);
  }
  if (!m.config.sync) m.worker = std::thread([&m] { m.compile_loop(); });
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
    if (r.tracker) m.engine->remove(r.tracker);
  for (CompiledRegion& r : m.arrived)
    if (r.tracker) m.engine->remove(r.tracker);
  if (m.perf_map) std::fclose(m.perf_map);
}

uint64_t Translator::threshold() const { return impl_->config.threshold; }

// ---- CPU thread: regions --------------------------------------------------------------------

// The region entered at `b` (the run loop is about to run it: CS:EIP is its start): it and the
// warm blocks reachable from it inside its page, through its static successors (fall-through,
// relative branch targets) and the successors the interpreter has chained it to.
bool Translator::Impl::make_region(DecodedBlock& b, RegionSpec& spec) {
  const uint32_t entry_eip = cpu.eip;
  const uint32_t entry_lin = cpu.seg[CS].base + entry_eip;
  const uint32_t cs_base = entry_lin - entry_eip;
  const uint32_t page_lin = entry_lin & ~(kPage - 1), page_phys = b.phys & ~(kPage - 1);
  if (b.page2 != NO_PAGE || blacklist.count(b.phys / kPage)) return false;
  spec.id = ++next_id;
  spec.entry_phys = b.phys;
  spec.mode = b.mode;
  spec.entry_lin = entry_lin;
  spec.page_version = cache.page_version(b.phys / kPage);
  spec.generation_address = reinterpret_cast<uintptr_t>(cache.generation_address());
  const uint64_t warm = std::max<uint64_t>(1, config.threshold / 8);

  std::vector<std::pair<DecodedBlock*, uint32_t>> todo{{&b, entry_eip}};
  std::unordered_set<uint32_t> seen{b.phys};
  for (size_t at = 0; at < todo.size() && spec.blocks.size() < config.max_region_blocks; ++at) {
    auto [blk, eip] = todo[at];
    RegionBlock rb;
    rb.eip = eip;
    rb.phys = blk->phys;
    rb.bytes = blk->bytes;
    rb.executions = blk->executions;
    rb.insns = blk->insns;
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
    if (blk->chain_generation == cache.generation())
      for (unsigned k = 0; k < 2; ++k)
        if (blk->chain[k]) {
          spec.blocks.back().next_eips.push_back(blk->chain_lin[k] - cs_base);
          consider(blk->chain_lin[k] - cs_base);
        }
  }
  return true;
}

void Translator::hot(DecodedBlock& b) {
  Impl& m = *impl_;
  RegionSpec spec;
  {
    std::lock_guard<std::mutex> lock(m.stats_mu);
    ++m.st.requests;
  }
  // Already an entry of a region, or of one being compiled: no second copy of its code.
  if (b.native || m.queued_blocks.count(b.phys)) {
    std::lock_guard<std::mutex> lock(m.stats_mu);
    ++m.st.covered;
    return;
  }
  if (!m.make_region(b, spec)) {
    std::lock_guard<std::mutex> lock(m.stats_mu);
    ++m.st.dropped_unsuitable;
    return;
  }
  if (m.config.sync) {
    m.reap();
    CompiledRegion r = m.compile(std::move(spec));
    m.install(r);
    return;
  }
  if (m.config.install_clock) {
    if (m.due.size() >= m.config.max_queue) {
      std::lock_guard<std::mutex> lock(m.stats_mu);
      ++m.st.dropped_queue_full;
      return;
    }
    m.due.push_back(*m.config.install_clock + m.config.install_delay);
  }
  for (const RegionBlock& rb : spec.blocks) spec.queued.push_back(rb.phys);
  const std::vector<uint32_t> queued = spec.queued;
  if (m.submit(std::move(spec)))
    for (uint32_t phys : queued) ++m.queued_blocks[phys];
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
    if (requests.size() >= config.max_queue) {
      std::lock_guard<std::mutex> slock(stats_mu);
      ++st.dropped_queue_full;
      return false;
    }
    requests.push_back(std::move(spec));
    // Deterministic installation counts what the CPU thread knows (not the thread's progress).
    depth = config.install_clock ? due.size() : requests.size() + in_flight;
  }
  req_cv.notify_one();
  std::lock_guard<std::mutex> lock(stats_mu);
  st.queue_high_water = std::max<uint64_t>(st.queue_high_water, depth);
  return true;
}

void Translator::poll() {
  Impl& m = *impl_;
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
  if (m.worker.joinable()) {
    std::unique_lock<std::mutex> lock(m.req_mu);
    m.idle_cv.wait(lock, [&m] { return m.requests.empty() && m.in_flight == 0; });
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
    std::lock_guard<std::mutex> lock(stats_mu);
    ++(st.*counter);
  };
  if (!r.entry) return drop(&TranslatorStats::compile_failures);
  auto* entry = static_cast<DecodedBlock*>(cache.find(s.entry_phys, s.mode));
  if (cache.page_version(s.entry_phys / kPage) != s.page_version || !entry || entry->native)
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
  region->links = std::move(r.links);
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
  const uint32_t cs_base = s.entry_lin - s.blocks[0].eip;
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
  if (perf_map) {
    std::fprintf(perf_map, "%lx %lx %s\n", static_cast<unsigned long>(r.entry),
                 static_cast<unsigned long>(r.code_bytes ? r.code_bytes : 1),
                 RegionCompiler::function_name(s).c_str());
    std::fflush(perf_map);
  }
  std::lock_guard<std::mutex> lock(stats_mu);
  ++st.regions_installed;
}

// ---- compile thread -------------------------------------------------------------------------

void Translator::Impl::compile_loop() {
  for (;;) {
    RegionSpec spec;
    {
      std::unique_lock<std::mutex> lock(req_mu);
      req_cv.wait(lock, [this] { return stopping || !requests.empty(); });
      if (stopping) return;
      spec = std::move(requests.front());
      requests.pop_front();
      ++in_flight;
    }
    reap();
    CompiledRegion r = compile(std::move(spec));
    if (!r.cancelled) {
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

CompiledRegion Translator::Impl::compile(RegionSpec spec) {
  const auto t0 = std::chrono::steady_clock::now();
  const size_t keep = compiler->blocks_within(spec, config.max_region_weight);
  if (keep < spec.blocks.size()) {
    spec.blocks.resize(keep);
    spec.lines = 0;
    for (const RegionBlock& b : spec.blocks) spec.lines |= line_bits(b.phys, b.phys + b.bytes);
    std::lock_guard<std::mutex> lock(stats_mu);
    ++st.regions_trimmed;
  }
  compiler->mark_entries(spec);
  CompiledRegion r;
  RegionCompiler::Output out;
  std::string error;
  const bool dump = !config.dump_dir.empty();
  if (compiler->compile(spec, dump, out, &error, &cancel)) {
    const std::string name = out.name;
    if (dump) {
      std::ofstream(config.dump_dir + "/" + name + ".pre.ll") << out.ir_before;
      std::ofstream(config.dump_dir + "/" + name + ".ll") << out.ir;
      std::ofstream(config.dump_dir + "/" + name + ".s") << out.assembly;
    }
    if (!engine->add(std::move(out.object), name, &r.entry, &r.tracker, &error)) r.entry = 0;
  }
  r.error = error;
  r.code_bytes = out.code_bytes;
  r.inlined_insns = out.inlined_insns;
  r.links = std::move(out.links);
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
    compile_us.push_back(r.compile_us);
  }
  r.spec = std::move(spec);
  return r;
}

SemanticsReport semantics_report() {
  llvm::LLVMContext ctx;
  Semantics sem(ctx);
  SemanticsReport r;
  for (const Semantics::Family& f : sem.families()) {
    SemanticsReport::Family out{f.name, uint32_t(f.handlers.size()), 0, {}};
    for (const Semantics::Handler* h : f.handlers) {
      if (h->inlinable) ++out.inlinable;
      else out.not_inlinable.push_back(llvm::demangle(h->name));
    }
    r.families.push_back(std::move(out));
  }
  return r;
}

TranslatorStats Translator::stats(bool percentiles) const {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.stats_mu);
  TranslatorStats s = m.st;
  if (percentiles && !m.compile_us.empty()) {
    std::vector<double> v = m.compile_us;
    std::sort(v.begin(), v.end());
    s.compile_us_mean = s.compile_us_total / double(v.size());
    s.compile_us_p50 = v[v.size() / 2];
    s.compile_us_p99 = v[std::min(v.size() - 1, size_t(double(v.size()) * 0.99))];
  }
  return s;
}

}  // namespace softcpu
