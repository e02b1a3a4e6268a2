#include "vdevices/ide_controller.h"

#include "hostio/state_stream.h"

#include <algorithm>

#include "vdevices/port_mask.h"

namespace softcpu {

namespace {

constexpr uint32_t SECTOR = 512;
constexpr uint8_t READY = IdeChannel::ST_DRDY | IdeChannel::ST_DSC;

}  // namespace

IdeChannel::IdeChannel(uint16_t cmd_base, uint16_t ctrl_port, IrqLine irq)
    : cmd_base_(cmd_base), ctrl_port_(ctrl_port), irq_(irq), alive_(std::make_shared<bool>(true)) {
  software_reset_done();
}

IdeChannel::~IdeChannel() { *alive_ = false; }

void IdeChannel::attach_disk(unsigned unit, AtaDisk* disk) {
  drives_[unit].disk = disk;
  software_reset_done();
}

void IdeChannel::set_bus_master_enabled(bool on) {
  bus_master_enabled_ = on;
  dma_step();
}

void IdeChannel::reset() {
  cancel_command();
  control_ = 0;
  bm_ = BusMasterRegs{};
  for (Drive& d : drives_)
    if (d.disk) d.disk->restore_defaults();
  software_reset_done();
}

// ---- register file ------------------------------------------------------------------------

uint32_t IdeChannel::io_read(uint16_t port, unsigned size) {
  if (port == cmd_base_) return read_data(size);
  if (channel_empty()) return port_size_mask(size);  // floating bus: no drive pulls it
  if (port == ctrl_port_) {
    const Drive& d = drives_[selected_];
    return d.disk ? d.status : 0;  // alternate status: no interrupt acknowledge
  }
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    unsigned reg = static_cast<uint16_t>(port + i - cmd_base_);
    value |= uint32_t{reg < 8 ? read_register(reg) : uint8_t{0xFF}} << (8 * i);
  }
  return value;
}

void IdeChannel::io_write(uint16_t port, unsigned size, uint32_t value) {
  if (port == cmd_base_) return write_data(size, value);
  if (port == ctrl_port_) return write_device_control(static_cast<uint8_t>(value));
  for (unsigned i = 0; i < size; ++i) {
    unsigned reg = static_cast<uint16_t>(port + i - cmd_base_);
    if (reg < 8) write_register(reg, static_cast<uint8_t>(value >> (8 * i)));
  }
}

uint8_t IdeChannel::read_register(unsigned reg) {
  Drive& d = drives_[selected_];
  bool hob = control_ & CTL_HOB;
  switch (reg) {
    case REG_ERROR_FEATURE: return d.error;
    case REG_NSECT: return hob ? d.hob_nsect : d.nsect;
    case REG_LBAL: return hob ? d.hob_lbal : d.lbal;
    case REG_LBAM: return hob ? d.hob_lbam : d.lbam;
    case REG_LBAH: return hob ? d.hob_lbah : d.lbah;
    case REG_DEVICE: return d.device;
    case REG_STATUS_COMMAND:
      // Device 0 answers for an absent device 1 with status 00h (ATA-6 9.16.1); Linux takes
      // that as "no device".
      if (!d.disk) return 0;
      d.intrq = false;  // reading Status acknowledges the interrupt
      update_irq();
      return d.status;
    default: return 0xFF;
  }
}

void IdeChannel::write_register(unsigned reg, uint8_t value) {
  if (channel_empty()) return;
  if (reg == REG_STATUS_COMMAND) {
    Drive& d = drives_[selected_];
    if (!d.disk || (d.status & ST_BSY) || (control_ & CTL_SRST)) return;
    if (phase_ != Phase::IDLE) cancel_command();  // a command during DRQ ends that transfer
    d.intrq = false;
    update_irq();
    active_unit_ = selected_;
    execute(value);
    return;
  }
  if (drives_[selected_].status & ST_BSY) return;  // ignored while busy
  control_ &= ~CTL_HOB;  // a command block write clears HOB (ATA-6 7.9.6)
  for (Drive& d : drives_) {
    // LBA48: each register is a two-byte FIFO; the older byte becomes the HOB value.
    switch (reg) {
      case REG_ERROR_FEATURE: d.hob_feature = d.feature; d.feature = value; break;
      case REG_NSECT: d.hob_nsect = d.nsect; d.nsect = value; break;
      case REG_LBAL: d.hob_lbal = d.lbal; d.lbal = value; break;
      case REG_LBAM: d.hob_lbam = d.lbam; d.lbam = value; break;
      case REG_LBAH: d.hob_lbah = d.lbah; d.lbah = value; break;
      case REG_DEVICE: d.device = value; break;
      default: break;
    }
  }
  if (reg == REG_DEVICE) {
    selected_ = (value >> 4) & 1;
    update_irq();  // only the selected device drives INTRQ
  }
}

