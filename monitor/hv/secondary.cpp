#include "monitor/hv/secondary.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "guests/include/softcpu/hypercall.h"
#include "interp/flags.h"
#include "interp/segments.h"
#include "interp/tlb.h"
#include "monitor/hv/secondary_waker.h"
#include "monitor/hypercall.h"
#include "monitor/machine.h"

namespace softcpu::hv {

namespace {
// How long an idle worker sleeps at most before looking again (a wake, posted work or a due
// timeout ends the sleep at once); also how often a request's answer is looked for.
constexpr auto kIdlePoll = std::chrono::milliseconds(2);
// HC_PARTITION_REQUESTs in flight at once (beyond: -EBUSY).
constexpr size_t kMaxRequests = 4;

// The secondary's threads sleep to deadlines: without this Linux adds its default 50 us timer
// slack to each (prctl(2) PR_SET_TIMERSLACK).
void tight_timers() { prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); }

// SCHED_FIFO priority 1 for `thread`, or back to SCHED_OTHER, where the host allows it
// (sched(7); needs CAP_SYS_NICE or an RLIMIT_RTPRIO); returns whether it took. The timer
// thread, which only sleeps and kicks, keeps it, so a due timeout reaches a busy partition
// without waiting behind the host's other threads; a worker has it while spinning toward a
// deadline, or when the timer thread raises it for a due timeout (boost_locked, from a spin
// window before the deadline), and keeps it only up to the woken vCPU's first hypercall or the
// next poll after the deadline (at most one run budget of guest code, Thin::drop_rt).
bool set_realtime(pthread_t thread, bool on) {
  sched_param sp{};
  sp.sched_priority = on ? 1 : 0;
  return pthread_setschedparam(thread, on ? SCHED_FIFO : SCHED_OTHER, &sp) == 0;
}

// An idle partition thread sleeps toward its next deadline only until this long before it and
// spins the rest (a host thread woken from a sleep runs tens of microseconds late, hundreds
// when its core was in a deep idle state). The window adapts per thread to how late its
// sleeps end, between these bounds.
constexpr uint64_t kSpinMinNs = 50'000;
constexpr uint64_t kSpinMaxNs = 1'000'000;

// How late a sleep to `target` ended moves a spin window: up at once to cover it, down slowly.
void adapt_spin_window(uint64_t& window, uint64_t late) {
  if (late + late / 2 > window) window = std::min(kSpinMaxNs, late + late / 2);
  else window = std::max(kSpinMinNs, window - window / 32);
}

// mu_ on a wake's path (a worker's poll and hypercalls, a sleeper after its spin): tried for up
// to this long before the thread sleeps in the kernel for it. Its holders keep it a few
// microseconds, but a thread that sleeps on it in this VM (no cpuidle driver: its core halts)
// ran again 30-50 us after the unlock's futex wake: the worker kicked for a due timeout
// found the timer thread still holding mu_ and slept, in 37 of the slowest 79 busy timer wakes
// (a probe build, AMD EPYC host, 2026-12-07; docs/design.md "The kicked worker's wait for mu_").
constexpr uint64_t kLockSpinNs = 20'000;

// A preempting timeout that a busy partition's worker meets itself (Thin::aim_budget_locked)
// is the timer thread's only this long after it, if the worker has not met it by then.
constexpr uint64_t kAimGraceNs = 5'000;

// The hypervisor's clock (SecondaryHypervisor::now_ns), for code outside an instance too.
uint64_t steady_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch()).count());
}

// `lock` (not held) takes its mutex, spinning up to kLockSpinNs before it blocks.
void lock_spinning(std::unique_lock<std::mutex>& lock) {
  if (lock.try_lock()) return;
  const uint64_t until = steady_ns() + kLockSpinNs;
  do {
    __builtin_ia32_pause();
    if (lock.try_lock()) return;
  } while (steady_ns() < until);
  lock.lock();
}
}  // namespace

// The state of a thin partition's CPU that its vCPUs share (thin guests run flat with paging
// off: segments, control registers, descriptor tables), as the creating task's CPU had it at
// its last HC_VCPU_CREATE: a processor other than the first is given it before its first vCPU
// runs (docs/design.md "A thin partition on several workers").
struct CpuSystemState {
  uint8_t cpl = 0, a20_enabled = 1;
  SegmentCache seg[6]{}, ldtr{}, tr{};
  DescriptorTable gdtr{}, idtr{};
  uint32_t cr0 = 0, cr3 = 0, cr4 = 0;
  void capture(const Cpu& c) {
    cpl = c.cpl;
    a20_enabled = c.a20_enabled;
    std::copy(c.seg, c.seg + 6, seg);
    ldtr = c.ldtr;
    tr = c.tr;
    gdtr = c.gdtr;
    idtr = c.idtr;
    cr0 = c.cr0;
    cr3 = c.cr3;
    cr4 = c.cr4;
  }
  void apply(Cpu& c) const {
    c.cpl = cpl;
    c.a20_enabled = a20_enabled;
    std::copy(seg, seg + 6, c.seg);
    c.ldtr = ldtr;
    c.tr = tr;
    c.gdtr = gdtr;
    c.idtr = idtr;
    c.cr0 = cr0;
    c.cr3 = cr3;
    c.cr4 = cr4;
    c.halted = 0;
    tlb_flush(c);
  }
};

// One processor of a thin partition: the pool's unit. A partition has one (its machine's CPU
// 0, `ap_` 0: the lead, which also owns the partition's run and posted work) or, with vcpus =
// N and vcpu_threads = "multi", N: CPUs 1..N-1 are application processors of its machine that
// the pool runs like the split vCPUs of a primary's partition (Machine::run_external_slice),
// each with its own running vCPU, all over the partition's vCPUs, lists and wait queues
// (Shared, held by the lead). Everything is under the hypervisor's mu_ (docs/design.md, "The
// thread contract").
class SecondaryHypervisor::Thin final : public HypercallHandler {
 public:
  // What the processors of one partition share (the lead's; a split vCPU of the primary's has
  // its own).
  struct Shared {
    std::vector<std::unique_ptr<VcpuBlock>> vcpus;  // by id - 1
    RunQueue rq;
    std::vector<VcpuBlock*> boosted_ready;  // raised while ready: not moved (lazy inheritance)
    ThinStats st;
    std::vector<Thin*> slots;  // its processors, the lead first
    CpuSystemState sys;        // for processors other than the lead
    uint64_t sys_gen = 0;      // captures of sys (0: none yet)
  };
  // `ap` 0: a partition of ours (the lead). Else application processor `ap` of `m`: of a
  // partition of the primary's when `lead` is null (a split vCPU), else a further processor of
  // our partition `lead`.
  Thin(SecondaryHypervisor& hv, const PartitionConfig& pc, Machine& m, Stage2View view,
       std::pair<unsigned, unsigned> range, unsigned initial, unsigned ap = 0,
       Thin* lead = nullptr)
      : own_(lead ? nullptr : std::make_unique<Shared>()), sh_(lead ? *lead->own_ : *own_),
        name(pc.name), machine(m), ap_(ap), split_(ap && !lead), lead_(lead ? lead : this),
        hv_(hv), view_(view), range_(range), initial_(initial),
        slice_ns_(uint64_t(pc.time_slice_us.value_or(hv.config_.time_slice_us)) * 1000) {
    sh_.slots.push_back(this);
  }

  void hypercall(Cpu& c) override;
  void poll(Cpu& c) override;
  void reset_locked();  // one vCPU (id 1, the boot context) running at the initial priority
  ThinStats stats_locked() const {
    ThinStats s = st_;
    s.list_touches = rq_.touches;
    return s;
  }
  // Made ready from another thread: preempt its running vCPU, or offer the partition to the
  // pool (a free worker, else the least urgent running partition below it gives its up).
  // `boost` (the timer thread, for a due timeout): the worker that is to switch also goes
  // SCHED_FIFO (SecondaryHypervisor::boost_locked), so the host runs it at once.
  void nudge_locked(const VcpuBlock* v, bool boost = false) {
    if (multi()) return place_locked(boost, nullptr);
    if (on_worker_) {
      if (current_ && v->tprio > current_->tprio) {
        machine.kick();
        if (boost) hv_.boost_locked(this);
      }
    } else {
      hv_.offer_locked(this, boost);
    }
  }
  // The worker holding it leaves SCHED_FIFO, if it runs so (after mu_ is let go: a thread
  // that drops to SCHED_OTHER may be preempted at once, and must not hold the lock then).
  void drop_rt(std::unique_lock<std::mutex>& lock) {
    if (!wk_ || !wk_->rt.load(std::memory_order_acquire)) return;
    Worker* w = wk_;
    ++st_.rt_drops;
    lock.unlock();
    set_worker_rt(*w, false);
  }
  SecondaryHypervisor& hv() { return hv_; }
  Stage2View view() const { return view_; }
  std::pair<unsigned, unsigned> range() const { return range_; }
  unsigned initial() const { return initial_; }
  void make_ready_locked(VcpuBlock* v, bool front);
  void remove_waiter_locked(VcpuBlock* v);

  std::unique_ptr<Shared> own_;
  Shared& sh_;
  ThinStats& st_ = sh_.st;

  const std::string name;
  Machine& machine;
  // 0: a partition of ours. Else one vCPU (this index, an application processor) of a
  // partition of the primary ([partition.secondary]): the pool runs it as an ordinary
  // one-vCPU partition at its priority, through Machine::run_external_slice; it has no
  // hypercalls (VMCALL is #UD there), its machine's start and stop are the primary's.
  const unsigned ap_;
  const bool split_;  // a vCPU of a partition of the primary's
  Thin* const lead_;  // the partition's first processor (this, for a lead or a split vCPU)
  bool multi() const { return sh_.slots.size() > 1; }
  // This processor's slice ends at its next block boundary / its run returns to poll().
  void end_my_slice() {
    if (ap_) machine.end_external_slice(ap_);
    else machine.end_slice();
  }
  void kick_me() { machine.kick(ap_); }
  // Multi-processor partitions: a vCPU became ready (or may have): an idle processor of the
  // partition is offered to the pool, else the one running the least urgent vCPU below it is
  // kicked (its poll preempts). `from`: the processor whose hypercall or poll made it ready,
  // which looks at its own preemption.
  void place_locked(bool boost, const Thin* from);
  // The worker running it is to give it up (a more urgent partition waits): at the next
  // block boundary (poll() ends the slice; a vCPU of the primary's is told directly).
  void ask_yield_locked() {
    yield_asked_ = true;
    if (ap_) machine.end_external_slice(ap_);
    else machine.kick();
  }

