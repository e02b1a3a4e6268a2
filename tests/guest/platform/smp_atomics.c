/* Two CPUs (-smp 2; with --accel tcg,thread=multi on two host threads) hammer shared memory
   with the locked instructions Linux uses (SDM vol.3 8.1.2.2: LOCK ADD/XADD/BTC/INC, XCHG
   with memory, which locks without the prefix, and CMPXCHG8B), each kind on its own data,
   and every total must come out exact. A counter that crosses a page boundary takes the
   emulator's "exclusive" path (all other CPUs paused) rather than a host atomic. */
#include "smp_boot.h"

#define ITERATIONS 300000u
#define STRADDLE_EVERY 16u /* the page-crossing counter: every 16th iteration */

static volatile uint32_t xadd_counter, xadd_sum[2];
static volatile uint32_t spinlock, locked_counter;
static volatile uint32_t locked_hi; /* a 64-bit count under the XCHG lock: lo in locked_counter */
static volatile uint64_t wide __attribute__((aligned(8)));
static volatile uint32_t bits_word; /* bit 0: CPU 0 toggles, bit 1: CPU 1; bits 16-31: LOCK ADD */
static volatile uint16_t inc16;
static volatile uint32_t go, done[2];
static uint32_t ap_stack[1024];
/* 4 bytes across a page boundary: 0x...FFE .. 0x...1001. */
static uint8_t straddle_page[8192] __attribute__((aligned(4096)));
#define STRADDLE ((volatile uint32_t*)(straddle_page + 4096 - 2))

static uint32_t xadd(volatile uint32_t* p, uint32_t v) {
  __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory", "cc");
  return v;
}

static void spin_lock(void) {
  for (;;) {
    uint32_t v = 1;
    __asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(spinlock) : : "memory");
    if (v == 0) return;
    while (spinlock) __asm__ volatile("pause");
  }
}
static void spin_unlock(void) { __asm__ volatile("movl $0, %0" : "=m"(spinlock) : : "memory"); }

static void add_wide(void) {
  uint32_t lo = (uint32_t)wide, hi = (uint32_t)(wide >> 32);
  for (;;) {
    uint32_t nlo = lo + 1, nhi = hi + (nlo == 0);
    uint8_t ok;
    __asm__ volatile("lock cmpxchg8b %1; sete %0"
                     : "=q"(ok), "+m"(wide), "+a"(lo), "+d"(hi)
                     : "b"(nlo), "c"(nhi)
                     : "memory", "cc");
    if (ok) return;
  }
}

static void hammer(unsigned cpu) {
  uint32_t bit = cpu;
  for (uint32_t k = 0; k < ITERATIONS; ++k) {
    xadd_sum[cpu] += xadd(&xadd_counter, 1); /* each value handed out once: the sums add up */
    spin_lock();
    uint32_t lo = locked_counter; /* plain accesses inside the lock */
    locked_counter = lo + 1;
    if (lo + 1 == 0) locked_hi++;
    spin_unlock();
    add_wide();
    __asm__ volatile("lock btcl %1, %0" : "+m"(bits_word) : "r"(bit) : "memory", "cc");
    __asm__ volatile("lock addl %1, %0" : "+m"(bits_word) : "ri"(1u << 16) : "memory", "cc");
    __asm__ volatile("lock incw %0" : "+m"(inc16) : : "memory", "cc");
    if (k % STRADDLE_EVERY == 0)
      __asm__ volatile("lock addl $1, %0" : "+m"(*STRADDLE) : : "memory", "cc");
  }
  done[cpu] = 1;
}

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  while (!go) __asm__ volatile("pause");
  hammer(1);
  for (;;) __asm__ volatile("cli; hlt");
}

static void wait_done(void) {
  if (smp_wait_flag(&done[1], 1, 120000000000ull) >= 1) return;  /* 120 s of guest time */
  check_eq("AP finished", 1, done[1], 2);
}

int main(void) {
  pic_init(0xFF, 0xFF);
  lapic_write(LAPIC_SVR, 0x1FF);
  const uint64_t wide_start = 0xFFFFFFFFull - ITERATIONS / 2; /* the sum carries into bit 32 */
  wide = wide_start;
  locked_counter = 0xFFFFFFFFu - ITERATIONS / 3;
  start_ap(ap_main, &ap_stack[1024]);
  go = 1;
  hammer(0);
  wait_done();
  const uint32_t total = 2 * ITERATIONS;
  gprintf("xadd %u, locked %u:%u, wide %08x%08x, bits %08x, inc16 %u, straddle %u\n",
          xadd_counter, locked_hi, locked_counter, (uint32_t)(wide >> 32), (uint32_t)wide,
          bits_word, inc16, *STRADDLE);
  check_eq("LOCK XADD total", total, xadd_counter, 3);
  /* Every value 0..total-1 was handed out exactly once. */
  check_eq("LOCK XADD returned values", (uint32_t)((uint64_t)total * (total - 1) / 2),
           xadd_sum[0] + xadd_sum[1], 4);
  check_eq("XCHG spinlock: counter (low)", 0xFFFFFFFFu - ITERATIONS / 3 + total, locked_counter, 5);
  check_eq("XCHG spinlock: counter (carry)", 1, locked_hi, 6);
  const uint64_t wide_end = wide_start + total;
  check_eq("CMPXCHG8B: low dword", (uint32_t)wide_end, (uint32_t)wide, 7);
  check_eq("CMPXCHG8B: high dword", (uint32_t)(wide_end >> 32), (uint32_t)(wide >> 32), 8);
  /* ITERATIONS is even: each CPU's bit toggled back to 0; the ADDs count in bits 16-31. */
  check_eq("LOCK BTC and LOCK ADD on one dword", (total & 0xFFFF) << 16, bits_word, 9);
  check_eq("LOCK INC word", total & 0xFFFF, inc16, 10);
  check_eq("page-crossing LOCK ADD (exclusive path)",
           2 * ((ITERATIONS + STRADDLE_EVERY - 1) / STRADDLE_EVERY), *STRADDLE, 11);
  gputs("smp_atomics: ok\n");
  return 0;
}
