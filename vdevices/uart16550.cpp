#include "vdevices/uart16550.h"

#include "hostio/state_stream.h"

namespace softcpu {

Uart16550::Uart16550(uint16_t base, CharBackend& backend, std::function<void(bool)> irq)
    : base_(base), backend_(backend), irq_(std::move(irq)) {
  reset();
}

void Uart16550::reset() {
  ier_ = 0;
  fcr_ = 0;
  lcr_ = 0;
  mcr_ = 0;
  lsr_errors_ = 0;
  msr_deltas_ = 0;
  thre_pending_ = false;
  clear_rx();
  update_irq();
}

uint32_t Uart16550::io_read(uint16_t port, unsigned size) {
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    uint16_t p = static_cast<uint16_t>(port + i);
    uint16_t offset = static_cast<uint16_t>(p - base_);
    uint8_t byte = offset < NUM_PORTS ? read_reg(offset) : 0xFF;
    value |= static_cast<uint32_t>(byte) << (8 * i);
  }
  update_irq();
  return value;
}

void Uart16550::io_write(uint16_t port, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size; ++i) {
    uint16_t p = static_cast<uint16_t>(port + i);
    uint16_t offset = static_cast<uint16_t>(p - base_);
    if (offset < NUM_PORTS) write_reg(offset, static_cast<uint8_t>(value >> (8 * i)));
  }
  update_irq();
}

void Uart16550::poll() {
  pull_input();
  update_irq();
}

uint8_t Uart16550::read_reg(unsigned offset) {
  const bool dlab = (lcr_ & LCR_DLAB) != 0;
  switch (offset) {
    case RBR_THR_DLL:
      if (dlab) return static_cast<uint8_t>(divisor_);
      pull_input();
      return pop_rx();
    case IER_DLM:
      return dlab ? static_cast<uint8_t>(divisor_ >> 8) : ier_;
    case IIR_FCR: {
      pull_input();
      uint8_t id = interrupt_id();
      // Reading IIR clears a THRE interrupt only when IIR reports it (datasheet Table 4).
      if (id == IIR_THRE) thre_pending_ = false;
      return static_cast<uint8_t>(id | (fifo_enabled() ? IIR_FIFO_ON : 0));
    }
    case LCR:
      return lcr_;
    case MCR:
      return mcr_;
    case LSR: {
      pull_input();
      // Transmission is instantaneous, so THR and the transmitter are always empty.
      uint8_t value = static_cast<uint8_t>(lsr_errors_ | LSR_THRE | LSR_TEMT);
      if (rx_count_ > 0) value |= LSR_DR;
      lsr_errors_ = 0;  // OE/PE/FE/BI clear on read
      return value;
    }
    case MSR: {
      uint8_t value = static_cast<uint8_t>(modem_inputs() | msr_deltas_);
      msr_deltas_ = 0;
      return value;
    }
    default:  // SCR
      return scr_;
  }
}

void Uart16550::write_reg(unsigned offset, uint8_t value) {
  const bool dlab = (lcr_ & LCR_DLAB) != 0;
  switch (offset) {
    case RBR_THR_DLL:
      if (dlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0xFF00) | value);
        return;
      }
      // Writing THR clears the THRE interrupt; the byte leaves at once, so THR is empty again
      // and the THRE condition comes straight back.
      if (loopback()) {
        receive(value);  // loopback: the transmitter output feeds the receiver, not the line
      } else {
        backend_.write(&value, 1);
      }
      thre_pending_ = true;
      return;
    case IER_DLM:
      if (dlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0x00FF) | (value << 8));
        return;
      }
      // Enabling the THRE interrupt while THR is empty raises it at once (what 8250 drivers
      // probe for).
      if (!(ier_ & IER_THRE) && (value & IER_THRE)) thre_pending_ = true;
      ier_ = value & 0x0F;
      return;
    case IIR_FCR:
      if (!(value & FCR_ENABLE)) {
        // FCR0 = 0 disables the FIFOs and clears them; other bits are not programmed.
        if (fifo_enabled()) clear_rx();
        fcr_ = 0;
        return;
      }
      if (!fifo_enabled()) clear_rx();  // changing FIFO mode empties the receiver
      if (value & FCR_CLEAR_RX) clear_rx();
      // FCR_CLEAR_TX: the transmitter never holds data here.
      fcr_ = value & (FCR_ENABLE | FCR_DMA | FCR_TRIGGER);
      return;
    case LCR:
      lcr_ = value;
      return;
    case MCR: {
      uint8_t old_inputs = modem_inputs();
      mcr_ = value & 0x1F;
      set_modem_inputs(old_inputs);
      return;
    }
    case LSR:
    case MSR:
      return;  // read-only here (LSR writes are a factory test mode)
    default:  // SCR
      scr_ = value;
      return;
  }
}

