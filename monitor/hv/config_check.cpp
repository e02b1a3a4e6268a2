// The checks across a system description's elements (docs/config.md).
#include "monitor/hv/config_check.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "monitor/hv/devices.h"
#include "monitor/irq_routes.h"

namespace softcpu::hv {

namespace {

constexpr uint64_t kPage = 4096;

unsigned line_of(const PartitionConfig& p, const std::string& key) {
  auto it = p.lines.find(key);
  return it != p.lines.end() && it->second ? it->second : p.line;
}

std::string hex(uint64_t v) {
  char s[24];
  std::snprintf(s, sizeof s, "0x%llx", static_cast<unsigned long long>(v));
  return s;
}

// The same file however it is spelled. Never throws: absolute() of an empty path (a disk
// without its `file`, which the reader has reported already) is an error, not a path
// (fuzz_config's first finding: check-config died of the uncaught filesystem_error).
std::string canonical(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) return path;
  std::filesystem::path p = std::filesystem::weakly_canonical(absolute, ec);
  return ec ? path : p.string();
}

class Checker {
 public:
  Checker(const SystemConfig& c, std::vector<ConfigError>* errors) : c_(c), errors_(errors) {}

  void run() {
    // (Unless the reader has already said what is wrong with machine_memory.)
    bool said = false;
    for (const ConfigError& e : *errors_) said = said || e.message.find("machine_memory") != std::string::npos;
    if (c_.machine_memory == 0 && !said) error(0, "machine_memory is 0: give the machine's memory, e.g. \"1G\"");
    names();
    hypervisors();
    pools();
    if (c_.partitions.empty()) error(0, "no [[partition]]: a system needs at least one");
    for (const PartitionConfig& p : c_.partitions) partition(p);
    shared_memory();
    shared_devices();
    memory_total();
  }

 private:
  void error(unsigned line, std::string message) { errors_->push_back({line, 0, std::move(message)}); }

  // Names are unique within their kind (processor sets, hypervisors, pools, partitions).
  template <typename T>
  void unique(const std::vector<T>& items, const char* kind) {
    std::map<std::string, unsigned> seen;
    for (const T& x : items) {
      if (x.name.empty()) continue;  // the reader said so already
      auto [it, fresh] = seen.emplace(x.name, x.line);
      if (!fresh)
        error(x.line, std::string("duplicate ") + kind + " name '" + x.name + "' (first at line " +
                          std::to_string(it->second) + ")");
    }
  }

  void names() {
    unique(c_.processor_sets, "processor set");
    unique(c_.hypervisors, "hypervisor");
    unique(c_.pools, "pool");
    unique(c_.partitions, "partition");
    for (const ProcessorSetConfig& s : c_.processor_sets)
      if (s.threads == 0 || s.threads > 256)
        error(s.line, "processor set '" + s.name + "' has " + std::to_string(s.threads) +
                          " threads: expected 1 to 256");
  }

  const ProcessorSetConfig* find_set(const std::string& name) const {
    for (const ProcessorSetConfig& s : c_.processor_sets)
      if (s.name == name) return &s;
    return nullptr;
  }
  const HypervisorConfig* find_hypervisor(const std::string& name) const {
    for (const HypervisorConfig& h : c_.hypervisors)
      if (h.name == name) return &h;
    return nullptr;
  }
  const MemoryPoolConfig* find_pool(const std::string& name) const {
    for (const MemoryPoolConfig& p : c_.pools)
      if (p.name == name) return &p;
    return nullptr;
  }

  template <typename T>
  static std::string known(const std::vector<T>& items) {
    std::string s;
    for (const T& x : items) s += (s.empty() ? "" : ", ") + x.name;
    return s.empty() ? "none defined" : "known: " + s;
  }

