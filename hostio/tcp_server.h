// A TCP listener on the EventLoop thread that serves one client at a time (the GDB stub's
// transport and the `tcp:HOST:PORT,server` serial backend). A second client that connects
// while one is served is accepted and closed at once.
//
// Callbacks run on the loop thread; users that own CPU-thread state forward them through
// hostio/cpu_mailbox.h (the order of connect, data and disconnect is kept). send() and
// disconnect() may be called from any thread.
//
// Hostile or stuck clients (docs/design.md "Host I/O faults and data safety"): bytes given to
// send() are gathered into one buffer and written by one loop task at a time, however many
// small sends come in; a client that leaves more than MAX_BACKLOG bytes unread is disconnected
// (one line on stderr, once per server). Input is read only while the user wants it:
// pause_input() stops reading from the socket (TCP flow control then holds the sender back)
// until resume_input().
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace softcpu {

class EventLoop;

class TcpServer {
 public:
  struct Callbacks {
    std::function<void()> on_connect;
    std::function<void(const uint8_t* data, size_t len)> on_data;
    std::function<void()> on_disconnect;  // the client closed, failed, or was disconnected
  };

  // Listen on host:port (an IPv4 or IPv6 literal, or "localhost"; port 0 picks a free
  // port, see port()). Returns nullptr and sets *error on failure. The loop must outlive
  // the server. A client may connect, and callbacks run, before listen() has returned: a
  // user whose callbacks read the returned pointer calls listen() on the loop thread
  // (EventLoop::run_sync) and assigns it there, so no callback runs before the assignment.
  static std::unique_ptr<TcpServer> listen(EventLoop& loop, const std::string& host,
                                           uint16_t port, Callbacks callbacks,
                                           std::string* error);
  // Closes the client and the listener and waits until libuv has let go of them.
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  static constexpr size_t MAX_BACKLOG = 4 << 20;  // bytes queued for a client that does not read

  uint16_t port() const { return port_; }  // the port actually bound
  bool has_client() const;  // any thread

  // Queue bytes for the current client; dropped when there is none. Any thread.
  void send(const uint8_t* data, size_t len);
  void send(const std::string& s) { send(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
  // Close the current client connection (if any). Any thread.
  void disconnect();
  // Stop / restart reading client input (also for later clients). Any thread; immediate on
  // the loop thread, posted otherwise.
  void pause_input();
  void resume_input();

  struct Impl;  // loop-thread state (public so that libuv callbacks in the .cpp can name it)

 private:
  TcpServer(EventLoop& loop, Callbacks callbacks);

  EventLoop& loop_;
  std::shared_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

// Split "HOST:PORT" (IPv6 hosts in brackets: "[::1]:1234"). An empty HOST (":1234") means
// the loopback address 127.0.0.1: nothing listens beyond this machine unless the user names
// another address. False if malformed.
bool parse_host_port(const std::string& spec, std::string& host, uint16_t& port);
// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace softcpu
