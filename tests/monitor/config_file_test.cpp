// The system description reader (monitor/hv/config_file.*, config_check.*): the example of
// docs/config.md parses into the structs it describes, and each kind of mistake is reported
// with its message on the line it is on, all of them at once.
#include "monitor/hv/config_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "monitor/hv/config_check.h"

namespace softcpu::hv {
namespace {

// The first ```toml block of docs/config.md (SOFTCPU_SOURCE_DIR is set for this file only).
std::string doc_example(int which = 0) {
  std::ifstream in(std::string(SOFTCPU_SOURCE_DIR) + "/docs/config.md");
  std::stringstream s;
  s << in.rdbuf();
  const std::string doc = s.str();
  size_t at = 0;
  for (int k = 0; k <= which; ++k) {
    at = doc.find("```toml\n", at);
    if (at == std::string::npos) return "";
    at += 8;
  }
  return doc.substr(at, doc.find("```", at) - at);
}

std::vector<ConfigError> errors_of(const std::string& text, SystemConfig* out = nullptr) {
  SystemConfig c;
  std::vector<ConfigError> errors;
  if (parse_system_config(text, "test.toml", "/base", &c, &errors)) check_system_config(c, &errors);
  else if (errors.empty() || errors.back().message.rfind("TOML syntax", 0) != 0)
    check_system_config(c, &errors);
  if (out) *out = c;
  return errors;
}

// The 1-based line of `text` holding `marker` (0 if none).
unsigned line_with(const std::string& text, const std::string& marker) {
  const size_t at = text.find(marker);
  if (at == std::string::npos) return 0;
  unsigned line = 1;
  for (size_t k = 0; k < at; ++k) line += text[k] == '\n';
  return line;
}

std::string dump(const std::vector<ConfigError>& errors) {
  std::string s;
  for (const ConfigError& e : errors) s += format_config_error("test.toml", e) + "\n";
  return s;
}

// Expects an error containing `message` on `line` among `errors`.
void expect_error(const std::vector<ConfigError>& errors, const std::string& message,
                  unsigned line) {
  for (const ConfigError& e : errors)
    if (e.message.find(message) != std::string::npos) {
      EXPECT_EQ(e.line, line) << "for '" << message << "' in:\n" << dump(errors);
      return;
    }
  ADD_FAILURE() << "no error containing '" << message << "' (line " << line << ") in:\n"
                << dump(errors);
}

const char kHead[] =
    "machine_memory = \"512M\"\n"
    "[[processor_set]]\n"
    "name = \"host\"\n"
    "threads = 2\n"
    "[[hypervisor]]\n"
    "name = \"primary\"\n"
    "kind = \"primary\"\n"
    "processor_set = \"host\"\n";

// A valid partition called `name` with `extra` lines inside it (before its subtables).
std::string part(const std::string& name, const std::string& extra = "",
                      const std::string& subtables = "") {
  return "[[partition]]\n"
         "name = \"" + name + "\"\n" + extra +
         "[[partition.memory]]\n"
         "base = 0\n"
         "size = \"64M\"\n" + subtables +
         "[partition.boot]\n"
         "bios = \"test.rom\"\n";
}

TEST(ConfigFile, DocExampleParsesIntoTheStructs) {
  const std::string text = doc_example();
  ASSERT_FALSE(text.empty()) << "no ```toml block in docs/config.md";
  SystemConfig c;
  const auto errors = errors_of(text, &c);
  ASSERT_TRUE(errors.empty()) << dump(errors);
  EXPECT_EQ(c.machine_memory, 1ull << 30);
  ASSERT_EQ(c.processor_sets.size(), 2u);
  EXPECT_EQ(c.processor_sets[0].name, "host0");
  EXPECT_EQ(c.processor_sets[1].threads, 2u);
  EXPECT_EQ(c.processor_sets[1].line, line_with(text, "name = \"host1\"") - 1);
  ASSERT_EQ(c.hypervisors.size(), 2u);
  EXPECT_EQ(c.hypervisors[0].kind, HypervisorKind::PRIMARY);
  EXPECT_EQ(c.hypervisors[0].scheduler, SchedulerKind::ROUND_ROBIN);
  EXPECT_EQ(c.hypervisors[0].time_slice_us, 10000u);
  EXPECT_EQ(c.hypervisors[1].kind, HypervisorKind::SECONDARY);
  EXPECT_EQ(c.hypervisors[1].processor_set, "host1");
  EXPECT_EQ(c.hypervisors[1].scheduler, SchedulerKind::PRIORITY);
  EXPECT_EQ(c.hypervisors[1].priority_range, std::make_pair(1u, 99u));
  ASSERT_EQ(c.pools.size(), 1u);
  EXPECT_EQ(c.pools[0].size, 128ull << 20);
  ASSERT_EQ(c.partitions.size(), 2u);

  const PartitionConfig& web = c.partitions[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.hypervisor, "primary");
  EXPECT_EQ(web.vcpus, 1u);
  ASSERT_EQ(web.memory.size(), 2u);
  EXPECT_FALSE(web.memory[0].dynamic);
  EXPECT_EQ(web.memory[0].guest_base, 0u);
  EXPECT_EQ(web.memory[0].size, 256ull << 20);
  EXPECT_TRUE(web.memory[1].dynamic);
  EXPECT_EQ(web.memory[1].guest_base, 1ull << 30);
  EXPECT_EQ(web.memory[1].pool, "spare");
  EXPECT_EQ(static_memory(web), 256ull << 20);
  ASSERT_EQ(web.machine.drives.size(), 1u);
  EXPECT_EQ(web.machine.drives[0].path, "/base/guest/disk.img");  // relative to the file
  EXPECT_TRUE(web.machine.drives[0].snapshot);
  EXPECT_EQ(web.machine.serial, "stdio");
  ASSERT_EQ(web.machine.debugcons.size(), 1u);
  EXPECT_EQ(web.machine.debugcons[0].port, 0xE9);
  EXPECT_EQ(web.machine.debugcons[0].path, "-");
  EXPECT_EQ(web.devices, (std::vector<std::string>{"ide0", "com1", "debugcon@0xe9"}));
  ASSERT_EQ(web.irq_routes.size(), 2u);  // ide0 as written, com1 by default
  EXPECT_EQ(web.irq_routes[0].device, "ide0");
  EXPECT_EQ(web.irq_routes[0].gsi, 14u);
  EXPECT_EQ(web.irq_routes[1].device, "com1");
  EXPECT_EQ(web.irq_routes[1].gsi, 4u);
  EXPECT_EQ(web.boot, BootSource::KERNEL);
  EXPECT_EQ(web.machine.kernel_path, "/base/guest/vmlinuz");
  EXPECT_EQ(web.machine.initrd_path, "/base/guest/initrd.img");
  EXPECT_EQ(web.machine.append, "console=ttyS0 quiet");
  EXPECT_EQ(web.machine.timeout_seconds, 300.0);
  EXPECT_TRUE(web.exit_on_poweroff);
  EXPECT_FALSE(web.priority);

  const PartitionConfig& db = c.partitions[1];
  EXPECT_EQ(db.hypervisor, "rt");
  EXPECT_EQ(db.vcpus, 2u);
  EXPECT_EQ(db.priority, 50u);
  EXPECT_EQ(db.priority_range, std::make_pair(40u, 60u));
  EXPECT_EQ(db.time_slice_us, 5000u);
  EXPECT_FALSE(db.machine.jit);
  EXPECT_EQ(db.machine.serial, "file:/base/db-console.txt");
  EXPECT_EQ(db.devices, (std::vector<std::string>{"ide0", "com1"}));
  ASSERT_EQ(db.irq_routes.size(), 2u);
  EXPECT_EQ(db.irq_routes[0].device, "com1");
  EXPECT_EQ(db.irq_routes[0].line, line_with(text, "device = \"com1\"") - 1);
  EXPECT_EQ(db.irq_routes[1].device, "ide0");
  EXPECT_EQ(db.irq_routes[1].gsi, 14u);
  EXPECT_EQ(describe_system(c),
            "2 partitions: web (1 vCPU, 256M), db (2 vCPUs, 256M); 2 hypervisors on 2 processor "
            "sets; 640M of 1G machine memory used");
}

TEST(ConfigFile, OnePartitionExampleIsTheSingleGuestMachine) {
  const std::string text = doc_example(1);
  SystemConfig c;
  const auto errors = errors_of(text, &c);
  ASSERT_TRUE(errors.empty()) << dump(errors);
  MachineConfig m;
  std::string error;
  ASSERT_TRUE(single_guest_machine(c, &m, &error)) << error;
  EXPECT_EQ(m.ram_mib, 128u);
  EXPECT_EQ(m.kernel_path, "/base/guest/vmlinuz");
  EXPECT_EQ(m.append, "console=ttyS0");
  EXPECT_EQ(m.serial, "stdio");
  EXPECT_EQ(m.timeout_seconds, 120.0);
  EXPECT_EQ(c.partitions[0].hypervisor, "primary");  // the default
}

TEST(ConfigFile, MinimalValidFileHasNoErrors) {
  const std::string text = kHead + part("a");
  const auto errors = errors_of(text);
  EXPECT_TRUE(errors.empty()) << dump(errors);
}

TEST(ConfigFile, SyntaxErrorHasLineAndColumn) {
  const std::string text = std::string(kHead) + "[[partition]\nname = \"a\"\n";
  const auto errors = errors_of(text);
  ASSERT_EQ(errors.size(), 1u) << dump(errors);
  EXPECT_EQ(errors[0].line, line_with(text, "[[partition]"));
  EXPECT_GT(errors[0].column, 0u);
  EXPECT_NE(errors[0].message.find("TOML syntax"), std::string::npos);
}

// fuzz_config's finding (tests/fuzz/regressions/config/uncaught-filesystem-error-empty-disk-file):
// a disk without its `file` left an empty path, and the check for images used twice made it
// absolute with the throwing overload, so check-config died of an uncaught filesystem_error.
// Now the missing key is reported like any other and the checks go on.
TEST(ConfigFile, DiskWithoutAFileIsAnErrorNotAnException) {
  const std::string text =
      kHead + part("a", "", "[[partition.disk]]\n") + part("b", "", "[[partition.disk]]\n");
  std::vector<ConfigError> errors;
  ASSERT_NO_THROW(errors = errors_of(text));
  expect_error(errors, "has no 'file'", line_with(text, "[[partition.disk]]"));
}

// fuzz_config's second finding (regressions/config/toml-assert-key-start-in-table-header): a
// table header whose key starts with a character no key may start with broke a precondition
// of toml++'s parser (an assertion in its debug builds, marzer/tomlplusplus#301); the library
// softcpu links reports it as a syntax error on that line.
TEST(ConfigFile, TableHeaderWithABadKeyStartIsASyntaxError) {
  for (const std::string header : {"[[\x1a]]", "[[[a]]]", "[ \x01]"}) {
    const std::string text = std::string(kHead) + header + "\n";
    const auto errors = errors_of(text);
    ASSERT_EQ(errors.size(), 1u) << dump(errors);
    EXPECT_EQ(errors[0].message.rfind("TOML syntax", 0), 0u) << dump(errors);
    EXPECT_EQ(errors[0].line, line_with(text, header));
  }
}

// fuzz_config's third finding (regressions/config/ubsan-toml-unreachable-*): toml++ 3.3's
// parser asks is_non_ascii_horizontal_whitespace() about characters its generated table has no
// case for (U+00A1-U+0499, U+2C5E-U+2FFF, U+3001-U+3057, U+FB26-U+FEFE), which is undefined
// behaviour (__builtin_unreachable()). The reader refuses such a character wherever that
// parser would ask about it, before toml++ sees the text, with its line and column (the
// undefined behaviour itself only the fuzz tree's UBSan sees). Each case: the text, the
// character, where it is, and a word of the message.
TEST(ConfigFile, CharactersToml33CannotClassifyAreRefusedWithTheirPlace) {
  struct Case {
    std::string text;
    const char* code;
    unsigned line, column;
    const char* says;
  };
  const std::string head = kHead;
  const unsigned after_head = line_with(head + "x", "x");
  const Case cases[] = {
      // The two inputs fuzz_config found: U+034A where a key begins, and U+00A7 first on a
      // line continued by a line-ending backslash in a """ string (valid TOML, refused).
      {"\xcd\x8a me_", "U+034A", 1, 1, "outside a string or comment"},
      {"s = \"\"\"\\\n\xc2\xa7\"\"\"\n", "U+00A7", 2, 1, "write it as \\u00A7"},
      {head + "x = 1\xe3\x80\x81\n", "U+3001", after_head, 6, "outside a string"},
      // toml++ reads a bare value up to a value terminator, quotes included, and a date-time
      // past the space before its time: no string begins there.
      {"a = 1\"\xc3\xa9\"\n", "U+00E9", 1, 7, "outside a string"},
      {"a = 1979-05-27 \"\xc3\xa9\"\n", "U+00E9", 1, 17, "outside a string"},
      {"a = [1, 2.5\"\xd0\x96\"]\n", "U+0416", 1, 13, "outside a string"},
      // After a string, in a table header's key, in an inline table.
      {"a = \"x\"\xc3\xa9\n", "U+00E9", 1, 8, "outside a string"},
      {"[t\xc3\xa9]\n", "U+00E9", 1, 3, "outside a string"},
      {"a = { b = 1, \xc2\xa9 = 2 }\n", "U+00A9", 1, 14, "outside a string"},
      // In a """ string: after a backslash, and after a line-ending backslash's spaces.
      {"s = \"\"\"x\\\xc3\xa9\"\"\"\n", "U+00E9", 1, 10, "after a backslash"},
      {"s = \"\"\"x\\  \xef\xb8\xb0\n\"\"\"\n", "U+FE30", 1, 12, "after a line-ending backslash"},
      // After a text whose TOML broke (toml++ stops at its error): refused all the same.
      {"a = = \"\xe2\xbf\xbf\"\n", "U+2FFF", 1, 8, "outside a string"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.text);
    const auto errors = errors_of(k.text);
    ASSERT_EQ(errors.size(), 1u) << dump(errors);
    EXPECT_EQ(errors[0].message.rfind(std::string("TOML syntax: character ") + k.code, 0), 0u)
        << dump(errors);
    EXPECT_NE(errors[0].message.find(k.says), std::string::npos) << dump(errors);
    EXPECT_EQ(errors[0].line, k.line) << dump(errors);
    EXPECT_EQ(errors[0].column, k.column) << dump(errors);
  }
}

// ... and only there: TOML's non-ASCII text in strings of all four kinds and in comments
// (the same code points) is read as before.
TEST(ConfigFile, NonAsciiTextInStringsAndCommentsIsRead) {
  const std::string text = "# Gr\xc3\xbc\xc3\x9f" "e \xc2\xa7 \xe3\x80\x81 \xef\xb8\xb0\n" + std::string(kHead) +
                           "[[partition]]\n"
                           "name = \"caf\xc3\xa9\"  # \xd0\x96\n"
                           "[[partition.memory]]\n"
                           "base = 0\n"
                           "size = \"64M\"\n"
                           "[partition.boot]\n"
                           "kernel = 'vmlinuz-\xc2\xa7'\n"
                           "initrd = '''\xe3\x80\x81.img'''\n"
                           "append = \"\"\"\\\n    console=ttyS0 \xc2\xa7 caf\xc3\xa9\\\n  x\xe3\x80\x81\"\"\"\n";
  SystemConfig c;
  const auto errors = errors_of(text, &c);
  ASSERT_TRUE(errors.empty()) << dump(errors);
  ASSERT_EQ(c.partitions.size(), 1u);
  EXPECT_EQ(c.partitions[0].name, "caf\xc3\xa9");
  EXPECT_EQ(c.partitions[0].machine.kernel_path, "/base/vmlinuz-\xc2\xa7");
  EXPECT_EQ(c.partitions[0].machine.initrd_path, "/base/\xe3\x80\x81.img");
  EXPECT_EQ(c.partitions[0].machine.append, "console=ttyS0 \xc2\xa7 caf\xc3\xa9x\xe3\x80\x81");
}

TEST(ConfigFile, UnknownKeysAnywhere) {
  const std::string text = "colour = \"red\"\n" + std::string(kHead) + "[[pool]]\nname = \"p\"\nsize = \"4M\"\nsise = 1\n" +
                           part("a", "vpcus = 2\n", "[[partition.disk]]\nfile = \"d.img\"\nsnapshoot = true\n");
  const auto errors = errors_of(text);
  expect_error(errors, "unknown key 'colour' in the file", line_with(text, "colour"));
  expect_error(errors, "unknown key 'sise' in pool 'p'", line_with(text, "sise"));
  expect_error(errors, "unknown key 'vpcus' in partition 'a'", line_with(text, "vpcus"));
  expect_error(errors, "unknown key 'snapshoot' in a disk of partition 'a'",
               line_with(text, "snapshoot"));
}

TEST(ConfigFile, WrongTypes) {
  const std::string text = std::string(kHead) +
                           part("a", "vcpus = \"two\"\njit = 1\ntime_slice = 10\n") +
                           "[[pool]]\nname = \"p\"\nsize = \"lots\"\n";
  const auto errors = errors_of(text);
  expect_error(errors, "'vcpus' in partition 'a' must be an integer, not a string",
               line_with(text, "vcpus"));
  expect_error(errors, "'jit' in partition 'a' must be true or false", line_with(text, "jit ="));
  expect_error(errors, "bad 'time_slice' in partition 'a'", line_with(text, "time_slice"));
  expect_error(errors, "bad size \"lots\" for 'size' in pool 'p'", line_with(text, "\"lots\""));
}

TEST(ConfigFile, OverlappingMemory) {
  const std::string text = std::string(kHead) +
                           part("a", "", "[[partition.memory]]\nbase = \"32M\" # overlap\nsize = \"64M\"\n");
  const auto errors = errors_of(text);
  expect_error(errors, "memory region 0x2000000-0x5ffffff of partition 'a' overlaps the region 0x0-0x3ffffff",
               line_with(text, "# overlap") - 1);
}

TEST(ConfigFile, SameDeviceInTwoPartitions) {
  const std::string disk = "[[partition.disk]]\nfile = \"shared.img\"\n";
  const std::string serial = "[[partition.serial]]\nbackend = \"tcp:127.0.0.1:4555,server\"\n";
  const std::string text = std::string(kHead) + part("a", "", disk + serial) +
                           part("b", "", disk + "# b\n" + serial);
  const auto errors = errors_of(text);
  expect_error(errors, "disk image '/base/shared.img' is given to partition 'a'",
               line_with(text, "# b") - 2);
  expect_error(errors, "TCP port 4555 (serial) is given to partitions 'a'",
               line_with(text, "# b") + 1);
  // Snapshot or read-only everywhere: nobody writes the file, so sharing it is fine.
  const std::string ro = "[[partition.disk]]\nfile = \"shared.img\"\nreadonly = true\n";
  const std::string snap = "[[partition.disk]]\nfile = \"shared.img\"\nsnapshot = true\n";
  const auto shared = errors_of(std::string(kHead) + part("a", "", ro) + part("b", "", snap));
  EXPECT_TRUE(shared.empty()) << dump(shared);
  const std::string stdio = "[[partition.serial]]\nbackend = \"stdio\"\n";
  const std::string both =
      std::string(kHead) + part("a", "", stdio) + part("b", "", "# b serial\n" + stdio);
  expect_error(errors_of(both), "the terminal (serial backend stdio) is given to partitions 'a'",
               line_with(both, "# b serial") + 1);
}

TEST(ConfigFile, IrqRoutedTwiceOrForADeviceNotOwned) {
  const std::string text =
      std::string(kHead) +
      part("a", "",
                "[[partition.disk]]\nfile = \"d.img\"\n"
                "[[partition.irq]]\ndevice = \"ide0\"\ngsi = 14\n"
                "[[partition.irq]] # twice\ndevice = \"ide0\"\ngsi = 14\n"
                "[[partition.irq]] # not owned\ndevice = \"com1\"\ngsi = 4\n");
  const auto errors = errors_of(text);
  expect_error(errors, "gsi 14 of partition 'a' is routed twice", line_with(text, "# twice"));
  expect_error(errors, "irq route of partition 'a' for device 'com1', which the partition does not own",
               line_with(text, "# not owned"));
  // A route that takes a device's default line, and one source routed to two inputs.
  const std::string text2 =
      std::string(kHead) +
      part("a", "",
           "[[partition.disk]] # disk\nfile = \"d.img\"\n"
           "[[partition.serial]]\nbackend = \"none\"\n"
           "[[partition.irq]] # com1\ndevice = \"com1\"\ngsi = 14\n"
           "[[partition.irq]] # again\ndevice = \"com1\"\ngsi = 5\n");
  const auto errors2 = errors_of(text2);
  expect_error(errors2,
               "gsi 14 of partition 'a' is routed twice: 'com1' (line " +
                   std::to_string(line_with(text2, "# com1")) + ") and 'ide0' (its default route, line " +
                   std::to_string(line_with(text2, "# disk")) + ")",
               line_with(text2, "# disk"));
  expect_error(errors2, "interrupt 0 of 'com1' in partition 'a' is routed twice (gsi 14 and 5)",
               line_with(text2, "# again"));
}

// Interrupt routes: a GSI the VMM keeps for the devices every partition has, a source the
// device does not have, and a device without an interrupt (a debug console).
TEST(ConfigFile, IrqRouteToAReservedGsiOrAMissingSource) {
  const std::string text =
      std::string(kHead) +
      part("a", "",
           "[[partition.disk]]\nfile = \"d.img\"\n"
           "[[partition.debugcon]]\nport = 0xE9\nfile = \"-\"\n"
           "[[partition.irq]] # sci\ndevice = \"ide0\"\ngsi = 9\n"
           "[[partition.irq]] # source\ndevice = \"ide0\"\nsource = 1\ngsi = 10\n"
           "[[partition.irq]] # debugcon\ndevice = \"debugcon@0xe9\"\ngsi = 11\n");
  const auto errors = errors_of(text);
  expect_error(errors,
               "gsi 9 of partition 'a' (for 'ide0') is the ACPI SCI's, which the VMM keeps for "
               "every partition",
               line_with(text, "# sci"));
  expect_error(errors, "irq route of partition 'a' for interrupt 1 of 'ide0', which has only interrupt 0",
               line_with(text, "# source"));
  expect_error(errors, "irq route of partition 'a' for 'debugcon@0xe9', which has no interrupt",
               line_with(text, "# debugcon"));
  // Moving the disk's interrupt to a free GSI is fine.
  const std::string good = std::string(kHead) +
                           part("a", "",
                                "[[partition.disk]]\nfile = \"d.img\"\n"
                                "[[partition.irq]]\ndevice = \"ide0\"\ngsi = 19\n");
  EXPECT_TRUE(errors_of(good).empty()) << dump(errors_of(good));
}

TEST(ConfigFile, MoreMemoryThanTheMachine) {
  const std::string text = std::string(kHead) + "[[pool]]\nname = \"p\"\nsize = \"400M\"\n" +
                           part("a") + part("b");
  expect_error(errors_of(text), "need 528M but machine_memory is 512M", 0);
}

TEST(ConfigFile, UnknownReferences) {
  const std::string text =
      std::string(kHead) + "[[hypervisor]] # second\nname = \"rt\"\nkind = \"secondary\"\nprocessor_set = \"nowhere\"\n" +
      part("a", "hypervisor = \"hyper\"\n", "[[partition.memory]] # dyn\nbase = \"1G\"\nsize = \"4M\"\npool = \"nopool\"\n");
  const auto errors = errors_of(text);
  expect_error(errors, "hypervisor 'rt' runs on unknown processor set 'nowhere' (known: host)",
               line_with(text, "# second"));
  expect_error(errors, "partition 'a' names unknown hypervisor 'hyper' (known: primary, rt)",
               line_with(text, "[[partition]]"));
  expect_error(errors, "borrows from unknown pool 'nopool' (none defined)", line_with(text, "# dyn"));
}

TEST(ConfigFile, NoBootSource) {
  const std::string text = std::string(kHead) +
                           "[[partition]]\nname = \"a\"\n[[partition.memory]]\nbase = 0\nsize = \"1M\"\n";
  expect_error(errors_of(text), "partition 'a' has no boot source", line_with(text, "[[partition]]"));
  const std::string two = std::string(kHead) + part("b") + "kernel = \"k\"\n";
  expect_error(errors_of(two), "names 2 boot sources", line_with(two, "[partition.boot]"));
}

TEST(ConfigFile, DuplicateNames) {
  const std::string text = std::string(kHead) + part("a") + "# second\n" + part("a") +
                           "[[processor_set]] # again\nname = \"host\"\n";
  const auto errors = errors_of(text);
  expect_error(errors, "duplicate partition name 'a' (first at line " +
                           std::to_string(line_with(text, "[[partition]]")) + ")",
               line_with(text, "# second") + 1);
  expect_error(errors, "duplicate processor set name 'host'", line_with(text, "# again"));
}

TEST(ConfigFile, VcpusZeroOrAbsurd) {
  const std::string zero = std::string(kHead) + part("a", "vcpus = 0\n");
  expect_error(errors_of(zero), "'vcpus' in partition 'a' is 0: expected 1", line_with(zero, "vcpus"));
  const std::string lots = std::string(kHead) + part("a", "vcpus = 1000\n");
  expect_error(errors_of(lots), "'vcpus' in partition 'a' is 1000: expected 1 to 32", line_with(lots, "vcpus"));
}

// vcpu_threads (docs/config.md): "single" or "multi"; multi needs 2+ vCPUs and, on the
// primary, as many threads in its processor set as vCPUs (kHead's set has 2).
TEST(ConfigFile, VcpuThreads) {
  SystemConfig c;
  const std::string ok = std::string(kHead) + part("a", "vcpus = 2\nvcpu_threads = \"multi\"\n");
  ASSERT_TRUE(errors_of(ok, &c).empty()) << dump(errors_of(ok));
  EXPECT_TRUE(c.partitions[0].machine.smp_threads);
  const std::string single = std::string(kHead) + part("a", "vcpus = 2\nvcpu_threads = \"single\"\n");
  ASSERT_TRUE(errors_of(single, &c).empty()) << dump(errors_of(single));
  EXPECT_FALSE(c.partitions[0].machine.smp_threads);
  const std::string bad = std::string(kHead) + part("a", "vcpus = 2\nvcpu_threads = \"many\"\n");
  expect_error(errors_of(bad), "bad vcpu_threads 'many' in partition 'a': expected single or multi",
               line_with(bad, "vcpu_threads"));
  const std::string one = std::string(kHead) + part("a", "vcpu_threads = \"multi\"\n");
  expect_error(errors_of(one), "partition 'a' has vcpu_threads = \"multi\" with 1 vCPU: it needs "
               "vcpus of 2 or more", line_with(one, "vcpu_threads"));
  const std::string wide = std::string(kHead) + part("a", "vcpus = 3\nvcpu_threads = \"multi\"\n");
  expect_error(errors_of(wide), "partition 'a' has vcpu_threads = \"multi\": its 3 vCPUs need 3 "
               "threads of processor set 'host', which has 2", line_with(wide, "vcpu_threads"));
  const std::string sec =
      std::string(kHead) + "[[processor_set]]\nname = \"rt\"\n[[hypervisor]]\nname = \"sec\"\n"
      "kind = \"secondary\"\nprocessor_set = \"rt\"\nscheduler = \"priority\"\n" +
      part("a", "hypervisor = \"sec\"\npriority = 1\nvcpus = 2\nvcpu_threads = \"multi\"\n");
  // A thin partition of the secondary: its vCPUs on up to 2 of the secondary's workers
  // (docs/design.md "A thin partition on several workers"); the set's size does not limit it.
  ASSERT_TRUE(errors_of(sec, &c).empty()) << dump(errors_of(sec));
  EXPECT_TRUE(c.partitions[0].machine.smp_threads);
  EXPECT_EQ(c.partitions[0].vcpus, 2u);
}

// [partition.secondary]: some vCPUs of a partition of the primary on the secondary; each bad
// split on the line of the key it is about.
TEST(ConfigFile, PartitionOnBothHypervisors) {
  const std::string head = std::string(kHead) +
      "[[processor_set]]\nname = \"rt\"\nthreads = 1\n[[hypervisor]]\nname = \"sec\"\n"
      "kind = \"secondary\"\nprocessor_set = \"rt\"\nscheduler = \"priority\"\npriorities = [10, 90]\n";
  auto split = [&](const std::string& extra, const std::string& keys) {
    return head + part("a", extra, "[partition.secondary]\n" + keys);
  };
  SystemConfig c;
  const std::string ok = split("vcpus = 3\nvcpu_threads = \"multi\"\n", "vcpus = [2, 1]\npriority = 40\n");
  ASSERT_TRUE(errors_of(ok, &c).empty()) << dump(errors_of(ok));
  ASSERT_TRUE(c.partitions[0].split.has_value());
  EXPECT_EQ(c.partitions[0].split->vcpus, (std::vector<unsigned>{2, 1}));
  EXPECT_EQ(c.partitions[0].split->priority, 40u);
  EXPECT_EQ(split_hypervisor(c, c.partitions[0])->name, "sec");
  EXPECT_NE(describe_system(c).find("a (3 vCPUs, 2 on the secondary, 64M)"), std::string::npos)
      << describe_system(c);
  // Three vCPUs on a 2-thread set: only vCPU 0 takes one of its threads.
  const std::string zero = split("vcpus = 2\nvcpu_threads = \"multi\"\n", "vcpus = [0]\n");
  expect_error(errors_of(zero), "names vCPU 0, which stays with the primary", line_with(zero, "vcpus = [0]"));
  const std::string big = split("vcpus = 2\nvcpu_threads = \"multi\"\n", "vcpus = [1, 2]\n");
  expect_error(errors_of(big), "names vCPU 2 but the partition has 2 (0 to 1)", line_with(big, "vcpus = [1, 2]"));
  const std::string twice = split("vcpus = 3\nvcpu_threads = \"multi\"\n", "vcpus = [1, 1]\n");
  expect_error(errors_of(twice), "names vCPU 1 twice", line_with(twice, "vcpus = [1, 1]"));
  const std::string single = split("vcpus = 2\n", "vcpus = [1]\n");
  expect_error(errors_of(single), "has a [partition.secondary] without vcpu_threads = \"multi\"",
               line_with(single, "[partition.secondary]"));
  const std::string prio = split("vcpus = 2\nvcpu_threads = \"multi\"\n", "vcpus = [1]\npriority = 95\n");
  expect_error(errors_of(prio), "has priority 95, outside hypervisor 'sec''s range 10-90",
               line_with(prio, "priority = 95"));
  const std::string hv = split("vcpus = 2\nvcpu_threads = \"multi\"\n", "vcpus = [1]\nhypervisor = \"primary\"\n");
  expect_error(errors_of(hv), "names hypervisor 'primary', which is not the secondary",
               line_with(hv, "hypervisor = \"primary\""));
  const std::string empty = split("vcpus = 2\nvcpu_threads = \"multi\"\n", "vcpus = []\n");
  expect_error(errors_of(empty), "bad 'vcpus' in the [partition.secondary] of partition 'a'",
               line_with(empty, "vcpus = []"));
  const std::string nokey = split("vcpus = 2\nvcpu_threads = \"multi\"\n", "bogus = 1\n");
  expect_error(errors_of(nokey), "unknown key 'bogus' in the [partition.secondary]", line_with(nokey, "bogus"));
  const std::string on_sec = split("hypervisor = \"sec\"\npriority = 20\nvcpus = 2\n", "vcpus = [1]\n");
  expect_error(errors_of(on_sec), "runs on the secondary hypervisor 'sec': only a partition of the "
               "primary", line_with(on_sec, "[partition.secondary]"));
  const std::string none = std::string(kHead) +
      part("a", "vcpus = 2\nvcpu_threads = \"multi\"\n", "[partition.secondary]\nvcpus = [1]\n");
  expect_error(errors_of(none), "the system has no secondary hypervisor", line_with(none, "[partition.secondary]"));
  // The primary's share of the vCPUs must fit its set: 4 vCPUs, one on the secondary, 3 > 2.
  const std::string wide = split("vcpus = 4\nvcpu_threads = \"multi\"\n", "vcpus = [3]\n");
  expect_error(errors_of(wide), "its 3 vCPUs on the primary need 3 threads of processor set 'host'",
               line_with(wide, "vcpu_threads"));
}

TEST(ConfigFile, PrioritiesOutsideTheHypervisorsRange) {
  const std::string text =
      "machine_memory = \"1G\"\n[[processor_set]]\nname = \"s\"\n"
      "[[hypervisor]]\nname = \"h\"\nprocessor_set = \"s\"\nscheduler = \"priority\"\npriorities = [10, 20]\n" +
      part("a", "priority = 30\n") + part("b", "priority_range = [5, 15]\n") +
      part("c", "priority = 12\npriority_range = [14, 18]\n");
  const auto errors = errors_of(text);
  expect_error(errors, "partition 'a' has priority 30, outside hypervisor 'h''s range 10-20",
               line_with(text, "priority = 30"));
  expect_error(errors, "partition 'b' has priority_range 5-15, outside", line_with(text, "[5, 15]"));
  expect_error(errors, "partition 'c' has priority 12 outside its own priority_range",
               line_with(text, "priority = 12"));
  const std::string rr = std::string(kHead) + part("a", "priority = 3\n");
  expect_error(errors_of(rr), "schedules round robin", line_with(rr, "priority = 3"));
}

TEST(ConfigFile, CollectsEveryError) {
  const std::string text = std::string(kHead) + part("a", "vcpus = 0\nbogus = 1\n") +
                           part("a", "hypervisor = \"x\"\n");
  const auto errors = errors_of(text);
  EXPECT_GE(errors.size(), 4u) << dump(errors);
  expect_error(errors, "unknown key 'bogus'", line_with(text, "bogus"));
  expect_error(errors, "duplicate partition name 'a'", line_with(text, "hypervisor = \"x\"") - 2);
}

TEST(ConfigFile, ReadsTheFileAndResolvesPathsAgainstItsFolder) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/system_config_test.toml";
  { std::ofstream(path) << kHead + part("a"); }
  SystemConfig c;
  std::vector<ConfigError> errors;
  ASSERT_TRUE(read_system_config(path, &c, &errors)) << dump(errors);
  EXPECT_EQ(c.partitions[0].machine.bios_path,
            (std::filesystem::path(dir) / "test.rom").lexically_normal().string());
  EXPECT_FALSE(read_system_config(dir + "/no-such.toml", &c, &errors));
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.back().message.find("cannot read"), std::string::npos);
}

