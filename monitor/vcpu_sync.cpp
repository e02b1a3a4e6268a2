#include "monitor/vcpu_sync.h"

#include "cache/block_cache.h"
#include "interp/memory.h"
#include "interp/tlb.h"

namespace softcpu {

namespace {
thread_local int t_current_cpu = -1;
}

struct VcpuSync::PerCpu final : SmpHooks {
  VcpuSync* sync = nullptr;
  Cpu* cpu = nullptr;
  std::atomic<uint8_t>* attention = nullptr;
  std::function<void()> wake;
  std::mutex mu;  // work, and the wait's condition
  std::condition_variable cv;
  struct Job {
    std::function<void(Cpu&)> fn;
    Work kind;
  };
  std::vector<Job> work;
  std::atomic<bool> has_work{false};
  bool running = false;  // inside exec_start .. exec_end (VcpuSync::mu_)
  bool free = false;     // not held by hold() (set_free)

  void start_exclusive() override { sync->start_exclusive(index, true); }
  void end_exclusive() override { sync->end_exclusive(index, true); }

  // Other CPUs whose decoded code holds the written lines drop it at their next boundary;
  // the written bytes are visible to them before they decode again (SDM vol.3 8.1.3: a
  // cross-modifying writer and the executing processor synchronise, which orders it).
  void code_written(uint32_t phys, uint32_t len) override {
    const uint32_t page = phys / PAGE_SIZE;
    const unsigned first = (phys % PAGE_SIZE) >> CODE_LINE_SHIFT;
    const unsigned last = ((phys + len - 1) % PAGE_SIZE) >> CODE_LINE_SHIFT;
    const uint64_t touched = (1ull << first) | (1ull << last);
    for (unsigned k = 0; k < sync->size(); ++k) {
      if (k == index || !(sync->mem_.cpu_code_lines(k, page) & touched)) continue;
      sync->post(k, [phys, len](Cpu& c) {
        c.cache->invalidate(phys, len);
        note_code_lines(c, phys / PAGE_SIZE);
      });
    }
  }

  void code_page_added(uint32_t page) override {
    for (unsigned k = 0; k < sync->size(); ++k)
      if (k != index) sync->post(k, [page](Cpu& c) { tlb_drop_write_page(c, page); });
  }
};

VcpuSync::VcpuSync(PhysicalMemory& mem) : mem_(mem) {}
VcpuSync::~VcpuSync() = default;

int VcpuSync::current() { return t_current_cpu; }
void VcpuSync::set_current(int k) { t_current_cpu = k; }

void VcpuSync::add_cpu(Cpu& cpu, std::atomic<uint8_t>* attention, std::function<void()> wake) {
  auto p = std::make_unique<PerCpu>();
  p->sync = this;
  p->cpu = &cpu;
  p->index = unsigned(cpus_.size());
  p->attention = attention;
  p->wake = std::move(wake);
  cpu.smp = p.get();
  cpus_.push_back(std::move(p));
}

SmpHooks& VcpuSync::hooks(unsigned k) { return *cpus_[k]; }

void VcpuSync::kick(unsigned k) {
  PerCpu& p = *cpus_[k];
  // The flag before events (Interpreter::set_attention): a seq_cst exchange orders them as a
  // fence would (GCC refuses atomic_thread_fence under -fsanitize=thread).
  p.attention->exchange(1, std::memory_order_seq_cst);
  p.cpu->events = 1;
  {
    std::lock_guard lock(p.mu);  // a waiter checks the flag under it: no lost wake-up
  }
  p.cv.notify_all();
  if (p.wake) p.wake();
}

void VcpuSync::post(unsigned k, std::function<void(Cpu&)> fn, Work w) {
  PerCpu& p = *cpus_[k];
  {
    std::lock_guard lock(p.mu);
    p.work.push_back({std::move(fn), w});
    p.has_work.store(true, std::memory_order_release);
  }
  kick(k);
}

void VcpuSync::each(const std::function<void(Cpu&)>& fn, Work w) {
  const int self = current();
  for (unsigned k = 0; k < cpus_.size(); ++k) {
    if (int(k) == self) fn(*cpus_[k]->cpu);
    else post(k, fn, w);
  }
}

void VcpuSync::drop_reset_work() {
  for (auto& p : cpus_) {
    std::lock_guard lock(p->mu);
    std::erase_if(p->work, [](const PerCpu::Job& j) { return j.kind == Work::DROPPED_BY_RESET; });
    p->has_work.store(!p->work.empty(), std::memory_order_release);
  }
}

void VcpuSync::begin_pass(unsigned k) {
  PerCpu& p = *cpus_[k];
  p.attention->exchange(0, std::memory_order_seq_cst);  // cleared before the work is looked at
  if (!p.has_work.load(std::memory_order_acquire)) return;
  std::vector<PerCpu::Job> work;
  {
    std::lock_guard lock(p.mu);
    work.swap(p.work);
    p.has_work.store(false, std::memory_order_relaxed);
  }
  for (auto& j : work) j.fn(*p.cpu);
}

void VcpuSync::wait(unsigned k, std::chrono::milliseconds timeout) {
  PerCpu& p = *cpus_[k];
  std::unique_lock lock(p.mu);
  p.cv.wait_for(lock, timeout, [&] { return p.attention->load(std::memory_order_relaxed) != 0; });
}

void VcpuSync::exec_start(unsigned k) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !exclusive_ && (!held_ || cpus_[k]->free); });
  cpus_[k]->running = true;
  ++running_;
}

void VcpuSync::exec_end(unsigned k) {
  std::lock_guard lock(mu_);
  cpus_[k]->running = false;
  --running_;
  if (exclusive_ || held_) cv_.notify_all();
}

void VcpuSync::start_exclusive(unsigned k, bool inside) {
  std::unique_lock lock(mu_);
  if (inside) {  // while waiting this CPU counts as out of guest code
    cpus_[k]->running = false;
    --running_;
    cv_.notify_all();
  }
  cv_.wait(lock, [&] { return !exclusive_; });
  exclusive_ = true;
  for (unsigned j = 0; j < cpus_.size(); ++j)
    if (j != k && cpus_[j]->running) kick(j);
  cv_.wait(lock, [&] { return running_ == 0; });
}

void VcpuSync::end_exclusive(unsigned k, bool inside) {
  std::lock_guard lock(mu_);
  exclusive_ = false;
  if (inside) {
    cpus_[k]->running = true;
    ++running_;
  }
  cv_.notify_all();
}

void VcpuSync::hold(bool on) {
  std::unique_lock lock(mu_);
  held_ = on;
  if (!on) {
    cv_.notify_all();
    return;
  }
  // A CPU in an exclusive section runs guest code though it does not count as running; one
  // that leaves it counts again and must be kicked then.
  // Free CPUs (set_free) are not held: they may be in guest code meanwhile.
  for (;;) {
    bool busy = exclusive_;
    for (unsigned j = 0; j < cpus_.size(); ++j)
      if (cpus_[j]->running && !cpus_[j]->free) {
        busy = true;
        kick(j);
      }
    if (!busy) return;
    cv_.wait(lock);
  }
}

void VcpuSync::set_free(unsigned k) {
  std::lock_guard lock(mu_);
  cpus_[k]->free = true;
}

bool VcpuSync::has_work(unsigned k) const {
  return cpus_[k]->has_work.load(std::memory_order_acquire);
}

}  // namespace softcpu
