#include "hostio/console_tap.h"

namespace softcpu {

ConsoleTap::ConsoleTap(std::unique_ptr<CharBackend> inner, std::unique_ptr<CharBackend> transcript)
    : inner_(std::move(inner)), transcript_(std::move(transcript)) {}

void ConsoleTap::write(const uint8_t* data, size_t len) {
  inner_->write(data, len);
  if (transcript_) transcript_->write(data, len);
  if (observer_) observer_(data, len);
}

bool ConsoleTap::read_byte(uint8_t& out) { return injected_.pop(out) || inner_->read_byte(out); }

void ConsoleTap::inject(const uint8_t* data, size_t len) {
  injected_.push(data, len);
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(listener_mutex_);
    listener = listener_;
  }
  if (listener) listener();
}

void ConsoleTap::set_input_listener(std::function<void()> listener) {
  {
    std::lock_guard<std::mutex> lock(listener_mutex_);
    listener_ = listener;
  }
  inner_->set_input_listener(std::move(listener));
}

}  // namespace softcpu
