// MC146818 real-time clock and CMOS RAM (Motorola MC146818A datasheet) behind the PC's index
// port 0x70 (bit 7 = NMI mask, a chipset latch) and data port 0x71: 128 bytes, of which 0-9
// are the time/alarm registers, 0x0A-0x0D registers A-D, the rest battery-backed RAM.
//
// Time is UTC (like QEMU's default -rtc base=utc) and flows with guest time: the RTC reads
// base + VirtualClock::now_ns(), base starting at the host's wall clock. Time the guest sets
// (SET bit, or a write to a time register while running) becomes a new base, i.e. an offset.
// Time registers are computed when read; flags (PF, AF, UF) are worked out from the time that
// passed, and one clock timer is armed only while an enabled interrupt could still fire.
//
// Not modelled: the 1984 us update cycle itself (registers change at the second boundary; UIP
// is set for the 244 us before it), daylight saving (DSE), the square-wave output, time bases
// other than 32.768 kHz.
#pragma once
#include <cstdint>
#include <optional>

#include "vdevices/io_device.h"
#include "vdevices/irq.h"
#include "vdevices/virtual_clock.h"

namespace softcpu {

class StateReader;
class StateWriter;

class CmosRtc final : public IoDevice {
 public:
  static constexpr uint16_t INDEX_PORT = 0x70;
  static constexpr uint16_t DATA_PORT = 0x71;
  static constexpr unsigned SIZE = 128;

  // Register indexes.
  enum : uint8_t {
    SECONDS = 0x00,
    SECONDS_ALARM = 0x01,
    MINUTES = 0x02,
    MINUTES_ALARM = 0x03,
    HOURS = 0x04,
    HOURS_ALARM = 0x05,
    DAY_OF_WEEK = 0x06,
    DAY_OF_MONTH = 0x07,
    MONTH = 0x08,
    YEAR = 0x09,
    REG_A = 0x0A,
    REG_B = 0x0B,
    REG_C = 0x0C,
    REG_D = 0x0D,
    CENTURY = 0x32
  };
  enum : uint8_t { A_UIP = 0x80, A_DV = 0x70, A_RS = 0x0F };
  enum : uint8_t {
    B_SET = 0x80,
    B_PIE = 0x40,
    B_AIE = 0x20,
    B_UIE = 0x10,
    B_SQWE = 0x08,
    B_BINARY = 0x04,
    B_24H = 0x02,
    B_DSE = 0x01
  };
  enum : uint8_t { C_IRQF = 0x80, C_PF = 0x40, C_AF = 0x20, C_UF = 0x10 };
  enum : uint8_t { D_VRT = 0x80 };
  static constexpr uint8_t ALARM_DONT_CARE = 0xC0;  // alarm bytes 0xC0-0xFF match any value
  static constexpr uint64_t UIP_NS = 244000;

  // The clock must outlive the device. start_unix_ns: the RTC's time (UTC, ns since 1970) now;
  // the host's wall clock if not given. Power-on registers: A = 0x26 (32.768 kHz, 1024 Hz),
  // B = 0x02 (24-hour, BCD), C = 0, D = VRT; RAM zero.
  CmosRtc(VirtualClock& clock, IrqLine irq8 = {}, std::optional<int64_t> start_unix_ns = {});
  ~CmosRtc() override;
  CmosRtc(const CmosRtc&) = delete;
  CmosRtc& operator=(const CmosRtc&) = delete;

  const char* name() const override { return "cmos_rtc"; }
  // Byte ports; a wider access touches port, port+1, ... in turn.
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // The RESET pin (datasheet "RESET"): clears PIE, AIE, UIE, SQWE and the flags in register C,
  // lowers IRQ8. Time, registers A and D and the RAM are battery-backed and kept.
  void reset() override;

  bool nmi_masked() const { return nmi_masked_; }
  uint8_t index() const { return index_; }
  bool irq_level() const { return irq_level_; }

  // Host-side access (firmware configuration, debugger): a raw RAM byte, no side effects.
  // get_byte sees time registers as last computed.
  void set_byte(uint8_t index, uint8_t value) { ram_[index & 0x7F] = value; }
  uint8_t get_byte(uint8_t index) const { return ram_[index & 0x7F]; }

  // Fill the bytes a PC BIOS (SeaBIOS) reads: equipment, memory sizes, CPU count, century,
  // boot order (hard disk first) and the checksum over 0x10-0x2D.
  void fill_pc_fields(uint64_t ram_bytes, unsigned cpu_count = 1);

  // The RTC's current time in seconds since 1970 (UTC), as the registers would show it.
  int64_t unix_time();

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  bool divider_running() const { return ((ram_[REG_A] & A_DV) >> 4) == 2; }
  bool updating() const { return divider_running() && !(ram_[REG_B] & B_SET); }
  int64_t rtc_ns(uint64_t now) const { return base_ns_ + int64_t(now); }
  uint64_t periodic_ticks() const;  // period in 32768 Hz ticks, 0 when off

  uint8_t encode(unsigned value) const;
  unsigned decode(uint8_t value) const;
  uint8_t encode_hours(unsigned hours) const;
  void refresh_time(uint64_t now);      // time registers <- current time (when updating)
  int64_t time_from_registers() const;  // seconds since 1970 from the time registers
  bool alarm_matches(int64_t seconds) const;

  void account_flags(uint64_t now);  // set PF/UF/AF for events in (flags_until_, now]
  bool irqf() const;
  void update_irq();
  void arm_timer();
  void on_timer(uint64_t now);

  uint8_t read_register(uint8_t index);
  void write_register(uint8_t index, uint8_t value);

  VirtualClock& clock_;
  IrqLine irq8_;
  VirtualClock::TimerId timer_;
  uint8_t ram_[SIZE] = {};
  uint8_t index_ = 0;
  bool nmi_masked_ = false;
  bool irq_level_ = false;
  int64_t base_ns_ = 0;       // RTC time (unix ns) at guest time 0
  uint64_t flags_until_ = 0;  // guest time up to which flags are accounted
};

}  // namespace softcpu