  using Lock = std::unique_lock<std::mutex>;

 private:
  void save(Cpu& c, VcpuBlock* v) {
    std::copy(c.regs, c.regs + 8, v->ctx.regs);
    v->ctx.eip = c.eip;
    v->ctx.eflags = read_eflags(c);
    v->ctx.fpu = c.fpu;
  }
  void load(Cpu& c, const VcpuBlock* v) {
    std::copy(v->ctx.regs, v->ctx.regs + 8, c.regs);
    c.eip = v->ctx.eip;
    c.eflags = v->ctx.eflags;
    c.lz_kind = LZ_NONE;
    c.fpu = v->ctx.fpu;
  }
  VcpuBlock* best_ready_locked();
  void dispatch_locked(Cpu& c, VcpuBlock* v);
  void schedule_locked(Cpu& c, Lock& lock);
  void maybe_preempt_locked(Cpu& c, Lock& lock);
  void round_robin_locked(Cpu& c, uint64_t& now);
  // The clock, read at most once per poll (now = 0: not yet).
  uint64_t clock(uint64_t& now) const { return now ? now : (now = hv_.now_ns()); }
 public:
  // The running vCPU leaves the CPU for now (preempted, or the partition leaves its worker):
  // the part of its slice it ran counts.
  void slice_used_locked() {
    if (current_ && on_cpu_since_) current_->ran_ns += hv_.now_ns() - on_cpu_since_;
    on_cpu_since_ = 0;
  }
 private:
  void off_cpu_locked(Cpu& c, VcpuState state);
  VcpuBlock* vcpu(unsigned id) {
    if (id == 0 || id > vcpus_.size()) return nullptr;
    VcpuBlock* v = vcpus_[id - 1].get();
    return v && v->state != VcpuState::EXITED ? v : nullptr;
  }
  void set_tprio_locked(VcpuBlock* v);
  // A guest-physical word: its machine address (the key of wait queues) and host bytes.
  const uint8_t* word(uint32_t addr, uint64_t* key, int* err) const {
    return hv_.word_at(view_, addr, key, err);
  }
  static uint32_t load_word(const uint8_t* p) {
    return std::atomic_ref<uint32_t>(*const_cast<uint32_t*>(reinterpret_cast<const uint32_t*>(p)))
        .load(std::memory_order_acquire);
  }
  bool read_guest(uint32_t addr, uint32_t len, std::string* out) const;
  void hypercall_locked(Cpu& c, Lock& lock);
  void do_wait(Cpu& c, Lock& lock, bool lock_word);
  void do_wake(Cpu& c);
  void do_request(Cpu& c, Lock& lock);
  void do_mem(Cpu& c, Lock& lock, bool lend);

  SecondaryHypervisor& hv_;
  Stage2View view_;
  std::pair<unsigned, unsigned> range_;
  unsigned initial_;
  const uint64_t slice_ns_;      // round robin among equals
  uint64_t on_cpu_since_ = 0;    // the running vCPU's slice began (0: at the next poll)
  std::vector<std::unique_ptr<VcpuBlock>>& vcpus_ = sh_.vcpus;
  RunQueue& rq_ = sh_.rq;
  std::vector<VcpuBlock*>& boosted_ready_ = sh_.boosted_ready;
  uint64_t sys_gen_ = 0;  // sh_.sys as this processor's CPU last got it
  VcpuBlock* current_ = nullptr;  // on this processor's CPU (state RUNNING)
  VcpuBlock* last_ = nullptr;     // whose registers the CPU holds

 public:
  // The pool (SecondaryHypervisor::worker_main), under mu_ unless said: the partition as the
  // primary started it, whether a worker runs it now (only that worker touches its Machine and
  // Cpu; with none, a worker holding mu_ may load a vCPU into the Cpu), whether it was asked to
  // give its worker up, and posted work (a job, an exit request: any thread, no lock).
  SchedulableVcpu vcpu_;
  std::function<void(int)> on_stop_;
  unsigned id_ = 0;
  bool started_ = false;     // start() .. its run ended (on_stop_ called)
  bool begun_ = false;       // vcpu_.begin() ran (the worker that holds it)
  bool on_worker_ = false;
  bool yield_asked_ = false;
  std::thread::id worker_;   // the worker that holds it (debug checks)
  uint64_t worker_since_ = 0;  // ns: its slice on the worker began (0: no rival waits)
  uint64_t last_ran_ = 0;      // slice_seq_ at its last slice's end: equals go oldest first
  Worker* wk_ = nullptr;     // and its record (its SCHED_FIFO state)
  uint64_t rt_hold_until_ = 0;  // ns: its worker was raised early for this deadline (timer_main)
  // The CPU's instruction count when a vCPU was last loaded into it (dispatch_locked): a poll
  // that finds it unchanged comes before the vCPU's first instruction (poll).
  uint64_t dispatched_icount_ = ~0ull;
  // The worker meets its partition's next preempting timeout itself (aim_budget_locked): the
  // machine's run budget it set (0: none), and the CPU's instruction count and the clock at
  // the poll before, for how fast the guest retires instructions (per ns).
  uint64_t aimed_budget_ = 0;
  uint64_t aimed_at_ = 0;  // the deadline it aims at (0: none)
  uint64_t rate_icount_ = 0, rate_at_ = 0;
  const VcpuBlock* rate_vcpu_ = nullptr;  // on the CPU at that poll
  bool rate_broken_ = false;              // a hypercall since (not one run of guest code)
  double insns_per_ns_ = 0;               // 0: not known
  std::atomic<bool> woken_{false};
  SteadyTime halted_until_{};  // an ordinary machine's HLT (SliceResult::IDLE)
  // Runnable: it has a vCPU on the CPU or ready, or posted work, and no worker.
  bool runnable_locked() {
    if (!started_ || on_worker_) return false;
    if (woken_.load(std::memory_order_acquire) || (!ap_ && machine.exit_requested())) return true;
    if (ap_ && !split_ && machine.exit_requested()) return false;  // the lead ends the run
    if (halted_until_ != SteadyTime{}) {
      const auto now = std::chrono::steady_clock::now();
      // A vCPU of the primary's also at its machine deadline (a timer of its own, or a
      // device's while CPU 0's thread has no slice), which may have come closer since it halted.
      if (now < halted_until_ &&
          !(split_ && int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  now.time_since_epoch()).count()) >= machine_deadline()))
        return false;
    }
    return current_ || best_ready_locked();
  }
  // A vCPU of the primary's: when its machine needs it to run (Machine::external_deadline), in
  // steady_clock ns; INT64_MAX: none.
  int64_t machine_deadline() const { return split_ ? machine.external_deadline(ap_) : INT64_MAX; }
  // The machine deadline the timer thread last kicked or offered it for (under mu_): until the
  // vCPU's pass fires that timer the deadline stays, and is not met twice.
  int64_t deadline_met_ = INT64_MAX;
  // The priority it competes with: its running vCPU's, else its best ready one's; -1: none.
  // Posted work (a stop, a stage-2 change) comes first for a partition no worker runs (one
  // that runs serves it in its run loop; its woken_ stays set until a worker takes it again).
  int urgency_locked() {
    // (A vCPU of the primary's has no posted work of ours: a wake is a kick, at its priority.)
    if (!ap_ && !on_worker_ && (woken_.load(std::memory_order_relaxed) || machine.exit_requested()))
      return 1000;
    return priority_locked();
  }
  // Its running vCPU's Tprio, else its best ready one's; -1: none (posted work aside).
  int priority_locked() {
    if (current_) return int(current_->tprio);
    const VcpuBlock* v = best_ready_locked();
    return v ? int(v->tprio) : -1;
  }
  // Only the worker holding the partition runs its hypercalls and polls.
  void assert_on_worker() const {
#ifndef NDEBUG
    if (!on_worker_ || worker_ != std::this_thread::get_id()) {
      std::fprintf(stderr, "softcpu: secondary: partition '%s' runs on a thread that does not "
                   "hold it\n", name.c_str());
      std::abort();
    }
#endif
  }
  // A worker takes the partition: the best ready vCPU goes on the CPU if none is (the Cpu is
  // the partition's and no thread runs it). False: nothing for the guest (posted work only).
  bool prepare_locked() {
    if (!current_ && !machine.exit_requested())
      if (VcpuBlock* v = best_ready_locked()) dispatch_locked(machine.cpu(ap_), v);
    if (ap_ && !split_) return current_;  // (the lead ends the run)
    return current_ || machine.exit_requested();
  }
  // The earliest deadline (0: none) the timer thread must meet for us: on a worker, one of a
  // vCPU whose wake would preempt the running vCPU (a lower one's expiry can wait for the next
  // block budget or hypercall); off one, any, unless a worker is idle (it waits for them,
  // SecondaryHypervisor::idle_wait_locked).
  uint64_t next_preempting_deadline_locked() const {
    if (!started_) return 0;
    if (split_) {  // its machine's deadline: a worker runs it then, or the timer thread kicks it
      const int64_t d = machine_deadline();
      if (d == INT64_MAX || d == deadline_met_ || (!on_worker_ && hv_.idle_workers_ > 0)) return 0;
      return uint64_t(std::max<int64_t>(d, 1));
    }
    if (!on_worker_ && hv_.idle_workers_ > 0) return 0;  // an idle worker waits for it
    if (on_worker_ && !current_) return 0;  // its slice is ending: the worker looks after it
    // (With several processors, one that is idle takes any vCPU its timeout makes ready.)
    const bool idle_sibling = multi() && lead_->idle_processor_locked();
    for (const auto& [deadline, owner, v] : hv_.timeouts_)
      if (owner == lead_ && (!on_worker_ || idle_sibling || v->tprio > current_->tprio))
        // One its worker aims at (aim_budget_locked): the timer thread is the backup, later.
        return on_worker_ && deadline == aimed_at_ ? deadline + kAimGraceNs : deadline;
    return 0;
  }
  // A processor of this partition has no worker and no vCPU.
  bool idle_processor_locked() const {
    for (const Thin* s : sh_.slots)
      if (s->started_ && !s->on_worker_ && !s->current_) return true;
    return false;
  }
  void watch_deadlines_locked();
  void aim_budget_locked(const Cpu& c, uint64_t& now);
};

