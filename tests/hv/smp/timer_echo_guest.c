/* A split vCPU busy with what its own scheduler serves while CPU 0 halts (tests/hv/smp/
   both_test.cpp, BothHypervisors.ThePrimaryDoesNotWakeForWhatTheSecondarysVcpuServes;
   docs/design.md "A partition on both hypervisors"). A 2-vCPU partition whose vCPU 1 runs on
   the secondary: the BSP (vCPU 0, on the primary's set) starts the AP and halts until the AP's
   IPI. The AP runs its local APIC timer periodic (SDM vol.3 11.5.4: LVT timer bit 17, divide
   by 1, 10 ns a count) every 500 us, and echoes COM1's input from its IRQ 4 handler
   (com1_echo.h, as serial_echo_guest.c). It stops once it has seen a 'q' and at least
   MIN_TICKS timer interrupts; the BSP then reports both counts on the debug console
   ("timer_echo: ticks N serial M") and exits with status 1 (guest_exit 0). Nothing here is
   CPU 0's to serve. */
#include "com1_echo.h"

#define TIMER_VECTOR 0x50
#define SERIAL_VECTOR 0x53
#define PERIOD_COUNT 50000u /* 500 us */
#define MIN_TICKS 2000u     /* >= 1 s */

static volatile uint32_t ticks;

static void on_timer(struct trap_frame* f) {
  (void)f;
  ++ticks;
  lapic_write(LAPIC_EOI, 0);
}

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  lapic_write(LAPIC_SVR, 0x1FF);
  com1_echo_start(SERIAL_VECTOR);
  lapic_write(LAPIC_TIMER_DIVIDE, 0xB); /* divide by 1 */
  lapic_write(LAPIC_LVT_TIMER, (1u << 17) | TIMER_VECTOR); /* periodic */
  lapic_write(LAPIC_TIMER_INITIAL, PERIOD_COUNT);
  while (!quit_seen || ticks < MIN_TICKS) wait_for_interrupt();
  lapic_write(LAPIC_LVT_TIMER, 0x10000 | TIMER_VECTOR);
  lapic_write(LAPIC_TIMER_INITIAL, 0);
  com1_echo_stop(SERIAL_VECTOR);
  ap_finish();
}

int main(void) {
  set_trap_handler(TIMER_VECTOR, on_timer);
  set_trap_handler(SERIAL_VECTOR, on_serial);
  split_run(ap_main);
  gprintf("timer_echo: ticks %u serial %u\n", ticks, serial_interrupts);
  return 0;
}
