/* native_runner: executes oracle test cases on the host CPU in a 32-bit process.
 *
 * Built with gcc -m32 -fno-pie -no-pie (absolute addresses in the trampoline below).
 * Reads struct OracleCase records from stdin until EOF and writes one struct OracleResult per
 * case to stdout. Code runs at ORACLE_CODE_ADDR, the data buffer lives at ORACLE_DATA_ADDR, so
 * absolute memory operands address the same bytes as in softcpu's guest RAM.
 *
 * The trampoline saves the host state, loads the case's registers (POPAD) and EFLAGS (POPFD),
 * switches to a scratch stack and jumps to the code, which ends with `jmp [oracle_ret_ptr]`
 * back to oracle_case_return; that captures EFLAGS (PUSHFD) and the registers (PUSHAD).
 * Faults arrive as signals; the handler takes the state from the ucontext and siglongjmps out. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "oracle_proto.h"

#ifndef __i386__
#error "native_runner must be built with -m32"
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* PUSHAD/POPAD layout: EDI ESI EBP ESP EBX EDX ECX EAX, then EFLAGS for PUSHFD/POPFD. */
uint32_t oracle_in_state[9] __attribute__((used));
uint32_t oracle_out_state[9] __attribute__((used));
uint32_t oracle_host_esp __attribute__((used));
uint32_t oracle_code_ptr __attribute__((used)) = ORACLE_CODE_ADDR;
uint32_t oracle_ret_ptr __attribute__((used));
uint8_t oracle_guest_stack[16384] __attribute__((used, aligned(16)));
uint8_t oracle_fpu_in[ORACLE_FPU_SIZE] __attribute__((used, aligned(16)));
uint8_t oracle_fpu_out[ORACLE_FPU_SIZE] __attribute__((used, aligned(16)));

void oracle_run_case(void);
void oracle_case_return(void);

__asm__(
    ".text\n"
    ".globl oracle_run_case\n"
    "oracle_run_case:\n"
    "  pushal\n"
    "  pushfl\n"
    "  movl %esp, oracle_host_esp\n"
    "  frstor oracle_fpu_in\n"                 /* the case's x87 state */
    "  movl $oracle_in_state, %esp\n"
    "  popal\n"                                 /* ESP slot is skipped */
    "  popfl\n"
    "  movl $oracle_guest_stack+16384, %esp\n" /* MOV does not touch flags */
    "  jmp *oracle_code_ptr\n"
    ".globl oracle_case_return\n"
    "oracle_case_return:\n"
    "  fnsave oracle_fpu_out\n"               /* no wait, no flags touched; reinitializes */
    "  movl $oracle_out_state+36, %esp\n"
    "  pushfl\n"
    "  pushal\n"
    "  movl oracle_host_esp, %esp\n"
    "  popfl\n"
    "  popal\n"
    "  ret\n");

static sigjmp_buf fault_env;
static volatile int fault_vector;
static volatile uint32_t fault_eip;
static uint8_t altstack[65536];

static void on_fault(int sig, siginfo_t* si, void* ctx) {
  ucontext_t* uc = (ucontext_t*)ctx;
  greg_t* g = uc->uc_mcontext.gregs;
  int v;
  switch (sig) {
    case SIGFPE:  /* #DE (divide error, quotient overflow) or x87 #MF */
      v = si->si_code == FPE_INTDIV || si->si_code == FPE_INTOVF ? 0 : 16;
      break;
    case SIGILL: v = 6; break;
    case SIGTRAP: v = 1; break;
    case SIGBUS: v = 17; break;
    case SIGSEGV: v = si->si_code == SI_KERNEL ? 13 : 14; break;
    default: v = 255; break;
  }
  /* Same layout as PUSHAD so the caller treats both paths alike. */
  oracle_out_state[0] = (uint32_t)g[REG_EDI];
  oracle_out_state[1] = (uint32_t)g[REG_ESI];
  oracle_out_state[2] = (uint32_t)g[REG_EBP];
  oracle_out_state[3] = (uint32_t)g[REG_ESP];
  oracle_out_state[4] = (uint32_t)g[REG_EBX];
  oracle_out_state[5] = (uint32_t)g[REG_EDX];
  oracle_out_state[6] = (uint32_t)g[REG_ECX];
  oracle_out_state[7] = (uint32_t)g[REG_EAX];
  oracle_out_state[8] = (uint32_t)g[REG_EFL];
  /* The x87 state at the fault: the i386 signal frame's FNSAVE-format area. */
  if (uc->uc_mcontext.fpregs) memcpy(oracle_fpu_out, uc->uc_mcontext.fpregs, ORACLE_FPU_SIZE);
  else memset(oracle_fpu_out, 0, ORACLE_FPU_SIZE);
  fault_vector = v;
  fault_eip = (uint32_t)g[REG_EIP];
  siglongjmp(fault_env, 1);
}

