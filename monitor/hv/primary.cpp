#include "monitor/hv/primary.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <stdexcept>

#include "interp/memory.h"
#include "interp/tlb.h"
#include "monitor/hv/commands.h"

#include "monitor/hv/devices.h"
#include "monitor/machine.h"
#include "monitor/pc_platform.h"

namespace softcpu::hv {

namespace {

constexpr uint32_t kPage = 4096;

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIu64 " KiB", bytes >> 10);
  return buf;
}

}  // namespace

const char* state_name(PartitionState s) {
  switch (s) {
    case PartitionState::STOPPED: return "stopped";
    case PartitionState::RUNNING: return "running";
    case PartitionState::POWERED_OFF: return "powered-off";
    case PartitionState::FAULTED: return "triple-faulted";
    case PartitionState::EXITED: return "exited";
  }
  return "?";
}

Partition::Partition(const PartitionConfig& config, unsigned id)
    : config_(config), id_(id) {}

Partition::~Partition() = default;

uint64_t Partition::stage2_violations() const { return mem_ ? mem_->stage2_violations : 0; }

// Machine memory: what the file says, or enough for every static region and pool.
static uint64_t machine_bytes(const SystemConfig& c) {
  if (c.machine_memory) return c.machine_memory;
  uint64_t sum = 0;
  for (const auto& p : c.partitions)
    for (const auto& r : p.memory)
      if (!r.dynamic) sum += r.size;
  for (const auto& pool : c.pools) sum += pool.size;
  for (const auto& sr : c.shared) sum += sr.size;
  return sum ? sum : kPage;
}

static MachineMemory make_memory(const SystemConfig& c) {
  try {
    return MachineMemory(machine_bytes(c));
  } catch (const std::runtime_error& e) {
    throw ConfigError{e.what()};
  }
}

// Host threads a partition takes while it runs: its vCPUs with vcpu_threads = "multi"
// (docs/design.md "SMP partitions on a processor set"), else one.
// The vCPUs the secondary schedules ([partition.secondary]) take none of the set's threads.
static unsigned threads_taken(const PartitionConfig& p) {
  if (!p.machine.smp_threads || p.vcpus < 2) return 1;
  return std::max(1u, p.vcpus - (p.split ? unsigned(p.split->vcpus.size()) : 0u));
}

// The primary's processor set: the threads of the set its hypervisor names, and its slice. A
// system built in code without hypervisors (or naming no set) gets a thread per partition.
static std::unique_ptr<Scheduler> make_primary_scheduler(const SystemConfig& c) {
  for (const auto& h : c.hypervisors) {
    if (h.kind != HypervisorKind::PRIMARY || h.processor_set.empty()) continue;
    for (const auto& set : c.processor_sets)
      if (set.name == h.processor_set)
        return std::make_unique<ProcessorSetScheduler>(set.name, set.threads, h.time_slice_us);
    throw ConfigError{"hypervisor '" + h.name + "': no processor set named '" + h.processor_set + "'"};
  }
  unsigned n = 0;
  for (const auto& p : c.partitions) {
    bool secondary = false;
    for (const auto& h : c.hypervisors)
      if (h.name == p.hypervisor) secondary = h.kind == HypervisorKind::SECONDARY;
    n += secondary ? 0 : threads_taken(p);
  }
  return std::make_unique<ProcessorSetScheduler>("default", std::max(n, 1u), 10000);
}

// A partition's CPU mailbox got a job or a wake: its processor set looks at it again.
void PrimaryHypervisor::wake_hook(void* partition) {
  auto* p = static_cast<Partition*>(partition);
  if (p->wake_scheduler_) p->wake_scheduler_->wake(p->id_);
}

// A split partition's devices' next deadline came closer while CPU 0's thread is off its
// slice: an idle one's wake time is looked at again (Machine::set_recheck_hook).
void PrimaryHypervisor::recheck_hook(void* partition) {
  auto* p = static_cast<Partition*>(partition);
  if (p->wake_scheduler_) p->wake_scheduler_->recheck(p->id_);
}

