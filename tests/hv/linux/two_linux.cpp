// Two Linux partitions in one process (a temporary programmatic entry until
// `softcpu run --config` exists): each boots the default guest's kernel and initrd directly,
// with its own serial console in a file, runs one command as its init and powers off; the
// system exits 0 when both have. Prints each partition's boot-to-power-off time.
// With DISK, the last partition is given that disk (snapshot): each lists its PCI devices
// (sysfs) and only that one may show the IDE function 00:01.1 (discovery: the others' IDE
// is concealed); its disk's interrupt is routed to GSI 11, where Linux must put IRQ 14 (ACPI
// interrupt source override).
// usage: hv_two_linux VMLINUZ INITRD OUTDIR [PARTITIONS (default 2)] [DISK]
// With HV_SET_THREADS=N in the environment the partitions share the primary's processor set of
// N host threads (round-robin slices of HV_SLICE_US, default 10 ms); without it each has a
// thread of its own. With HV_SECONDARY_VCPUS=K too (a vCPU index, with HV_VCPU_THREADS=multi)
// vCPU K of each partition runs on the secondary hypervisor "rt" (a one-thread set "rtset", at
// priority 10: docs/config.md "[partition.secondary]"); the run fails unless it ran there.
// A part of the boot (one partition, for the ThreadSanitizer suite: docs/hardening.md): with
// HV_INSN_LIMIT=N the partition stops after N instructions of CPU 0 (counted from its start),
// with HV_SAVE=FILE it is then saved (docs/snapshot.md: an SMP machine only before its APs
// start), with HV_LOADVM=FILE it starts from that snapshot instead of booting, and with
// HV_EXPECT=TEXT the run passes when the console shows TEXT (instead of the command's output);
// HV_TIMEOUT=SECONDS replaces the partition's 300 s timeout.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "monitor/hv/primary.h"
#include "monitor/hv/secondary.h"
#include "monitor/machine.h"
#include "tests/hv/hv_config_util.h"

