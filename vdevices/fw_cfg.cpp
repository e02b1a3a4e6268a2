#include "vdevices/fw_cfg.h"

#include "hostio/state_stream.h"

#include <algorithm>
#include <cstring>

namespace softcpu {

namespace {

void put_be(uint8_t* p, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) p[i] = uint8_t(v >> (8 * (bytes - 1 - i)));
}
uint64_t get_be(const uint8_t* p, unsigned bytes) {
  uint64_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}
std::vector<uint8_t> le_bytes(uint64_t v, unsigned bytes) {
  std::vector<uint8_t> out(bytes);
  for (unsigned i = 0; i < bytes; ++i) out[i] = uint8_t(v >> (8 * i));
  return out;
}
uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }

// Key without the write-channel bit: the item it names.
uint16_t item_key(uint16_t selector) { return selector & ~uint16_t(FW_CFG_WRITE_CHANNEL); }

}  // namespace

FwCfg::FwCfg(ReadGuest read_guest, WriteGuest write_guest)
    : read_guest_(std::move(read_guest)), write_guest_(std::move(write_guest)) {
  set_item(FW_CFG_SIGNATURE, {'Q', 'E', 'M', 'U'});
  set_u32(FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
  rebuild_directory();
}

void FwCfg::set_item(uint16_t key, std::vector<uint8_t> bytes) {
  items_[item_key(key)] = std::move(bytes);
}
void FwCfg::set_u16(uint16_t key, uint16_t v) { set_item(key, le_bytes(v, 2)); }
void FwCfg::set_u32(uint16_t key, uint32_t v) { set_item(key, le_bytes(v, 4)); }
void FwCfg::set_u64(uint16_t key, uint64_t v) { set_item(key, le_bytes(v, 8)); }

void FwCfg::add_file(const std::string& name, std::vector<uint8_t> bytes, bool writable) {
  auto pos = std::lower_bound(files_.begin(), files_.end(), name,
                              [](const File& f, const std::string& n) { return f.name < n; });
  if (pos != files_.end() && pos->name == name) {
    pos->bytes = std::move(bytes);
    pos->writable = writable;
  } else {
    files_.insert(pos, File{name, std::move(bytes), writable});
  }
  rebuild_directory();
}

uint16_t FwCfg::file_selector(const std::string& name) const {
  for (size_t i = 0; i < files_.size(); ++i)
    if (files_[i].name == name) return uint16_t(FW_CFG_FILE_FIRST + i);
  return 0;
}

const std::vector<uint8_t>* FwCfg::file_bytes(const std::string& name) const {
  for (const File& f : files_)
    if (f.name == name) return &f.bytes;
  return nullptr;
}

// FW_CFG_FILE_DIR: be32 count, then per file be32 size, be16 select, be16 reserved,
// char name[56] (fw_cfg.rst "File Directory").
void FwCfg::rebuild_directory() {
  directory_.assign(4 + files_.size() * FW_CFG_FILE_ENTRY_SIZE, 0);
  put_be(directory_.data(), files_.size(), 4);
  for (size_t i = 0; i < files_.size(); ++i) {
    uint8_t* e = directory_.data() + 4 + i * FW_CFG_FILE_ENTRY_SIZE;
    put_be(e, files_[i].bytes.size(), 4);
    put_be(e + 4, FW_CFG_FILE_FIRST + i, 2);
    const std::string& n = files_[i].name;
    std::memcpy(e + 8, n.data(), std::min<size_t>(n.size(), FW_CFG_FILE_NAME_SIZE - 1));
  }
}

FwCfg::File* FwCfg::selected_file() {
  const uint16_t key = item_key(selector_);
  if (key & FW_CFG_ARCH_LOCAL || key < FW_CFG_FILE_FIRST) return nullptr;
  const size_t index = key - FW_CFG_FILE_FIRST;
  return index < files_.size() ? &files_[index] : nullptr;
}

const std::vector<uint8_t>* FwCfg::item(uint16_t selector) const {
  const uint16_t key = item_key(selector);
  if (key == FW_CFG_FILE_DIR) return &directory_;
  if (!(key & FW_CFG_ARCH_LOCAL) && key >= FW_CFG_FILE_FIRST) {
    const size_t index = key - FW_CFG_FILE_FIRST;
    return index < files_.size() ? &files_[index].bytes : nullptr;
  }
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : &it->second;
}

void FwCfg::select(uint16_t key) {
  selector_ = key;
  offset_ = 0;
}

uint32_t FwCfg::io_read(uint16_t port, unsigned size) {
  uint32_t value = 0;
  if (port == PORT_DATA) {
    // Bytes past the end of the item (or of an unknown item) read as 0 and do not advance.
    const std::vector<uint8_t>* data = item(selector_);
    for (unsigned i = 0; i < size; ++i) {
      uint8_t b = 0;
      if (data && offset_ < data->size()) b = (*data)[offset_++];
      value |= uint32_t(b) << (8 * i);
    }
    return value;
  }
  if (port >= PORT_DMA && port < PORT_DMA + 8) {
    // The DMA address register reads as the signature "QEMU CFG" (big-endian register).
    for (unsigned i = 0; i < size; ++i) {
      const unsigned byte = port - PORT_DMA + i;
      const uint8_t b = byte < 8 ? uint8_t(DMA_SIGNATURE >> (8 * (7 - byte))) : 0;
      value |= uint32_t(b) << (8 * i);
    }
    return value;
  }
  return 0;  // selector register: write only
}

void FwCfg::io_write(uint16_t port, unsigned size, uint32_t value) {
  if (port == PORT_SELECTOR && size >= 2) {
    select(uint16_t(value));
  } else if (port == PORT_DMA && size == 4) {
    dma_high_ = bswap32(value);  // the register is big-endian: the guest writes cpu_to_be32
  } else if (port == PORT_DMA + 4 && size == 4) {
    const uint64_t addr = (uint64_t(dma_high_) << 32) | bswap32(value);
    dma_high_ = 0;
    run_dma(addr);
  }
  // Data port writes were dropped by QEMU 2.4; other widths are ignored like QEMU's.
}

void FwCfg::reset() {
  select(0);
  dma_high_ = 0;
}

// One FWCfgDmaAccess {be32 control; be32 length; be64 address;} (fw_cfg.rst "DMA interface").
// Runs synchronously; on return the control word in guest memory is 0 or ERROR.
void FwCfg::run_dma(uint64_t record_addr) {
  ++dma_transfers_;
  uint8_t rec[16];
  if (!read_guest_(record_addr, rec, sizeof rec)) return;
  uint32_t control = uint32_t(get_be(rec, 4));
  uint32_t length = uint32_t(get_be(rec + 4, 4));
  uint64_t address = get_be(rec + 8, 8);

  if (control & FW_CFG_DMA_CTL_SELECT) select(uint16_t(control >> 16));
  enum { NONE, READ, WRITE, SKIP } op = NONE;
  if (control & FW_CFG_DMA_CTL_READ) op = READ;
  else if (control & FW_CFG_DMA_CTL_WRITE) op = WRITE;
  else if (control & FW_CFG_DMA_CTL_SKIP) op = SKIP;
  else length = 0;

  bool error = false;
  const std::vector<uint8_t>* data = item(selector_);
  std::vector<uint8_t> zeros;
  while (length > 0 && !error) {
    uint32_t len;
    if (!data || offset_ >= data->size()) {
      // Past the end: reads give zeros, writes fail, skips just consume.
      len = length;
      if (op == READ) {
        zeros.assign(std::min<uint32_t>(len, 1u << 20), 0);
        len = uint32_t(zeros.size());
        error = !write_guest_(address, zeros.data(), len);
      } else if (op == WRITE) {
        error = true;
      }
    } else {
      len = std::min<uint32_t>(length, uint32_t(data->size() - offset_));
      if (op == READ) {
        error = !write_guest_(address, data->data() + offset_, len);
      } else if (op == WRITE) {
        File* f = selected_file();
        // A write must fit the file entirely (QEMU: len == dma.length) and the file allow it.
        if (!f || !f->writable || len != length)
          error = true;
        else
          error = !read_guest_(address, f->bytes.data() + offset_, len);
      }
      if (!error) offset_ += len;
    }
    address += len;
    length -= len;
  }
  uint8_t done[4];
  put_be(done, error ? uint32_t(FW_CFG_DMA_CTL_ERROR) : 0u, 4);
  write_guest_(record_addr, done, 4);
}

std::vector<uint8_t> legacy_e820_table(const std::vector<uint8_t>& records) {
  // QEMU hw/i386/e820_memory_layout.h: struct e820_table {u32 count; struct e820_entry
  // {u64 address; u64 length; u32 type} entry[16];}, packed, little-endian: 4 + 16 * 20 bytes.
  // Like QEMU it lists the reservations only (every type but RAM); RAM is in "etc/e820".
  constexpr size_t kRecord = 20, kEntries = 16;
  std::vector<uint8_t> table(4 + kEntries * kRecord, 0);
  uint32_t count = 0;
  for (size_t at = 0; at + kRecord <= records.size() && count < kEntries; at += kRecord) {
    const uint32_t type = uint32_t(records[at + 16]) | uint32_t(records[at + 17]) << 8 |
                          uint32_t(records[at + 18]) << 16 | uint32_t(records[at + 19]) << 24;
    if (type == 1) continue;  // E820_RAM
    std::copy(records.begin() + long(at), records.begin() + long(at + kRecord),
              table.begin() + long(4 + count * kRecord));
    ++count;
  }
  const std::vector<uint8_t> n = le_bytes(count, 4);
  std::copy(n.begin(), n.end(), table.begin());
  return table;
}

void add_pc_firmware_items(FwCfg& fw, const FwCfgPcConfig& config) {
  fw.set_item(FW_CFG_UUID, std::vector<uint8_t>(16, 0));
  fw.set_u64(FW_CFG_RAM_SIZE, config.ram_bytes);
  fw.set_u16(FW_CFG_NOGRAPHIC, config.nographic ? 1 : 0);
  fw.set_u16(FW_CFG_NB_CPUS, config.cpus);
  fw.set_u16(FW_CFG_MAX_CPUS, config.cpus);
  // SeaBIOS reads this item as its "etc/show-boot-menu" romfile: 0 = no F12 menu, no wait.
  fw.set_u16(FW_CFG_BOOT_MENU, 0);
  fw.set_u32(FW_CFG_IRQ0_OVERRIDE, config.irq0_override ? 1 : 0);

  std::vector<uint8_t> e820 = config.e820;
  if (e820.empty()) {  // {u64 addr = 0; u64 size = ram; u32 type = 1 (RAM)}
    e820 = le_bytes(0, 8);
    const std::vector<uint8_t> size = le_bytes(config.ram_bytes, 8), type = le_bytes(1, 4);
    e820.insert(e820.end(), size.begin(), size.end());
    e820.insert(e820.end(), type.begin(), type.end());
  }
  fw.set_item(FW_CFG_E820_TABLE, legacy_e820_table(e820));
  fw.add_file("etc/e820", std::move(e820));
  fw.add_file("etc/boot-cpus", le_bytes(config.cpus, 2));
  fw.add_file("bootorder", {});
  // SeaBIOS sercon_setup: romfile_loadint("etc/sercon-port", 0); 1, 2, 4 or 8 bytes.
  if (config.sercon_port) fw.add_file("etc/sercon-port", le_bytes(config.sercon_port, 2));
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void FwCfg::visit_state(A& a) {
  a(selector_, offset_, dma_high_, dma_transfers_);
  // Only the files the guest may write change after construction.
  for (File& f : files_)
    if (f.writable) a(f.bytes);
}

void FwCfg::save_state(StateWriter& w) const { const_cast<FwCfg*>(this)->visit_state(w); }

void FwCfg::load_state(StateReader& r) {
  visit_state(r);
  rebuild_directory();
}

}  // namespace softcpu