PrimaryHypervisor::PrimaryHypervisor(const SystemConfig& config)
    : config_(config), memory_(make_memory(config)), scheduler_(make_primary_scheduler(config)) {
  for (const auto& pc : config_.pools) {
    if (pc.size == 0 || pc.size % kPage)
      throw ConfigError{"memory pool '" + pc.name + "': the size must be a positive multiple of 4 KiB"};
    const auto first = memory_.allocate(uint32_t(pc.size / kPage));
    if (!first)
      throw ConfigError{"memory pool '" + pc.name + "' (" + mib(pc.size) +
                        ") does not fit in the machine memory left"};
    Pool pool{pc.name, {}};
    for (uint32_t k = 0; k < pc.size / kPage; ++k) pool.free.push_back(*first + k);
    std::reverse(pool.free.begin(), pool.free.end());  // hand out from the lowest page
    pools_.push_back(std::move(pool));
  }
  // Shared regions: contiguous machine pages each, zeroed (fresh from the mapping), mapped into
  // each partition that names them by build_partition.
  for (const auto& sr : config_.shared) {
    if (sr.size == 0 || sr.size % kPage)
      throw ConfigError{"shared region '" + sr.name + "': the size must be a positive multiple of 4 KiB"};
    for (const auto& m : sr.maps)
      if (std::none_of(config_.partitions.begin(), config_.partitions.end(),
                       [&](const PartitionConfig& p) { return p.name == m.partition; }))
        throw ConfigError{"shared region '" + sr.name + "' is mapped into unknown partition '" +
                          m.partition + "'"};
    const auto first = memory_.allocate(uint32_t(sr.size / kPage));
    if (!first)
      throw ConfigError{"shared region '" + sr.name + "' (" + mib(sr.size) +
                        ") does not fit in the machine memory left"};
    shared_.push_back({sr.name, *first});
  }
  if (config_.partitions.empty()) throw ConfigError{"the system has no partition"};
  for (size_t k = 0; k < config_.partitions.size(); ++k)
    build_partition(config_.partitions[k], unsigned(k));
}

PrimaryHypervisor::~PrimaryHypervisor() {
  for (auto& p : partitions_) {
    p->stop_requested_ = true;
    if (p->machine_) p->machine_->request_exit(0);
    if (!on_secondary(*p) || secondary_) scheduler_for(*p).join(p->id_);
  }
  // The secondary now, while mu_ and stopped_cv_ live: a guest's partition request runs on a
  // thread of the secondary's, which may have joined a partition's thread (so the loop above
  // had none to join) and may still be in stop() or start(); its destructor joins them. Left to
  // the members' destruction it went after mu_ and stopped_cv_ (ThreadSanitizer: the cv
  // destroyed while such a thread's on_stopped had just broadcast it, hv.secondary). Destroyed
  // with secondary_ still pointing at it: such a thread reads secondary_ in stop() until the
  // secondary's destructor has joined it, and reset() wrote the pointer first (TSan, in the
  // first whole `make test-tsan`: that write against stop()'s read, hv.secondary). Once the
  // destructor has returned no thread is left to read it.
  if (Scheduler* s = secondary_.get()) {
    delete s;
    (void)secondary_.release();
  }
}

bool PrimaryHypervisor::on_secondary(const Partition& p) const {
  for (const auto& h : config_.hypervisors)
    if (h.name == p.config_.hypervisor) return h.kind == HypervisorKind::SECONDARY;
  return false;
}

Scheduler& PrimaryHypervisor::scheduler_for(const Partition& p) {
  if (!on_secondary(p)) return *scheduler_;
  if (!secondary_)
    throw HvError{"partition '" + p.name() + "' runs on the secondary hypervisor, which is not "
                  "attached"};
  return *secondary_;
}

void PrimaryHypervisor::attach_secondary(std::unique_ptr<Scheduler> secondary) {
  secondary_ = std::move(secondary);
}

uint32_t PrimaryHypervisor::pool_page(const std::string& name) {
  for (auto& pool : pools_) {
    if (pool.name != name) continue;
    if (pool.free.empty()) return UINT32_MAX;
    const uint32_t page = pool.free.back();
    pool.free.pop_back();
    return page;
  }
  return UINT32_MAX;
}

