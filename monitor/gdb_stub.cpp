#include "monitor/gdb_stub.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace softcpu {

namespace {

// Error numbers in `E xx` replies (gdb prints them; errno values by convention).
constexpr int ERR_GENERIC = 0x01;
constexpr int ERR_FAULT = 0x14;   // memory not mapped (the brief's "E14")
constexpr int ERR_INVAL = 0x16;   // malformed arguments (EINVAL)
constexpr int ERR_NOSPC = 0x1c;   // no room for another breakpoint

const char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A hex number of at most 32 bits. False when empty, not hex, or too large.
bool parse_u32(std::string_view s, uint32_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = hex_value(c);
    if (d < 0) return false;
    v = (v << 4) | unsigned(d);
    if (v > 0xFFFFFFFFull) return false;
  }
  out = uint32_t(v);
  return true;
}

// "ADDR,LEN" followed by `rest_sep` (or the end when rest_sep is 0).
bool parse_addr_len(std::string_view s, uint32_t& addr, uint32_t& len, char rest_sep,
                    std::string_view* rest) {
  size_t comma = s.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view len_part = s.substr(comma + 1);
  if (rest_sep) {
    size_t sep = len_part.find(rest_sep);
    if (sep == std::string_view::npos) return false;
    *rest = len_part.substr(sep + 1);
    len_part = len_part.substr(0, sep);
  }
  return parse_u32(s.substr(0, comma), addr) && parse_u32(len_part, len);
}

bool decode_hex(std::string_view hex, std::vector<uint8_t>& out) {
  if (hex.size() % 2) return false;
  out.resize(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = uint8_t(hi << 4 | lo);
  }
  return true;
}

void append_hex(std::string& s, const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    s += kHexDigits[data[i] >> 4];
    s += kHexDigits[data[i] & 15];
  }
}

std::string hex_u32(uint32_t v) {
  char buf[12];
  std::snprintf(buf, sizeof buf, "%x", v);
  return buf;
}

// Binary data in a reply: '#', '$', '}' and '*' (run-length marker) are escaped as '}' then
// the byte xor 0x20 (Remote Protocol, "Overview").
void append_escaped(std::string& s, std::string_view data) {
  for (char c : data) {
    if (c == '#' || c == '$' || c == '}' || c == '*') {
      s += '}';
      s += char(c ^ 0x20);
    } else {
      s += c;
    }
  }
}

// Undo the escaping of binary data in X packets. False if it ends in a lone '}'.
bool unescape(std::string_view in, std::vector<uint8_t>& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '}') {
      if (++i == in.size()) return false;
      out.push_back(uint8_t(in[i] ^ 0x20));
    } else {
      out.push_back(uint8_t(in[i]));
    }
  }
  return true;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

GdbStub::GdbStub(GdbTarget& target, SendFn send) : target_(target), send_(std::move(send)) {}

// ---- connection ----------------------------------------------------------------------------

void GdbStub::on_connect() {
  connected_ = true;
  rx_ = RxState::IDLE;
  packet_.clear();
  overlong_ = false;
  last_sent_.clear();
  no_ack_ = false;
  running_ = false;
  hw_breakpoints_.clear();
  target_.remove_all_breakpoints();  // left over from an earlier session that died oddly
  target_.halt();                    // gdb expects a stopped target after connecting
  last_stop_ = GdbStopEvent::sig(5);
}

void GdbStub::on_disconnect() {
  if (!connected_) return;
  connected_ = false;
  running_ = false;
  rx_ = RxState::IDLE;
  packet_.clear();
  hw_breakpoints_.clear();
  target_.remove_all_breakpoints();
  target_.detach();
}

// ---- framing -------------------------------------------------------------------------------

