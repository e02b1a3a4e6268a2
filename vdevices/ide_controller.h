// A PC IDE controller: two channels, each with a master and a slave ATA disk (ATA/ATAPI-6,
// T13 1410D), the command block at 0x1F0-0x1F7 / 0x170-0x177, the control block (alternate
// status / device control) at 0x3F6 / 0x376, IRQ 14 / 15, and PCI bus master DMA.
//
// Disk I/O is asynchronous: a command that needs the image sets BSY, the BlockBackend does the
// transfer on the host I/O thread, and the completion (run from the CpuMailbox on the CPU
// thread) sets DRQ or ends the command and raises the interrupt. PIO reads fetch up to 256
// sectors per backend request and then hand out DRQ blocks without waiting.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "vdevices/ata_disk.h"
#include "vdevices/bus_master_dma.h"
#include "vdevices/io_device.h"
#include "vdevices/irq.h"

namespace softcpu {

class StateReader;
class StateWriter;

class IdeChannel final : public IoDevice, public BusMasterClient {
 public:
  // Register offsets from the command block base.
  enum : uint8_t { REG_DATA = 0, REG_ERROR_FEATURE = 1, REG_NSECT = 2, REG_LBAL = 3,
                   REG_LBAM = 4, REG_LBAH = 5, REG_DEVICE = 6, REG_STATUS_COMMAND = 7 };
  // Status bits.
  enum : uint8_t { ST_BSY = 0x80, ST_DRDY = 0x40, ST_DF = 0x20, ST_DSC = 0x10, ST_DRQ = 0x08,
                   ST_ERR = 0x01 };
  // Error bits.
  enum : uint8_t { ERR_UNC = 0x40, ERR_IDNF = 0x10, ERR_ABRT = 0x04 };
  // Device control bits.
  enum : uint8_t { CTL_NIEN = 0x02, CTL_SRST = 0x04, CTL_HOB = 0x80 };
  static constexpr unsigned CHUNK_SECTORS = 256;  // largest backend request

  // cmd_base: 0x1F0 or 0x170; ctrl_port: 0x3F6 or 0x376. Attach the channel at
  // [cmd_base, cmd_base + 8) and at ctrl_port.
  IdeChannel(uint16_t cmd_base, uint16_t ctrl_port, IrqLine irq);
  ~IdeChannel() override;

  const char* name() const override { return "ide"; }
  uint16_t cmd_base() const { return cmd_base_; }
  uint16_t ctrl_port() const { return ctrl_port_; }

  // unit 0 = master, 1 = slave; nullptr removes. The disk must outlive the channel.
  void attach_disk(unsigned unit, AtaDisk* disk);
  AtaDisk* disk(unsigned unit) const { return drives_[unit].disk; }
  void set_irq(IrqLine irq) { irq_ = irq; }
  // DMA needs guest memory (set by the controller); without it DMA commands abort and
  // IDENTIFY does not advertise DMA.
  void set_guest_memory(const GuestMemory* mem) { mem_ = mem; }
  void set_bus_master_enabled(bool on);

  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // Hardware reset: like SRST, plus the disks' settings return to power-on defaults.
  void reset() override;

  uint8_t bus_master_read(unsigned offset) override;
  void bus_master_write(unsigned offset, uint8_t value) override;

