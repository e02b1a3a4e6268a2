// The primary hypervisor's monitor commands (monitor/hv/commands.h): their parsing, and that
// run() executes posted commands on its own thread while the partitions run; `quit` ends it.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "hv_test_util.h"
#include "monitor/hv/commands.h"
#include "monitor/hv/partition_stats.h"
#include "monitor/hv/primary.h"

namespace softcpu::hv {
namespace {

using test::partition;
using test::write_rom;

TEST(HvCommands, Sizes) {
  uint64_t b = 0;
  EXPECT_TRUE(parse_hv_size("4096", &b));
  EXPECT_EQ(b, 4096u);
  EXPECT_TRUE(parse_hv_size("64K", &b));
  EXPECT_EQ(b, 64u << 10);
  EXPECT_TRUE(parse_hv_size("2MiB", &b));
  EXPECT_EQ(b, 2u << 20);
  EXPECT_TRUE(parse_hv_size("0x1000", &b));
  EXPECT_EQ(b, 0x1000u);
  for (const char* bad : {"", "-4K", "K", "4X", "4KK", "99999999999999999999", "0x"})
    EXPECT_FALSE(parse_hv_size(bad, &b)) << bad;
}

// The system statistics' JSON is schema version 3 (docs/stats.md: version 2 added the
// scheduler's waits and the fields of a set that fills a gang's empty threads, 3 the empty
// slices), and every field of a partition is there with its value, in the documented order.
TEST(SystemStats, JsonVersion3HasTheSchedulerFields) {
  PartitionCounters p;
  p.name = "a";
  p.state = "running";
  p.cpu_seconds = 1.5;
  p.slices = 7;
  p.empty_slices = 6;
  p.preemptions = 3;
  p.wait_seconds = 0.25;
  p.max_wait_seconds = 0.125;
  p.passes = 4;
  p.borrowed_slices = 5;
  p.recalls = 2;
  p.max_recall_seconds = 0.0625;
  p.lends = 9;
  p.per_vcpu.push_back({});
  const std::string json = system_stats_json({p});
  EXPECT_EQ(json.rfind("{\"schema\": \"softcpu-system-stats\", \"version\": 3, \"partitions\": [", 0), 0u)
      << json;
  size_t at = 0;
  for (const char* field :
       {"\"cpu_seconds\": 1.5", "\"slices\": 7", "\"empty_slices\": 6", "\"preemptions\": 3",
        "\"wait_seconds\": 0.25",
        "\"max_wait_seconds\": 0.125", "\"passes\": 4", "\"borrowed_slices\": 5",
        "\"recalls\": 2", "\"max_recall_seconds\": 0.0625", "\"lends\": 9", "\"vcpus\": ["}) {
    const size_t found = json.find(field, at);
    EXPECT_NE(found, std::string::npos) << field << " (in order) in " << json;
    if (found != std::string::npos) at = found;
  }
  const std::string text = system_stats_text({p});
  for (const char* row :
       {"empty_slices", "passes", "borrowed_slices", "recalls", "max_recall_seconds", "lends"})
    EXPECT_NE(text.find(std::string("  ") + row + " "), std::string::npos) << row << "\n" << text;
}

TEST(HvCommands, WhichLinesArePrimaryCommands) {
  EXPECT_TRUE(is_hv_command("info partitions"));
  EXPECT_TRUE(is_hv_command("  info   stats "));
  EXPECT_TRUE(is_hv_command("partition stop a"));
  EXPECT_TRUE(is_hv_command("partition"));  // answered with an error by the primary
  EXPECT_TRUE(is_hv_command("quit"));
  EXPECT_FALSE(is_hv_command("info registers"));  // the partition's own (gdb stub)
  EXPECT_FALSE(is_hv_command("stats"));
  EXPECT_FALSE(is_hv_command("help"));
  EXPECT_FALSE(is_hv_command(""));
}

std::string ask(PrimaryHypervisor& hv, const std::string& line, std::thread::id* on = nullptr) {
  std::promise<std::string> answer;
  auto f = answer.get_future();
  hv.post_command(line, [&](const std::string& text) {
    if (on) *on = std::this_thread::get_id();
    answer.set_value(text);
  });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) return "(no answer)";
  return f.get();
}

TEST(Partitions, MonitorCommandsRunOnThePrimarysThread) {
  const std::string loop = write_rom(test::kLoopForever);
  SystemConfig s;
  s.partitions.push_back(partition("one", loop));
  s.partitions.push_back(partition("two", loop));
  PrimaryHypervisor hv(s);
  // Posted before run(): answered once it runs.
  std::promise<std::string> early;
  hv.post_command("partition stop one", [&](const std::string& text) { early.set_value(text); });
  std::promise<std::thread::id> run_thread;
  std::future<int> status = std::async(std::launch::async, [&] {
    run_thread.set_value(std::this_thread::get_id());
    return hv.run();
  });
  const std::thread::id primary = run_thread.get_future().get();
  EXPECT_EQ(early.get_future().get(), "partition 'one' stopped\n");
  EXPECT_EQ(ask(hv, "partition start one"), "partition 'one' started\n");
  std::thread::id on;
  std::string info = ask(hv, "info partitions", &on);
  EXPECT_EQ(on, primary);
  EXPECT_NE(info.find("\none "), std::string::npos) << info;
  EXPECT_NE(info.find("\ntwo "), std::string::npos) << info;
  // Let "two" run some instructions first: on a loaded host its thread may not have run the
  // guest yet (the counters job is served at its first loop boundary, before any instruction).
  ASSERT_TRUE(test::wait_for([&] { return hv.counters(hv.partition("two")).instructions > 0; }));
  EXPECT_EQ(ask(hv, "partition stop two"), "partition 'two' stopped\n");
  EXPECT_EQ(hv.partition("two").state(), PartitionState::STOPPED);
  // Stopped by a command, "two" does not end the system: it waits to be started again.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(status.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  // Counters are exact (read on the CPU thread): a stopped partition's do not move.
  const uint64_t stopped_at = hv.counters(hv.partition("two")).instructions;
  EXPECT_GT(stopped_at, 0u);
  EXPECT_EQ(hv.counters(hv.partition("two")).instructions, stopped_at);
  EXPECT_EQ(ask(hv, "partition start two"), "partition 'two' started\n");
  EXPECT_EQ(ask(hv, "partition start two"), "partition 'two' is running\n");
  EXPECT_EQ(ask(hv, "partition reset nobody"), "no partition named 'nobody'\n");
  const std::string stats = ask(hv, "info stats");
  EXPECT_NE(stats.find("Partition one (running"), std::string::npos) << stats;
  EXPECT_NE(stats.find("vcpu 0"), std::string::npos) << stats;
  EXPECT_EQ(ask(hv, "quit"), "stopping every partition\n");
  ASSERT_EQ(status.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(status.get(), 0);
  EXPECT_EQ(hv.partition("one").state(), PartitionState::STOPPED);
  EXPECT_EQ(ask(hv, "info partitions"), "the system is not running\n");
  unlink(loop.c_str());
}

}  // namespace
}  // namespace softcpu::hv
