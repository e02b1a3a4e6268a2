/* native_runner64: executes oracle test cases on the host CPU in a 64-bit process, for hosts
 * that run 64-bit user code only (no compatibility mode, no i386 execve).
 *
 * Reads struct OracleCase64 records from stdin until EOF and writes one struct OracleResult per
 * case to stdout. Each record carries the case's code already translated by oracle_main into
 * equivalent 64-bit-mode code (32-bit operand size, 0x67 on memory accesses; see long_mode.h).
 * The code runs at ORACLE_CODE_ADDR, the data buffer lives at ORACLE_DATA_ADDR and the stack at
 * ORACLE_STACK64_TOP, all below 4 GiB, so 32-bit addresses reach the same bytes as in softcpu's
 * guest RAM.
 *
 * The trampoline saves the host state, loads the case's x87 state (FRSTOR of the 108-byte
 * 32-bit-format image: without REX.W, 64-bit code uses that format too), RAX..RDI (the 32-bit
 * values, zero-extended) and RFLAGS (POPFQ), switches to the low stack and jumps to the code,
 * which ends with `jmp qword [rip]` back to oracle_case_return; that captures the x87 state
 * (FNSAVE), the registers and RFLAGS. Faults arrive as signals; the handler takes the state
 * from the ucontext (the x87 part converted from the frame's FXSAVE format) and siglongjmps. */
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

#ifndef __x86_64__
#error "native_runner64 is a 64-bit x86-64 program"
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define ORACLE_STACK64_BASE 0x00380000u
#define ORACLE_STACK64_SIZE 0x4000u

/* In: RAX RCX RDX RBX RBP RSI RDI RFLAGS (POP order). Out: RAX RCX RDX RBX RSP RBP RSI RDI
 * RFLAGS (ModRM order). */
uint64_t oracle_in_state[8] __attribute__((used));
uint64_t oracle_out_state[9] __attribute__((used));
uint64_t oracle_host_rsp __attribute__((used));
uint64_t oracle_code_ptr __attribute__((used)) = ORACLE_CODE_ADDR;
uint64_t oracle_guest_rsp __attribute__((used)) = ORACLE_STACK64_BASE + ORACLE_STACK64_SIZE;
uint8_t oracle_fpu_in[ORACLE_FPU_SIZE] __attribute__((used, aligned(16)));
uint8_t oracle_fpu_out[ORACLE_FPU_SIZE] __attribute__((used, aligned(16)));

void oracle_run_case(void);
void oracle_case_return(void);

__asm__(
    ".text\n"
    ".globl oracle_run_case\n"
    "oracle_run_case:\n"
    "  pushq %rbx\n"
    "  pushq %rbp\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  pushfq\n"
    "  movq %rsp, oracle_host_rsp(%rip)\n"
    "  frstor oracle_fpu_in(%rip)\n"            /* the case's x87 state */
    "  leaq oracle_in_state(%rip), %rsp\n"
    "  popq %rax\n"
    "  popq %rcx\n"
    "  popq %rdx\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  popq %rsi\n"
    "  popq %rdi\n"
    "  popfq\n"
    "  movq oracle_guest_rsp(%rip), %rsp\n"     /* MOV does not touch flags */
    "  jmpq *oracle_code_ptr(%rip)\n"
    ".globl oracle_case_return\n"
    "oracle_case_return:\n"
    "  fnsave oracle_fpu_out(%rip)\n"           /* no wait, no flags touched; reinitializes */
    "  movq %rax, oracle_out_state+0(%rip)\n"
    "  movq %rcx, oracle_out_state+8(%rip)\n"
    "  movq %rdx, oracle_out_state+16(%rip)\n"
    "  movq %rbx, oracle_out_state+24(%rip)\n"
    "  movq %rsp, oracle_out_state+32(%rip)\n"
    "  movq %rbp, oracle_out_state+40(%rip)\n"
    "  movq %rsi, oracle_out_state+48(%rip)\n"
    "  movq %rdi, oracle_out_state+56(%rip)\n"
    "  pushfq\n"                                 /* on the case's stack */
    "  popq oracle_out_state+64(%rip)\n"
    "  movq oracle_host_rsp(%rip), %rsp\n"
    "  popfq\n"                                  /* DF and the rest as before */
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbp\n"
    "  popq %rbx\n"
    "  ret\n");

static sigjmp_buf fault_env;
static volatile int fault_vector;
static volatile uint32_t fault_eip;
static uint8_t altstack[65536];

/* The 108-byte FNSAVE image (32-bit protected-mode format) of an FXSAVE image: what FNSAVE
 * would store. FXSAVE keeps one tag bit per physical register (1 = not empty); FNSAVE's two
 * bits per register are derived from the register's contents (SDM vol.1 8.1.7, "x87 FPU Tag
 * Word"): 00 valid, 01 zero, 10 special (NaN, infinity, denormal, unnormal), 11 empty. */
