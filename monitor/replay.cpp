#include "monitor/replay.h"

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "monitor/machine.h"

namespace softcpu {

namespace {

// Record files are text, one event a line (docs/determinism.md):
//   softcpu-replay 1
//   config icount_shift=S ram_mib=M rtc_base=NS
//   serial ICOUNT NS HEXBYTES STATE
//   check ICOUNT STATE
//   end ICOUNT STATE STATUS
constexpr const char kMagic[] = "softcpu-replay";
constexpr unsigned kVersion = 1;

std::string to_hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

bool from_hex(const std::string& hex, std::string& out) {
  if (hex.empty() || hex.size() % 2) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t k = 0; k < hex.size(); k += 2) {
    int hi = nibble(hex[k]), lo = nibble(hex[k + 1]);
    if (hi < 0 || lo < 0) return false;
    out += char(hi << 4 | lo);
  }
  return true;
}

bool parse_u64(const std::string& s, uint64_t& out, int base = 10) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s.c_str(), &end, base);
  if (errno || *end) return false;
  out = v;
  return true;
}

}  // namespace

bool parse_rtc_date(const std::string& text, int64_t* unix_ns) {
  int y, mo, d, h = 0, mi = 0, s = 0;
  char tail;
  const bool full = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi,
                                &s, &tail) == 6;
  const bool date = !full && text.size() == 10 &&
                    std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &y, &mo, &d, &tail) == 3;
  if (!full && !date) return false;
  if (y < 1970 || y > 2099 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
      s > 59 || h < 0 || mi < 0 || s < 0)
    return false;
  std::tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = s;
  const time_t secs = timegm(&t);
  std::tm back{};
  gmtime_r(&secs, &back);
  if (back.tm_mday != d) return false;  // e.g. 2025-02-30
  *unix_ns = int64_t(secs) * 1000000000LL;
  return true;
}

bool InputGate::read_byte(uint8_t& out) {
  if (queue_.empty()) return false;
  out = queue_.front();
  queue_.pop_front();
  return true;
}

std::string InputGate::take_host_input() {
  std::string bytes;
  uint8_t b;
  while (host_.has_input() && host_.read_byte(b)) bytes += char(b);
  return bytes;
}

std::unique_ptr<ReplayFile> ReplayFile::load(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot open record file '" + path + "': " + std::strerror(errno);
    return nullptr;
  }
  auto file = std::make_unique<ReplayFile>();
  auto bad = [&](unsigned line, const std::string& why) {
    *error = "record file '" + path + "' line " + std::to_string(line) + ": " + why;
    return nullptr;
  };
  std::string text;
  unsigned line = 0;
  bool has_config = false, has_end = false;
  uint64_t last_icount = 0;
  while (std::getline(in, text)) {
    ++line;
    std::istringstream ls(text);
    std::string word;
    ls >> word;
    if (line == 1) {
      std::string version, extra;
      ls >> version >> extra;
      if (word != kMagic)
        return bad(line, "not a softcpu record file (it does not start with '" +
                             std::string(kMagic) + "')");
      if (version != std::to_string(kVersion) || !extra.empty())
        return bad(line, "record format version '" + version + "'; this softcpu reads version " +
                             std::to_string(kVersion));
      continue;
    }
    if (has_end) return bad(line, "text after the end line");
    std::vector<std::string> f;
    for (std::string x; ls >> x;) f.push_back(x);
    if (word == "config" && line == 2) {
      for (const std::string& kv : f) {
        const size_t eq = kv.find('=');
        uint64_t v = 0;
        if (eq == std::string::npos || !parse_u64(kv.substr(eq + 1), v))
          return bad(line, "malformed config entry '" + kv + "'");
        const std::string k = kv.substr(0, eq);
        if (k == "icount_shift") file->header.icount_shift = unsigned(v);
        else if (k == "ram_mib") file->header.ram_mib = uint32_t(v);
        else if (k == "rtc_base") file->header.rtc_base = int64_t(v);
        else return bad(line, "unknown config entry '" + k + "'");
      }
      has_config = true;
      continue;
    }
    if (!has_config) return bad(line, "expected the config line");
    ReplayEvent e;
    e.line = line;
    bool ok = false;
    if (word == "serial" && f.size() == 4) {
      e.kind = ReplayEvent::SERIAL;
      ok = parse_u64(f[0], e.icount) && parse_u64(f[1], e.ns) && from_hex(f[2], e.bytes) &&
           parse_u64(f[3], e.state, 16);
    } else if (word == "check" && f.size() == 2) {
      e.kind = ReplayEvent::CHECK;
      ok = parse_u64(f[0], e.icount) && parse_u64(f[1], e.state, 16);
    } else if (word == "end" && f.size() == 3) {
      e.kind = ReplayEvent::END;
      uint64_t st = 0;
      ok = parse_u64(f[0], e.icount) && parse_u64(f[1], e.state, 16) && parse_u64(f[2], st) &&
           st < 256;
      e.status = int(st);
      has_end = true;
    } else {
      return bad(line, "unknown or malformed event '" + text.substr(0, 60) + "'");
    }
    if (!ok) return bad(line, "malformed " + word + " event");
    if (e.icount < last_icount) return bad(line, "instruction counts go backwards");
    last_icount = e.icount;
    file->events.push_back(std::move(e));
  }
  if (line == 0) return bad(1, "the file is empty");
  if (!has_end) return bad(line, "no end line: the record is incomplete (truncated?)");
  return file;
}