  void hypervisors() {
    unsigned primaries = 0, secondaries = 0;
    std::map<std::string, const HypervisorConfig*> on_set;
    for (const HypervisorConfig& h : c_.hypervisors) {
      (h.kind == HypervisorKind::PRIMARY ? primaries : secondaries)++;
      if (!h.processor_set.empty()) {
        if (!find_set(h.processor_set))
          error(h.line, "hypervisor '" + h.name + "' runs on unknown processor set '" +
                            h.processor_set + "' (" + known(c_.processor_sets) + ")");
        auto [it, fresh] = on_set.emplace(h.processor_set, &h);
        if (!fresh)
          error(h.line, "hypervisors '" + it->second->name + "' and '" + h.name +
                            "' both run on processor set '" + h.processor_set +
                            "': each hypervisor has its own set");
      }
      if (h.time_slice_us < 100 || h.time_slice_us > 10000000)
        error(h.line, "time_slice of hypervisor '" + h.name + "' is " +
                          std::to_string(h.time_slice_us) + " us: expected 100us to 10s");
      if (h.priority_range.first > h.priority_range.second)
        error(h.line, "priorities of hypervisor '" + h.name + "' are empty (lowest > highest)");
    }
    if (primaries != 1)
      error(0, "the system has " + std::to_string(primaries) +
                   " primary hypervisors: give exactly one [[hypervisor]] with kind = \"primary\"");
    if (secondaries > 1)
      error(0, "the system has " + std::to_string(secondaries) +
                   " secondary hypervisors: at most one is supported");
  }

  void pools() {
    for (const MemoryPoolConfig& p : c_.pools)
      if (p.size == 0 || p.size % kPage)
        error(p.line, "pool '" + p.name + "' has size " + std::to_string(p.size) +
                          ": expected a positive multiple of 4K");
  }

  void partition(const PartitionConfig& p) {
    const std::string who = p.name.empty() ? "the [[partition]] at line " + std::to_string(p.line)
                                           : "partition '" + p.name + "'";
    const HypervisorConfig* h = nullptr;
    if (p.hypervisor.empty()) {
      error(p.line, who + " names no hypervisor and there is no primary to default to");
    } else if (!(h = find_hypervisor(p.hypervisor))) {
      error(p.line, who + " names unknown hypervisor '" + p.hypervisor + "' (" +
                        known(c_.hypervisors) + ")");
    }
    if (p.vcpus == 0 || p.vcpus > kMaxVcpus)
      error(line_of(p, "vcpus"), who + " has " + std::to_string(p.vcpus) + " vCPUs: expected 1 to " +
                                     std::to_string(kMaxVcpus));
    if (p.machine.smp_threads) threads(p, who, h);
    memory(p, who);
    boot(p, who);
    routes(p, who);
    for (size_t x = 0; x < p.machine.drives.size(); ++x)
      for (size_t y = x + 1; y < p.machine.drives.size(); ++y)
        if (p.machine.drives[x].index == p.machine.drives[y].index)
          error(line_of(p, "disk." + std::to_string(y)),
                who + " has two disks at IDE index " + std::to_string(p.machine.drives[y].index) +
                    " ('" + p.machine.drives[x].path + "' and '" + p.machine.drives[y].path + "')");
    if (h) priorities(p, who, *h);
    if (p.split) split(p, who, h);
  }

