/* Two CPUs (-smp 2) each run the same compute loop on private data (no sharing but the
   start and done flags): with --accel tcg,thread=multi the two run at once on two host threads
   (docs/design.md "SMP vCPUs on host threads" measures the speed-up with a longer loop). The
   BSP then recomputes the AP's result from the AP's seed: they must agree. */
#include "smp_boot.h"

#ifndef ROUNDS
#define ROUNDS 40u
#endif
#include "smp_work.h"

static uint32_t data[2][WORDS];
static volatile uint32_t go, done, result[2];
static uint32_t ap_stack[1024];

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  while (!go) __asm__ volatile("pause");
  result[1] = compute(data[1], 0xA5A5A5A5u);
  done = 1;
  for (;;) __asm__ volatile("cli; hlt");
}

int main(void) {
  smp_start(ap_main, &ap_stack[1024]);
  const uint64_t t0 = smp_rdtsc(); /* the TSC counts guest nanoseconds, which follow the host clock */
  go = 1;
  result[0] = compute(data[0], 0x12345678u);
  for (uint32_t n = 0; !done; ++n) {
    if (n == 2000000000u) check_eq("AP finished", 1, done, 2);
    __asm__ volatile("pause");
  }
  const uint64_t t1 = smp_rdtsc();
  gprintf("results %08x %08x, both computed in %u us\n", result[0], result[1],
          (uint32_t)((t1 - t0) / 1000));
  check_eq("the AP's result, recomputed by the BSP", compute(data[0], 0xA5A5A5A5u), result[1], 3);
  check_eq("the BSP's own result, recomputed", compute(data[1], 0x12345678u), result[0], 4);
  gputs("smp_compute: ok\n");
  return 0;
}
