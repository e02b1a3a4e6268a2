// The TOML reader of system descriptions (docs/config.md is the schema).
#include "monitor/hv/config_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>

// The fuzzers' tree compiles toml++ in (header-only) with its debug assertions off, as they
// are in the library the other builds link (CMakeLists.txt says why).
#if SOFTCPU_TOML_NO_ASSERT
#define TOML_ASSERT(expr) static_assert(true)
#endif
#include <toml++/toml.h>

#include "monitor/hv/config_check.h"
#include "monitor/hv/devices.h"

namespace softcpu::hv {

namespace {

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::string join(std::initializer_list<std::string_view> names) {
  std::string s;
  for (std::string_view n : names) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

// "10ms", "500us", "2s" -> microseconds.
bool parse_duration_us(const std::string& s, uint64_t* out) {
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return false;
  uint64_t n = std::strtoull(s.substr(0, digits).c_str(), nullptr, 10);
  std::string unit = s.substr(digits);
  if (unit == "us") *out = n;
  else if (unit == "ms") *out = n * 1000;
  else if (unit == "s") *out = n * 1000000;
  else return false;
  return true;
}

// One reader per file: the error list and the typed getters that report into it.
class Reader {
 public:
  Reader(std::vector<ConfigError>* errors, std::string base_dir)
      : errors_(errors), base_dir_(std::move(base_dir)) {}

  void error(const toml::source_position& at, std::string message) {
    errors_->push_back({at.line, at.column, std::move(message)});
  }
  void error(const toml::node& n, std::string message) { error(n.source().begin, std::move(message)); }

  // Reports every key of `t` not among `known`; `where` names the table ("partition 'a'").
  void check_keys(const toml::table& t, std::initializer_list<std::string_view> known,
                  const std::string& where) {
    for (auto&& [key, value] : t) {
      bool ok = false;
      for (std::string_view k : known) ok = ok || key.str() == k;
      if (!ok) {
        const toml::source_position at =
            key.source().begin.line ? key.source().begin : value.source().begin;
        error(at, "unknown key '" + std::string(key.str()) + "' in " + where + " (known keys: " +
                      join(known) + ")");
      }
    }
  }

  // The typed getters: absent -> false with no error; present but wrong -> an error and false.
  bool str(const toml::table& t, std::string_view key, const std::string& where, std::string* out,
           bool allow_empty = false) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (!n->is_string()) return wrong_type(*n, key, where, "a string");
    std::string v = n->as_string()->get();
    if (v.empty() && !allow_empty) {
      error(*n, "'" + std::string(key) + "' in " + where + " is empty");
      return false;
    }
    *out = std::move(v);
    return true;
  }

  bool path(const toml::table& t, std::string_view key, const std::string& where, std::string* out) {
    if (!str(t, key, where, out)) return false;
    *out = resolve(*out);
    return true;
  }

  bool uint(const toml::table& t, std::string_view key, const std::string& where, uint64_t lo,
            uint64_t hi, uint64_t* out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (!n->is_integer()) return wrong_type(*n, key, where, "an integer");
    int64_t v = n->as_integer()->get();
    if (v < 0 || uint64_t(v) < lo || uint64_t(v) > hi) {
      error(*n, "'" + std::string(key) + "' in " + where + " is " + std::to_string(v) +
                    ": expected " + std::to_string(lo) + " to " + std::to_string(hi));
      return false;
    }
    *out = uint64_t(v);
    return true;
  }

  bool boolean(const toml::table& t, std::string_view key, const std::string& where, bool* out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (!n->is_boolean()) return wrong_type(*n, key, where, "true or false");
    *out = n->as_boolean()->get();
    return true;
  }

  // A size: "256M", "1G", "0x100000" or an integer number of bytes.
  bool size(const toml::table& t, std::string_view key, const std::string& where, uint64_t* out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (n->is_integer() && n->as_integer()->get() >= 0) {
      *out = uint64_t(n->as_integer()->get());
      return true;
    }
    if (n->is_string() && parse_size_string(n->as_string()->get(), out)) return true;
    if (!n->is_string() && !n->is_integer())
      return wrong_type(*n, key, where, "a size (\"256M\" or a number of bytes)");
    const std::string v = n->is_string() ? "\"" + n->as_string()->get() + "\""
                                         : std::to_string(n->as_integer()->get());
    error(*n, "bad size " + v + " for '" + std::string(key) + "' in " + where +
                  ": expected bytes with an optional K, M or G suffix, e.g. \"256M\"");
    return false;
  }

  // A duration: "10ms", "500us", "1s".
  bool duration_us(const toml::table& t, std::string_view key, const std::string& where,
                   uint64_t* out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if (n->is_string() && parse_duration_us(n->as_string()->get(), out)) return true;
    error(*n, "bad '" + std::string(key) + "' in " + where +
                  ": expected a duration with its unit, e.g. \"10ms\", \"500us\" or \"1s\"");
    return false;
  }

  // [lo, hi] of integers with lo <= hi <= max.
  bool range(const toml::table& t, std::string_view key, const std::string& where, uint64_t max,
             std::pair<unsigned, unsigned>* out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    const toml::array* a = n->as_array();
    if (!a || a->size() != 2 || !(*a)[0].is_integer() || !(*a)[1].is_integer() ||
        (*a)[0].as_integer()->get() < 0 || (*a)[1].as_integer()->get() < (*a)[0].as_integer()->get() ||
        uint64_t((*a)[1].as_integer()->get()) > max) {
      error(*n, "bad '" + std::string(key) + "' in " + where + ": expected [LOWEST, HIGHEST] with 0 <= LOWEST <= HIGHEST <= " +
                    std::to_string(max));
      return false;
    }
    *out = {unsigned((*a)[0].as_integer()->get()), unsigned((*a)[1].as_integer()->get())};
    return true;
  }

  // The tables of an array of tables ([[key]]), or an error when `key` is something else.
  std::vector<const toml::table*> tables(const toml::table& t, std::string_view key,
                                         const std::string& where) {
    std::vector<const toml::table*> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) {
      error(*n, "'" + std::string(key) + "' in " + where + " must be an array of tables ([[" +
                    std::string(where == "the file" ? "" : "...") + std::string(key) + "]]), not " +
                    type_name(n->type()));
      return out;
    }
    for (const toml::node& e : *a) {
      if (const toml::table* et = e.as_table()) out.push_back(et);
      else error(e, "an element of '" + std::string(key) + "' in " + where + " is " +
                        type_name(e.type()) + ", not a table");
    }
    return out;
  }

