// Deterministic runs, record and replay (docs/determinism.md).
//
// In a deterministic run (--deterministic, --icount, --record, --replay) guest time is the
// instruction count (vdevices/virtual_clock.h), and what still comes from the host is let in
// only at points named by an instruction count:
//  - serial input goes through an InputGate: the run loop moves the bytes the host has into
//    the gate at its service points, and the UART reads only from the gate;
//  - a disk request is carried out at once and completes kDiskLatencyNs of guest time later.
// --record FILE writes each delivery of serial input with its instruction count, its guest
// time and a hash of the CPU state, plus a checkpoint hash every kCheckpointInsns
// instructions and the end of the run; --replay FILE delivers the same input at the same
// counts (host input is ignored) and reports the first event whose count or state differs.
#pragma once
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hostio/char_backend.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {

struct MachineConfig;

// The RTC's date at power-on in deterministic runs without --rtc base=: 2025-01-01T00:00:00Z.
inline constexpr int64_t kDeterministicRtcBase = 1735689600LL * 1000000000LL;
// Guest time from a disk request to its completion in deterministic runs.
inline constexpr uint64_t kDiskLatencyNs = 100000;
// Instructions between two checkpoint hashes in a record file.
inline constexpr uint64_t kCheckpointInsns = uint64_t(1) << 24;
// The exit status of a replay that diverged from its record.
inline constexpr int kReplayDivergedStatus = 6;

// Parses --rtc's DATE: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS" (UTC). False if malformed.
bool parse_rtc_date(const std::string& text, int64_t* unix_ns);

// The serial port's view of its backend in a deterministic run: output passes through to the
// host; input is only what the run loop released into the gate.
class InputGate : public CharBackend {
 public:
  explicit InputGate(CharBackend& host) : host_(host) {}
  const char* kind() const override { return host_.kind(); }
  void write(const uint8_t* data, size_t len) override { host_.write(data, len); }
  bool read_byte(uint8_t& out) override;
  bool has_input() override { return !queue_.empty(); }
  // The bytes the host has now (taken from it).
  std::string take_host_input();
  void release(const std::string& bytes) { queue_.insert(queue_.end(), bytes.begin(), bytes.end()); }

 private:
  CharBackend& host_;
  std::deque<uint8_t> queue_;
};

// One line of a record file.
struct ReplayEvent {
  enum Kind { SERIAL, CHECK, END } kind;
  uint64_t icount = 0;
  uint64_t ns = 0;       // guest time (SERIAL)
  std::string bytes;     // SERIAL
  uint64_t state = 0;    // hash of the CPU state (and of RAM for END)
  int status = 0;        // END: the run's exit status
  unsigned line = 0;     // in the file, for messages
};

// The record file's header: what must match between recording and replaying.
struct ReplayHeader {
  unsigned icount_shift = 0;
  uint32_t ram_mib = 0;
  int64_t rtc_base = 0;
};

// Reads a whole record file; nullptr and *error (one line naming the file and the problem) if it
// is not one (bad magic, other version, malformed or out-of-order line, no end line).
struct ReplayFile {
  ReplayHeader header;
  std::vector<ReplayEvent> events;
  static std::unique_ptr<ReplayFile> load(const std::string& path, std::string* error);
};

class Determinism {
 public:
  // Hash of the CPU state (cheap; checkpoints) and of the CPU state and RAM (the end).
  using StateHash = std::function<uint64_t(bool with_ram)>;

  // Throws ConfigError for an unreadable, unwritable or mismatched record file.
  Determinism(const MachineConfig& config, VirtualClock& clock, CharBackend& host_serial);
  ~Determinism();

  CharBackend& serial() { return gate_; }
  bool replaying() const { return replay_ != nullptr; }
  // The disk completion deferrer (hostio/block_backend.h).
  void defer(std::function<void()> completion);

  // At most how many instructions the next run may retire: it must stop exactly at the next
  // checkpoint and the next replayed event.
  uint64_t limit_budget(uint64_t icount, uint64_t budget) const;
  // At a service point of the run loop (after the timers): host or replayed input into the
  // gate, checkpoints. False when a replay diverged (the message is printed). *released: input
  // went into the gate (the serial port should look at it now).
  bool service(uint64_t icount, const StateHash& hash, bool* released);
  // The CPU is halted: the guest time to skip to for the next replayed event at this count
  // (NEVER if there is none).
  uint64_t next_event_time(uint64_t icount) const;
  // The run ended: write or check the end. False when a replay diverged.
  bool finish(uint64_t icount, const StateHash& hash, int status);

 private:
  bool diverged(const ReplayEvent& e, const std::string& what);
  void fire_completions(uint64_t now);

  VirtualClock& clock_;
  InputGate gate_;
  FILE* record_ = nullptr;
  std::string record_path_;
  uint64_t next_check_ = kCheckpointInsns;
  std::unique_ptr<ReplayFile> replay_;
  size_t next_ = 0;  // next replay event
  std::string replay_path_;
  // Deferred disk completions, in deadline order (deadlines only grow).
  VirtualClock::TimerId completion_timer_;
  std::deque<std::pair<uint64_t, std::function<void()>>> completions_;
};

}  // namespace softcpu
