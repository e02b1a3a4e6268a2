// A character backend in front of another one (the --serial backend): the guest's output still
// reaches it, and is also copied to a transcript backend and to an observer; the guest's input
// is what was injected (a console script's `send`) followed by what the backend itself reads.
// Used for --serial-script and --serial-transcript (monitor/script_runner.h).
#pragma once
#include <functional>
#include <memory>

#include "hostio/char_backend.h"

namespace softcpu {

class ConsoleTap final : public CharBackend {
 public:
  // `transcript` may be null (no copy).
  ConsoleTap(std::unique_ptr<CharBackend> inner, std::unique_ptr<CharBackend> transcript);

  // Called with every byte the guest writes, on the CPU thread, after the backends got it.
  void set_output_observer(std::function<void(const uint8_t*, size_t)> observer) {
    observer_ = std::move(observer);
  }
  // Queue bytes for the guest ahead of the backend's own input. Any thread; calls the input
  // listener (the machine's wake-up) like arriving input does.
  void inject(const uint8_t* data, size_t len);

  const char* kind() const override { return inner_->kind(); }
  void write(const uint8_t* data, size_t len) override;
  bool read_byte(uint8_t& out) override;
  bool has_input() override { return !injected_.empty() || inner_->has_input(); }
  void set_input_listener(std::function<void()> listener) override;
  void set_quit_handler(std::function<void()> handler) override {
    inner_->set_quit_handler(std::move(handler));
  }

 private:
  std::unique_ptr<CharBackend> inner_;
  std::unique_ptr<CharBackend> transcript_;
  std::function<void(const uint8_t*, size_t)> observer_;
  InputQueue injected_;
  std::mutex listener_mutex_;
  std::function<void()> listener_;  // guarded by listener_mutex_
};

}  // namespace softcpu
