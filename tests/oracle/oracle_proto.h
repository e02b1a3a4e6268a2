/* Wire format between oracle_main (host C++) and its native runners: native_runner (gcc -m32,
 * C) reads struct OracleCase records, native_runner64 (64-bit, C) struct OracleCase64 records;
 * both answer with one struct OracleResult per record. Plain fixed-size little-endian records;
 * all sides include this header. */
#ifndef SOFTCPU_ORACLE_PROTO_H
#define SOFTCPU_ORACLE_PROTO_H
#include <stdint.h>

/* Guest/native addresses: identical in the native process and in softcpu's RAM (< 4 MiB). */
#define ORACLE_CODE_ADDR 0x00300000u
#define ORACLE_DATA_ADDR 0x00340000u
#define ORACLE_MEM_SIZE 64u
#define ORACLE_CODE_MAX 24u
#define ORACLE_FPU_SIZE 108u /* FNSAVE/FRSTOR image, 32-bit protected-mode format */

/* Register order: EAX ECX EDX EBX ESP EBP ESI EDI (ModRM numbering). ESP is ignored. */
struct OracleCase {
  uint8_t code[ORACLE_CODE_MAX];
  uint32_t code_len;
  uint32_t regs[8];
  uint32_t eflags; /* only CF PF AF ZF SF OF DF are taken */
  uint8_t mem[ORACLE_MEM_SIZE];
  uint8_t fpu[ORACLE_FPU_SIZE]; /* x87 state loaded with FRSTOR before the code */
};

struct OracleResult {
  uint32_t regs[8];
  uint32_t eflags;
  uint8_t mem[ORACLE_MEM_SIZE];
  int32_t vector;    /* -1: ran to the end; else the exception vector (#DE = 0, #UD = 6 ...) */
  uint32_t fault_eip; /* EIP of the faulting instruction when vector >= 0 */
  uint8_t fpu[ORACLE_FPU_SIZE]; /* x87 state after the code (FNSAVE) or at the fault */
};

/* native_runner64's input: the case with its code translated to equivalent 64-bit-mode code
 * (tests/oracle/long_mode.h). c.code is the original 32-bit code and is not executed. The
 * result's fault_eip is the translated code's (the low 32 bits of RIP); oracle_main maps it
 * back. */
#define ORACLE_CODE64_MAX 96u
struct OracleCase64 {
  struct OracleCase c;
  uint8_t code64[ORACLE_CODE64_MAX];
  uint32_t code64_len;
};

/* oracle_main only (never on the wire): OracleResult.vector of a case the runner did not run. */
#define ORACLE_VECTOR_NOT_RUN (-2)

#endif
