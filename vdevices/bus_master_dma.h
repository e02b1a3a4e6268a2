// PCI bus master IDE DMA as in the PIIX3 (82371SB datasheet 2.7 and 3.2; the SFF-8038i
// register layout): per channel a command register (start/stop, direction), a status register
// and the address of a Physical Region Descriptor table in guest memory. Each PRD entry is
// 8 bytes: dword 0 the physical buffer address, dword 1 bits 15..0 the byte count (0 = 64 KiB)
// and bit 31 end of table (EOT).
#pragma once
#include <cstdint>
#include <functional>

#include "vdevices/io_device.h"

namespace softcpu {

class StateReader;
class StateWriter;

// Guest physical memory as the DMA engine sees it. The machine's write function must also
// invalidate decoded code in the written range.
struct GuestMemory {
  std::function<void(uint32_t addr, uint8_t* dst, uint32_t len)> read;
  std::function<void(uint32_t addr, const uint8_t* src, uint32_t len)> write;
};

// Walks a PRD table, moving bytes between a device buffer and guest memory.
class PrdWalker {
 public:
  void start(uint32_t table) {
    next_entry_ = table;
    region_addr_ = region_left_ = 0;
    last_ = false;
  }
  // Copy up to len bytes; returns how many were copied (less than len if the table ended).
  uint32_t to_memory(const GuestMemory& mem, const uint8_t* data, uint32_t len);
  uint32_t from_memory(const GuestMemory& mem, uint8_t* data, uint32_t len);
  // True once the EOT entry has been used up: the transfer ended exactly at the table's end.
  bool at_end() const { return last_ && region_left_ == 0; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  bool load_region(const GuestMemory& mem);
  template <bool TO_MEMORY>
  uint32_t copy(const GuestMemory& mem, uint8_t* data, uint32_t len);

  uint32_t next_entry_ = 0;
  uint32_t region_addr_ = 0, region_left_ = 0;
  bool last_ = false;  // the current region came from the EOT entry
};

// One channel's bus master registers (offsets 0..7 of BMIBA for the primary channel,
// 8..15 for the secondary).
struct BusMasterRegs {
  enum : uint8_t { CMD_START = 0x01, CMD_TO_MEMORY = 0x08 };  // RWCON: 1 = device to memory
  enum : uint8_t { ST_ACTIVE = 0x01, ST_ERROR = 0x02, ST_INTERRUPT = 0x04,
                   ST_DRIVE0_DMA = 0x20, ST_DRIVE1_DMA = 0x40 };
  uint8_t command = 0;
  uint8_t status = 0;
  uint32_t prd_table = 0;
};

// The channel side of the bus master: IdeChannel implements it.
class BusMasterClient {
 public:
  virtual ~BusMasterClient() = default;
  virtual uint8_t bus_master_read(unsigned offset) = 0;  // offset 0..7
  virtual void bus_master_write(unsigned offset, uint8_t value) = 0;
};

// The I/O device behind BAR4 (16 ports): routes each byte to its channel. The BAR is
// 16-byte aligned, so the low four port bits are the register offset.
class BusMasterDma final : public IoDevice {
 public:
  static constexpr unsigned NUM_PORTS = 16;
  BusMasterDma(BusMasterClient& primary, BusMasterClient& secondary)
      : channels_{&primary, &secondary} {}
  const char* name() const override { return "ide-busmaster"; }
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;

 private:
  BusMasterClient* channels_[2];
};

}  // namespace softcpu
