// A PCI function's configuration space (PCI Local Bus spec 3.0, chapter 6): 256 bytes with a
// per-byte write mask and write-one-to-clear mask, the type 0 header, BARs and the command
// register. Device models derive from PciDevice, describe their registers in the constructor
// and react to writes in config_written().
#pragma once
#include <cstdint>
#include <functional>

namespace softcpu {

class StateReader;
class StateWriter;

class PciDevice {
 public:
  static constexpr unsigned NUM_BARS = 6;

  // Header offsets (spec 6.1).
  enum : uint8_t {
    VENDOR_ID = 0x00, DEVICE_ID = 0x02, COMMAND = 0x04, STATUS = 0x06, REVISION = 0x08,
    PROG_IF = 0x09, SUBCLASS = 0x0A, CLASS = 0x0B, CACHE_LINE = 0x0C, LATENCY = 0x0D,
    HEADER_TYPE = 0x0E, BAR0 = 0x10, SUBSYS_VENDOR = 0x2C, SUBSYS_ID = 0x2E, ROM_BAR = 0x30,
    INTERRUPT_LINE = 0x3C, INTERRUPT_PIN = 0x3D
  };
  // Command register bits (spec 6.2.2).
  enum : uint16_t { CMD_IO = 0x0001, CMD_MEMORY = 0x0002, CMD_BUS_MASTER = 0x0004,
                    CMD_SERR = 0x0100, CMD_INTX_DISABLE = 0x0400 };
  static constexpr uint8_t HEADER_MULTI_FUNCTION = 0x80;

  enum class BarKind : uint8_t { NONE, IO, MEMORY };

  // Where a BAR currently decodes. `mapped` needs the BAR's enable bit in COMMAND and a
  // non-zero base that fits (I/O BARs decode 16 address bits, as on x86).
  struct BarMapping {
    bool mapped = false;
    BarKind kind = BarKind::NONE;
    uint32_t base = 0;
    uint32_t size = 0;
    bool operator==(const BarMapping&) const = default;
  };
  // Called when a BAR's mapping changes (BAR write, COMMAND write, reset). For an I/O BAR the
  // machine typically re-attaches ports: if (old.mapped) give old.base..+size back to the
  // unassigned device; if (now.mapped) attach the device's port handler at now.base.
  using BarChangeHandler =
      std::function<void(unsigned bar, const BarMapping& old_map, const BarMapping& new_map)>;

  // class_code = class << 16 | subclass << 8 | prog_if.
  PciDevice(const char* name, uint16_t vendor, uint16_t device, uint32_t class_code,
            uint8_t revision, uint8_t header_type);
  virtual ~PciDevice() = default;
  PciDevice(const PciDevice&) = delete;
  PciDevice& operator=(const PciDevice&) = delete;

  const char* name() const { return name_; }

  // Configuration accesses from the host bridge. offset + size <= 256, size 1, 2 or 4; the bus
  // keeps accesses inside one dword.
  uint32_t config_read(uint8_t offset, unsigned size) const;
  void config_write(uint8_t offset, unsigned size, uint32_t value);

  // Power-on state of the header (COMMAND, STATUS bits, BARs, INTERRUPT_LINE). Derived devices
  // extend it for their registers; call the base first.
  virtual void reset();

  void set_bar_change_handler(BarChangeHandler handler) { bar_change_ = std::move(handler); }
  BarMapping bar_mapping(unsigned bar) const;

  uint16_t command() const { return read16(COMMAND); }
  bool bus_master_enabled() const { return command() & CMD_BUS_MASTER; }
  uint8_t interrupt_line() const { return config_[INTERRUPT_LINE]; }
  uint8_t interrupt_pin() const { return config_[INTERRUPT_PIN]; }  // 0 none, 1..4 INTA..INTD

  uint8_t config_byte(uint8_t offset) const { return config_[offset]; }

  // Snapshots (monitor/snapshot.h): the configuration space; loading re-derives the BAR
  // mappings (the handler sees the change from what is mapped now). Functions with more state
  // extend both.
  virtual void save_state(StateWriter& w) const;
  virtual void load_state(StateReader& r);

 protected:
  // Declare a BAR of `size` bytes (a power of two, at least 4 for I/O, 16 for memory). The
  // size is what BAR sizing reports: writing all ones reads back ~(size - 1) | type bits.
  void define_bar(unsigned bar, BarKind kind, uint32_t size);
  // Set a register's power-on value and which of its bits software may write.
  void init_reg8(uint8_t offset, uint8_t value, uint8_t write_mask = 0);
  void init_reg16(uint8_t offset, uint16_t value, uint16_t write_mask = 0);
  void init_reg32(uint8_t offset, uint32_t value, uint32_t write_mask = 0);
  void set_w1c(uint8_t offset, uint8_t mask) { w1c_[offset] = mask; }
  // Change a register behind software's back (status bits, hardware-updated fields).
  void set_reg8(uint8_t offset, uint8_t value) { config_[offset] = value; }
  uint16_t read16(uint8_t offset) const {
    return static_cast<uint16_t>(config_[offset] | config_[offset + 1] << 8);
  }

  // Called after software wrote bytes [offset, offset + size); `old` holds those bytes'
  // previous values (little-endian).
  virtual void config_written(uint8_t offset, unsigned size, uint32_t old) {
    (void)offset, (void)size, (void)old;
  }

 private:
  void update_bar_mappings();

  const char* name_;
  uint8_t config_[256] = {};
  uint8_t wmask_[256] = {};
  uint8_t w1c_[256] = {};
  uint8_t reset_[256] = {};  // power-on values of the registers set up by init_reg*
  BarKind bar_kind_[NUM_BARS] = {};
  uint32_t bar_size_[NUM_BARS] = {};
  BarMapping mapped_[NUM_BARS];
  BarChangeHandler bar_change_;
};

}  // namespace softcpu