using namespace softcpu;
using namespace softcpu::hv;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s VMLINUZ INITRD OUTDIR [PARTITIONS] [DISK]\n", argv[0]);
    return 2;
  }
  const int n = argc > 4 ? std::atoi(argv[4]) : 2;
  const std::string disk = argc > 5 ? argv[5] : "";
  SystemConfig s;
  for (int k = 0; k < n; ++k) {
    PartitionConfig p;
    p.name = "linux" + std::to_string(k);
    p.machine.kernel_path = argv[1];
    p.machine.initrd_path = argv[2];
    // init is busybox's sh running one command: the partition's name, then power-off.
    p.machine.append = "console=ttyS0 cryptomgr.notests noisapnp rdinit=/bin/busybox -- sh -c "
                       "\"echo partition-says-" + p.name + "; /bin/busybox mkdir -p /sysfs; "
                       "/bin/busybox mount -t sysfs sysfs /sysfs; /bin/busybox echo pci-functions: "
                       "$(/bin/busybox ls /sysfs/bus/pci/devices); " +
                       // The disk's driver (a module in the initrd): it requests its IRQ.
                       std::string(!disk.empty() && k == n - 1
                                       ? "for m in scsi_common scsi_mod libata ata_piix; do "
                                         "/bin/busybox insmod /lib/modules/$m.ko; done; "
                                       : "") +
                       "/bin/busybox mkdir -p /procfs; "
                       "/bin/busybox mount -t proc proc /procfs; /bin/busybox echo ata-irqs: "
                       "$(/bin/busybox grep ata_piix /procfs/interrupts); "
                       "/bin/busybox echo cpus-online: $(/bin/busybox nproc); /bin/busybox poweroff -f\"";
    if (!disk.empty() && k == n - 1) {
      p.machine.drives.push_back({disk, 0, true, false});
      p.irq_routes.push_back({"ide0", 0, 11, false, 0});  // off IRQ 14: the MADT says where
    }
    p.machine.serial = std::string("file:") + argv[3] + "/" + p.name + ".serial";
    p.machine.timeout_seconds = 300;
    if (const char* v = std::getenv("HV_TIMEOUT")) p.machine.timeout_seconds = std::atof(v);
    p.memory.push_back({0, 128ull << 20, false, "", 0});
    // HV_VCPUS=N: N vCPUs each (Linux must bring them all online); HV_VCPU_THREADS=multi: on
    // N threads of the processor set (docs/design.md "SMP partitions on a processor set").
    if (const char* v = std::getenv("HV_VCPUS")) p.vcpus = unsigned(std::atoi(v));
    if (const char* v = std::getenv("HV_VCPU_THREADS")) p.machine.smp_threads = std::string(v) == "multi";
    if (const char* v = std::getenv("HV_INSN_LIMIT")) p.machine.insn_limit = std::strtoull(v, nullptr, 0);
    if (const char* v = std::getenv("HV_SAVE")) p.machine.save_on_exit_path = v;
    if (const char* v = std::getenv("HV_LOADVM")) {
      p.machine.loadvm_path = v;
      p.machine.kernel_path.clear();  // the snapshot's RAM has the kernel
      p.machine.initrd_path.clear();
      p.machine.append.clear();
    }
    s.partitions.push_back(p);
  }
  if (const char* t = std::getenv("HV_SET_THREADS")) {
    s.processor_sets.push_back({"set0", unsigned(std::atoi(t)), 0});
    HypervisorConfig h;
    h.name = "primary";
    h.processor_set = "set0";
    if (const char* us = std::getenv("HV_SLICE_US")) h.time_slice_us = uint32_t(std::atoi(us));
    s.hypervisors.push_back(h);
    for (auto& p : s.partitions) p.hypervisor = "primary";
  }
  const char* split_env = std::getenv("HV_SECONDARY_VCPUS");
  const unsigned split_vcpu = split_env ? unsigned(std::atoi(split_env)) : 0;
  if (split_vcpu) {
    s.processor_sets.push_back({"rtset", 1, 0});
    s.hypervisors.push_back(test::secondary_rt("rtset"));
    for (auto& p : s.partitions) p.split = test::split_vcpu(split_vcpu, 10);
  }
  int status;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    PrimaryHypervisor hv(s);
    if (split_vcpu)
      hv.attach_secondary(std::make_unique<SecondaryHypervisor>(s.hypervisors.back(), s,
                                                                hv.secondary_port()));
    status = hv.run();
    std::fprintf(stderr, "%s", hv.info_partitions().c_str());
    if (split_vcpu) {  // where each vCPU ran: the split one on the secondary's set
      const auto parts = hv.all_counters();
      std::fprintf(stderr, "%s", system_stats_text(parts).c_str());
      for (const PartitionCounters& c : parts)
        if (c.per_vcpu.size() <= split_vcpu || c.per_vcpu[split_vcpu].hypervisor != "rt" ||
            c.per_vcpu[split_vcpu].instructions == 0) {
          std::fprintf(stderr, "hv_two_linux: %s's vCPU %u did not run on the secondary\n",
                       c.name.c_str(), split_vcpu);
          return 1;
        }
    }
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "hv_two_linux: %s\n", e.message.c_str());
    return 2;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "hv_two_linux: %d partition(s) booted and stopped in %.2f s, status %d\n", n,
               secs, status);
  if (const char* expect = std::getenv("HV_EXPECT")) {  // a part of the boot: see the top
    for (int k = 0; k < n; ++k) {
      std::ifstream f(std::string(argv[3]) + "/linux" + std::to_string(k) + ".serial");
      std::stringstream text;
      text << f.rdbuf();
      if (text.str().find(expect) == std::string::npos) {
        std::fprintf(stderr, "hv_two_linux: linux%d's console lacks '%s':\n%s\n", k, expect,
                     text.str().c_str());
        return 1;
      }
    }
    return status == 124 || status == 0 ? 0 : status;  // 124: the instruction limit
  }
  if (const char* save = std::getenv("HV_SAVE")) {  // (a failed save of a powered-off
    std::ifstream f(save);                           // partition leaves status 0)
    if (!f) {
      std::fprintf(stderr, "hv_two_linux: no snapshot was saved to %s\n", save);
      return 1;
    }
    return status == 124 || status == 0 ? 0 : status;
  }
  for (int k = 0; k < n; ++k) {
    const std::string name = "linux" + std::to_string(k);
    std::ifstream f(std::string(argv[3]) + "/" + name + ".serial");
    std::stringstream text;
    text << f.rdbuf();
    if (text.str().find("partition-says-" + name) == std::string::npos) {
      std::fprintf(stderr, "hv_two_linux: %s's console lacks its command's output:\n%s\n",
                   name.c_str(), text.str().c_str());
      return 1;
    }
    if (const char* v = std::getenv("HV_VCPUS")) {
      const std::string want = std::string("\ncpus-online: ") + v;  // then "\r\n" or "\n"
      const size_t at = text.str().find(want);
      const size_t after = at + want.size();
      if (at == std::string::npos || after >= text.str().size() ||
          (text.str()[after] != '\r' && text.str()[after] != '\n')) {
        std::fprintf(stderr, "hv_two_linux: %s did not bring %s CPUs online:\n%s\n", name.c_str(), v,
                     text.str().c_str());
        return 1;
      }
    }
    // Discovery: the PCI functions Linux found; the IDE function only where there is a disk.
    const size_t pci = text.str().find("\npci-functions: ");
    if (!disk.empty()) {
      // At a line's start: the kernel's log shows the command line with the same words.
      const std::string line =
          pci == std::string::npos ? "" : text.str().substr(pci + 1, text.str().find('\n', pci + 1) - pci - 1);
      std::fprintf(stderr, "hv_two_linux: %s %s\n", name.c_str(), line.c_str());
      const bool has_ide = line.find("0000:00:01.1") != std::string::npos;
      if (line.find("0000:00:01.0") == std::string::npos || has_ide != (k == n - 1)) {
        std::fprintf(stderr, "hv_two_linux: %s lists the wrong PCI functions (%s a disk): '%s'\n",
                     name.c_str(), k == n - 1 ? "with" : "without", line.c_str());
        return 1;
      }
    }
    // The disk's interrupt: Linux put ISA IRQ 14 on IOAPIC pin 11 (the route, announced by
    // the MADT's interrupt source override). Whether interrupts arrive there is not checked
    // here: the driver's probe outlasts this shell (tests/hv/discovery/ checks delivery).
    if (!disk.empty() && k == n - 1) {
      const size_t at = text.str().find("\nata-irqs: ");
      const std::string line =
          at == std::string::npos ? "" : text.str().substr(at + 1, text.str().find('\n', at + 1) - at - 1);
      std::fprintf(stderr, "hv_two_linux: %s %s\n", name.c_str(), line.c_str());
      if (line.find("14: ") == std::string::npos ||
          line.find(" IO-APIC 11-edge ata_piix") == std::string::npos) {
        std::fprintf(stderr, "hv_two_linux: %s's disk IRQ 14 is not on IOAPIC pin 11: '%s'\n",
                     name.c_str(), line.c_str());
        return 1;
      }
    }
    // The other partition's words never appear on this console.
    for (int j = 0; j < n; ++j)
      if (j != k && text.str().find("partition-says-linux" + std::to_string(j)) != std::string::npos) {
        std::fprintf(stderr, "hv_two_linux: %s's console shows linux%d's output\n", name.c_str(), j);
        return 1;
      }
  }
  return status;
}
