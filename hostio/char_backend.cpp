#include "hostio/char_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>

#include "hostio/event_loop.h"
#include "hostio/tcp_server.h"

namespace softcpu {

// ---- InputQueue ----------------------------------------------------------------------------

void InputQueue::push(const uint8_t* data, size_t len) {
  if (len == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  bytes_.insert(bytes_.end(), data, data + len);
  size_.store(bytes_.size());
}

bool InputQueue::pop(uint8_t& out) {
  if (size_.load() == 0) return false;  // fast path: no lock
  std::lock_guard<std::mutex> lock(mutex_);
  if (bytes_.empty()) return false;
  out = bytes_.front();
  bytes_.pop_front();
  size_.store(bytes_.size());
  return true;
}

// ---- ConsoleEscape -------------------------------------------------------------------------

bool ConsoleEscape::feed(uint8_t in, uint8_t* out, Action* action) {
  *action = Action::NONE;
  if (got_escape_) {
    got_escape_ = false;
    switch (in) {
      case ESCAPE_CHAR:
        *out = ESCAPE_CHAR;
        return true;
      case 'x':
        *action = Action::QUIT;
        return false;
      case 'h':
      case '?':
        *action = Action::HELP;
        return false;
      default:
        return false;  // unknown command: dropped, as QEMU does
    }
  }
  if (in == ESCAPE_CHAR) {
    got_escape_ = true;
    return false;
  }
  *out = in;
  return true;
}

const char* ConsoleEscape::help_text() {
  return "\r\n"
         "C-a h    print this help\r\n"
         "C-a x    exit emulator\r\n"
         "C-a C-a  sends C-a\r\n";
}

namespace {

// ---- output to a file descriptor -----------------------------------------------------------

// Write all of data to fd on the calling thread: retry on EINTR, wait for writability on EAGAIN.
// Returns 0 or an errno value.
int write_all(int fd, const uint8_t* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, -1) < 0 && errno != EINTR) return errno;
      continue;
    }
    return n < 0 ? errno : EIO;
  }
  return 0;
}

class FdWriter {
 public:
  FdWriter(int fd, bool owned, std::string name) : fd_(fd), owned_(owned), name_(std::move(name)) {}
  ~FdWriter() {
    if (owned_ && fd_ >= 0) ::close(fd_);
  }
  FdWriter(const FdWriter&) = delete;
  FdWriter& operator=(const FdWriter&) = delete;

  void write(const uint8_t* data, size_t len) {
    if (failed_ || fd_ < 0) return;
    int err = write_all(fd_, data, len);
    if (err != 0) {
      failed_ = true;
      std::fprintf(stderr, "softcpu: write to %s failed: %s; further output is discarded\n",
                   name_.c_str(), std::strerror(err));
    }
  }

 private:
  int fd_;
  bool owned_;
  bool failed_ = false;
  std::string name_;
};

std::string open_error(const char* what, const std::string& path, int err) {
  return std::string("cannot open ") + what + " file '" + path + "': " + std::strerror(err);
}

// ---- none / output-only backends -----------------------------------------------------------

class NoneBackend final : public CharBackend {
 public:
  const char* kind() const override { return "none"; }
  void write(const uint8_t*, size_t) override {}
  bool read_byte(uint8_t&) override { return false; }
  bool has_input() override { return false; }
};

class OutputBackend final : public CharBackend {
 public:
  OutputBackend(const char* kind, int fd, bool owned, std::string name)
      : kind_(kind), writer_(fd, owned, std::move(name)) {}
  const char* kind() const override { return kind_; }
  void write(const uint8_t* data, size_t len) override { writer_.write(data, len); }
  bool read_byte(uint8_t&) override { return false; }
  bool has_input() override { return false; }

 private:
  const char* kind_;
  FdWriter writer_;
};

int open_for_output(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  } while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

// ---- stdio ---------------------------------------------------------------------------------

std::atomic<bool> g_stdio_in_use{false};

