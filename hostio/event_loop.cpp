#include "hostio/event_loop.h"

#include <cstdio>
#include <exception>
#include <future>
#include <stdexcept>
#include <string>

namespace softcpu {

EventLoop::EventLoop() {
  int rc = uv_loop_init(&loop_);
  if (rc != 0) throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
  rc = uv_async_init(&loop_, &wakeup_, &EventLoop::on_async);
  if (rc != 0) {
    uv_loop_close(&loop_);
    throw std::runtime_error(std::string("uv_async_init: ") + uv_strerror(rc));
  }
  wakeup_.data = this;
  // Thread creation orders the initialization above before anything the loop thread does.
  std::promise<void> started;
  auto started_future = started.get_future();
  thread_ = std::thread([this, &started] {
    thread_id_ = std::this_thread::get_id();
    started.set_value();
    thread_main();
  });
  started_future.wait();  // thread_id_ is valid from here on
}

EventLoop::~EventLoop() { shutdown(); }

bool EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return false;
    queue_.push_back(std::move(fn));
    // uv_async_send is the one libuv call that is safe from any thread; sends coalesce, and the
    // callback drains the whole queue. Sending under the lock guarantees the handle is still
    // open: drain() closes it only after seeing stopping_ with an empty queue under this lock.
    uv_async_send(&wakeup_);
  }
  return true;
}

bool EventLoop::run_sync(const std::function<void()>& fn) {
  if (in_loop_thread()) {
    fn();
    return true;
  }
  std::promise<void> done;
  auto done_future = done.get_future();
  if (!post([&fn, &done] {
        try {
          fn();
          done.set_value();
        } catch (...) {
          done.set_exception(std::current_exception());
        }
      }))
    return false;
  done_future.get();  // rethrows what fn threw
  return true;
}

bool EventLoop::in_loop_thread() const { return std::this_thread::get_id() == thread_id_; }

void EventLoop::on_async(uv_async_t* handle) { static_cast<EventLoop*>(handle->data)->drain(); }

void EventLoop::drain() {
  for (;;) {
    std::deque<std::function<void()>> batch;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batch.swap(queue_);
      stopping = stopping_;
    }
    if (batch.empty()) {
      if (stopping) {
        // Nothing more can be posted: close every handle (ours included) so uv_run returns.
        uv_walk(
            &loop_,
            [](uv_handle_t* h, void*) {
              if (!uv_is_closing(h)) uv_close(h, nullptr);
            },
            nullptr);
      }
      return;
    }
    for (auto& fn : batch) {
      try {
        fn();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "softcpu: host I/O task failed: %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "softcpu: host I/O task failed\n");
      }
    }
  }
}

void EventLoop::thread_main() {
  // Returns once every handle is closed, which only happens at shutdown (wakeup_ stays active).
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void EventLoop::shutdown() {
  std::lock_guard<std::mutex> guard(shutdown_mutex_);
  if (joined_) return;
  if (in_loop_thread()) {
    std::fprintf(stderr, "softcpu: EventLoop::shutdown called on the loop thread\n");
    std::terminate();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    uv_async_send(&wakeup_);
  }
  thread_.join();
  joined_ = true;
  thread_id_ = std::thread::id();
  // Handles closed by the final walk have had their close callbacks run by uv_run.
  int rc = uv_loop_close(&loop_);
  if (rc != 0) std::fprintf(stderr, "softcpu: uv_loop_close: %s\n", uv_strerror(rc));
}

}  // namespace softcpu
