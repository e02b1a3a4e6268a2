/* Serial input reaching a vCPU the secondary hypervisor schedules (tests/hv/smp/both_test.cpp,
   BothHypervisors.SerialInputReachesTheSecondarysVcpuWhileThePrimaryRunsAnother; docs/design.md
   "A partition on both hypervisors"). A 2-vCPU partition whose vCPU 1 runs on the secondary:
   the BSP (vCPU 0, on the primary's set) starts the AP and halts; the AP routes COM1's IRQ 4
   through IOAPIC pin 4 (identity for ISA IRQs other than 0) to APIC ID 1 only, enables the
   UART's received-data interrupt (IER bit 0, with OUT2: PC16550D datasheet) and halts. Its
   handler echoes every byte received to the transmitter, so the host times input to echo;
   after a 'q' it tells the BSP, which exits with status 1 (guest_exit 0). The handler counts
   its interrupts and the BSP reports the count on the debug console. */
#include "split_guest.h"

#define SERIAL_VECTOR 0x53
#define COM1 0x3F8

static volatile uint32_t interrupts;

static void on_serial(struct trap_frame* f) {
  (void)f;
  ++interrupts;
  while (inb(COM1 + 5) & 0x01) { /* LSR data ready */
    const uint8_t c = inb(COM1);
    outb(COM1, c);
    if (c == 'q') ap_done = 1;
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
  while (!ap_done) wait_for_interrupt();
  outb(COM1 + 1, 0x00);
  ioapic_write(0x10 + 4 * 2, 0x10000 | SERIAL_VECTOR);
  ap_finish();
}

int main(void) {
  set_trap_handler(SERIAL_VECTOR, on_serial);
  split_run(ap_main);
  gprintf("serial_echo: %u interrupts\n", interrupts);
  return 0;
}
