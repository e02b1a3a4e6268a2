// The primary hypervisor's monitor console (`monitor = "tcp:ADDR:PORT"` in a system file, or
// `--monitor tcp:ADDR:PORT`): a line-oriented text console like QEMU's human monitor on a TCP
// port, one client at a time. Each line is a command of monitor/hv/commands.h, run on the
// primary's thread (PrimaryHypervisor::post_command); the answer and a "(softcpu) " prompt
// come back. `help` is answered here. Its own libuv loop thread; nothing of a partition's.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace softcpu {
class EventLoop;
class TcpServer;
}  // namespace softcpu

namespace softcpu::hv {

class PrimaryHypervisor;

class MonitorConsole {
 public:
  // Listens on `spec` ("tcp:ADDR:PORT"; ":PORT" is the loopback address; port 0 picks one) and
  // prints "softcpu: monitor on tcp:ADDR:PORT" on stderr. Returns nullptr with *error set for
  // a bad spec or a port that cannot be bound.
  static std::unique_ptr<MonitorConsole> open(PrimaryHypervisor& hv, const std::string& spec,
                                              std::string* error);
  ~MonitorConsole();
  MonitorConsole(const MonitorConsole&) = delete;
  MonitorConsole& operator=(const MonitorConsole&) = delete;

  uint16_t port() const;
  static constexpr size_t MAX_LINE = 4096;  // a longer line is refused, not buffered

 private:
  explicit MonitorConsole(PrimaryHypervisor& hv);
  void on_data(const uint8_t* data, size_t len);  // loop thread
  void send(const std::string& text);

  PrimaryHypervisor& hv_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<TcpServer> server_;
  std::string line_;        // loop thread: the line being received
  bool overlong_ = false;   // loop thread: the line being received passed MAX_LINE
};

// Checks a monitor spec as the console will read it ("tcp:ADDR:PORT"); false with a message.
bool check_monitor_spec(const std::string& spec, std::string* error);

}  // namespace softcpu::hv
