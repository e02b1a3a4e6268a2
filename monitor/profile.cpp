#include "monitor/profile.h"

#include <algorithm>
#include <cinttypes>

#include "interp/block.h"
#include "interp/tlb.h"
#include "monitor/symbols.h"

namespace softcpu {

namespace {

uint64_t key_of(uint32_t phys, uint32_t mode) { return (uint64_t(mode) << 32) | phys; }

}  // namespace

Sampler::Sampler(Cpu& cpu) : cpu_(cpu), thread_([this] { run(); }) {}

Sampler::~Sampler() { stop(); }

void Sampler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// The timer: a request per period, the way a device raises an interrupt line. Cpu::events is
// the CPU thread's; this byte store may be lost to the CPU thread's own recomputation of it
// (refresh_events), and then the request waits for the next return to the monitor (poll).
void Sampler::run() {
  std::unique_lock<std::mutex> lock(mu_);
  auto next = std::chrono::steady_clock::now() + kPeriod;
  while (!cv_.wait_until(lock, next, [this] { return stopping_; })) {
    pending_.fetch_add(1, std::memory_order_relaxed);
    cpu_.events = 1;  // a relaxed atomic store (interp/cpu.h EventFlag)
    next += kPeriod;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + kPeriod;  // the host stalled us: no burst of catch-up ticks
  }
}

void Sampler::record(Cpu& c) {
  const uint32_t n = pending_.exchange(0, std::memory_order_relaxed);
  if (!n) return;
  total_ += n;
  const uint32_t lin = c.seg[CS].base + c.eip;
  uint32_t phys;
  if (!(c.cr0 & CR0_PG)) {
    phys = a20_mask(c, lin);
  } else if (!try_translate(c, lin, ACCESS_FETCH, phys)) {
    unmapped_ += n;
    return;
  }
  Site& s = sites_[key_of(phys, c.mode_key)];
  s.lin = lin;
  s.count += n;
}

void Sampler::poll(Cpu& c, bool halted) {
  if (!pending_.load(std::memory_order_relaxed)) return;
  if (halted) {
    const uint32_t n = pending_.exchange(0, std::memory_order_relaxed);
    total_ += n;
    halted_ += n;
  } else {
    record(c);
  }
}

// The one place the profile meets the cache: live blocks give length, executions and tier;
// samples are added by key (a sampled key with no live block is a row of its own); the
// cache's history of each key adds its earlier translations.
std::vector<ProfileRow> join_profile(const BlockCache& cache, const Sampler& sampler) {
  std::vector<ProfileRow> rows;
  std::unordered_map<uint64_t, size_t> index;
  cache.for_each_block([&](const CachedBlock& cb) {
    const DecodedBlock& b = static_cast<const DecodedBlock&>(cb);
    ProfileRow r;
    r.lin = b.lin;
    r.phys = b.phys;
    r.mode = b.mode;
    r.bytes = b.bytes;
    r.insns = uint32_t(b.insns.size());
    r.executions = b.executions;
    r.native_entries = b.native_entries;
    r.live = true;
    r.compiled = b.native != nullptr;
    index.emplace(key_of(b.phys, b.mode), rows.size());
    rows.push_back(r);
  });
  for (const auto& [key, site] : sampler.sites()) {
    auto [it, added] = index.emplace(key, rows.size());
    if (added) {
      ProfileRow r;
      r.lin = site.lin;
      r.phys = uint32_t(key);
      r.mode = uint32_t(key >> 32);
      rows.push_back(r);
    }
    rows[it->second].samples += site.count;
  }
  // Earlier translations of each key (the cache's per-key history).
  for (ProfileRow& r : rows) {
    if (const KeyHistory* h = cache.history(r.phys, r.mode)) {
      r.translated = h->translated;
      r.evicted = h->evicted;
      r.invalidated = h->invalidated;
      r.executions += h->executions_retired;
    }
  }
  return rows;
}

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (uint8_t(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(uint8_t(ch)));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

const char* tier_name(const ProfileRow& r) {
  return !r.live ? "gone" : r.compiled ? "region" : "block";
}

const char kHowMeasured[] =
    "executions: times the run loop entered the block (interpreted runs plus entries of "
    "compiled code at it); blocks run inside a compiled region, chained without returning "
    "to the run loop, are not counted, so with the JIT on they undercount. samples: every "
    "1 ms of host wall time a sampler thread sets Cpu::events and the block about to run at "
    "the next block boundary gets the sample (all the periods since the last one); share = samples / samples taken while the CPU "
    "ran. tier: block = interpreted, region = compiled code is entered here, gone = no "
    "translation live at exit. Per key (physical address, mode): executions add up all its "
    "translations (a block whose compiled region was retired counts from zero again), "
    "translated/evicted count them and their evictions.";

}  // namespace

void write_profile(FILE* out, bool json, const ProfileHeader& h, std::vector<ProfileRow> rows,
                   const Sampler& sampler, unsigned top, const SymbolTable* symbols) {
  const uint64_t running = sampler.total() - sampler.halted();
  auto share = [&](const ProfileRow& r) { return running ? 100.0 * double(r.samples) / double(running) : 0.0; };
  auto symbol = [&](const ProfileRow& r) { return symbols ? symbols->describe(r.lin) : std::string(); };

  std::vector<ProfileRow> by_exec = rows;
  std::sort(by_exec.begin(), by_exec.end(), [](const ProfileRow& a, const ProfileRow& b) {
    return a.executions != b.executions ? a.executions > b.executions : a.lin < b.lin;
  });
  if (by_exec.size() > top) by_exec.resize(top);
  std::vector<ProfileRow> by_time;
  for (const ProfileRow& r : rows)
    if (r.samples) by_time.push_back(r);
  std::sort(by_time.begin(), by_time.end(), [](const ProfileRow& a, const ProfileRow& b) {
    return a.samples != b.samples ? a.samples > b.samples : a.lin < b.lin;
  });
  if (by_time.size() > top) by_time.resize(top);

  if (json) {
    auto emit = [&](const char* name, const std::vector<ProfileRow>& list, bool last) {
      std::fprintf(out, "  \"%s\": [", name);
      for (size_t k = 0; k < list.size(); ++k) {
        const ProfileRow& r = list[k];
        const std::string sym = symbol(r);
        std::fprintf(out,
                     "%s\n    {\"linear\": %u, \"physical\": %u, \"mode\": %u, \"bytes\": %u, "
                     "\"insns\": %u, \"executions\": %" PRIu64 ", \"region_entries\": %" PRIu64
                     ", \"tier\": \"%s\", \"translated\": %" PRId64 ", \"evicted\": %" PRId64
                     ", \"invalidated\": %" PRId64
                     ", \"samples\": %" PRIu64 ", \"share_percent\": %.4f, \"symbol\": %s}",
                     k ? "," : "", r.lin, r.phys, r.mode, r.bytes, r.insns, r.executions,
                     r.native_entries, tier_name(r), r.translated, r.evicted, r.invalidated, r.samples,
                     share(r), sym.empty() ? "null" : json_string(sym).c_str());
      }
      std::fprintf(out, "%s]%s\n", list.empty() ? "" : "\n  ", last ? "" : ",");
    };
    std::fprintf(out,
                 "{\n  \"guest\": %s,\n  \"jit\": %s,\n  \"wall_seconds\": %.3f,\n"
                 "  \"instructions\": %" PRIu64 ",\n  \"translations\": %zu,\n"
                 "  \"sample_period_us\": %lld,\n  \"samples\": {\"total\": %" PRIu64
                 ", \"running\": %" PRIu64 ", \"halted\": %" PRIu64 ", \"unmapped\": %" PRIu64
                 "},\n  \"how_measured\": %s,\n",
                 json_string(h.guest).c_str(), h.jit ? "true" : "false", h.wall_seconds,
                 h.instructions, rows.size(), (long long)Sampler::kPeriod.count(),
                 sampler.total(), running, sampler.halted(), sampler.unmapped(),
                 json_string(kHowMeasured).c_str());
    emit("by_executions", by_exec, false);
    emit("by_samples", by_time, true);
    std::fprintf(out, "}\n");
    return;
  }

  std::fprintf(out, "# softcpu hot-code profile of %s (tier 1 %s): %.3f s wall, %" PRIu64
               " instructions, %zu translations\n",
               h.guest.c_str(), h.jit ? "on" : "off", h.wall_seconds, h.instructions, rows.size());
  std::fprintf(out, "# samples: %" PRIu64 " (%" PRIu64 " while running, %" PRIu64
               " halted, %" PRIu64 " at unmapped code), requested every %lld us of host wall time\n",
               sampler.total(), running, sampler.halted(), sampler.unmapped(),
               (long long)Sampler::kPeriod.count());
  // The explanation, wrapped.
  std::string how = kHowMeasured;
  while (!how.empty()) {
    size_t cut = how.size() <= 94 ? how.size() : how.rfind(' ', 94);
    std::fprintf(out, "# %s\n", how.substr(0, cut).c_str());
    how.erase(0, cut == how.size() ? cut : cut + 1);
  }
  auto table = [&](const char* title, const std::vector<ProfileRow>& list) {
    std::fprintf(out, "\n## top %u by %s\n", top, title);
    std::fprintf(out, "%4s %-10s %-10s %5s %5s %12s %14s %-6s %10s %7s %8s %7s  %s\n", "rank",
                 "linear", "physical", "bytes", "insns", "executions", "region_entries", "tier",
                 "translated", "evicted", "samples", "share", "symbol");
    for (size_t k = 0; k < list.size(); ++k) {
      const ProfileRow& r = list[k];
      const std::string sym = symbol(r);
      char tr[24] = "-", ev[24] = "-";
      if (r.translated >= 0) std::snprintf(tr, sizeof tr, "%" PRId64, r.translated);
      if (r.evicted >= 0) std::snprintf(ev, sizeof ev, "%" PRId64, r.evicted);
      std::fprintf(out, "%4zu 0x%08x 0x%08x %5u %5u %12" PRIu64 " %14" PRIu64 " %-6s %10s %7s %8"
                   PRIu64 " %6.2f%%  %s\n",
                   k + 1, r.lin, r.phys, r.bytes, r.insns, r.executions, r.native_entries,
                   tier_name(r), tr, ev, r.samples, share(r), sym.empty() ? "-" : sym.c_str());
    }
  };
  table("executions", by_exec);
  table("samples (time)", by_time);
}

}  // namespace softcpu