void IdeChannel::write_device_control(uint8_t value) {
  uint8_t old = control_;
  control_ = value;
  if ((value & CTL_SRST) && !(old & CTL_SRST)) {
    cancel_command();
    for (Drive& d : drives_) {
      d.intrq = false;
      if (d.disk) d.status = ST_BSY;
    }
  } else if (!(value & CTL_SRST) && (old & CTL_SRST)) {
    software_reset_done();  // the reset takes no guest time here; no interrupt (ATA-6 9.2)
  }
  update_irq();
}

void IdeChannel::set_signature(Drive& d) {
  // ATA device signature (ATA-6 9.12); an absent device reads FFh in the cylinder registers,
  // which no signature uses.
  d.nsect = 1;
  d.lbal = 1;
  d.lbam = d.lbah = d.disk ? 0x00 : 0xFF;
  d.hob_nsect = d.hob_lbal = d.hob_lbam = d.hob_lbah = d.hob_feature = 0;
  d.error = 0x01;  // diagnostics passed
}

void IdeChannel::software_reset_done() {
  for (Drive& d : drives_) {
    set_signature(d);
    d.device = 0;
    d.intrq = false;
    d.status = d.disk ? READY : 0;
  }
  selected_ = 0;
  update_irq();
}

void IdeChannel::cancel_command() {
  ++generation_;  // completions still on their way are dropped
  if (in_flight_) buf_.reset();  // the host may still be writing the old buffer
  in_flight_ = false;
  chunk_ready_ = false;
  phase_ = Phase::IDLE;
  remaining_ = 0;
  pio_ptr_ = pio_end_ = nullptr;
}

// ---- interrupts ---------------------------------------------------------------------------

void IdeChannel::raise_irq(Drive& d) {
  d.intrq = true;
  bm_.status |= BusMasterRegs::ST_INTERRUPT;
  update_irq();
}

void IdeChannel::update_irq() {
  bool level = drives_[selected_].intrq && !(control_ & CTL_NIEN);
  if (level == line_level_) return;
  line_level_ = level;
  irq_.set(level);
}

// ---- PIO data -----------------------------------------------------------------------------

uint32_t IdeChannel::read_data(unsigned size) {
  if (phase_ != Phase::PIO_IN || !pio_ptr_) return port_size_mask(size);
  uint32_t value;
  if (size == 2 && pio_end_ - pio_ptr_ >= 2) {
    value = pio_ptr_[0] | pio_ptr_[1] << 8;
    pio_ptr_ += 2;
  } else {
    value = 0;
    for (unsigned i = 0; i < size && pio_ptr_ < pio_end_; ++i)
      value |= uint32_t{*pio_ptr_++} << (8 * i);
  }
  if (pio_ptr_ == pio_end_) pio_block_done();
  return value;
}

void IdeChannel::write_data(unsigned size, uint32_t value) {
  if (phase_ != Phase::PIO_OUT || !pio_ptr_) return;
  if (size == 2 && pio_end_ - pio_ptr_ >= 2) {
    pio_ptr_[0] = static_cast<uint8_t>(value);
    pio_ptr_[1] = static_cast<uint8_t>(value >> 8);
    pio_ptr_ += 2;
  } else {
    for (unsigned i = 0; i < size && pio_ptr_ < pio_end_; ++i)
      *pio_ptr_++ = static_cast<uint8_t>(value >> (8 * i));
  }
  if (pio_ptr_ == pio_end_) pio_block_done();
}

IdeChannel::Buffer& IdeChannel::buffer(size_t bytes) {
  size_t want = std::max<size_t>(bytes, CHUNK_SECTORS * SECTOR);
  if (!buf_ || buf_->size() < want) buf_ = std::make_shared<std::vector<uint8_t>>(want);
  return buf_;
}

// ---- commands -----------------------------------------------------------------------------

