/* See checksum_work.h.  Only fixed-width types and fully defined arithmetic
   (no signed overflow, no oversized shifts), so the result is the same on the
   x86-64 host and the i386 guest.  The seed is read through a volatile so
   GCC cannot fold the work away at compile time. */
#include "checksum_work.h"

#ifdef __STDC_HOSTED__
#if __STDC_HOSTED__
#include <string.h>
#else
#include "guestlib.h"
#endif
#endif

static volatile uint32_t seed_source = 0x2545F491u;
static uint32_t rng_state;

static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static uint32_t mix(uint32_t h, uint32_t v) {
  h ^= v + 0x9E3779B9u + (h << 6) + (h >> 2);
  return h;
}

const char* const checksum_part_names[CHECKSUM_PARTS] = {
    "arith32", "arith64", "bits",     "sort",   "crc32",  "strings", "interp",
    "recursion", "narrow", "sieve", "funcptr", "matrix", "struct", "flags"};

static uint32_t part_arith32(void) {
  uint32_t h = 0;
  for (int i = 0; i < 2000; i++) {
    uint32_t a = rng(), b = rng() | 1;
    int32_t sa = (int32_t)a, sb = (int32_t)(b >> (i & 15));
    if (sb == 0) sb = 7;
    h = mix(h, a * b);
    h = mix(h, a / b);
    h = mix(h, a % b);
    if (!(sa == INT32_MIN && sb == -1)) {
      h = mix(h, (uint32_t)(sa / sb));
      h = mix(h, (uint32_t)(sa % sb));
    }
    h = mix(h, a + b);
    h = mix(h, a - b);
    h = mix(h, (uint32_t)((int64_t)sa * sb >> 32));
    h = mix(h, (uint32_t)(((uint64_t)a * b) >> 32));
    h = mix(h, (uint32_t)(sa >> (i & 31)));
    h = mix(h, a >> (i & 31));
    h = mix(h, a < b ? 1u : 0u);
    h = mix(h, sa < sb ? 3u : 5u);
    h = mix(h, (uint32_t)(uint8_t)a * 1000u / 7u);
  }
  return h;
}

static uint32_t part_arith64(void) {
  uint32_t h = 0;
  for (int i = 0; i < 500; i++) {
    uint64_t a = ((uint64_t)rng() << 32) | rng();
    uint64_t b = ((uint64_t)rng() << (i & 31)) | 3;
    int64_t sa = (int64_t)a, sb = (int64_t)(b >> 3) - 1000;
    if (sb == 0) sb = 1;
    uint64_t r[] = {a * b, a / b, a % b, (uint64_t)(sa / sb), (uint64_t)(sa % sb),
                    a << (i & 63), a >> (i & 63), (uint64_t)(sa >> (i & 63)), a + b, a - b};
    for (unsigned k = 0; k < sizeof r / sizeof r[0]; k++) {
      h = mix(h, (uint32_t)r[k]);
      h = mix(h, (uint32_t)(r[k] >> 32));
    }
  }
  return h;
}

static uint32_t rotl32(uint32_t v, unsigned n) { return (v << (n & 31)) | (v >> ((32 - n) & 31)); }

static uint32_t part_bits(void) {
  uint32_t h = 0;
  for (int i = 0; i < 3000; i++) {
    uint32_t a = rng();
    h = mix(h, (uint32_t)__builtin_popcount(a));
    if (a) h = mix(h, (uint32_t)__builtin_clz(a) * 64u + (uint32_t)__builtin_ctz(a));
    h = mix(h, __builtin_bswap32(a));
    h = mix(h, rotl32(a, (unsigned)i));
    h = mix(h, a & (a - 1));
    h = mix(h, a ^ (a >> 1));
    h = mix(h, (uint32_t)__builtin_parity(a));
    uint16_t w = (uint16_t)a;
    h = mix(h, (uint32_t)(uint16_t)((w << 3) | (w >> 13)));
  }
  return h;
}

