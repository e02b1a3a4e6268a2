// Character backends: where a serial port's or debug console's bytes go, and where a serial
// port's input comes from. Devices call write()/read_byte()/has_input() on the CPU thread and
// never block on the host: input is read on the EventLoop thread into a mutex-protected queue.
//
// Output design choice: write() performs the write(2) directly on the calling (CPU) thread,
// retrying on EINTR and waiting with poll(2) on EAGAIN (stdout may share a non-blocking file
// description). Console and file writes are fast; a stalled terminal can hold the CPU thread
// only as long as the terminal itself is stalled. Write errors are reported once on stderr and
// later output is discarded.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace softcpu {

class EventLoop;

class CharBackend {
 public:
  virtual ~CharBackend() = default;
  // Short name for messages and stats: "stdio", "file", "none", "output".
  virtual const char* kind() const = 0;
  // Send bytes to the host. CPU thread.
  virtual void write(const uint8_t* data, size_t len) = 0;
  // Take one byte of input if there is one. Never blocks. CPU thread.
  virtual bool read_byte(uint8_t& out) = 0;
  // True if read_byte() would return a byte. Cheap (one atomic load). Any thread.
  virtual bool has_input() = 0;
  // Called on the loop thread whenever new input was queued (e.g. to wake a halted CPU).
  // Set it before input can arrive (right after creation).
  virtual void set_input_listener(std::function<void()> listener) { (void)listener; }
  // Called on the loop thread when the user types Ctrl-A x on an interactive console. Without a
  // handler the process restores the terminal and exits with status 0.
  virtual void set_quit_handler(std::function<void()> handler) { (void)handler; }
};

// spec: "stdio" | "file:PATH" | "none" | "tcp:HOST:PORT,server" (listens; one client at a
// time sees the output and types the input; output with no client is dropped). On failure
// returns nullptr and sets *error (if error is not null) to one line such as
// "cannot open serial file 'x': No such file or directory".
// The EventLoop must outlive the backend.
std::unique_ptr<CharBackend> open_char_backend(const std::string& spec, EventLoop& loop,
                                               std::string* error);

// Output-only sink (e.g. the debug console): path "-" is stdout, anything else is a file that is
// created or truncated. Reads never return data. `what` names the user in the error message:
// "cannot open <what> file 'PATH': reason".
std::unique_ptr<CharBackend> open_output_file(const std::string& path, std::string* error,
                                              const char* what = "output");

// The stdio backend on explicit descriptors (open_char_backend("stdio") uses 0 and 1). in_fd may
// be a terminal (put in raw mode, restored on destruction and at exit), a pipe or socket, or a
// regular file; -1 means no input. The backend owns in_fd when it is above 2 and closes it;
// out_fd is not closed (-1: output is discarded). `escapes` enables the Ctrl-A commands
// (open_char_backend enables them when stdin is a terminal). Exposed for tests.
std::unique_ptr<CharBackend> open_stdio_backend(EventLoop& loop, int in_fd, int out_fd,
                                                bool escapes, std::string* error);

// QEMU-style console escapes on the input stream: Ctrl-A x quits, Ctrl-A h (or ?) prints help,
// Ctrl-A Ctrl-A sends one Ctrl-A; Ctrl-A followed by anything else is dropped.
class ConsoleEscape {
 public:
  enum class Action { NONE, QUIT, HELP };
  static constexpr uint8_t ESCAPE_CHAR = 0x01;  // Ctrl-A
  // Feed one input byte. Returns true and sets *out when a byte should go to the guest.
  bool feed(uint8_t in, uint8_t* out, Action* action);
  static const char* help_text();  // lines end in "\r\n" (the terminal is in raw mode)

 private:
  bool got_escape_ = false;
};

// The input side shared by backends: a queue filled on the loop thread, drained on the CPU thread.
class InputQueue {
 public:
  void push(const uint8_t* data, size_t len);
  bool pop(uint8_t& out);
  bool empty() const { return size_.load() == 0; }
  size_t size() const { return size_.load(); }

 private:
  mutable std::mutex mutex_;
  std::deque<uint8_t> bytes_;  // guarded by mutex_
  std::atomic<size_t> size_{0};
};

}  // namespace softcpu
