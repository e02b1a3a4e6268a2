/* Cross-modifying code on two CPUs (-smp 2, paging off): one CPU runs a small function in RAM
   again and again (hot: with the JIT on it runs compiled), the other rewrites an immediate in
   it and then publishes the round; the first, having seen the round, serialises (CPUID) and
   calls the function again, which must compute with the new immediate or a later one, never
   an older one (SDM vol.3 8.1.3, "Handling Self- and Cross-Modifying Code": write the code,
   set a flag; the executing processor waits for the flag, serialises, runs the code). Then the
   roles swap. A call may overlap a rewrite (with threads on, or a slice ending inside it), so
   its loop may add the old immediate in some iterations and the new one in the others, but
   none may add an immediate older than the round it saw before the call: a stale compiled
   region (a write by one CPU that did not retire the code the other runs) returns less, and
   fails check 10 + round (20 + round in the second phase). The immediates grow with the
   round, so "older" is "smaller". */
#include "smp_boot.h"

#define ROUNDS 4u       /* per phase: 3 rewrites, each retiring the function's 2-3 regions,
                           about what a page takes before the JIT stops compiling it (8) */
#define CALLS 1500u     /* per round: enough for the function and the caller to get hot */
#define LOOPS 100u      /* iterations inside the function */
#define IMM_OFFSET 8u   /* of the immediate in the function (4-byte aligned) */

/* mov ecx, LOOPS ; xor eax, eax ; l: add eax, imm32 ; dec ecx ; jnz l ; ret */
static const uint8_t fn_code[] = {0xB9, LOOPS, 0x00, 0x00, 0x00, 0x31, 0xC0, 0x05,
                                  0x00, 0x00, 0x00, 0x00, 0x49, 0x75, 0xF8, 0xC3};
/* A page of code of its own per phase (the JIT counts retirements per page). */
static uint8_t fn_pages[2][4096] __attribute__((aligned(4096)));
static uint8_t* volatile fn_page;

static volatile uint32_t round_no, calls, phase, ap_phase_done, bad_round, bad_value;
static uint32_t ap_stack[1024];

static uint32_t value_of(uint32_t round) { return round * 3u + 1u; }

static void serialize(void) {
  uint32_t a = 0, b, c = 0, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");
}

/* Calls the function until the patcher publishes ROUNDS: each result must come from
   immediates no older than the round seen before the call (at least LOOPS times its value),
   and no newer than the last (at most LOOPS times that). */
static void execute(void) {
  uint32_t (*fn)(void) = (uint32_t (*)(void))(uintptr_t)fn_page;
  for (;;) {
    const uint32_t before = round_no;
    if (before == ROUNDS) return;
    serialize();
    const uint32_t v = fn();
    const uint32_t ok = v >= LOOPS * value_of(before) && v <= LOOPS * value_of(ROUNDS - 1) &&
                        (v - LOOPS * value_of(before)) % 3u == 0; /* value_of steps by 3 */
    if (!ok && !bad_value) {
      bad_round = before;
      bad_value = v;
    }
    calls = calls + 1;
  }
}

/* Rewrites the immediate for rounds 1..ROUNDS-1 once the executor has called the function
   CALLS times in the current round, then publishes ROUNDS to end the phase. */
static void patch(void) {
  for (uint32_t r = 1; r <= ROUNDS; ++r) {
    const uint32_t target = calls + CALLS;
    while (calls < target && !bad_value) __asm__ volatile("pause");
    if (r < ROUNDS) *(volatile uint32_t*)(fn_page + IMM_OFFSET) = value_of(r);
    round_no = r; /* after the code: the executor that sees r runs the new immediate */
  }
}

static void start_phase(unsigned k) {
  fn_page = fn_pages[k];
  memcpy(fn_page, fn_code, sizeof fn_code);
  *(volatile uint32_t*)(fn_page + IMM_OFFSET) = value_of(0);
  __asm__ volatile("" ::: "memory"); /* the code is written before the phase starts */
  calls = 0;
  round_no = 0;
}

__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  while (phase != 1) __asm__ volatile("pause");
  execute(); /* phase 1: the AP runs, the BSP writes */
  ap_phase_done = 1;
  while (phase != 2) __asm__ volatile("pause");
  patch(); /* phase 2: the BSP runs, the AP writes */
  ap_phase_done = 2;
  for (;;) __asm__ volatile("cli; hlt");
}

/* Phase k (1 or 2) on the BSP: its role while the AP takes the other, then the AP's result. */
static void bsp_phase(uint32_t k, void (*role)(void), const char* what) {
  start_phase(k - 1);
  phase = k;
  role();
  while (ap_phase_done != k) __asm__ volatile("pause");
  check_eq(what, 0, bad_value, 10 * k + bad_round);
  gprintf("phase %u: %u calls in the last round\n", k, calls);
}

int main(void) {
  smp_start(ap_main, &ap_stack[1024]);
  bsp_phase(1, patch, "phase 1 (the AP runs what the BSP writes): a stale result in round");
  bsp_phase(2, execute, "phase 2 (the BSP runs what the AP writes): a stale result in round");
  gputs("smp_smc: ok\n");
  return 0;
}