  const toml::table* table(const toml::table& t, std::string_view key, const std::string& where) {
    const toml::node* n = t.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
      wrong_type(*n, key, where, "a table");
      return nullptr;
    }
    return n->as_table();
  }

  void require(const toml::table& t, std::string_view key, const std::string& where) {
    if (!t.get(key)) error(t.source().begin, where + " has no '" + std::string(key) + "'");
  }

  // The start of every named element of [[table]]: its line and name, its keys checked; returns
  // how messages call it ("pool 'spare'").
  template <typename T>
  std::string named(const toml::table& t, const std::string& table, const std::string& label,
                    std::initializer_list<std::string_view> keys, T* x) {
    x->line = t.source().begin.line;
    str(t, "name", "a [[" + table + "]]", &x->name);
    const std::string where = label + " '" + x->name + "'";
    check_keys(t, keys, where);
    require(t, "name", "this [[" + table + "]]");
    return where;
  }

  std::string resolve(const std::string& p) const {
    if (p == "-" || p.empty() || p[0] == '/' || base_dir_.empty()) return p;
    return (std::filesystem::path(base_dir_) / p).lexically_normal().string();
  }

 private:
  bool wrong_type(const toml::node& n, std::string_view key, const std::string& where,
                  const char* expected) {
    error(n, "'" + std::string(key) + "' in " + where + " must be " + expected + ", not " +
                 type_name(n.type()));
    return false;
  }

  std::vector<ConfigError>* errors_;
  std::string base_dir_;
};

unsigned line_of(const toml::node& n) { return n.source().begin.line; }

void read_processor_set(Reader& r, const toml::table& t, ProcessorSetConfig* s) {
  const std::string where = r.named(t, "processor_set", "processor set", {"name", "threads"}, s);
  uint64_t n;
  if (r.uint(t, "threads", where, 1, 256, &n)) s->threads = unsigned(n);
}

void read_hypervisor(Reader& r, const toml::table& t, HypervisorConfig* h) {
  const std::string where = r.named(
      t, "hypervisor", "hypervisor",
      {"name", "kind", "processor_set", "scheduler", "time_slice", "priorities",
       "priority_inheritance"}, h);
  r.require(t, "processor_set", where);
  std::string v;
  if (r.str(t, "kind", where, &v)) {
    if (v == "primary") h->kind = HypervisorKind::PRIMARY;
    else if (v == "secondary") h->kind = HypervisorKind::SECONDARY;
    else r.error(*t.get("kind"), "bad kind '" + v + "' of " + where + ": expected primary or secondary");
  }
  r.str(t, "processor_set", where, &h->processor_set);
  if (r.str(t, "scheduler", where, &v)) {
    if (v == "round-robin") h->scheduler = SchedulerKind::ROUND_ROBIN;
    else if (v == "priority") h->scheduler = SchedulerKind::PRIORITY;
    else r.error(*t.get("scheduler"), "bad scheduler '" + v + "' of " + where +
                                         ": expected round-robin or priority");
  }
  uint64_t us;
  if (r.duration_us(t, "time_slice", where, &us)) h->time_slice_us = uint32_t(std::min<uint64_t>(us, ~0u));
  r.range(t, "priorities", where, 255, &h->priority_range);
  r.boolean(t, "priority_inheritance", where, &h->priority_inheritance);
}

void read_pool(Reader& r, const toml::table& t, MemoryPoolConfig* p) {
  const std::string where = r.named(t, "pool", "pool", {"name", "size"}, p);
  r.require(t, "size", where);
  r.size(t, "size", where, &p->size);
}