  bool irq_level() const { return line_level_; }
  uint8_t status(unsigned unit) const { return drives_[unit].status; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  struct Drive {
    AtaDisk* disk = nullptr;
    // Task file as this drive latched it; writes go to both drives (ATA-6 5.2).
    uint8_t feature = 0, nsect = 0, lbal = 0, lbam = 0, lbah = 0;
    uint8_t hob_feature = 0, hob_nsect = 0, hob_lbal = 0, hob_lbam = 0, hob_lbah = 0;
    uint8_t device = 0, error = 0, status = 0;
    bool intrq = false;  // interrupt pending (cleared by a Status read or a command)
  };
  enum class Phase : uint8_t { IDLE, PIO_IN, PIO_OUT, DMA_IN, DMA_OUT, BUSY };
  using Buffer = std::shared_ptr<std::vector<uint8_t>>;

  Drive& active() { return drives_[active_unit_]; }
  bool channel_empty() const { return !drives_[0].disk && !drives_[1].disk; }
  uint8_t read_register(unsigned reg);
  void write_register(unsigned reg, uint8_t value);
  void write_device_control(uint8_t value);
  uint32_t read_data(unsigned size);
  void write_data(unsigned size, uint32_t value);
  void software_reset_done();
  void cancel_command();
  void set_signature(Drive& d);

  void execute(uint8_t command);
  bool decode_address(bool lba48, uint64_t* lba);
  void store_address(uint64_t lba);
  uint32_t sector_count(bool lba48) const;
  bool check_range(uint64_t lba, uint32_t count);
  void start_pio_in(uint64_t lba, uint32_t count, unsigned block);
  void start_pio_out(uint64_t lba, uint32_t count, unsigned block);
  void start_dma(bool to_memory, uint64_t lba, uint32_t count);
  void fetch_chunk();
  void present_block();
  void pio_block_done();
  void dma_step();
  void dma_finish(bool ok, uint8_t error);
  void flush_cache();
  void complete(uint8_t error = 0);  // end the command (ERR + error if error != 0), interrupt
  void raise_irq(Drive& d);
  void update_irq();
  Buffer& buffer(size_t bytes);

  uint16_t cmd_base_, ctrl_port_;
  IrqLine irq_;
  bool line_level_ = false;
  const GuestMemory* mem_ = nullptr;
  bool bus_master_enabled_ = true;
  Drive drives_[2];
  unsigned selected_ = 0;     // DEV bit of the last Device register write
  unsigned active_unit_ = 0;  // drive running the current command
  uint8_t control_ = 0;

  // The current command.
  Phase phase_ = Phase::IDLE;
  uint8_t command_ = 0;
  bool lba48_ = false;
  uint64_t lba_ = 0;        // next sector to transfer
  uint32_t remaining_ = 0;  // sectors still to transfer
  unsigned block_ = 1;      // sectors per DRQ block
  unsigned block_now_ = 0;  // sectors in the DRQ block being transferred
  Buffer buf_;
  uint32_t chunk_pos_ = 0, chunk_sectors_ = 0;  // PIO in: sectors in buf_ and the next one
  bool chunk_ready_ = false, in_flight_ = false;
  uint8_t* pio_ptr_ = nullptr;  // DRQ data window in buf_
  uint8_t* pio_end_ = nullptr;
  // Completions of backend requests issued before a reset carry an old generation and are
  // dropped; `alive_` drops those arriving after the channel is destroyed.
  uint32_t generation_ = 0;
  std::shared_ptr<bool> alive_;

  BusMasterRegs bm_;
  PrdWalker prd_;
};

class IdeController {
 public:
  static constexpr uint16_t PRIMARY_CMD = 0x1F0, PRIMARY_CTRL = 0x3F6;
  static constexpr uint16_t SECONDARY_CMD = 0x170, SECONDARY_CTRL = 0x376;
  static constexpr unsigned PRIMARY_IRQ = 14, SECONDARY_IRQ = 15;

  IdeController(IrqLine primary_irq = {}, IrqLine secondary_irq = {});

  IdeChannel& channel(unsigned i) { return i ? secondary_ : primary_; }
  // The 16 bus master ports behind the PIIX3 IDE function's BAR4.
  BusMasterDma& bus_master() { return bus_master_; }
  // Enables DMA. The functions run on the CPU thread.
  void set_guest_memory(GuestMemory mem);
  void set_bus_master_enabled(bool on);
  void reset();

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  GuestMemory mem_;
  IdeChannel primary_, secondary_;
  BusMasterDma bus_master_;
};

}  // namespace softcpu
