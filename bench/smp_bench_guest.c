/* The SMP scaling workload (bench/smp_scaling.py): two equal units of compute (the loop of
   tests/guest/platform/smp_compute.c, ROUNDS rounds over 16 KiB each). The BSP starts the AP
   with INIT/SIPI; if it comes up (-smp 2) each CPU computes one unit at once, otherwise
   (-smp 1) the BSP computes both, so every configuration does the same work. Prints the
   guest's TSC time of the compute phase and both results (checked against each other by the
   script: the same seeds give the same results whoever computes them). */
#include "smp_boot.h"

#ifndef ROUNDS
#define ROUNDS 1500u
#endif
#include "smp_work.h"

static uint32_t data[2][WORDS];
static volatile uint32_t go, ap_up, done, result[2];
static uint32_t ap_stack[1024];
static const uint32_t seeds[2] = {0x12345678u, 0xA5A5A5A5u};

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  ap_up = 1;
  while (!go) __asm__ volatile("pause");
  result[1] = compute(data[1], seeds[1]);
  done = 1;
  for (;;) __asm__ volatile("cli; hlt");
}

int main(void) {
  smp_start(ap_main, &ap_stack[1024]);
  /* A started AP reports within a few of its turns; a -smp 1 machine has none. */
  for (uint32_t n = 0; n < 2000000u && !ap_up; ++n) __asm__ volatile("pause");
  const uint32_t cpus = ap_up ? 2 : 1;
  const uint64_t t0 = smp_rdtsc(); /* the TSC counts guest nanoseconds, which follow the host clock */
  go = 1;
  result[0] = compute(data[0], seeds[0]);
  if (cpus == 1) {
    result[1] = compute(data[1], seeds[1]);
  } else {
    while (!done) __asm__ volatile("pause");
  }
  const uint64_t t1 = smp_rdtsc();
  gprintf("smp_bench: cpus %u rounds %u results %08x %08x compute_us %u\n", cpus, ROUNDS,
          result[0], result[1], (uint32_t)((t1 - t0) / 1000));
  return 0;
}
