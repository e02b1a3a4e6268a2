// The one-client TCP server over a real loopback socket, and the tcp serial backend.
#include "hostio/tcp_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "hostio/char_backend.h"
#include "hostio/cpu_mailbox.h"
#include "hostio/event_loop.h"

namespace softcpu {
namespace {

using namespace std::chrono_literals;

// Events recorded from the loop thread.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  int connects = 0, disconnects = 0;
  std::string data;

  TcpServer::Callbacks callbacks() {
    TcpServer::Callbacks cb;
    cb.on_connect = [this] { bump([this] { ++connects; }); };
    cb.on_disconnect = [this] { bump([this] { ++disconnects; }); };
    cb.on_data = [this](const uint8_t* d, size_t n) {
      bump([&] { data.append(reinterpret_cast<const char*>(d), n); });
    };
    return cb;
  }
  template <class F>
  void bump(F f) {
    std::lock_guard<std::mutex> lock(mu);
    f();
    cv.notify_all();
  }
  template <class Pred>
  bool wait(Pred p) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, 5s, p);
  }
};

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Read until `n` bytes arrived, EOF, or a timeout. Returns what was read.
std::string read_some(int fd, size_t n, int timeout_ms = 5000) {
  std::string out;
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) break;
    char buf[4096];
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) break;
    out.append(buf, size_t(got));
  }
  return out;
}

// True if the peer closed the connection within the timeout.
bool sees_eof(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 5000) <= 0) return false;
  char c;
  return ::read(fd, &c, 1) == 0;
}