unsigned Uart16550::rx_trigger() const {
  static constexpr unsigned levels[4] = {1, 4, 8, 14};
  return levels[fcr_ >> 6];
}

// Interrupt identification in priority order (datasheet Table 4).
uint8_t Uart16550::interrupt_id() const {
  if ((ier_ & IER_RLS) && (lsr_errors_ & (LSR_OE | LSR_PE | LSR_FE | LSR_BI))) return IIR_RLS;
  if ((ier_ & IER_RDA) && rx_count_ > 0) {
    if (!fifo_enabled() || rx_count_ >= rx_trigger()) return IIR_RDA;
    // Below the trigger level with nothing more arriving: the character timeout. The device
    // pulls every byte the backend has, so "nothing more arriving" holds whenever this is reached;
    // the four-character-time delay is not modelled.
    return IIR_TIMEOUT;
  }
  if ((ier_ & IER_THRE) && thre_pending_) return IIR_THRE;
  if ((ier_ & IER_MS) && msr_deltas_) return IIR_MS;
  return IIR_NONE;
}

uint8_t Uart16550::modem_inputs() const {
  if (!loopback()) return MSR_CTS | MSR_DSR | MSR_DCD;  // a terminal is attached and ready
  // Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
  uint8_t value = 0;
  if (mcr_ & MCR_RTS) value |= MSR_CTS;
  if (mcr_ & MCR_DTR) value |= MSR_DSR;
  if (mcr_ & MCR_OUT1) value |= MSR_RI;
  if (mcr_ & MCR_OUT2) value |= MSR_DCD;
  return value;
}

void Uart16550::set_modem_inputs(uint8_t old_inputs) {
  uint8_t now = modem_inputs();
  uint8_t changed = old_inputs ^ now;
  if (changed & MSR_CTS) msr_deltas_ |= MSR_DCTS;
  if (changed & MSR_DSR) msr_deltas_ |= MSR_DDSR;
  if (changed & MSR_DCD) msr_deltas_ |= MSR_DDCD;
  if ((old_inputs & MSR_RI) && !(now & MSR_RI)) msr_deltas_ |= MSR_TERI;  // trailing edge only
}

void Uart16550::receive(uint8_t byte) {
  if (rx_count_ == rx_capacity()) {
    lsr_errors_ |= LSR_OE;
    // Without FIFO the new character overwrites RBR; with FIFO it is lost.
    if (!fifo_enabled()) rx_[rx_head_] = byte;
    return;
  }
  rx_[(rx_head_ + rx_count_) % FIFO_SIZE] = byte;
  ++rx_count_;
}

uint8_t Uart16550::pop_rx() {
  if (rx_count_ == 0) return last_rx_;
  last_rx_ = rx_[rx_head_];
  rx_head_ = (rx_head_ + 1) % FIFO_SIZE;
  --rx_count_;
  return last_rx_;
}

void Uart16550::pull_input() {
  if (loopback()) return;  // the serial input is disconnected in loopback mode
  uint8_t byte;
  while (rx_count_ < rx_capacity() && backend_.read_byte(byte)) {
    rx_[(rx_head_ + rx_count_) % FIFO_SIZE] = byte;
    ++rx_count_;
  }
}

void Uart16550::clear_rx() {
  rx_head_ = 0;
  rx_count_ = 0;
}

void Uart16550::update_irq() {
  bool level = irq_pending();
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_(level);
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void Uart16550::visit_state(A& a) {
  a(irq_level_, divisor_, ier_, fcr_, lcr_, mcr_, scr_, lsr_errors_, msr_deltas_,
    thre_pending_, rx_, rx_head_, rx_count_, last_rx_);
  if (rx_head_ >= FIFO_SIZE || rx_count_ > FIFO_SIZE) throw StateError{"bad UART FIFO state"};
}

void Uart16550::save_state(StateWriter& w) const { const_cast<Uart16550*>(this)->visit_state(w); }

void Uart16550::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
