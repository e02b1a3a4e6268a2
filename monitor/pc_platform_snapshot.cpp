// PcPlatform's part of a machine snapshot (monitor/snapshot.h): a section per device.
#include <chrono>

#include "hostio/block_backend.h"
#include "hostio/cpu_mailbox.h"
#include "hostio/state_stream.h"
#include "monitor/pc_platform.h"
#include "monitor/snapshot.h"
#include "vdevices/ata_disk.h"
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

namespace {

// Every device of the platform with its section tag, in load order: the PCI functions first
// (their loads remap memory and ports), the timers' devices after the interrupt controllers.
template <typename F>
void for_each_device(F&& f, PciBus& pci, I440fx& host, Piix3Isa& isa, Piix3Ide& ide_fn,
                     Piix4Pm& pm, PicPair& pic, Ioapic& ioapic, LocalApic& lapic, Hpet& hpet,
                     Pit8254& pit, Port61& port61, CmosRtc& rtc, I8042& i8042,
                     SystemControlA& port92, Uart16550& com1, VgaText& vga, FwCfg& fw_cfg,
                     IdeController& ide, PcTestdev* testdev) {
  f("dev.pci", pci);
  f("dev.i440fx", host);
  f("dev.piix3-isa", isa);
  f("dev.piix3-ide", ide_fn);
  f("dev.piix4-pm", pm);
  f("dev.pic", pic);
  f("dev.ioapic", ioapic);
  f("dev.lapic", lapic);
  f("dev.hpet", hpet);
  f("dev.pit", pit);
  f("dev.port61", port61);
  f("dev.rtc", rtc);
  f("dev.i8042", i8042);
  f("dev.port92", port92);
  f("dev.com1", com1);
  f("dev.vga", vga);
  f("dev.fw_cfg", fw_cfg);
  f("dev.ide", ide);
  if (testdev) f("dev.pc-testdev", *testdev);
}

}  // namespace

#define SOFTCPU_PLATFORM_DEVICES                                                          \
  *pci_, *host_bridge_, *isa_bridge_, *ide_function_, *pm_, *pic_, *ioapic_, *lapic_, *hpet_, \
      *pit_, *port61_, *rtc_, *i8042_, *port92_, *com1_, *vga_, *fw_cfg_, *ide_, testdev_.get()

void PcPlatform::save_state(Snapshot& snap) const {
  for_each_device(
      [&](const char* tag, auto& dev) {
        StateWriter w;
        dev.save_state(w);
        snap.add(tag, std::move(w.bytes()));
      },
      SOFTCPU_PLATFORM_DEVICES);
  StateWriter w;
  w(ferr_);
  snap.add("platform", std::move(w.bytes()));
  for (size_t k = 0; k < backends_.size(); ++k) {
    std::vector<uint8_t> overlay;
    if (backends_[k]->snapshot()) backends_[k]->save_overlay(overlay);
    snap.add("disk." + std::to_string(k), std::move(overlay));
  }
}

void PcPlatform::load_state(const Snapshot& snap) {
  // Everything that can be checked without changing anything first.
  for_each_device([&](const char* tag, auto&) { snap.need(tag); }, SOFTCPU_PLATFORM_DEVICES);
  snap.need("platform");
  for (size_t k = 0; k < backends_.size(); ++k) {
    const auto& s = snap.need("disk." + std::to_string(k));
    if (!backends_[k]->snapshot() && !s.data.empty())
      throw SnapshotError{"the snapshot holds an overlay for disk " + std::to_string(k) +
                          ", which is not snapshot=on here"};
  }
  for (size_t k = 0; k < backends_.size(); ++k) {
    const auto& s = snap.need("disk." + std::to_string(k));
    if (backends_[k]->snapshot() && !backends_[k]->load_overlay(s.data.data(), s.data.size()))
      throw SnapshotError{"the snapshot's overlay of disk " + std::to_string(k) +
                          " does not fit this disk"};
  }
  for_each_device(
      [&](const char* tag, auto& dev) {
        const auto& s = snap.need(tag);
        StateReader r(s.data);
        try {
          dev.load_state(r);
          r.expect_end(tag);
        } catch (const StateError& e) {
          throw StateError{std::string(tag) + ": " + e.message};
        }
      },
      SOFTCPU_PLATFORM_DEVICES);
  StateReader r(snap.need("platform").data);
  r(ferr_);
  apic_base_written();
}

#undef SOFTCPU_PLATFORM_DEVICES

void PcPlatform::drain_disk_io(CpuMailbox& mailbox) {
  auto pending = [this] {
    for (const auto& b : backends_)
      if (b->pending()) return true;
    return false;
  };
  while (pending()) {
    mailbox.wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
    mailbox.drain();
  }
}

std::string PcPlatform::describe_devices() const {
  std::string s = "pc-testdev " + std::string(testdev_ ? "on" : "off") + "\n";
  if (!view_.all) {  // a partition's PC: the devices it is shown and their routes
    s += "devices";
    for (const std::string& d : view_.assigned) s += " " + d;
    for (const auto& e : irq_table_->entries())
      s += " " + e.route.device + ":" + std::to_string(e.route.source) + "->gsi" + std::to_string(e.route.gsi);
    s += "\n";
  }
  for (size_t k = 0; k < backends_.size(); ++k) {
    const BlockBackend& b = *backends_[k];
    s += "disk " + std::to_string(k) + ": " + std::to_string(b.size()) + " bytes" +
         (b.snapshot() ? ", snapshot=on" : "") + (b.readonly() ? ", readonly" : "") + "\n";
  }
  return s;
}

}  // namespace softcpu