void PrimaryHypervisor::build_partition(const PartitionConfig& given, unsigned id) {
  // The devices its disks, serial port and debug consoles give it (a configuration built in
  // code may not have listed them), each with its interrupt route.
  PartitionConfig pc = given;
  assign_devices(&pc, false);
  const std::string who = "partition '" + pc.name + "'";
  if (pc.vcpus > kMaxCpus)
    throw ConfigError{who + ": " + std::to_string(pc.vcpus) + " vCPUs asked for; a partition has "
                      "at most " + std::to_string(kMaxCpus) + " (they run round-robin on its thread)"};
  if (pc.machine.smp_threads) {
    if (pc.vcpus < 2)
      throw ConfigError{who + ": vcpu_threads = \"multi\" needs vcpus of 2 or more"};
    // A thin partition of the secondary runs its vCPUs on up to `vcpus` of the secondary's
    // workers at once (docs/design.md "A thin partition on several workers").
    const bool secondary = std::any_of(
        config_.hypervisors.begin(), config_.hypervisors.end(), [&](const HypervisorConfig& h) {
          return h.name == pc.hypervisor && h.kind == HypervisorKind::SECONDARY;
        });
    const auto* set = dynamic_cast<const ProcessorSetScheduler*>(scheduler_.get());
    if (!secondary && set && set->threads() < threads_taken(pc))
      throw ConfigError{who + ": vcpu_threads = \"multi\" runs " + std::to_string(threads_taken(pc)) +
                        " vCPUs on as many threads of processor set '" +
                        set->set_name() + "', which has " + std::to_string(set->threads())};
  }
  check_split(pc);
  auto p = std::unique_ptr<Partition>(new Partition(pc, id));
  p->table_.reset(new Stage2Table());
  // Regions: page aligned, inside 4 GiB, not overlapping (its shared maps included); the
  // static one at 0 is its RAM.
  std::vector<MemoryRegionConfig> regions = pc.memory;
  std::vector<std::pair<const SharedMapConfig*, size_t>> shared_maps;  // with the index in shared_
  for (size_t k = 0; k < config_.shared.size(); ++k)
    for (const auto& m : config_.shared[k].maps)
      if (m.partition == pc.name) {
        shared_maps.emplace_back(&m, k);
        regions.push_back({m.guest_base, config_.shared[k].size, false, "", m.line});
      }
  const MemoryRegionConfig* low = nullptr;
  for (size_t a = 0; a < regions.size(); ++a) {
    const auto& r = regions[a];
    if (r.size == 0 || r.size % kPage || r.guest_base % kPage || r.guest_base + r.size > (1ull << 32))
      throw ConfigError{who + ": a memory region must be page aligned, non-empty and below 4 GiB"};
    for (size_t b = 0; b < a; ++b) {
      const auto& o = regions[b];
      if (r.guest_base < o.guest_base + o.size && o.guest_base < r.guest_base + r.size)
        throw ConfigError{who + ": memory regions overlap"};
    }
    if (a >= pc.memory.size()) continue;  // a shared map
    if (!r.dynamic && r.guest_base == 0) low = &pc.memory[a];
    if (r.dynamic && std::none_of(pools_.begin(), pools_.end(),
                                  [&](const Pool& pool) { return pool.name == r.pool; }))
      throw ConfigError{who + ": no memory pool named '" + r.pool + "'"};
  }
  if (!low) throw ConfigError{who + ": needs a static memory region at guest-physical 0"};
  if (low->size < (1u << 20) || low->size > (3072ull << 20))
    throw ConfigError{who + ": its RAM at 0 must be between 1 and 3072 MiB"};

  // Static regions: contiguous machine pages each.
  std::vector<std::pair<const MemoryRegionConfig*, uint32_t>> placed;
  for (const auto& r : pc.memory) {
    if (r.dynamic) continue;
    const auto first = memory_.allocate(uint32_t(r.size / kPage));
    if (!first)
      throw ConfigError{who + ": " + mib(r.size) + " of RAM does not fit in the machine memory "
                        "left (" + mib(uint64_t(memory_.free_pages()) * kPage) + ")"};
    placed.emplace_back(&r, *first);
  }
  uint32_t low_first = 0;
  for (auto& [r, first] : placed)
    if (r == low) low_first = first;
  ExternalRam ext{memory_.base(), memory_.bytes(), memory_.host(low_first)};
  auto mem = std::make_unique<PhysicalMemory>(uint32_t(low->size), ext);
  p->mem_ = mem.get();
  for (auto& [r, first] : placed)
    for (uint32_t k = 0; k < r->size / kPage; ++k) map_now(*p, uint32_t(r->guest_base / kPage) + k, first + k, S2_RWX);
  // Shared regions: the same machine pages as in every other partition that maps them, with
  // this partition's rights.
  for (const auto& [m, k] : shared_maps) {
    const uint8_t perms = uint8_t(m->perms | S2_R);
    for (uint32_t j = 0; j < config_.shared[k].size / kPage; ++j)
      map_now(*p, uint32_t(m->guest_base / kPage) + j, shared_[k].first + j, perms);
  }
  // Dynamic regions: pages of their pool while it has some.
  for (const auto& r : pc.memory) {
    if (!r.dynamic) continue;
    for (uint32_t k = 0; k < r.size / kPage; ++k) {
      const uint32_t m = pool_page(r.pool);
      if (m == UINT32_MAX) break;
      map_now(*p, uint32_t(r.guest_base / kPage) + k, m, S2_RWX);
    }
  }

  MachineConfig mc = pc.machine;
  mc.cpus = pc.vcpus;  // -smp: round-robin on the partition's one thread, or vcpu_threads
  mc.ram_mib = uint32_t(low->size >> 20);
  mc.reset_on_triple_fault = false;  // a partition that triple-faults stops alone
  mc.view = device_view(pc);  // only its devices and memory; the rest of the PC is concealed
  // Its other memory in the e820 maps (ACPI 6.4 15.1, table 15.312): a static region is RAM
  // (AddressRangeMemory) for the OS to use; a shared region and a dynamic one are reserved
  // (AddressRangeReserved): the OS must not hand them out as general RAM (another partition
  // writes a shared page; lent pages come and go), a driver that knows them maps them.
  for (const auto& r : pc.memory)
    if (&r != low) mc.view.extra_memory.push_back({r.guest_base, r.size, r.dynamic ? E820_RESERVED : E820_RAM});
  for (const auto& [m, k] : shared_maps)
    mc.view.extra_memory.push_back({m->guest_base, config_.shared[k].size, E820_RESERVED});
  p->machine_ = std::make_unique<Machine>(mc, std::move(mem));
  Partition* self = p.get();
  if (!on_secondary(*p)) {  // (a split partition's CPU 0 is the primary's: its wakes too)
    p->wake_scheduler_ = scheduler_.get();
    p->machine_->set_wake_hook(&PrimaryHypervisor::wake_hook, self);
    if (p->config_.split) p->machine_->set_recheck_hook(&PrimaryHypervisor::recheck_hook, self);
    // A gang lends the thread of a halted vCPU to the set (docs/design.md "SMP partitions on a
    // processor set").
    if (threads_taken(p->config_) > 1)
      p->machine_->set_thread_use_hook(
          [sched = scheduler_.get(), id = p->id_](bool idle) { sched->thread_use(id, idle); });
  }
  p->machine_->set_hv_commands([this, self](std::string_view cmd, bool* handled) {
    return gdb_command(*self, cmd, handled);
  });
  partitions_.push_back(std::move(p));
}