TEST(ConfigFile, Sizes) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_size_string("256M", &v));
  EXPECT_EQ(v, 256ull << 20);
  EXPECT_TRUE(parse_size_string("1GiB", &v));
  EXPECT_EQ(v, 1ull << 30);
  EXPECT_TRUE(parse_size_string("0x100000", &v));
  EXPECT_EQ(v, 1ull << 20);
  EXPECT_FALSE(parse_size_string("12Q", &v));
  EXPECT_FALSE(parse_size_string("M", &v));
  EXPECT_FALSE(parse_size_string("-1M", &v));
  EXPECT_EQ(format_size(640ull << 20), "640M");
}

// The last example of docs/config.md: two thin partitions with a shared page.
TEST(ConfigFile, SharedExampleParses) {
  const std::string text = doc_example(2);
  ASSERT_FALSE(text.empty()) << "no third ```toml block in docs/config.md";
  SystemConfig c;
  const auto errors = errors_of(text, &c);
  ASSERT_TRUE(errors.empty()) << dump(errors);
  ASSERT_EQ(c.shared.size(), 1u);
  EXPECT_EQ(c.shared[0].maps.size(), 2u);
  EXPECT_EQ(c.shared[0].maps[1].guest_base, 6u << 20);
  EXPECT_EQ(describe_system(c),
            "2 partitions: a (1 vCPU, 2M), b (1 vCPU, 2M); 2 hypervisors on 2 processor sets; "
            "4164K of 16M machine memory used; 1 shared region");
}