  // [partition.secondary]: some vCPUs of a partition of the primary on the secondary
  // (docs/config.md "A partition on both hypervisors").
  void split(const PartitionConfig& p, const std::string& who, const HypervisorConfig* h) {
    const SplitConfig& s = *p.split;
    auto at = [&](const char* key) {
      auto it = s.lines.find(key);
      return it != s.lines.end() ? it->second : s.line;
    };
    if (h && h->kind != HypervisorKind::PRIMARY)
      error(s.line, who + " has a [partition.secondary] but runs on the secondary hypervisor '" +
                        h->name + "': only a partition of the primary puts vCPUs on the secondary");
    if (!p.machine.smp_threads)
      error(s.line, who + " has a [partition.secondary] without vcpu_threads = \"multi\": "
                          "its vCPUs must each run on a thread of their own");
    const HypervisorConfig* sec = nullptr;
    if (!s.hypervisor.empty()) {
      sec = find_hypervisor(s.hypervisor);
      if (!sec)
        error(at("hypervisor"), "the [partition.secondary] of " + who + " names unknown "
                                "hypervisor '" + s.hypervisor + "' (" + known(c_.hypervisors) + ")");
      else if (sec->kind != HypervisorKind::SECONDARY)
        error(at("hypervisor"), "the [partition.secondary] of " + who + " names hypervisor '" +
                                    s.hypervisor + "', which is not the secondary");
    } else {
      for (const HypervisorConfig& x : c_.hypervisors)
        if (x.kind == HypervisorKind::SECONDARY) sec = &x;
      if (!sec)
        error(s.line, who + " has a [partition.secondary] but the system has no secondary "
                            "hypervisor");
    }
    std::set<unsigned> seen;
    for (unsigned v : s.vcpus) {
      if (v == 0)
        error(at("vcpus"), "the [partition.secondary] of " + who + " names vCPU 0, which stays "
                           "with the primary (it services the partition's devices)");
      else if (v >= p.vcpus)
        error(at("vcpus"), "the [partition.secondary] of " + who + " names vCPU " +
                               std::to_string(v) + " but the partition has " +
                               std::to_string(p.vcpus) + " (0 to " + std::to_string(p.vcpus - 1) + ")");
      else if (!seen.insert(v).second)
        error(at("vcpus"), "the [partition.secondary] of " + who + " names vCPU " +
                               std::to_string(v) + " twice");
    }
    if (sec && sec->kind == HypervisorKind::SECONDARY && s.priority) {
      const auto [lo, hi] = sec->priority_range;
      if (*s.priority < lo || *s.priority > hi)
        error(at("priority"), "the [partition.secondary] of " + who + " has priority " +
                                  std::to_string(*s.priority) + ", outside hypervisor '" +
                                  sec->name + "''s range " + std::to_string(lo) + "-" +
                                  std::to_string(hi));
    }
  }

  // vcpu_threads = "multi": each vCPU takes one of its processor set's threads while the
  // partition runs (docs/design.md "SMP partitions on a processor set").
  void threads(const PartitionConfig& p, const std::string& who, const HypervisorConfig* h) {
    const unsigned line = line_of(p, "vcpu_threads");
    if (p.vcpus < 2) {
      error(line, who + " has vcpu_threads = \"multi\" with " + std::to_string(p.vcpus) +
                      " vCPU: it needs vcpus of 2 or more");
      return;
    }
    if (!h) return;
    // A thin partition: its vCPUs on up to `vcpus` of the secondary's workers at once; with
    // fewer workers the rest wait (docs/design.md "A thin partition on several workers").
    // The vCPUs the secondary schedules ([partition.secondary]) take none of the set's threads.
    const unsigned own = p.vcpus - (p.split ? unsigned(p.split->vcpus.size()) : 0);
    const ProcessorSetConfig* set = find_set(h->processor_set);
    if (h->kind != HypervisorKind::SECONDARY && set && set->threads < own)
      error(line, who + " has vcpu_threads = \"multi\": its " + std::to_string(own) +
                      " vCPUs" + (p.split ? " on the primary" : "") + " need " + std::to_string(own) +
                      " threads of processor set '" + set->name + "', which has " +
                      std::to_string(set->threads));
    if (!p.machine.gdb.empty())
      error(line_of(p, "gdb"), who + " has vcpu_threads = \"multi\" and gdb: the stub debugs one CPU");
  }

