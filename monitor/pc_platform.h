// The PC around the CPU: the i440FX host bridge and PIIX3 south bridge (PCI, IDE), the
// legacy ISA devices (8259 pair, 8254, RTC/CMOS, i8042, port 0x92, COM1, VGA text), QEMU's
// fw_cfg, the local APIC + IOAPIC and the HPET, wired the way QEMU's "pc" machine wires them
// so that Debian's SeaBIOS and Linux find what they expect. Interrupts: every ISA IRQ goes to
// the 8259 pair and to the IOAPIC (IRQ0 on pin 2, as the MP table and ACPI override say); the
// PIT's IRQ0 and the RTC's IRQ8 pass through the HPET, which takes those two lines over in
// legacy replacement mode; the 8259's INTR goes to the local APIC's LINT0 (virtual wire), the
// APIC's output to the CPU.
#pragma once
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "monitor/irq_routes.h"
#include "monitor/machine_config.h"

namespace softcpu {

struct Cpu;
class BlockBackend;
class CharBackend;
class CpuMailbox;
class EventLoop;
class PhysicalMemory;
class PortBus;
class StatsRegistry;
class VirtualClock;
class AtaDisk;
class CmosRtc;
class FwCfg;
class I440fx;
class I8042;
class IdeController;
class Ioapic;
class LocalApic;
class PciBus;
class PicPair;
class Piix3Ide;
class Piix3Isa;
class Pit8254;
class Port61;
class SystemControlA;
class Uart16550;
class VgaText;
class IsaIrqRouter;
class Piix4Pm;
class Hpet;
class PcTestdev;
class Snapshot;
class GsiRouter;
class MmioHandler;
struct ApicMessage;

class PcPlatform {
 public:
  // `system_reset` is called (on the CPU thread, from inside a device access) when the guest
  // asks for a reset through the i8042, port 0x92 or 0xCF9; the machine performs it after the
  // instruction. Throws ConfigError for a disk image that cannot be opened.
  PcPlatform(const MachineConfig& config, Cpu& cpu, PhysicalMemory& mem,
             PortBus& ports, VirtualClock& clock, CpuMailbox& mailbox, EventLoop& loop,
             CharBackend& serial, std::function<void()> system_reset);
  ~PcPlatform();

  // Every device to its power-on state (memory routing of 0xC0000-0xFFFFF included).
  void reset();
  // Host input for COM1; call between interpreter runs.
  void poll();
  // After CPU `index` wrote IA32_APIC_BASE: its APIC's global enable follows bit 11.
  void apic_base_written(unsigned index = 0);

  // -smp N: CPU `ap` (index 1..N-1, its APIC ID) gets a local APIC on the APIC bus. INIT and
  // STARTUP messages it accepts call `init` and `startup(vector)` (the machine resets the CPU
  // into wait-for-SIPI, or starts it). From the first one on, the APIC page at 0xFEE00000
  // reaches the APIC of the CPU that runs (set_current_cpu). Call before the first reset().
  void add_cpu(Cpu& ap, std::function<void()> init, std::function<void(uint8_t)> startup);
  // Which CPU's accesses the APIC page serves now, on the calling thread: the machine's
  // round-robin sets it around each slice, each vCPU thread once (threads on).
  void set_current_cpu(unsigned index) { current_cpu_ = index; }
  // CPU `index`'s local APIC timer: `observer` gets its deadline after each change
  // (LocalApic::set_timer_observer), under the big lock. Set before run().
  void set_apic_timer_observer(unsigned index, std::function<void(uint64_t deadline_ns)> observer);
  // vCPUs on parallel host threads (docs/design.md "SMP vCPUs on host threads"), set before
  // run(). `notify(k)`: something was raised on CPU k (INTR, NMI): wake its thread. `each(fn)`:
  // run fn on every CPU's state, each on its own thread (the caller's CPU at once, the others
  // at their next block boundary): TLB flushes and dropped code after A20, PAM and DMA changes;
  // `reset_drops`: a state change that a PC reset supersedes (A20: VcpuSync::Work).
  using EachCpu = std::function<void(const std::function<void(Cpu&)>&, bool reset_drops)>;
  void set_threaded(std::function<void(unsigned)> notify, EachCpu each);
  unsigned cpu_count() const { return unsigned(cpus_.size()); }
  // Assert FERR# (IRQ13) when the FPU reports an unmasked exception with CR0.NE = 0.
  void update_ferr();
  // Flush every disk's writes to the host file (guest power-off, exit).
  void flush_disks();
  // --deterministic: disk completions go through `defer` (hostio/block_backend.h).
  void set_disk_deferrer(const std::function<void(std::function<void()>)>& defer);

  // Snapshots (monitor/snapshot.h): one section per device ("dev.NAME") and one per
  // snapshot-mode disk overlay ("disk.N"). Save only when no disk request is pending
  // (drain_disk_io). Loading checks every section's presence and the overlays first, then
  // loads the devices into this (built, reset) platform; throws SnapshotError or StateError.
  void save_state(Snapshot& snap) const;
  void load_state(const Snapshot& snap);
  // Run the CPU mailbox until every disk request issued has completed (its callback ran).
  void drain_disk_io(CpuMailbox& mailbox);
  // What a snapshot must match: devices and disks (sizes and modes), one per line.
  std::string describe_devices() const;