static void quicksort(uint32_t* v, int lo, int hi) {
  while (lo < hi) {
    uint32_t pivot = v[(lo + hi) / 2];
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

static uint32_t sort_buf[3000];
static int16_t sort16[1000];

static uint32_t part_sort(void) {
  uint32_t h = 0;
  for (int i = 0; i < 3000; i++) sort_buf[i] = rng() % 100000u;
  quicksort(sort_buf, 0, 2999);
  for (int i = 0; i < 3000; i++) {
    if (i && sort_buf[i - 1] > sort_buf[i]) h += 0x10000000u;
    h = mix(h, sort_buf[i]);
  }
  /* insertion sort of signed 16-bit values */
  for (int i = 0; i < 1000; i++) sort16[i] = (int16_t)rng();
  for (int i = 1; i < 1000; i++) {
    int16_t x = sort16[i];
    int j = i - 1;
    while (j >= 0 && sort16[j] > x) {
      sort16[j + 1] = sort16[j];
      j--;
    }
    sort16[j + 1] = x;
  }
  for (int i = 0; i < 1000; i += 7) h = mix(h, (uint32_t)(int32_t)sort16[i]);
  return h;
}

static uint8_t crc_data[4096];
static uint32_t crc_table[256];

static uint32_t part_crc32(void) {
  for (int i = 0; i < 4096; i++) crc_data[i] = (uint8_t)rng();
  uint32_t crc = 0xFFFFFFFFu;
  for (int i = 0; i < 1024; i++) {
    crc ^= crc_data[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  uint32_t bitwise = ~crc;
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
  crc = 0xFFFFFFFFu;
  for (int i = 0; i < 1024; i++) crc = crc_table[(crc ^ crc_data[i]) & 0xFF] ^ (crc >> 8);
  uint32_t tabled = ~crc;
  crc = 0xFFFFFFFFu;
  for (int i = 0; i < 4096; i++) crc = crc_table[(crc ^ crc_data[i]) & 0xFF] ^ (crc >> 8);
  /* bitwise and table CRC agree: fold the difference in */
  return mix(mix(bitwise, bitwise ^ tabled), ~crc);
}

static int fmt_u32(char* out, uint32_t v) {
  char tmp[12];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n] = 0;
  return n;
}

static uint32_t parse_u32(const char* s) {
  uint32_t v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (uint32_t)(*s++ - '0');
  return v;
}

static char strbuf[4096];

static uint32_t part_strings(void) {
  uint32_t h = 0;
  int pos = 0;
  for (int i = 0; i < 300; i++) {
    uint32_t v = rng() >> (i & 31);
    int n = fmt_u32(strbuf + pos, v);
    h = mix(h, parse_u32(strbuf + pos) ^ v);
    h = mix(h, (uint32_t)n);
    pos += n;
    strbuf[pos++] = ',';
    if (pos > 3900) pos = 0;
  }
  strbuf[pos] = 0;
  h = mix(h, (uint32_t)strlen(strbuf));
  memmove(strbuf + 10, strbuf, 1000);
  memmove(strbuf + 3, strbuf + 500, 1000);
  memset(strbuf + 2000, 'z', 77);
  memcpy(strbuf + 3000, strbuf + 1, 500);
  for (int i = 0; i < 4096; i += 3) h = mix(h, (uint32_t)(uint8_t)strbuf[i]);
  h = mix(h, (uint32_t)(memcmp(strbuf, strbuf + 3000, 20) > 0));
  return h;
}

/* A tiny stack-machine bytecode interpreter (switch -> jump table). */
enum { OP_PUSH, OP_ADD, OP_SUB, OP_MUL, OP_DUP, OP_SWAP, OP_JNZ, OP_DEC, OP_XOR, OP_SHR, OP_HALT, OP_OVER, OP_DROP };

static uint32_t run_bytecode(const uint8_t* code, uint32_t arg) {
  uint32_t stack[32];
  int sp = 0;
  unsigned pc = 0;
  stack[sp++] = arg;
  for (int steps = 0; steps < 100000; steps++) {
    switch (code[pc++]) {
      case OP_PUSH: stack[sp++] = code[pc++]; break;
      case OP_ADD: sp--; stack[sp - 1] += stack[sp]; break;
      case OP_SUB: sp--; stack[sp - 1] -= stack[sp]; break;
      case OP_MUL: sp--; stack[sp - 1] *= stack[sp]; break;
      case OP_DUP: stack[sp] = stack[sp - 1]; sp++; break;
      case OP_SWAP: { uint32_t t = stack[sp - 1]; stack[sp - 1] = stack[sp - 2]; stack[sp - 2] = t; break; }
      case OP_JNZ: { uint8_t target = code[pc++]; if (stack[--sp]) pc = target; break; }
      case OP_DEC: stack[sp - 1]--; break;
      case OP_XOR: sp--; stack[sp - 1] ^= stack[sp]; break;
      case OP_SHR: sp--; stack[sp - 1] >>= (stack[sp] & 31); break;
      case OP_OVER: stack[sp] = stack[sp - 2]; sp++; break;
      case OP_DROP: sp--; break;
      case OP_HALT:
      default: return stack[sp - 1];
    }
  }
  return 0xDEADu;
}

static uint32_t part_interp(void) {
  /* acc = 1; n = arg; loop: acc = acc * 3 + n ^ (acc >> 5); n--; until n == 0 */
  static const uint8_t prog[] = {
      OP_PUSH, 1,              /* 0: [n acc] */
      OP_SWAP,                 /* 2: [acc n] */
      /* loop @3: [acc n] */
      OP_SWAP, OP_PUSH, 3, OP_MUL, /* [n acc*3] */
      OP_OVER, OP_ADD,         /* [n acc*3+n] */
      OP_DUP, OP_PUSH, 5, OP_SHR, OP_XOR, /* [n acc'] */
      OP_SWAP, OP_DEC,         /* [acc' n-1] */
      OP_DUP, OP_JNZ, 3,       /* [acc' n-1] */
      OP_DROP, OP_HALT};
  uint32_t h = 0;
  for (uint32_t i = 1; i < 60; i++) h = mix(h, run_bytecode(prog, i * 7 + (rng() & 15)));
  return h;
}

static uint32_t fib(uint32_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static uint32_t ack(uint32_t m, uint32_t n) {
  if (m == 0) return n + 1;
  if (n == 0) return ack(m - 1, 1);
  return ack(m - 1, ack(m, n - 1));
}
static uint32_t hanoi(int n, int from, int to, int via, uint32_t h) {
  if (n == 0) return h;
  h = hanoi(n - 1, from, via, to, h);
  h = mix(h, (uint32_t)(from * 3 + to));
  return hanoi(n - 1, via, to, from, h);
}

static uint32_t part_recursion(void) {
  uint32_t base = seed_source & 3; /* 1 */
  uint32_t h = fib(18 + base);
  h = mix(h, ack(2, 3 + base));
  h = mix(h, hanoi(10 + (int)base, 0, 2, 1, 0));
  return h;
}

static uint32_t part_narrow(void) {
  uint32_t h = 0;
  int8_t c = 0;
  uint8_t uc = 0;
  int16_t s = 0;
  uint16_t us = 0;
  for (int i = 0; i < 2000; i++) {
    uint32_t r = rng();
    c = (int8_t)(c + (int8_t)r);
    uc = (uint8_t)(uc * 7 + (uint8_t)(r >> 8));
    s = (int16_t)(s ^ (int16_t)(r >> 3));
    us = (uint16_t)(us + (uint16_t)(r >> 16) * 3);
    h = mix(h, (uint32_t)(int32_t)c);
    h = mix(h, uc);
    h = mix(h, (uint32_t)(int32_t)s);
    h = mix(h, us);
    h = mix(h, (uint32_t)(c < (int8_t)uc));
    h = mix(h, (uint32_t)(int32_t)(int16_t)(s * 3 / 5));
    h = mix(h, (uint32_t)(int32_t)(c >> 2));
    h = mix(h, (uint32_t)(uc / 3 + us % 11));
  }
  return h;
}

static uint8_t sieve[30000];

static uint32_t part_sieve(void) {
  uint32_t n = 30000 - (seed_source & 1); /* 29999 */
  memset(sieve, 1, sizeof sieve);
  sieve[0] = sieve[1] = 0;
  for (uint32_t i = 2; i * i < n; i++)
    if (sieve[i])
      for (uint32_t j = i * i; j < n; j += i) sieve[j] = 0;
  uint32_t count = 0, sum = 0, last = 0;
  for (uint32_t i = 0; i < n; i++)
    if (sieve[i]) count++, sum += i, last = i;
  return mix(mix(count, sum), last);
}

static uint32_t f_add(uint32_t a, uint32_t b) { return a + b; }
static uint32_t f_sub(uint32_t a, uint32_t b) { return a - b; }
static uint32_t f_mul(uint32_t a, uint32_t b) { return a * b; }
static uint32_t f_xor(uint32_t a, uint32_t b) { return a ^ b; }
static uint32_t f_rot(uint32_t a, uint32_t b) { return rotl32(a, b); }
static uint32_t (*const fns[])(uint32_t, uint32_t) = {f_add, f_sub, f_mul, f_xor, f_rot};

static uint32_t part_funcptr(void) {
  uint32_t acc = 1;
  for (int i = 0; i < 5000; i++) {
    uint32_t r = rng();
    acc = fns[r % 5](acc, r >> 3);
  }
  return acc;
}

static int32_t mat_a[16][16], mat_b[16][16], mat_c[16][16];

static uint32_t part_matrix(void) {
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) {
      mat_a[i][j] = (int32_t)(rng() % 2001) - 1000;
      mat_b[i][j] = (int32_t)(rng() % 2001) - 1000;
    }
  for (int rep = 0; rep < 4; rep++) {
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 16; j++) {
        int32_t sum = 0;
        for (int k = 0; k < 16; k++) sum += mat_a[i][k] * mat_b[k][j];
        mat_c[i][j] = sum;
      }
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 16; j++) mat_a[i][j] = mat_c[i][j] % 1009;
  }
  uint32_t h = 0;
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) h = mix(h, (uint32_t)mat_c[i][j]);
  return h;
}