  void memory(const PartitionConfig& p, const std::string& who) {
    bool has_zero = false;
    for (const MemoryRegionConfig& m : p.memory) {
      if (m.size == 0 || m.size % kPage || m.guest_base % kPage) {
        error(m.line, "memory region at " + hex(m.guest_base) + " of " + who +
                          ": base and size must be multiples of 4K and the size positive");
        continue;
      }
      if (m.guest_base + m.size > kGuestMemoryTop)
        error(m.line, "memory region " + hex(m.guest_base) + "-" + hex(m.guest_base + m.size - 1) +
                          " of " + who + " ends above 3G (the PCI and firmware hole)");
      if (m.dynamic) {
        const MemoryPoolConfig* pool = find_pool(m.pool);
        if (!pool)
          error(m.line, "memory region of " + who + " borrows from unknown pool '" + m.pool +
                            "' (" + known(c_.pools) + ")");
        else if (m.size > pool->size)
          error(m.line, "dynamic memory region of " + who + " (" + format_size(m.size) +
                            ") is larger than its pool '" + pool->name + "' (" +
                            format_size(pool->size) + ")");
      } else if (m.guest_base == 0) {
        has_zero = true;
      }
    }
    // Any two regions of one partition overlap, its shared maps included: one guest-physical
    // address, two meanings.
    struct Span {
      uint64_t base, size;
      unsigned line;
      std::string what;
    };
    std::vector<Span> spans;
    for (const MemoryRegionConfig& m : p.memory) spans.push_back({m.guest_base, m.size, m.line, "memory region"});
    for (const SharedRegionConfig& sr : c_.shared)
      for (const SharedMapConfig& m : sr.maps)
        if (m.partition == p.name && sr.size && sr.size % kPage == 0 && m.guest_base % kPage == 0)
          spans.push_back({m.guest_base, sr.size, m.line, "shared region '" + sr.name + "'"});
    for (size_t x = 0; x < spans.size(); ++x)
      for (size_t y = x + 1; y < spans.size(); ++y) {
        const Span& a = spans[x];
        const Span& b = spans[y];
        if (a.size && b.size && a.base < b.base + b.size && b.base < a.base + a.size)
          error(b.line, b.what + " " + hex(b.base) + "-" + hex(b.base + b.size - 1) + " of " + who +
                            " overlaps " + (a.what == "memory region" ? "the region" : a.what) +
                            " " + hex(a.base) + "-" +
                            hex(a.base + a.size - 1) + " at line " + std::to_string(a.line));
      }
    if (static_memory(p) == 0)
      error(p.line, who + " has no static memory (give a [[partition.memory]] with base and size)");
    else if (!has_zero)
      error(p.line, who + " has no static memory at guest-physical 0 (a PC needs RAM from 0)");
  }

  void boot(const PartitionConfig& p, const std::string& who) {
    const unsigned line = line_of(p, "boot");
    switch (p.boot) {
      case BootSource::NONE:
        error(line, who + " has no boot source: give [partition.boot] with disk = true, kernel "
                          "or bios");
        break;
      case BootSource::DISK:
        if (p.machine.drives.empty())
          error(line, who + " boots from disk but has no [[partition.disk]]");
        break;
      case BootSource::KERNEL:
        if (p.machine.kernel_path.empty()) error(line, who + " boots a kernel but names none");
        break;
      case BootSource::BIOS:
        if (p.machine.bios_path.empty()) error(line, who + " boots a ROM but names none");
        break;
    }
  }

