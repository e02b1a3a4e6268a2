#include "hostio/tcp_server.h"

#include <poll.h>
#include <uv.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <mutex>
#include <utility>

#include "hostio/event_loop.h"

namespace softcpu {

// Everything here but `connected` is touched on the loop thread only. Posted sends hold a
// shared_ptr, so they stay safe after the TcpServer is gone (they find `closed` set).
struct TcpServer::Impl {
  Callbacks callbacks;
  uv_tcp_t listener{};
  bool listener_open = false;
  uv_tcp_t* client = nullptr;  // the served client, heap-allocated
  bool closed = false;          // the owner is being destroyed: no callbacks, no new clients
  int open_handles = 0;         // handles whose close callback has not run yet
  std::promise<void>* all_closed = nullptr;
  std::atomic<bool> connected{false};
  bool input_paused = false;     // pause_input() in force
  bool backlog_reported = false;  // the "not reading" line was printed
  std::string name;               // "127.0.0.1:1234", for messages
  char buffer[16384];

  // Bytes from send() not yet handed to libuv, and whether a flush task is posted.
  std::mutex out_mutex;
  std::string out;          // guarded by out_mutex
  bool flush_posted = false;  // guarded by out_mutex

  void handle_closed() {
    if (--open_handles == 0 && all_closed) {
      std::promise<void>* p = all_closed;
      all_closed = nullptr;
      p->set_value();
    }
  }

  static void on_handle_closed(uv_handle_t* h) {
    auto* self = static_cast<Impl*>(h->data);
    if (h != reinterpret_cast<uv_handle_t*>(&self->listener))
      delete reinterpret_cast<uv_tcp_t*>(h);
    self->handle_closed();
  }

  void close_handle(uv_handle_t* h) {
    if (!uv_is_closing(h)) uv_close(h, &Impl::on_handle_closed);
  }

  void close_client() {
    if (!client) return;
    uv_tcp_t* c = client;
    client = nullptr;
    connected.store(false);
    close_handle(reinterpret_cast<uv_handle_t*>(c));
    if (!closed && callbacks.on_disconnect) callbacks.on_disconnect();
  }

  static void on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<Impl*>(server->data);
    if (status < 0 || self->closed) return;
    auto* c = new uv_tcp_t;
    if (uv_tcp_init(server->loop, c) != 0) {
      delete c;
      return;
    }
    c->data = self;
    ++self->open_handles;
    // A client that vanished while its input was paused has not been noticed yet (nothing
    // reads its socket): let the newcomer in if the old one is gone.
    if (self->client && self->client_gone()) self->close_client();
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(c)) != 0 || self->client != nullptr) {
      self->close_handle(reinterpret_cast<uv_handle_t*>(c));  // one client at a time
      return;
    }
    uv_tcp_nodelay(c, 1);  // protocol packets are small and latency-bound
    self->client = c;
    self->connected.store(true);
    if (self->callbacks.on_connect) self->callbacks.on_connect();
    // The connect callback may have disconnected it again.
    if (self->client == c && !self->input_paused)
      uv_read_start(reinterpret_cast<uv_stream_t*>(c), &Impl::on_alloc, &Impl::on_read);
  }

  bool client_gone() const {
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<const uv_handle_t*>(client), &fd) != 0) return false;
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
  }

  void set_paused(bool paused) {
    if (closed || paused == input_paused) return;
    input_paused = paused;
    if (!client) return;
    auto* s = reinterpret_cast<uv_stream_t*>(client);
    if (paused)
      uv_read_stop(s);
    else
      uv_read_start(s, &Impl::on_alloc, &Impl::on_read);
  }

  // Loop thread: hand everything gathered by send() to libuv as one write.
  void flush_out() {
    std::string data;
    {
      std::lock_guard<std::mutex> lock(out_mutex);
      data.swap(out);
      flush_posted = false;
    }
    if (data.empty() || closed || !client) return;
    size_t queued = uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(client));
    if (queued + data.size() > MAX_BACKLOG) {
      if (!backlog_reported) {
        backlog_reported = true;
        std::fprintf(stderr,
                     "softcpu: the client of tcp:%s does not read what it is sent (%zu bytes "
                     "waiting): disconnected\n",
                     name.c_str(), queued + data.size());
      }
      close_client();
      return;
    }
    write(std::move(data));
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<Impl*>(h->data);
    *buf = uv_buf_init(self->buffer, sizeof self->buffer);
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* self = static_cast<Impl*>(s->data);
    if (reinterpret_cast<uv_tcp_t*>(s) != self->client) return;
    if (nread > 0) {
      if (self->callbacks.on_data)
        self->callbacks.on_data(reinterpret_cast<const uint8_t*>(buf->base), size_t(nread));
    } else if (nread < 0) {
      self->close_client();  // EOF or error
    }
  }

  struct WriteReq {
    uv_write_t req;
    std::string data;
  };

  void write(std::string data) {
    if (closed || !client) return;
    auto* w = new WriteReq;
    w->data = std::move(data);
    uv_buf_t buf = uv_buf_init(w->data.data(), unsigned(w->data.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(client), &buf, 1,
                      [](uv_write_t* req, int status) {
                        auto* self = static_cast<Impl*>(req->handle->data);
                        // EPIPE, ECONNRESET: the client is gone even if we are not reading.
                        if (status < 0 && status != UV_ECANCELED &&
                            reinterpret_cast<uv_tcp_t*>(req->handle) == self->client)
                          self->close_client();
                        delete reinterpret_cast<WriteReq*>(req);
                      });
    if (rc != 0) {
      delete w;
      close_client();
    }
  }
};

