// --insn-limit: the machine stops with status 124 after about N instructions, counting faults,
// so a guest that faults forever stops too.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "monitor/machine.h"
#include "tools/options.h"

namespace softcpu {
namespace {

// A 64 KiB ROM of HLT bytes with `code` at offset `at` and `reset` at the reset vector.
std::string write_rom(const std::vector<uint8_t>& reset, uint32_t at,
                      const std::vector<uint8_t>& code) {
  std::vector<uint8_t> rom(0x10000, 0xF4);
  std::copy(reset.begin(), reset.end(), rom.begin() + 0xFFF0);
  std::copy(code.begin(), code.end(), rom.begin() + at);
  char path[] = "/tmp/softcpu_insn_limit_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, rom.data(), rom.size()), ssize_t(rom.size()));
  close(fd);
  return path;
}

MachineConfig config_for(const std::string& rom, uint64_t limit) {
  MachineConfig c;
  c.bios_path = rom;
  c.ram_mib = 2;
  c.serial = "none";
  c.timeout_seconds = 30;
  c.insn_limit = limit;
  c.reset_on_triple_fault = false;
  return c;
}

uint64_t stat(Machine& m, const std::string& name) {
  const std::optional<double> v = m.stats().value(name);
  return v ? uint64_t(*v) : ~0ull;
}

TEST(InsnLimit, StopsALoopWithStatus124) {
  const std::string rom = write_rom({0xEB, 0xFE}, 0, {});  // jmp $
  Machine m(config_for(rom, 1000));
  EXPECT_EQ(m.run(), 124);
  EXPECT_EQ(m.cpu().icount, 1000u);  // one instruction a block: exact
  unlink(rom.c_str());
}

TEST(InsnLimit, StopsAGuestThatFaultsForever) {
  // F000:FFC0: xor ax,ax; mov ds,ax; mov word [0x18],0xFFD0; mov word [0x1A],0xF000; ud2
  // (#UD's vector points at the UD2 itself); the reset vector jumps there.
  const std::string rom = write_rom(
      {0xEB, 0xCE}, 0xFFC0,
      {0x31, 0xC0, 0x8E, 0xD8, 0xC7, 0x06, 0x18, 0x00, 0xD0, 0xFF, 0xC7, 0x06, 0x1A, 0x00, 0x00,
       0xF0, 0x0F, 0x0B});
  Machine m(config_for(rom, 5000));
  EXPECT_EQ(m.run(), 124);
  EXPECT_EQ(m.cpu().icount, 5u);  // jmp and the four set-up instructions
  EXPECT_EQ(m.cpu().eip, 0xFFD0u);
  const uint64_t faults = stat(m, "exceptions.vector_6");  // the limit, give or take one
  EXPECT_GE(faults, 4995u);
  EXPECT_LE(faults, 5001u);
  unlink(rom.c_str());
}

TEST(InsnLimit, OptionParsing) {
  ParsedArgs p;
  std::string err;
  ASSERT_TRUE(parse_args({"run", "--insn-limit", "0x100000"}, &p, &err)) << err;
  EXPECT_EQ(*p.config.insn_limit, 0x100000u);
  ASSERT_TRUE(parse_args({"run", "--insn-limit=18446744073709551615"}, &p, &err)) << err;
  EXPECT_EQ(*p.config.insn_limit, ~0ull);
  for (const char* bad : {"0", "-1", "ten", "", "1e6"}) {
    EXPECT_FALSE(parse_args({"run", "--insn-limit", bad}, &p, &err)) << bad;
    EXPECT_EQ(err.find('\n'), std::string::npos);
  }
  EXPECT_NE(std::string(kRunHelp).find("--insn-limit"), std::string::npos);
}

}  // namespace
}  // namespace softcpu
