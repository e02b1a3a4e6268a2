// The PC's 8042 keyboard controller (IBM PS/2 Hardware Interface Technical Reference,
// "Keyboard/Auxiliary Device Controller"; Intel 8042 datasheet) at ports 0x60 (data) and 0x64
// (status / command), with a PS/2 keyboard behind it and no auxiliary device (mouse).
//
// Everything is instantaneous: a command is processed when written, so IBF always reads 0.
// Bytes for the CPU (controller replies, keyboard replies and scancodes, aux replies) wait in
// queues and move one at a time into the one-byte output buffer whenever it is empty, the
// controller's own replies first. IRQ1 (IRQ12 for aux data) is high while the output buffer
// holds such data and the command byte enables the interrupt.
//
// The output port's A20 bit goes to the a20 callback; pulling its reset bit low (0xD1 with
// bit 0 clear, or pulse commands 0xF0-0xFE with bit 0 clear) calls the reset callback.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>

#include "vdevices/io_device.h"
#include "vdevices/irq.h"

namespace softcpu {

class StateReader;
class StateWriter;

// The keyboard on the controller's first port (IBM "Keyboard Commands"): answers commands,
// queues the bytes it sends. It produces no keystrokes by itself; push_scancode() feeds them.
class Ps2Keyboard {
 public:
  static constexpr unsigned QUEUE_SIZE = 16;  // the keyboard's own buffer
  enum : uint8_t { ACK = 0xFA, RESEND = 0xFE, BAT_OK = 0xAA, ECHO = 0xEE };

  void reset();  // power-on: enabled, scancode set 2, LEDs off, default typematic
  // A byte from the controller (port 0x60 writes). `translate` is the controller's XLAT bit,
  // which changes the identify answer as seen by the CPU.
  void receive(uint8_t byte, bool translate);
  // Queue bytes for the host as if keys were pressed (already in the form the guest reads).
  void push_scancode(uint8_t byte);

  bool has_output() const { return !queue_.empty(); }
  uint8_t pop_output();

  bool scanning() const { return scanning_; }
  uint8_t leds() const { return leds_; }
  uint8_t scancode_set() const { return set_; }
  uint8_t typematic() const { return typematic_; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  void send(uint8_t byte);
  void set_defaults();

  std::deque<uint8_t> queue_;
  uint8_t pending_command_ = 0;  // a command waiting for its argument byte (0: none)
  bool scanning_ = true;
  uint8_t leds_ = 0;
  uint8_t set_ = 2;
  uint8_t typematic_ = 0x2B;  // 10.9 characters/s, 500 ms delay
};

class I8042 final : public IoDevice {
 public:
  static constexpr uint16_t DATA_PORT = 0x60;
  static constexpr uint16_t STATUS_PORT = 0x64;

  // Status register bits.
  enum : uint8_t {
    ST_OBF = 0x01,
    ST_IBF = 0x02,
    ST_SYS = 0x04,
    ST_A2 = 0x08,
    ST_UNLOCKED = 0x10,
    ST_AUXB = 0x20,
    ST_TIMEOUT = 0x40,
    ST_PARITY = 0x80
  };
  // Command byte bits.
  enum : uint8_t {
    CB_KBD_INT = 0x01,
    CB_AUX_INT = 0x02,
    CB_SYS = 0x04,
    CB_KBD_DISABLE = 0x10,
    CB_AUX_DISABLE = 0x20,
    CB_XLAT = 0x40
  };
  // Output port bits.
  enum : uint8_t { OP_RESET = 0x01, OP_A20 = 0x02, OP_KBD_OBF = 0x10, OP_AUX_OBF = 0x20 };

  // irq1/irq12: the keyboard and aux interrupt wires. a20(level) is called when the output
  // port's A20 bit changes (power-on level: enabled; the machine ORs it with port 0x92's);
  // reset() is called when the controller pulls the CPU reset line.
  I8042(IrqLine irq1 = {}, IrqLine irq12 = {}, std::function<void(bool)> a20 = {},
        std::function<void()> system_reset = {});

  const char* name() const override { return "i8042"; }
  // Byte ports; wider accesses see the byte in the low 8 bits and 0xFF above.
  uint32_t io_read(uint16_t port, unsigned size) override;
  void io_write(uint16_t port, unsigned size, uint32_t value) override;
  // Power-on: command byte 0x03 (both interrupts on, translation off, SYS 0), output port
  // 0xCF (A20 on, reset line high), buffers empty, keyboard reset. Calls no callback.
  void reset() override;

  void set_a20_callback(std::function<void(bool)> f) { a20_ = std::move(f); }
  void set_reset_callback(std::function<void()> f) { reset_ = std::move(f); }

  // A key event from the host side (bytes as the guest reads them from port 0x60).
  void push_scancode(uint8_t byte);

  uint8_t command_byte() const { return ram_[0]; }
  bool a20_enabled() const { return (output_port_ & OP_A20) != 0; }
  uint8_t status() const;
  const Ps2Keyboard& keyboard() const { return keyboard_; }

  // Snapshots (monitor/snapshot.h): all of its state, mid-activity included. Load into one
  // built and wired the same way: it carries on where the saved one was.
  void save_state(StateWriter& w) const;
  void load_state(StateReader& r);
 private:
  template <typename A>
  void visit_state(A& a);
  enum class Source : uint8_t { Controller, Keyboard, Aux };

  void command(uint8_t cmd);
  void data(uint8_t value);
  // Queue a byte produced by the controller itself, delivered as if from `source`.
  void reply(uint8_t byte, Source source = Source::Controller) {
    controller_queue_.push_back({byte, source});
  }
  void write_output_port(uint8_t value);
  void refill();       // move the next queued byte into an empty output buffer
  void update_irqs();  // refill, then drive IRQ1/IRQ12
  void drive_irqs();

  IrqLine irq1_, irq12_;
  std::function<void(bool)> a20_;
  std::function<void()> reset_;
  Ps2Keyboard keyboard_;

  uint8_t ram_[32] = {};  // controller RAM; byte 0 is the command byte
  uint8_t output_port_ = 0xCF;
  uint8_t pending_ = 0;            // controller command waiting for a data byte (0: none)
  bool last_was_command_ = false;  // status A2
  bool timeout_ = false;
  bool obf_ = false;
  Source obf_source_ = Source::Controller;
  uint8_t output_ = 0;
  struct Queued {
    uint8_t byte;
    Source source;
  };
  std::deque<Queued> controller_queue_;
  bool irq1_level_ = false, irq12_level_ = false;
};

}  // namespace softcpu