// [[shared]]: a name, a size and where it is mapped ([[shared.map]]: partition, base, access).
void read_shared(Reader& r, const toml::table& t, SharedRegionConfig* sr) {
  const std::string where = r.named(t, "shared", "shared region", {"name", "size", "map"}, sr);
  r.require(t, "size", where);
  r.size(t, "size", where, &sr->size);
  for (const toml::table* mt : r.tables(t, "map", where)) {
    SharedMapConfig m;
    m.line = line_of(*mt);
    const std::string mwhere = "a map of " + where;
    r.check_keys(*mt, {"partition", "base", "access"}, mwhere);
    r.require(*mt, "partition", mwhere);
    r.require(*mt, "base", mwhere);
    r.str(*mt, "partition", mwhere, &m.partition);
    r.size(*mt, "base", mwhere, &m.guest_base);
    std::string access;
    if (r.str(*mt, "access", mwhere, &access)) {
      if (access == "r") m.perms = 1;
      else if (access == "rw") m.perms = 3;
      else if (access == "rx") m.perms = 5;
      else if (access == "rwx") m.perms = 7;
      else r.error(*mt->get("access"), "bad access '" + access + "' in " + mwhere +
                                           ": expected r, rw, rx or rwx");
    }
    sr->maps.push_back(m);
  }
}

void read_memory(Reader& r, const toml::table& t, const std::string& part, MemoryRegionConfig* m) {
  m->line = line_of(t);
  const std::string where = "a memory region of " + part;
  r.check_keys(t, {"base", "size", "pool"}, where);
  r.require(t, "base", where);
  r.require(t, "size", where);
  r.size(t, "base", where, &m->guest_base);
  r.size(t, "size", where, &m->size);
  m->dynamic = r.str(t, "pool", where, &m->pool);
}

void read_boot(Reader& r, const toml::table& t, const std::string& part, PartitionConfig* p) {
  const std::string where = "the boot of " + part;
  r.check_keys(t, {"disk", "kernel", "initrd", "append", "bios", "firmware"}, where);
  MachineConfig& m = p->machine;
  bool disk = false;
  r.boolean(t, "disk", where, &disk);
  const bool kernel = r.path(t, "kernel", where, &m.kernel_path);
  std::string bios, firmware;
  const bool raw_rom = r.path(t, "bios", where, &bios);
  r.path(t, "initrd", where, &m.initrd_path);
  r.str(t, "append", where, &m.append, /*allow_empty=*/true);
  if (r.path(t, "firmware", where, &firmware)) m.bios_path = firmware;
  const int sources = int(disk) + int(kernel) + int(raw_rom);
  if (sources > 1) {
    r.error(t.source().begin, where + " names " + std::to_string(sources) +
                                  " boot sources: give one of disk = true, kernel or bios");
  }
  if (!kernel && (t.get("initrd") || t.get("append")))
    r.error(t.source().begin, "initrd and append in " + where + " need kernel");
  if (raw_rom && !firmware.empty())
    r.error(t.source().begin, where + ": bios is the firmware; firmware goes with disk or kernel");
  if (disk) p->boot = BootSource::DISK;
  if (kernel) p->boot = BootSource::KERNEL;
  if (raw_rom) {
    p->boot = BootSource::BIOS;
    m.bios_path = bios;
  }
}

// [partition.secondary]: the vCPUs of a partition of the primary that the secondary
// hypervisor schedules (docs/config.md "A partition on both hypervisors"). The checks across
// elements (its hypervisor, vcpu_threads, the indices against vcpus) are config_check's.
void read_split(Reader& r, const toml::table& t, const std::string& where, PartitionConfig* p) {
  const std::string swhere = "the [partition.secondary] of " + where;
  r.check_keys(t, {"hypervisor", "vcpus", "priority"}, swhere);
  r.require(t, "vcpus", swhere);
  SplitConfig s;
  s.line = line_of(t);
  for (const char* key : {"hypervisor", "vcpus", "priority"})
    if (const toml::node* n = t.get(key)) s.lines[key] = line_of(*n);
  r.str(t, "hypervisor", swhere, &s.hypervisor);
  uint64_t n;
  if (r.uint(t, "priority", swhere, 0, 255, &n)) s.priority = unsigned(n);
  if (const toml::node* vn = t.get("vcpus")) {
    const toml::array* a = vn->as_array();
    bool ok = a && !a->empty();
    if (ok)
      for (const toml::node& e : *a)
        ok = ok && e.is_integer() && e.as_integer()->get() >= 0 &&
             e.as_integer()->get() < int64_t(kMaxVcpus);
    if (!ok)
      r.error(*vn, "bad 'vcpus' in " + swhere + ": expected a non-empty array of vCPU indices, "
                   "e.g. [1] (vCPU 0 stays with the primary)");
    else
      for (const toml::node& e : *a) s.vcpus.push_back(unsigned(e.as_integer()->get()));
  }
  p->split = std::move(s);
}