void GdbStub::feed(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    const char c = char(data[i]);
    switch (rx_) {
      case RxState::IDLE:
        if (c == '$') {
          rx_ = RxState::DATA;
          packet_.clear();
          overlong_ = false;
          sum_ = 0;
        } else if (c == 0x03) {
          interrupt();
        } else if (c == '-' && !no_ack_ && !last_sent_.empty()) {
          send_raw(last_sent_);  // the client saw a bad checksum: retransmit
        }
        // '+' acknowledges our last packet; anything else between packets is noise.
        break;
      case RxState::DATA:
        if (c == '#') {
          rx_ = RxState::CHECKSUM1;
        } else if (c == '$') {
          // A new start marker: the client gave up on the packet it was sending.
          packet_.clear();
          overlong_ = false;
          sum_ = 0;
        } else {
          sum_ = uint8_t(sum_ + uint8_t(c));
          if (packet_.size() < MAX_PACKET)
            packet_ += c;
          else
            overlong_ = true;  // keep counting until '#', store no more
        }
        break;
      case RxState::CHECKSUM1:
        rx_checksum_ = uint8_t(c);
        rx_ = RxState::CHECKSUM2;
        break;
      case RxState::CHECKSUM2: {
        rx_ = RxState::IDLE;
        int hi = hex_value(char(rx_checksum_)), lo = hex_value(c);
        bool good = hi >= 0 && lo >= 0 && uint8_t(hi << 4 | lo) == sum_;
        if (!good) {
          if (!no_ack_) send_raw("-");  // ask for a retransmission
          packet_.clear();
          break;
        }
        if (!no_ack_) send_raw("+");
        std::string p;
        p.swap(packet_);
        if (overlong_)
          send_error(ERR_INVAL);
        else
          handle_packet(p);
        break;
      }
    }
  }
}

void GdbStub::send_packet(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 4);
  out += '$';
  uint8_t sum = 0;
  for (char c : payload) sum = uint8_t(sum + uint8_t(c));
  out += payload;
  out += '#';
  out += kHexDigits[sum >> 4];
  out += kHexDigits[sum & 15];
  send_raw(out);
  if (!no_ack_) last_sent_ = std::move(out);
}

void GdbStub::send_error(int code) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "E%02x", code & 0xFF);
  send_packet(buf);
}

// ---- packets -------------------------------------------------------------------------------

void GdbStub::handle_packet(std::string_view p) {
  if (p.empty()) {
    send_packet("");
    return;
  }
  const std::string_view args = p.substr(1);
  switch (p[0]) {
    case '?': send_packet(stop_reply(last_stop_)); return;
    case 'g': cmd_read_registers(); return;
    case 'G': cmd_write_registers(args); return;
    case 'p': cmd_read_register(args); return;
    case 'P': cmd_write_register(args); return;
    case 'm': cmd_read_memory(args); return;
    case 'M': cmd_write_memory(args, false); return;
    case 'X': cmd_write_memory(args, true); return;
    case 'c': cmd_resume(args, false); return;
    case 's': cmd_resume(args, true); return;
    case 'C':
    case 'S': {
      // "C sig[;addr]": the signal means nothing to a bare machine; it is dropped.
      size_t semi = args.find(';');
      cmd_resume(semi == std::string_view::npos ? std::string_view() : args.substr(semi + 1),
                 p[0] == 'S');
      return;
    }
    case 'Z': cmd_breakpoint(args, true); return;
    case 'z': cmd_breakpoint(args, false); return;
    case 'q': cmd_query(p); return;
    case 'Q': cmd_set(p); return;
    case 'v': cmd_v(p); return;
    case 'H': send_packet("OK"); return;  // one thread: every thread selection is fine
    case 'T': {
      // Thread alive? Thread 1 is the only one (-1/0 mean "any").
      uint32_t tid;
      if (args == "-1" || (parse_u32(args, tid) && tid <= 1))
        send_packet("OK");
      else
        send_error(ERR_GENERIC);
      return;
    }
    case 'D':
      send_packet("OK");
      on_disconnect();
      if (close_) close_();
      return;
    case 'k':
      // No reply (Remote Protocol, "k packet"); the machine exits.
      running_ = false;
      target_.kill();
      if (close_) close_();
      return;
    default:
      send_packet("");  // unknown packet: the empty reply says "not supported"
      return;
  }
}

void GdbStub::cmd_query(std::string_view p) {
  if (starts_with(p, "qSupported")) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "PacketSize=%zx;qXfer:features:read+;QStartNoAckMode+;vContSupported+;"
                  "swbreak+;hwbreak+",
                  MAX_PACKET);
    send_packet(buf);
  } else if (starts_with(p, "qXfer:features:read:")) {
    cmd_xfer_features(p.substr(20));
  } else if (starts_with(p, "qAttached")) {
    send_packet("1");  // we attached to a running machine: detach must not kill it
  } else if (p == "qC") {
    send_packet("QC1");
  } else if (p == "qfThreadInfo") {
    send_packet("m1");
  } else if (p == "qsThreadInfo") {
    send_packet("l");
  } else if (starts_with(p, "qRcmd,")) {
    cmd_monitor(p.substr(6));
  } else if (starts_with(p, "qSymbol")) {
    send_packet("OK");  // no symbols wanted
  } else {
    send_packet("");
  }
}

