#include "vdevices/vga_text.h"

#include "hostio/state_stream.h"

namespace softcpu {

namespace {

// BIOS mode 3 (80x25 text, 9x16 cells, 720x400) register values (IBM VGA Technical Reference).
constexpr uint8_t MODE3_SEQ[VgaText::NUM_SEQ] = {0x03, 0x00, 0x03, 0x00, 0x02};
constexpr uint8_t MODE3_CRTC[VgaText::NUM_CRTC] = {
    0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00,
    0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF};
constexpr uint8_t MODE3_GC[VgaText::NUM_GC] = {0x00, 0x00, 0x00, 0x00, 0x00,
                                               0x10, 0x0E, 0x00, 0xFF};
constexpr uint8_t MODE3_ATTR[VgaText::NUM_ATTR] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A,
    0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x0C, 0x00, 0x0F, 0x08, 0x00};
constexpr uint8_t MODE3_MISC = 0x67;  // colour I/O addresses, RAM enabled, 28 MHz clock

// Code page 437 as Unicode code points: 0x01-0x1F and 0x7F are the glyphs the ROM font
// draws for those codes, 0x80-0xFF the upper half.
constexpr uint16_t CP437_LOW[32] = {
    0x0020, 0x263A, 0x263B, 0x2665, 0x2666, 0x2663, 0x2660, 0x2022,
    0x25D8, 0x25CB, 0x25D9, 0x2642, 0x2640, 0x266A, 0x266B, 0x263C,
    0x25BA, 0x25C4, 0x2195, 0x203C, 0x00B6, 0x00A7, 0x25AC, 0x21A8,
    0x2191, 0x2193, 0x2192, 0x2190, 0x221F, 0x2194, 0x25B2, 0x25BC};
constexpr uint16_t CP437_HIGH[128] = {
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7,  // 0x80
    0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE, 0x00EC, 0x00C4, 0x00C5,
    0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9,  // 0x90
    0x00FF, 0x00D6, 0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192,
    0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA,  // 0xA0
    0x00BF, 0x2310, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB,
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556,  // 0xB0
    0x2555, 0x2563, 0x2551, 0x2557, 0x255D, 0x255C, 0x255B, 0x2510,
    0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F,  // 0xC0
    0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567,
    0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256B,  // 0xD0
    0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580,
    0x03B1, 0x00DF, 0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4,  // 0xE0
    0x03A6, 0x0398, 0x03A9, 0x03B4, 0x221E, 0x03C6, 0x03B5, 0x2229,
    0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248,  // 0xF0
    0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x0020};  // 0xFF: NBSP as space

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

VgaText::VgaText(const uint8_t* ram, uint32_t ram_size) : ram_(ram), ram_size_(ram_size) {
  reset();
}

void VgaText::reset() {
  misc_ = MODE3_MISC;
  feature_ = 0;
  subsystem_enable_ = 1;
  crtc_index_ = seq_index_ = gc_index_ = attr_index_ = 0;
  attr_flip_data_ = false;
  status_toggle_ = 0;
  for (unsigned i = 0; i < NUM_CRTC; ++i) crtc_[i] = MODE3_CRTC[i];
  for (unsigned i = 0; i < NUM_SEQ; ++i) seq_[i] = MODE3_SEQ[i];
  for (unsigned i = 0; i < NUM_GC; ++i) gc_[i] = MODE3_GC[i];
  for (unsigned i = 0; i < NUM_ATTR; ++i) attr_[i] = MODE3_ATTR[i];
  dac_mask_ = 0xFF;
  dac_read_index_ = dac_write_index_ = dac_component_ = 0;
  dac_reading_ = false;
  for (auto& entry : dac_) entry = {0, 0, 0};
}

uint32_t VgaText::io_read(uint16_t port, unsigned size) {
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i)
    value |= uint32_t(read_port(static_cast<uint16_t>(port + i))) << (8 * i);
  return value;
}

void VgaText::io_write(uint16_t port, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size; ++i)
    write_port(static_cast<uint16_t>(port + i), static_cast<uint8_t>(value >> (8 * i)));
}