TEST(TcpServer, PicksAFreePortAndExchangesBytes) {
  EventLoop loop;
  Recorder rec;
  std::string error;
  auto server = TcpServer::listen(loop, "127.0.0.1", 0, rec.callbacks(), &error);
  ASSERT_TRUE(server) << error;
  ASSERT_NE(server->port(), 0);
  EXPECT_FALSE(server->has_client());

  int fd = connect_to(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(rec.wait([&] { return rec.connects == 1; }));
  EXPECT_TRUE(server->has_client());

  ASSERT_EQ(::write(fd, "$qC#b4", 6), 6);
  ASSERT_TRUE(rec.wait([&] { return rec.data == "$qC#b4"; }));

  // send() from another thread (as the CPU thread would).
  std::thread cpu([&] { server->send(std::string("+$QC1#c5")); });
  cpu.join();
  EXPECT_EQ(read_some(fd, 8), "+$QC1#c5");

  ::close(fd);
  ASSERT_TRUE(rec.wait([&] { return rec.disconnects == 1; }));
  EXPECT_FALSE(server->has_client());
  server->send(std::string("dropped"));  // no client: nothing happens
}

TEST(TcpServer, OneClientAtATimeAndReconnect) {
  EventLoop loop;
  Recorder rec;
  auto server = TcpServer::listen(loop, "127.0.0.1", 0, rec.callbacks(), nullptr);
  ASSERT_TRUE(server);
  int first = connect_to(server->port());
  ASSERT_GE(first, 0);
  ASSERT_TRUE(rec.wait([&] { return rec.connects == 1; }));
  int second = connect_to(server->port());  // accepted by the kernel, then closed by us
  ASSERT_GE(second, 0);
  EXPECT_TRUE(sees_eof(second));
  ::close(second);
  EXPECT_EQ(rec.connects, 1);

  // The server ends the first connection; a new client is then served.
  server->disconnect();
  EXPECT_TRUE(sees_eof(first));
  ::close(first);
  ASSERT_TRUE(rec.wait([&] { return rec.disconnects == 1; }));
  int third = connect_to(server->port());
  ASSERT_GE(third, 0);
  ASSERT_TRUE(rec.wait([&] { return rec.connects == 2; }));
  server->send(std::string("hello"));
  EXPECT_EQ(read_some(third, 5), "hello");
  ::close(third);
}

TEST(TcpServer, DataReachesTheCpuThreadThroughTheMailboxInOrder) {
  EventLoop loop;
  CpuMailbox mailbox;
  std::string seen;  // CPU-thread state
  TcpServer::Callbacks cb;
  cb.on_connect = [&] { mailbox.post([&] { seen += "<connect>"; }); };
  cb.on_data = [&](const uint8_t* d, size_t n) {
    mailbox.post([&, s = std::string(reinterpret_cast<const char*>(d), n)] { seen += s; });
  };
  cb.on_disconnect = [&] { mailbox.post([&] { seen += "<disconnect>"; }); };
  auto server = TcpServer::listen(loop, "localhost", 0, std::move(cb), nullptr);
  ASSERT_TRUE(server);
  int fd = connect_to(server->port());
  ASSERT_GE(fd, 0);
  std::string sent;
  for (int k = 0; k < 50; ++k) {
    std::string chunk = "chunk" + std::to_string(k) + ";";
    ASSERT_EQ(::write(fd, chunk.data(), chunk.size()), ssize_t(chunk.size()));
    sent += chunk;
  }
  ::close(fd);
  const std::string expected = "<connect>" + sent + "<disconnect>";
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (seen != expected && std::chrono::steady_clock::now() < deadline) {
    mailbox.wait_until(std::chrono::steady_clock::now() + 50ms);
    mailbox.drain();
  }
  EXPECT_EQ(seen, expected);
}

TEST(TcpServer, ListenErrors) {
  EventLoop loop;
  Recorder rec;
  std::string error;
  EXPECT_FALSE(TcpServer::listen(loop, "not-an-address", 0, rec.callbacks(), &error));
  EXPECT_EQ(error, "'not-an-address' is not an IP address");
  auto a = TcpServer::listen(loop, "127.0.0.1", 0, rec.callbacks(), &error);
  ASSERT_TRUE(a);
  error.clear();
  EXPECT_FALSE(TcpServer::listen(loop, "127.0.0.1", a->port(), rec.callbacks(), &error));
  EXPECT_NE(error.find("cannot listen on 127.0.0.1:"), std::string::npos) << error;
}

TEST(TcpServer, DestroyedWithAClientConnectedAndAfterLoopShutdown) {
  EventLoop loop;
  Recorder rec;
  auto server = TcpServer::listen(loop, "127.0.0.1", 0, rec.callbacks(), nullptr);
  ASSERT_TRUE(server);
  int fd = connect_to(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(rec.wait([&] { return rec.connects == 1; }));
  server.reset();
  EXPECT_TRUE(sees_eof(fd));
  ::close(fd);
  EXPECT_EQ(rec.disconnects, 0);  // no callbacks into an owner that is going away

  auto late = TcpServer::listen(loop, "127.0.0.1", 0, rec.callbacks(), nullptr);
  ASSERT_TRUE(late);
  loop.shutdown();
  late.reset();  // must not hang or touch the dead loop
}

TEST(ParseHostPort, Forms) {
  std::string host;
  uint16_t port = 0;
  EXPECT_TRUE(parse_host_port("127.0.0.1:1234", host, port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 1234);
  EXPECT_TRUE(parse_host_port("[::1]:0", host, port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  EXPECT_TRUE(parse_host_port(":1234", host, port));  // no address named: loopback
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 1234);
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(parse_host_port("host:", host, port));
  EXPECT_FALSE(parse_host_port("host:65536", host, port));
  EXPECT_FALSE(parse_host_port("host:12a", host, port));
  EXPECT_FALSE(parse_host_port("[::1]1234", host, port));
  EXPECT_FALSE(parse_host_port("nocolon", host, port));
}

TEST(TcpSerialBackend, ServesInputAndOutput) {
  EventLoop loop;
  std::string error;
  // Port 0 cannot be learned through CharBackend: find a free port first.
  uint16_t port;
  {
    Recorder rec;
    auto probe = TcpServer::listen(loop, "127.0.0.1", 0, rec.callbacks(), nullptr);
    ASSERT_TRUE(probe);
    port = probe->port();
  }
  auto backend = open_char_backend("tcp:127.0.0.1:" + std::to_string(port) + ",server", loop,
                                   &error);
  ASSERT_TRUE(backend) << error;
  EXPECT_STREQ(backend->kind(), "tcp");
  std::mutex mu;
  std::condition_variable cv;
  int notified = 0;
  backend->set_input_listener([&] {
    std::lock_guard<std::mutex> lock(mu);
    ++notified;
    cv.notify_all();
  });
  int fd = connect_to(port);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "hi", 2), 2);
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return backend->has_input() && notified > 0; }));
  }
  std::string got;
  for (int k = 0; k < 100 && got.size() < 2; ++k) {
    uint8_t b;
    if (backend->read_byte(b))
      got += char(b);
    else
      std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(got, "hi");
  // The server accepts the client on the loop thread; output written before that is
  // dropped, so wait until the input proved the connection is up (it did above).
  backend->write(reinterpret_cast<const uint8_t*>("guest output"), 12);
  EXPECT_EQ(read_some(fd, 12), "guest output");
  ::close(fd);

  EXPECT_FALSE(open_char_backend("tcp:nohost,server", loop, &error));
  EXPECT_EQ(error, "serial backend 'tcp:nohost,server': expected tcp:HOST:PORT,server");
}