// The terminal settings to put back: saved before raw mode, restored by the backend's destructor,
// at exit, and before the default Ctrl-A x exit. (uv_tty_reset_mode is not enough: libuv reopens
// the terminal and restores through the reopened descriptor, which is gone once the handle is
// closed.) Only one terminal is ever put in raw mode.
std::mutex g_tty_mutex;
int g_tty_fd = -1;  // guarded by g_tty_mutex; -1: nothing to restore
termios g_tty_saved{};

void restore_terminal() {
  std::lock_guard<std::mutex> lock(g_tty_mutex);
  if (g_tty_fd < 0) return;
  ::tcsetattr(g_tty_fd, TCSANOW, &g_tty_saved);
  g_tty_fd = -1;
}

void remember_terminal(int fd) {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(restore_terminal); });
  std::lock_guard<std::mutex> lock(g_tty_mutex);
  if (g_tty_fd < 0 && ::tcgetattr(fd, &g_tty_saved) == 0) g_tty_fd = fd;
}

class StdioBackend final : public CharBackend {
 public:
  // Input is paused above HIGH_WATER queued bytes and resumed below LOW_WATER, so a large
  // redirected file does not end up in memory all at once.
  static constexpr size_t HIGH_WATER = 64 * 1024;
  static constexpr size_t LOW_WATER = 16 * 1024;

  StdioBackend(EventLoop& loop, int in_fd, int out_fd, bool escapes)
      : loop_(loop), in_fd_(in_fd), writer_(out_fd, false, "stdout"), escapes_(escapes) {}

  ~StdioBackend() override {
    std::promise<void> finished;
    auto finished_future = finished.get_future();
    bool wait = false;
    loop_.run_sync([&] {
      closing_ = true;
      closed_promise_ = &finished;
      if (stream_ != nullptr && !uv_is_closing(reinterpret_cast<uv_handle_t*>(stream_))) {
        if (raw_mode_) uv_tty_set_mode(&tty_, UV_TTY_MODE_NORMAL);
        uv_close(reinterpret_cast<uv_handle_t*>(stream_), [](uv_handle_t* h) {
          auto* self = static_cast<StdioBackend*>(h->data);
          self->stream_ = nullptr;
          self->maybe_finished();
        });
      } else {
        stream_ = nullptr;
      }
      wait = stream_ != nullptr || fs_busy_;
    });
    // If the loop had already shut down, its final walk closed our handle and the thread is gone.
    if (wait) finished_future.wait();
    if (raw_mode_) restore_terminal();
    // Streams close their descriptor with the handle (libuv leaves 0..2 open); close the rest.
    if (!fd_attached_ && in_fd_ > STDERR_FILENO) ::close(in_fd_);
    if (owns_global_stdio_) g_stdio_in_use.store(false);
  }

  // Runs on the loop thread. Returns an empty string or an error message.
  std::string start() {
    if (in_fd_ < 0) return {};
    uv_loop_t* uvl = loop_.uv();
    in_type_ = uv_guess_handle(in_fd_);
    int rc = 0;
    switch (in_type_) {
      case UV_TTY:
        // in_fd_ keeps naming the terminal after uv_tty_init (libuv dup2s its reopened
        // descriptor onto it), so the settings can be restored through it.
        remember_terminal(in_fd_);
        rc = uv_tty_init(uvl, &tty_, in_fd_, 1);
        if (rc == 0) {
          fd_attached_ = true;
          stream_ = reinterpret_cast<uv_stream_t*>(&tty_);
          // Raw mode: no line editing, no echo, no signals from Ctrl-C (it goes to the guest).
          if (uv_tty_set_mode(&tty_, UV_TTY_MODE_RAW) == 0) raw_mode_ = true;
        }
        break;
      case UV_NAMED_PIPE:
        rc = uv_pipe_init(uvl, &pipe_, 0);
        if (rc == 0) {
          stream_ = reinterpret_cast<uv_stream_t*>(&pipe_);
          rc = uv_pipe_open(&pipe_, in_fd_);
          fd_attached_ = rc == 0;
        }
        break;
      case UV_TCP:
        rc = uv_tcp_init(uvl, &tcp_);
        if (rc == 0) {
          stream_ = reinterpret_cast<uv_stream_t*>(&tcp_);
          rc = uv_tcp_open(&tcp_, in_fd_);
          fd_attached_ = rc == 0;
        }
        break;
      case UV_FILE:  // regular file or character device: read through the fs API
        start_reading();
        return {};
      default:  // closed or unusable: no input
        return {};
    }
    if (stream_ != nullptr) stream_->data = this;
    if (rc != 0) return std::string("cannot read standard input: ") + uv_strerror(rc);
    start_reading();
    return {};
  }