TcpServer::TcpServer(EventLoop& loop, Callbacks callbacks)
    : loop_(loop), impl_(std::make_shared<Impl>()) {
  impl_->callbacks = std::move(callbacks);
}

std::unique_ptr<TcpServer> TcpServer::listen(EventLoop& loop, const std::string& host,
                                             uint16_t port, Callbacks callbacks,
                                             std::string* error) {
  std::unique_ptr<TcpServer> server(new TcpServer(loop, std::move(callbacks)));
  std::string message;
  Impl* impl = server->impl_.get();
  uint16_t bound = 0;
  bool ran = loop.run_sync([&] {
    sockaddr_storage addr{};
    const std::string h = host == "localhost" ? "127.0.0.1" : host;
    if (uv_ip4_addr(h.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
        uv_ip6_addr(h.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
      message = "'" + host + "' is not an IP address";
      return;
    }
    int rc = uv_tcp_init(loop.uv(), &impl->listener);
    if (rc != 0) {
      message = std::string("cannot create a TCP socket: ") + uv_strerror(rc);
      return;
    }
    impl->listener.data = impl;
    impl->listener_open = true;
    ++impl->open_handles;
    rc = uv_tcp_bind(&impl->listener, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0)
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(&impl->listener), 1, &Impl::on_connection);
    if (rc != 0) {
      message = "cannot listen on " + host + ":" + std::to_string(port) + ": " + uv_strerror(rc);
      return;
    }
    sockaddr_storage name{};
    int len = sizeof name;
    uv_tcp_getsockname(&impl->listener, reinterpret_cast<sockaddr*>(&name), &len);
    bound = name.ss_family == AF_INET6
                ? ntohs(reinterpret_cast<sockaddr_in6*>(&name)->sin6_port)
                : ntohs(reinterpret_cast<sockaddr_in*>(&name)->sin_port);
  });
  if (!ran) message = "host I/O loop is not running";
  if (!message.empty()) {
    if (error) *error = message;
    return nullptr;  // the destructor closes what was opened
  }
  server->port_ = bound;
  impl->name = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
               std::to_string(bound);
  return server;
}

TcpServer::~TcpServer() {
  std::promise<void> finished;
  auto finished_future = finished.get_future();
  bool wait = false;
  std::shared_ptr<Impl> impl = impl_;
  // If the loop has shut down, its final walk closed our handles and nothing runs any more.
  loop_.run_sync([&] {
    impl->closed = true;
    impl->close_client();
    if (impl->listener_open) {
      impl->listener_open = false;
      impl->close_handle(reinterpret_cast<uv_handle_t*>(&impl->listener));
    }
    if (impl->open_handles > 0) {
      impl->all_closed = &finished;
      wait = true;
    }
  });
  if (wait) finished_future.wait();
}

bool TcpServer::has_client() const { return impl_->connected.load(); }

void TcpServer::send(const uint8_t* data, size_t len) {
  if (len == 0 || !impl_->connected.load()) return;
  {
    std::lock_guard<std::mutex> lock(impl_->out_mutex);
    // Past the backlog limit the client is about to be disconnected: stop gathering.
    if (impl_->out.size() > MAX_BACKLOG) return;
    impl_->out.append(reinterpret_cast<const char*>(data), len);
    if (impl_->flush_posted) return;
    impl_->flush_posted = true;
  }
  if (!loop_.post([impl = impl_] { impl->flush_out(); })) {
    std::lock_guard<std::mutex> lock(impl_->out_mutex);
    impl_->flush_posted = false;
  }
}

void TcpServer::disconnect() {
  loop_.post([impl = impl_] {
    if (!impl->closed) impl->close_client();
  });
}

void TcpServer::pause_input() {
  if (loop_.in_loop_thread())
    impl_->set_paused(true);
  else
    loop_.post([impl = impl_] { impl->set_paused(true); });
}

void TcpServer::resume_input() {
  if (loop_.in_loop_thread())
    impl_->set_paused(false);
  else
    loop_.post([impl = impl_] { impl->set_paused(false); });
}

bool parse_host_port(const std::string& spec, std::string& host, uint16_t& port) {
  size_t colon;
  if (!spec.empty() && spec[0] == '[') {
    size_t close = spec.find(']');
    if (close == std::string::npos || close + 1 >= spec.size() || spec[close + 1] != ':')
      return false;
    host = spec.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = spec.rfind(':');
    if (colon == std::string::npos) return false;
    host = spec.substr(0, colon);
  }
  const std::string p = spec.substr(colon + 1);
  if (host.empty()) host = "127.0.0.1";  // no address named: loopback only
  if (p.empty() || p.size() > 5) return false;
  unsigned v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + unsigned(c - '0');
  }
  if (v > 65535) return false;
  port = uint16_t(v);
  return true;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace softcpu
