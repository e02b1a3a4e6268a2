/* Wake-to-run latency of the secondary hypervisor (bench/hv_wake_bench.cpp runs it): the
 * time from a wake (the HC_WAKE hypercall, or a wait's timeout expiring) to the woken,
 * highest-priority vCPU's first instruction after its wait, measured with HC_TIME_NS on both
 * sides (so one HC_TIME_NS is inside each figure). Prints p50/p99/max over N wakes per setting,
 * and the cost of a wait/wake pair and of a yield switch between two vCPUs. */
#include "guestlib.h"
#include "rtos.h"

#ifndef WAKES
#define WAKES 10000
#endif
/* 100 ns buckets up to 2 ms, then 100 us buckets up to 100 ms (beyond: the last one). */
#define FINE_NS 100
#define FINE 20000
#define COARSE_NS 100000
#define COARSE 1000

static uint32_t fine[FINE], coarse[COARSE];
static uint64_t hmax, hcount;

static void hist_reset(void) {
  for (int k = 0; k < FINE; ++k) fine[k] = 0;
  for (int k = 0; k < COARSE; ++k) coarse[k] = 0;
  hmax = hcount = 0;
}
static void hist_add(uint64_t ns) {
  if (ns < (uint64_t)FINE * FINE_NS) {
    ++fine[ns / FINE_NS];
  } else {
    const uint64_t b = ns / COARSE_NS;
    ++coarse[b < COARSE ? b : COARSE - 1];
  }
  if (ns > hmax) hmax = ns;
  ++hcount;
}
/* The upper edge of the bucket holding the pct-th percentile (a bound: "<="). */
static uint32_t hist_pct(unsigned pct) {
  const uint64_t want = (hcount * pct + 99) / 100;
  uint64_t seen = 0;
  for (int k = 0; k < FINE; ++k) {
    seen += fine[k];
    if (seen >= want) return (uint32_t)((k + 1) * FINE_NS);
  }
  for (int k = 0; k < COARSE; ++k) {
    seen += coarse[k];
    if (seen >= want) return (uint32_t)((k + 1) * COARSE_NS);
  }
  return (uint32_t)hmax;
}
static void report(const char* what) {
  gprintf("%s n=%u p50_ns<=%u p99_ns<=%u max_ns=%u\n", what, (uint32_t)hcount, hist_pct(50),
          hist_pct(99), (uint32_t)hmax);
}

/* ---- wake hypercall -> the woken vCPU runs ---- */
static volatile uint32_t wword, wdone;
static volatile uint64_t t_wake;
static void woken(uint32_t n) {
  for (uint32_t k = 0; k < n; ++k) {
    sc_wait(&wword, k, 0);
    hist_add(sc_time_ns() - t_wake);
  }
  wdone = 1;
}

/* ---- timeout expiry -> the woken vCPU runs ---- */
static volatile uint32_t never;
static void sleeper(uint32_t n) {
  for (uint32_t k = 0; k < n; ++k) {
    const uint64_t deadline = sc_time_ns() + 200000;
    sc_wait(&never, 0, 200000);
    const uint64_t now = sc_time_ns();
    hist_add(now > deadline ? now - deadline : 0);
  }
  wdone = 1;
}
static volatile uint32_t stop_spinners;
static void spinner(uint32_t unused) {
  (void)unused;
  volatile uint32_t x = 0;
  while (!stop_spinners) ++x;
}

/* ---- wait/wake pair and yield switch ---- */
static volatile uint32_t ping, pong;
static void ponger(uint32_t n) {
  for (uint32_t k = 0; k < n; ++k) {
    while (ping == k) sc_wait(&ping, k, 0);
    pong = k + 1;
    sc_wake(&pong, 1);
  }
}
static void yielder(uint32_t n) {
  for (uint32_t k = 0; k < n; ++k) sc_yield();
}

int main(void) {
  sc_set_priority(0, 10);
  /* 1. wake hypercall, waker at 20, woken at 50 */
  hist_reset();
  wdone = 0;
  sc_set_priority(0, 20);
  rtos_task_create(woken, WAKES, 50);
  for (uint32_t k = 0; k < WAKES; ++k) {
    t_wake = sc_time_ns();
    wword = k + 1;
    sc_wake(&wword, 1);
  }
  report("wake_hypercall");
  sc_set_priority(0, 10);

  /* 2. timeout expiry, nothing else to run */
  hist_reset();
  wdone = 0;
  rtos_task_create(sleeper, WAKES, 50);
  while (!wdone) rtos_sleep_ns(10000000);
  report("timeout_idle");

  /* 3. timeout expiry while two low-priority vCPUs spin without hypercalls */
  hist_reset();
  wdone = 0;
  stop_spinners = 0;
  sc_set_priority(0, 60);  /* we create everything first, then sleep above them */
  rtos_task_create(spinner, 0, 5);
  rtos_task_create(spinner, 0, 5);
  rtos_task_create(sleeper, WAKES, 50);
  while (!wdone) rtos_sleep_ns(10000000);
  stop_spinners = 1;
  report("timeout_busy");
  sc_set_priority(0, 10);
  rtos_sleep_ns(1000000);  /* the spinners end */

  /* 4. wait/wake pair: ping-pong between two vCPUs of one priority */
  ping = pong = 0;
  sc_set_priority(0, 30);
  rtos_task_create(ponger, WAKES, 30);
  uint64_t t0 = sc_time_ns();
  for (uint32_t k = 0; k < WAKES; ++k) {
    ping = k + 1;
    sc_wake(&ping, 1);
    while (pong == k) sc_wait(&pong, k, 0);
  }
  uint64_t t1 = sc_time_ns();
  gprintf("wait_wake_round_trip n=%u avg_ns=%u\n", WAKES, (uint32_t)((t1 - t0) / WAKES));

  /* 5. yield switch between two vCPUs of one priority */
  rtos_task_create(yielder, WAKES, 30);
  t0 = sc_time_ns();
  for (uint32_t k = 0; k < WAKES; ++k) sc_yield();
  t1 = sc_time_ns();
  gprintf("yield_switch n=%u avg_ns=%u\n", 2 * WAKES, (uint32_t)((t1 - t0) / (2 * WAKES)));
  sc_set_priority(0, 10);
  rtos_sleep_ns(1000000);
  gprintf("bench done\n");
  return 0;
}
