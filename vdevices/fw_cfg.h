// QEMU's firmware configuration device (fw_cfg) on its x86 I/O ports (QEMU
// docs/specs/fw_cfg.rst): a 16-bit selector at 0x510, a byte-wide data port at 0x511 whose
// reads advance an offset into the selected item, and the DMA interface at 0x514 (big-endian
// address of a FWCfgDmaAccess record, high half at 0x514, low half at 0x518; writing the low
// half runs the transfer). SeaBIOS uses it to find RAM size, CPUs, the e820 map and its
// "etc/..." files. Guest memory is reached through callbacks, so the device knows no CPU.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "vdevices/io_device.h"

namespace softcpu {

class StateReader;
class StateWriter;

// Item keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h, hw/i386/fw_cfg.h).
enum FwCfgKey : uint16_t {
  FW_CFG_SIGNATURE = 0x00,
  FW_CFG_ID = 0x01,
  FW_CFG_UUID = 0x02,
  FW_CFG_RAM_SIZE = 0x03,
  FW_CFG_NOGRAPHIC = 0x04,
  FW_CFG_NB_CPUS = 0x05,
  FW_CFG_NUMA = 0x0D,
  FW_CFG_BOOT_MENU = 0x0E,
  FW_CFG_MAX_CPUS = 0x0F,
  FW_CFG_FILE_DIR = 0x19,
  FW_CFG_FILE_FIRST = 0x20,
  FW_CFG_WRITE_CHANNEL = 0x4000,  // selector bit: the item is opened for writing (ignored)
  FW_CFG_ARCH_LOCAL = 0x8000,
  FW_CFG_ACPI_TABLES = FW_CFG_ARCH_LOCAL + 0,
  FW_CFG_SMBIOS_ENTRIES = FW_CFG_ARCH_LOCAL + 1,
  FW_CFG_IRQ0_OVERRIDE = FW_CFG_ARCH_LOCAL + 2,
  FW_CFG_E820_TABLE = FW_CFG_ARCH_LOCAL + 3,
};

// FW_CFG_ID bits.
enum : uint32_t { FW_CFG_VERSION = 1, FW_CFG_VERSION_DMA = 2 };

// FWCfgDmaAccess.control bits (the selector is in bits 16-31 with SELECT).
enum : uint32_t {
  FW_CFG_DMA_CTL_ERROR = 0x01,
  FW_CFG_DMA_CTL_READ = 0x02,
  FW_CFG_DMA_CTL_SKIP = 0x04,
  FW_CFG_DMA_CTL_SELECT = 0x08,
  FW_CFG_DMA_CTL_WRITE = 0x10,
};

constexpr unsigned FW_CFG_FILE_NAME_SIZE = 56;
constexpr unsigned FW_CFG_FILE_ENTRY_SIZE = 64;  // be32 size, be16 select, u16 reserved, name

class FwCfg final : public IoDevice {
 public:
  static constexpr uint16_t PORT_SELECTOR = 0x510;
  static constexpr uint16_t PORT_DATA = 0x511;
  static constexpr uint16_t PORT_DMA = 0x514;  // 8 ports: 0x514-0x51B
  static constexpr uint64_t DMA_SIGNATURE = 0x51454D5520434647ull;  // "QEMU CFG" read big-endian

  // Guest-physical memory for DMA; false when the range is not (all) memory -> ERROR bit.
  using ReadGuest = std::function<bool(uint64_t addr, void* out, uint32_t len)>;
  using WriteGuest = std::function<bool(uint64_t addr, const void* in, uint32_t len)>;

  // Holds the signature and the ID (traditional + DMA) items and an empty file directory.
  FwCfg(ReadGuest read_guest, WriteGuest write_guest);

  const char* name() const override { return "fw_cfg"; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  void reset() override;

  // Numbered items (overwrite any earlier value). Integers are little-endian, as QEMU stores
  // them (fw_cfg_add_i16/i32/i64).
  void set_item(uint16_t key, std::vector<uint8_t> bytes);
  void set_u16(uint16_t key, uint16_t v);
  void set_u32(uint16_t key, uint32_t v);
  void set_u64(uint16_t key, uint64_t v);

  // A named file. The directory is sorted by name and file i gets selector 0x20 + i, as in
  // QEMU's current machine types, so adding a file can move the selectors of later ones.
  // A writable file accepts DMA writes within its size. Adding a name twice replaces it.
  void add_file(const std::string& name, std::vector<uint8_t> bytes, bool writable = false);
  // Selector of a file, or 0 if there is none of that name.
  uint16_t file_selector(const std::string& name) const;
  const std::vector<uint8_t>* file_bytes(const std::string& name) const;

  uint64_t dma_transfers() const { return dma_transfers_; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  struct File {
    std::string name;
    std::vector<uint8_t> bytes;
    bool writable;
  };
  const std::vector<uint8_t>* item(uint16_t key) const;  // nullptr: reads as zeros
  File* selected_file();
  void select(uint16_t key);
  void rebuild_directory();
  void run_dma(uint64_t record_addr);

  ReadGuest read_guest_;
  WriteGuest write_guest_;
  std::map<uint16_t, std::vector<uint8_t>> items_;
  std::vector<File> files_;  // sorted by name
  std::vector<uint8_t> directory_;
  uint16_t selector_ = 0;
  uint32_t offset_ = 0;
  uint32_t dma_high_ = 0;
  uint64_t dma_transfers_ = 0;
};

// The items and files QEMU 7/8 gives SeaBIOS for a headless i440FX PC with `ram_bytes` of RAM
// (all below 4 GiB) and `cpus` CPUs: RAM size, CPU counts, no graphics, no boot menu, IRQ0
// routed to I/O APIC pin 2, "etc/e820", "etc/boot-cpus", an empty "bootorder" and
// "etc/sercon-port" = COM1 (SeaBIOS's sercon then sends INT 10h text output to the UART).
struct FwCfgPcConfig {
  uint32_t ram_bytes = 0;
  uint16_t cpus = 1;
  bool nographic = true;
  bool irq0_override = true;
  uint16_t sercon_port = 0x3F8;  // 0: no "etc/sercon-port" file
  // Encoded "etc/e820" records (monitor/e820.h encode_e820(firmware_e820_map(ram))); empty:
  // the one RAM range [0, ram_bytes) that QEMU gives.
  std::vector<uint8_t> e820;
};
void add_pc_firmware_items(FwCfg& fw, const FwCfgPcConfig& config);
// The legacy item FW_CFG_E820_TABLE from "etc/e820" records (20 bytes each): a u32 count, then
// 16 entries of {u64 address, u64 length, u32 type}, the reservations (non-RAM records) first,
// the rest zero, as QEMU fills it (hw/i386/e820_memory_layout.h). SeaBIOS reads "etc/e820".
std::vector<uint8_t> legacy_e820_table(const std::vector<uint8_t>& records);

}  // namespace softcpu