void SecondaryHypervisor::Thin::reset_locked() {
  for (auto& v : vcpus_) {
    if (v && v->state == VcpuState::BLOCKED) remove_waiter_locked(v.get());
    if (v) hv_.trace_pending_.erase(v.get());
  }
  const uint64_t touches = rq_.touches;
  rq_ = RunQueue();
  rq_.touches = touches;
  vcpus_.clear();
  boosted_ready_.clear();
  for (Thin* s : sh_.slots) {  // the other processors start empty
    s->current_ = s->last_ = nullptr;
    s->on_cpu_since_ = 0;
    s->sys_gen_ = 0;
  }
  sh_.sys_gen = 0;
  auto v = std::make_unique<VcpuBlock>();
  v->id = 1;
  v->prio = v->tprio = initial_;
  v->state = VcpuState::RUNNING;
  rq_.push_run(v.get(), v->tprio);
  current_ = last_ = v.get();
  vcpus_.push_back(std::move(v));
  st_.live_vcpus = 1;
}

void SecondaryHypervisor::Thin::make_ready_locked(VcpuBlock* v, bool front) {
  v->state = VcpuState::READY;
  if (v->tprio != v->prio) ++st_.pi_requeues;
  rq_.push_ready(v, v->tprio, front);
}

void SecondaryHypervisor::Thin::remove_waiter_locked(VcpuBlock* v) {
  auto [a, b] = hv_.waiters_.equal_range(v->wait_key);
  for (auto it = a; it != b; ++it)
    if (it->second.second == v) {
      hv_.waiters_.erase(it);
      break;
    }
  if (v->deadline) hv_.timeouts_.erase({v->deadline, lead_, v});
  v->deadline = 0;
}

// The highest ready vCPU: the head of the highest ready list, or a holder whose Tprio was
// raised while it sat on a lower list (not moved there: lazy inheritance).
VcpuBlock* SecondaryHypervisor::Thin::best_ready_locked() {
  const int level = rq_.highest_ready();
  VcpuBlock* best = level >= 0 ? rq_.first_ready(unsigned(level)) : nullptr;
  int best_prio = level;
  for (size_t k = 0; k < boosted_ready_.size();) {
    VcpuBlock* v = boosted_ready_[k];
    if (v->state != VcpuState::READY || int(v->tprio) <= v->level) {
      boosted_ready_[k] = boosted_ready_.back();
      boosted_ready_.pop_back();
      continue;
    }
    if (int(v->tprio) > best_prio) {
      best = v;
      best_prio = int(v->tprio);
    }
    ++k;
  }
  return best;
}

void SecondaryHypervisor::Thin::dispatch_locked(Cpu& c, VcpuBlock* v) {
  rq_.remove(v);
  v->state = VcpuState::RUNNING;
  rq_.push_run(v, v->tprio);
  const bool fresh = ap_ && !split_ && sys_gen_ != sh_.sys_gen;
  if (fresh) {  // a further processor: the partition's CPU state, as its tasks were created
    sh_.sys.apply(c);
    sys_gen_ = sh_.sys_gen;
    machine.start_external_vcpu(ap_);
  }
  load(c, v);  // always: a wake or a timeout may have written its saved EAX
  dispatched_icount_ = c.icount;
  if (fresh) update_mode(c);
  if (v->woken_on >= 0) {
    if (unsigned(v->woken_on) != ap_) ++st_.wakes_across_processors;
    v->woken_on = -1;
  }
  if (hv_.trace_on_.load(std::memory_order_relaxed))
    if (auto it = hv_.trace_pending_.find(v); it != hv_.trace_pending_.end()) {
      it->second.second.dispatched = int64_t(hv_.now_ns() - it->second.first);
      it->second.second.rt_at_dispatch = wk_ && wk_->rt.load(std::memory_order_relaxed);
    }
  // Its slice counts from here when an equal vCPU is ready (the clock is read only then), else
  // from the poll that first sees one. Counted only from the next poll, a slice never filled
  // when a more urgent vCPU preempted (maybe_preempt_locked) more often than one run budget of
  // guest code came to a poll: its equals starved (rtos_slice under ThreadSanitizer: count1=0).
  const VcpuBlock* rival = best_ready_locked();
  on_cpu_since_ = rival && rival->tprio >= v->tprio ? hv_.now_ns() : 0;
  if (v != last_) ++st_.switches;
  last_ = v;
  current_ = v;
}

// The current vCPU leaves the CPU (registers saved) as `state`.
void SecondaryHypervisor::Thin::off_cpu_locked(Cpu& c, VcpuState state) {
  VcpuBlock* v = current_;
  save(c, v);
  rq_.remove(v);
  current_ = nullptr;
  v->ran_ns = 0;  // a wait, an exit or a yield: a new slice when it runs again
  if (state == VcpuState::READY) make_ready_locked(v, false);
  else v->state = state;
}

// Run the highest ready vCPU; with none the slice ends (the worker takes another partition; a
// wake or timeout brings this one back to a worker). No guest code runs before that: the
// run loop looks at the slice's end before the next interpreter run.
void SecondaryHypervisor::Thin::schedule_locked(Cpu& c, Lock&) {
  if (VcpuBlock* v = best_ready_locked()) {
    dispatch_locked(c, v);
    return;
  }
  end_my_slice();
}

void SecondaryHypervisor::Thin::maybe_preempt_locked(Cpu& c, Lock& lock) {
  if (!current_) return schedule_locked(c, lock);
  VcpuBlock* best = best_ready_locked();
  if (!best || best->tprio <= current_->tprio) return;
  // A preempted vCPU goes to the head of its level and keeps what is left of its slice.
  VcpuBlock* v = current_;
  slice_used_locked();
  save(c, v);
  rq_.remove(v);
  current_ = nullptr;
  make_ready_locked(v, true);
  ++st_.preemptions;
  dispatch_locked(c, best);
}

// Round robin among equals, looked at in poll() (after every interpreter run, at most a run
// budget of guest code apart): a vCPU that ran its slice goes to the tail of its level when an
// equal one is ready; a partition that held its worker for a slice gives it up when an equally
// urgent partition waits for one (pick_locked then takes the one that ran longest ago). A more
// urgent vCPU or partition does not wait for any of this (maybe_preempt_locked, offer_locked).
// Slices are counted only while there is a rival of the same priority (the clock is read only
// then): a vCPU or partition alone at its level starts a new slice when one comes, so the
// newcomer waits at most a slice.
void SecondaryHypervisor::Thin::round_robin_locked(Cpu& c, uint64_t& now) {
  if (!current_) return;
  VcpuBlock* next = best_ready_locked();
  if (!next || next->tprio < current_->tprio) {
    on_cpu_since_ = 0;  // alone at its level
    current_->ran_ns = 0;
  } else if (on_cpu_since_ == 0) {
    on_cpu_since_ = clock(now);
  } else if (current_->ran_ns + (clock(now) - on_cpu_since_) >= slice_ns_) {
    off_cpu_locked(c, VcpuState::READY);  // to the tail of its level, a new slice
    dispatch_locked(c, next);
    ++st_.rr_rotations;
  }
  bool rival = false;
  if (hv_.idle_workers_ == 0) {
    // (Posted work of a partition no worker runs is offer_locked's: it takes a worker at once.)
    const int mine = priority_locked();
    for (const auto& t : hv_.thins_)
      if (t.get() != this && t->runnable_locked() && t->priority_locked() >= mine) rival = true;
  }
  if (!rival) {
    worker_since_ = 0;
  } else if (worker_since_ == 0) {
    worker_since_ = clock(now);
  } else if (clock(now) - worker_since_ >= slice_ns_) {
    ++st_.rr_yields;
    end_my_slice();
  }
}

void SecondaryHypervisor::Thin::place_locked(bool boost, const Thin* from) {
  const VcpuBlock* best = best_ready_locked();
  if (!best) return;
  bool offered = false;
  for (Thin* s : sh_.slots)  // every idle one: a worker that finds nothing left goes back
    if (s->started_ && !s->on_worker_ && !s->current_) {
      hv_.offer_locked(s, boost);
      offered = true;
    }
  if (offered) return;
  Thin* low = nullptr;
  for (Thin* s : sh_.slots)
    if (s != from && s->on_worker_ && s->current_ && s->current_->tprio < best->tprio &&
        (!low || s->current_->tprio < low->current_->tprio))
      low = s;
  if (low) {
    low->kick_me();
    if (boost) hv_.boost_locked(low);
    return;
  }
  for (Thin* s : sh_.slots)  // one that holds a vCPU but lost its worker to another partition
    if (s != from && s->started_ && !s->on_worker_) hv_.offer_locked(s, boost);
}

void SecondaryHypervisor::Thin::poll(Cpu& c) {
  Lock lock(hv_.mu_, std::defer_lock);
  lock_spinning(lock);
  assert_on_worker();
  uint64_t now = 0;
  if (!hv_.timeouts_.empty()) hv_.expire_due_locked(clock(now));
  const VcpuBlock* before = current_;
  maybe_preempt_locked(c, lock);
  round_robin_locked(c, now);
  const bool yielding = yield_asked_;
  if (yield_asked_) {  // a more urgent partition waits for a worker: ours ends its slice
    yield_asked_ = false;
    end_my_slice();
  }
  if (multi()) lead_->place_locked(false, this);
  aim_budget_locked(c, now);
  watch_deadlines_locked();
  // A worker the timer thread raised switches here to the woken vCPU and keeps SCHED_FIFO
  // until its first hypercall; any other poll ends it (at most one run budget of guest code),
  // except before the deadline it was raised early for (timer_main). One that gives its
  // partition up keeps it for the more urgent partition it takes next.
  if (current_ == before && !yielding && wk_ && wk_->rt.load(std::memory_order_acquire)) {
    if (rt_hold_until_ && clock(now) < rt_hold_until_) return;
    // Nothing of the vCPU loaded last has run yet: the slice's first pass ended before its
    // first instruction (a kick left from the expiry that woke it). Dropping here put the
    // system call, and whatever the host did with a thread no longer real-time, in front of
    // that instruction: 8.6-9.2 us median, 39-47 us at the 90th percentile of the slowest 1 %
    // of idle timeout wakes (AMD EPYC host, 2026-12-07). Kept once: the next poll drops it
    // whatever ran, so a vCPU that never retires an instruction cannot keep it.
    if (c.icount == dispatched_icount_) {
      dispatched_icount_ = ~0ull;
      return;
    }
    rt_hold_until_ = 0;
    drop_rt(lock);
  }
}

