/* Benchmark workload shared by the guest (bench.rom) and its host-side
   reference, which computes the expected checksum at build time. */
#ifndef BENCH_WORK_H
#define BENCH_WORK_H
#include <stdint.h>

/* Outer repetitions; each round is about 5.2 million guest instructions
   at -O2 -march=i686.  Override with -DBENCH_SCALE=N (CMake: -DBENCH_SCALE=N). */
#ifndef BENCH_SCALE
#define BENCH_SCALE 50
#endif

#define BENCH_KERNELS 4
extern const char* const bench_kernel_names[BENCH_KERNELS];
/* Runs every kernel `rounds` times, fills per-kernel checksums, returns a combined one. */
uint32_t bench_run(uint32_t rounds, uint32_t sums[BENCH_KERNELS]);
#endif