  const char* kind() const override { return "stdio"; }
  void write(const uint8_t* data, size_t len) override { writer_.write(data, len); }

  bool read_byte(uint8_t& out) override {
    if (!input_.pop(out)) return false;
    if (paused_.load() && input_.size() < LOW_WATER &&
        !resume_posted_.exchange(true)) {
      loop_.post([this] {
        resume_posted_.store(false);
        if (paused_.exchange(false)) start_reading();
      });
    }
    return true;
  }

  bool has_input() override { return !input_.empty(); }

  void set_input_listener(std::function<void()> listener) override {
    std::lock_guard<std::mutex> lock(callback_mutex_);
    listener_ = std::move(listener);
  }
  void set_quit_handler(std::function<void()> handler) override {
    std::lock_guard<std::mutex> lock(callback_mutex_);
    quit_ = std::move(handler);
  }

  bool owns_global_stdio_ = false;

 private:
  // ---- loop thread only below ----

  void start_reading() {
    if (closing_ || eof_) return;
    if (in_type_ == UV_FILE) {
      if (fs_busy_) return;
      fs_busy_ = true;
      uv_buf_t buf = uv_buf_init(buffer_, sizeof buffer_);
      fs_req_.data = this;
      int rc = uv_fs_read(loop_.uv(), &fs_req_, in_fd_, &buf, 1, -1, &StdioBackend::on_fs_read);
      if (rc < 0) {
        fs_busy_ = false;
        input_error(rc);
      }
      return;
    }
    if (stream_ == nullptr) return;
    int rc = uv_read_start(stream_, &StdioBackend::on_alloc, &StdioBackend::on_read);
    if (rc < 0) input_error(rc);
  }

  void stop_reading() {
    if (in_type_ != UV_FILE && stream_ != nullptr) uv_read_stop(stream_);
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<StdioBackend*>(h->data);
    *buf = uv_buf_init(self->buffer_, sizeof self->buffer_);
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<StdioBackend*>(s->data);
    if (nread > 0) {
      self->deliver(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(nread));
    } else if (nread < 0) {
      uv_read_stop(s);
      if (nread == UV_EOF) {
        self->eof_ = true;
      } else {
        self->input_error(static_cast<int>(nread));
      }
    }
  }

  static void on_fs_read(uv_fs_t* req) {
    auto* self = static_cast<StdioBackend*>(req->data);
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    self->fs_busy_ = false;
    if (self->closing_) {
      self->maybe_finished();
      return;
    }
    if (result > 0) {
      self->deliver(reinterpret_cast<const uint8_t*>(self->buffer_), static_cast<size_t>(result));
      if (!self->paused_.load()) self->start_reading();
    } else if (result == 0) {
      self->eof_ = true;
    } else {
      self->input_error(static_cast<int>(result));
    }
  }

  void deliver(const uint8_t* data, size_t len) {
    uint8_t filtered[sizeof buffer_];
    size_t n = 0;
    for (size_t i = 0; i < len; ++i) {
      if (!escapes_) {
        filtered[n++] = data[i];
        continue;
      }
      ConsoleEscape::Action action;
      if (escape_.feed(data[i], &filtered[n], &action)) ++n;
      if (action == ConsoleEscape::Action::HELP) {
        const char* text = ConsoleEscape::help_text();
        write_all(STDERR_FILENO, reinterpret_cast<const uint8_t*>(text), std::strlen(text));
      } else if (action == ConsoleEscape::Action::QUIT) {
        input_.push(filtered, n);  // what came before the command still reaches the guest
        n = 0;
        quit();
      }
    }
    input_.push(filtered, n);
    if (input_.size() >= HIGH_WATER && !paused_.load()) {
      paused_.store(true);
      // read_byte() resumes us once the queue drains below LOW_WATER; if it drained before it
      // could see paused_ (both sides use seq_cst), resume here instead.
      if (input_.size() < LOW_WATER)
        paused_.store(false);
      else
        stop_reading();
    }
    std::function<void()> listener;
    {
      std::lock_guard<std::mutex> lock(callback_mutex_);
      listener = listener_;
    }
    if (listener) listener();
  }