uint8_t VgaText::read_port(uint16_t port) {
  // The CRTC and input status 1 answer at 0x3Bx or 0x3Dx, per misc output bit 0.
  const uint16_t crtc_base = color() ? 0x3D0 : 0x3B0;
  if ((port & 0xFFF0) == 0x3B0 || (port & 0xFFF0) == 0x3D0) {
    if ((port & 0xFFF0) != crtc_base) return 0xFF;
    switch (port & 0xF) {
      case 0x4: return crtc_index_;
      case 0x5: return crtc_index_ < NUM_CRTC ? crtc_[crtc_index_] : 0;
      case 0xA:
        // Input status 1: bit 0 display disabled, bit 3 vertical retrace. Both flip on every
        // read so "wait for retrace start, then end" loops finish. The read also resets the
        // attribute controller flip-flop to "index".
        attr_flip_data_ = false;
        status_toggle_ ^= 0x09;
        return status_toggle_;
      default: return 0xFF;
    }
  }
  switch (port) {
    case 0x3C0: return attr_index_;
    case 0x3C1: return (attr_index_ & 0x1F) < NUM_ATTR ? attr_[attr_index_ & 0x1F] : 0;
    case 0x3C2: return 0x00;  // input status 0: no switch sense, no pending CRT interrupt
    case 0x3C3: return subsystem_enable_;
    case 0x3C4: return seq_index_;
    case 0x3C5: return seq_index_ < NUM_SEQ ? seq_[seq_index_] : 0;
    case 0x3C6: return dac_mask_;
    case 0x3C7: return dac_reading_ ? 0x03 : 0x00;  // DAC state
    case 0x3C8: return dac_write_index_;
    case 0x3C9: {
      const uint8_t v = dac_[dac_read_index_][dac_component_];
      if (++dac_component_ == 3) {
        dac_component_ = 0;
        ++dac_read_index_;
      }
      return v;
    }
    case 0x3CA: return feature_;
    case 0x3CC: return misc_;
    case 0x3CE: return gc_index_;
    case 0x3CF: return gc_index_ < NUM_GC ? gc_[gc_index_] : 0;
    default: return 0xFF;
  }
}

void VgaText::write_crtc(uint8_t value) {
  if (crtc_index_ >= NUM_CRTC) return;
  // CRTC 0x11 bit 7 protects registers 0-7, except the line compare bit 4 of register 7.
  if ((crtc_[CRTC_VRETRACE_END] & 0x80) && crtc_index_ <= 7) {
    if (crtc_index_ == CRTC_OVERFLOW)
      crtc_[CRTC_OVERFLOW] = static_cast<uint8_t>((crtc_[CRTC_OVERFLOW] & ~0x10) | (value & 0x10));
    return;
  }
  crtc_[crtc_index_] = value;
}

void VgaText::write_port(uint16_t port, uint8_t value) {
  const uint16_t crtc_base = color() ? 0x3D0 : 0x3B0;
  if ((port & 0xFFF0) == 0x3B0 || (port & 0xFFF0) == 0x3D0) {
    if ((port & 0xFFF0) != crtc_base) return;
    switch (port & 0xF) {
      case 0x4: crtc_index_ = value; break;
      case 0x5: write_crtc(value); break;
      case 0xA: feature_ = value; break;  // feature control
      default: break;
    }
    return;
  }
  switch (port) {
    case 0x3C0:
      if (!attr_flip_data_) {
        attr_index_ = value & 0x3F;  // index and palette address source (bit 5)
      } else if ((attr_index_ & 0x1F) < NUM_ATTR) {
        attr_[attr_index_ & 0x1F] = value;
      }
      attr_flip_data_ = !attr_flip_data_;
      break;
    case 0x3C2: misc_ = value; break;
    case 0x3C3: subsystem_enable_ = value & 1; break;
    case 0x3C4: seq_index_ = value; break;
    case 0x3C5:
      if (seq_index_ < NUM_SEQ) seq_[seq_index_] = value;
      break;
    case 0x3C6: dac_mask_ = value; break;
    case 0x3C7:
      dac_read_index_ = value;
      dac_component_ = 0;
      dac_reading_ = true;
      break;
    case 0x3C8:
      dac_write_index_ = value;
      dac_component_ = 0;
      dac_reading_ = false;
      break;
    case 0x3C9:
      dac_[dac_write_index_][dac_component_] = value & 0x3F;
      if (++dac_component_ == 3) {
        dac_component_ = 0;
        ++dac_write_index_;
      }
      break;
    case 0x3CE: gc_index_ = value; break;
    case 0x3CF:
      if (gc_index_ < NUM_GC) gc_[gc_index_] = value;
      break;
    default: break;
  }
}

