// 16550A UART (National Semiconductor PC16550D datasheet), eight ports from `base`
// (COM1 = 0x3F8). Transmission is instantaneous: a byte written to THR goes straight to the
// CharBackend, so THRE and TEMT are always set. Received bytes are pulled from the backend into
// the receiver (one holding register, or a 16-byte FIFO when FCR enables it) on reads of RBR, LSR
// and IIR and on poll(). The interrupt output is computed (irq_pending) but the OUT2 gate of the
// PC wiring is not modelled: like QEMU, the line follows IIR "interrupt pending" alone.
#pragma once
#include <cstdint>
#include <functional>

#include "hostio/char_backend.h"
#include "vdevices/io_device.h"

namespace softcpu {

class StateReader;
class StateWriter;

class Uart16550 final : public IoDevice {
 public:
  static constexpr uint16_t COM1_BASE = 0x3F8;
  static constexpr unsigned NUM_PORTS = 8;
  static constexpr unsigned FIFO_SIZE = 16;
  static constexpr uint32_t INPUT_CLOCK_HZ = 1843200;  // divisor 1 = 115200 baud

  // Register offsets from base.
  enum : uint8_t { RBR_THR_DLL = 0, IER_DLM = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5,
                   MSR = 6, SCR = 7 };
  // IER bits.
  enum : uint8_t { IER_RDA = 0x01, IER_THRE = 0x02, IER_RLS = 0x04, IER_MS = 0x08 };
  // IIR values (bits 3..0) and the FIFO-enabled bits.
  enum : uint8_t { IIR_NONE = 0x01, IIR_MS = 0x00, IIR_THRE = 0x02, IIR_RDA = 0x04,
                   IIR_RLS = 0x06, IIR_TIMEOUT = 0x0C, IIR_FIFO_ON = 0xC0 };
  // FCR bits.
  enum : uint8_t { FCR_ENABLE = 0x01, FCR_CLEAR_RX = 0x02, FCR_CLEAR_TX = 0x04, FCR_DMA = 0x08,
                   FCR_TRIGGER = 0xC0 };
  // LCR, MCR, LSR and MSR bits.
  enum : uint8_t { LCR_BREAK = 0x40, LCR_DLAB = 0x80 };
  enum : uint8_t { MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08,
                   MCR_LOOP = 0x10 };
  enum : uint8_t { LSR_DR = 0x01, LSR_OE = 0x02, LSR_PE = 0x04, LSR_FE = 0x08, LSR_BI = 0x10,
                   LSR_THRE = 0x20, LSR_TEMT = 0x40, LSR_FIFO_ERR = 0x80 };
  enum : uint8_t { MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08,
                   MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80 };

  // The backend must outlive the device. irq (optional) is called with the new level whenever
  // the interrupt output changes, on the thread that touched the device (the CPU thread).
  Uart16550(uint16_t base, CharBackend& backend, std::function<void(bool)> irq = {});

  const char* name() const override { return "uart16550"; }
  uint16_t base() const { return base_; }
  // Accesses wider than a byte are split into byte accesses at port, port+1, ... as the ISA bus
  // does; bytes outside base..base+7 read 0xFF and ignore writes.
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // Master reset (datasheet table "UART Reset Configuration"): divisor and SCR are unaffected.
  void reset() override;

  // Pull pending backend input and refresh the interrupt line. Call periodically on the CPU
  // thread (and when the backend's input listener fires) so input can raise an interrupt.
  void poll();

  bool irq_pending() const { return (interrupt_id() & IIR_NONE) == 0; }
  void set_irq_callback(std::function<void(bool)> irq) { irq_ = std::move(irq); }

  uint16_t divisor() const { return divisor_; }
  // 0 when the divisor is 0 (no clock).
  uint32_t baud_rate() const { return divisor_ == 0 ? 0 : INPUT_CLOCK_HZ / 16 / divisor_; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  uint8_t read_reg(unsigned offset);
  void write_reg(unsigned offset, uint8_t value);

  bool fifo_enabled() const { return (fcr_ & FCR_ENABLE) != 0; }
  bool loopback() const { return (mcr_ & MCR_LOOP) != 0; }
  unsigned rx_capacity() const { return fifo_enabled() ? FIFO_SIZE : 1; }
  unsigned rx_trigger() const;
  uint8_t interrupt_id() const;  // IIR bits 3..0
  uint8_t modem_inputs() const;  // MSR bits 7..4 as the lines currently are
  void set_modem_inputs(uint8_t old_inputs);
  void receive(uint8_t byte);    // a byte arriving at the receiver shift register
  uint8_t pop_rx();
  void pull_input();
  void clear_rx();
  void update_irq();

  uint16_t base_;
  CharBackend& backend_;
  std::function<void(bool)> irq_;
  bool irq_level_ = false;

  uint16_t divisor_ = 12;  // 9600 baud until the guest programs it
  uint8_t ier_ = 0, fcr_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0;
  uint8_t lsr_errors_ = 0;   // OE/PE/FE/BI, cleared by reading LSR
  uint8_t msr_deltas_ = 0;   // MSR bits 3..0, cleared by reading MSR
  bool thre_pending_ = false;  // THRE interrupt condition (cleared by IIR read or THR write)
  uint8_t rx_[FIFO_SIZE] = {};
  unsigned rx_head_ = 0, rx_count_ = 0;
  uint8_t last_rx_ = 0;  // what RBR reads when the receiver is empty
};

}  // namespace softcpu
