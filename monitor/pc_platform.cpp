#include "monitor/pc_platform.h"

#include <algorithm>

#include "hostio/block_backend.h"
#include "hostio/char_backend.h"
#include "interp/cpu.h"
#include "interp/interrupts.h"
#include "interp/memory.h"
#include "interp/tlb.h"
#include "monitor/acpi_tables.h"
#include "monitor/e820.h"
#include "monitor/irq_routes.h"
#include "monitor/machine.h"
#include "monitor/port_bus.h"
#include "monitor/stats.h"
#include "vdevices/ata_disk.h"
#include "vdevices/bus_master_dma.h"
#include "vdevices/cmos_rtc.h"
#include "vdevices/fw_cfg.h"
#include "vdevices/hpet.h"
#include "vdevices/i440fx.h"
#include "vdevices/i8042.h"
#include "vdevices/ide_controller.h"
#include "vdevices/ioapic.h"
#include "vdevices/local_apic.h"
#include "vdevices/pc_testdev.h"
#include "vdevices/pci_bus.h"
#include "vdevices/pic8259.h"
#include "vdevices/piix3.h"
#include "vdevices/piix4_pm.h"
#include "vdevices/pit8254.h"
#include "vdevices/port61.h"
#include "vdevices/system_control_a.h"
#include "vdevices/uart16550.h"
#include "vdevices/vga_text.h"

namespace softcpu {

// ISA IRQ n drives 8259 input n and IOAPIC pin n, except the PIT's IRQ0, which the MP table
// and ACPI's interrupt source override put on pin 2 (QEMU's wiring; IRQ2 is the cascade).
class IsaIrqRouter final : public IrqSink {
 public:
  IsaIrqRouter(PicPair& pic, Ioapic& ioapic) : pic_(pic), ioapic_(ioapic) {}
  void set_irq(unsigned line, bool level) override {
    pic_.set_irq(line, level);
    ioapic_.set_irq(line == 0 ? 2 : line, level);
  }

 private:
  PicPair& pic_;
  Ioapic& ioapic_;
};

// A GSI: IOAPIC pin GSI and, below 16, 8259 IRQ GSI (the routed devices' inputs).
class GsiRouter final : public IrqSink {
 public:
  GsiRouter(PicPair& pic, Ioapic& ioapic) : pic_(pic), ioapic_(ioapic) {}
  void set_irq(unsigned gsi, bool level) override {
    if (gsi < 16) pic_.set_irq(gsi, level);
    ioapic_.set_irq(gsi, level);
  }

 private:
  PicPair& pic_;
  Ioapic& ioapic_;
};

// -smp: the APIC page at 0xFEE00000 is the running CPU's own local APIC (SDM 11.4.1: each
// CPU sees its own APIC at the same address).
class LocalApicPage final : public MmioHandler {
 public:
  explicit LocalApicPage(std::function<LocalApic&()> current) : current_(std::move(current)) {}
  uint32_t mmio_read(uint32_t addr, unsigned size) override { return current_().mmio_read(addr, size); }
  void mmio_write(uint32_t addr, unsigned size, uint32_t value) override {
    current_().mmio_write(addr, size, value);
  }