struct rec {
  uint32_t kind : 3;
  uint32_t len : 11;
  int32_t delta : 10;
  uint32_t flag : 1;
  uint16_t tag;
  uint8_t bytes[5];
};

static struct rec recs[64];

static uint32_t part_struct(void) {
  uint32_t h = 0;
  for (int i = 0; i < 64; i++) {
    uint32_t r = rng();
    recs[i].kind = r;
    recs[i].len = r >> 3;
    recs[i].delta = (int32_t)(r >> 14) % 512;
    recs[i].flag = r >> 31;
    recs[i].tag = (uint16_t)(r * 31);
    for (int k = 0; k < 5; k++) recs[i].bytes[k] = (uint8_t)(r >> (k * 5));
  }
  for (int pass = 0; pass < 20; pass++)
    for (int i = 0; i < 64; i++) {
      struct rec t = recs[(i * 7 + pass) & 63]; /* struct copy */
      t.len += t.kind;
      t.delta = -t.delta;
      t.flag ^= 1;
      recs[i] = t;
    }
  for (int i = 0; i < 64; i++) {
    h = mix(h, recs[i].kind | recs[i].len << 3 | (uint32_t)recs[i].flag << 31);
    h = mix(h, (uint32_t)recs[i].delta);
    h = mix(h, recs[i].tag);
    for (int k = 0; k < 5; k++) h = mix(h, recs[i].bytes[k]);
  }
  return h;
}

