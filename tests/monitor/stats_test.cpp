#include <gtest/gtest.h>

#include "monitor/stats.h"

namespace softcpu {
namespace {

// The JSON: schema and version first, then every counter (zeros too) nested by the dots.
TEST(StatsRegistry, JsonIsCompleteNestedAndVersioned) {
  StatsRegistry s;
  uint64_t hits = 7, misses = 3, zero = 0;
  s.add("instructions", [] { return 1234.0; });
  s.add("cache.hits", &hits);
  s.add("cache.misses", &misses);
  s.add("cache.hit_rate", [&] { return double(hits) / double(hits + misses); });
  s.add("tlb.walks", &zero);
  s.add("jit.compile_cpu_us.opt", &zero, "us");
  EXPECT_EQ(s.json(), "{\"schema\": \"softcpu-stats\", \"version\": 1, \"instructions\": 1234, "
                      "\"cache\": {\"hits\": 7, \"misses\": 3, \"hit_rate\": 0.7}, "
                      "\"tlb\": {\"walks\": 0}, \"jit\": {\"compile_cpu_us\": {\"opt\": 0}}}\n");
  EXPECT_EQ(s.json("\"guest_ms\": 5, \"final\": true"),
            "{\"schema\": \"softcpu-stats\", \"version\": 1, \"guest_ms\": 5, \"final\": true, "
            "\"instructions\": 1234, \"cache\": {\"hits\": 7, \"misses\": 3, \"hit_rate\": 0.7}, "
            "\"tlb\": {\"walks\": 0}, \"jit\": {\"compile_cpu_us\": {\"opt\": 0}}}\n");
  // JSON has no NaN: a counter that cannot be computed is null.
  StatsRegistry n;
  n.add("ratio", [] { return 0.0 / 0.0; });
  EXPECT_EQ(n.json(), "{\"schema\": \"softcpu-stats\", \"version\": 1, \"ratio\": null}\n");
}

TEST(StatsRegistry, ValueReadsOneCounterLive) {
  StatsRegistry s;
  uint64_t n = 3;
  s.add("a.b", &n);
  n = 4;
  EXPECT_EQ(s.value("a.b").value_or(0), 4.0);
  EXPECT_FALSE(s.value("a").has_value());
}

// The text report: groups by prefix in a fixed order, zero rows left out, units and
// derived rates.
TEST(StatsRegistry, TextReportGroupsAndDerivesRates) {
  StatsRegistry s;
  uint64_t insns = 2000000, lookups = 1000, hits = 990, misses = 10, zero = 0;
  uint64_t walks = 50, t1 = 500000, entries = 1000, io = 7, exits_io = 40, t1_exits = 3;
  uint64_t unassigned = 2, new_counter = 9, budget_exits = 100;
  s.add("instructions", &insns);
  s.add("wall_seconds", [] { return 2.0; });
  s.add("io.port_reads", &io);  // registered early: still goes to Devices, printed last
  s.add("cache.lookups", &lookups);
  s.add("cache.hits", &hits);
  s.add("cache.misses", &misses);
  s.add("cache.hit_rate", [] { return 0.99; });
  s.add("cache.flushes", &zero);
  s.add("cache.misses_compulsory", &new_counter);  // a counter added later finds its group
  s.add("exits.io", &exits_io);
  s.add("exits.cpuid", &zero);
  s.add("exits.budget", &budget_exits);  // bookkeeping: not in the exits' rate
  s.add("tier1.instructions", &t1);
  s.add("tier1.region_entries", &entries);
  s.add("tier1.exits.branch", &t1_exits);
  s.add("jit.compile_us_total", [] { return 30000.0; });  // 30 ms over 2 s: 15 ms/s
  s.add("jit.native_code_bytes", [] { return 4096.0; });
  s.add("tlb.walks", &walks);
  s.add("exceptions.total", &zero);
  s.add("io.unassigned_accesses", &unassigned);
  const std::string t = s.text();
  SCOPED_TRACE(t);
  auto at = [&](const std::string& what) { return t.find(what); };
  // Groups in their order; Exceptions has nothing non-zero and is left out.
  const size_t run = at("Run\n"), cache = at("Translation cache\n"), tiers = at("Tiers\n"),
               exits = at("Exits\n"), tlb = at("TLB\n"), devices = at("Devices\n");
  ASSERT_NE(run, std::string::npos);
  EXPECT_LT(run, cache);
  EXPECT_LT(cache, tiers);
  EXPECT_LT(tiers, exits);
  EXPECT_LT(exits, tlb);
  EXPECT_LT(tlb, devices);
  EXPECT_EQ(at("Exceptions"), std::string::npos);
  // Zero rows are left out.
  EXPECT_EQ(at("cache.flushes"), std::string::npos);
  EXPECT_EQ(at("exits.cpuid"), std::string::npos);
  EXPECT_EQ(at("exceptions.total"), std::string::npos);
  // Rows sit in their groups (tier1.exits.* under Exits, not Tiers).
  auto in = [&](const std::string& row, size_t from, size_t to) {
    const size_t p = at(row);
    return p != std::string::npos && p > from && p < to;
  };
  EXPECT_TRUE(in("cache.misses_compulsory", cache, tiers));
  EXPECT_TRUE(in("tier1.region_entries", tiers, exits));
  EXPECT_TRUE(in("tier1.exits.branch", exits, tlb));
  EXPECT_TRUE(in("exits.io", exits, tlb));
  EXPECT_TRUE(in("io.port_reads", devices, t.size()));
  EXPECT_TRUE(in("io.unassigned_accesses", devices, t.size()));
  // Values with units, thousands grouped; derived rates.
  EXPECT_NE(at("  instructions "), std::string::npos);
  EXPECT_NE(at(" 2,000,000\n"), std::string::npos);
  EXPECT_NE(at(" 2.000 s\n"), std::string::npos);            // wall_seconds
  EXPECT_NE(at(" 99.00 %\n"), std::string::npos);            // cache.hit_rate
  EXPECT_NE(at(" 30.0 ms\n"), std::string::npos);            // jit.compile_us_total
  EXPECT_NE(at(" 4.0 KiB\n"), std::string::npos);            // jit.native_code_bytes
  EXPECT_TRUE(in("misses per M insns", cache, tiers));       // 10 per 2M insns: 5
  EXPECT_NE(t.find(" 5\n", at("misses per M insns")), std::string::npos);
  EXPECT_TRUE(in("compiled share of insns", tiers, exits));  // 25 %
  EXPECT_NE(t.find(" 25.00 %\n", at("compiled share")), std::string::npos);
  EXPECT_TRUE(in("compile time per run second", tiers, exits));
  EXPECT_NE(t.find(" 15 ms/s\n", at("compile time per run second")), std::string::npos);
  EXPECT_TRUE(in("exits per M insns", exits, tlb));          // 40 per 2M: 20
  EXPECT_NE(t.find(" 20\n", at("exits per M insns")), std::string::npos);
  EXPECT_TRUE(in("walks per M insns", tlb, devices));        // 50 per 2M: 25
  EXPECT_NE(t.find(" 25\n", at("walks per M insns")), std::string::npos);
  EXPECT_EQ(at("exceptions per M insns"), std::string::npos);  // zero: left out
  // Values are read when the report is made.
  misses = 0;
  EXPECT_EQ(s.text().find("cache.misses "), std::string::npos);
}

TEST(StatsRegistry, EmptyReportIsEmpty) {
  StatsRegistry s;
  uint64_t zero = 0;
  s.add("instructions", &zero);
  EXPECT_EQ(s.text(), "");
}

}  // namespace
}  // namespace softcpu