// Both with the partition stopped or on its CPU thread (map()/unmap() arrange that).
void PrimaryHypervisor::map_now(Partition& p, uint32_t guest_page, uint32_t machine_page,
                                uint8_t perms) {
  p.table_->map(guest_page, machine_page, perms);
  if (p.machine_) p.machine_->drop_code_everywhere(guest_page * kPage, kPage);
  if (perms & S2_R)
    p.mem_->map_ram_page(Stage2Key(), guest_page, memory_.host(machine_page), perms & S2_W,
                         perms & S2_X);
  else
    p.mem_->unmap_ram_page(Stage2Key(), guest_page);
  if (p.machine_) p.machine_->flush_tlbs();  // every vCPU's
}

void PrimaryHypervisor::unmap_now(Partition& p, uint32_t guest_page) {
  // Decoded blocks and translations of the page go first (while its bytes are still there),
  // then the mapping, then every TLB entry of every vCPU (one may map the page under any
  // linear address).
  if (p.machine_) p.machine_->drop_code_everywhere(guest_page * kPage, kPage);
  p.table_->unmap(guest_page);
  p.mem_->unmap_ram_page(Stage2Key(), guest_page);
  if (p.machine_) p.machine_->flush_tlbs();  // every vCPU's
}

void PrimaryHypervisor::map(Partition& p, uint32_t guest_page, uint32_t machine_page,
                            uint8_t perms) {
  if (guest_page >= Stage2Table::GUEST_PAGES || machine_page >= memory_.pages())
    throw HvError{"stage-2 mapping out of range"};
  p.machine_->run_on_cpu_thread([&] { map_now(p, guest_page, machine_page, perms); });
}

void PrimaryHypervisor::unmap(Partition& p, uint32_t guest_page) {
  if (guest_page >= Stage2Table::GUEST_PAGES) throw HvError{"stage-2 mapping out of range"};
  p.machine_->run_on_cpu_thread([&] { unmap_now(p, guest_page); });
}

Partition& PrimaryHypervisor::partition(const std::string& name) {
  for (auto& p : partitions_)
    if (p->name() == name) return *p;
  throw HvError{"no partition named '" + name + "'"};
}