  void quit() {
    std::function<void()> handler;
    {
      std::lock_guard<std::mutex> lock(callback_mutex_);
      handler = quit_;
    }
    if (handler) {
      handler();
      return;
    }
    restore_terminal();
    static const char msg[] = "\r\nsoftcpu: terminated\r\n";
    write_all(STDERR_FILENO, reinterpret_cast<const uint8_t*>(msg), sizeof msg - 1);
    std::_Exit(0);
  }

  void input_error(int uv_err) {
    eof_ = true;
    std::fprintf(stderr, "softcpu: reading standard input failed: %s\n", uv_strerror(uv_err));
  }

  void maybe_finished() {
    if (closing_ && stream_ == nullptr && !fs_busy_ && closed_promise_ != nullptr) {
      std::promise<void>* done = closed_promise_;
      closed_promise_ = nullptr;
      done->set_value();  // last touch of *this: the destructor may free it right away
    }
  }

  EventLoop& loop_;
  int in_fd_;
  FdWriter writer_;
  InputQueue input_;
  bool escapes_;

  std::mutex callback_mutex_;
  std::function<void()> listener_;  // guarded by callback_mutex_
  std::function<void()> quit_;      // guarded by callback_mutex_

  std::atomic<bool> paused_{false};
  std::atomic<bool> resume_posted_{false};

  // Loop-thread state.
  uv_handle_type in_type_ = UV_UNKNOWN_HANDLE;
  uv_tty_t tty_{};
  uv_pipe_t pipe_{};
  uv_tcp_t tcp_{};
  uv_stream_t* stream_ = nullptr;
  uv_fs_t fs_req_{};
  bool fs_busy_ = false;
  bool eof_ = false;
  bool closing_ = false;
  bool raw_mode_ = false;
  bool fd_attached_ = false;  // in_fd_ belongs to a uv stream handle, which closes it
  std::promise<void>* closed_promise_ = nullptr;
  ConsoleEscape escape_;
  char buffer_[4096];
};

// ---- tcp server ----------------------------------------------------------------------------

// `tcp:HOST:PORT,server`: a listening socket; one client at a time gets the output and
// provides the input. The guest does not wait for a client: output with none is dropped.
class TcpServerBackend final : public CharBackend {
 public:
  // Input from the client is paused above HIGH_WATER queued bytes (a guest that does not read
  // its UART cannot make us buffer a flooding client without bound) and resumed below
  // LOW_WATER.
  static constexpr size_t HIGH_WATER = 64 * 1024;
  static constexpr size_t LOW_WATER = 16 * 1024;

  const char* kind() const override { return "tcp"; }
  void write(const uint8_t* data, size_t len) override { server_->send(data, len); }
  bool read_byte(uint8_t& out) override {
    if (!input_.pop(out)) return false;
    if (paused_.load() && input_.size() < LOW_WATER && paused_.exchange(false))
      server_->resume_input();  // posted: runs on the loop thread after the pause
    return true;
  }
  bool has_input() override { return !input_.empty(); }
  void set_input_listener(std::function<void()> listener) override {
    std::lock_guard<std::mutex> lock(callback_mutex_);
    listener_ = std::move(listener);
  }

