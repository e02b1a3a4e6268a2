// SIGINT and SIGTERM for a system of partitions (run --config with several): they end it as a
// power-off ends a single guest (Machine::catch_stop_signals): every partition stopped (its
// disks flushed and closed, its --save-on-exit written), the partition table and the stats
// printed, exit status 128 + the signal. A second signal ends the process at once.
#pragma once
#include <csignal>
#include <mutex>
#include <thread>

namespace softcpu::hv {
class PrimaryHypervisor;
}

namespace softcpu {

// Blocks both signals in the calling thread, so in every thread it creates afterwards (make
// it before the primary hypervisor starts any), and takes them on a thread of its own with
// sigwait: a handler could not take the primary's lock. One at a time.
class SystemStopSignals {
 public:
  SystemStopSignals();
  ~SystemStopSignals();  // the thread ends; the signals' mask is restored
  SystemStopSignals(const SystemStopSignals&) = delete;
  SystemStopSignals& operator=(const SystemStopSignals&) = delete;

  // From now on a signal asks `primary` to quit (at once, if one came already); nullptr: no
  // longer (it is being destroyed).
  void attach(hv::PrimaryHypervisor* primary);
  // The first signal taken, or 0.
  int signal();

 private:
  void loop();

  sigset_t set_{};
  sigset_t old_{};
  std::mutex mu_;
  hv::PrimaryHypervisor* primary_ = nullptr;  // under mu_
  int signal_ = 0;                            // under mu_
  bool done_ = false;                         // under mu_: the destructor ends the thread
  std::thread thread_;
};

}  // namespace softcpu
