/* A split vCPU busy with what its own scheduler serves while CPU 0 halts (tests/hv/smp/
   both_test.cpp, BothHypervisors.ThePrimaryDoesNotWakeForWhatTheSecondarysVcpuServes;
   docs/design.md "A partition on both hypervisors"). A 2-vCPU partition whose vCPU 1 runs on
   the secondary: the BSP (vCPU 0, on the primary's set) starts the AP and halts until the AP's
   IPI. The AP runs its local APIC timer periodic (SDM vol.3 11.5.4: LVT timer bit 17, divide
   by 1, 10 ns a count) every 500 us, and echoes COM1's input from its IRQ 4 handler (routed
   through IOAPIC pin 4 to APIC ID 1 only; IER bit 0 with OUT2, PC16550D datasheet), as
   serial_echo_guest.c does. It stops once it has seen a 'q' and at least MIN_TICKS timer
   interrupts; the BSP then reports both counts on the debug console ("timer_echo: ticks N
   serial M") and exits with status 1 (guest_exit 0). Nothing here is CPU 0's to serve. */
#include "split_guest.h"

#define TIMER_VECTOR 0x50
#define SERIAL_VECTOR 0x53
#define COM1 0x3F8
#define PERIOD_COUNT 50000u /* 500 us */
#define MIN_TICKS 2000u     /* >= 1 s */

static volatile uint32_t ticks, serial_interrupts, quit_seen;

static void on_timer(struct trap_frame* f) {
  (void)f;
  ++ticks;
  lapic_write(LAPIC_EOI, 0);
}

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

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  lapic_write(LAPIC_SVR, 0x1FF);
  outb(COM1 + 3, 0x03); /* LCR: 8N1, DLAB off */
  outb(COM1 + 2, 0x00); /* FCR: no FIFO (one holding register) */
  outb(COM1 + 4, 0x0B); /* MCR: DTR, RTS, OUT2 */
  while (inb(COM1 + 5) & 0x01) (void)inb(COM1);
  ioapic_write(0x10 + 4 * 2 + 1, 1u << 24); /* pin 4 to APIC ID 1, edge, active high */
  ioapic_write(0x10 + 4 * 2, SERIAL_VECTOR);
  outb(COM1 + 1, 0x01); /* IER: received data available */
  lapic_write(LAPIC_TIMER_DIVIDE, 0xB); /* divide by 1 */
  lapic_write(LAPIC_LVT_TIMER, (1u << 17) | TIMER_VECTOR); /* periodic */
  lapic_write(LAPIC_TIMER_INITIAL, PERIOD_COUNT);
  while (!quit_seen || ticks < MIN_TICKS) wait_for_interrupt();
  lapic_write(LAPIC_LVT_TIMER, 0x10000 | TIMER_VECTOR);
  lapic_write(LAPIC_TIMER_INITIAL, 0);
  outb(COM1 + 1, 0x00);
  ioapic_write(0x10 + 4 * 2, 0x10000 | SERIAL_VECTOR);
  ap_finish();
}

int main(void) {
  set_trap_handler(TIMER_VECTOR, on_timer);
  set_trap_handler(SERIAL_VECTOR, on_serial);
  split_run(ap_main);
  gprintf("timer_echo: ticks %u serial %u\n", ticks, serial_interrupts);
  return 0;
}