void GdbStub::cmd_set(std::string_view p) {
  if (p == "QStartNoAckMode") {
    send_packet("OK");  // acknowledged in the old mode, as the protocol requires
    no_ack_ = true;
    last_sent_.clear();
  } else {
    send_packet("");
  }
}

void GdbStub::cmd_v(std::string_view p) {
  if (p == "vCont?") {
    send_packet("vCont;c;C;s;S");
    return;
  }
  if (starts_with(p, "vCont;")) {
    // "vCont;ACTION[:THREAD]..." — the first action that applies to thread 1 decides.
    std::string_view rest = p.substr(6);
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view action = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      std::string_view thread;
      if (size_t colon = action.find(':'); colon != std::string_view::npos) {
        thread = action.substr(colon + 1);
        action = action.substr(0, colon);
      }
      uint32_t tid = 0;
      bool ours = thread.empty() || thread == "-1" || (parse_u32(thread, tid) && tid <= 1) ||
                  thread == "p1.1" || thread == "p1.-1";
      if (!ours || action.empty()) continue;
      switch (action[0]) {
        case 'c':
        case 'C': cmd_resume({}, false); return;
        case 's':
        case 'S': cmd_resume({}, true); return;
        default: send_error(ERR_INVAL); return;  // 't', 'r': not offered by vCont?
      }
    }
    send_error(ERR_INVAL);
    return;
  }
  if (starts_with(p, "vKill")) {
    send_packet("OK");
    running_ = false;
    target_.kill();
    if (close_) close_();
    return;
  }
  send_packet("");  // includes vMustReplyEmpty
}

void GdbStub::cmd_read_registers() {
  const GdbTargetDescription& d = target_.description();
  std::string out;
  uint8_t buf[16];
  for (unsigned r = 0; r < d.registers.size(); ++r) {
    const unsigned bytes = d.registers[r].bits / 8;
    if (!target_.read_register(r, buf)) {
      out.append(bytes * 2, 'x');  // "unavailable"
      continue;
    }
    append_hex(out, buf, bytes);
  }
  send_packet(out);
}

void GdbStub::cmd_write_registers(std::string_view hex) {
  std::vector<uint8_t> bytes;
  if (!decode_hex(hex, bytes)) {
    send_error(ERR_INVAL);
    return;
  }
  const GdbTargetDescription& d = target_.description();
  size_t at = 0;
  int first_err = 0;
  for (unsigned r = 0; r < d.registers.size(); ++r) {
    const unsigned n = d.registers[r].bits / 8;
    if (at + n > bytes.size()) break;  // a short G writes the registers it covers
    int err = ERR_GENERIC;
    if (!target_.write_register(r, &bytes[at], &err) && first_err == 0) first_err = err;
    at += n;
  }
  if (first_err)
    send_error(first_err);
  else
    send_packet("OK");
}

void GdbStub::cmd_read_register(std::string_view p) {
  uint32_t r;
  const GdbTargetDescription& d = target_.description();
  uint8_t buf[16];
  if (!parse_u32(p, r) || r >= d.registers.size() || !target_.read_register(r, buf)) {
    send_error(ERR_INVAL);
    return;
  }
  std::string out;
  append_hex(out, buf, d.registers[r].bits / 8);
  send_packet(out);
}

void GdbStub::cmd_write_register(std::string_view p) {
  size_t eq = p.find('=');
  uint32_t r;
  std::vector<uint8_t> bytes;
  const GdbTargetDescription& d = target_.description();
  if (eq == std::string_view::npos || !parse_u32(p.substr(0, eq), r) ||
      r >= d.registers.size() || !decode_hex(p.substr(eq + 1), bytes) ||
      bytes.size() != d.registers[r].bits / 8) {
    send_error(ERR_INVAL);
    return;
  }
  int err = ERR_GENERIC;
  if (target_.write_register(r, bytes.data(), &err))
    send_packet("OK");
  else
    send_error(err);
}

