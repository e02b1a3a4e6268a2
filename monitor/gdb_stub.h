// The GDB remote serial protocol engine (GDB manual, appendix "Remote Protocol"), independent
// of the transport: the transport feeds received bytes in and sends what the engine emits.
// One thread (id 1), all-stop mode. Runs on the CPU thread only.
//
// Addresses: gdb's addresses are LINEAR (segment bases applied, paging not) in every mode;
// breakpoints and watchpoints too. In real mode and V86 mode gdb sees eip as the linear PC
// (CS.base + EIP, done by the target), so `x/i $pc`, `stepi` and `break *0x7c00` agree; use
// `set architecture i8086` there so that gdb decodes 16-bit code.
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "monitor/gdb_target.h"

namespace softcpu {

class GdbStub {
 public:
  // Largest packet payload we accept (advertised as PacketSize in qSupported).
  static constexpr size_t MAX_PACKET = 0x4000;

  using SendFn = std::function<void(std::string_view bytes)>;
  GdbStub(GdbTarget& target, SendFn send);

  // Text for `monitor stats` (the machine's stats registry).
  void set_stats_provider(std::function<std::string()> stats) { stats_ = std::move(stats); }
  // More `monitor` commands (the machine's: icount, break-icount, savevm, loadvm): returns the text to print
  // and sets *handled, or leaves it false for an unknown command. `monitor help` asks it for
  // "help" and appends what it returns when handled (a partition's hypervisor commands).
  using MonitorExtension = std::function<std::string(std::string_view cmd, bool* handled)>;
  void set_monitor_extension(MonitorExtension ext) { extension_ = std::move(ext); }
  // Called after `D` has been answered: the transport should close the connection.
  void set_close_handler(std::function<void()> close) { close_ = std::move(close); }

  // A client connected: the guest is halted and the protocol state starts afresh.
  void on_connect();
  // The client went away (or detached): breakpoints are removed and the guest runs free.
  void on_disconnect();
  // Bytes from the client, in any chunking.
  void feed(const uint8_t* data, size_t len);
  void feed(std::string_view s) { feed(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

  // The machine reports that the guest stopped after resume(); sends the stop reply.
  // Ignored when gdb is not waiting for one.
  void report_stop(const GdbStopEvent& ev);

  bool connected() const { return connected_; }
  bool waiting_for_stop() const { return running_; }
  bool no_ack_mode() const { return no_ack_; }

 private:
  enum class RxState { IDLE, DATA, CHECKSUM1, CHECKSUM2 };

  void handle_packet(std::string_view p);
  void send_packet(std::string_view payload);
  void send_raw(std::string_view bytes) { send_(bytes); }
  void send_error(int code);

  void cmd_query(std::string_view p);
  void cmd_set(std::string_view p);
  void cmd_v(std::string_view p);
  void cmd_read_registers();
  void cmd_write_registers(std::string_view hex);
  void cmd_read_register(std::string_view p);
  void cmd_write_register(std::string_view p);
  void cmd_read_memory(std::string_view p);
  void cmd_write_memory(std::string_view p, bool binary);
  void cmd_breakpoint(std::string_view p, bool insert);
  void cmd_resume(std::string_view addr_arg, bool step);
  void cmd_monitor(std::string_view hex);
  void cmd_xfer_features(std::string_view args);
  void send_console_output(std::string_view text);
  void interrupt();
  std::string stop_reply(const GdbStopEvent& ev) const;

  GdbTarget& target_;
  SendFn send_;
  std::function<std::string()> stats_;
  MonitorExtension extension_;
  std::function<void()> close_;

  RxState rx_ = RxState::IDLE;
  std::string packet_;       // payload being received (escaped, as on the wire)
  bool overlong_ = false;    // the packet being received exceeded MAX_PACKET
  uint8_t sum_ = 0;          // running checksum of the payload
  uint8_t rx_checksum_ = 0;  // first checksum digit
  std::string last_sent_;    // for retransmission on '-'

  bool connected_ = false;
  bool no_ack_ = false;
  bool running_ = false;     // resumed; a stop reply is owed
  GdbStopEvent last_stop_ = GdbStopEvent::sig(5);
  // Addresses gdb inserted with Z1 (hwbreak:) rather than Z0 (swbreak:) — the target has
  // one kind of breakpoint.
  std::set<uint32_t> hw_breakpoints_;
};

}  // namespace softcpu