void PrimaryHypervisor::start(const std::string& name) {
  Partition& p = partition(name);
  Scheduler& sched = scheduler_for(p);
  if (p.config_.split && !secondary_)
    throw HvError{"partition '" + name + "' has vCPUs on the secondary hypervisor, which is not "
                  "attached"};
  {
    std::lock_guard lock(mu_);
    if (p.state_ == PartitionState::RUNNING) throw HvError{"partition '" + name + "' is running"};
    p.state_ = PartitionState::RUNNING;
    p.run_started_ = std::chrono::steady_clock::now();
  }
  sched.join(p.id_);  // the thread of its last run has ended
  p.stop_requested_ = false;
  p.stopped_by_guest_ = false;
  p.machine_->clear_exit_request();
  Machine* m = p.machine_.get();
  SchedulableVcpu v;
  v.name = name;
  v.run = [m] { return m->run(); };
  v.request_stop = [m] { m->request_exit(0); };
  v.begin = [m] { m->begin_run(); };
  v.slice = [m](SteadyTime) {  // its end: set_end, which the set calls before and during it
    const Machine::SliceEnd e = m->run_slice(true);
    return SliceResult{e.kind == Machine::SliceEnd::PREEMPTED ? SliceResult::PREEMPTED
                       : e.kind == Machine::SliceEnd::IDLE    ? SliceResult::IDLE
                                                              : SliceResult::STOPPED,
                       e.status, e.wake, e.empty};
  };
  v.end = [m](int status) { return m->end_run(status); };
  v.end_slice = [m] { m->end_slice(); };
  v.set_end = [m](SteadyTime end) { m->set_slice_end(end); };
  if (p.config_.split)  // its devices' deadlines may be met by the secondary's worker
    v.recheck_idle = [m](SteadyTime) { return m->recheck_idle(); };
  v.time_slice_us = p.config_.time_slice_us.value_or(0);
  v.threads = threads_taken(p.config_);
  sched.start(p.id_, std::move(v), [this, &p](int status) { on_stopped(p, status); });
}

void PrimaryHypervisor::on_stopped(Partition& p, int status) {
  std::lock_guard lock(mu_);
  p.run_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - p.run_started_).count();
  p.status_ = status;
  if (p.machine_->powered_off()) p.state_ = PartitionState::POWERED_OFF;
  else if (status == 3) p.state_ = PartitionState::FAULTED;
  else if (p.stop_requested_) p.state_ = PartitionState::STOPPED;
  else p.state_ = PartitionState::EXITED;
  std::fprintf(stderr, "softcpu: partition '%s' %s (status %d)\n", p.name().c_str(),
               state_name(p.state_), status);
  stopped_cv_.notify_all();
}

void PrimaryHypervisor::stop(const std::string& name) {
  Partition& p = partition(name);
  if (p.state_ == PartitionState::RUNNING) {
    p.stop_requested_ = true;
    p.machine_->request_exit(0);
  }
  if (!on_secondary(p) || secondary_) scheduler_for(p).join(p.id_);
}

void PrimaryHypervisor::reset(const std::string& name) {
  Partition& p = partition(name);
  const bool was_running = p.state_ == PartitionState::RUNNING;
  stop(name);
  p.machine_->reset();
  if (was_running || p.state_ != PartitionState::STOPPED) start(name);
}

bool PrimaryHypervisor::system_done() const {
  if (quit_) return true;
  const bool any_exit = std::any_of(partitions_.begin(), partitions_.end(),
                                    [](const auto& p) { return p->config_.exit_on_poweroff; });
  for (auto& p : partitions_) {
    if (!p->config_.exit_on_poweroff && any_exit) continue;
    // Running, or stopped by a monitor command (it may be started again): not done. One a
    // guest asked to stop (partition_request through the secondary) is done.
    if (p->state_ == PartitionState::RUNNING) return false;
    if (p->state_ == PartitionState::STOPPED && !p->stopped_by_guest_) return false;
  }
  return true;
}