void IdeChannel::complete(uint8_t error) {
  Drive& d = active();
  phase_ = Phase::IDLE;
  pio_ptr_ = pio_end_ = nullptr;
  remaining_ = 0;
  d.status = error ? READY | ST_ERR : READY;
  d.error = error;
  raise_irq(d);
}

uint32_t IdeChannel::sector_count(bool lba48) const {
  const Drive& d = drives_[active_unit_];
  if (lba48) {
    uint32_t n = uint32_t{d.hob_nsect} << 8 | d.nsect;
    return n ? n : 65536;
  }
  return d.nsect ? d.nsect : 256;
}

bool IdeChannel::decode_address(bool lba48, uint64_t* lba) {
  Drive& d = active();
  if (lba48) {
    *lba = uint64_t{d.hob_lbah} << 40 | uint64_t{d.hob_lbam} << 32 | uint64_t{d.hob_lbal} << 24 |
           uint64_t{d.lbah} << 16 | uint64_t{d.lbam} << 8 | d.lbal;
    return true;
  }
  if (d.device & 0x40) {  // LBA bit
    *lba = uint64_t{d.device & 0x0Fu} << 24 | uint64_t{d.lbah} << 16 | uint64_t{d.lbam} << 8 |
           d.lbal;
    return true;
  }
  // CHS through the current translation (ATA-6 6.2.1).
  const AtaGeometry& g = d.disk->current;
  uint32_t cylinder = uint32_t{d.lbah} << 8 | d.lbam, head = d.device & 0x0F, sector = d.lbal;
  if (sector == 0 || sector > g.sectors || head >= g.heads || cylinder >= g.cylinders)
    return false;
  *lba = (uint64_t{cylinder} * g.heads + head) * g.sectors + sector - 1;
  return true;
}

void IdeChannel::store_address(uint64_t lba) {
  Drive& d = active();
  if (lba48_) {
    d.lbal = static_cast<uint8_t>(lba);
    d.lbam = static_cast<uint8_t>(lba >> 8);
    d.lbah = static_cast<uint8_t>(lba >> 16);
    d.hob_lbal = static_cast<uint8_t>(lba >> 24);
    d.hob_lbam = static_cast<uint8_t>(lba >> 32);
    d.hob_lbah = static_cast<uint8_t>(lba >> 40);
  } else if (d.device & 0x40) {
    d.lbal = static_cast<uint8_t>(lba);
    d.lbam = static_cast<uint8_t>(lba >> 8);
    d.lbah = static_cast<uint8_t>(lba >> 16);
    d.device = static_cast<uint8_t>((d.device & 0xF0) | ((lba >> 24) & 0x0F));
  } else {
    const AtaGeometry& g = d.disk->current;
    uint64_t track = lba / g.sectors;
    d.lbal = static_cast<uint8_t>(lba % g.sectors + 1);
    d.device = static_cast<uint8_t>((d.device & 0xF0) | (track % g.heads));
    d.lbam = static_cast<uint8_t>(track / g.heads);
    d.lbah = static_cast<uint8_t>(track / g.heads >> 8);
  }
}

bool IdeChannel::check_range(uint64_t lba, uint32_t count) {
  return lba + count <= active().disk->sectors();
}

