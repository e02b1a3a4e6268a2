#include "monitor/hv/scheduler.h"

namespace softcpu::hv {

ThreadPerVcpuScheduler::~ThreadPerVcpuScheduler() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void ThreadPerVcpuScheduler::start(unsigned id, SchedulableVcpu vcpu,
                                   std::function<void(int)> on_stop) {
  if (threads_.size() <= id) threads_.resize(id + 1);
  join(id);
  threads_[id] = std::thread([vcpu = std::move(vcpu), on_stop = std::move(on_stop)] {
    const int status = vcpu.run();
    on_stop(status);
  });
}

void ThreadPerVcpuScheduler::join(unsigned id) {
  if (id < threads_.size() && threads_[id].joinable()) threads_[id].join();
}

std::unique_ptr<Scheduler> make_scheduler() { return std::make_unique<ThreadPerVcpuScheduler>(); }

}  // namespace softcpu::hv