// The last example of docs/config.md: a partition on both hypervisors.
TEST(ConfigFile, BothHypervisorsExampleParses) {
  const std::string text = doc_example(3);
  ASSERT_FALSE(text.empty()) << "no fourth ```toml block in docs/config.md";
  SystemConfig c;
  const auto errors = errors_of(text, &c);
  ASSERT_TRUE(errors.empty()) << dump(errors);
  ASSERT_EQ(c.partitions.size(), 1u);
  ASSERT_TRUE(c.partitions[0].split.has_value());
  EXPECT_EQ(c.partitions[0].split->vcpus, std::vector<unsigned>{1});
  EXPECT_EQ(describe_system(c),
            "1 partition: both (2 vCPUs, 1 on the secondary, 4M); 2 hypervisors on 2 processor "
            "sets; 4M of 64M machine memory used");
}

// [[shared]] regions: read into SystemConfig::shared; each mistake on its own line.
TEST(ConfigFile, SharedRegions) {
  const std::string good = std::string(kHead) + part("a") + part("b") +
                           "[[shared]]\nname = \"mbox\"\nsize = \"8K\"\n"
                           "[[shared.map]]\npartition = \"a\"\nbase = \"0x4000000\"\n"
                           "[[shared.map]]\npartition = \"b\"\nbase = \"0x5000000\"\naccess = \"r\"\n";
  SystemConfig c;
  const auto ok = errors_of(good, &c);
  ASSERT_TRUE(ok.empty()) << dump(ok);
  ASSERT_EQ(c.shared.size(), 1u);
  EXPECT_EQ(c.shared[0].name, "mbox");
  EXPECT_EQ(c.shared[0].size, 8192u);
  ASSERT_EQ(c.shared[0].maps.size(), 2u);
  EXPECT_EQ(c.shared[0].maps[0].guest_base, 0x4000000u);
  EXPECT_EQ(c.shared[0].maps[0].perms, 3);  // rw by default
  EXPECT_EQ(c.shared[0].maps[1].partition, "b");
  EXPECT_EQ(c.shared[0].maps[1].perms, 1);
  EXPECT_NE(describe_system(c).find("; 1 shared region"), std::string::npos) << describe_system(c);

  const std::string bad =
      std::string("machine_memory = \"130M\"\n") + (kHead + std::string(kHead).find('\n') + 1) +
      part("a", "", "[[partition.memory]]\nbase = \"64M\"\nsize = \"1M\"\n") + part("b") +
      "[[shared]] # one\nname = \"one\"\nsize = \"4K\"\n"
      "[[shared.map]]\npartition = \"a\"\nbase = \"0x4000000\" # over a's region\n"
      "[[shared.map]]\npartition = \"nobody\" # unknown\nbase = 0\n"
      "[[shared.map]]\npartition = \"b\"\nbase = \"0x3000800\" # unaligned\naccess = \"wx\" # bad access\n"
      "[[shared.map]]\npartition = \"b\" # twice\nbase = \"0xBFFFF000\"\n"
      "[[shared]] # two\nname = \"two\"\nsize = 100\n"
      "[[shared.map]]\npartition = \"b\"\nbase = 0 # over b's RAM\n"
      "[[shared]] # three\nname = \"three\"\nsize = \"2M\"\n"
      "[[shared.map]]\npartition = \"a\"\nbase = \"0xBFF00000\" # above 3G\n"
      "[[shared.map]]\npartition = \"b\"\nbase = \"0x8000000\"\n";
  const auto errors = errors_of(bad);
  expect_error(errors, "shared region 'one' 0x4000000-0x4000fff of partition 'a' overlaps the region 0x4000000-0x40fffff",
               line_with(bad, "# over a's region") - 2);
  expect_error(errors, "shared region 'one' is mapped into unknown partition 'nobody'",
               line_with(bad, "# unknown") - 1);
  expect_error(errors, "shared region 'one' in partition 'b' at 0x3000800: the base must be a multiple of 4K",
               line_with(bad, "# unaligned") - 2);
  expect_error(errors, "bad access 'wx'", line_with(bad, "# bad access"));
  expect_error(errors, "shared region 'one' is mapped into partition 'b' twice",
               line_with(bad, "# twice") - 1);
  expect_error(errors, "shared region 'two' has size 100: expected a positive multiple of 4K",
               line_with(bad, "# two"));
  expect_error(errors, "shared region 'two' is mapped into 1 partitions", line_with(bad, "# two"));
  expect_error(errors, "shared region 'three' in partition 'a' at 0xbff00000-0xc00fffff ends above 3G",
               line_with(bad, "# above 3G") - 2);
  expect_error(errors, "the shared regions need", 0);
}

}  // namespace
}  // namespace softcpu::hv