bool VgaText::crtc_geometry(unsigned& cols, unsigned& nrows) const {
  cols = crtc_[CRTC_HDISP_END] + 1u;
  // Displayed scan lines: vertical display end (bits 8 and 9 in the overflow register) + 1,
  // divided by the character height (maximum scan line + 1), halved when double-scanning.
  const unsigned vde = crtc_[CRTC_VDISP_END] | ((crtc_[CRTC_OVERFLOW] >> 1) & 1u) << 8 |
                       ((crtc_[CRTC_OVERFLOW] >> 6) & 1u) << 9;
  unsigned lines = vde + 1;
  if (crtc_[CRTC_MAX_SCAN] & 0x80) lines /= 2;
  nrows = lines / ((crtc_[CRTC_MAX_SCAN] & 0x1F) + 1u);
  return cols >= 20 && cols <= 160 && nrows >= 1 && nrows <= 100;
}

unsigned VgaText::columns() const {
  unsigned c, r;
  return crtc_geometry(c, r) ? c : 80;
}

unsigned VgaText::rows() const {
  unsigned c, r;
  return crtc_geometry(c, r) ? r : 25;
}

void VgaText::append_cp437(std::string& out, uint8_t ch) {
  if (ch >= 0x20 && ch < 0x7F)
    out += static_cast<char>(ch);
  else if (ch < 0x20)
    append_utf8(out, CP437_LOW[ch]);
  else if (ch == 0x7F)
    append_utf8(out, 0x2302);  // house
  else
    append_utf8(out, CP437_HIGH[ch - 0x80]);
}

void VgaText::dump_text(std::string& out) const {
  out.clear();
  // Graphics controller misc bits 3-2 place the window: B0000 (mono), B8000 (colour), both
  // 32 KiB, or A0000 (64 or 128 KiB).
  uint32_t window_base = 0xB8000, window_size = 0x8000;
  switch ((gc_[GC_MISC] >> 2) & 3) {
    case 0: window_base = 0xA0000; window_size = 0x20000; break;
    case 1: window_base = 0xA0000; window_size = 0x10000; break;
    case 2: window_base = 0xB0000; break;
    default: break;
  }
  const unsigned cols = columns(), nrows = rows();
  // The offset register gives the row pitch in words (two character cells).
  unsigned pitch = crtc_[CRTC_OFFSET] * 2u;
  if (pitch < cols) pitch = cols;
  const uint32_t start = start_address();
  for (unsigned r = 0; r < nrows; ++r) {
    std::string line;
    for (unsigned c = 0; c < cols; ++c) {
      // Each cell is a character byte and an attribute byte; addresses wrap in the window.
      const uint32_t offset = (2 * (start + r * pitch + c)) & (window_size - 1);
      const uint32_t addr = window_base + offset;
      append_cp437(line, ram_ && addr < ram_size_ ? ram_[addr] : 0);
    }
    const size_t end = line.find_last_not_of(' ');
    line.resize(end == std::string::npos ? 0 : end + 1);
    out += line;
    out += '\n';
  }
}

void VgaText::write_screen_dump(FILE* f) const {
  std::string text;
  dump_text(text);
  fwrite(text.data(), 1, text.size(), f);
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void VgaText::visit_state(A& a) {
  a(misc_, feature_, subsystem_enable_, crtc_index_, seq_index_, gc_index_, attr_index_,
    attr_flip_data_, status_toggle_, crtc_, seq_, gc_, attr_, dac_mask_, dac_read_index_,
    dac_write_index_, dac_component_, dac_reading_, dac_);
}

void VgaText::save_state(StateWriter& w) const { const_cast<VgaText*>(this)->visit_state(w); }

void VgaText::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
