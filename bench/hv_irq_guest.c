/* Device-interrupt latency of a vCPU the secondary hypervisor schedules (bench/hv_irq_bench.py,
   docs/design.md "A partition on both hypervisors"; issue 14). A 2-vCPU partition of the
   primary whose vCPU 1 runs on the secondary ([partition.secondary]): the BSP (vCPU 0, on the
   primary's set) starts the AP and halts; the AP measures, SAMPLES times each, how late its
   interrupt handler runs after a deadline it armed, with its own CPU halted meanwhile:
   1. its local APIC timer, one-shot (SDM vol.3 11.5.4), divide by 1: 10 ns per count;
   2. the PIT's channel 0 in mode 0 (interrupt on terminal count) through IOAPIC pin 2,
      physical destination APIC 1 (the PIT is a device CPU 0's thread services).
   Lateness = the TSC (guest ns, which follow the host clock) in the handler minus the deadline
   computed from the TSC read just before the arming write (an upper bound by that write's
   time; the PIT's count starts on the clock after the write, so its deadline is n + 1 ticks
   on). The delays vary from 100 to 599 us. Prints p50/p99/max per kind in ns on the debug
   console and exits with status 1 (guest_exit 0). */
#include "split_guest.h"

#ifndef SAMPLES
#define SAMPLES 2000u
#endif
#define LAPIC_VECTOR 0x50
#define PIT_VECTOR 0x51

static volatile uint32_t fired, ap_up;
static volatile uint64_t fired_at;
static uint32_t late[SAMPLES];

static void on_timer(struct trap_frame* f) {
  (void)f;
  fired_at = smp_rdtsc();
  fired = 1;
  lapic_write(LAPIC_EOI, 0);
}

/* 100..599 us, spread so that deadlines fall at every phase of the hosts' timers. */
static uint32_t delay_ns(uint32_t k) { return 100000u + (k * 7919u) % 500u * 1000u; }

static void report(const char* what) {
  sort_u32(late, SAMPLES);
  gprintf("%s: n %u p50 %u p99 %u max %u ns\n", what, SAMPLES, late[SAMPLES / 2],
          late[SAMPLES - SAMPLES / 100], late[SAMPLES - 1]);
}

/* Waits (halted) for the handler; the lateness of sample k against `deadline`. */
static void wait_sample(uint32_t k, uint64_t deadline) {
  while (!fired) wait_for_interrupt();
  const int64_t d = (int64_t)(fired_at - deadline);
  late[k] = d < 0 ? 0 : d > 0xFFFFFFFFll ? 0xFFFFFFFFu : (uint32_t)d;
}

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  lapic_write(LAPIC_SVR, 0x1FF);
  ap_up = 1;
  /* 1. The local APIC timer. */
  lapic_write(LAPIC_TIMER_DIVIDE, 0xB); /* divide by 1 */
  lapic_write(LAPIC_LVT_TIMER, LAPIC_VECTOR);
  for (uint32_t k = 0; k < SAMPLES; ++k) {
    const uint32_t d = delay_ns(k);
    fired = 0;
    const uint64_t t0 = smp_rdtsc();
    lapic_write(LAPIC_TIMER_INITIAL, d / 10);
    wait_sample(k, t0 + d);
  }
  lapic_write(LAPIC_LVT_TIMER, 0x10000 | LAPIC_VECTOR);
  report("lapic timer");
  /* 2. The PIT through the IOAPIC (its IRQ0 is pin 2), to APIC ID 1 only. */
  ioapic_write(0x10 + 2 * 2 + 1, 1u << 24);
  ioapic_write(0x10 + 2 * 2, PIT_VECTOR);
  for (uint32_t k = 0; k < SAMPLES; ++k) {
    const uint32_t n = (uint32_t)((uint64_t)delay_ns(k) * PIT_HZ / 1000000000u);
    fired = 0;
    const uint64_t t0 = smp_rdtsc();
    outb(0x43, 0x30); /* channel 0, low then high byte, mode 0, binary */
    outb(0x40, (uint8_t)n);
    outb(0x40, (uint8_t)(n >> 8));
    wait_sample(k, t0 + (uint64_t)(n + 1) * 1000000000u / PIT_HZ);
  }
  ioapic_write(0x10 + 2 * 2, 0x10000 | PIT_VECTOR);
  report("pit via ioapic");
  ap_finish();
}

int main(void) {
  set_trap_handler(LAPIC_VECTOR, on_timer);
  set_trap_handler(PIT_VECTOR, on_timer);
  split_run(ap_main);
  gputs("hv_irq: done\n");
  return 0;
}
