/* Two tasks of one thin partition on two of the secondary hypervisor's workers at once
 * (tests/hv/secondary/smp_test.cpp; docs/design.md "A thin partition on several workers").
 * The boot task (raised to 30) creates two compute tasks at 10 and waits until both are done:
 *   compute: ITERS rounds of a little arithmetic and a LOCK XADD to one shared counter (the
 *     total must be exact), counting its progress; every 64 rounds it reads the other task's
 *     progress word in a window of 256 reads and counts the windows in which that word took
 *     three or more values, which needs the two running at the same instant (taking turns on
 *     one processor a turn lasts at least a run budget of 100,000 instructions, so a window
 *     sees at most one change).
 * Then two tasks at 10 play ping-pong ROUNDS times on one word with HC_WAIT / HC_WAKE (player,
 * below), beside two spinners at 5 that keep the processors busy. Built with -DSPIN=0 for the
 * one-processor control (rtos_smp1.rom), where a busy wait would only burn the slice.
 * Prints "smp compute_ns=.. counter=.. expected=.. overlaps=.." and "pingpong rounds=..
 * pong=.. ns=..", then "smp done". */
#include "guestlib.h"
#include "rtos.h"

#ifndef ITERS
#define ITERS 400000u
#endif
#define ROUNDS 200u
#ifndef SPIN
#define SPIN 20000u
#endif

static volatile uint32_t counter, done, progress[2], overlaps[2], sink[2];

static uint32_t xadd(volatile uint32_t* p, uint32_t v) {
  __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
  return v;
}

static void compute(uint32_t me) {
  const uint32_t other = 1 - me;
  uint32_t x = me + 1;
  for (uint32_t k = 0; k < ITERS; ++k) {
    for (uint32_t j = 0; j < 16; ++j) x = x * 1103515245u + 12345u;
    xadd(&counter, 1);
    progress[me] = k + 1;
    if ((k & 63) == 0) {
      uint32_t seen = progress[other], changes = 0;
      for (uint32_t r = 0; r < 256; ++r) {
        const uint32_t now = progress[other];
        if (now != seen) {
          ++changes;
          seen = now;
        }
      }
      if (changes >= 2) ++overlaps[me];  /* three or more values */
    }
  }
  sink[me] = x;
  xadd(&done, 1);
  sc_wake(&done, 1);
}

static volatile uint32_t turn, stop, rounds[2], waiting[2], running[2];

/* Busy until *w differs from `from` or SPIN loops passed (~0.1-1 ms) (no hypercall: the processor stays
 * this task's). */
static volatile uint32_t spin_bound = SPIN;
static void spin_until_changed(volatile uint32_t* w, uint32_t from) {
  for (uint32_t k = 0; k < spin_bound && *w == from; ++k) {}
}

/* One side of the ping-pong: on its turn it counts a round, lets the other block first (it
 * waits for the other's `waiting` flag, set just before its HC_WAIT), hands the turn over with
 * HC_WAKE and stays busy until the woken side runs (`running`), so the woken task is placed on
 * the other processor, not on this one. With SPIN 0 (one processor) it only waits and wakes. */
static void player(uint32_t me) {
  const uint32_t other = 1 - me;
  for (uint32_t r = 0; r < ROUNDS; ++r) {
    waiting[me] = 1;
    while (turn != me) sc_wait(&turn, other, 0);
    waiting[me] = 0;
    ++running[me];
    ++rounds[me];
    spin_until_changed(&waiting[other], 0);
    const uint32_t ran = running[other];
    turn = other;
    sc_wake(&turn, 1);
    spin_until_changed(&running[other], ran);
  }
  xadd(&done, 1);
  sc_wake(&done, 1);
}

/* Below the players: keeps a processor busy (no PAUSE: with several processors it ends the
 * processor's run, docs/design.md "SMP vCPUs"). */
static void spinner(uint32_t unused) {
  (void)unused;
  while (!stop) {}
  xadd(&done, 1);
  sc_wake(&done, 1);
}

static void wait_done(uint32_t n) {
  for (uint32_t d; (d = done) < n;) sc_wait(&done, d, 0);
}

int main(void) {
  sc_set_priority(0, 30);
  uint64_t t0 = sc_time_ns();
  rtos_task_create(compute, 0, 10);
  rtos_task_create(compute, 1, 10);
  wait_done(2);
  uint64_t t1 = sc_time_ns();
  gprintf("smp compute_ns=%llu counter=%u expected=%u overlaps=%u\n", t1 - t0, counter,
          2 * ITERS, overlaps[0] + overlaps[1]);
  rtos_task_create(spinner, 0, 5);
  rtos_task_create(spinner, 0, 5);
  t0 = sc_time_ns();
  rtos_task_create(player, 0, 10);
  rtos_task_create(player, 1, 10);
  wait_done(4);
  t1 = sc_time_ns();
  stop = 1;
  wait_done(6);
  gprintf("pingpong rounds=%u pong=%u ns=%llu\n", rounds[0], rounds[1], t1 - t0);
  gprintf("smp done\n");
  return 0;
}