// A blocked vCPU of this partition whose timeout would preempt the running one: the worker
// meets it itself rather than wait for the timer thread's kick (a second host thread, whose
// core this VM's host may take at the deadline: the timer thread's spin ended late in most of
// the slowest busy timer wakes once the kicked worker no longer slept on mu_). Its runs of
// guest code end after about half the time left (instructions by the guest's last rate), so
// the polls come closer together as the deadline nears, and the poll at or after it expires
// the timeout (expire_due_locked) and switches, without a kick or a second thread. The timer
// thread still raises the worker a spin window early, and meets the deadline kAimGraceNs after
// it if the worker has not (the host held the worker off; a run that overshot). A
// one-processor partition of ours only (a further processor or a split vCPU: the timer thread).
void SecondaryHypervisor::Thin::aim_budget_locked(const Cpu& c, uint64_t& now) {
  if (ap_ || multi()) return;
  uint64_t deadline = 0;
  if (current_)
    for (const auto& [d, owner, v] : hv_.timeouts_)
      if (owner == this && v->tprio > current_->tprio) {
        deadline = d;
        break;
      }
  aimed_at_ = deadline;
  if (!deadline) {
    if (aimed_budget_) machine.set_run_budget(UINT64_MAX);
    aimed_budget_ = rate_at_ = 0;
    return;
  }
  const uint64_t t = clock(now);
  // The rate of the vCPU on the CPU, from the one run of its guest code since the last poll
  // (a hypercall or a switch in between, or a wait for a worker, would make it slower than
  // its code: the budget aimed with it would then overshoot). Not known: a short run measures it.
  const bool one_run = rate_at_ && rate_vcpu_ == current_ && !rate_broken_;
  if (one_run && t > rate_at_ + 500 && c.icount > rate_icount_)
    insns_per_ns_ = double(c.icount - rate_icount_) / double(t - rate_at_);
  else if (!one_run)
    insns_per_ns_ = 0;
  rate_icount_ = c.icount;
  rate_at_ = t;
  rate_vcpu_ = current_;
  rate_broken_ = false;
  constexpr uint64_t kMinBudget = 100, kProbeBudget = 1'000, kMaxBudget = 100'000;
  const double left = deadline > t ? double(deadline - t) : 0.0;
  const uint64_t budget =
      insns_per_ns_ == 0 ? kProbeBudget
                         : std::clamp<uint64_t>(uint64_t(left * insns_per_ns_ / 2), kMinBudget,
                                                kMaxBudget);
  machine.set_run_budget(budget);
  aimed_budget_ = budget;
  ++st_.aimed_runs;
}

void SecondaryHypervisor::Thin::set_tprio_locked(VcpuBlock* v) {
  unsigned t = v->prio;
  for (const auto& b : v->boosts) t = std::max(t, b.second);
  if (t == v->tprio) return;
  v->tprio = t;
  if (v->state == VcpuState::RUNNING) {  // its run-list level follows
    rq_.remove(v);
    rq_.push_run(v, t);
  } else if (v->state == VcpuState::READY && v->level >= 0 && unsigned(v->level) != t) {
    if (int(t) > v->level) boosted_ready_.push_back(v);
  }
}

bool SecondaryHypervisor::Thin::read_guest(uint32_t addr, uint32_t len, std::string* out) const {
  out->clear();
  while (len) {
    const uint32_t n = std::min<uint32_t>(len, 4096 - (addr & 0xFFF));
    const auto e = view_.lookup(addr >> 12);
    if (!e || !(e->perms & S2_R)) return false;
    const uint8_t* p = hv_.port_.machine_bytes(uint64_t(e->machine_page) * 4096 + (addr & 0xFFF), n);
    if (!p) return false;
    out->append(reinterpret_cast<const char*>(p), n);
    addr += n;
    len -= n;
  }
  return true;
}

void SecondaryHypervisor::Thin::do_wait(Cpu& c, Lock& lock, bool lock_word) {
  VcpuBlock* self = current_;
  uint64_t key;
  int err = 0;
  const uint8_t* p = word(c.regs[EBX], &key, &err);
  if (!p) {
    ++st_.bad_hypercalls;
    c.regs[EAX] = uint32_t(-err);
    return;
  }
  uint32_t w = load_word(p);
  if (w != c.regs[ECX]) {
    c.regs[EAX] = uint32_t(-SC_EAGAIN);
    return;
  }
  const uint64_t timeout = c.regs[EDX] | (uint64_t(c.regs[ESI]) << 32);
  if (lock_word && hv_.config_.priority_inheritance) {
    // Raise the holder named by the word, and transitively the holders it waits for, to the
    // waiter's priority; no list is touched (best_ready_locked finds a raised ready holder).
    uint64_t k = key;
    for (unsigned depth = 0; depth < SC_MAX_VCPUS; ++depth) {
      VcpuBlock* h = vcpu(w & ~SC_LOCK_WAITERS);
      if (!h || h == self) break;
      h->boosts.emplace_back(k, self->tprio);
      if (h->tprio < self->tprio) {
        ++st_.pi_boosts;
        set_tprio_locked(h);
      }
      if (h->state != VcpuState::BLOCKED || !h->lock_wait) break;
      const uint8_t* hp = hv_.port_.machine_bytes(h->wait_key, 4);
      if (!hp) break;
      k = h->wait_key;
      w = load_word(hp);
    }
  }
  c.regs[EAX] = 0;  // woken; a timeout writes -ETIMEDOUT into the saved EAX
  off_cpu_locked(c, VcpuState::BLOCKED);
  self->wait_key = key;
  self->lock_wait = lock_word;
  self->wait_seq = ++hv_.wait_seq_;
  self->deadline = 0;
  hv_.waiters_.emplace(key, std::make_pair(lead_, self));
  if (timeout) {
    self->deadline = hv_.now_ns() + timeout;
    hv_.timeouts_.insert({self->deadline, lead_, self});
  }
  schedule_locked(c, lock);
}

void SecondaryHypervisor::Thin::do_wake(Cpu& c) {
  uint64_t key;
  int err = 0;
  if (!word(c.regs[EBX], &key, &err)) {
    ++st_.bad_hypercalls;
    c.regs[EAX] = uint32_t(-err);
    return;
  }
  // Whoever holds inherited priority for this word releases it now.
  VcpuBlock* self = current_;
  const size_t before = self->boosts.size();
  std::erase_if(self->boosts, [&](const auto& b) { return b.first == key; });
  if (self->boosts.size() != before) set_tprio_locked(self);
  c.regs[EAX] = uint32_t(hv_.wake_waiters_locked(key, c.regs[ECX], lead_, ap_));
}

const uint8_t* SecondaryHypervisor::word_at(const Stage2View& view, uint32_t addr, uint64_t* key,
                                            int* err) const {
  if (addr & 3) {
    *err = SC_EINVAL;
    return nullptr;
  }
  const auto e = view.lookup(addr >> 12);
  if (!e || !(e->perms & S2_R)) {
    *err = SC_EFAULT;
    return nullptr;
  }
  *key = uint64_t(e->machine_page) * 4096 + (addr & 0xFFF);
  const uint8_t* p = port_.machine_bytes(*key, 4);
  if (!p) *err = SC_EFAULT;
  return p;
}

size_t SecondaryHypervisor::wake_waiters_locked(uint64_t key, uint32_t max_n, Thin* waker,
                                                unsigned waker_ap) {
  // Waiters on the word, in any partition: highest priority first, FIFO within one.
  std::vector<std::pair<Thin*, VcpuBlock*>> found;
  auto [a, b] = waiters_.equal_range(key);
  for (auto it = a; it != b; ++it) found.push_back(it->second);
  std::sort(found.begin(), found.end(), [](const auto& x, const auto& y) {
    if (x.second->tprio != y.second->tprio) return x.second->tprio > y.second->tprio;
    return x.second->wait_seq < y.second->wait_seq;
  });
  const size_t n = std::min<size_t>(found.size(), max_n);
  for (size_t k = 0; k < n; ++k) {
    auto [owner, v] = found[k];
    owner->remove_waiter_locked(v);
    v->ctx.regs[EAX] = 0;
    owner->make_ready_locked(v, false);
    ++owner->st_.wakes;
    if (owner != waker) owner->nudge_locked(v);
    else v->woken_on = int(waker_ap);  // (place_locked, after the hypercall, finds it a processor)
  }
  return n;
}

void SecondaryHypervisor::Thin::do_request(Cpu& c, Lock& lock) {
  const uint32_t op = c.regs[EBX], len = c.regs[EDX];
  std::string target;
  if (op > HC_PARTITION_STOP || len == 0 || len > 64 || !read_guest(c.regs[ECX], len, &target)) {
    ++st_.bad_hypercalls;
    c.regs[EAX] = uint32_t(-(op > HC_PARTITION_STOP || len == 0 || len > 64 ? SC_EINVAL : SC_EFAULT));
    return;
  }
  if (!hv_.port_.stage2(target)) {
    ++st_.bad_hypercalls;
    c.regs[EAX] = uint32_t(-SC_ENOENT);
    return;
  }
  if (!hv_.schedules(target)) {  // the primary's own partitions are not ours to ask for
    ++st_.bad_hypercalls;
    c.regs[EAX] = uint32_t(-SC_EPERM);
    return;
  }
  // The primary answers on a thread of its own: stopping a partition waits for its thread,
  // which may be this one.
  auto done = std::make_shared<std::promise<bool>>();
  std::future<bool> answer = done->get_future();
  SecondaryPort& port = hv_.port_;
  {
    std::lock_guard g(hv_.requests_mu_);
    // Requests that were answered leave; a guest cannot pile up threads.
    for (size_t k = 0; k < hv_.requests_.size();) {
      if (hv_.requests_[k].finished->load()) {
        hv_.requests_[k].thread.join();
        hv_.requests_.erase(hv_.requests_.begin() + long(k));
      } else {
        ++k;
      }
    }
    if (hv_.requests_.size() >= kMaxRequests) {
      c.regs[EAX] = uint32_t(-SC_EBUSY);
      return;
    }
    auto finished = std::make_shared<std::atomic<bool>>(false);
    hv_.requests_.push_back({std::thread([&port, op, target, done, finished] {
                               done->set_value(op == HC_PARTITION_START ? port.request_start(target)
                                                                        : port.request_stop(target));
                               finished->store(true);
                             }),
                             finished});
  }
  if (target == name) {  // asked for itself: the answer is the stop
    c.regs[EAX] = 0;
    return;
  }
  // Wait for the answer, but not past a stop request of our own (two partitions asking to stop
  // each other would otherwise wait on each other's thread for ever).
  hv_.blocking_locked(true);
  lock.unlock();
  bool ok = false;
  for (;;) {
    if (answer.wait_for(kIdlePoll) == std::future_status::ready) {
      ok = answer.get();
      break;
    }
    if (machine.exit_requested()) break;
  }
  lock.lock();
  hv_.blocking_locked(false);
  c.regs[EAX] = ok ? 0 : uint32_t(-SC_EBUSY);
}