// A loopback server with one connected client, for the hostile-client tests.
struct Served {
  EventLoop loop;
  Recorder rec;
  std::unique_ptr<TcpServer> server;
  int fd = -1;
  Served() {
    std::string error;
    server = TcpServer::listen(loop, "127.0.0.1", 0, rec.callbacks(), &error);
    if (server) fd = connect_to(server->port());
    if (fd >= 0) rec.wait([&] { return rec.connects == 1; });
  }
};

// A client that never reads: the server keeps at most MAX_BACKLOG bytes for it, then drops it,
// and the next client is served.
TEST(TcpServer, ClientThatDoesNotReadIsDisconnected) {
  Served s;
  ASSERT_GE(s.fd, 0);
  int fd = s.fd;
  testing::internal::CaptureStderr();
  std::string chunk(4096, 'x');
  for (int i = 0; i < 40000 && s.server->has_client(); ++i) {  // up to 160 MiB, 4 KiB at a time
    s.server->send(chunk);
    if (i % 256 == 0) std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(s.rec.wait([&] { return s.rec.disconnects == 1; }));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("does not read what it is sent"), std::string::npos) << err;
  ::close(fd);
  int fd2 = connect_to(s.server->port());
  ASSERT_GE(fd2, 0);
  EXPECT_TRUE(s.rec.wait([&] { return s.rec.connects == 2; }));
  s.server->send("hello");
  EXPECT_EQ(read_some(fd2, 5), "hello");
  ::close(fd2);
}

// Many one-byte sends arrive complete and in order (they are gathered, not posted one by one).
TEST(TcpServer, SmallSendsArriveInOrder) {
  Served s;
  ASSERT_GE(s.fd, 0);
  int fd = s.fd;
  std::string want;
  for (int i = 0; i < 100000; ++i) {
    uint8_t b = static_cast<uint8_t>('a' + i % 26);
    want.push_back(static_cast<char>(b));
    s.server->send(&b, 1);
  }
  EXPECT_EQ(read_some(fd, want.size()), want);
  ::close(fd);
}

// pause_input() stops on_data until resume_input(); a client that vanishes meanwhile is
// noticed when the next one connects.
TEST(TcpServer, PausedInputAndAVanishedClient) {
  Served s;
  ASSERT_GE(s.fd, 0);
  int fd = s.fd;
  ASSERT_EQ(::write(fd, "ab", 2), 2);
  ASSERT_TRUE(s.rec.wait([&] { return s.rec.data == "ab"; }));
  s.server->pause_input();
  s.loop.run_sync([] {});  // the pause has run
  ASSERT_EQ(::write(fd, "cd", 2), 2);
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard<std::mutex> lock(s.rec.mu);
    EXPECT_EQ(s.rec.data, "ab");
  }
  s.server->resume_input();
  ASSERT_TRUE(s.rec.wait([&] { return s.rec.data == "abcd"; }));

  s.server->pause_input();
  s.loop.run_sync([] {});
  ::close(fd);  // unnoticed: nothing reads the socket
  std::this_thread::sleep_for(50ms);
  int fd2 = connect_to(s.server->port());
  ASSERT_GE(fd2, 0);
  EXPECT_TRUE(s.rec.wait([&] { return s.rec.connects == 2 && s.rec.disconnects == 1; }));
  s.server->resume_input();
  ASSERT_EQ(::write(fd2, "ef", 2), 2);
  EXPECT_TRUE(s.rec.wait([&] { return s.rec.data == "abcdef"; }));
  ::close(fd2);
}

}  // namespace
}  // namespace softcpu
