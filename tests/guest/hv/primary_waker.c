/* A waker in a partition of the primary (tests/hv/secondary/cross_partition_test.cpp,
 * CrossPartition.AWakerOnThePrimarysSetWakesAThinWaiter; docs/design.md "A waker in a partition
 * of the primary"). An ordinary guest on the primary's processor set, no thin guest: it maps the
 * shared page of rtos_pool.c's waiter (-DROLE_WAITER, a thin partition of the secondary) at the
 * same address, waits until the waiter has taken slot 0, wakes it with HC_WAKE (retried while
 * the waiter has not blocked yet), and waits until it has finished, spinning on the TSC (guest
 * ns). Then its other hypercalls: HC_TIME_NS moves on; HC_WAIT, which would block the primary's
 * thread, returns -ENOSYS; HC_WAKE on an unaligned word -EINVAL, on an unmapped one -EFAULT.
 * Reports "primary_waker woken=W tries=T finished=F" and "primary_errors ..." on the debug
 * console and exits with status 1 (guest_exit 0).
 * Built again with -DFROM_AP (primary_waker_ap.rom) for a 2-vCPU partition with vcpu_threads =
 * "multi" whose vCPU 1 the secondary runs ([partition.secondary]): there vCPU 1 makes the calls,
 * on the secondary's worker, while the BSP halts until its IPI (tests/hv/smp/split_guest.h). */
#ifdef FROM_AP
#include "split_guest.h"
#else
#include "guestlib.h"
#endif
#include "softcpu/hypercall.h"

#define SHARED_BASE 0x00400000u /* as rtos_pool.c */
#define GUARD_NS 20000000000ull

struct shared {
  volatile uint32_t arrived;
  volatile uint32_t finished;
  volatile uint32_t go[16];
};
#define SH ((struct shared*)SHARED_BASE)

static uint64_t tsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static void delay_ns(uint64_t ns) {
  const uint64_t until = tsc() + ns;
  while (tsc() < until) {
  }
}

static void wake_the_waiter(void) {
  const uint64_t until = tsc() + GUARD_NS;
  while (SH->arrived < 1 && tsc() < until) delay_ns(100000);
  int32_t woken = 0;
  uint32_t tries = 0;
  /* The waiter takes its slot just before it blocks: a wake that finds nobody is tried again. */
  while (tsc() < until && (woken = sc_wake(&SH->go[0], 1)) == 0) {
    ++tries;
    delay_ns(100000);
  }
  while (SH->finished < 1 && tsc() < until) delay_ns(100000);
  gprintf("primary_waker woken=%d tries=%u finished=%u\n", woken, tries, SH->finished);
  const uint64_t t0 = sc_time_ns();
  delay_ns(1000000);
  const uint64_t t1 = sc_time_ns();
  gprintf("primary_errors time=%u wait=%d unaligned=%d unmapped=%d\n", t1 > t0 && t0 > 0,
          sc_wait(&SH->go[1], 0, 0), sc_wake((volatile uint32_t*)(SHARED_BASE + 2), 1),
          sc_wake((volatile uint32_t*)0x7FF00000u, 1));
}

#ifdef FROM_AP
__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  lapic_write(LAPIC_SVR, 0x1FF);
  wake_the_waiter();
  ap_finish();
}
#endif

int main(void) {
#ifdef FROM_AP
  split_run(ap_main);
#else
  wake_the_waiter();
#endif
  return 0;
}
