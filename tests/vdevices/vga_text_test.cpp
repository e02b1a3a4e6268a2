#include "vdevices/vga_text.h"

#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace softcpu {
namespace {

struct VgaTextTest : ::testing::Test {
  std::vector<uint8_t> ram = std::vector<uint8_t>(1 << 20);
  VgaText vga{ram.data(), static_cast<uint32_t>(ram.size())};

  uint8_t in(uint16_t port) { return static_cast<uint8_t>(vga.io_read(port, 1)); }
  void out(uint16_t port, uint8_t v) { vga.io_write(port, 1, v); }
  void crtc_out(uint8_t index, uint8_t v) {
    out(0x3D4, index);
    out(0x3D5, v);
  }
  // Put text at (row, col) of an 80-column screen at 0xB8000, attribute 0x07.
  void put(unsigned row, unsigned col, const std::string& s) {
    for (size_t i = 0; i < s.size(); ++i) {
      ram[0xB8000 + 2 * (row * 80 + col + i)] = static_cast<uint8_t>(s[i]);
      ram[0xB8000 + 2 * (row * 80 + col + i) + 1] = 0x07;
    }
  }
  std::vector<std::string> lines() {
    std::string text;
    vga.dump_text(text);
    std::vector<std::string> result;
    std::istringstream is(text);
    for (std::string l; std::getline(is, l);) result.push_back(l);
    return result;
  }
};

TEST_F(VgaTextTest, CrtcCursorRegisters) {
  EXPECT_EQ(vga.columns(), 80u);  // mode 3 at power-up
  EXPECT_EQ(vga.rows(), 25u);
  crtc_out(0x0E, 0x01);
  crtc_out(0x0F, 0x23);
  EXPECT_EQ(vga.cursor_location(), 0x123);
  out(0x3D4, 0x0F);
  EXPECT_EQ(in(0x3D5), 0x23);
  EXPECT_EQ(in(0x3D4), 0x0F);
  // OUT DX, AX: index in AL, data in AH.
  vga.io_write(0x3D4, 2, 0x450F);
  EXPECT_EQ(vga.cursor_location(), 0x145);
  crtc_out(0x0A, 0x2D);  // bit 5: cursor off
  crtc_out(0x0B, 0x0E);
  EXPECT_FALSE(vga.cursor_enabled());
  EXPECT_EQ(vga.cursor_start_line(), 0x0D);
  EXPECT_EQ(vga.cursor_end_line(), 0x0E);
  crtc_out(0x0C, 0x00);
  crtc_out(0x0D, 0xA0);
  EXPECT_EQ(vga.start_address(), 0xA0);
  // Registers 0-7 are write-protected by CRTC 0x11 bit 7 (set in mode 3).
  crtc_out(0x01, 0x27);
  EXPECT_EQ(vga.crtc(0x01), 0x4F);
  crtc_out(0x11, 0x0E);
  crtc_out(0x01, 0x27);
  EXPECT_EQ(vga.crtc(0x01), 0x27);
}

TEST_F(VgaTextTest, MonoAndColourPortsFollowMiscOutput) {
  EXPECT_EQ(in(0x3CC), 0x67);
  EXPECT_EQ(in(0x3B4), 0xFF);  // colour mode: the mono CRTC is not decoded
  out(0x3B4, 0x0E);
  out(0x3C2, 0x66);  // monochrome addresses
  out(0x3B4, 0x0E);
  out(0x3B5, 0x07);
  EXPECT_EQ(vga.cursor_location() >> 8, 0x07);
  EXPECT_EQ(in(0x3D5), 0xFF);
  EXPECT_NE(in(0x3BA) & 0x09, in(0x3BA) & 0x09);
}

TEST_F(VgaTextTest, InputStatusTogglesAndResetsAttributeFlipFlop) {
  const uint8_t a = in(0x3DA), b = in(0x3DA);
  EXPECT_EQ((a ^ b) & 0x09, 0x09);  // retrace and display-enable bits both flip
  // Attribute controller: index, then data, alternating; reading 0x3DA resets to index.
  out(0x3C0, 0x10);
  out(0x3C0, 0x0C);
  out(0x3C0, 0x12);  // index again
  EXPECT_EQ(in(0x3C0), 0x12);
  out(0x3C0, 0x05);
  out(0x3C0, 0x10);
  EXPECT_EQ(in(0x3C1), 0x0C);
  in(0x3DA);  // flip-flop now at index; without this 0x31 would be data for 0x10
  out(0x3C0, 0x31);  // index 0x11 with the palette address source bit
  out(0x3C0, 0x2A);
  EXPECT_EQ(in(0x3C0), 0x31);
  EXPECT_EQ(in(0x3C1), 0x2A);
  out(0x3C0, 0x10);
  EXPECT_EQ(in(0x3C1), 0x0C);
}

TEST_F(VgaTextTest, SequencerGraphicsAndDac) {
  out(0x3C4, 0x02);
  out(0x3C5, 0x0F);
  EXPECT_EQ(in(0x3C5), 0x0F);
  out(0x3CE, 0x05);
  out(0x3CF, 0x40);
  EXPECT_EQ(in(0x3CF), 0x40);
  out(0x3C8, 5);
  for (uint8_t v : {0x3F, 0x20, 0x41, 0x01, 0x02, 0x03}) out(0x3C9, v);
  EXPECT_EQ(vga.dac(5, 0), 0x3F);
  EXPECT_EQ(vga.dac(5, 2), 0x01);  // six bits
  EXPECT_EQ(vga.dac(6, 1), 0x02);
  EXPECT_EQ(in(0x3C8), 7);
  out(0x3C7, 5);
  EXPECT_EQ(in(0x3C7), 0x03);
  EXPECT_EQ(in(0x3C9), 0x3F);
  EXPECT_EQ(in(0x3C9), 0x20);
  EXPECT_EQ(in(0x3C9), 0x01);
  EXPECT_EQ(in(0x3C9), 0x01);  // entry 6 red
}

TEST_F(VgaTextTest, DumpOfPreparedBuffer) {
  put(0, 0, "Hello, world   ");
  put(2, 3, "\xC9\xCD\xBB");  // CP437 double box corner, line, corner
  put(3, 0, std::string("A\0B", 3));
  put(24, 79, "z");
  put(4, 0, "\x01\x7F\xB0\xE1\xFF");
  std::vector<std::string> l = lines();
  ASSERT_EQ(l.size(), 25u);
  EXPECT_EQ(l[0], "Hello, world");
  EXPECT_EQ(l[1], "");
  EXPECT_EQ(l[2], "   \u2554\u2550\u2557");
  EXPECT_EQ(l[3], "A B");
  EXPECT_EQ(l[4], "\u263A\u2302\u2591\u00DF");  // smiley, house, light shade, sharp s
  EXPECT_EQ(l[24], std::string(79, ' ') + "z");
  // Start address one row down (in character cells): the screen scrolls.
  vga.io_write(0x3D4, 2, 0x000C);
  vga.io_write(0x3D4, 2, 0x500D);
  l = lines();
  EXPECT_EQ(l[0], "");
  EXPECT_EQ(l[1], "   \u2554\u2550\u2557");
  EXPECT_EQ(l[23], std::string(79, ' ') + "z");
  EXPECT_EQ(l[24], "");
}

TEST_F(VgaTextTest, GeometryFromCrtc) {
  put(0, 0, "x");
  crtc_out(0x09, 0x47);  // 8-line characters: 400 lines make 50 rows
  EXPECT_EQ(vga.rows(), 50u);
  EXPECT_EQ(lines().size(), 50u);
  crtc_out(0x11, 0x0E);  // unprotect, then a 40-column screen
  crtc_out(0x01, 39);
  crtc_out(0x13, 20);
  EXPECT_EQ(vga.columns(), 40u);
  put(0, 40, "row1");  // with 80 cells per RAM row this would be row 0; here it is row 1
  std::vector<std::string> l = lines();
  EXPECT_EQ(l[0], "x");
  EXPECT_EQ(l[1], "row1");
  crtc_out(0x01, 0);  // implausible: back to 80x25
  EXPECT_EQ(vga.columns(), 80u);
  EXPECT_EQ(vga.rows(), 25u);
}

TEST_F(VgaTextTest, WriteScreenDump) {
  put(0, 0, "dump");
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  vga.write_screen_dump(f);
  rewind(f);
  char buf[16] = {};
  ASSERT_NE(fgets(buf, sizeof buf, f), nullptr);
  EXPECT_STREQ(buf, "dump\n");
  fseek(f, 0, SEEK_END);
  EXPECT_EQ(ftell(f), 5 + 24);  // "dump\n" and 24 empty lines
  fclose(f);
}

}  // namespace
}  // namespace softcpu
