#include "monitor/hv/monitor_console.h"

#include <cstdio>
#include <stdexcept>

#include "hostio/event_loop.h"
#include "hostio/tcp_server.h"
#include "monitor/hv/commands.h"
#include "monitor/hv/primary.h"

namespace softcpu::hv {

namespace {

constexpr const char kPrompt[] = "(softcpu) ";

bool split_spec(const std::string& spec, std::string& host, uint16_t& port) {
  return spec.rfind("tcp:", 0) == 0 && parse_host_port(spec.substr(4), host, port);
}

}  // namespace

bool check_monitor_spec(const std::string& spec, std::string* error) {
  std::string host;
  uint16_t port = 0;
  if (split_spec(spec, host, port)) return true;
  *error = "bad monitor '" + spec + "': expected tcp:ADDR:PORT, e.g. tcp:127.0.0.1:4444 "
           "(tcp::PORT is the loopback address)";
  return false;
}

MonitorConsole::MonitorConsole(PrimaryHypervisor& hv) : hv_(hv) {}

MonitorConsole::~MonitorConsole() {
  server_.reset();  // no more callbacks
  loop_.reset();
}

uint16_t MonitorConsole::port() const { return server_ ? server_->port() : 0; }

std::unique_ptr<MonitorConsole> MonitorConsole::open(PrimaryHypervisor& hv, const std::string& spec,
                                                     std::string* error) {
  if (!check_monitor_spec(spec, error)) return nullptr;
  std::string host;
  uint16_t port = 0;
  split_spec(spec, host, port);
  std::unique_ptr<MonitorConsole> c(new MonitorConsole(hv));
  try {
    c->loop_ = std::make_unique<EventLoop>();
  } catch (const std::runtime_error& e) {
    *error = std::string("cannot start the monitor's event loop: ") + e.what();
    return nullptr;
  }
  MonitorConsole* self = c.get();
  TcpServer::Callbacks cb;
  cb.on_connect = [self] {
    self->line_.clear();
    self->overlong_ = false;
    self->send(std::string("softcpu monitor: the primary hypervisor's commands; type 'help'\n") +
               kPrompt);
  };
  cb.on_data = [self](const uint8_t* data, size_t len) { self->on_data(data, len); };
  cb.on_disconnect = [] {};
  // Assigned on the loop thread: a client may connect as soon as listen() has bound the port,
  // and on_connect's send() reads server_ there (ThreadSanitizer saw the greeting race with
  // this assignment; it could be lost, leaving the client waiting for a prompt).
  if (!c->loop_->run_sync(
          [&] { c->server_ = TcpServer::listen(*c->loop_, host, port, std::move(cb), error); }))
    *error = "the event loop has stopped";
  if (!c->server_) {
    *error = "cannot listen for the monitor on " + spec + ": " + *error;
    return nullptr;
  }
  const bool v6 = host.find(':') != std::string::npos;
  std::fprintf(stderr, "softcpu: monitor on tcp:%s%s%s:%u\n", v6 ? "[" : "", host.c_str(),
               v6 ? "]" : "", unsigned(c->server_->port()));
  if (!is_loopback_host(host))
    std::fprintf(stderr, "softcpu: warning: the monitor is reachable from other machines; anyone "
                 "who connects can stop and reset partitions (use tcp:127.0.0.1:PORT)\n");
  return c;
}

void MonitorConsole::send(const std::string& text) {
  if (server_) server_->send(text);
}

void MonitorConsole::on_data(const uint8_t* data, size_t len) {
  for (size_t k = 0; k < len; ++k) {
    const char ch = char(data[k]);
    if (ch == '\r') continue;
    if (ch != '\n') {
      if (line_.size() < MAX_LINE) line_ += ch;
      else overlong_ = true;
      continue;
    }
    std::string line;
    line.swap(line_);
    if (overlong_) {
      overlong_ = false;
      send("line too long (more than " + std::to_string(MAX_LINE) + " bytes); ignored\n" + kPrompt);
      continue;
    }
    // Trim; `help` is this console's.
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    line = start == std::string::npos ? std::string() : line.substr(start);
    if (line.empty()) {
      send(kPrompt);
    } else if (line == "help" || line == "?") {
      send(std::string("commands:\n") + kHvCommandsHelp + "  help                              this text\n" +
           kPrompt);
    } else {
      // Answered on the primary's thread; TcpServer::send may be called from any thread.
      hv_.post_command(line, [this](const std::string& answer) { send(answer + kPrompt); });
    }
  }
}

}  // namespace softcpu::hv