 private:
  std::function<LocalApic&()> current_;
};

PcPlatform::PcPlatform(const MachineConfig& config, Cpu& cpu, PhysicalMemory& mem,
                       PortBus& ports, VirtualClock& clock,
                       CpuMailbox& mailbox, EventLoop& loop, CharBackend& serial,
                       std::function<void()> system_reset)
    : cpu_(cpu), cpus_{&cpu}, mem_(mem), ports_(ports), view_(config.view),
      cpus_announced_(config.cpus) {
  std::string route_error;
  const std::vector<IrqRouteSpec> routes = effective_irq_routes(view_, &route_error);
  if (!route_error.empty()) throw ConfigError{route_error};
  // Interrupt controllers: 8259 INTR -> APIC LINT0 -> CPU INTR; the CPU acknowledges
  // through the APIC, which hands ExtINT acknowledges to the 8259.
  pic_ = std::make_unique<PicPair>();
  lapic_ = std::make_unique<LocalApic>(clock, pic_.get());
  clock.set_owner(lapic_->timer_id(), 1);  // CPU 0's own timer (VirtualClock::set_owner)
  clock_for_aps_ = &clock;
  ioapic_ = std::make_unique<Ioapic>();
  pic_->set_intr_callback([this](bool level) { lapic_->set_lint0(level); });
  lapic_->set_intr_output([this](bool level) {
    cpu_set_intr(cpu_, level);
    if (level && notify_cpu_) notify_cpu_(0);
  });
  lapic_->set_nmi_output([this] {
    cpu_raise_nmi(cpu_);
    if (notify_cpu_) notify_cpu_(0);
  });
  lapic_->set_eoi_broadcast([this](uint8_t vector) { ioapic_->eoi(vector); });
  lapic_->set_ipi_bus([this](LocalApic& from, const ApicMessage& m, unsigned shorthand) {
    apic_bus(&from, m, shorthand);
  });
  ioapic_->set_deliver([this](const ApicMessage& m) { apic_bus(nullptr, m, 0); });
  cpu_set_interrupt_controller(cpu_, lapic_.get());
  cpu_.cpuid_apic = 1;
  mem_.map_mmio(LocalApic::DEFAULT_BASE, PAGE_SIZE, lapic_.get());
  mem_.map_mmio(0xFEC00000, PAGE_SIZE, ioapic_.get());
  isa_irq_ = std::make_unique<IsaIrqRouter>(*pic_, *ioapic_);
  ports_.attach(pic_.get(), 0x20, 2);
  ports_.attach(pic_.get(), 0xA0, 2);
  ports_.attach(pic_.get(), 0x4D0, 2);  // ELCR (PIIX3 2.4.5)
  auto isa = [this](unsigned irq) { return IrqLine{isa_irq_.get(), irq}; };
  // The assigned devices' interrupts go through the routing table; a concealed device's
  // output goes nowhere.
  gsi_router_ = std::make_unique<GsiRouter>(*pic_, *ioapic_);
  irq_table_ = std::make_unique<IrqRouteTable>(*gsi_router_);
  auto routed = [&](const char* device) {
    for (const IrqRouteSpec& r : routes)
      if (r.device == device) return irq_table_->add(r);
    return IrqLine{};
  };

  // The HPET (IA-PC HPET 1.0a) passes the PIT's IRQ0 and the RTC's IRQ8 through, or replaces
  // them with its timers 0 and 1 (LEG_RT_CNF); its other routes go to IOAPIC pins.
  hpet_ = std::make_unique<Hpet>(clock, isa_irq_.get(), ioapic_.get());
  mem_.map_mmio(Hpet::DEFAULT_BASE, PAGE_SIZE, hpet_.get());

  pit_ = std::make_unique<Pit8254>(clock, IrqLine{hpet_.get(), 0});
  ports_.attach(pit_.get(), 0x40, 4);
  port61_ = std::make_unique<Port61>(*pit_, clock);
  ports_.attach(port61_.get(), 0x61, 1);

  rtc_ = std::make_unique<CmosRtc>(clock, IrqLine{hpet_.get(), 8}, config.rtc_base_unix_ns);
  rtc_->fill_pc_fields(mem_.ram_size(), cpus_announced_);  // 0x5F: CPUs - 1 (SeaBIOS waits for them)
  ports_.attach(rtc_.get(), 0x70, 2);

  auto a20 = [this](bool) { update_a20(); };
  i8042_ = std::make_unique<I8042>(isa(1), isa(12), a20, system_reset);
  ports_.attach(i8042_.get(), 0x60, 1);
  ports_.attach(i8042_.get(), 0x64, 1);
  port92_ = std::make_unique<SystemControlA>(a20, system_reset);
  ports_.attach(port92_.get(), 0x92, 1);

  com1_irq_ = routed("com1");
  com1_ = std::make_unique<Uart16550>(Uart16550::COM1_BASE, serial,
                                      [this](bool level) { com1_irq_.set(level); });
  if (owns("com1")) ports_.attach(com1_.get(), Uart16550::COM1_BASE, Uart16550::NUM_PORTS);

  vga_ = std::make_unique<VgaText>(mem_.ram(), mem_.ram_size());
  ports_.attach(vga_.get(), 0x3B4, 2);
  ports_.attach(vga_.get(), 0x3BA, 1);
  ports_.attach(vga_.get(), 0x3C0, 16);
  ports_.attach(vga_.get(), 0x3D4, 2);
  ports_.attach(vga_.get(), 0x3DA, 1);

  fw_cfg_ = std::make_unique<FwCfg>(
      [this](uint64_t addr, void* out, uint32_t len) {
        if (addr + len > mem_.ram_size()) return false;
        mem_.read_bytes(uint32_t(addr), out, len);
        return true;
      },
      [this](uint64_t addr, const void* in, uint32_t len) {
        if (addr + len > mem_.ram_size()) return false;
        guest_write(uint32_t(addr), in, len);
        return true;
      });
  FwCfgPcConfig fw;
  fw.ram_bytes = mem_.ram_size();
  fw.e820 = encode_e820(firmware_e820_map(mem_.ram_size(), view_.extra_memory));
  if (!owns("com1")) fw.sercon_port = 0;  // no "etc/sercon-port": SeaBIOS's console is not there
  fw.cpus = uint16_t(cpus_announced_);
  add_pc_firmware_items(*fw_cfg_, fw);
  AcpiConfig acpi;
  acpi.pci_hole_start = memory_top();
  acpi.irq_overrides = irq_table_->overrides();
  acpi.cpus = uint8_t(cpus_announced_);
  add_acpi_fw_cfg_files(*fw_cfg_, acpi);  // SeaBIOS then puts the PM block at 0x600
  ports_.attach(fw_cfg_.get(), 0x510, 2);
  ports_.attach(fw_cfg_.get(), 0x514, 8);  // DMA address register (64-bit, big-endian)

  // PCI: 00.0 host bridge, 01.0 PIIX3 ISA bridge, 01.1 PIIX3 IDE (QEMU's pc layout).
  pci_ = std::make_unique<PciBus>();
  pci_->on_reset_request = [system_reset](bool) { system_reset(); };
  ports_.attach(pci_.get(), 0xCF8, 8);
  host_bridge_ = std::make_unique<I440fx>();
  host_bridge_->set_pam_handler([this](uint32_t start, uint32_t size, bool rd, bool wr) {
    remap_shadow(start, size, rd, wr);
  });
  isa_bridge_ = std::make_unique<Piix3Isa>();
  isa_bridge_->set_isa_sink(isa_irq_.get());
  ide_ = std::make_unique<IdeController>(routed("ide0"), routed("ide1"));
  ide_->set_guest_memory(GuestMemory{
      [this](uint32_t addr, uint8_t* dst, uint32_t len) { mem_.read_bytes(addr, dst, len); },
      [this](uint32_t addr, const uint8_t* src, uint32_t len) { guest_write(addr, src, len); }});
  ide_function_ = std::make_unique<Piix3Ide>(*ide_);
  ide_function_->set_bar_change_handler(
      [this](unsigned, const PciDevice::BarMapping& old_map, const PciDevice::BarMapping& map) {
        if (old_map.mapped) ports_.detach(uint16_t(old_map.base), old_map.size);
        if (map.mapped) ports_.attach(&ide_->bus_master(), uint16_t(map.base), map.size);
      });
  for (unsigned ch = 0; ch < 2; ++ch) {
    if (!owns(ch ? "ide1" : "ide0")) continue;  // concealed: its ports are unassigned
    IdeChannel& c = ide_->channel(ch);
    ports_.attach(&c, c.cmd_base(), 8);
    ports_.attach(&c, c.ctrl_port(), 1);
  }
  pci_->attach(0, 0, host_bridge_.get());
  pci_->attach(1, 0, isa_bridge_.get());
  // 01.1 exists for a guest that owns an IDE channel; else its configuration space reads all
  // ones (PCI 2.1 6.1: no function there), as on a bus without it.
  if (owns("ide0") || owns("ide1")) pci_->attach(1, 1, ide_function_.get());
  // 01.3 PIIX4 power management: ACPI fixed hardware, SCI on ISA IRQ 9.
  pm_ = std::make_unique<Piix4Pm>(clock, isa(9));
  pm_->set_pm_io_change_handler([this](bool was, uint16_t old_base, bool now, uint16_t base) {
    if (was) ports_.detach(old_base, Piix4Pm::PM_IO_SIZE);
    if (now) ports_.attach(pm_.get(), base, Piix4Pm::PM_IO_SIZE);
  });
  pm_->set_power_off_handler([this] {
    if (power_off_) power_off_();
  });
  ports_.attach(&pm_->apm_ports(), Piix4Pm::APM_CNT_PORT, 2);
  pci_->attach(1, 3, pm_.get());
  if (config.pc_testdev) {
    testdev_ = std::make_unique<PcTestdev>(isa_irq_.get(), ioapic_.get(), [this](uint32_t page) {
      for_each_cpu([page](Cpu& c) {
        drop_code(c, page, PAGE_SIZE);
        tlb_flush(c);
      });
    });
    ports_.attach(testdev_.get(), PcTestdev::PORTS_LOW, PcTestdev::PORTS_LOW_COUNT);
    ports_.attach(testdev_.get(), PcTestdev::IRQ_PORT, PcTestdev::NUM_IRQ_LINES);
    mem_.map_mmio(PcTestdev::IOMEM_BASE, PcTestdev::IOMEM_SIZE, testdev_.get());
  }
  attach_disks(config, loop, mailbox);
  reset();
}

// Each BlockBackend fsyncs and closes its file as it goes, on the event loop, which must
// still run: the machine destroys the platform before the loop.
PcPlatform::~PcPlatform() = default;

void PcPlatform::attach_disks(const MachineConfig& config, EventLoop& loop, CpuMailbox& mailbox) {
  for (const DriveSpec& d : config.drives) {
    if (!owns(d.index < 2 ? "ide0" : "ide1"))
      throw ConfigError{"disk '" + d.path + "' is on " + (d.index < 2 ? "ide0" : "ide1") +
                        ", which the guest is not given"};
    std::string error;
    BlockBackend::Options o;
    o.readonly = d.readonly;
    o.snapshot = d.snapshot;
    auto backend = BlockBackend::open(d.path, o, loop, mailbox, &error);
    if (!backend) throw ConfigError{error};
    if (backend->size() < 512)
      throw ConfigError{"disk image '" + d.path + "' is smaller than one 512-byte sector"};
    auto disk = std::make_unique<AtaDisk>(*backend, "SOFTCPU-000" + std::to_string(d.index + 1));
    ide_->channel(d.index / 2).attach_disk(d.index % 2, disk.get());
    backends_.push_back(std::move(backend));
    disks_.push_back(std::move(disk));
  }
}

void PcPlatform::add_cpu(Cpu& ap, std::function<void()> init, std::function<void(uint8_t)> startup) {
  const unsigned index = unsigned(cpus_.size());
  cpus_.push_back(&ap);
  // No 8259 on LINT0 and no NMI on LINT1: the PC wires those to the bootstrap processor
  // only (the MP table's local interrupt entries say the same).
  auto a = std::make_unique<LocalApic>(*clock_for_aps_, nullptr);
  clock_for_aps_->set_owner(a->timer_id(), index + 1);
  a->set_id(uint8_t(index));
  LocalApic* self = a.get();
  a->set_intr_output([this, &ap, index](bool level) {
    cpu_set_intr(ap, level);
    if (level && notify_cpu_) notify_cpu_(index);
  });
  a->set_nmi_output([this, &ap, index] {
    cpu_raise_nmi(ap);
    if (notify_cpu_) notify_cpu_(index);
  });
  a->set_eoi_broadcast([this](uint8_t vector) { ioapic_->eoi(vector); });
  a->set_ipi_bus([this](LocalApic& from, const ApicMessage& m, unsigned shorthand) {
    apic_bus(&from, m, shorthand);
  });
  a->set_init_output(std::move(init));
  a->set_startup_output(std::move(startup));
  cpu_set_interrupt_controller(ap, self);
  ap.cpuid_apic = 1;
  ap.apic_id = uint8_t(index);
  ap_lapics_.push_back(std::move(a));
  if (!lapic_page_) {
    lapic_page_ = std::make_unique<LocalApicPage>([this]() -> LocalApic& { return apic(current_cpu_); });
    mem_.map_mmio(LocalApic::DEFAULT_BASE, PAGE_SIZE, lapic_page_.get());
  }
}

void PcPlatform::set_apic_timer_observer(unsigned index,
                                         std::function<void(uint64_t)> observer) {
  apic(index).set_timer_observer(std::move(observer));
}

LocalApic& PcPlatform::apic(unsigned index) {
  return index == 0 ? *lapic_ : *ap_lapics_[index - 1];
}

void PcPlatform::apic_bus(const LocalApic* from, const ApicMessage& m, unsigned shorthand) {
  LocalApic* lowest = nullptr;
  for (unsigned k = 0; k < cpus_.size(); ++k) {
    LocalApic& a = apic(k);
    bool addressed;
    switch (shorthand) {
      case 1: addressed = &a == from; break;  // self
      case 2: addressed = true; break;        // all including self
      case 3: addressed = &a != from; break;  // all excluding self
      default: addressed = a.accepts(m.logical, m.dest); break;
    }
    if (!addressed) continue;
    if (m.delivery_mode == APIC_DM_LOWEST && shorthand == 0) {
      // SDM 11.6.2.4: one of the addressed APICs, the one at the lowest priority (ties: the
      // lowest APIC ID). Processor priority stands in for the P6's arbitration priority.
      if (!lowest || a.ppr() < lowest->ppr()) lowest = &a;
      continue;
    }
    a.deliver(m);
  }
  if (lowest) lowest->deliver(m);
}

void PcPlatform::reset() {
  pic_->reset();
  ioapic_->reset();
  lapic_->reset();
  apic_base_written();
  for (unsigned k = 1; k < cpus_.size(); ++k) {
    apic(k).reset();
    apic_base_written(k);
  }
  hpet_->reset();
  pit_->reset();
  port61_->reset();
  rtc_->reset();
  i8042_->reset();
  port92_->reset();
  com1_->reset();
  vga_->reset();
  fw_cfg_->reset();
  pci_->reset();  // the host bridge's PAM reset routes 0xC0000-0xFFFFF back to the ROM
  ide_->reset();
  if (testdev_) testdev_->reset();
  update_a20();
  ferr_ = false;
}

uint32_t PcPlatform::setup_acpi_without_firmware(uint32_t ebda_rsdp_addr) {
  AcpiConfig acpi;
  acpi.pci_hole_start = memory_top();
  acpi.irq_overrides = irq_table_->overrides();
  acpi.cpus = uint8_t(cpus_announced_);
  acpi.hpet_block_id = uint32_t(hpet_->capabilities());
  // What SeaBIOS's piix4_pm_setup does (src/fw/pciinit.c).
  pci_->config_write(1, 3, PciDevice::INTERRUPT_LINE, 1, acpi.sci_irq);
  pci_->config_write(1, 3, Piix4Pm::PMBA, 4, acpi.pm_base | 1u);
  pci_->config_write(1, 3, Piix4Pm::PMREGMISC, 1, 1);

  // The E segment as shadow RAM (82441FX 3.2.17: PAM5 covers 0xE0000-0xE7FFF, PAM6
  // 0xE8000-0xEFFFF; 11b = read/write RAM, 01b = read-only RAM, as SeaBIOS leaves its shadow).
  // The firmware does not run on this path, so nothing of its ROM is lost that anyone uses.
  constexpr uint32_t seg = DIRECT_BOOT_ACPI_ADDR, seg_size = 0x10000;
  for (uint8_t pam : {uint8_t(I440fx::PAM0 + 5), uint8_t(I440fx::PAM0 + 6)})
    pci_->config_write(0, 0, pam, 1, 0x33);
  const std::vector<uint8_t> zeros(seg_size, 0);
  guest_write(seg, zeros.data(), seg_size);
  const AcpiBlobs blobs = build_acpi_tables(acpi, seg);
  // ACPI 1.0b 5.2.4.1: the RSDP is on a 16-byte boundary in the EBDA's first KiB or in
  // 0xE0000-0xFFFFF.
  const uint32_t rsdp = (seg + uint32_t(blobs.tables.size()) + 15) & ~15u;
  guest_write(seg, blobs.tables.data(), uint32_t(blobs.tables.size()));
  guest_write(rsdp, blobs.rsdp.data(), uint32_t(blobs.rsdp.size()));
  for (uint8_t pam : {uint8_t(I440fx::PAM0 + 5), uint8_t(I440fx::PAM0 + 6)})
    pci_->config_write(0, 0, pam, 1, 0x11);
  guest_write(ebda_rsdp_addr, blobs.rsdp.data(), uint32_t(blobs.rsdp.size()));
  return rsdp;
}

// Where the PCI memory window may start: above the RAM at 0 and every other memory range the
// guest is shown (DeviceView::extra_memory; page aligned, below 3 GiB).
uint32_t PcPlatform::memory_top() const {
  uint64_t top = mem_.ram_size();
  for (const E820Entry& e : view_.extra_memory) top = std::max(top, e.addr + e.size);
  return uint32_t(std::min<uint64_t>(top, 0xFEC00000u));
}

bool PcPlatform::owns(const std::string& device) const {
  return view_.all ||
         std::find(view_.assigned.begin(), view_.assigned.end(), device) != view_.assigned.end();
}

std::vector<IrqRouteTable::Entry> PcPlatform::irq_routes() const { return irq_table_->entries(); }

std::vector<IsaIrqOverride> PcPlatform::irq_overrides() const { return irq_table_->overrides(); }

void PcPlatform::poll() { com1_->poll(); }

void PcPlatform::apic_base_written(unsigned index) {
  apic(index).set_global_enable((cpus_[index]->msr.apic_base >> 11) & 1);
}

void PcPlatform::update_ferr() {
  // FERR# drives IRQ13 on a PC (the DOS-compatible x87 error path, SDM vol.1 D.2).
  bool level = cpu_.ferr != 0;
  if (level == ferr_) return;
  ferr_ = level;
  isa_irq_->set_irq(13, level);
}

void PcPlatform::set_disk_deferrer(const std::function<void(std::function<void()>)>& defer) {
  for (auto& b : backends_) b->set_deferrer(defer);
}

void PcPlatform::flush_disks() {
  for (auto& b : backends_) b->flush_sync();
}

void PcPlatform::remap_shadow(uint32_t start, uint32_t size, bool read_ram, bool write_ram) {
  mem_.set_shadow(start, size, read_ram, write_ram);
  // Host addresses changed: no TLB entry or decoded block may outlive the old routing.
  for_each_cpu([start, size](Cpu& c) {
    tlb_flush(c);
    drop_code(c, start, size);
  });
}

// The A20 gate is open when either the i8042's output port or port 0x92 opens it.
void PcPlatform::update_a20() {
  const bool on = i8042_->a20_enabled() || port92_->a20_enabled();
  if (bool(cpu_.a20_enabled) == on) return;
  for_each_cpu(
      [on](Cpu& c) {  // the gate is the chipset's: every CPU's addresses
        c.a20_enabled = on;
        tlb_flush(c);
      },
      true);
}

// Device (DMA) writes to guest memory: cached code of the written bytes must go.
void PcPlatform::guest_write(uint32_t addr, const void* data, uint32_t len) {
  mem_.write_bytes(addr, data, len);
  if (mem_.per_cpu_code())  // threads on: every CPU has its own decoded code
    for_each_cpu([addr, len](Cpu& c) { drop_code(c, addr, len); });
  else
    drop_code(cpu_, addr, len);
}

thread_local unsigned PcPlatform::current_cpu_ = 0;

void PcPlatform::set_threaded(std::function<void(unsigned)> notify, EachCpu each) {
  notify_cpu_ = std::move(notify);
  each_cpu_ = std::move(each);
}

void PcPlatform::for_each_cpu(const std::function<void(Cpu&)>& fn, bool reset_drops) {
  if (each_cpu_) return each_cpu_(fn, reset_drops);
  for (Cpu* c : cpus_) fn(*c);
}

void PcPlatform::write_screen_dump(FILE* f) const { vga_->write_screen_dump(f); }

std::string PcPlatform::screen_text() const {
  std::string text;
  vga_->dump_text(text);
  return text;
}

void PcPlatform::register_stats(StatsRegistry& stats) {
  for (size_t k = 0; k < backends_.size(); ++k) {
    const BlockBackend& b = *backends_[k];
    const std::string name = "disk" + std::to_string(k);
    stats.add(name + ".reads", &b.reads);  // host requests issued (one may serve many sectors)
    stats.add(name + ".writes", &b.writes);
    stats.add(name + ".flushes", &b.flushes);
  }
  stats.add("fw_cfg.dma_transfers", [this] { return double(fw_cfg_->dma_transfers()); });
  // Interrupts each route delivered (rising edges), e.g. "irq.ide0.asserted".
  const auto routes = irq_table_->entries();
  for (size_t k = 0; k < routes.size(); ++k)
    stats.add("irq." + routes[k].route.device + ".asserted",
              [this, k] { return double(irq_table_->entries()[k].asserted); });
}

}  // namespace softcpu