/* Branchy min/max/abs/saturation (cmov and setcc at -O2 -march=i686) */
static uint32_t part_flags(void) {
  uint32_t h = 0;
  int32_t lo = INT32_MAX, hi = INT32_MIN;
  for (int i = 0; i < 4000; i++) {
    int32_t v = (int32_t)rng();
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    int32_t a = v < 0 ? (v == INT32_MIN ? INT32_MAX : -v) : v;
    int32_t sat = v > 100000 ? 100000 : v < -100000 ? -100000 : v;
    uint32_t u = (uint32_t)v;
    uint32_t usum = u + 0x80000000u;
    uint32_t carry = usum < u;
    h = mix(h, (uint32_t)a ^ (uint32_t)sat);
    h = mix(h, carry + (uint32_t)(v == 0) * 2 + (uint32_t)((v & 0xFF) > 0x7F) * 4);
  }
  return mix(mix(h, (uint32_t)lo), (uint32_t)hi);
}

typedef uint32_t (*part_fn)(void);
static const part_fn part_fns[CHECKSUM_PARTS] = {
    part_arith32, part_arith64, part_bits,   part_sort,    part_crc32,  part_strings, part_interp,
    part_recursion, part_narrow, part_sieve, part_funcptr, part_matrix, part_struct, part_flags};

uint32_t checksum_run(uint32_t parts[CHECKSUM_PARTS]) {
  uint32_t h = 0;
  for (int i = 0; i < CHECKSUM_PARTS; i++) {
    rng_state = seed_source + (uint32_t)i * 0x1000193u;
    parts[i] = part_fns[i]();
    h = mix(h, parts[i]);
  }
  return h;
}
