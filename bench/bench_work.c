/* Compute kernels for the benchmark: prime sieve, table-driven CRC32,
   quicksort and a small bytecode interpreter.  Fixed-width, fully defined
   arithmetic so the host reference and the i386 guest agree. */
#include "bench_work.h"

static volatile uint32_t bench_seed = 0x1234567u;
static uint32_t rng_state;

static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static uint32_t mix(uint32_t h, uint32_t v) { return (h ^ v) * 0x01000193u + (h >> 15); }

const char* const bench_kernel_names[BENCH_KERNELS] = {"sieve", "crc32", "sort", "bytecode"};

/* ---- sieve of Eratosthenes over 64 Ki numbers */
#define SIEVE_N 65536
static uint8_t sieve[SIEVE_N];

static uint32_t k_sieve(uint32_t round) {
  for (uint32_t i = 0; i < SIEVE_N; i++) sieve[i] = 1;
  sieve[0] = sieve[1] = 0;
  for (uint32_t i = 2; i * i < SIEVE_N; i++)
    if (sieve[i])
      for (uint32_t j = i * i; j < SIEVE_N; j += i) sieve[j] = 0;
  uint32_t count = 0, sum = round;
  for (uint32_t i = 0; i < SIEVE_N; i++)
    if (sieve[i]) count++, sum += i;
  return mix(count, sum);
}

/* ---- CRC32 (reflected, table driven) over 32 KiB */
#define CRC_LEN 32768
static uint8_t crc_buf[CRC_LEN];
static uint32_t crc_table[256];

static uint32_t k_crc32(uint32_t round) {
  if (!crc_table[1])
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      crc_table[n] = c;
    }
  crc_buf[round % CRC_LEN] ^= (uint8_t)round;
  uint32_t crc = 0xFFFFFFFFu;
  for (uint32_t i = 0; i < CRC_LEN; i++) crc = crc_table[(crc ^ crc_buf[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

/* ---- quicksort of 8 Ki pseudo-random words */
#define SORT_N 8192
static uint32_t sort_buf[SORT_N];

static void quicksort(uint32_t* v, int lo, int hi) {
  while (lo < hi) {
    uint32_t pivot = v[lo + (hi - lo) / 2];
    int i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) {
        uint32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
        i++;
        j--;
      }
    }
    if (j - lo < hi - i) {
      quicksort(v, lo, j);
      lo = i;
    } else {
      quicksort(v, i, hi);
      hi = j;
    }
  }
}

static uint32_t k_sort(uint32_t round) {
  (void)round;
  for (int i = 0; i < SORT_N; i++) sort_buf[i] = rng();
  quicksort(sort_buf, 0, SORT_N - 1);
  uint32_t h = 0;
  for (int i = 0; i < SORT_N; i += 61) h = mix(h, sort_buf[i]);
  for (int i = 1; i < SORT_N; i++)
    if (sort_buf[i - 1] > sort_buf[i]) h ^= 0x80000000u; /* unsorted: poison */
  return h;
}

/* ---- bytecode interpreter: a register machine running a hash loop */
enum { B_LDI, B_ADD, B_XOR, B_MUL, B_SHR, B_SHL, B_DEC, B_JNZ, B_MOV, B_AND, B_HALT };

static uint32_t run_vm(const uint8_t* code, uint32_t r0, uint32_t r1) {
  uint32_t r[8] = {r0, r1, 0, 0, 0, 0, 0, 0};
  unsigned pc = 0;
  for (;;) {
    const uint8_t* in = code + pc;
    pc += 3;
    uint32_t a = in[1] & 7, b = in[2] & 7;
    switch (in[0]) {
      case B_LDI: r[a] = in[2]; break;
      case B_ADD: r[a] += r[b]; break;
      case B_XOR: r[a] ^= r[b]; break;
      case B_MUL: r[a] *= r[b]; break;
      case B_SHR: r[a] >>= (r[b] & 31); break;
      case B_SHL: r[a] <<= (r[b] & 31); break;
      case B_DEC: r[a]--; break;
      case B_JNZ: if (r[a]) pc = in[2]; break;
      case B_MOV: r[a] = r[b]; break;
      case B_AND: r[a] &= r[b]; break;
      default: return r[1];
    }
  }
}

static uint32_t k_bytecode(uint32_t round) {
  /* r0 = counter, r1 = hash; loop: r1 = (r1 ^ r0) * 33 + (r1 >> 7) */
  static const uint8_t prog[] = {
      B_LDI, 2, 33,  /* 0: r2 = 33 */
      B_LDI, 3, 7,   /* 3: r3 = 7 */
      B_XOR, 1, 0,   /* 6: loop: r1 ^= r0 */
      B_MOV, 4, 1,   /* 9: r4 = r1 */
      B_SHR, 4, 3,   /* 12: r4 >>= 7 */
      B_MUL, 1, 2,   /* 15: r1 *= 33 */
      B_ADD, 1, 4,   /* 18: r1 += r4 */
      B_DEC, 0, 0,   /* 21: r0-- */
      B_JNZ, 0, 6,   /* 24: if r0 goto loop */
      B_HALT, 0, 0};
  return run_vm(prog, 20000, round);
}

typedef uint32_t (*kernel_fn)(uint32_t);
static const kernel_fn kernels[BENCH_KERNELS] = {k_sieve, k_crc32, k_sort, k_bytecode};

uint32_t bench_run(uint32_t rounds, uint32_t sums[BENCH_KERNELS]) {
  rng_state = bench_seed;
  uint32_t h = 0;
  for (int k = 0; k < BENCH_KERNELS; k++) sums[k] = 0;
  for (uint32_t r = 0; r < rounds; r++)
    for (int k = 0; k < BENCH_KERNELS; k++) {
      sums[k] = mix(sums[k], kernels[k](r));
      h = mix(h, sums[k]);
    }
  return h;
}
