// VGA registers for text mode and a screen dump of the text buffer (IBM VGA Technical
// Reference; register descriptions as in FreeVGA). The card draws nothing: its registers are
// storage with the side effects software depends on (attribute flip-flop, indexed access, DAC
// auto-increment, retrace bits that toggle so polling loops end), and the text buffer is plain
// guest RAM (the machine leaves 0xA0000-0xBFFFF as RAM). The registers start with the BIOS
// mode 3 values (80x25 colour text at 0xB8000), so a dump works even without a VGA BIOS.
//
// Ports: 0x3B4/0x3B5 and 0x3BA (monochrome) or 0x3D4/0x3D5 and 0x3DA (colour), chosen by
// misc output bit 0 as on the real card (the other set reads 0xFF), and 0x3C0-0x3CF.
#pragma once
#include <array>
#include <cstdint>
#include <cstdio>
#include <string>

#include "vdevices/io_device.h"

namespace softcpu {

class StateReader;
class StateWriter;

class VgaText final : public IoDevice {
 public:
  static constexpr unsigned NUM_CRTC = 0x19, NUM_SEQ = 5, NUM_GC = 9, NUM_ATTR = 0x15;
  enum : uint8_t {
    CRTC_HDISP_END = 0x01, CRTC_OVERFLOW = 0x07, CRTC_MAX_SCAN = 0x09, CRTC_CURSOR_START = 0x0A,
    CRTC_CURSOR_END = 0x0B, CRTC_START_HI = 0x0C, CRTC_START_LO = 0x0D, CRTC_CURSOR_HI = 0x0E,
    CRTC_CURSOR_LO = 0x0F, CRTC_VDISP_END = 0x12, CRTC_OFFSET = 0x13, CRTC_VRETRACE_END = 0x11,
  };
  enum : uint8_t { GC_MISC = 6 };

  // `ram` is guest physical address 0, `ram_size` its length; both must outlive the device.
  VgaText(const uint8_t* ram, uint32_t ram_size);

  const char* name() const override { return "vga-text"; }
  // Wider accesses are split into bytes at port, port+1, ... (OUT DX, AX writes index+data).
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  void reset() override;

  // The screen as text: one line per row, trailing blanks trimmed, code page 437 in UTF-8.
  // The geometry comes from the CRTC (80x25 if its values are not a plausible text mode).
  void dump_text(std::string& out) const;
  void write_screen_dump(FILE* f) const;

  unsigned columns() const;
  unsigned rows() const;
  uint16_t start_address() const { return uint16_t(crtc_[CRTC_START_HI] << 8 | crtc_[CRTC_START_LO]); }
  uint16_t cursor_location() const { return uint16_t(crtc_[CRTC_CURSOR_HI] << 8 | crtc_[CRTC_CURSOR_LO]); }
  uint8_t cursor_start_line() const { return crtc_[CRTC_CURSOR_START] & 0x1F; }
  uint8_t cursor_end_line() const { return crtc_[CRTC_CURSOR_END] & 0x1F; }
  bool cursor_enabled() const { return (crtc_[CRTC_CURSOR_START] & 0x20) == 0; }
  uint8_t crtc(unsigned index) const { return index < NUM_CRTC ? crtc_[index] : 0; }
  uint8_t misc_output() const { return misc_; }
  // Palette entry `index`, component 0-2 (red, green, blue), 6 bits.
  uint8_t dac(unsigned index, unsigned component) const { return dac_[index & 0xFF][component % 3]; }

  // UTF-8 for a CP437 character code as the dump shows it (0x00 and 0xFF as a space).
  static void append_cp437(std::string& out, uint8_t ch);

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  uint8_t read_port(uint16_t port);
  void write_port(uint16_t port, uint8_t value);
  bool color() const { return (misc_ & 1) != 0; }
  // Text geometry from the CRTC; false if it is not a plausible text mode.
  bool crtc_geometry(unsigned& cols, unsigned& nrows) const;
  void write_crtc(uint8_t value);

  const uint8_t* ram_;
  uint32_t ram_size_;

  uint8_t misc_ = 0, feature_ = 0, subsystem_enable_ = 1;
  uint8_t crtc_index_ = 0, seq_index_ = 0, gc_index_ = 0, attr_index_ = 0;
  bool attr_flip_data_ = false;  // attribute controller flip-flop: next 0x3C0 write is data
  uint8_t status_toggle_ = 0;    // input status 1 retrace bits, toggled by each read
  std::array<uint8_t, NUM_CRTC> crtc_{};
  std::array<uint8_t, NUM_SEQ> seq_{};
  std::array<uint8_t, NUM_GC> gc_{};
  std::array<uint8_t, NUM_ATTR> attr_{};
  uint8_t dac_mask_ = 0xFF, dac_read_index_ = 0, dac_write_index_ = 0, dac_component_ = 0;
  bool dac_reading_ = false;
  std::array<std::array<uint8_t, 3>, 256> dac_{};
};

}  // namespace softcpu