void read_partition(Reader& r, const toml::table& t, PartitionConfig* p) {
  p->line = line_of(t);
  r.str(t, "name", "a [[partition]]", &p->name);
  const std::string where = p->name.empty() ? "the [[partition]] at line " + std::to_string(p->line)
                                            : "partition '" + p->name + "'";
  r.check_keys(t, {"name", "hypervisor", "vcpus", "memory", "disk", "serial", "debugcon", "irq",
                   "boot", "priority", "priority_range", "time_slice", "exit_on_poweroff",
                   "timeout", "insn_limit", "jit", "jit_threshold", "on_triple_fault", "gdb",
                   "screen_dump", "vcpu_threads", "secondary"},
               where);
  r.require(t, "name", "this [[partition]]");
  auto note_line = [&](std::string_view key) {
    if (const toml::node* n = t.get(key)) p->lines[std::string(key)] = line_of(*n);
  };
  MachineConfig& m = p->machine;
  m.serial = "none";  // COM1 is concealed unless the partition is given it
  r.str(t, "hypervisor", where, &p->hypervisor);
  uint64_t n;
  note_line("vcpus");
  if (r.uint(t, "vcpus", where, 1, kMaxVcpus, &n)) p->vcpus = unsigned(n);

  for (const toml::table* mt : r.tables(t, "memory", where)) {
    p->memory.emplace_back();
    read_memory(r, *mt, where, &p->memory.back());
  }

  unsigned next_index = 0;
  for (const toml::table* dt : r.tables(t, "disk", where)) {
    const std::string dwhere = "a disk of " + where;
    r.check_keys(*dt, {"file", "index", "snapshot", "readonly"}, dwhere);
    r.require(*dt, "file", dwhere);
    DriveSpec d;
    d.index = next_index;
    r.path(*dt, "file", dwhere, &d.path);
    if (r.uint(*dt, "index", dwhere, 0, 3, &n)) d.index = unsigned(n);
    next_index = d.index + 1;
    r.boolean(*dt, "snapshot", dwhere, &d.snapshot);
    r.boolean(*dt, "readonly", dwhere, &d.readonly);
    p->lines["disk." + std::to_string(m.drives.size())] = line_of(*dt);
    m.drives.push_back(d);
  }

  const auto serials = r.tables(t, "serial", where);
  for (const toml::table* st : serials) {
    const std::string swhere = "a serial port of " + where;
    r.check_keys(*st, {"port", "backend"}, swhere);
    r.require(*st, "backend", swhere);
    std::string port = "com1", backend;
    r.str(*st, "port", swhere, &port);
    if (port != "com1")
      r.error(*st->get("port"), "serial port '" + port + "' of " + where +
                                    ": this machine has only com1 (0x3F8, IRQ 4)");
    if (st != serials.front())
      r.error(st->source().begin, where + " names com1 twice");
    if (r.str(*st, "backend", swhere, &backend)) {
      if (backend.rfind("file:", 0) == 0) backend = "file:" + r.resolve(backend.substr(5));
      m.serial = backend;
    }
    p->lines["serial"] = line_of(*st);
  }

  for (const toml::table* dt : r.tables(t, "debugcon", where)) {
    const std::string dwhere = "a debugcon of " + where;
    r.check_keys(*dt, {"port", "file"}, dwhere);
    r.require(*dt, "port", dwhere);
    r.require(*dt, "file", dwhere);
    DebugconSpec d{0xE9, "-"};
    if (r.uint(*dt, "port", dwhere, 0, 0xFFFF, &n)) d.port = uint16_t(n);
    r.path(*dt, "file", dwhere, &d.path);
    p->lines["debugcon." + std::to_string(m.debugcons.size())] = line_of(*dt);
    m.debugcons.push_back(d);
  }

  for (const toml::table* it : r.tables(t, "irq", where)) {
    const std::string iwhere = "an irq route of " + where;
    r.check_keys(*it, {"device", "source", "gsi"}, iwhere);
    r.require(*it, "device", iwhere);
    r.require(*it, "gsi", iwhere);
    IrqRouteConfig route;
    route.line = line_of(*it);
    r.str(*it, "device", iwhere, &route.device);
    if (r.uint(*it, "source", iwhere, 0, 7, &n)) route.source = unsigned(n);
    if (r.uint(*it, "gsi", iwhere, 0, 23, &n)) route.gsi = unsigned(n);  // the IOAPIC's 24 inputs
    p->irq_routes.push_back(route);
  }

  note_line("boot");
  if (const toml::table* bt = r.table(t, "boot", where)) {
    p->lines["boot"] = line_of(*bt);
    read_boot(r, *bt, where, p);
  }

  note_line("priority");
  if (r.uint(t, "priority", where, 0, 255, &n)) p->priority = unsigned(n);
  note_line("priority_range");
  std::pair<unsigned, unsigned> range;
  if (r.range(t, "priority_range", where, 255, &range)) p->priority_range = range;
  note_line("time_slice");
  if (r.duration_us(t, "time_slice", where, &n)) p->time_slice_us = uint32_t(std::min<uint64_t>(n, ~0u));
  r.boolean(t, "exit_on_poweroff", where, &p->exit_on_poweroff);

  // The single-guest options (the command line's --timeout, --jit, ...).
  if (const toml::node* tn = t.get("timeout")) {
    const std::optional<double> v = tn->value<double>();
    if (!v || !(*v > 0) || *v > 1e9) r.error(*tn, "bad 'timeout' in " + where + ": expected a positive number of seconds");
    else m.timeout_seconds = *v;
  }
  if (r.uint(t, "insn_limit", where, 1, ~0ull >> 1, &n)) m.insn_limit = n;
  r.boolean(t, "jit", where, &m.jit);
  if (r.uint(t, "jit_threshold", where, 1, 1ull << 40, &n)) m.jit_threshold = n;
  std::string v;
  if (r.str(t, "on_triple_fault", where, &v)) {
    if (v == "reset") m.reset_on_triple_fault = true;
    else if (v == "exit") m.reset_on_triple_fault = false;
    else r.error(*t.get("on_triple_fault"), "bad on_triple_fault '" + v + "' in " + where + ": expected reset or exit");
  }
  // How its vCPUs use host threads (QEMU's -accel tcg,thread=): "single" round-robin on one
  // of its processor set's threads, "multi" one each (docs/config.md).
  note_line("vcpu_threads");
  if (r.str(t, "vcpu_threads", where, &v)) {
    if (v == "multi") m.smp_threads = true;
    else if (v == "single") m.smp_threads = false;
    else r.error(*t.get("vcpu_threads"), "bad vcpu_threads '" + v + "' in " + where + ": expected single or multi");
  }
  if (const toml::table* st = r.table(t, "secondary", where)) read_split(r, *st, where, p);
  note_line("gdb");
  if (r.str(t, "gdb", where, &v)) {
    const size_t colon = v.rfind(':');
    if (v.rfind("tcp:", 0) != 0 || colon <= 3 || colon + 1 == v.size() ||
        v.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
        std::strtoul(v.c_str() + colon + 1, nullptr, 10) > 65535)
      r.error(*t.get("gdb"), "bad gdb '" + v + "' in " + where + ": expected tcp:ADDR:PORT, e.g. tcp:127.0.0.1:1234");
    else m.gdb = v;
  }
  r.path(t, "screen_dump", where, &m.screen_dump_path);
  assign_devices(p, !serials.empty());
}

