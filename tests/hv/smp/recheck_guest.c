/* A device deadline the split vCPU arms and its worker cannot meet (tests/hv/smp/both_test.cpp,
   BothHypervisors.CpuZeroServesADeviceDeadlineTheHeldOffWorkerCannot; docs/design.md "Waking
   the primary only for what is its"). A 2-vCPU partition whose vCPU 1 runs on the secondary at
   a priority below a thin partition there that spins for SPIN_MS and sleeps GAP_MS, for ever
   (tests/guest/hv/rtos_hog.c), on the secondary's one worker: vCPU 1 runs only in the hog's
   sleeps. The BSP (vCPU 0, on the primary's set) starts the AP and halts; its idle end has
   nothing of its own to wake for. The AP, SAMPLES times: arms the PIT's channel 0 in mode 0
   (interrupt on terminal count) DELAY_MS ahead, past the hog's sleep, with IOAPIC pin 2 sent to
   APIC 0 (physical, fixed), and spins on a flag, without trapping instructions, until the
   BSP's handler has run. So the deadline comes while the hog holds the worker; CPU 0's thread
   must fire the PIT itself, i.e. its idle wake time must have been moved to the deadline when
   the AP's port write armed it (Machine::publish_device_due -> the recheck hook). Lateness =
   the BSP's TSC in its handler minus the deadline from the AP's TSC before the arming write
   (TSCs are guest ns, one clock for both CPUs). A sample counts as "held" when the AP saw the
   flag more than HELD_NS after the deadline: it was off its worker when the deadline came. The
   BSP reports on the debug console "recheck: n N held H p50 A p90 B max C ns" (held samples)
   and exits with status 1 (guest_exit 0). */
#include "split_guest.h"

#ifndef SAMPLES
#define SAMPLES 40u
#endif
#ifndef GUEST_TIME_SCALE /* 12 in a ThreadSanitizer build (tests/hv/CMakeLists.txt) */
#define GUEST_TIME_SCALE 1
#endif
#define DELAY_NS (4000000u * GUEST_TIME_SCALE)
#define HELD_NS (1000000u * GUEST_TIME_SCALE)
#define PIT_VECTOR 0x51

static volatile uint32_t fired;
static volatile uint64_t fired_at;
static uint32_t late[SAMPLES], held;

static void on_pit(struct trap_frame* f) {
  (void)f;
  fired_at = smp_rdtsc();
  fired = 1;
  lapic_write(LAPIC_EOI, 0);
}

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  lapic_write(LAPIC_SVR, 0x1FF);
  ioapic_write(0x10 + 2 * 2 + 1, 0u << 24); /* pin 2 (the PIT's IRQ 0) to APIC ID 0 */
  ioapic_write(0x10 + 2 * 2, PIT_VECTOR);
  const uint32_t n = (uint32_t)((uint64_t)DELAY_NS * PIT_HZ / 1000000000u);
  for (uint32_t k = 0; k < SAMPLES; ++k) {
    fired = 0;
    const uint64_t t0 = smp_rdtsc();
    outb(0x43, 0x30); /* channel 0, low then high byte, mode 0, binary */
    outb(0x40, (uint8_t)n);
    outb(0x40, (uint8_t)(n >> 8));
    const uint64_t deadline = t0 + (uint64_t)(n + 1) * 1000000000u / PIT_HZ;
    while (!fired) __asm__ volatile("pause");
    const uint64_t seen = smp_rdtsc();
    if (seen > deadline + HELD_NS) {
      const int64_t d = (int64_t)(fired_at - deadline);
      late[held++] = d < 0 ? 0 : d > 0xFFFFFFFFll ? 0xFFFFFFFFu : (uint32_t)d;
    }
  }
  ioapic_write(0x10 + 2 * 2, 0x10000 | PIT_VECTOR);
  ap_finish();
}

int main(void) {
  set_trap_handler(PIT_VECTOR, on_pit);
  split_run(ap_main);
  sort_u32(late, held);
  gprintf("recheck: n %u held %u p50 %u p90 %u max %u ns\n", SAMPLES, held,
          held ? late[held / 2] : 0, held ? late[held * 9 / 10] : 0, held ? late[held - 1] : 0);
  return 0;
}