Determinism::Determinism(const MachineConfig& config, VirtualClock& clock, CharBackend& host_serial)
    : clock_(clock), gate_(host_serial) {
  completion_timer_ = clock_.create_timer([this](uint64_t now) { fire_completions(now); });
  const ReplayHeader here{config.icount_shift, config.ram_mib,
                          config.rtc_base_unix_ns.value_or(kDeterministicRtcBase)};
  if (!config.replay_path.empty()) {
    std::string error;
    replay_ = ReplayFile::load(config.replay_path, &error);
    if (!replay_) throw ConfigError{error};
    replay_path_ = config.replay_path;
    const ReplayHeader& h = replay_->header;
    auto mismatch = [&](const char* what, int64_t rec, int64_t now) {
      throw ConfigError{"record file '" + replay_path_ + "' was made with " + what + " " +
                        std::to_string(rec) + ", this run has " + std::to_string(now) +
                        ": replay with the same options"};
    };
    if (h.icount_shift != here.icount_shift) mismatch("--icount", h.icount_shift, here.icount_shift);
    if (h.ram_mib != here.ram_mib) mismatch("-m", h.ram_mib, here.ram_mib);
    if (h.rtc_base != here.rtc_base) mismatch("an RTC base (ns)", h.rtc_base, here.rtc_base);
  }
  if (!config.record_path.empty()) {
    record_ = std::fopen(config.record_path.c_str(), "w");
    if (!record_)
      throw ConfigError{"cannot write record file '" + config.record_path + "': " +
                        std::strerror(errno)};
    record_path_ = config.record_path;
    std::fprintf(record_, "%s %u\nconfig icount_shift=%u ram_mib=%u rtc_base=%" PRId64 "\n",
                 kMagic, kVersion, here.icount_shift, here.ram_mib, here.rtc_base);
  }
}

Determinism::~Determinism() {
  clock_.cancel(completion_timer_);
  if (record_) std::fclose(record_);
}

void Determinism::defer(std::function<void()> completion) {
  const uint64_t at = clock_.now_ns() + kDiskLatencyNs;
  completions_.emplace_back(at, std::move(completion));
  if (!clock_.armed(completion_timer_)) clock_.arm(completion_timer_, completions_.front().first);
}

void Determinism::fire_completions(uint64_t now) {
  while (!completions_.empty() && completions_.front().first <= now) {
    auto done = std::move(completions_.front().second);
    completions_.pop_front();
    done();  // may defer another request (it goes to the back)
  }
  if (!completions_.empty()) clock_.arm(completion_timer_, completions_.front().first);
}

uint64_t Determinism::limit_budget(uint64_t icount, uint64_t budget) const {
  uint64_t stop = VirtualClock::NEVER;
  if (record_) stop = next_check_;
  if (replay_ && next_ < replay_->events.size()) stop = replay_->events[next_].icount;
  if (stop > icount && stop - icount < budget) budget = stop - icount;
  return budget;
}