// Each table of the array of tables `key` read into a new element of *out.
template <typename T>
void read_each(Reader& r, const toml::table& top, std::string_view key, std::vector<T>* out,
               void (*read)(Reader&, const toml::table&, T*)) {
  for (const toml::table* t : r.tables(top, key, "the file")) {
    out->emplace_back();
    read(r, *t, &out->back());
  }
}

void read_top(Reader& r, const toml::table& top, SystemConfig* c) {
  r.check_keys(top, {"machine_memory", "monitor", "processor_set", "hypervisor", "pool",
                     "shared", "partition"}, "the file");
  if (!top.get("machine_memory"))
    r.error(toml::source_position{1, 1}, "the file has no 'machine_memory' (e.g. machine_memory = \"1G\")");
  r.size(top, "machine_memory", "the file", &c->machine_memory);
  std::string monitor;
  if (r.str(top, "monitor", "the file", &monitor)) {  // the primary's console (monitor_console.h)
    const size_t colon = monitor.rfind(':');
    c->monitor_line = unsigned(top.get("monitor")->source().begin.line);
    if (monitor.rfind("tcp:", 0) != 0 || colon < 4 || colon + 1 == monitor.size() ||
        monitor.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
        std::strtoul(monitor.c_str() + colon + 1, nullptr, 10) > 65535)
      r.error(*top.get("monitor"), "bad monitor '" + monitor + "': expected tcp:ADDR:PORT, e.g. "
              "tcp:127.0.0.1:4444 (tcp::PORT is the loopback address)");
    else c->monitor = monitor;
  }
  read_each(r, top, "processor_set", &c->processor_sets, read_processor_set);
  read_each(r, top, "hypervisor", &c->hypervisors, read_hypervisor);
  read_each(r, top, "pool", &c->pools, read_pool);
  read_each(r, top, "shared", &c->shared, read_shared);
  read_each(r, top, "partition", &c->partitions, read_partition);
  // A partition that names no hypervisor runs under the primary.
  for (PartitionConfig& p : c->partitions)
    if (p.hypervisor.empty())
      for (const HypervisorConfig& h : c->hypervisors)
        if (h.kind == HypervisorKind::PRIMARY) {
          p.hypervisor = h.name;
          break;
        }
}

