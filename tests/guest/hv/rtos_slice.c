/* Round robin among equal priorities on the secondary hypervisor
 * (tests/hv/secondary/secondary_test.cpp, Secondary.EqualVcpusTakeTurnsAndAHigherOnePreempts):
 * the main task at 30 makes two tasks at 10 that spin without a hypercall, each counting its
 * loops and the times it took the CPU over from the other ("turns": with FIFO among equals
 * the second would get none until the first ends). Meanwhile the main task sleeps 1 ms
 * SLEEPS times and notes how late each wake ran: a higher priority preempts at once, not
 * after a slice. Prints "slice count0=.. count1=.. turns0=.. turns1=.. late_p50_ns=..
 * late_max_ns=..". */
#include "guestlib.h"
#include "rtos.h"

#define SLEEPS 200
#define MS 1000000ull

static volatile uint32_t stop, last = 2, ended;
static volatile uint32_t count[2], turns[2];
static volatile uint32_t never;

static void spinner(uint32_t me) {
  while (!stop) {
    if (last != me) {
      last = me;
      ++turns[me];
    }
    ++count[me];
  }
  ++ended;
}

int main(void) {
  sc_set_priority(0, 30);
  rtos_task_create(spinner, 0, 10);
  rtos_task_create(spinner, 1, 10);
  static uint32_t late[SLEEPS];
  for (int k = 0; k < SLEEPS; ++k) {
    const uint64_t deadline = sc_time_ns() + MS;
    sc_wait(&never, 0, MS);
    const uint64_t now = sc_time_ns();
    late[k] = now > deadline ? (uint32_t)(now - deadline) : 0;
  }
  stop = 1;
  while (ended < 2) rtos_sleep_ns(MS);
  for (int a = 1; a < SLEEPS; ++a)  /* insertion sort: a small array */
    for (int b = a; b > 0 && late[b - 1] > late[b]; --b) {
      const uint32_t t = late[b];
      late[b] = late[b - 1];
      late[b - 1] = t;
    }
  gprintf("slice count0=%u count1=%u turns0=%u turns1=%u late_p50_ns=%u late_max_ns=%u\n",
          count[0], count[1], turns[0], turns[1], late[SLEEPS / 2], late[SLEEPS - 1]);
  return 0;
}
