// The stage-2 execute bit: code on a guest-physical page mapped without X is not run. Its
// fetch reads all ones (as unassigned memory), which the guest sees as #UD, and counts as a
// stage-2 violation; with X back, the same code runs (the primary dropped the decoded block).
#include <gtest/gtest.h>

#include "hv_test_util.h"
#include "monitor/hv/primary.h"
#include "monitor/machine.h"

namespace softcpu::hv {
namespace {

using test::partition;
using test::write_rom;

// The guest: the reset vector jumps to 0000:2000, which exits through isa-debug-exit with
// 0x10 (status 0x21); #UD's real-mode handler (IVT vector 6, SDM vol.3 20.1.4) at 0000:3000
// exits with 0x20 (status 0x41).
void load_guest(Partition& p) {
  PhysicalMemory& m = p.machine().memory();
  const uint8_t ivt6[] = {0x00, 0x30, 0x00, 0x00};
  const uint8_t code[] = {0xB0, 0x10, 0xE6, 0xF4, 0xF4};     // mov al,0x10; out 0xF4,al; hlt
  const uint8_t on_ud[] = {0xB0, 0x20, 0xE6, 0xF4, 0xF4};    // mov al,0x20; out 0xF4,al; hlt
  m.write_bytes(6 * 4, ivt6, sizeof ivt6);
  m.write_bytes(0x2000, code, sizeof code);
  m.write_bytes(0x3000, on_ud, sizeof on_ud);
}

TEST(Partitions, AFetchFromANonExecutablePageIsAViolation) {
  const std::string rom = write_rom({0xEA, 0x00, 0x20, 0x00, 0x00});  // jmp far 0000:2000
  SystemConfig s;
  s.partitions.push_back(partition("guest", rom));
  PrimaryHypervisor hv(s);
  Partition& p = hv.partition("guest");
  load_guest(p);
  const uint32_t machine_page = p.stage2().lookup(2)->machine_page;

  // Executable (RWX, as built): the code runs.
  EXPECT_EQ(hv.run(), 0x21);
  EXPECT_EQ(p.stage2_violations(), 0u);

  // Readable and writable but not executable: #UD at the first fetch, one violation.
  hv.map(p, 2, machine_page, S2_RW);
  p.machine().reset();  // stopped: a PC reset, RAM kept
  EXPECT_EQ(hv.run(), 0x41);
  EXPECT_EQ(p.stage2_violations(), 1u);
  // Data accesses to the page are still allowed: the code is there to read.
  uint8_t first = 0;
  p.machine().memory().read_bytes(0x2000, &first, 1);
  EXPECT_EQ(first, 0xB0);

  // X again: the block decoded from all ones was dropped with the mapping change.
  hv.map(p, 2, machine_page, S2_RWX);
  p.machine().reset();
  EXPECT_EQ(hv.run(), 0x21);
  EXPECT_EQ(p.stage2_violations(), 1u);
  unlink(rom.c_str());
}

}  // namespace
}  // namespace softcpu::hv