/* Buffered pipe I/O that flushes the results before blocking on more input, so a host that
 * writes a batch and then waits for its results never deadlocks. */
static uint8_t out_buf[64 * 1024];
static size_t out_len;
static uint8_t in_buf[64 * 1024];
static size_t in_pos, in_len;

static int flush_out(void) {
  size_t done = 0;
  while (done < out_len) {
    ssize_t w = write(1, out_buf + done, out_len - done);
    if (w <= 0) return 0;
    done += (size_t)w;
  }
  out_len = 0;
  return 1;
}

static int write_result(const struct OracleResult* r) {
  if (out_len + sizeof *r > sizeof out_buf && !flush_out()) return 0;
  memcpy(out_buf + out_len, r, sizeof *r);
  out_len += sizeof *r;
  return 1;
}

static int read_case(struct OracleCase* c) {
  uint8_t* dst = (uint8_t*)c;
  size_t need = sizeof *c;
  while (need) {
    if (in_pos == in_len) {
      if (!flush_out()) return 0;
      ssize_t n = read(0, in_buf, sizeof in_buf);
      if (n <= 0) return 0;
      in_pos = 0;
      in_len = (size_t)n;
    }
    size_t take = in_len - in_pos < need ? in_len - in_pos : need;
    memcpy(dst, in_buf + in_pos, take);
    in_pos += take;
    dst += take;
    need -= take;
  }
  return 1;
}

static void* map_fixed(uint32_t addr, int prot) {
  void* p = mmap((void*)(uintptr_t)addr, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                 -1, 0);
  if (p == MAP_FAILED || p != (void*)(uintptr_t)addr) {
    fprintf(stderr, "native_runner: cannot map 0x%08x\n", addr);
    exit(2);
  }
  return p;
}

int main(void) {
  uint8_t* code = map_fixed(ORACLE_CODE_ADDR, PROT_READ | PROT_WRITE | PROT_EXEC);
  uint8_t* data = map_fixed(ORACLE_DATA_ADDR, PROT_READ | PROT_WRITE);
  oracle_ret_ptr = (uint32_t)(uintptr_t)&oracle_case_return;

  stack_t ss;
  ss.ss_sp = altstack;
  ss.ss_size = sizeof altstack;
  ss.ss_flags = 0;
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGTRAP};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; ++i) sigaction(sigs[i], &sa, NULL);

  static const int map[8] = {7, 6, 5, 4, 3, 2, 1, 0}; /* PUSHAD slot of reg r: 7 - r */
  struct OracleCase c;
  while (read_case(&c)) {
    struct OracleResult r;
    memset(&r, 0, sizeof r);
    if (c.code_len > ORACLE_CODE_MAX) c.code_len = ORACLE_CODE_MAX;
    memcpy(code, c.code, c.code_len);
    /* jmp dword [oracle_ret_ptr] */
    code[c.code_len] = 0xFF;
    code[c.code_len + 1] = 0x25;
    uint32_t rp = (uint32_t)(uintptr_t)&oracle_ret_ptr;
    memcpy(code + c.code_len + 2, &rp, 4);
    memset(data, 0, 4096);
    memcpy(data, c.mem, ORACLE_MEM_SIZE);
    for (int i = 0; i < 8; ++i) oracle_in_state[map[i]] = c.regs[i];
    /* Only arithmetic flags and DF: AC would make unaligned accesses fault, TF would trap. */
    oracle_in_state[8] = (c.eflags & 0xCD5u) | 0x202u;
    memcpy(oracle_fpu_in, c.fpu, ORACLE_FPU_SIZE);
    fault_vector = -1;
    fault_eip = 0;
    if (sigsetjmp(fault_env, 1) == 0) oracle_run_case();
    for (int i = 0; i < 8; ++i) r.regs[i] = oracle_out_state[map[i]];
    r.eflags = oracle_out_state[8];
    memcpy(r.mem, data, ORACLE_MEM_SIZE);
    r.vector = fault_vector;
    r.fault_eip = fault_eip;
    memcpy(r.fpu, oracle_fpu_out, ORACLE_FPU_SIZE);
    if (!write_result(&r)) return 1;
  }
  return flush_out() ? 0 : 1;
}