int PrimaryHypervisor::run() {
  for (auto& p : partitions_)
    if (p->state_ != PartitionState::RUNNING) start(p->name());
  std::unique_lock lock(mu_);
  finished_ = false;  // quit_ stays: a quit asked before run() (a signal) ends it at once
  for (;;) {
    stopped_cv_.wait(lock, [&] { return !commands_.empty() || system_done(); });
    if (commands_.empty()) break;
    PendingCommand c = std::move(commands_.front());
    commands_.pop_front();
    lock.unlock();  // the commands take mu_ themselves (start, lend, ...)
    const std::string answer = execute_hv_command(*this, c.line);
    if (c.reply) c.reply(answer);
    lock.lock();
  }
  finished_ = true;
  const bool quit = quit_;
  quit_ = false;
  std::deque<PendingCommand> left;
  left.swap(commands_);
  lock.unlock();
  for (auto& c : left)
    if (c.reply) c.reply("the system is stopping\n");
  const bool any_exit = std::any_of(partitions_.begin(), partitions_.end(),
                                    [](const auto& p) { return p->config_.exit_on_poweroff; });
  for (auto& p : partitions_) stop(p->name());
  int status = 0;
  for (auto& p : partitions_) {
    if (!p->config_.exit_on_poweroff && any_exit) continue;
    if (quit && p->state_ == PartitionState::STOPPED) continue;  // stopped by `quit`
    if (p->state_ != PartitionState::POWERED_OFF) {
      status = p->status_ ? p->status_.load() : 1;
      break;
    }
  }
  // A --save-on-exit save that failed fails the system, however its partition ended: one that
  // powered off, was stopped by `quit` or by the system's end would otherwise count as done
  // (Machine::end_run reported the reason, without the partition's name).
  for (auto& p : partitions_)
    if (p->machine_->save_failed()) {
      if (!status) status = 1;
      std::fprintf(stderr, "softcpu: partition '%s': --save-on-exit failed; exit status %d\n",
                   p->name().c_str(), status);
    }
  return status;
}

void PrimaryHypervisor::post_command(std::string line,
                                     std::function<void(const std::string&)> reply) {
  {
    std::lock_guard lock(mu_);
    if (!finished_) {
      commands_.push_back({std::move(line), std::move(reply)});
      stopped_cv_.notify_all();
      return;
    }
  }
  if (reply) reply("the system is not running\n");
}

void PrimaryHypervisor::request_quit() {
  std::lock_guard lock(mu_);
  quit_ = true;
  stopped_cv_.notify_all();
}

// On partition p's CPU thread, inside its gdb stub: the primary's commands go to the primary's
// thread; this thread waits parked (so the command may run jobs on p's CPU, e.g. lend) and
// gives up when p is asked to stop meanwhile (`partition stop` of itself, `quit`): the stop
// needs this thread to leave the run loop.
std::string PrimaryHypervisor::gdb_command(Partition& p, std::string_view cmd, bool* handled) {
  if (cmd == "help") {
    *handled = true;
    return std::string("the primary hypervisor's commands (docs/design.md):\n") + kHvCommandsHelp;
  }
  if (!is_hv_command(cmd)) {
    *handled = false;
    return {};
  }
  *handled = true;
  struct Answer {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::string text;
  };
  auto answer = std::make_shared<Answer>();  // outlives this call if the answer comes late
  bool done = false;
  // The command may need another partition of this thread's processor set (its counters, a
  // lend): the set runs the others on an extra thread while this one waits.
  Scheduler* set = on_secondary(p) ? nullptr : scheduler_.get();
  if (set) set->blocking(true);
  p.machine_->while_parked([&] {
    // Posted once parked, so the command's jobs on this CPU run on the primary's thread.
    post_command(std::string(cmd), [answer](const std::string& text) {
      std::lock_guard lock(answer->mu);
      answer->text = text;
      answer->done = true;
      answer->cv.notify_all();
    });
    std::unique_lock lock(answer->mu);
    while (!answer->done && !p.machine_->exit_requested())
      answer->cv.wait_for(lock, std::chrono::milliseconds(20));
    done = answer->done;
  });
  if (set) set->blocking(false);
  if (done) return answer->text;
  return "partition '" + p.name() + "' is being stopped; the command goes on in the primary "
         "hypervisor\n";
}

