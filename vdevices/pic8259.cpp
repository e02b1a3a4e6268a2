#include "vdevices/pic8259.h"

#include "hostio/state_stream.h"

namespace softcpu {

void PicPair::Chip::power_on(uint8_t mask) {
  uint8_t kept_lines = lines;
  *this = Chip{};
  lines = kept_lines;
  elcr_mask = mask;
}

int PicPair::Chip::highest(uint8_t bits) const {
  if (bits == 0) return -1;
  for (unsigned p = 0; p < 8; ++p) {
    unsigned ir = (priority_base + p) & 7;
    if (bits & (1u << ir)) return static_cast<int>(ir);
  }
  return -1;
}

int PicPair::Chip::pending(bool is_master) const {
  int request = highest(irr & ~imr);
  if (request < 0) return -1;
  uint8_t in_service = isr;
  // Special mask mode: a masked level no longer inhibits lower priorities (datasheet OCW3).
  if (special_mask) in_service &= ~imr;
  // Special fully nested mode: a cascade input in service does not block further requests
  // from its slave, which resolves their priority itself.
  if (sfnm && is_master) in_service &= ~icw3;
  int current = highest(in_service);
  if (current >= 0 && priority(unsigned(current)) <= priority(unsigned(request))) return -1;
  return request;
}

void PicPair::Chip::set_input(unsigned ir, bool level) {
  const uint8_t bit = uint8_t(1u << ir);
  if (elcr & bit) {
    // Level-sensitive: IRR follows the line.
    irr = level ? (irr | bit) : (irr & ~bit);
  } else if (level && !(lines & bit)) {
    irr |= bit;  // rising edge
  }
  lines = level ? (lines | bit) : (lines & ~bit);
}

void PicPair::Chip::acknowledge(unsigned ir) {
  const uint8_t bit = uint8_t(1u << ir);
  if (!(elcr & bit)) irr &= ~bit;  // a level input keeps requesting while its line is high
  if (aeoi) {
    // AEOI: the ISR bit is cleared at the end of the INTA sequence, so it is never seen set.
    if (rotate_on_aeoi) priority_base = uint8_t((ir + 1) & 7);
  } else {
    isr |= bit;
  }
}

void PicPair::Chip::end_of_interrupt(unsigned ir) { isr &= uint8_t(~(1u << ir)); }

uint8_t PicPair::Chip::read_command_port(bool is_master) {
  if (poll) {
    // Poll command (datasheet "The Poll Command"): this read is the INTA; bit 7 says whether
    // an interrupt was pending, bits 2-0 give its level.
    poll = false;
    int ir = pending(is_master);
    if (ir < 0) return 0;
    acknowledge(unsigned(ir));
    return uint8_t(0x80 | ir);
  }
  return read_isr ? isr : irr;
}

void PicPair::Chip::write_command_port(uint8_t value) {
  if (value & ICW1_SELECT) {
    // ICW1 (datasheet "Initialization Command Words"): clears IMR, IR7 lowest priority,
    // special mask mode off, status read = IRR; the edge sense circuit is reset, so a line that
    // is already high must go low and high again. ICW4 functions are zero unless IC4.
    // LTIM is ignored: the ELCR decides edge or level, as in the PIIX.
    irr &= elcr;
    isr = 0;
    imr = 0;
    priority_base = 0;
    special_mask = false;
    read_isr = false;
    poll = false;
    aeoi = false;
    rotate_on_aeoi = false;
    sfnm = false;
    single = (value & ICW1_SNGL) != 0;
    icw4_expected = (value & ICW1_IC4) != 0;
    init_step = 2;
    return;
  }
  if (value & OCW3_SELECT) {
    if (value & OCW3_ESMM) special_mask = (value & OCW3_SMM) != 0;
    if (value & OCW3_RR) read_isr = (value & OCW3_RIS) != 0;
    poll = (value & OCW3_POLL) != 0;
    return;
  }
  // OCW2: R, SL, EOI in bits 7-5, level in bits 2-0.
  const unsigned level = value & 7;
  switch (value >> 5) {
    case 1: {  // non-specific EOI: the highest-priority level in service
      int ir = highest(isr);
      if (ir >= 0) end_of_interrupt(unsigned(ir));
      break;
    }
    case 3:  // specific EOI
      end_of_interrupt(level);
      break;
    case 5: {  // rotate on non-specific EOI: the level just ended becomes the lowest
      int ir = highest(isr);
      if (ir >= 0) {
        end_of_interrupt(unsigned(ir));
        priority_base = uint8_t((ir + 1) & 7);
      }
      break;
    }
    case 7:  // rotate on specific EOI
      end_of_interrupt(level);
      priority_base = uint8_t((level + 1) & 7);
      break;
    case 4:  // set rotate in AEOI mode
      rotate_on_aeoi = true;
      break;
    case 0:  // clear rotate in AEOI mode
      rotate_on_aeoi = false;
      break;
    case 6:  // set priority: `level` becomes the lowest
      priority_base = uint8_t((level + 1) & 7);
      break;
    default:  // 2: no operation
      break;
  }
}

void PicPair::Chip::write_data_port(uint8_t value) {
  switch (init_step) {
    case 2:  // ICW2: vector base (8086 mode: T7-T3)
      vector_base = value & 0xF8;
      init_step = single ? (icw4_expected ? 4 : 0) : 3;
      return;
    case 3:  // ICW3: cascade wiring
      icw3 = value;
      init_step = icw4_expected ? 4 : 0;
      return;
    case 4:  // ICW4
      aeoi = (value & ICW4_AEOI) != 0;
      sfnm = (value & ICW4_SFNM) != 0;
      init_step = 0;
      return;
    default:  // OCW1: interrupt mask
      imr = value;
      return;
  }
}

PicPair::PicPair(std::function<void(bool)> intr) : intr_(std::move(intr)) { reset(); }

void PicPair::reset() {
  chips_[0].power_on(ELCR_MASTER_MASK);
  chips_[1].power_on(ELCR_SLAVE_MASK);
  // Until ICW3 says otherwise the pair is wired as on every AT: slave on IR2, ID 2.
  chips_[0].icw3 = 1u << CASCADE_IRQ;
  chips_[1].icw3 = CASCADE_IRQ;
  update();
}

bool PicPair::cascaded(unsigned ir) const {
  return !chips_[0].single && (chips_[0].icw3 & (1u << ir)) != 0;
}

void PicPair::set_irq(unsigned line, bool level) {
  if (line >= 16) return;
  if (line >= 8) {
    chips_[1].set_input(line - 8, level);
  } else if (line != CASCADE_IRQ) {
    chips_[0].set_input(line, level);
  }
  update();
}

void PicPair::update() {
  // The slave's INT pin drives master IR2, which is edge-triggered (its ELCR bit cannot be set):
  // a new slave request after the previous one was acknowledged makes a new rising edge.
  chips_[0].set_input(CASCADE_IRQ, chips_[1].pending(false) >= 0);
  bool level = chips_[0].pending(true) >= 0;
  if (level != intr_level_) {
    intr_level_ = level;
    if (intr_) intr_(level);
  }
}

int PicPair::acknowledge() {
  Chip& master = chips_[0];
  Chip& slave = chips_[1];
  int vector;
  int ir = master.pending(true);
  if (ir < 0) {
    // The request went away between INTR and INTA: the master answers IR7 without setting
    // its ISR bit (datasheet "Interrupt Sequence"), the spurious IRQ7.
    vector = master.vector_base | 7;
  } else {
    master.acknowledge(unsigned(ir));
    if (cascaded(unsigned(ir))) {
      // The slave supplies the vector. If its request vanished it answers IR7 (spurious
      // IRQ15) while the master's IR2 stays in service, as on a real AT.
      int sir = slave.pending(false);
      if (sir >= 0) {
        slave.acknowledge(unsigned(sir));
        vector = slave.vector_base | sir;
      } else {
        vector = slave.vector_base | 7;
      }
    } else {
      vector = master.vector_base | ir;
    }
  }
  update();
  return vector;
}

uint8_t PicPair::read_byte(uint16_t port) {
  switch (port) {
    case MASTER_BASE:
      return chips_[0].read_command_port(true);
    case MASTER_BASE + 1:
      return chips_[0].imr;
    case SLAVE_BASE:
      return chips_[1].read_command_port(false);
    case SLAVE_BASE + 1:
      return chips_[1].imr;
    case ELCR_BASE:
      return chips_[0].elcr;
    case ELCR_BASE + 1:
      return chips_[1].elcr;
    default:
      return 0xFF;
  }
}

void PicPair::write_byte(uint16_t port, uint8_t value) {
  switch (port) {
    case MASTER_BASE:
      chips_[0].write_command_port(value);
      break;
    case MASTER_BASE + 1:
      chips_[0].write_data_port(value);
      break;
    case SLAVE_BASE:
      chips_[1].write_command_port(value);
      break;
    case SLAVE_BASE + 1:
      chips_[1].write_data_port(value);
      break;
    case ELCR_BASE:
    case ELCR_BASE + 1: {
      Chip& chip = chips_[port - ELCR_BASE];
      uint8_t level = value & chip.elcr_mask;
      uint8_t now_level = level & ~chip.elcr;
      chip.elcr = level;
      // Inputs that became level-sensitive take their IRR from the line at once.
      chip.irr = uint8_t((chip.irr & ~now_level) | (chip.lines & now_level));
      break;
    }
    default:
      break;
  }
}

uint32_t PicPair::io_read(uint16_t port, unsigned size) {
  uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) value |= uint32_t(read_byte(uint16_t(port + i))) << (8 * i);
  update();
  return value;
}

void PicPair::io_write(uint16_t port, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size; ++i) write_byte(uint16_t(port + i), uint8_t(value >> (8 * i)));
  update();
}

// ---- snapshots -------------------------------------------------------------------------------

template <typename A>
void PicPair::visit_state(A& a) {
  a(chips_, intr_level_);
}

void PicPair::save_state(StateWriter& w) const { const_cast<PicPair*>(this)->visit_state(w); }

void PicPair::load_state(StateReader& r) {
  visit_state(r);
}

}  // namespace softcpu