// ---- Text that toml++ 3.3 must not be given ---------------------------------------------------
//
// Why: toml++ 3.3 (Debian 12's libtomlplusplus3, which softcpu links) decides whether a
// non-ASCII character is whitespace with is_non_ascii_horizontal_whitespace()
// (toml++/impl/unicode_autogenerated.h), a generated function whose switch has no case for four
// ranges of code points: U+00A1-U+0499, U+2C5E-U+2FFF, U+3001-U+3057 and U+FB26-U+FEFE pass
// its first two tests and reach TOML_UNREACHABLE, i.e. __builtin_unreachable(). Asking about
// one of them is undefined behaviour in the parser, in the shipped softcpu as in the fuzz tree
// (where fuzz_config found it under UBSan: tests/fuzz/regressions/config/ubsan-toml-*).
// Upstream fixed the table in 2026 (marzer/tomlplusplus#305), after 3.3. So before the text goes
// to toml++, toml_unsafe_char() looks for such a character where the 3.3 parser asks about one:
//   - outside strings and comments (between tokens, in keys, in bare values such as numbers
//     and dates: consume_leading_whitespace(), is_value_terminator(), parse_key()'s recording).
//     TOML allows non-ASCII text only in strings and comments, so this refuses nothing valid;
//   - in a """ string, the character after a backslash (an escape or a line-ending backslash)
//     and, after a line-ending backslash, the whitespace it skips and the first character after
//     it: the one place where valid TOML is refused (a continued line that begins with such a
//     character; the message suggests \uXXXX, which says the same and is accepted).
// The bodies of strings and comments are never asked about and pass. To tell them apart this
// follows TOML's structure (tables, keys, values, arrays, inline tables, the four kinds of
// string) as the 3.3 parser does, including its look-ahead: a value that begins with no quote,
// [ or { is read up to a value terminator (whitespace, ] } , #) whatever it holds, so a quote in
// it starts no string here either. Where the text stops being TOML (toml++ reports a syntax
// error there or earlier, and throws: it reads no further) the rest is checked as if outside
// strings, so this may name a character after toml++'s error instead of that error, and never
// lets through one that toml++ would ask about. UTF-8 is decoded leniently (overlong forms too):
// toml++ stops at the first malformed sequence, so only well-formed text before it matters.

constexpr bool toml33_unreachable(char32_t c) {
  return (c >= 0xA1 && c <= 0x499) || (c >= 0x2C5E && c <= 0x2FFF) ||
         (c >= 0x3001 && c <= 0x3057) || (c >= 0xFB26 && c <= 0xFEFE);
}

struct TomlChar {
  char32_t c;  // 0x110000: a byte that begins no UTF-8 sequence
  unsigned line, column;
};

std::vector<TomlChar> decode_lenient(std::string_view text) {
  std::vector<TomlChar> out;
  out.reserve(text.size());
  unsigned line = 1, column = 1;
  size_t i = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;  // toml++ skips a byte order mark
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    unsigned len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    char32_t c = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (unsigned k = 1; k < len; ++k) {
      if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        len = 0;
        break;
      }
      c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    if (len == 0) c = 0x110000, len = 1;
    out.push_back({c, line, column});
    i += len;
    if (c == '\n') line++, column = 1;
    else column++;
  }
  return out;
}