uint64_t PrimaryHypervisor::lend(const std::string& from, const std::string& to, uint64_t bytes) {
  Partition& a = partition(from);
  Partition& b = partition(to);
  if (&a == &b) throw HvError{"a partition cannot lend to itself"};
  if (bytes == 0 || bytes % kPage) throw HvError{"lend a positive multiple of 4 KiB"};
  std::lock_guard lock(mu_);
  const uint32_t n = uint32_t(bytes / kPage);
  // Pages borrowed by a partition are not its to lend again.
  auto borrowed = [&](const Partition& p, uint32_t g) {
    for (auto& q : partitions_)
      for (const auto& l : q->loans_)
        if (l.borrower == p.id_ && l.borrower_page == g) return true;
    return false;
  };
  std::vector<uint32_t> give, take;  // guest pages in a (highest first), free in b
  for (const auto& r : a.config_.memory) {
    if (!r.dynamic) continue;
    for (uint32_t g = uint32_t((r.guest_base + r.size) / kPage); g-- > r.guest_base / kPage && give.size() < n;)
      if (a.table_->lookup(g) && !borrowed(a, g)) give.push_back(g);
  }
  for (const auto& r : b.config_.memory) {
    if (!r.dynamic) continue;
    for (uint32_t g = uint32_t(r.guest_base / kPage); g < (r.guest_base + r.size) / kPage && take.size() < n; ++g)
      if (!b.table_->lookup(g)) take.push_back(g);
  }
  if (give.size() < n)
    throw HvError{"partition '" + from + "' has only " + mib(uint64_t(give.size()) * kPage) +
                  " of dynamic memory to lend"};
  if (take.size() < n)
    throw HvError{"partition '" + to + "' has room for only " + mib(uint64_t(take.size()) * kPage) +
                  " in its dynamic regions"};
  std::vector<uint32_t> machine(n);
  for (uint32_t k = 0; k < n; ++k) machine[k] = a.table_->lookup(give[k])->machine_page;
  a.machine_->run_on_cpu_thread([&] {
    for (uint32_t g : give) unmap_now(a, g);
  });
  for (uint32_t m : machine) memory_.zero(m);  // nothing of a's reaches b
  b.machine_->run_on_cpu_thread([&] {
    for (uint32_t k = 0; k < n; ++k) map_now(b, take[k], machine[k], S2_RWX);
  });
  for (uint32_t k = 0; k < n; ++k) a.loans_.push_back({b.id_, give[k], take[k], machine[k]});
  return bytes;
}

uint64_t PrimaryHypervisor::take_back(const std::string& from, const std::string& to,
                                      uint64_t bytes) {
  Partition& a = partition(from);
  Partition& b = partition(to);
  if (bytes == 0 || bytes % kPage) throw HvError{"take back a positive multiple of 4 KiB"};
  std::lock_guard lock(mu_);
  const uint32_t n = uint32_t(bytes / kPage);
  std::vector<size_t> idx;  // the last n loans from a to b
  for (size_t k = a.loans_.size(); k-- > 0 && idx.size() < n;)
    if (a.loans_[k].borrower == b.id_) idx.push_back(k);
  if (idx.size() < n)
    throw HvError{"partition '" + from + "' lent only " + mib(uint64_t(idx.size()) * kPage) +
                  " to '" + to + "'"};
  // Unmapped in the borrower first: its TLB entries and its decoded blocks and translations
  // of these pages are gone before anything else is done with them.
  b.machine_->run_on_cpu_thread([&] {
    for (size_t k : idx) unmap_now(b, a.loans_[k].borrower_page);
  });
  for (size_t k : idx) memory_.zero(a.loans_[k].machine_page);
  a.machine_->run_on_cpu_thread([&] {
    for (size_t k : idx) map_now(a, a.loans_[k].lender_page, a.loans_[k].machine_page, S2_RWX);
  });
  std::sort(idx.begin(), idx.end());
  for (size_t k = idx.size(); k-- > 0;) a.loans_.erase(a.loans_.begin() + long(idx[k]));
  return bytes;
}

PartitionCounters PrimaryHypervisor::counters(Partition& p, bool with_machine_json) {
  PartitionCounters c;
  c.name = p.name();
  c.vcpus = p.config_.vcpus;
  {
    std::lock_guard lock(mu_);
    c.run_seconds = p.run_seconds_;
    if (p.state_ == PartitionState::RUNNING)
      c.run_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                     p.run_started_).count();
  }
  Machine& m = *p.machine_;
  m.run_on_cpu_thread([&] {
    c.stage2_pages = p.table_->mapped_pages();
    c.memory_bytes = uint64_t(c.stage2_pages) * kPage;
    c.stage2_violations = p.mem_->stage2_violations;
    for (unsigned k = 0; k < p.config_.vcpus; ++k) c.per_vcpu.push_back(vcpu_counters(p, k));
    if (with_machine_json) c.machine_json = m.stats().json();
  });
  for (const VcpuCounters& v : c.per_vcpu) {
    c.instructions += v.instructions;
    c.exits += v.exits;
    c.interrupts += v.interrupts;
  }
  if (!on_secondary(p)) static_cast<SliceStats&>(c) = scheduler_->usage(p.id_);
  // Read after the CPU job: a run that ended meanwhile has its state and status set.
  c.state = state_name(p.state());
  c.status = p.status();
  return c;
}

std::vector<PartitionCounters> PrimaryHypervisor::all_counters(bool with_machine_json) {
  std::vector<PartitionCounters> out;
  for (auto& p : partitions_) out.push_back(counters(*p, with_machine_json));
  return out;
}