  void routes(const PartitionConfig& p, const std::string& who) {
    std::map<unsigned, const IrqRouteConfig*> by_gsi;
    std::map<std::pair<std::string, unsigned>, const IrqRouteConfig*> by_source;
    for (const IrqRouteConfig& r : p.irq_routes) {
      const unsigned line = r.line ? r.line : p.line;
      if (std::find(p.devices.begin(), p.devices.end(), r.device) == p.devices.end()) {
        std::string owned;
        for (const std::string& d : p.devices) owned += (owned.empty() ? "" : ", ") + d;
        error(line, "irq route of " + who + " for device '" + r.device +
                        "', which the partition does not own (it owns: " +
                        (owned.empty() ? "nothing" : owned) + ")");
        continue;
      }
      if (pc_at_irq(r.device, 0) < 0) {
        error(line, "irq route of " + who + " for '" + r.device + "', which has no interrupt");
        continue;
      }
      if (pc_at_irq(r.device, r.source) < 0) {
        error(line, "irq route of " + who + " for interrupt " + std::to_string(r.source) +
                        " of '" + r.device + "', which has only interrupt 0");
        continue;
      }
      if (const char* holder = reserved_gsi_holder(r.gsi)) {
        error(line, "gsi " + std::to_string(r.gsi) + " of " + who + " (for '" + r.device +
                        "') is " + holder + "'s, which the VMM keeps for every partition");
        continue;
      }
      auto [g, fresh_gsi] = by_gsi.emplace(r.gsi, &r);
      auto name = [&](const IrqRouteConfig& x) {
        return "'" + x.device + "' (" + (x.implied ? "its default route, " : "") + "line " +
               std::to_string(x.line ? x.line : p.line) + ")";
      };
      if (!fresh_gsi)
        error(line, "gsi " + std::to_string(r.gsi) + " of " + who + " is routed twice: " +
                        name(*g->second) + " and " + name(r));
      auto [s, fresh_source] = by_source.emplace(std::make_pair(r.device, r.source), &r);
      if (!fresh_source && fresh_gsi)
        error(line, "interrupt " + std::to_string(r.source) + " of '" + r.device + "' in " + who +
                        " is routed twice (gsi " + std::to_string(s->second->gsi) + " and " +
                        std::to_string(r.gsi) + ")");
    }
  }

  void priorities(const PartitionConfig& p, const std::string& who, const HypervisorConfig& h) {
    const auto [lo, hi] = h.priority_range;
    auto in_hv = [&](unsigned v) { return v >= lo && v <= hi; };
    const std::string hv_range = std::to_string(lo) + "-" + std::to_string(hi);
    if ((p.priority || p.priority_range) && h.scheduler != SchedulerKind::PRIORITY)
      error(line_of(p, p.priority ? "priority" : "priority_range"),
            who + " has a priority but hypervisor '" + h.name +
                "' schedules round robin (give it scheduler = \"priority\")");
    if (p.priority && !in_hv(*p.priority))
      error(line_of(p, "priority"), who + " has priority " + std::to_string(*p.priority) +
                                        ", outside hypervisor '" + h.name + "''s range " + hv_range);
    if (p.priority_range) {
      const auto [plo, phi] = *p.priority_range;
      if (!in_hv(plo) || !in_hv(phi))
        error(line_of(p, "priority_range"),
              who + " has priority_range " + std::to_string(plo) + "-" + std::to_string(phi) +
                  ", outside hypervisor '" + h.name + "''s range " + hv_range);
      if (p.priority && (*p.priority < plo || *p.priority > phi))
        error(line_of(p, "priority"), who + " has priority " + std::to_string(*p.priority) +
                                          " outside its own priority_range");
    }
    if (p.time_slice_us && (*p.time_slice_us < 100 || *p.time_slice_us > 10000000))
      error(line_of(p, "time_slice"), "time_slice of " + who + " is " +
                                          std::to_string(*p.time_slice_us) +
                                          " us: expected 100us to 10s");
  }

  // Shared regions: sized in pages, mapped into two or more known partitions, once each, at
  // page-aligned bases below 3G (overlaps with a partition's other memory: memory()).
  void shared_memory() {
    unique(c_.shared, "shared region");
    for (const SharedRegionConfig& sr : c_.shared) {
      const std::string who = "shared region '" + sr.name + "'";
      const bool sized = sr.size && sr.size % kPage == 0;
      if (!sized)
        error(sr.line, who + " has size " + std::to_string(sr.size) +
                           ": expected a positive multiple of 4K");
      if (sr.maps.size() < 2)
        error(sr.line, who + " is mapped into " + std::to_string(sr.maps.size()) +
                           " partitions: give two or more [[shared.map]] (partition, base, access)");
      std::map<std::string, unsigned> seen;
      for (const SharedMapConfig& m : sr.maps) {
        if (m.partition.empty()) continue;  // the reader said so
        if (std::none_of(c_.partitions.begin(), c_.partitions.end(),
                         [&](const PartitionConfig& p) { return p.name == m.partition; }))
          error(m.line, who + " is mapped into unknown partition '" + m.partition + "' (" +
                            known(c_.partitions) + ")");
        auto [it, fresh] = seen.emplace(m.partition, m.line);
        if (!fresh)
          error(m.line, who + " is mapped into partition '" + m.partition + "' twice (first at line " +
                            std::to_string(it->second) + ")");
        if (m.guest_base % kPage)
          error(m.line, who + " in partition '" + m.partition + "' at " + hex(m.guest_base) +
                            ": the base must be a multiple of 4K");
        else if (sized && m.guest_base + sr.size > kGuestMemoryTop)
          error(m.line, who + " in partition '" + m.partition + "' at " + hex(m.guest_base) + "-" +
                            hex(m.guest_base + sr.size - 1) + " ends above 3G (the PCI and firmware hole)");
      }
    }
  }

