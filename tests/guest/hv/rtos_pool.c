/* Thin partitions on a small pool of the secondary hypervisor's host threads
 * (tests/hv/secondary/pool_test.cpp). Built in three roles:
 *   -DROLE_WAITER: takes the next slot on the shared page, waits on that slot's word (no
 *     timeout), then spins without hypercalls and records in which order it finished.
 *   -DROLE_WAKER -DWAITERS=n: waits until n waiters took their slots, wakes slot 0, 1, ...
 *     in that order, then waits until all n finished.
 *   -DROLE_TICKER: three tasks, each 20 rounds of a short spin and a 1 ms sleep.
 * Results go to the debug console as "name key=value" lines. */
#include "guestlib.h"
#include "rtos.h"

#define MS 1000000ull
#ifndef GUEST_TIME_SCALE  /* 12 in a ThreadSanitizer build (tests/guest/hv/CMakeLists.txt) */
#define GUEST_TIME_SCALE 1
#endif
/* How long the waker and the tickers' main wait for the others: a guard, not a measurement. */
#define GUARD_NS (20000 * MS * GUEST_TIME_SCALE)
#define SHARED_BASE 0x00400000u  /* the shared region, at this address in every partition */

struct shared {
  volatile uint32_t arrived;   /* slots taken */
  volatile uint32_t finished;  /* waiters done (the waker waits here) */
  volatile uint32_t go[16];    /* a waiter per slot waits here */
};
#define SH ((struct shared*)SHARED_BASE)

__attribute__((unused)) static uint32_t xadd(volatile uint32_t* p, uint32_t v) {
  __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
  return v;
}

#if defined(ROLE_WAITER)
int main(void) {
  const uint32_t slot = xadd(&SH->arrived, 1);
  const int32_t r = sc_wait(&SH->go[slot], 0, 0);
  for (volatile uint32_t k = 0; k < 300000; ++k) {}
  const uint32_t seq = xadd(&SH->finished, 1);
  sc_wake(&SH->finished, 1);
  gprintf("waiter slot=%u result=%d seq=%u\n", slot, r, seq);
  return 0;
}
#elif defined(ROLE_WAKER)
int main(void) {
  const uint64_t until = sc_time_ns() + GUARD_NS;
  while (SH->arrived < WAITERS && sc_time_ns() < until) rtos_sleep_ns(MS);
  uint32_t woken = 0;
  /* One at a time, lowest slot first; a waiter takes its slot just before it blocks, so a
   * wake that finds nobody yet is tried again. */
  for (uint32_t slot = 0; slot < WAITERS; ++slot) {
    int32_t n;
    while ((n = sc_wake(&SH->go[slot], 1)) != 1 && sc_time_ns() < until) rtos_sleep_ns(MS);
    woken += n == 1;
  }
  for (uint32_t f; (f = SH->finished) < WAITERS && sc_time_ns() < until;)
    sc_wait(&SH->finished, f, 10 * MS);
  gprintf("waker woken=%u finished=%u\n", woken, SH->finished);
  return 0;
}
#elif defined(ROLE_TICKER)
static volatile uint32_t rounds, tasks_done;
static void ticker(uint32_t unused) {
  (void)unused;
  for (uint32_t k = 0; k < 20; ++k) {
    for (volatile uint32_t s = 0; s < 20000; ++s) {}
    xadd(&rounds, 1);
    rtos_sleep_ns(MS);
  }
  xadd(&tasks_done, 1);
}
int main(void) {
  for (uint32_t k = 0; k < 3; ++k) rtos_task_create(ticker, 0, 20);
  const uint64_t until = sc_time_ns() + GUARD_NS;
  while (tasks_done < 3 && sc_time_ns() < until) rtos_sleep_ns(2 * MS);
  gprintf("ticker rounds=%u tasks=%u\n", rounds, tasks_done);
  return 0;
}
#endif