bool is_bare_key_char(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
bool is_control(char32_t c) { return (c < 0x20 && c != '\t') || c == 0x7F; }
bool is_hws(char32_t c) { return c == ' ' || c == '\t'; }
// The horizontal whitespace toml++ 3.3 knows beyond ASCII (where its table does answer), and
// its vertical whitespace (line breaks, of which TOML accepts only \n and \r\n).
bool is_other_whitespace(char32_t c) {
  return c == 0xA0 || c == 0x1680 || c == 0x180E || (c >= 0x2000 && c <= 0x200B) || c == 0x202F ||
         c == 0x205F || c == 0x2060 || c == 0x3000 || c == 0xFEFF;
}
bool is_vertical_whitespace(char32_t c) { return (c >= '\n' && c <= '\r') || c == 0x85 || c == 0x2028 || c == 0x2029; }

std::string code_point(char32_t c) {
  char s[16];
  std::snprintf(s, sizeof s, "%04X", static_cast<unsigned>(c));
  return s;
}

// The first character of `text` that toml++ 3.3 would look up in its broken table (above), as
// a ConfigError with its line and column; false if there is none.
bool toml_unsafe_char(std::string_view text, ConfigError* found) {
  const std::vector<TomlChar> t = decode_lenient(text);
  const size_t n = t.size();
  auto at = [&](size_t k) -> char32_t { return k < n ? t[k].c : 0; };
  auto report = [&](size_t k, const std::string& where) {
    *found = {t[k].line, t[k].column, "TOML syntax: character U+" + code_point(t[k].c) + " " + where};
    return true;
  };
  const std::string outside =
      "outside a string or comment (TOML allows non-ASCII text only in strings and comments)";
  // A line break (\n or \r\n) at k: its length, 0 if there is none.
  auto line_break = [&](size_t k) -> size_t {
    return at(k) == '\n' ? 1 : at(k) == '\r' && at(k + 1) == '\n' ? 2 : 0;
  };
  // Where a string or a bare value ends, in the container it is in.
  enum class Ctx { TOP, HEADER, ARRAY, INLINE_TABLE };
  enum class St { LINE, KEY, AFTER_KEY, VALUE, AFTER_VALUE, HEADER_END, ERROR };
  std::vector<Ctx> ctx{Ctx::TOP};
  St st = St::LINE;
  bool array_header = false, brace_may_close = false;

  size_t k = 0;
  while (k < n) {
    const char32_t c = t[k].c;
    if (toml33_unreachable(c)) return report(k, outside);
    if (st == St::ERROR || is_hws(c)) {
      k++;
      continue;
    }
    const Ctx in = ctx.back();
    const bool in_array = in == Ctx::ARRAY && (st == St::VALUE || st == St::AFTER_VALUE);
    if (const size_t lb = line_break(k)) {
      if (in == Ctx::TOP && (st == St::AFTER_VALUE || st == St::HEADER_END)) st = St::LINE;
      else if (st != St::LINE && !in_array) st = St::ERROR;
      k += lb;
      continue;
    }
    if (c == '#') {
      if (st == St::LINE || st == St::HEADER_END || (in == Ctx::TOP && st == St::AFTER_VALUE) || in_array) {
        k++;  // a comment, up to the line break (which the state above handles)
        while (k < n && !line_break(k) && !is_control(t[k].c)) k++;
        if (k < n && !line_break(k)) st = St::ERROR;
      } else {
        st = St::ERROR;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      if (st != St::LINE && st != St::KEY && st != St::VALUE) {
        st = St::ERROR;
        continue;
      }
      const bool key = st != St::VALUE;
      bool closed = false;
      if (at(k + 1) == c && at(k + 2) != c) {  // "" or '': empty
        k += 2;
        closed = true;
      } else if (at(k + 1) != c) {  // on one line; in a basic string \ escapes one character
        for (k++; k < n && !closed && !is_control(t[k].c); k++) {
          if (t[k].c == c) closed = true;
          else if (t[k].c == '\\' && c == '"' && !is_control(at(k + 1))) k++;
        }
      } else if (c == '\'') {  // ''' to ''' (four or five quotes: the last two are the end)
        for (k += 3; k < n && !closed;) {
          if (t[k].c == c) {
            size_t run = 0;
            while (run < 5 && at(k + run) == c) run++;
            k += run;
            closed = run >= 3;
          } else if (const size_t lb = line_break(k)) {
            k += lb;
          } else if (is_control(t[k].c)) {
            break;
          } else {
            k++;
          }
        }
      } else {  // """ to """: what toml++ 3.3's parse_basic_string(true) asks about
        bool skipping = false;  // after a line-ending backslash, up to the next other character
        for (k += 3; k < n && !closed;) {
          const char32_t s = t[k].c;
          if (s == '\\') {
            skipping = false;
            const char32_t e = at(k + 1);
            if (toml33_unreachable(e)) return report(k + 1, "after a backslash in a \"\"\" string");
            if (!is_hws(e) && !is_other_whitespace(e) && !is_vertical_whitespace(e)) {
              k += 2;  // an escape (\uXXXX's digits are ASCII)
              continue;
            }
            // A line-ending backslash: spaces and tabs, then a line break.
            for (k++; k < n && is_hws(t[k].c);) k++;
            if (k < n && toml33_unreachable(t[k].c))
              return report(k, "after a line-ending backslash in a \"\"\" string (only spaces and tabs "
                               "may follow it on its line)");
            const size_t lb = line_break(k);
            if (!lb) break;
            k += lb;
            skipping = true;
          } else if (s == '"') {
            size_t run = 0;
            while (run < 5 && at(k + run) == '"') run++;
            k += run;
            closed = run >= 3;
            skipping = false;
          } else if (const size_t lb = line_break(k)) {
            k += lb;
          } else if (is_control(s)) {
            break;
          } else {
            if (skipping && toml33_unreachable(s))
              return report(k, "first on a line continued by a line-ending backslash in a \"\"\" "
                               "string: toml++ 3.3, which reads the file, cannot take it there "
                               "(write it as \\u" + code_point(s) + ")");
            if (!is_hws(s) && !is_other_whitespace(s)) skipping = false;
            k++;
          }
        }
      }
      if (!closed) st = St::ERROR;
      else st = key ? St::AFTER_KEY : St::AFTER_VALUE;
      continue;
    }
    switch (st) {
      case St::LINE:
        if (c == '[') {  // a table header: [key] or [[key]]
          array_header = at(k + 1) == '[';
          k += array_header ? 2 : 1;
          ctx.push_back(Ctx::HEADER);
          st = St::KEY;
          brace_may_close = false;
          continue;
        }
        [[fallthrough]];
      case St::KEY:
        if (c == '}' && st == St::KEY && brace_may_close) {  // {}
          k++;
          ctx.pop_back();
          st = St::AFTER_VALUE;
        } else if (is_bare_key_char(c)) {
          while (k < n && is_bare_key_char(t[k].c)) k++;
          st = St::AFTER_KEY;
        } else {
          st = St::ERROR;
        }
        continue;
      case St::AFTER_KEY:
        k++;
        brace_may_close = false;
        if (c == '.') {
          st = St::KEY;
        } else if (c == '=' && in != Ctx::HEADER) {
          st = St::VALUE;
        } else if (c == ']' && in == Ctx::HEADER && (!array_header || at(k) == ']')) {
          k += array_header ? 1 : 0;
          ctx.pop_back();
          st = St::HEADER_END;
        } else {
          st = St::ERROR;
        }
        continue;
      case St::VALUE:
        if (c == '[' || c == '{') {
          k++;
          ctx.push_back(c == '[' ? Ctx::ARRAY : Ctx::INLINE_TABLE);
          st = c == '[' ? St::VALUE : St::KEY;
          brace_may_close = c == '{';
        } else if (c == ']' && in == Ctx::ARRAY) {
          k++;
          ctx.pop_back();
          st = St::AFTER_VALUE;
        } else if (c == ',' || c == ']' || c == '}' || c == '=') {
          st = St::ERROR;
        } else {
          // A bare value (a number, date, boolean, inf or nan, or a mistake): toml++ reads
          // ahead to a value terminator whatever comes first, quotes too, and past a space
          // that a digit follows (a date-time with a space for its T).
          for (; k < n; k++) {
            const char32_t v = t[k].c;
            if (toml33_unreachable(v)) return report(k, outside);
            if (v == ' ' && at(k + 1) >= '0' && at(k + 1) <= '9') continue;
            if (is_hws(v) || (v >= '\n' && v <= '\r') || v == ']' || v == '}' || v == ',' || v == '#') break;
          }
          st = St::AFTER_VALUE;
        }
        continue;
      case St::AFTER_VALUE:
        if (c == ',' && (in == Ctx::ARRAY || in == Ctx::INLINE_TABLE)) {
          k++;
          st = in == Ctx::ARRAY ? St::VALUE : St::KEY;
          brace_may_close = false;
        } else if ((c == ']' && in == Ctx::ARRAY) || (c == '}' && in == Ctx::INLINE_TABLE)) {
          k++;
          ctx.pop_back();
        } else {
          st = St::ERROR;
        }
        continue;
      case St::HEADER_END:
      case St::ERROR:
        st = St::ERROR;
        continue;
    }
  }
  return false;
}

}  // namespace

bool parse_size_string(const std::string& s, uint64_t* out) {
  size_t digits_end = s.find_first_not_of("0123456789abcdefABCDEFxX");
  std::string digits = s.substr(0, digits_end), unit = digits_end == std::string::npos ? "" : s.substr(digits_end);
  // A hex number's digits may swallow no unit letter other than hex digits; "1G" / "64K" parse.
  if (digits.empty()) return false;
  const bool hex = digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
  if (!hex && digits.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(digits.c_str(), &end, hex ? 16 : 10);
  if (errno || *end) return false;
  uint64_t mul = 1;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "K" || unit == "KiB" || unit == "k") mul = 1ull << 10;
  else if (unit == "M" || unit == "MiB") mul = 1ull << 20;
  else if (unit == "G" || unit == "GiB") mul = 1ull << 30;
  else return false;
  if (n > (1ull << 50) / mul) return false;
  *out = n * mul;
  return true;
}

std::string format_size(uint64_t bytes) {
  if (bytes && bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + "G";
  if (bytes && bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "M";
  if (bytes && bytes % (1ull << 10) == 0) return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

bool parse_system_config(std::string_view text, const std::string& source,
                         const std::string& base_dir, SystemConfig* out,
                         std::vector<ConfigError>* errors) {
  const size_t before = errors->size();
  out->source = source;
  toml::table top;
  ConfigError unsafe;
  if (toml_unsafe_char(text, &unsafe)) {  // undefined behaviour in toml++ 3.3 (above)
    errors->push_back(std::move(unsafe));
    return false;
  }
  try {
    top = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    errors->push_back({e.source().begin.line, e.source().begin.column,
                       "TOML syntax: " + std::string(e.description())});
    return false;
  }
  Reader r(errors, base_dir);
  read_top(r, top, out);
  return errors->size() == before;
}

bool read_system_config(const std::string& path, SystemConfig* out,
                        std::vector<ConfigError>* errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors->push_back({0, 0, std::string("cannot read the file: ") + std::strerror(errno)});
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  const size_t before = errors->size();
  const std::string dir = std::filesystem::path(path).parent_path().string();
  parse_system_config(text.str(), path, dir, out, errors);
  if (errors->size() > before && errors->back().message.rfind("TOML syntax", 0) == 0) return false;
  check_system_config(*out, errors);
  return errors->size() == before;
}

std::string format_config_error(const std::string& source, const ConfigError& e) {
  std::string s = source;
  if (e.line) s += ":" + std::to_string(e.line);
  if (e.line && e.column) s += ":" + std::to_string(e.column);
  return s + ": " + e.message;
}

}  // namespace softcpu::hv