void IdeChannel::execute(uint8_t command) {
  Drive& d = active();
  AtaDisk& disk = *d.disk;
  command_ = command;
  d.error = 0;
  bool dma_ok = mem_ != nullptr;

  // Sector transfers: decode and check the address, then start the data phase.
  auto transfer = [&](bool lba48, Phase phase, unsigned block) {
    lba48_ = lba48;
    uint64_t lba;
    if (!decode_address(lba48, &lba)) return complete(ERR_IDNF);
    uint32_t count = sector_count(lba48);
    if (!check_range(lba, count)) return complete(ERR_IDNF);
    switch (phase) {
      case Phase::PIO_IN: return start_pio_in(lba, count, block);
      case Phase::PIO_OUT: return start_pio_out(lba, count, block);
      case Phase::DMA_IN: return start_dma(true, lba, count);
      case Phase::DMA_OUT: return start_dma(false, lba, count);
      default: return complete();  // READ VERIFY: nothing to move
    }
  };

  switch (command) {
    case 0xEC: {  // IDENTIFY DEVICE
      uint16_t words[256];
      disk.identify(words, dma_ok, active_unit_);
      uint8_t* out = buffer(SECTOR)->data();
      for (unsigned i = 0; i < 256; ++i) {
        out[2 * i] = static_cast<uint8_t>(words[i]);
        out[2 * i + 1] = static_cast<uint8_t>(words[i] >> 8);
      }
      phase_ = Phase::PIO_IN;
      lba48_ = false;
      remaining_ = 1;
      block_ = 1;
      chunk_pos_ = 0;
      chunk_sectors_ = 1;
      return present_block();
    }
    case 0x20: case 0x21: return transfer(false, Phase::PIO_IN, 1);   // READ SECTOR(S)
    case 0x24: return transfer(true, Phase::PIO_IN, 1);               // READ SECTOR(S) EXT
    case 0x30: case 0x31: return transfer(false, Phase::PIO_OUT, 1);  // WRITE SECTOR(S)
    case 0x34: return transfer(true, Phase::PIO_OUT, 1);              // WRITE SECTOR(S) EXT
    case 0xC4: case 0x29: case 0xC5: case 0x39: {                     // READ/WRITE MULTIPLE
      if (!disk.multiple) return complete(ERR_ABRT);
      bool out = command == 0xC5 || command == 0x39;
      return transfer(command == 0x29 || command == 0x39, out ? Phase::PIO_OUT : Phase::PIO_IN,
                      disk.multiple);
    }
    case 0xC8: case 0xC9: case 0x25: case 0xCA: case 0xCB: case 0x35: {  // READ/WRITE DMA
      if (!dma_ok) return complete(ERR_ABRT);
      bool out = command == 0xCA || command == 0xCB || command == 0x35;
      return transfer(command == 0x25 || command == 0x35, out ? Phase::DMA_OUT : Phase::DMA_IN,
                      1);
    }
    case 0x40: case 0x41: return transfer(false, Phase::IDLE, 1);  // READ VERIFY SECTOR(S)
    case 0x42: return transfer(true, Phase::IDLE, 1);              // READ VERIFY EXT
    case 0x90: {  // EXECUTE DEVICE DIAGNOSTIC: both devices report, device 0 interrupts
      for (Drive& each : drives_) {
        set_signature(each);
        if (each.disk) {
          each.status = READY;
          raise_irq(each);
        }
      }
      phase_ = Phase::IDLE;
      return;
    }
    case 0x91:  // INITIALIZE DEVICE PARAMETERS: heads - 1 in DEV 3..0, sectors/track in count
      return complete(disk.set_translation((d.device & 0x0F) + 1u, d.nsect) ? 0 : ERR_ABRT);
    case 0xC6: {  // SET MULTIPLE MODE: a power of two up to the IDENTIFY word 47 limit; 0 = off
      unsigned n = d.nsect;
      if (n > AtaDisk::MAX_MULTIPLE || (n & (n - 1))) return complete(ERR_ABRT);
      disk.multiple = n;
      return complete();
    }
    case 0xE7: case 0xEA: return flush_cache();  // FLUSH CACHE (EXT)
    case 0xEF: {  // SET FEATURES
      unsigned mode = d.nsect & 7;
      switch (d.feature) {
        case 0x03:  // set transfer mode (ATA-6 table 44)
          switch (d.nsect >> 3) {
            case 0: return complete(mode <= 1 ? 0 : ERR_ABRT);  // PIO default
            case 1: return complete(mode <= 4 ? 0 : ERR_ABRT);  // PIO flow control mode
            case 4:                                             // multiword DMA
              if (!dma_ok || mode > 2) return complete(ERR_ABRT);
              disk.mwdma_mode = static_cast<int>(mode);
              disk.udma_mode = -1;
              return complete();
            case 8:  // Ultra DMA
              if (!dma_ok || mode > 5) return complete(ERR_ABRT);
              disk.udma_mode = static_cast<int>(mode);
              disk.mwdma_mode = -1;
              return complete();
            default: return complete(ERR_ABRT);
          }
        case 0x02: disk.write_cache = true; return complete();
        case 0x82: disk.write_cache = false; return complete();
        case 0xAA: case 0x55: case 0x66: case 0xCC: return complete();  // look-ahead, defaults
        default: return complete(ERR_ABRT);
      }
    }
    case 0xE0: case 0xE1: case 0xE2: case 0xE3:  // STANDBY/IDLE (IMMEDIATE): always active
    case 0x94: case 0x95: case 0x96: case 0x97:  // their pre-ATA-4 opcodes
      return complete();
    case 0xE5: case 0x98:  // CHECK POWER MODE: FFh = active or idle
      d.nsect = 0xFF;
      return complete();
    default:
      if ((command & 0xF0) == 0x10 || (command & 0xF0) == 0x70) return complete();  // RECAL/SEEK
      return complete(ERR_ABRT);
  }
}