// HC_MEM_LEND (name, len, bytes) and HC_MEM_RETURN (name, len, bytes, how): the primary's
// lend / take_back, as the monitor's `partition mem-lend` / `mem-return`, between the caller
// and the partition named. The primary changes the caller's stage-2 table on this thread
// (parked: its jobs for this machine run at once) and the other partition's on that one's
// thread, dropping the TLB and the code of each page before it is reused, zeroing it between.
void SecondaryHypervisor::Thin::do_mem(Cpu& c, Lock& lock, bool lend) {
  const uint32_t len = c.regs[ECX], bytes = c.regs[EDX], how = c.regs[ESI];
  auto fail = [&](int err) {
    ++st_.bad_hypercalls;
    c.regs[EAX] = uint32_t(-err);
  };
  if (len == 0 || len > 64 || bytes == 0 || bytes % 4096 || (!lend && how > HC_MEM_TAKE_BACK))
    return fail(SC_EINVAL);
  // Not with several processors: the primary's stage-2 jobs would run on this thread (parked)
  // while another processor runs guest code (docs/design.md "A thin partition on several
  // workers").
  if (multi()) return fail(SC_ENOSYS);
  std::string peer;
  if (!read_guest(c.regs[EBX], len, &peer)) return fail(SC_EFAULT);
  if (!hv_.port_.stage2(peer)) return fail(SC_ENOENT);
  if (peer == name) return fail(SC_EINVAL);
  // lend: caller -> peer. Give back: what peer lent the caller. Take back: what it lent peer.
  const bool caller_lends = lend || how == HC_MEM_TAKE_BACK;
  const std::string& from = caller_lends ? name : peer;
  const std::string& to = caller_lends ? peer : name;
  SecondaryPort& port = hv_.port_;
  std::string refused;
  hv_.blocking_locked(true);
  lock.unlock();
  machine.while_parked([&] { refused = port.move_memory(from, to, bytes, lend); });
  lock.lock();
  hv_.blocking_locked(false);
  if (!refused.empty()) return fail(SC_ENOMEM);
  c.regs[EAX] = 0;
}

void SecondaryHypervisor::Thin::hypercall(Cpu& c) {
  // (Tracing: read first, as the guest's HC_TIME_NS after a wait would be.)
  const uint64_t entered = hv_.trace_on_.load(std::memory_order_relaxed) ? hv_.now_ns() : 0;
  Lock lock(hv_.mu_, std::defer_lock);
  lock_spinning(lock);
  assert_on_worker();
  rate_broken_ = true;  // (aim_budget_locked)
  const VcpuBlock* self = current_;
  hypercall_locked(c, lock);
  if (!lock.owns_lock()) lock.lock();
  if (entered) hv_.trace_ran_locked(self, entered, wk_);
  if (multi()) lead_->place_locked(false, this);
  watch_deadlines_locked();
  drop_rt(lock);  // the woken vCPU ran up to its first hypercall: back to SCHED_OTHER
}

// Back to guest code: if a blocked vCPU of ours that would preempt the running one has a
// deadline the timer thread does not wait for yet, it looks again (timer_deadline_locked).
void SecondaryHypervisor::Thin::watch_deadlines_locked() { hv_.watch_deadlines_locked(); }

void SecondaryHypervisor::watch_deadlines_locked() {
  if (const uint64_t d = timer_deadline_locked(); d && d < timer_next_) poke_timer_locked();
}

void SecondaryHypervisor::Thin::hypercall_locked(Cpu& c, Lock& lock) {
  ++st_.hypercalls;
  c.eip += c.trap_insn->len;
  if (!current_) {  // cannot happen: a vCPU is on the CPU whenever the guest runs
    c.regs[EAX] = uint32_t(-SC_EINVAL);
    return;
  }
  VcpuBlock* self = current_;
  auto fail = [&](int err) {
    ++st_.bad_hypercalls;
    c.regs[EAX] = uint32_t(-err);
  };
  auto allowed = [&](uint32_t prio) { return prio >= range_.first && prio <= range_.second; };
  switch (c.regs[EAX]) {
    case HC_VCPU_CREATE: {
      const uint32_t entry = c.regs[EBX], stack = c.regs[ECX], prio = c.regs[EDX], arg = c.regs[ESI];
      if (!allowed(prio)) return fail(SC_EPERM);
      if (st_.live_vcpus >= SC_MAX_VCPUS) return fail(SC_EAGAIN);
      size_t slot = 0;
      while (slot < vcpus_.size() && vcpus_[slot] && vcpus_[slot]->state != VcpuState::EXITED) ++slot;
      if (slot == vcpus_.size()) vcpus_.emplace_back();
      vcpus_[slot] = std::make_unique<VcpuBlock>();
      VcpuBlock* v = vcpus_[slot].get();
      v->id = unsigned(slot + 1);
      v->prio = v->tprio = prio;
      v->ctx.regs[EAX] = arg;
      v->ctx.regs[ESP] = stack;
      v->ctx.eip = entry;
      v->ctx.eflags = read_eflags(c) & ~(ARITH_FLAGS | TF | RF);
      v->ctx.fpu = c.fpu;
      if (multi()) {  // the other processors take the CPU state the tasks run in from here
        sh_.sys.capture(c);
        ++sh_.sys_gen;
      }
      ++st_.vcpus_created;
      ++st_.live_vcpus;
      c.regs[EAX] = v->id;
      make_ready_locked(v, false);
      return maybe_preempt_locked(c, lock);
    }
    case HC_VCPU_EXIT: {
      off_cpu_locked(c, VcpuState::EXITED);
      self->boosts.clear();
      if (last_ == self) last_ = nullptr;
      if (--st_.live_vcpus == 0) {
        machine.request_exit(0);  // the last task is gone: the partition ends
        if (ap_) end_my_slice();   // (the lead's run loop sees the request)
        return;
      }
      return schedule_locked(c, lock);
    }
    case HC_VCPU_YIELD:
      c.regs[EAX] = 0;
      off_cpu_locked(c, VcpuState::READY);
      return schedule_locked(c, lock);
    case HC_VCPU_SET_PRIORITY: {
      VcpuBlock* v = c.regs[EBX] == 0 ? self : vcpu(c.regs[EBX]);
      if (!v) return fail(SC_ESRCH);
      if (!allowed(c.regs[ECX])) return fail(SC_EPERM);
      v->prio = c.regs[ECX];
      v->tprio = ~0u;  // recomputed below
      unsigned t = v->prio;
      for (const auto& b : v->boosts) t = std::max(t, b.second);
      v->tprio = t;
      if (v->state == VcpuState::RUNNING) {
        rq_.remove(v);
        rq_.push_run(v, t);
      } else if (v->state == VcpuState::READY) {
        rq_.remove(v);
        make_ready_locked(v, false);
      }
      c.regs[EAX] = 0;
      return maybe_preempt_locked(c, lock);
    }
    case HC_VCPU_SELF: c.regs[EAX] = self->id; return;
    case HC_WAIT: return do_wait(c, lock, false);
    case HC_LOCK_WAIT: return do_wait(c, lock, true);
    case HC_WAKE:
      do_wake(c);
      return maybe_preempt_locked(c, lock);
    case HC_TIME_NS: {
      const uint64_t t = hv_.now_ns();
      c.regs[EAX] = uint32_t(t);
      c.regs[EDX] = uint32_t(t >> 32);
      return;
    }
    case HC_CONSOLE_WRITE: {
      std::string text;
      if (c.regs[ECX] > SC_CONSOLE_MAX) return fail(SC_EINVAL);
      if (!read_guest(c.regs[EBX], c.regs[ECX], &text)) return fail(SC_EFAULT);
      c.regs[EAX] = c.regs[ECX];
      auto out = hv_.console_;
      lock.unlock();
      out(name, text);
      return;
    }
    case HC_PARTITION_REQUEST: return do_request(c, lock);
    case HC_MEM_LEND: return do_mem(c, lock, true);
    case HC_MEM_RETURN: return do_mem(c, lock, false);
    default: return fail(SC_ENOSYS);
  }
}

// ---- the hypervisor --------------------------------------------------------------------

