/* The compute loop of smp_compute.c and bench/smp_bench_guest.c: xorshift fill of WORDS words
   from `seed`, then ROUNDS rounds of mixing with an FNV-style hash of what was read. Define
   ROUNDS before including it. */
#ifndef SMP_WORK_H
#define SMP_WORK_H

#include <stdint.h>

#define WORDS 4096u /* 16 KiB per CPU */

static uint32_t compute(uint32_t* d, uint32_t seed) {
  uint32_t x = seed;
  for (uint32_t k = 0; k < WORDS; ++k) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    d[k] = x;
  }
  uint32_t h = 2166136261u;
  for (uint32_t r = 0; r < ROUNDS; ++r)
    for (uint32_t k = 0; k < WORDS; ++k) {
      const uint32_t v = d[(k * 7 + r) % WORDS] + d[k] * 31u;
      d[k] = v ^ (v >> 7);
      h = (h ^ v) * 16777619u;
    }
  return h;
}

#endif