void IdeChannel::flush_cache() {
  Drive& d = active();
  d.status = READY | ST_BSY;
  phase_ = Phase::BUSY;
  in_flight_ = true;
  uint32_t gen = generation_;
  d.disk->backend().flush([this, gen, alive = alive_](int status) {
    if (!*alive || gen != generation_) return;
    in_flight_ = false;
    complete(status < 0 ? ERR_ABRT : 0);
  });
}

// ---- PIO transfers ------------------------------------------------------------------------

void IdeChannel::start_pio_in(uint64_t lba, uint32_t count, unsigned block) {
  phase_ = Phase::PIO_IN;
  lba_ = lba;
  remaining_ = count;
  block_ = block;
  fetch_chunk();
}

void IdeChannel::fetch_chunk() {
  Drive& d = active();
  uint32_t n = std::min(remaining_, CHUNK_SECTORS);
  Buffer keep = buffer(n * SECTOR);
  d.status = READY | ST_BSY;
  in_flight_ = true;
  chunk_pos_ = 0;
  chunk_sectors_ = n;
  uint32_t gen = generation_;
  d.disk->backend().read(lba_ * SECTOR, n * SECTOR, keep->data(),
                         [this, gen, alive = alive_, keep](int status) {
                           if (!*alive || gen != generation_) return;
                           in_flight_ = false;
                           if (status < 0) {
                             store_address(lba_);
                             return complete(ERR_UNC);
                           }
                           present_block();
                         });
}

void IdeChannel::present_block() {
  Drive& d = active();
  block_now_ = std::min(block_, remaining_);
  pio_ptr_ = buf_->data() + chunk_pos_ * SECTOR;
  pio_end_ = pio_ptr_ + block_now_ * SECTOR;
  if (command_ != 0xEC) store_address(lba_ + block_now_ - 1);
  d.status = READY | ST_DRQ;
  raise_irq(d);  // PIO data-in: an interrupt for every DRQ block (ATA-6 9.7)
}

void IdeChannel::start_pio_out(uint64_t lba, uint32_t count, unsigned block) {
  Drive& d = active();
  phase_ = Phase::PIO_OUT;
  lba_ = lba;
  remaining_ = count;
  block_ = block;
  block_now_ = std::min(block_, remaining_);
  pio_ptr_ = buffer(block_now_ * SECTOR)->data();
  pio_end_ = pio_ptr_ + block_now_ * SECTOR;
  d.status = READY | ST_DRQ;  // no interrupt before the first block (ATA-6 9.8)
}

void IdeChannel::pio_block_done() {
  Drive& d = active();
  pio_ptr_ = pio_end_ = nullptr;
  if (phase_ == Phase::PIO_IN) {
    chunk_pos_ += block_now_;
    lba_ += block_now_;
    remaining_ -= block_now_;
    if (remaining_ == 0) {
      phase_ = Phase::IDLE;
      d.status = READY;  // no interrupt after the last data-in block
    } else if (chunk_pos_ < chunk_sectors_) {
      present_block();
    } else {
      fetch_chunk();
    }
    return;
  }
  // PIO out: write the block, then interrupt and ask for the next one (or end).
  d.status = READY | ST_BSY;
  in_flight_ = true;
  uint32_t gen = generation_;
  Buffer keep = buf_;
  d.disk->backend().write(
      lba_ * SECTOR, block_now_ * SECTOR, keep->data(),
      [this, gen, alive = alive_, keep](int status) {
        if (!*alive || gen != generation_) return;
        in_flight_ = false;
        Drive& dr = active();
        if (status < 0) {
          store_address(lba_);
          return complete(ERR_ABRT);
        }
        lba_ += block_now_;
        remaining_ -= block_now_;
        store_address(lba_ - 1);
        if (remaining_ == 0) return complete();
        block_now_ = std::min(block_, remaining_);
        pio_ptr_ = buf_->data();
        pio_end_ = pio_ptr_ + block_now_ * SECTOR;
        dr.status = READY | ST_DRQ;
        raise_irq(dr);
      });
}

// ---- DMA ----------------------------------------------------------------------------------