  void write_screen_dump(FILE* f) const;
  // The VGA text screen as text (VgaText::dump_text): what a console script's wait-screen sees.
  std::string screen_text() const;
  void register_stats(StatsRegistry& stats);
  FwCfg& fw_cfg() { return *fw_cfg_; }
  const FwCfg& fw_cfg() const { return *fw_cfg_; }
  // The guest entered ACPI S5 (soft off) through the PIIX4 PM function.
  void set_power_off_handler(std::function<void()> handler) { power_off_ = std::move(handler); }
  // Direct boot (no firmware): program the PM function as SeaBIOS would (PMBA, PMREGMISC, SCI
  // line), turn the BIOS area's E segment (0xE0000-0xEFFFF) into read-only shadow RAM holding
  // the ACPI tables and an RSDP (where SeaBIOS keeps its RSDP too: the OS searches
  // 0xE0000-0xFFFFF), and put a second copy of the RSDP at `ebda_rsdp_addr` (16-byte aligned,
  // in the EBDA's first KiB, which the OS searches first). Returns the BIOS-area RSDP's address.
  uint32_t setup_acpi_without_firmware(uint32_t ebda_rsdp_addr);
  static constexpr uint32_t DIRECT_BOOT_ACPI_ADDR = 0xE0000;

  // Discovery (MachineConfig::view): whether the guest is given `device` ("ide0", "ide1",
  // "com1"); a device it is not given is concealed.
  bool owns(const std::string& device) const;
  // Where the PCI memory window (ACPI _CRS) starts: above every memory range the guest is shown.
  uint32_t memory_top() const;
  // The interrupt routing table with each route's count of asserted edges (any thread), and
  // the ISA IRQs it moves to other GSIs (for the MP table and the MADT).
  std::vector<IrqRouteTable::Entry> irq_routes() const;
  std::vector<IsaIrqOverride> irq_overrides() const;

 private:
  void attach_disks(const MachineConfig& config, EventLoop& loop, CpuMailbox& mailbox);
  void remap_shadow(uint32_t start, uint32_t size, bool read_ram, bool write_ram);
  void update_a20();
  void guest_write(uint32_t addr, const void* data, uint32_t len);
  // The APIC bus (SDM 11.6): an IPI from `from` (null: an IOAPIC message) to the APICs it
  // addresses; lowest priority goes to one of them.
  void apic_bus(const LocalApic* from, const ApicMessage& m, unsigned shorthand);
  LocalApic& apic(unsigned index);

  Cpu& cpu_;
  std::vector<Cpu*> cpus_;  // cpus_[0] = &cpu_, the bootstrap processor
  PhysicalMemory& mem_;
  PortBus& ports_;
  DeviceView view_;

  std::unique_ptr<PicPair> pic_;
  std::unique_ptr<Ioapic> ioapic_;
  std::unique_ptr<LocalApic> lapic_;                   // CPU 0's
  std::vector<std::unique_ptr<LocalApic>> ap_lapics_;  // CPU 1..N-1's
  std::unique_ptr<MmioHandler> lapic_page_;            // -smp: routes to the running CPU's
  static thread_local unsigned current_cpu_;
  std::function<void(unsigned)> notify_cpu_;  // set_threaded
  EachCpu each_cpu_;
  // fn on every CPU: at once, or through set_threaded's `each`.
  void for_each_cpu(const std::function<void(Cpu&)>& fn, bool reset_drops = false);
  VirtualClock* clock_for_aps_ = nullptr;
  unsigned cpus_announced_ = 1;  // CPUs in fw_cfg and the ACPI tables (MachineConfig::cpus)
  std::unique_ptr<IsaIrqRouter> isa_irq_;
  std::unique_ptr<GsiRouter> gsi_router_;
  std::unique_ptr<IrqRouteTable> irq_table_;
  IrqLine com1_irq_;
  std::unique_ptr<Pit8254> pit_;
  std::unique_ptr<Port61> port61_;
  std::unique_ptr<CmosRtc> rtc_;
  std::unique_ptr<I8042> i8042_;
  std::unique_ptr<SystemControlA> port92_;
  std::unique_ptr<Uart16550> com1_;
  std::unique_ptr<VgaText> vga_;
  std::unique_ptr<FwCfg> fw_cfg_;
  std::unique_ptr<PciBus> pci_;
  std::unique_ptr<I440fx> host_bridge_;
  std::unique_ptr<Piix3Isa> isa_bridge_;
  std::unique_ptr<IdeController> ide_;
  std::unique_ptr<Piix3Ide> ide_function_;
  std::unique_ptr<Piix4Pm> pm_;
  std::unique_ptr<Hpet> hpet_;
  std::unique_ptr<PcTestdev> testdev_;
  std::function<void()> power_off_;
  std::vector<std::unique_ptr<BlockBackend>> backends_;
  std::vector<std::unique_ptr<AtaDisk>> disks_;
  bool ferr_ = false;
};

}  // namespace softcpu