uint64_t Determinism::next_event_time(uint64_t icount) const {
  if (!replay_ || next_ >= replay_->events.size()) return VirtualClock::NEVER;
  const ReplayEvent& e = replay_->events[next_];
  return e.kind == ReplayEvent::SERIAL && e.icount == icount ? e.ns : VirtualClock::NEVER;
}

bool Determinism::diverged(const ReplayEvent& e, const std::string& what) {
  std::fprintf(stderr, "softcpu: replay diverged from '%s' at line %u (%s at instruction %" PRIu64
               "): %s\n", replay_path_.c_str(), e.line,
               e.kind == ReplayEvent::SERIAL ? "serial input"
               : e.kind == ReplayEvent::CHECK ? "checkpoint" : "end",
               e.icount, what.c_str());
  replay_.reset();  // stop replaying: the rest of the record no longer applies
  return false;
}

bool Determinism::service(uint64_t icount, const StateHash& hash, bool* released) {
  *released = false;
  if (replay_) {
    const uint64_t now = clock_.now_ns();
    while (next_ < replay_->events.size()) {
      const ReplayEvent& e = replay_->events[next_];
      if (e.icount > icount) break;
      char buf[160];
      if (e.icount < icount) {
        std::snprintf(buf, sizeof buf, "the run passed instruction %" PRIu64
                      " without reaching this event (it is at %" PRIu64 ")", e.icount, icount);
        return diverged(e, buf);
      }
      if (e.kind == ReplayEvent::END) break;  // checked by finish()
      if (e.kind == ReplayEvent::SERIAL && e.ns > now) break;  // later at this count (halted)
      const uint64_t h = hash(false);
      if (h != e.state) {
        std::snprintf(buf, sizeof buf, "CPU state hash %016" PRIx64 ", recorded %016" PRIx64,
                      h, e.state);
        return diverged(e, buf);
      }
      if (e.kind == ReplayEvent::SERIAL) {
        if (e.ns != now) {
          std::snprintf(buf, sizeof buf, "guest time %" PRIu64 " ns, recorded %" PRIu64 " ns",
                        now, e.ns);
          return diverged(e, buf);
        }
        gate_.release(e.bytes);
        *released = true;
      }
      ++next_;
    }
    return true;
  }
  if (record_ && icount >= next_check_) {
    std::fprintf(record_, "check %" PRIu64 " %016" PRIx64 "\n", icount, hash(false));
    next_check_ = (icount / kCheckpointInsns + 1) * kCheckpointInsns;
  }
  std::string input = gate_.take_host_input();
  if (!input.empty()) {
    if (record_)
      std::fprintf(record_, "serial %" PRIu64 " %" PRIu64 " %s %016" PRIx64 "\n", icount,
                   clock_.now_ns(), to_hex(input).c_str(), hash(false));
    gate_.release(input);
    *released = true;
  }
  return true;
}

bool Determinism::finish(uint64_t icount, const StateHash& hash, int status) {
  if (record_) {
    std::fprintf(record_, "end %" PRIu64 " %016" PRIx64 " %d\n", icount, hash(true), status);
    if (std::fclose(record_) != 0)
      std::fprintf(stderr, "softcpu: error writing record file '%s': %s\n", record_path_.c_str(),
                   std::strerror(errno));
    record_ = nullptr;
  }
  if (!replay_) return true;
  if (next_ >= replay_->events.size()) return true;
  const ReplayEvent& e = replay_->events[next_];
  char buf[200];
  if (e.kind != ReplayEvent::END) {
    std::snprintf(buf, sizeof buf, "the run ended at instruction %" PRIu64
                  " (status %d) before this event", icount, status);
    return diverged(e, buf);
  }
  const uint64_t h = hash(true);
  if (e.icount != icount || e.state != h || e.status != status) {
    std::snprintf(buf, sizeof buf, "the run ended at instruction %" PRIu64 " with status %d and "
                  "state hash %016" PRIx64 "; recorded %" PRIu64 ", %d, %016" PRIx64,
                  icount, status, h, e.icount, e.status, e.state);
    return diverged(e, buf);
  }
  std::fprintf(stderr, "softcpu: replay of '%s' matched: %zu events, %" PRIu64 " instructions\n",
               replay_path_.c_str(), replay_->events.size(), icount);
  return true;
}

}  // namespace softcpu