void IdeChannel::start_dma(bool to_memory, uint64_t lba, uint32_t count) {
  phase_ = to_memory ? Phase::DMA_IN : Phase::DMA_OUT;
  lba_ = lba;
  remaining_ = count;
  chunk_ready_ = false;
  active().status = READY | ST_BSY;
  dma_step();
}

void IdeChannel::dma_step() {
  if (phase_ != Phase::DMA_IN && phase_ != Phase::DMA_OUT) return;
  if (in_flight_) return;
  bool to_memory = phase_ == Phase::DMA_IN;
  bool engine_ready = mem_ && bus_master_enabled_ && (bm_.command & BusMasterRegs::CMD_START) &&
                      ((bm_.command & BusMasterRegs::CMD_TO_MEMORY) != 0) == to_memory;
  uint32_t gen = generation_;
  AtaDisk& disk = *active().disk;

  if (to_memory) {
    if (!chunk_ready_) {  // read ahead even before the guest starts the engine
      uint32_t n = std::min(remaining_, CHUNK_SECTORS);
      Buffer keep = buffer(n * SECTOR);
      in_flight_ = true;
      chunk_sectors_ = n;
      disk.backend().read(lba_ * SECTOR, n * SECTOR, keep->data(),
                          [this, gen, alive = alive_, keep](int status) {
                            if (!*alive || gen != generation_) return;
                            in_flight_ = false;
                            if (status < 0) return dma_finish(false, ERR_UNC);
                            chunk_ready_ = true;
                            dma_step();
                          });
      return;
    }
    if (!engine_ready) return;
    uint32_t bytes = chunk_sectors_ * SECTOR;
    if (prd_.to_memory(*mem_, buf_->data(), bytes) < bytes) return dma_finish(false, ERR_ABRT);
    chunk_ready_ = false;
    lba_ += chunk_sectors_;
    remaining_ -= chunk_sectors_;
    if (remaining_ == 0) return dma_finish(true, 0);
    return dma_step();
  }

  if (!engine_ready) return;
  uint32_t n = std::min(remaining_, CHUNK_SECTORS);
  Buffer keep = buffer(n * SECTOR);
  if (prd_.from_memory(*mem_, keep->data(), n * SECTOR) < n * SECTOR)
    return dma_finish(false, ERR_ABRT);
  in_flight_ = true;
  chunk_sectors_ = n;
  disk.backend().write(lba_ * SECTOR, n * SECTOR, keep->data(),
                       [this, gen, alive = alive_, keep](int status) {
                         if (!*alive || gen != generation_) return;
                         in_flight_ = false;
                         if (status < 0) return dma_finish(false, ERR_ABRT);
                         lba_ += chunk_sectors_;
                         remaining_ -= chunk_sectors_;
                         if (remaining_ == 0) return dma_finish(true, 0);
                         dma_step();
                       });
}

void IdeChannel::dma_finish(bool ok, uint8_t error) {
  store_address(ok ? lba_ - 1 : lba_);
  // The engine goes idle when the transfer used up the table; a longer table leaves it
  // active until the guest stops it (82371SB 2.7.3).
  if (prd_.at_end() || !ok) bm_.status &= ~BusMasterRegs::ST_ACTIVE;
  complete(ok ? 0 : error);
}

uint8_t IdeChannel::bus_master_read(unsigned offset) {
  switch (offset) {
    case 0: return bm_.command;
    case 2: return bm_.status;
    case 4: case 5: case 6: case 7: return static_cast<uint8_t>(bm_.prd_table >> (8 * (offset - 4)));
    default: return 0;
  }
}

void IdeChannel::bus_master_write(unsigned offset, uint8_t value) {
  switch (offset) {
    case 0: {
      bool was_started = bm_.command & BusMasterRegs::CMD_START;
      bm_.command = value & (BusMasterRegs::CMD_START | BusMasterRegs::CMD_TO_MEMORY);
      bool started = bm_.command & BusMasterRegs::CMD_START;
      if (started && !was_started) {
        bm_.status |= BusMasterRegs::ST_ACTIVE;
        prd_.start(bm_.prd_table);
        dma_step();
      } else if (!started && was_started) {
        bm_.status &= ~BusMasterRegs::ST_ACTIVE;  // a transfer in progress waits for a restart
      }
      return;
    }
    case 2: {
      constexpr uint8_t kW1c = BusMasterRegs::ST_ERROR | BusMasterRegs::ST_INTERRUPT;
      constexpr uint8_t kRw = BusMasterRegs::ST_DRIVE0_DMA | BusMasterRegs::ST_DRIVE1_DMA;
      bm_.status = static_cast<uint8_t>((bm_.status & ~kRw & ~(value & kW1c)) | (value & kRw));
      return;
    }
    case 4: case 5: case 6: case 7: {
      unsigned shift = 8 * (offset - 4);
      bm_.prd_table = (bm_.prd_table & ~(0xFFu << shift)) | uint32_t{value} << shift;
      bm_.prd_table &= ~3u;  // dword aligned
      return;
    }
    default: return;
  }
}

