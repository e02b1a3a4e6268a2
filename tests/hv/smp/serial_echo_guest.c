/* Serial input reaching a vCPU the secondary hypervisor schedules (tests/hv/smp/both_test.cpp,
   BothHypervisors.SerialInputReachesTheSecondarysVcpuWhileThePrimaryRunsAnother; docs/design.md
   "A partition on both hypervisors"). A 2-vCPU partition whose vCPU 1 runs on the secondary:
   the BSP (vCPU 0, on the primary's set) starts the AP and halts; the AP routes COM1's IRQ 4
   to itself and echoes every byte from its handler (com1_echo.h), so the host times input to
   echo; after a 'q' it tells the BSP, which exits with status 1 (guest_exit 0). The handler
   counts its interrupts and the BSP reports the count on the debug console. */
#include "com1_echo.h"

#define SERIAL_VECTOR 0x53

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  lapic_write(LAPIC_SVR, 0x1FF);
  com1_echo_start(SERIAL_VECTOR);
  while (!quit_seen) wait_for_interrupt();
  com1_echo_stop(SERIAL_VECTOR);
  ap_finish();
}

int main(void) {
  set_trap_handler(SERIAL_VECTOR, on_serial);
  split_run(ap_main);
  gprintf("serial_echo: %u interrupts\n", serial_interrupts);
  return 0;
}