  std::string start(EventLoop& loop, const std::string& host, uint16_t port) {
    TcpServer::Callbacks cb;
    cb.on_data = [this](const uint8_t* data, size_t len) {  // loop thread
      input_.push(data, len);
      if (input_.size() >= HIGH_WATER && !paused_.exchange(true)) server_->pause_input();
      std::function<void()> listener;
      {
        std::lock_guard<std::mutex> lock(callback_mutex_);
        listener = listener_;
      }
      if (listener) listener();
    };
    // Assigned on the loop thread, before any callback can read it (tcp_server.h).
    std::string error;
    if (!loop.run_sync(
            [&] { server_ = TcpServer::listen(loop, host, port, std::move(cb), &error); }))
      error = "the event loop has stopped";
    if (server_ && !is_loopback_host(host))
      std::fprintf(stderr,
                   "softcpu: warning: the serial port listens on tcp:%s:%u, reachable from "
                   "other machines\n",
                   host.c_str(), unsigned(server_->port()));
    return server_ ? std::string() : "serial backend: " + error;
  }

 private:
  InputQueue input_;
  std::atomic<bool> paused_{false};
  std::mutex callback_mutex_;
  std::function<void()> listener_;  // guarded by callback_mutex_
  std::unique_ptr<TcpServer> server_;  // last: closed first, before the state it calls into
};

void set_error(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

}  // namespace

std::unique_ptr<CharBackend> open_stdio_backend(EventLoop& loop, int in_fd, int out_fd,
                                                bool escapes, std::string* error) {
  auto backend = std::make_unique<StdioBackend>(loop, in_fd, out_fd, escapes);
  std::string message;
  if (!loop.run_sync([&] { message = backend->start(); })) message = "host I/O loop is not running";
  if (!message.empty()) {
    set_error(error, message);
    return nullptr;
  }
  return backend;
}

std::unique_ptr<CharBackend> open_char_backend(const std::string& spec, EventLoop& loop,
                                               std::string* error) {
  if (spec == "none") return std::make_unique<NoneBackend>();
  if (spec == "stdio") {
    if (g_stdio_in_use.exchange(true)) {
      set_error(error, "serial backend 'stdio' is already in use");
      return nullptr;
    }
    auto backend = open_stdio_backend(loop, STDIN_FILENO, STDOUT_FILENO,
                                      ::isatty(STDIN_FILENO) == 1, error);
    if (!backend) {
      g_stdio_in_use.store(false);
      return nullptr;
    }
    static_cast<StdioBackend*>(backend.get())->owns_global_stdio_ = true;
    return backend;
  }
  if (spec.rfind("file:", 0) == 0) {
    std::string path = spec.substr(5);
    if (path.empty()) {
      set_error(error, "serial backend 'file:' needs a path");
      return nullptr;
    }
    int fd = open_for_output(path);
    if (fd < 0) {
      set_error(error, open_error("serial", path, -fd));
      return nullptr;
    }
    return std::make_unique<OutputBackend>("file", fd, true, "'" + path + "'");
  }
  if (spec.rfind("tcp:", 0) == 0 && spec.size() > 11 &&
      spec.compare(spec.size() - 7, 7, ",server") == 0) {
    std::string host;
    uint16_t port = 0;
    if (!parse_host_port(spec.substr(4, spec.size() - 11), host, port)) {
      set_error(error, "serial backend '" + spec + "': expected tcp:HOST:PORT,server");
      return nullptr;
    }
    auto backend = std::make_unique<TcpServerBackend>();
    std::string message = backend->start(loop, host, port);
    if (!message.empty()) {
      set_error(error, message);
      return nullptr;
    }
    return backend;
  }
  set_error(error, "unknown serial backend '" + spec + "' (expected stdio, file:PATH or none)");
  return nullptr;
}

std::unique_ptr<CharBackend> open_output_file(const std::string& path, std::string* error,
                                              const char* what) {
  if (path == "-") return std::make_unique<OutputBackend>("output", STDOUT_FILENO, false, "stdout");
  if (path.empty()) {
    set_error(error, std::string("empty ") + what + " file name");
    return nullptr;
  }
  int fd = open_for_output(path);
  if (fd < 0) {
    set_error(error, open_error(what, path, -fd));
    return nullptr;
  }
  return std::make_unique<OutputBackend>("output", fd, true, "'" + path + "'");
}

}  // namespace softcpu
