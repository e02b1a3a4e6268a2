/* bench.rom: runs the kernels BENCH_SCALE times, prints the checksum over
   debugcon and exits 0 if it matches the host-computed BENCH_EXPECTED. */
#include "bench_work.h"
#include "guestlib.h"

int main(void) {
  uint32_t sums[BENCH_KERNELS];
  gprintf("bench: %u rounds of sieve, crc32, sort, bytecode\n", (uint32_t)BENCH_SCALE);
  uint32_t total = bench_run(BENCH_SCALE, sums);
  for (int k = 0; k < BENCH_KERNELS; k++) gprintf("  %s: 0x%08x\n", bench_kernel_names[k], sums[k]);
  if (total != BENCH_EXPECTED) {
    gprintf("FAIL bench checksum: expected 0x%08x saw 0x%08x\n", (uint32_t)BENCH_EXPECTED, total);
    return 2;
  }
  gprintf("bench: checksum 0x%08x ok\n", total);
  return 0;
}