void GdbStub::cmd_read_memory(std::string_view p) {
  uint32_t addr, len;
  if (!parse_addr_len(p, addr, len, 0, nullptr)) {
    send_error(ERR_INVAL);
    return;
  }
  // The reply may be shorter than asked (Remote Protocol, "m packet"): cap it to a packet and
  // to the end of the address space.
  size_t n = std::min<size_t>(len, MAX_PACKET / 2);
  n = std::min<size_t>(n, 0x100000000ull - addr);
  std::vector<uint8_t> buf(n);
  size_t got = n ? target_.read_memory(addr, buf.data(), n) : 0;
  if (got == 0 && n != 0) {
    send_error(ERR_FAULT);
    return;
  }
  std::string out;
  append_hex(out, buf.data(), got);
  send_packet(out);
}

void GdbStub::cmd_write_memory(std::string_view p, bool binary) {
  uint32_t addr, len;
  std::string_view data;
  std::vector<uint8_t> bytes;
  if (!parse_addr_len(p, addr, len, ':', &data) ||
      !(binary ? unescape(data, bytes) : decode_hex(data, bytes)) || bytes.size() != len ||
      uint64_t(addr) + len > 0x100000000ull) {
    send_error(ERR_INVAL);
    return;
  }
  if (len != 0 && target_.write_memory(addr, bytes.data(), len) != len) {
    send_error(ERR_FAULT);
    return;
  }
  send_packet("OK");  // "X addr,0:" is gdb's probe for X support
}

void GdbStub::cmd_breakpoint(std::string_view p, bool insert) {
  // "type,addr,kind": kind is the length for watchpoints, an instruction size for breakpoints.
  if (p.size() < 2 || p[1] != ',' || p[0] < '0' || p[0] > '4') {
    send_packet("");  // unsupported type
    return;
  }
  const auto type = GdbBreakKind(p[0] - '0');
  std::string_view rest = p.substr(2);
  if (size_t semi = rest.find(';'); semi != std::string_view::npos)
    rest = rest.substr(0, semi);  // conditions and commands run on the gdb side
  uint32_t addr, kind;
  if (!parse_addr_len(rest, addr, kind, 0, nullptr)) {
    send_error(ERR_INVAL);
    return;
  }
  const bool is_watch = type >= GdbBreakKind::WATCH_WRITE;
  if (is_watch && (kind == 0 || kind > 4096)) {
    send_error(ERR_INVAL);
    return;
  }
  const uint32_t len = is_watch ? kind : 1;
  bool ok = insert ? target_.insert_breakpoint(type, addr, len)
                   : target_.remove_breakpoint(type, addr, len);
  if (!ok) {
    send_error(insert ? ERR_NOSPC : ERR_INVAL);
    return;
  }
  if (type == GdbBreakKind::HARDWARE) {
    if (insert)
      hw_breakpoints_.insert(addr);
    else
      hw_breakpoints_.erase(addr);
  }
  send_packet("OK");
}

void GdbStub::cmd_resume(std::string_view addr_arg, bool step) {
  if (!addr_arg.empty()) {
    uint32_t addr;
    if (!parse_u32(addr_arg, addr)) {
      send_error(ERR_INVAL);
      return;
    }
    const uint8_t le[4] = {uint8_t(addr), uint8_t(addr >> 8), uint8_t(addr >> 16),
                           uint8_t(addr >> 24)};
    int err = ERR_GENERIC;
    if (!target_.write_register(target_.description().pc_register, le, &err)) {
      send_error(err);
      return;
    }
  }
  running_ = true;  // the stop reply comes later, from report_stop()
  target_.resume(step);
}

void GdbStub::cmd_xfer_features(std::string_view args) {
  // "ANNEX:OFFSET,LENGTH"
  size_t colon = args.find(':');
  uint32_t off, len;
  if (colon == std::string_view::npos ||
      !parse_addr_len(args.substr(colon + 1), off, len, 0, nullptr)) {
    send_error(ERR_INVAL);
    return;
  }
  std::string doc;
  if (!target_.description().document(args.substr(0, colon), doc)) {
    send_error(0x00);  // unknown annex (Remote Protocol, "qXfer read": E00)
    return;
  }
  // Escaping can double the size: keep the reply within a packet.
  const size_t chunk = std::min<size_t>(len, MAX_PACKET / 2 - 1);
  std::string out;
  if (off >= doc.size()) {
    out = "l";
  } else {
    std::string_view part = std::string_view(doc).substr(off, chunk);
    out = off + part.size() < doc.size() ? "m" : "l";
    append_escaped(out, part);
  }
  send_packet(out);
}