static void fxsave_to_fnsave(const uint8_t* fx, uint8_t* img) {
  uint16_t fcw, fsw, fop;
  uint8_t ftw;
  uint64_t fip, fdp;
  memcpy(&fcw, fx + 0, 2);
  memcpy(&fsw, fx + 2, 2);
  ftw = fx[4];
  memcpy(&fop, fx + 6, 2);
  memcpy(&fip, fx + 8, 8);
  memcpy(&fdp, fx + 16, 8);
  const unsigned top = (fsw >> 11) & 7;
  uint32_t tw = 0;
  for (unsigned phys = 0; phys < 8; ++phys) {
    const uint8_t* st = fx + 32 + 16 * ((phys - top) & 7);
    uint64_t m;
    uint16_t e;
    memcpy(&m, st, 8);
    memcpy(&e, st + 8, 2);
    e &= 0x7FFF;
    unsigned tag;
    if (!(ftw >> phys & 1)) tag = 3;
    else if (e == 0x7FFF) tag = 2;
    else if (e == 0) tag = m == 0 ? 1 : 2;
    else tag = m >> 63 ? 0 : 2;
    tw |= tag << (2 * phys);
  }
  const uint32_t w[7] = {0xFFFF0000u | fcw,
                         0xFFFF0000u | fsw,
                         0xFFFF0000u | tw,
                         (uint32_t)fip,
                         (uint32_t)(fop & 0x7FF) << 16,
                         (uint32_t)fdp,
                         0xFFFF0000u};
  memcpy(img, w, sizeof w);
  for (unsigned i = 0; i < 8; ++i) memcpy(img + 28 + 10 * i, fx + 32 + 16 * i, 10);
}

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
  oracle_out_state[0] = (uint64_t)g[REG_RAX];
  oracle_out_state[1] = (uint64_t)g[REG_RCX];
  oracle_out_state[2] = (uint64_t)g[REG_RDX];
  oracle_out_state[3] = (uint64_t)g[REG_RBX];
  oracle_out_state[4] = (uint64_t)g[REG_RSP];
  oracle_out_state[5] = (uint64_t)g[REG_RBP];
  oracle_out_state[6] = (uint64_t)g[REG_RSI];
  oracle_out_state[7] = (uint64_t)g[REG_RDI];
  oracle_out_state[8] = (uint64_t)g[REG_EFL];
  /* The x87 state at the fault: the signal frame's FXSAVE-format area. */
  if (uc->uc_mcontext.fpregs) fxsave_to_fnsave((const uint8_t*)uc->uc_mcontext.fpregs, oracle_fpu_out);
  else memset(oracle_fpu_out, 0, ORACLE_FPU_SIZE);
  fault_vector = v;
  fault_eip = (uint32_t)g[REG_RIP];
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

static int read_case(struct OracleCase64* c) {
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

static void* map_fixed(uint32_t addr, uint32_t size, int prot) {
  void* p = mmap((void*)(uintptr_t)addr, size, prot,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || p != (void*)(uintptr_t)addr) {
    fprintf(stderr, "native_runner64: cannot map 0x%08x\n", addr);
    exit(2);
  }
  return p;
}

int main(void) {
  uint8_t* code = map_fixed(ORACLE_CODE_ADDR, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
  uint8_t* data = map_fixed(ORACLE_DATA_ADDR, 4096, PROT_READ | PROT_WRITE);
  map_fixed(ORACLE_STACK64_BASE, ORACLE_STACK64_SIZE, PROT_READ | PROT_WRITE);
  const uint64_t ret = (uint64_t)(uintptr_t)&oracle_case_return;

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

  /* oracle_in_state slot of each case register (ModRM order); ESP (4) is not loaded. */
  static const int slot[8] = {0, 1, 2, 3, -1, 4, 5, 6};
  static struct OracleCase64 c;
  while (read_case(&c)) {
    struct OracleResult r;
    memset(&r, 0, sizeof r);
    uint32_t n = c.code64_len;
    if (n > ORACLE_CODE64_MAX) n = ORACLE_CODE64_MAX;
    memset(code, 0xCC, ORACLE_CODE64_MAX + 16);
    memcpy(code, c.code64, n);
    /* jmp qword [rip+0]; dq oracle_case_return */
    code[n] = 0xFF;
    code[n + 1] = 0x25;
    memset(code + n + 2, 0, 4);
    memcpy(code + n + 6, &ret, 8);
    memset(data, 0, 4096);
    memcpy(data, c.c.mem, ORACLE_MEM_SIZE);
    for (int i = 0; i < 8; ++i)
      if (slot[i] >= 0) oracle_in_state[slot[i]] = c.c.regs[i];
    /* Only arithmetic flags and DF: AC would make unaligned accesses fault, TF would trap. */
    oracle_in_state[7] = (c.c.eflags & 0xCD5u) | 0x202u;
    memcpy(oracle_fpu_in, c.c.fpu, ORACLE_FPU_SIZE);
    fault_vector = -1;
    fault_eip = 0;
    if (sigsetjmp(fault_env, 1) == 0) oracle_run_case();
    for (int i = 0; i < 8; ++i) r.regs[i] = (uint32_t)oracle_out_state[i];
    r.eflags = (uint32_t)oracle_out_state[8];
    memcpy(r.mem, data, ORACLE_MEM_SIZE);
    r.vector = fault_vector;
    r.fault_eip = fault_eip;
    memcpy(r.fpu, oracle_fpu_out, ORACLE_FPU_SIZE);
    if (!write_result(&r)) return 1;
  }
  return flush_out() ? 0 : 1;
}
