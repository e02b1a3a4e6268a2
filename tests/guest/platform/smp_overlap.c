/* Two CPUs (-smp 2): do they run at the same time? The AP adds to a shared counter with LOCK
   CMPXCHG and bumps a progress word of its own after each add, until told to stop; the BSP adds
   ITERATIONS times, looking at the AP's progress in short windows (WINDOW_READS reads, a few
   thousand instructions) now and then, and then only looks, until ENOUGH_WINDOWS windows saw
   the AP move or LOOK_NS of guest time (the TSC, which follows the host clock) have passed:
   on a loaded host the two threads may get a core at the same moment only now and then.
   Round-robin on one host thread (thread=single), a CPU runs up to 100 000 instructions before
   the other gets a turn, so one window sees the AP's progress change at most once; on parallel
   host threads it changes many times inside one window. Passes (debug-exit 0) when the total
   is exact and at least one window saw three or more progress values; no such window: check
   code 20 (exit status 41), which the round-robin control test expects. */
#include "smp_boot.h"

#define ITERATIONS 200000u
#define WINDOW_READS 256u
#define ENOUGH_WINDOWS 16u
#define LOOK_NS 4000000000ull

static volatile uint32_t counter, go, stop, ap_done, ap_progress;
static uint32_t ap_stack[1024];

static void add_one(void) { lock_add_one(&counter); }

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  while (!go) __asm__ volatile("pause");
  while (!stop) {
    add_one();
    ap_progress = ap_progress + 1; /* the AP's own word: its count of adds */
  }
  ap_done = 1;
  for (;;) __asm__ volatile("cli; hlt");
}

/* How many different values of the AP's progress one short window sees. */
static uint32_t window(void) {
  uint32_t last = ap_progress, seen = 1;
  for (uint32_t k = 0; k < WINDOW_READS; ++k) {
    const uint32_t v = ap_progress;
    if (v != last) {
      ++seen;
      last = v;
    }
  }
  return seen;
}

int main(void) {
  smp_start(ap_main, &ap_stack[1024]);
  const uint64_t t0 = smp_rdtsc();
  go = 1;
  uint32_t windows = 0, overlapping = 0, most = 0;
  for (uint32_t k = 0; k < ITERATIONS; ++k) {
    add_one();
    if (k % 64 == 0 && overlapping < ENOUGH_WINDOWS) {
      const uint32_t seen = window();
      ++windows;
      if (seen > most) most = seen;
      if (seen >= 3) ++overlapping;
    }
  }
  while (overlapping < ENOUGH_WINDOWS && smp_rdtsc() - t0 < LOOK_NS) {
    const uint32_t seen = window();
    ++windows;
    if (seen > most) most = seen;
    if (seen >= 3) ++overlapping;
  }
  stop = 1;
  for (uint32_t n = 0; !ap_done; ++n) {
    if (n == 2000000000u) check_eq("AP finished", 1, ap_done, 2);
    __asm__ volatile("pause");
  }
  gprintf("counter %u (AP %u); %u of %u windows saw the AP move 2+ times (at most %u values)\n",
          counter, ap_progress, overlapping, windows, most);
  check_eq("exact total of both CPUs' LOCK CMPXCHG increments", ITERATIONS + ap_progress, counter, 3);
  if (overlapping == 0) check_eq("windows with the CPUs running at once", 1, 0, 20);
  gputs("smp_overlap: ok\n");
  return 0;
}
