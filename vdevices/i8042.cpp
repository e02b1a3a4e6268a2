#include "vdevices/i8042.h"

#include "hostio/state_stream.h"

#include "vdevices/port_mask.h"

namespace softcpu {

// ---- the keyboard ----

void Ps2Keyboard::set_defaults() {
  set_ = 2;
  typematic_ = 0x2B;
}

void Ps2Keyboard::reset() {
  queue_.clear();
  pending_command_ = 0;
  scanning_ = true;
  leds_ = 0;
  set_defaults();
}

void Ps2Keyboard::send(uint8_t byte) {
  if (queue_.size() < QUEUE_SIZE) queue_.push_back(byte);
}

uint8_t Ps2Keyboard::pop_output() {
  uint8_t byte = queue_.front();
  queue_.pop_front();
  return byte;
}

void Ps2Keyboard::push_scancode(uint8_t byte) {
  if (scanning_) send(byte);
}

void Ps2Keyboard::receive(uint8_t byte, bool translate) {
  if (pending_command_ != 0) {
    // The argument byte of a two-byte command.
    uint8_t command = pending_command_;
    pending_command_ = 0;
    switch (command) {
      case 0xED:  // set LEDs: scroll, num, caps lock in bits 0-2
        leds_ = byte & 7;
        send(ACK);
        return;
      case 0xF0:  // select scancode set; 0 asks for the current one
        if (byte == 0) {
          send(ACK);
          // Through the controller's translation the set number is itself translated
          // (set-2 codes 01/02/03 read as 43/41/3F).
          static constexpr uint8_t translated[4] = {0, 0x43, 0x41, 0x3F};
          send(translate ? translated[set_] : set_);
        } else if (byte <= 3) {
          set_ = byte;
          send(ACK);
        } else {
          send(RESEND);
        }
        return;
      default:  // 0xF3: typematic rate and delay
        typematic_ = byte & 0x7F;
        send(ACK);
        return;
    }
  }
  switch (byte) {
    case 0xED:
    case 0xF0:
    case 0xF3:
      send(ACK);
      pending_command_ = byte;
      return;
    case 0xEE:
      send(ECHO);
      return;
    case 0xF2:
      // Identify: an MF2 keyboard is AB 83; translation turns 83 into 41.
      send(ACK);
      send(0xAB);
      send(translate ? 0x41 : 0x83);
      return;
    case 0xF4:
      scanning_ = true;
      send(ACK);
      return;
    case 0xF5:  // disable and restore defaults
      set_defaults();
      scanning_ = false;
      send(ACK);
      return;
    case 0xF6:  // restore defaults
      set_defaults();
      scanning_ = true;
      send(ACK);
      return;
    case 0xFF:  // reset: acknowledge, then the basic assurance test passes
      reset();
      send(ACK);
      send(BAT_OK);
      return;
    default:
      send(ACK);
      return;
  }
}

// ---- the controller ----

I8042::I8042(IrqLine irq1, IrqLine irq12, std::function<void(bool)> a20,
             std::function<void()> system_reset)
    : irq1_(irq1), irq12_(irq12), a20_(std::move(a20)), reset_(std::move(system_reset)) {
  reset();
}

void I8042::reset() {
  for (uint8_t& b : ram_) b = 0;
  ram_[0] = CB_KBD_INT | CB_AUX_INT;
  output_port_ = 0xCF;
  pending_ = 0;
  last_was_command_ = false;
  timeout_ = false;
  obf_ = false;
  output_ = 0;
  controller_queue_.clear();
  keyboard_.reset();
  update_irqs();
}

uint8_t I8042::status() const {
  uint8_t s = ST_UNLOCKED;  // IBF is never set: input is processed at once
  if (obf_) s |= ST_OBF;
  if (obf_ && obf_source_ == Source::Aux) s |= ST_AUXB;
  if (ram_[0] & CB_SYS) s |= ST_SYS;
  if (last_was_command_) s |= ST_A2;
  if (timeout_) s |= ST_TIMEOUT;
  return s;
}

void I8042::refill() {
  if (obf_) return;
  if (!controller_queue_.empty()) {
    output_ = controller_queue_.front().byte;
    obf_source_ = controller_queue_.front().source;
    controller_queue_.pop_front();
    obf_ = true;
  } else if (keyboard_.has_output() && !(ram_[0] & CB_KBD_DISABLE)) {
    // A disabled keyboard interface holds the clock line low: its bytes wait.
    output_ = keyboard_.pop_output();
    obf_source_ = Source::Keyboard;
    obf_ = true;
  }
}

void I8042::update_irqs() {
  refill();
  drive_irqs();
}

void I8042::drive_irqs() {
  const bool aux = obf_source_ == Source::Aux;
  const bool kbd_level = obf_ && !aux && (ram_[0] & CB_KBD_INT);
  const bool aux_level = obf_ && aux && (ram_[0] & CB_AUX_INT);
  if (kbd_level != irq1_level_) {
    irq1_level_ = kbd_level;
    irq1_.set(kbd_level);
  }
  if (aux_level != irq12_level_) {
    irq12_level_ = aux_level;
    irq12_.set(aux_level);
  }
}

void I8042::push_scancode(uint8_t byte) {
  keyboard_.push_scancode(byte);
  update_irqs();
}

void I8042::write_output_port(uint8_t value) {
  const uint8_t old = output_port_;
  output_port_ = value;
  if (((old ^ value) & OP_A20) && a20_) a20_((value & OP_A20) != 0);
  // Bit 0 drives the CPU's reset line (active low). Last: the machine may reset this device.
  if (!(value & OP_RESET) && reset_) reset_();
}

void I8042::command(uint8_t cmd) {
  if (cmd >= 0x20 && cmd <= 0x3F) {  // read controller RAM (0x20: the command byte)
    reply(ram_[cmd & 0x1F]);
    return;
  }
  if (cmd >= 0x60 && cmd <= 0x7F) {  // write controller RAM: the next data byte
    pending_ = cmd;
    return;
  }
  if (cmd >= 0xF0) {
    // Pulse output port bits 0-3 low where the command's bit is 0; bit 0 is the CPU reset.
    if (!(cmd & 1) && reset_) reset_();
    return;
  }
  switch (cmd) {
    case 0xA4:
      reply(0xF1);
      break;  // password installed? no
    case 0xA5:
      pending_ = cmd;
      break;  // load password: bytes up to a 0
    case 0xA7:
      ram_[0] |= CB_AUX_DISABLE;
      break;
    case 0xA8:
      ram_[0] &= uint8_t(~CB_AUX_DISABLE);
      break;
    case 0xA9:
      reply(0x00);
      break;    // aux interface test: lines OK
    case 0xAA:  // self test passed; sets the system flag
      ram_[0] |= CB_SYS;
      reply(0x55);
      break;
    case 0xAB:
      reply(0x00);
      break;  // keyboard interface test: OK
    case 0xAD:
      ram_[0] |= CB_KBD_DISABLE;
      break;
    case 0xAE:
      ram_[0] &= uint8_t(~CB_KBD_DISABLE);
      break;
    case 0xC0:
      reply(0x80);
      break;      // input port: keyboard not inhibited
    case 0xD0: {  // read output port (bits 4/5 mirror the buffer)
      uint8_t v = output_port_ & uint8_t(~(OP_KBD_OBF | OP_AUX_OBF));
      if (obf_) v |= obf_source_ == Source::Aux ? OP_AUX_OBF : OP_KBD_OBF;
      reply(v);
      break;
    }
    case 0xD1:
    case 0xD2:
    case 0xD3:
    case 0xD4:
      pending_ = cmd;
      break;
    case 0xE0:
      reply(0x00);
      break;  // test inputs
    default:
      break;  // unknown commands are ignored
  }
}

void I8042::data(uint8_t value) {
  const uint8_t cmd = pending_;
  pending_ = 0;
  if (cmd >= 0x60 && cmd <= 0x7F) {
    ram_[cmd & 0x1F] = value;
    return;
  }
  switch (cmd) {
    case 0xA5:
      if (value != 0) pending_ = cmd;
      return;
    case 0xD1:
      write_output_port(value);
      return;
    case 0xD2:  // as if the keyboard had sent it
      reply(value, Source::Keyboard);
      return;
    case 0xD3:  // as if the aux device had sent it
      reply(value, Source::Aux);
      return;
    case 0xD4:
      // To the aux device: there is none, so the transmission times out and the controller
      // answers 0xFE with the timeout flag.
      timeout_ = true;
      reply(0xFE, Source::Aux);
      return;
    default:
      keyboard_.receive(value, (ram_[0] & CB_XLAT) != 0);
      return;
  }
}

uint32_t I8042::io_read(uint16_t port, unsigned size) {
  uint8_t value;
  if (port == DATA_PORT) {
    value = output_;  // an empty buffer reads the last byte again
    obf_ = false;
    timeout_ = false;
    // The line drops with OBF before the next byte arrives, so the edge-triggered PIC sees
    // one edge per byte.
    drive_irqs();
    update_irqs();
  } else {
    value = status();
  }
  return (port_size_mask(size) & ~0xFFu) | value;
}

void I8042::io_write(uint16_t port, unsigned, uint32_t value) {
  const uint8_t byte = uint8_t(value);
  if (port == STATUS_PORT) {
    last_was_command_ = true;
    pending_ = 0;  // a new command abandons a pending data byte
    command(byte);
  } else {
    last_was_command_ = false;
    data(byte);
  }
  update_irqs();
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void Ps2Keyboard::visit_state(A& a) {
  a(queue_, pending_command_, scanning_, leds_, set_, typematic_);
}

void Ps2Keyboard::save_state(StateWriter& w) const { const_cast<Ps2Keyboard*>(this)->visit_state(w); }

void Ps2Keyboard::load_state(StateReader& r) {
  visit_state(r);
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void I8042::visit_state(A& a) {
  if constexpr (A::LOADING) keyboard_.load_state(a); else keyboard_.save_state(a);
  a(ram_, output_port_, pending_, last_was_command_, timeout_, obf_, obf_source_, output_,
    controller_queue_, irq1_level_, irq12_level_);
}

void I8042::save_state(StateWriter& w) const { const_cast<I8042*>(this)->visit_state(w); }

void I8042::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
