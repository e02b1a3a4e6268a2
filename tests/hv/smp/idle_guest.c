/* A split vCPU halted with nothing due (tests/hv/smp/both_test.cpp,
   BothHypervisors.AnIdleSplitVcpuWaitsForItsKick; docs/design.md "A partition on both
   hypervisors"). A 2-vCPU partition whose vCPU 1 runs on the secondary: the BSP (vCPU 0, on
   the primary's set) starts the AP, which halts with interrupts on (no timer of its own, no
   device armed) until the BSP's IPI. The BSP arms its own local APIC timer one-shot IDLE_MS
   ahead (SDM vol.3 11.5.4: divide by 1, 10 ns a count), halts until it fires, then sends the
   AP the IPI; the AP answers with ap_finish's IPI and the BSP exits with status 1
   (guest_exit 0). Nothing is the AP's to do for IDLE_MS: its scheduler should not look. */
#include "split_guest.h"

#define IDLE_MS 1000u
#define TIMER_VECTOR 0x50
#define GO_VECTOR 0x54

static volatile uint32_t timer_fired, go;

static void on_timer(struct trap_frame* f) {
  (void)f;
  timer_fired = 1;
  lapic_write(LAPIC_EOI, 0);
}

static void on_go(struct trap_frame* f) {
  (void)f;
  go = 1;
  lapic_write(LAPIC_EOI, 0);
}

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  lapic_write(LAPIC_SVR, 0x1FF);
  while (!go) wait_for_interrupt();
  ap_finish();
}

int main(void) {
  set_trap_handler(TIMER_VECTOR, on_timer);
  set_trap_handler(GO_VECTOR, on_go);
  set_trap_handler(BSP_VECTOR, on_bsp);
  smp_start(ap_main, &ap_stack[1024]);
  lapic_write(LAPIC_TIMER_DIVIDE, 0xB); /* divide by 1 */
  lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR); /* one-shot */
  lapic_write(LAPIC_TIMER_INITIAL, IDLE_MS * 100000u);
  while (!timer_fired) wait_for_interrupt();
  send_ipi(1, GO_VECTOR);
  while (!ap_done) wait_for_interrupt();
  gprintf("idle: done\n");
  return 0;
}