// ---- monitor commands ----------------------------------------------------------------------

void GdbStub::send_console_output(std::string_view text) {
  // 'O' packets carry hex text; keep each well inside the packet size.
  constexpr size_t kChunk = 1024;
  for (size_t at = 0; at < text.size(); at += kChunk) {
    std::string_view part = text.substr(at, kChunk);
    std::string out = "O";
    append_hex(out, reinterpret_cast<const uint8_t*>(part.data()), part.size());
    send_packet(out);
  }
}

void GdbStub::cmd_monitor(std::string_view hex) {
  std::vector<uint8_t> bytes;
  if (!decode_hex(hex, bytes)) {
    send_error(ERR_INVAL);
    return;
  }
  const std::string line(bytes.begin(), bytes.end());
  const std::string_view cmd = trim(line);
  std::string text;
  if (cmd == "help" || cmd.empty()) {
    text =
        "monitor commands:\n"
        "  stats           the machine's counters\n"
        "  info registers  CPU state, system registers included\n"
        "  info tlb        the soft TLB's valid entries\n"
        "  info irq-routes the interrupt routing table: device outputs to GSIs, counts\n"
        "  system_reset    reset the machine (RAM is kept)\n"
        "  icount          the count of instructions retired so far\n"
        "  break-icount N  stop when the count reaches N (then continue); 'off' deletes it\n"
        "  savevm FILE     save the whole machine to FILE (docs/snapshot.md)\n"
        "  loadvm FILE     replace the machine's state with FILE's\n"
        "  help            this text\n";
    bool more = false;  // a partition's machine adds the primary hypervisor's commands
    if (extension_) {
      const std::string extra = extension_("help", &more);
      if (more) text += extra;
    }
  } else if (cmd == "stats") {
    text = stats_ ? stats_() : "no statistics available\n";
  } else if (cmd == "info registers") {
    text = target_.info_registers();
  } else if (cmd == "info tlb") {
    text = target_.info_tlb();
  } else if (cmd == "system_reset") {
    target_.system_reset();
    last_stop_ = GdbStopEvent::sig(5);
    text = "machine reset\n";
  } else {
    bool handled = false;
    if (extension_) text = extension_(cmd, &handled);
    if (!handled) text = "unknown monitor command '" + std::string(cmd) + "'; try 'monitor help'\n";
    else if (starts_with(cmd, "loadvm")) last_stop_ = GdbStopEvent::sig(5);
  }
  if (!text.empty() && text.back() != '\n') text += '\n';
  send_console_output(text);
  send_packet("OK");
}

// ---- stops ---------------------------------------------------------------------------------

void GdbStub::interrupt() {
  // Ctrl-C outside a packet (Remote Protocol, "Interrupts"); gdb sends it only while it
  // believes the guest runs, so with no stop owed it raced a stop reply and is dropped.
  if (!running_) return;
  target_.halt();
  report_stop(GdbStopEvent::sig(2));
}

void GdbStub::report_stop(const GdbStopEvent& ev) {
  if (!running_ || !connected_) return;
  running_ = false;
  last_stop_ = ev;
  send_packet(stop_reply(ev));
}

std::string GdbStub::stop_reply(const GdbStopEvent& ev) const {
  char head[8];
  std::snprintf(head, sizeof head, "T%02x", ev.signal);
  std::string s = head;
  s += "thread:1;";
  switch (ev.kind) {
    case GdbStopEvent::BREAKPOINT:
      s += hw_breakpoints_.count(ev.address) ? "hwbreak:;" : "swbreak:;";
      break;
    case GdbStopEvent::WATCHPOINT: {
      const char* what = ev.watch == GdbBreakKind::WATCH_READ     ? "rwatch:"
                         : ev.watch == GdbBreakKind::WATCH_ACCESS ? "awatch:"
                                                                  : "watch:";
      s += what + hex_u32(ev.address) + ";";
      break;
    }
    default:
      break;
  }
  return s;
}

}  // namespace softcpu