std::string PrimaryHypervisor::info_partitions() { return partitions_table(all_counters()); }

std::string PrimaryHypervisor::info_irq_routes() {
  std::string out;
  for (auto& p : partitions_) {
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "%-12s ", p->name().c_str());
    out += format_irq_routes(p->machine_->platform().irq_routes(), prefix);
  }
  return out;
}

SecondaryPort PrimaryHypervisor::secondary_port() {
  SecondaryPort::Hooks h;
  h.table = [this](const std::string& name) -> const Stage2Table* {
    for (auto& p : partitions_)
      if (p->name() == name) return p->table_.get();
    return nullptr;
  };
  h.request_start = [this](const std::string& name) {
    try {
      start(name);
      return true;
    } catch (const HvError&) {
      return false;
    }
  };
  h.request_stop = [this](const std::string& name) {
    try {
      Partition& p = partition(name);
      {
        std::lock_guard lock(mu_);
        p.stopped_by_guest_ = true;
      }
      stop(name);
      return true;
    } catch (const HvError&) {
      return false;
    }
  };
  h.machine = [this](const std::string& name) -> Machine* {
    // Its own, one it runs vCPUs of ([partition.secondary]), or one that shares a region with
    // one of a secondary's (whose wakes it serves: docs/design.md "A waker in a partition of
    // the primary").
    auto shares = [this](const Partition& p) {
      for (const HypervisorConfig& h : config_.hypervisors)
        if (h.kind == HypervisorKind::SECONDARY && shares_a_region_with(config_, p.name(), h.name))
          return true;
      return false;
    };
    for (auto& p : partitions_)
      if (p->name() == name && (on_secondary(*p) || p->config_.split || shares(*p)))
        return p->machine_.get();
    return nullptr;
  };
  h.move_memory = [this](const std::string& from, const std::string& to, uint64_t bytes,
                         bool lend_it) -> std::string {
    try {
      if (lend_it) lend(from, to, bytes);
      else take_back(from, to, bytes);
      return {};
    } catch (const HvError& e) {
      return e.message;
    }
  };
  h.machine_base = memory_.base();
  h.machine_bytes = memory_.bytes();
  return SecondaryPort(std::move(h));
}

// [partition.secondary] of a partition built in code as check-config checks a file's.
void PrimaryHypervisor::check_split(const PartitionConfig& pc) const {
  if (!pc.split) return;
  const std::string who = "partition '" + pc.name + "'";
  if (on_secondary_config(pc))
    throw ConfigError{who + ": only a partition of the primary puts vCPUs on the secondary"};
  if (!pc.machine.smp_threads)
    throw ConfigError{who + ": [partition.secondary] needs vcpu_threads = \"multi\""};
  if (!split_hypervisor(config_, pc))
    throw ConfigError{who + ": [partition.secondary] names no secondary hypervisor of the system"};
  std::vector<bool> seen(pc.vcpus, false);
  for (unsigned v : pc.split->vcpus) {
    if (v == 0 || v >= pc.vcpus || seen[v])
      throw ConfigError{who + ": [partition.secondary] names vCPU " + std::to_string(v) +
                        ": expected each of 1 to " + std::to_string(pc.vcpus - 1) + " at most once"};
    seen[v] = true;
  }
}

bool PrimaryHypervisor::on_secondary_config(const PartitionConfig& pc) const {
  for (const auto& h : config_.hypervisors)
    if (h.name == pc.hypervisor) return h.kind == HypervisorKind::SECONDARY;
  return false;
}

// On p's CPU thread (or stopped): vCPU k's counters and who schedules it.
VcpuCounters PrimaryHypervisor::vcpu_counters(Partition& p, unsigned k) {
  Machine& m = *p.machine_;
  VcpuCounters v;
  v.index = k;
  v.instructions = m.cpu(k).icount;
  v.exits = m.monitor_exits(k);
  v.interrupts = m.interrupts_delivered(k);
  const HypervisorConfig* h = nullptr;
  if (const HypervisorConfig* s = split_hypervisor(config_, p.config_);
      s && std::count(p.config_.split->vcpus.begin(), p.config_.split->vcpus.end(), k))
    h = s;
  for (const auto& x : config_.hypervisors)
    if (!h && x.name == p.config_.hypervisor) h = &x;
  if (h) {
    v.hypervisor = h->name;
    v.processor_set = h->processor_set;
  }
  return v;
}

}  // namespace softcpu::hv