SecondaryHypervisor::SecondaryHypervisor(const HypervisorConfig& config, const SystemConfig& system,
                                         SecondaryPort port)
    : config_(config), port_(std::move(port)) {
  console_ = [](const std::string&, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  for (const PartitionConfig& pc : system.partitions) {
    if (pc.hypervisor != config.name) continue;
    Machine* m = port_.machine(pc.name);
    auto view = port_.stage2(pc.name);
    if (!m || !view)
      throw ConfigError{"partition '" + pc.name + "': the primary gives the secondary hypervisor "
                        "no machine for it"};
    const auto range = pc.priority_range.value_or(config.priority_range);
    const unsigned initial = pc.priority.value_or(range.first);
    thins_.push_back(std::make_unique<Thin>(*this, pc, *m, *view, range, initial));
    Thin* lead = thins_.back().get();
    m->set_hypercall_handler(lead);
    m->set_wake_hook(&SecondaryHypervisor::wake_hook, lead);
    if (pc.machine.smp_threads)  // vcpus = N, vcpu_threads = "multi": N processors
      for (unsigned k = 1; k < pc.vcpus; ++k) add_processor(pc, *lead, k);
  }
  for (const PartitionConfig& pc : system.partitions)
    if (const HypervisorConfig* h = split_hypervisor(system, pc); h && h->name == config.name)
      add_split_vcpus(pc);
  // Partitions of the primary that share a region with one of ours may wake its waiters: each
  // CPU that has a hypercall path (CPU 0; all of them with vcpu_threads = "multi", which run
  // VMCALL on their own threads) gets a Waker. port_.machine gives no other partition.
  for (const PartitionConfig& pc : system.partitions) {
    if (pc.hypervisor == config.name || !shares_a_region_with(system, pc.name, config.name))
      continue;
    Machine* m = port_.machine(pc.name);
    auto view = port_.stage2(pc.name);
    if (!m || !view) continue;  // a partition of another secondary
    const unsigned cpus = pc.machine.smp_threads ? std::max(pc.vcpus, 1u) : 1u;
    wakers_.push_back(std::make_unique<Waker>(*this, pc.name, *m, *view, cpus));
    for (unsigned k = 0; k < cpus; ++k) m->set_hypercall_handler(k, wakers_.back().get());
  }
  processors_ = unsigned(std::max<size_t>(thins_.size(), 1));
  for (const auto& set : system.processor_sets)
    if (set.name == config.processor_set) processors_ = std::max(set.threads, 1u);
  timer_ = std::thread([this] { timer_main(); });
  std::lock_guard lock(mu_);
  for (unsigned k = 0; k < processors_; ++k) workers_.emplace_back([this] { worker_main(); });
}

SecondaryHypervisor::~SecondaryHypervisor() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
    poke_timer_locked();
    poke_workers();
  }
  timer_.join();
  std::vector<Request> reqs;
  {
    std::lock_guard g(requests_mu_);
    reqs.swap(requests_);
  }
  for (auto& r : reqs) r.thread.join();
  for (auto& t : thins_)
    if (!t->ap_) t->machine.request_exit(0);
  {
    std::lock_guard g(threads_mu_);
    for (auto& [id, t] : threads_)
      if (t.joinable()) t.join();
  }
  // Every started partition has stopped (the primary joins them first); the workers end.
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
    poke_workers();
  }
  for (auto& w : workers) w.join();
  for (auto& t : thins_) {
    if (t->ap_) t->machine.set_external_vcpu(t->ap_, {});  // the machine outlives us
    t->machine.set_hypercall_handler(t->ap_, nullptr);
  }
  for (auto& w : wakers_)
    for (unsigned k = 0; k < w->cpus; ++k) w->machine.set_hypercall_handler(k, nullptr);
  for (auto& w : worker_records_)
    if (w->schedstat >= 0) close(w->schedstat);
}