// ---- controller ---------------------------------------------------------------------------

IdeController::IdeController(IrqLine primary_irq, IrqLine secondary_irq)
    : primary_(PRIMARY_CMD, PRIMARY_CTRL, primary_irq),
      secondary_(SECONDARY_CMD, SECONDARY_CTRL, secondary_irq),
      bus_master_(primary_, secondary_) {}

void IdeController::set_guest_memory(GuestMemory mem) {
  mem_ = std::move(mem);
  primary_.set_guest_memory(&mem_);
  secondary_.set_guest_memory(&mem_);
}

void IdeController::set_bus_master_enabled(bool on) {
  primary_.set_bus_master_enabled(on);
  secondary_.set_bus_master_enabled(on);
}

void IdeController::reset() {
  primary_.reset();
  secondary_.reset();
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void IdeController::visit_state(A& a) {
  if constexpr (A::LOADING) {
    primary_.load_state(a);
    secondary_.load_state(a);
  } else {
    primary_.save_state(a);
    secondary_.save_state(a);
  }
}

void IdeController::save_state(StateWriter& w) const { const_cast<IdeController*>(this)->visit_state(w); }

void IdeController::load_state(StateReader& r) {
  visit_state(r);
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void IdeChannel::visit_state(A& a) {
  for (Drive& d : drives_) {
    a(d.feature, d.nsect, d.lbal, d.lbam, d.lbah, d.hob_feature, d.hob_nsect, d.hob_lbal,
      d.hob_lbam, d.hob_lbah, d.device, d.error, d.status, d.intrq);
    bool present = d.disk != nullptr;
    a(present);
    if (present != (d.disk != nullptr))
      throw StateError{"an IDE drive is attached in the snapshot but not here, or the reverse"};
    if (!d.disk) continue;
    if constexpr (A::LOADING) d.disk->load_state(a); else d.disk->save_state(a);
  }
  a(line_level_, bus_master_enabled_, selected_, active_unit_, control_, phase_, command_, lba48_,
    lba_, remaining_, block_, block_now_, chunk_pos_, chunk_sectors_, chunk_ready_, bm_);
  if constexpr (A::LOADING) prd_.load_state(a); else prd_.save_state(a);
  // The transfer buffer, and the DRQ window into it as offsets.
  if constexpr (A::LOADING) {
    bool has_buf = false;
    a(has_buf);
    ++generation_;  // nothing issued before the load may complete into the loaded state
    in_flight_ = false;
    pio_ptr_ = pio_end_ = nullptr;
    buf_.reset();
    if (has_buf) {
      std::vector<uint8_t> data;
      uint32_t ptr = 0, end = 0;
      bool window = false;
      a(data, window, ptr, end);
      buf_ = std::make_shared<std::vector<uint8_t>>(std::move(data));
      if (window) {
        if (ptr > end || end > buf_->size()) throw StateError{"bad IDE transfer window"};
        pio_ptr_ = buf_->data() + ptr;
        pio_end_ = buf_->data() + end;
      }
    }
    if (active_unit_ > 1 || selected_ > 1) throw StateError{"bad IDE drive number"};
  } else {
    // monitor/snapshot.cpp completes host I/O before saving: a request in flight here would
    // be half an operation.
    if (in_flight_) throw StateError{"an IDE disk request is still in flight"};
    const bool has_buf = buf_ != nullptr;
    a(has_buf);
    if (has_buf) {
      const bool window = pio_ptr_ != nullptr;
      const uint32_t ptr = window ? uint32_t(pio_ptr_ - buf_->data()) : 0;
      const uint32_t end = window ? uint32_t(pio_end_ - buf_->data()) : 0;
      a(*buf_, window, ptr, end);
    }
  }
}

void IdeChannel::save_state(StateWriter& w) const { const_cast<IdeChannel*>(this)->visit_state(w); }

void IdeChannel::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
