// The secondary hypervisor's side of the stage-2 tables is read-only: Stage2View and
// SecondaryPort have no member that writes, the table's mutators are private to the primary,
// and PhysicalMemory's stage-2 mutators need a key only the primary can make. (The build
// check tests/hv/stage2_view_write.cpp proves the same with code that must not compile.)
#include <gtest/gtest.h>

#include <type_traits>

#include "hv_test_util.h"
#include "interp/memory.h"
#include "monitor/hv/primary.h"
#include "monitor/hv/secondary_port.h"
#include "monitor/hv/stage2.h"

namespace softcpu::hv {
namespace {

// Can code outside the primary call a writing member on these types?
template <typename T>
concept CanMap = requires(T t) { t.map(0u, 0u, uint8_t(0)); };
template <typename T>
concept CanUnmap = requires(T t) { t.unmap(0u); };
template <typename T>
concept CanReachMutableTable = requires(T t) {
  { t.table() } -> std::convertible_to<Stage2Table&>;
};
template <typename T>
concept CanMakeKey = requires { T(); };

TEST(SecondaryPort, HasNoPathToAStage2Write) {
  static_assert(!CanMap<Stage2View>);
  static_assert(!CanUnmap<Stage2View>);
  static_assert(!CanReachMutableTable<Stage2View>);
  static_assert(!CanMap<Stage2Table&>);  // private: the primary's alone
  static_assert(!CanUnmap<Stage2Table&>);
  static_assert(!std::is_default_constructible_v<Stage2Table>);
  static_assert(!std::is_copy_constructible_v<Stage2Table>);
  static_assert(!std::is_constructible_v<Stage2Table&, const Stage2View&>);
  static_assert(!std::is_constructible_v<Stage2Table&, const Stage2Table&>);
  static_assert(!CanMakeKey<Stage2Key>);
  static_assert(!CanMap<SecondaryPort>);
  static_assert(!CanUnmap<SecondaryPort>);
  // What the secondary gets from its port is a view (by value), never a table.
  using Got = decltype(std::declval<SecondaryPort&>().stage2(""));
  static_assert(std::is_same_v<Got, std::optional<Stage2View>>);

  // And the view reads what the primary wrote.
  const std::string rom = test::write_rom(test::kHaltForGood);
  SystemConfig s;
  s.partitions.push_back(test::partition("a", rom));
  PrimaryHypervisor hv(s);
  SecondaryPort port = hv.secondary_port();
  const auto view = port.stage2("a");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->mapped_pages(), 256u);
  const uint32_t m = view->lookup(7)->machine_page;
  hv.unmap(hv.partition("a"), 7);
  EXPECT_FALSE(view->lookup(7));
  hv.map(hv.partition("a"), 7, m, S2_R);
  EXPECT_EQ(view->lookup(7)->perms, S2_R);
  EXPECT_FALSE(port.stage2("nobody"));
  unlink(rom.c_str());
}

}  // namespace
}  // namespace softcpu::hv
