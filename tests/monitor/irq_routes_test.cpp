// The interrupt routing table (monitor/irq_routes.h) and how its moved ISA IRQs reach the
// guest's tables: the MADT's interrupt source overrides and the MP table's I/O interrupt
// entries.
#include "monitor/irq_routes.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>
#include <vector>

#include "monitor/acpi_tables.h"
#include "monitor/mptable.h"

namespace softcpu {
namespace {

struct RecordingSink final : IrqSink {
  std::vector<std::pair<unsigned, bool>> calls;
  void set_irq(unsigned line, bool level) override { calls.emplace_back(line, level); }
};

DeviceView partition_view(std::vector<std::string> devices, std::vector<IrqRouteSpec> routes) {
  DeviceView v;
  v.all = false;
  v.assigned = std::move(devices);
  v.irq_routes = std::move(routes);
  return v;
}

TEST(IrqRoutes, EveryDeviceOnItsPcAtLineForTheSingleGuest) {
  std::string error;
  const auto routes = effective_irq_routes(DeviceView{}, &error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(routes.size(), 3u);
  std::map<std::string, unsigned> gsi;
  for (const auto& r : routes) gsi[r.device] = r.gsi;
  EXPECT_EQ(gsi["ide0"], 14u);
  EXPECT_EQ(gsi["ide1"], 15u);
  EXPECT_EQ(gsi["com1"], 4u);
}

TEST(IrqRoutes, APartitionRoutesOnlyWhatItIsGiven) {
  std::string error;
  const auto routes = effective_irq_routes(partition_view({"ide0"}, {{"ide0", 0, 19}}), &error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].device, "ide0");
  EXPECT_EQ(routes[0].gsi, 19u);
  // An owned device without a route keeps its line.
  const auto com1 = effective_irq_routes(partition_view({"com1"}, {}), &error);
  ASSERT_EQ(com1.size(), 1u);
  EXPECT_EQ(com1[0].gsi, 4u);
}

TEST(IrqRoutes, BadRoutesAreRefusedWithTheReason) {
  auto error_of = [](const DeviceView& v) {
    std::string error;
    const auto routes = effective_irq_routes(v, &error);
    EXPECT_TRUE(routes.empty());
    return error;
  };
  EXPECT_NE(error_of(partition_view({"com1"}, {{"ide0", 0, 10}})).find("does not own"), std::string::npos);
  EXPECT_NE(error_of(partition_view({"com1"}, {{"com1", 0, 8}})).find("the RTC's"), std::string::npos);
  EXPECT_NE(error_of(partition_view({"com1"}, {{"com1", 0, 24}})).find("expected 0-23"), std::string::npos);
  EXPECT_NE(error_of(partition_view({"com1"}, {{"com1", 2, 10}})).find("only interrupt 0"), std::string::npos);
  EXPECT_NE(error_of(partition_view({"com1"}, {{"lpt1", 0, 7}})).find("routable devices"), std::string::npos);
  EXPECT_NE(error_of(partition_view({"ide0", "com1"}, {{"ide0", 0, 10}, {"com1", 0, 10}}))
                .find("gsi 10 is routed twice"),
            std::string::npos);
  // A route onto another owned device's PC/AT line, which that device keeps.
  EXPECT_NE(error_of(partition_view({"ide0", "com1"}, {{"com1", 0, 14}})).find("on its PC/AT line"),
            std::string::npos);
}

TEST(IrqRoutes, TheTableDeliversToTheGsiAndCountsEdges) {
  RecordingSink sink;
  IrqRouteTable table(sink);
  const IrqLine ide = table.add({"ide0", 0, 10});
  const IrqLine com = table.add({"com1", 0, 4});
  ide.raise();
  ide.raise();  // still high: not a new interrupt
  ide.lower();
  ide.pulse();
  com.lower();
  const std::vector<std::pair<unsigned, bool>> want = {{10, true}, {10, true}, {10, false},
                                                       {10, true}, {10, false}, {4, false}};
  EXPECT_EQ(sink.calls, want);
  const auto e = table.entries();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].asserted, 2u);
  EXPECT_EQ(e[1].asserted, 0u);
  const auto o = table.overrides();
  ASSERT_EQ(o.size(), 1u);  // com1 is on its own line
  EXPECT_EQ(o[0].isa_irq, 14);
  EXPECT_EQ(o[0].gsi, 10);
  EXPECT_EQ(format_irq_routes(e, "p "),
            "p ide0   0 -> gsi 10  8259 IRQ 10  IOAPIC pin 10  asserted 2\n"
            "p com1   0 -> gsi 4   8259 IRQ 4   IOAPIC pin 4   asserted 0\n");
}

uint32_t get(const std::vector<uint8_t>& b, size_t off, unsigned n) {
  uint32_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= uint32_t(b[off + i]) << (8 * i);
  return v;
}

// ACPI 1.0b 5.2.10.8: a moved ISA IRQ is an interrupt source override; the GSI it moved to
// loses its default (level) override.
TEST(IrqRoutes, MadtOverridesAMovedIsaIrq) {
  AcpiConfig c;
  c.irq_overrides = {{14, 10}};
  const AcpiBlobs b = build_acpi_tables(c, 0x1000);
  const auto& t = b.tables;
  std::map<uint8_t, std::pair<uint32_t, uint16_t>> iso;
  std::map<uint32_t, int> per_gsi;
  for (size_t p = b.madt + 44, end = b.madt + get(t, b.madt + 4, 4); p < end; p += t[p + 1]) {
    ASSERT_GT(t[p + 1], 0);
    if (t[p] != 2) continue;
    iso[t[p + 3]] = {get(t, p + 4, 4), uint16_t(get(t, p + 8, 2))};
    per_gsi[get(t, p + 4, 4)]++;
  }
  ASSERT_TRUE(iso.count(14));
  EXPECT_EQ(iso[14].first, 10u);
  EXPECT_EQ(iso[14].second, 0x0005);  // edge, active high: the ISA line's
  EXPECT_FALSE(iso.count(10));
  EXPECT_EQ(per_gsi[10], 1);
  EXPECT_EQ(acpi_byte_sum(t.data() + b.madt, get(t, b.madt + 4, 4)), 0);
}

// MP 1.4 4.3.4: ISA IRQ 14's I/O interrupt entry names pin 10; no entry for ISA IRQ 10.
TEST(IrqRoutes, MpTableRoutesAMovedIsaIrq) {
  MpTableConfig c;
  c.irq_overrides = {{14, 10}};
  const std::vector<uint8_t> t = build_mp_config_table(c);
  std::map<uint8_t, uint8_t> pin_of;  // ISA IRQ -> IOAPIC pin
  size_t p = MP_CONFIG_HEADER_SIZE;
  while (p < t.size()) {
    const uint8_t type = t[p];
    if (type == MP_IOINTR) pin_of[t[p + 5]] = t[p + 7];
    p += type == MP_PROCESSOR ? 20 : 8;
  }
  EXPECT_EQ(p, t.size());
  ASSERT_TRUE(pin_of.count(14));
  EXPECT_EQ(pin_of[14], 10);
  EXPECT_FALSE(pin_of.count(10));
  EXPECT_EQ(pin_of[4], 4);
  EXPECT_EQ(pin_of[0], 2);
}

}  // namespace
}  // namespace softcpu