  // A host resource (an image file, a serial backend, a debugger port) belongs to one partition.
  // Disk images are the exception when every partition opens them snapshot or read-only: then
  // none of them writes the file.
  void shared_devices() {
    struct Use {
      const PartitionConfig* p;
      unsigned line;
      bool writes;
    };
    std::map<std::string, std::vector<Use>> disks;
    std::map<std::string, Use> host;  // "serial stdio", "file /x", "tcp 1234", "gdb 1234"
    auto claim = [&](const std::string& key, const std::string& what, const PartitionConfig& p,
                     unsigned line) {
      auto [it, fresh] = host.emplace(key, Use{&p, line, true});
      if (!fresh && it->second.p != &p)
        error(line, what + " is given to partitions '" + it->second.p->name + "' (line " +
                        std::to_string(it->second.line) + ") and '" + p.name + "'");
      else if (!fresh)
        error(line, what + " is used twice in partition '" + p.name + "'");
    };
    auto port_of = [](const std::string& spec) {  // "tcp:ADDR:PORT[,server]" -> "PORT"
      std::string s = spec.substr(0, spec.find(','));
      return s.substr(s.rfind(':') + 1);
    };
    for (const PartitionConfig& p : c_.partitions) {
      const MachineConfig& m = p.machine;
      for (size_t k = 0; k < m.drives.size(); ++k)
        disks[canonical(m.drives[k].path)].push_back(
            {&p, line_of(p, "disk." + std::to_string(k)), !m.drives[k].snapshot && !m.drives[k].readonly});
      const unsigned sline = line_of(p, "serial");
      if (m.serial == "stdio") claim("stdio", "the terminal (serial backend stdio)", p, sline);
      else if (m.serial.rfind("file:", 0) == 0)
        claim("file " + canonical(m.serial.substr(5)), "output file '" + m.serial.substr(5) + "'", p, sline);
      else if (m.serial.rfind("tcp:", 0) == 0)
        claim("tcp " + port_of(m.serial), "TCP port " + port_of(m.serial) + " (serial)", p, sline);
      for (size_t k = 0; k < m.debugcons.size(); ++k)
        if (m.debugcons[k].path != "-")
          claim("file " + canonical(m.debugcons[k].path),
                "output file '" + m.debugcons[k].path + "'", p, line_of(p, "debugcon." + std::to_string(k)));
      if (!m.gdb.empty()) claim("tcp " + port_of(m.gdb), "TCP port " + port_of(m.gdb) + " (gdb)", p, line_of(p, "gdb"));
    }
    if (!c_.monitor.empty())
      if (auto it = host.find("tcp " + port_of(c_.monitor)); it != host.end())
        error(c_.monitor_line, "TCP port " + port_of(c_.monitor) + " (monitor) is also given to "
              "partition '" + it->second.p->name + "' (line " + std::to_string(it->second.line) + ")");
    for (const auto& [path, uses] : disks) {
      if (uses.size() < 2) continue;
      bool writer = false;
      for (const Use& u : uses) writer = writer || u.writes;
      if (!writer) continue;
      for (size_t k = 1; k < uses.size(); ++k)
        error(uses[k].line, "disk image '" + path + "' is given to partition '" + uses[0].p->name +
                                "' (line " + std::to_string(uses[0].line) + ") and to '" +
                                uses[k].p->name + "'" +
                                (uses[k].p == uses[0].p ? " again" : "") +
                                " (sharing an image needs snapshot = true or readonly = true "
                                "everywhere)");
    }
  }

