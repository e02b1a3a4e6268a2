#include "tools/system_signals.h"

#include <pthread.h>

#include "monitor/hv/primary.h"
#include "monitor/machine.h"

namespace softcpu {

SystemStopSignals::SystemStopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, &old_);
  thread_ = std::thread([this] { loop(); });
}

SystemStopSignals::~SystemStopSignals() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
    primary_ = nullptr;
  }
  pthread_kill(thread_.native_handle(), SIGTERM);  // blocked there: sigwait returns it
  thread_.join();
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

void SystemStopSignals::attach(hv::PrimaryHypervisor* primary) {
  std::lock_guard lock(mu_);
  primary_ = primary;
  if (primary_ && signal_) primary_->request_quit();
}

int SystemStopSignals::signal() {
  std::lock_guard lock(mu_);
  return signal_;
}

void SystemStopSignals::loop() {
  for (;;) {
    int sig = 0;
    if (sigwait(&set_, &sig) != 0) continue;
    std::lock_guard lock(mu_);
    if (done_) return;
    if (signal_) {
      // The second: the default action, now (as SA_RESETHAND does for a single guest).
      struct sigaction sa {};
      sa.sa_handler = SIG_DFL;
      sigemptyset(&sa.sa_mask);
      sigaction(sig, &sa, nullptr);
      pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
      raise(sig);
      return;
    }
    signal_ = sig;
    Machine::report_stop_signal(sig);
    if (primary_) primary_->request_quit();
  }
}

}  // namespace softcpu