bool SecondaryHypervisor::timer_realtime() const {
  for (int k = 0; k < 1000 && !timer_tried_.load(); ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return timer_realtime_.load();
}

void SecondaryHypervisor::trace_wakes(size_t capacity) {
  std::lock_guard lock(mu_);
  trace_cap_ = capacity;
  traces_.clear();
  traces_.reserve(std::min<size_t>(capacity, 1 << 16));
  trace_pending_.clear();
  trace_on_ = capacity > 0;
}

std::vector<WakeTrace> SecondaryHypervisor::wake_traces() {
  std::lock_guard lock(mu_);
  return traces_;
}

// The vCPU `self` (on `w`) began a hypercall at `entered`: if it is the first since a timeout
// woke it, its trace is done.
void SecondaryHypervisor::trace_ran_locked(const VcpuBlock* self, uint64_t entered, Worker* w) {
  auto it = trace_pending_.find(self);
  if (it == trace_pending_.end()) return;
  auto [deadline, tr] = it->second;
  trace_pending_.erase(it);
  tr.ran = int64_t(entered - deadline);
  Worker::SchedStat now;
  if (w && w->mark_for == deadline && schedstat_locked(*w, &now)) {
    tr.run_delay = int64_t(now.waiting - w->mark.waiting);
    if (!w->mark_asleep)
      tr.stolen = int64_t(now.at - w->mark.at) - int64_t(now.on_core - w->mark.on_core) - tr.run_delay;
  }
  if (traces_.size() < trace_cap_) traces_.push_back(tr);
}

// /proc/<pid>/task/<tid>/schedstat: ns on a core, ns waiting on a run queue, time slices
// (proc(5)).
bool SecondaryHypervisor::schedstat_locked(Worker& w, Worker::SchedStat* out) {
  if (w.schedstat < 0 && w.tid) {
    const std::string path = "/proc/self/task/" + std::to_string(w.tid) + "/schedstat";
    w.schedstat = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  char buf[96];
  const ssize_t n = w.schedstat >= 0 ? pread(w.schedstat, buf, sizeof buf - 1, 0) : -1;
  out->at = now_ns();
  if (n <= 0) return false;
  buf[n] = 0;
  unsigned long long on_core = 0, waiting = 0;
  if (std::sscanf(buf, "%llu %llu", &on_core, &waiting) != 2) return false;
  out->on_core = on_core;
  out->waiting = waiting;
  return true;
}

// Processor `k` of thin partition `lead` (vcpu_threads = "multi"): application processor k of
// its machine, run by the pool through run_external_slice like a split vCPU, with its own
// hypercall handler. The machine calls the hooks: start when its run begins (the lead's first
// slice), stop when it ends (waits until no worker runs the processor). A kick of it (our
// preemption, an exclusive section) needs no wake: a processor is offered when it has a vCPU.
void SecondaryHypervisor::add_processor(const PartitionConfig& pc, Thin& lead, unsigned k) {
  thins_.push_back(std::make_unique<Thin>(*this, pc, lead.machine, lead.view(), lead.range(),
                                          lead.initial(), k, &lead));
  Thin* t = thins_.back().get();
  attach_external(t, false);
  lead.machine.set_hypercall_handler(k, t);
}

// The machine's hooks for the application processor `t` the pool runs: start offers it (a split
// vCPU starts with its own boot context, a thin partition's processor empty: the lead's start
// reset it), wake (`wake`: a split vCPU's kicks) marks it woken, stop waits until no worker
// runs it.
void SecondaryHypervisor::attach_external(Thin* t, bool wake) {
  Machine::ExternalVcpu hooks;
  hooks.start = [this, t] {
    std::lock_guard lock(mu_);
    if (t->split_) t->reset_locked();
    t->vcpu_ = {};
    t->vcpu_.name = t->name;
    t->vcpu_.slice = [t](SteadyTime) {
      // A vCPU of the primary's has no hypercall or poll of ours to end SCHED_FIFO at: its
      // worker, raised for a spin to its deadline, keeps it through the first pass (the
      // interrupt delivered and its handler run, at most one run budget of guest code) and
      // drops it then. (wk_ is this worker's own, written by it under mu_ before the slice.)
      const std::function<void()> drop_rt = [t] {
        if (Worker* w = t->wk_; w && w->rt.load(std::memory_order_acquire)) set_worker_rt(*w, false);
      };
      const Machine::SliceEnd e =
          t->machine.run_external_slice(t->ap_, t->split_ ? drop_rt : std::function<void()>{});
      return SliceResult{e.kind == Machine::SliceEnd::PREEMPTED ? SliceResult::PREEMPTED
                         : e.kind == Machine::SliceEnd::IDLE    ? SliceResult::IDLE
                                                                : SliceResult::STOPPED,
                         e.status, e.wake, e.empty};
    };
    t->vcpu_.end = [](int status) { return status; };
    t->on_stop_ = [](int) {};
    t->begun_ = true;  // nothing to begin: the machine's CPU 0 thread began the run
    t->yield_asked_ = false;
    t->halted_until_ = {};
    t->started_ = true;
    offer_locked(t);
  };
  if (wake) {
    hooks.wake = [t] { wake_hook(t); };
    hooks.deadline = [this] {  // no lock (maybe under the machine's big lock): look again
      poke_workers();
      timer_seq_.fetch_add(1, std::memory_order_release);
      timer_cv_.notify_one();
    };
  }
  hooks.stop = [this, t] {
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [t] { return !t->on_worker_; });  // its slice sees the stop
    t->started_ = false;
  };
  t->machine.set_external_vcpu(t->ap_, std::move(hooks));
}

// [partition.secondary]: each named vCPU of a partition of the primary becomes one of the
// pool's entries (a Thin with ap_ set), at the split's priority. The machine calls the hooks:
// start when its run begins (the entry is offered to the pool), wake when the vCPU is kicked,
// stop when the run ends (waits until no worker runs the vCPU).
void SecondaryHypervisor::add_split_vcpus(const PartitionConfig& pc) {
  Machine* m = port_.machine(pc.name);
  auto view = port_.stage2(pc.name);
  if (!m || !view)
    throw ConfigError{"partition '" + pc.name + "': the primary gives the secondary hypervisor "
                      "no machine for it"};
  const unsigned prio = pc.split->priority.value_or(config_.priority_range.first);
  for (unsigned k : pc.split->vcpus) {
    thins_.push_back(std::make_unique<Thin>(*this, pc, *m, *view, config_.priority_range, prio, k));
    attach_external(thins_.back().get(), true);
  }
}

uint64_t SecondaryHypervisor::now_ns() const { return steady_ns(); }

bool SecondaryHypervisor::schedules(const std::string& partition) const {
  for (const auto& t : thins_)
    if (t->name == partition && !t->ap_) return true;
  return false;
}

ThinStats SecondaryHypervisor::stats(const std::string& partition) {
  std::lock_guard lock(mu_);
  for (const auto& t : thins_)
    if (t->name == partition && !t->ap_) return t->stats_locked();
  for (const auto& w : wakers_)  // a waker of the primary's: its hypercalls only
    if (w->name == partition) return w->st_;
  return {};
}

ThinStats SecondaryHypervisor::vcpu_stats(const std::string& partition, unsigned vcpu) {
  std::lock_guard lock(mu_);
  for (const auto& t : thins_)
    if (t->name == partition && t->ap_ == vcpu && t->split_) return t->stats_locked();
  return {};
}

void SecondaryHypervisor::set_console(
    std::function<void(const std::string&, std::string_view)> out) {
  std::lock_guard lock(mu_);
  console_ = std::move(out);
}

void SecondaryHypervisor::start(unsigned id, SchedulableVcpu vcpu, std::function<void(int)> on_stop) {
  Thin* thin = nullptr;
  for (const auto& t : thins_)
    if (t->name == vcpu.name && !t->ap_) thin = t.get();
  if (thin) {  // the pool runs it
    std::lock_guard lock(mu_);
    thin->reset_locked();
    thin->vcpu_ = std::move(vcpu);
    thin->on_stop_ = std::move(on_stop);
    thin->id_ = id;
    thin->begun_ = false;
    thin->yield_asked_ = false;
    thin->halted_until_ = {};
    thin->started_ = true;
    offer_locked(thin);
    return;
  }
  std::lock_guard g(threads_mu_);  // not one of ours (cannot happen): a thread of its own
  threads_[id] = std::thread([vcpu = std::move(vcpu), on_stop = std::move(on_stop)] {
    tight_timers();
    on_stop(vcpu.run());
  });
}

void SecondaryHypervisor::join(unsigned id) {
  {
    std::unique_lock lock(mu_);
    for (const auto& t : thins_)
      if (t->id_ == id && !t->ap_ && (t->started_ || t->on_worker_)) {
        Thin* thin = t.get();
        done_cv_.wait(lock, [thin] { return !thin->started_ && !thin->on_worker_; });
        return;
      }
  }
  std::thread t;
  {
    std::lock_guard g(threads_mu_);
    auto it = threads_.find(id);
    if (it == threads_.end()) return;
    t = std::move(it->second);
    threads_.erase(it);
  }
  if (t.joinable()) t.join();
}

void SecondaryHypervisor::wake(unsigned id) {
  for (const auto& t : thins_)
    if (t->id_ == id && !t->ap_) wake_hook(t.get());
}

// A job or an exit request was posted to a partition's CPU (any thread, maybe under mu_ on
// this one: no lock here). A worker looks at it within kIdlePoll at the latest.
void SecondaryHypervisor::wake_hook(void* thin) {
  auto* t = static_cast<Thin*>(thin);
  t->woken_.store(true, std::memory_order_release);
  SecondaryHypervisor& hv = t->hv();
  hv.poke_workers();
  // With every worker busy the timer thread makes room (offer_locked): it takes mu_, which
  // this caller may hold.
  hv.timer_seq_.fetch_add(1, std::memory_order_release);
  hv.timer_cv_.notify_one();
}

void SecondaryHypervisor::poke_workers() {
  work_seq_.fetch_add(1, std::memory_order_release);
  work_cv_.notify_all();
}

// `t` has something to run and no worker: a free worker takes it; with none free, the least
// urgent running partition below it ends its slice at its next block boundary.
void SecondaryHypervisor::offer_locked(Thin* t, bool boost) {
  if (!t->runnable_locked()) return;
  if (idle_workers_ > 0 && running_ < processors_ + blocked_) {
    poke_workers();
    return;
  }
  const int mine = t->urgency_locked();
  Thin* victim = nullptr;
  for (const auto& r : thins_)
    if (r->on_worker_ && !r->yield_asked_ && r->urgency_locked() < mine &&
        (!victim || r->urgency_locked() < victim->urgency_locked()))
      victim = r.get();
  if (victim) {
    victim->ask_yield_locked();
    if (boost) boost_locked(victim);
  }
}

// The timer thread has a due timeout for the vCPU that `t`'s worker is to switch to (or for
// the partition it is to give its worker to): that worker goes SCHED_FIFO, so the host runs it
// at once rather than after its other threads' turns; it drops back at the woken vCPU's first
// hypercall or its next poll (Thin::drop_rt). Only where the host let the timer thread go
// SCHED_FIFO; a vCPU of the primary's ([partition.secondary]) is not ours to raise. The
// system call is made after mu_ is let go (timer_main): made under it, it kept the kicked
// worker waiting for mu_ in the kernel, and the host's wake-up of that wait cost ~40 us.
void SecondaryHypervisor::boost_locked(Thin* t) {
  if (!timer_realtime_.load(std::memory_order_relaxed) || t->split_ || !t->wk_ ||
      t->wk_->rt.load(std::memory_order_acquire))
    return;
  boosts_.push_back(t->wk_);
  ++t->st_.rt_boosts;
}

// The timer thread: raises the workers boost_locked queued, with the system calls made after
// mu_ is let go (`lock` is left unlocked).
void SecondaryHypervisor::raise_boosts_unlocking(std::unique_lock<std::mutex>& lock) {
  std::vector<Worker*> raise;
  raise.swap(boosts_);
  lock.unlock();
  for (Worker* w : raise) set_worker_rt(*w, true);
}

// A worker's record outlives it (worker_records_): a pointer the timer thread took under mu_
// stays valid after the worker moved on (then the raise is for whatever it runs next, and ends
// at that partition's first hypercall or poll) or ended.
void SecondaryHypervisor::set_worker_rt(Worker& w, bool on) {
  std::lock_guard g(w.rt_mu);
  if (w.rt.load(std::memory_order_relaxed) == on) return;
  if (set_realtime(w.thread, on)) w.rt.store(on, std::memory_order_release);
}

// A hypercall waits for another thread (the primary's answer, a memory move that may need
// another partition's CPU): meanwhile one more worker may run, so a 1-thread set does not
// wait on itself.
void SecondaryHypervisor::blocking_locked(bool begin) {
  if (!begin) {
    --blocked_;
    return;
  }
  ++blocked_;
  if (idle_workers_ == 0 && workers_.size() < processors_ + blocked_ && !quit_)
    workers_.emplace_back([this] { worker_main(); });
  poke_workers();
}

// The most urgent runnable partition, or nullptr.
SecondaryHypervisor::Thin* SecondaryHypervisor::pick_locked() {
  Thin* best = nullptr;
  int best_urgency = -1;
  for (const auto& t : thins_)
    if (t->runnable_locked())
      if (const int u = t->urgency_locked();
          !best || u > best_urgency || (u == best_urgency && t->last_ran_ < best->last_ran_)) {
        best = t.get();
        best_urgency = u;
      }
  return best;
}

// A worker of the pool: runs the most urgent runnable partition's slice until its vCPUs all
// block (Thin::schedule_locked ends it), a more urgent partition takes the worker
// (offer_locked), or the run stops; with nothing to run it waits for a wake, posted work or
// the earliest deadline of the partitions no worker runs.
void SecondaryHypervisor::worker_main() {
  tight_timers();
  Thin::Lock lock(mu_);
  Worker& self = *worker_records_.emplace_back(std::make_unique<Worker>());
  self.thread = pthread_self();
  self.tid = int(gettid());
  while (!quit_) {
    Thin* t = running_ < processors_ + blocked_ ? pick_locked() : nullptr;
    if (!t) {
      uint64_t until = now_ns() + uint64_t(std::chrono::nanoseconds(kIdlePoll).count());
      Thin* owner = nullptr;
      for (const auto& [deadline, o, v] : timeouts_)
        if (!o->on_worker_) {
          if (deadline <= until) {
            until = deadline;
            owner = o;
          }
          break;
        }
      // vCPUs of the primary's: their machines' deadlines (one that has come stays until a
      // worker runs the vCPU: only while this worker may take one, or it would not sleep).
      for (const auto& o : thins_)
        if (o->split_ && o->started_ && !o->on_worker_ && running_ < processors_ + blocked_)
          if (const int64_t d = o->machine_deadline(); d != INT64_MAX && uint64_t(d) <= until) {
            until = uint64_t(std::max<int64_t>(d, 0));
            owner = o.get();
          }
      ++idle_workers_;
      idle_wait_locked(lock, until, owner, self);
      --idle_workers_;
      // (No watch_deadlines_locked here: the loop picks the partition a timeout made ready,
      // and taking it looks at the deadlines left without a worker. Poking the timer thread
      // here cost ~10 us of every idle wake: it runs SCHED_FIFO, so its futex wake preempted
      // this worker, which held mu_, and it blocked on mu_ at once.)
      expire_due_locked(now_ns(), false, &self);
      continue;
    }
    t->on_worker_ = true;
    t->worker_ = std::this_thread::get_id();
    t->wk_ = &self;
    ++running_;
    // Taken for posted work only (urgency_locked put it first): serve that, then it competes
    // again at its own priority. An exit request runs the slice, which stops at once.
    const bool posted = !t->ap_ && t->woken_.exchange(false, std::memory_order_acq_rel);
    // A vCPU of the primary's: a kick from here on (a wake hook) makes it runnable again after
    // an idle end; one before is seen by the slice (it had been left set, so such a vCPU that
    // halted was taken again at once, for ever: its worker spun).
    if (t->split_) {
      t->woken_.store(false, std::memory_order_release);
      // A deadline already come is this slice's (its first pass fires the timer): the timer
      // thread is not to be woken for it (a poke of that real-time thread took the core from
      // this worker, ~9 us of every timer wake).
      if (const int64_t d = t->machine_deadline(); d != INT64_MAX && d <= int64_t(now_ns()))
        t->deadline_met_ = d;
    }
    const bool guest =
        t->split_ || ((!posted || t->machine.exit_requested()) && t->prepare_locked());
    const auto slice_start = std::chrono::steady_clock::now();
    t->worker_since_ = uint64_t(
        std::chrono::duration_cast<std::chrono::nanoseconds>(slice_start.time_since_epoch()).count());
    SliceResult r{SliceResult::PREEMPTED, 0, {}};
    watch_deadlines_locked();  // the partitions left without a worker
    // SCHED_FIFO (a spin's or a boost's) carries over to the guest only where our poll and
    // hypercalls end it, or a vCPU of the primary's first pass (attach_external): not for
    // posted work.
    if (self.rt.load(std::memory_order_acquire) && !guest) {
      t->drop_rt(lock);
      if (!lock.owns_lock()) lock.lock();
    }
    lock.unlock();
    if (!guest) {
      // Stage-2 changes wait for no guest (a further processor with nothing: no slice).
      if (!t->ap_) t->machine.serve_posted_jobs();
    } else {
      if (!t->begun_) {
        t->vcpu_.begin();
        t->begun_ = true;
      }
      r = t->vcpu_.slice(SteadyTime::max());
    }
    lock.lock();
    ++t->st_.slices;
    if (guest && r.empty) ++t->st_.empty_slices;
    if (t->ap_ && !t->split_ && guest) ++t->st_.other_processor_slices;
    t->st_.cpu_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - slice_start).count();
    t->yield_asked_ = false;
    t->last_ran_ = ++slice_seq_;
    if (!t->split_) t->slice_used_locked();
    --running_;
    if (r.kind == SliceResult::IDLE) t->halted_until_ = r.wake;
    else if (guest) t->halted_until_ = {};
    if (r.kind == SliceResult::STOPPED) {  // still held (on_worker_) until on_stop has run
      lock.unlock();
      const int status = t->vcpu_.end(r.status);
      t->on_stop_(status);
      lock.lock();
      t->started_ = false;
      done_cv_.notify_all();
    }
    t->on_worker_ = false;
    t->worker_ = {};
    t->wk_ = nullptr;
    if (t->ap_) done_cv_.notify_all();  // the machine's stop hook waits for this
  }
}