  void memory_total() {
    uint64_t total = 0;
    std::string parts;
    for (const PartitionConfig& p : c_.partitions) total += static_memory(p);
    for (const MemoryPoolConfig& p : c_.pools) total += p.size;
    for (const SharedRegionConfig& s : c_.shared) total += s.size;  // once, however many maps
    if (c_.machine_memory && total > c_.machine_memory)
      error(0, "the partitions' static memory, the pools and the shared regions need " + format_size(total) +
                   " but machine_memory is " + format_size(c_.machine_memory));
  }

  const SystemConfig& c_;
  std::vector<ConfigError>* errors_;
};

}  // namespace

uint64_t static_memory(const PartitionConfig& p) {
  uint64_t n = 0;
  for (const MemoryRegionConfig& m : p.memory)
    if (!m.dynamic) n += m.size;
  return n;
}

void check_system_config(const SystemConfig& c, std::vector<ConfigError>* errors) {
  Checker(c, errors).run();
}

std::string describe_system(const SystemConfig& c) {
  uint64_t used = 0;
  std::string parts;
  for (const PartitionConfig& p : c.partitions) {
    used += static_memory(p);
    parts += (parts.empty() ? "" : ", ") + p.name + " (" + std::to_string(p.vcpus) +
             (p.vcpus == 1 ? " vCPU, " : " vCPUs, ") +
             (p.split ? std::to_string(p.split->vcpus.size()) + " on the secondary, " : "") +
             format_size(static_memory(p)) + ")";
  }
  for (const MemoryPoolConfig& p : c.pools) used += p.size;
  for (const SharedRegionConfig& s : c.shared) used += s.size;
  auto count = [](size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  return count(c.partitions.size(), "partition", "partitions") + ": " + parts + "; " +
         count(c.hypervisors.size(), "hypervisor", "hypervisors") + " on " +
         count(c.processor_sets.size(), "processor set", "processor sets") + "; " +
         format_size(used) + " of " + format_size(c.machine_memory) + " machine memory used" +
         (c.shared.empty() ? "" : "; " + count(c.shared.size(), "shared region", "shared regions"));
}

bool single_guest_machine(const SystemConfig& c, MachineConfig* out, std::string* error) {
  if (c.partitions.size() != 1) {
    *error = "a system of " + std::to_string(c.partitions.size()) +
             " partitions runs under the primary hypervisor (monitor/hv/primary.h), not as one machine";
    return false;
  }
  const PartitionConfig& p = c.partitions.front();
  if (p.vcpus > kMaxCpus) {
    *error = "partition '" + p.name + "' has " + std::to_string(p.vcpus) +
             " vCPUs; a machine runs at most " + std::to_string(kMaxCpus) + " (round-robin on one thread)";
    return false;
  }
  std::vector<const MemoryRegionConfig*> regions;
  for (const MemoryRegionConfig& m : p.memory)
    if (!m.dynamic) regions.push_back(&m);
  std::sort(regions.begin(), regions.end(),
            [](auto* a, auto* b) { return a->guest_base < b->guest_base; });
  uint64_t end = 0;
  for (const MemoryRegionConfig* m : regions) {
    if (m->guest_base != end) {
      *error = "partition '" + p.name + "' has static memory with a gap at " + hex(end) +
               "; the single-guest machine has one RAM range from 0";
      return false;
    }
    end += m->size;
  }
  if (end % (1ull << 20) || end == 0) {
    *error = "partition '" + p.name + "' has " + format_size(end) +
             " of static memory; the single-guest machine needs whole MiB";
    return false;
  }
  *out = p.machine;
  out->ram_mib = uint32_t(end >> 20);
  out->view = device_view(p);  // its devices only, as under the primary
  out->cpus = p.vcpus;
  return true;
}

}  // namespace softcpu::hv
