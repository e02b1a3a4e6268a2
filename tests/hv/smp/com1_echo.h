/* COM1's input echoed from an interrupt handler on the AP (APIC ID 1), for the guests of a
   partition split between the hypervisors (serial_echo_guest.c, timer_echo_guest.c): IRQ 4
   through IOAPIC pin 4 (identity for ISA IRQs other than 0) to APIC ID 1 only, the UART's
   received-data interrupt on (IER bit 0, with OUT2: PC16550D datasheet), no FIFO. The handler
   echoes every byte received to the transmitter, so the host times input to echo, and notes
   a 'q' (the host's last byte). */
#ifndef COM1_ECHO_H
#define COM1_ECHO_H
#include "split_guest.h"

#define COM1 0x3F8

static volatile uint32_t serial_interrupts, quit_seen;

static void on_serial(struct trap_frame* f) {
  (void)f;
  ++serial_interrupts;
  while (inb(COM1 + 5) & 0x01) { /* LSR data ready */
    const uint8_t c = inb(COM1);
    outb(COM1, c);
    if (c == 'q') quit_seen = 1;
  }
  lapic_write(LAPIC_EOI, 0);
}

/* On the AP, its IDT loaded; on_serial is the handler of `vector` (set by the BSP). */
static inline void com1_echo_start(uint8_t vector) {
  outb(COM1 + 3, 0x03); /* LCR: 8N1, DLAB off */
  outb(COM1 + 2, 0x00); /* FCR: no FIFO (one holding register) */
  outb(COM1 + 4, 0x0B); /* MCR: DTR, RTS, OUT2 */
  while (inb(COM1 + 5) & 0x01) (void)inb(COM1);
  ioapic_write(0x10 + 4 * 2 + 1, 1u << 24); /* pin 4 to APIC ID 1, edge, active high */
  ioapic_write(0x10 + 4 * 2, vector);
  outb(COM1 + 1, 0x01); /* IER: received data available */
}

static inline void com1_echo_stop(uint8_t vector) {
  outb(COM1 + 1, 0x00);
  ioapic_write(0x10 + 4 * 2, 0x10000 | vector);
}

#endif
