// Discovery and interrupt routing with two partitions running guest programs
// (tests/guest/hv/hv_disk_irq.c and hv_discover.c) on the real CPU and devices:
//  - A is given a disk (ide0, its interrupt routed to GSI 10) and no serial port; B is given
//    COM1 and no disk.
//  - B's PCI enumeration lists only the functions every partition has, not the IDE function;
//    B's reads of the IDE ports return all ones (and count as unassigned accesses).
//  - A's disk interrupts arrive on A's IRQ 10 (the route), never on IRQ 14; B, counting every
//    8259 IRQ while A does its disk I/O, sees none but its own timer's.
//  - The memory size B's firmware view gives (fw_cfg, e820, CMOS) is B's configured RAM.
//  - The primary's `info irq-routes` table and each partition's gdb `monitor info irq-routes`
//    text show the routes with their counts.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "monitor/hv/primary.h"
#include "monitor/machine.h"
#include "monitor/pc_platform.h"
#include "monitor/stats.h"
#include "tests/hv/hv_test_util.h"

namespace softcpu::hv {
namespace {

using test::guest_dir;
using test::slurp;
using test::temp_file;

constexpr uint32_t kFlagAddr = 0x80000;  // hv_discover.c's HV_FLAG_ADDR
constexpr uint32_t kGoFlag = 0x600DF1A6;

bool wait_for(const std::function<bool()>& done, int seconds = 50) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// The numbers after `key` on the log's line that starts with it.
std::vector<unsigned long> numbers_after(const std::string& log, const std::string& key) {
  std::vector<unsigned long> out;
  const size_t at = log.find("\n" + key);
  if (at == std::string::npos) return out;
  std::istringstream line(log.substr(at + 1 + key.size(), log.find('\n', at + 1) - at - 1 - key.size()));
  std::string word;
  while (line >> word) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(word.c_str(), &end, 10);
    if (end && *end == 0) out.push_back(v);
  }
  return out;
}

TEST(Discovery, PartitionsSeeOnlyTheirDevicesAndInterrupts) {
  ASSERT_FALSE(guest_dir().empty()) << "HV_GUEST_DIR is not set (run through ctest)";
  const std::string out_a = temp_file("a_con", 0), out_b = temp_file("b_con", 0);
  const std::string serial_b = temp_file("b_com1", 0);
  const std::string disk = temp_file("a_disk", 1 << 20);
  SystemConfig s;
  s.partitions.push_back(test::guest_partition("a", guest_dir() + "/hv_disk_irq.rom", 2u << 20, out_a));
  s.partitions.push_back(test::guest_partition("b", guest_dir() + "/hv_discover.rom", 3u << 20, out_b));
  s.partitions[0].machine.drives.push_back({disk, 0, true, false});
  s.partitions[0].irq_routes.push_back({"ide0", 0, 10, false, 0});
  s.partitions[1].machine.serial = "file:" + serial_b;
  // B's memory beyond its RAM at 0, which its e820 map announces as reserved: a page shared
  // with A and a dynamic region.
  s.pools.push_back({"dyn", 0x10000, 0});
  s.partitions[1].memory.push_back({0x1000000, 0x10000, true, "dyn", 0});
  s.shared.push_back(test::shared_region("mbox", 0x1000, {{"a", 0x800000, 3, 0}, {"b", 0xA00000, 3, 0}}));
  PrimaryHypervisor hv(s);
  Partition& a = hv.partition("a");
  Partition& b = hv.partition("b");
  EXPECT_TRUE(a.machine().platform().owns("ide0"));
  EXPECT_FALSE(a.machine().platform().owns("com1"));
  EXPECT_FALSE(b.machine().platform().owns("ide0"));
  EXPECT_TRUE(b.machine().platform().owns("com1"));

  // B counts its interrupts from before A starts its disk I/O until after A has finished.
  hv.start("b");
  ASSERT_TRUE(wait_for([&] { return slurp(out_b).find("counting interrupts") != std::string::npos; }))
      << slurp(out_b);
  hv.start("a");
  ASSERT_TRUE(wait_for([&] { return a.state() != PartitionState::RUNNING; }));
  const std::string log_a = slurp(out_a);
  EXPECT_EQ(a.state(), PartitionState::EXITED) << log_a;
  EXPECT_EQ(a.status(), 1) << log_a;
  EXPECT_NE(log_a.find("disk irq10 64 irq14 0 of 64 reads"), std::string::npos) << log_a;
  EXPECT_NE(log_a.find("com1 ports reading all ones 8 of 8"), std::string::npos) << log_a;
  EXPECT_NE(log_a.find("pci 1.1 8086:7010"), std::string::npos) << log_a;  // A has its IDE
  EXPECT_EQ(b.state(), PartitionState::RUNNING) << "B stopped before A finished:\n" << slurp(out_b);

  // The primary lets B go on (a word in B's RAM, through B's stage-2 table).
  const auto flag = b.stage2().translate(kFlagAddr);
  ASSERT_TRUE(flag);
  // On B's CPU thread, between its instructions: the guest's loads are plain, so a store from
  // this thread would race with them (ThreadSanitizer reported it).
  uint8_t* const word = hv.machine_memory().base() + *flag;
  b.machine().run_on_cpu_thread([word] { std::memcpy(word, &kGoFlag, sizeof kGoFlag); });
  ASSERT_TRUE(wait_for([&] { return b.state() != PartitionState::RUNNING; }));
  const std::string log_b = slurp(out_b);
  std::fprintf(stderr, "A:\n%sB:\n%s", log_a.c_str(), log_b.c_str());
  EXPECT_EQ(b.state(), PartitionState::EXITED) << log_b;
  EXPECT_EQ(b.status(), 1) << log_b;

  // PCI: B sees the host bridge, the ISA bridge and the PM function, not the IDE function.
  EXPECT_NE(log_b.find("pci 0.0 8086:1237"), std::string::npos) << log_b;
  EXPECT_NE(log_b.find("pci 1.0 8086:7000"), std::string::npos) << log_b;
  EXPECT_NE(log_b.find("pci 1.3 8086:7113"), std::string::npos) << log_b;
  EXPECT_EQ(log_b.find("pci 1.1 "), std::string::npos) << log_b;
  EXPECT_NE(log_b.find("pci functions 3\n"), std::string::npos) << log_b;
  EXPECT_NE(log_b.find("pci 01.1 id ffffffff"), std::string::npos) << log_b;
  // The concealed IDE ports: all ones, and each access counted as unassigned.
  EXPECT_NE(log_b.find("ide ports reading all ones 18 of 18, data word ffff"), std::string::npos) << log_b;
  const auto unassigned = b.machine().stats().value("io.unassigned_accesses");
  ASSERT_TRUE(unassigned);
  EXPECT_GE(*unassigned, 18 + 3 + 1);
  EXPECT_NE(log_b.find("com1 scratch 5a"), std::string::npos) << log_b;

  // Memory: 3 MiB of RAM everywhere B's firmware view says it; the shared page and the
  // dynamic region follow in fw_cfg's e820 table as reserved (type 2), not counted as RAM.
  EXPECT_NE(log_b.find("memory e820 300000 end 300000 fw_cfg 300000 cmos 300000"), std::string::npos) << log_b;
  EXPECT_NE(log_b.find("e820 a00000 +1000 type 2\ne820 1000000 +10000 type 2\n"), std::string::npos) << log_b;

  // Interrupts: B's timer ticked; no other IRQ arrived in B while A's disk interrupted 64 times.
  const auto irqs = numbers_after(log_b, "irqs");
  ASSERT_EQ(irqs.size(), 16u) << log_b;
  EXPECT_GT(irqs[0], 0u) << log_b;
  for (unsigned i = 1; i < 16; ++i) EXPECT_EQ(irqs[i], 0u) << "IRQ " << i << " in B:\n" << log_b;

  // The routing table: A's ide0 to GSI 10, asserted once per read; B's COM1 on its PC/AT line,
  // never asserted; neither has a route for a device it is not given.
  const std::string table = hv.info_irq_routes();
  std::fprintf(stderr, "%s", table.c_str());
  EXPECT_NE(table.find("a            ide0   0 -> gsi 10  8259 IRQ 10  IOAPIC pin 10  asserted 64\n"),
            std::string::npos) << table;
  EXPECT_NE(table.find("b            com1   0 -> gsi 4   8259 IRQ 4   IOAPIC pin 4   asserted 0\n"),
            std::string::npos) << table;
  EXPECT_EQ(table.find("a            com1"), std::string::npos) << table;
  EXPECT_EQ(table.find("b            ide"), std::string::npos) << table;
  // The statistics count the same.
  EXPECT_EQ(a.machine().stats().value("irq.ide0.asserted"), 64.0);
  EXPECT_EQ(b.machine().stats().value("irq.com1.asserted"), 0.0);
  EXPECT_FALSE(b.machine().stats().value("irq.ide0.asserted"));
  // The same for one partition as its gdb stub's `monitor info irq-routes` shows it.
  EXPECT_EQ(format_irq_routes(b.machine().platform().irq_routes()),
            "com1   0 -> gsi 4   8259 IRQ 4   IOAPIC pin 4   asserted 0\n");
  for (const std::string& f : {out_a, out_b, serial_b, disk}) unlink(f.c_str());
}

// A route the machine cannot make is refused when the partition is built, with the reason.
TEST(Discovery, BadRoutesAreRefused) {
  const std::string rom = guest_dir() + "/hv_discover.rom";
  SystemConfig s;
  s.partitions.push_back(test::guest_partition("a", rom, 1u << 20, "/dev/null"));
  s.partitions[0].machine.serial = "file:/dev/null";
  s.partitions[0].irq_routes.push_back({"com1", 0, 9, false, 0});
  try {
    PrimaryHypervisor hv(s);
    ADD_FAILURE() << "a route to the SCI's GSI was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(e.message.find("to gsi 9: it is the ACPI SCI's"), std::string::npos) << e.message;
  }
  s.partitions[0].irq_routes = {{"ide0", 0, 10, false, 0}};
  try {
    PrimaryHypervisor hv(s);
    ADD_FAILURE() << "a route for a device the partition is not given was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(e.message.find("the guest does not own the device"), std::string::npos) << e.message;
  }
}

}  // namespace
}  // namespace softcpu::hv