// Blocked vCPUs whose timeout passed become ready with -ETIMEDOUT.
void SecondaryHypervisor::expire_due_locked(uint64_t now, bool timer_thread, const Worker* idle) {
  while (!timeouts_.empty() && std::get<0>(*timeouts_.begin()) <= now) {
    auto [deadline, owner, v] = *timeouts_.begin();
    if (trace_on_.load(std::memory_order_relaxed)) {
      WakeTrace tr;
      tr.by = timer_thread ? WakeTrace::TIMER_THREAD : idle ? WakeTrace::IDLE_WORKER : WakeTrace::POLL;
      tr.expired = int64_t(now - deadline);
      auto rel = [&](uint64_t t) { return t ? int64_t(t - deadline) : WakeTrace::kNone; };
      tr.prio = v->tprio;
      tr.on_worker = owner->on_worker_;
      tr.rt_at_expiry = owner->wk_ && owner->wk_->rt.load(std::memory_order_relaxed);
      if (idle && idle->waited_for == deadline) {
        tr.slept_until = rel(idle->slept_until);
        tr.spin_from = rel(idle->spin_from);
        tr.spin_to = rel(idle->spin_to);
        tr.locked = rel(idle->locked);
        tr.window = idle->window;
      } else if (timer_thread && timer_trace_for_ == deadline) {
        tr.slept_until = rel(timer_slept_until_);
        tr.spin_from = rel(timer_spin_from_);
        tr.spin_to = rel(timer_spin_to_);
        tr.locked = rel(timer_locked_);
        tr.window = timer_spin_ns_;
        if (timer_seen_for_ == deadline) tr.seen = rel(timer_seen_);
        tr.raised = owner->wk_ && owner->wk_->mark_for == deadline;
      }
      tr.spun = tr.spin_from != WakeTrace::kNone;
      trace_pending_[v] = {deadline, tr};
    }
    owner->st_.expire_late_ns_sum += now - deadline;
    owner->st_.expire_late_ns_max = std::max(owner->st_.expire_late_ns_max, now - deadline);
    owner->st_.expired_by_timer_thread += timer_thread;
    owner->st_.expired_aimed += !timer_thread && !idle && owner->aimed_at_ == deadline;
    owner->remove_waiter_locked(v);
    v->ctx.regs[EAX] = uint32_t(-SC_ETIMEDOUT);
    ++owner->st_.timeouts;
    owner->make_ready_locked(v, false);
    owner->nudge_locked(v, timer_thread);
  }
}

// vCPUs of the primary's whose machine deadline came (a timer of theirs, a device's while CPU
// 0's thread has no slice): one running guest code is kicked (its next pass fires the timer),
// one no worker runs is offered to the pool. The timer thread's; each deadline once.
void SecondaryHypervisor::meet_machine_deadlines_locked(uint64_t now) {
  for (const auto& t : thins_) {
    if (!t->split_ || !t->started_) continue;
    const int64_t d = t->machine_deadline();
    if (d == INT64_MAX || uint64_t(d) > now || d == t->deadline_met_) continue;
    t->deadline_met_ = d;
    if (t->on_worker_) t->kick_me();
    else offer_locked(t.get());
  }
}

// A worker with nothing to run until `until` (the deadline of a vCPU of `owner`, else a
// poll) or a wake (poke_workers): sleep, but toward a deadline only until the spin window
// before it, then spin without the lock. How late the sleeps end sets the window; the
// deadline's partition's counters say how it went.
void SecondaryHypervisor::idle_wait_locked(std::unique_lock<std::mutex>& lock, uint64_t until,
                                           Thin* owner, Worker& self) {
  const bool deadline = owner != nullptr;
  using Clock = std::chrono::steady_clock;
  auto at = [](uint64_t ns) { return Clock::time_point(std::chrono::nanoseconds(ns)); };
  const uint64_t seq = work_seq_.load(std::memory_order_acquire);
  uint64_t& window = worker_spin_ns_;
  const bool trace = deadline && trace_on_.load(std::memory_order_relaxed);
  if (trace) {
    self.waited_for = until;
    self.slept_until = self.spin_from = self.spin_to = self.locked = 0;
    self.window = window;
    mark_locked(self, until, true);
  }
  uint64_t now = now_ns();
  if (!deadline || until > now + window) {
    const uint64_t target = deadline ? until - window : until;
    work_cv_.wait_until(lock, at(target));
    now = now_ns();
    if (trace) self.slept_until = now;
    if (now >= target && deadline) {  // the sleep ran out (not a wake): how late was it?
      const uint64_t late = now - target;
      ++owner->st_.idle_sleeps;
      owner->st_.sleep_late_ns_sum += late;
      owner->st_.sleep_late_ns_max = std::max(owner->st_.sleep_late_ns_max, late);
      adapt_spin_window(window, late);
    }
  }
  auto poked = [&] { return work_seq_.load(std::memory_order_acquire) != seq || quit_; };
  if (deadline && now < until && !poked()) {
    ++owner->st_.spins;
    if (trace) mark_locked(self, until);
    lock.unlock();
    // The spin is short: at the timer thread's real-time priority where the host allows it,
    // so that the host's other threads do not take the core from it just before the deadline.
    // It keeps that priority through the expiry and the switch to the woken vCPU, up to that
    // vCPU's first hypercall or poll (Thin::drop_rt): dropping it here cost ~2 us of every
    // idle wake (the system call) and tens of microseconds whenever the host then preempted
    // the worker.
    if (timer_realtime_.load(std::memory_order_relaxed)) set_worker_rt(self, true);
    const uint64_t spin_from = trace ? now_ns() : 0;
    while (now_ns() < until && work_seq_.load(std::memory_order_acquire) == seq)
      __builtin_ia32_pause();
    const uint64_t spin_to = trace ? now_ns() : 0;
    lock_spinning(lock);
    if (trace) self.spin_from = spin_from, self.spin_to = spin_to, self.locked = now_ns();
  }
}

void SecondaryHypervisor::poke_timer_locked() {
  timer_seq_.fetch_add(1, std::memory_order_release);
  timer_cv_.notify_one();
}

// The earliest deadline the timer thread must meet (Thin::next_preempting_deadline_locked);
// 0: none.
uint64_t SecondaryHypervisor::timer_deadline_locked() const {
  uint64_t next = 0;
  for (const auto& t : thins_)
    if (const uint64_t d = t->next_preempting_deadline_locked(); d && (!next || d < next)) next = d;
  return next;
}

// Timeouts of partitions that are running something else (or wait for a processor): the due
// vCPU is made ready here and the partition's CPU is kicked so that it preempts within a block.
// A host thread woken by a timer runs tens of microseconds late here even when its core is
// busy (a virtual machine's timer interrupt), so the thread sleeps only until a spin window
// before the deadline and spins the rest without the lock; a new earlier deadline or a
// partition running again (poke_timer_locked) makes it look again.
void SecondaryHypervisor::timer_main() {
  tight_timers();
  timer_realtime_ = set_realtime(pthread_self(), true);
  timer_tried_ = true;
  auto at = [](uint64_t ns) { return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns)); };
  std::unique_lock lock(mu_);
  while (!quit_) {
    for (const auto& t : thins_)  // posted work for a partition no worker runs (wake_hook)
      if (t->started_ && !t->on_worker_ && t->woken_.load(std::memory_order_acquire))
        offer_locked(t.get());
    const uint64_t next = timer_deadline_locked();
    timer_next_ = next ? next : UINT64_MAX;
    const uint64_t seq = timer_seq_.load(std::memory_order_acquire);
    if (!next) {
      timer_cv_.wait_for(lock, kIdlePoll);  // wake_hook notifies without mu_: may be missed
      continue;
    }
    uint64_t now = now_ns();
    const bool trace = trace_on_.load(std::memory_order_relaxed);
    if (trace) {
      if (timer_seen_for_ != next) timer_seen_for_ = next, timer_seen_ = now;
      timer_trace_for_ = next;
      timer_slept_until_ = timer_spin_from_ = timer_spin_to_ = timer_locked_ = 0;
    }
    if (next > now + timer_spin_ns_) {
      const uint64_t target = next - timer_spin_ns_;
      timer_cv_.wait_until(lock, at(target));
      now = now_ns();
      if (trace) timer_slept_until_ = now;
      if (now < target || timer_seq_.load(std::memory_order_acquire) != seq) continue;
      adapt_spin_window(timer_spin_ns_, now - target);
      if (timer_deadline_locked() != next) continue;  // its partition went idle meanwhile
    }
    if (now < next) {
      // The worker that is to switch at `next` goes SCHED_FIFO now, a spin window early, and
      // keeps it to the deadline (rt_hold_until_): a worker the host had descheduled is then
      // on a core when the kick comes, instead of being woken by it (an IPI and a switch,
      // tens of microseconds in this VM). The lower vCPUs' guest code runs real-time for
      // that window; the woken vCPU's first hypercall, or a poll after the deadline, ends it.
      for (const auto& t : thins_)
        if (t->on_worker_ && t->next_preempting_deadline_locked() == next) {
          t->rt_hold_until_ = next;
          boost_locked(t.get());
          // (The deadline itself, for one the worker aims at: the trace is keyed by it.)
          const bool aimed = t->aimed_at_ && next == t->aimed_at_ + kAimGraceNs;
          if (trace && t->wk_) mark_locked(*t->wk_, aimed ? t->aimed_at_ : next);
        }
      raise_boosts_unlocking(lock);
      const uint64_t spin_from = now_ns();
      while (now_ns() < next && timer_seq_.load(std::memory_order_acquire) == seq)
        __builtin_ia32_pause();
      const uint64_t spin_to = trace ? now_ns() : 0;
      lock_spinning(lock);
      if (trace && timer_trace_for_ == next) {
        timer_spin_from_ = spin_from;
        timer_spin_to_ = spin_to;
        timer_locked_ = now_ns();
      }
    }
    expire_due_locked(now_ns(), true);
    meet_machine_deadlines_locked(now_ns());
    if (!boosts_.empty()) {
      raise_boosts_unlocking(lock);
      lock.lock();
    }
  }
  timer_next_ = UINT64_MAX;
}

}  // namespace softcpu::hv
