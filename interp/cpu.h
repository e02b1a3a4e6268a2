// The guest CPU state: plain data with a fixed layout (the JIT will address its fields).
#pragma once
#include <cstddef>
#include <cstdint>

namespace softcpu {

class PhysicalMemory;
class BlockCache;

// General register numbers as encoded in ModRM (SDM vol.2 2.1.5). REG_NONE indexes a slot
// that always holds zero, so an effective address needs no "is there a base?" branch.
enum Reg : uint8_t { EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, REG_NONE };
enum SegReg : uint8_t { ES, CS, SS, DS, FS, GS, SEG_NONE };

// EFLAGS bits (SDM vol.1 3.4.3).
enum : uint32_t {
  CF = 1u << 0, PF = 1u << 2, AF = 1u << 4, ZF = 1u << 6, SF = 1u << 7, TF = 1u << 8,
  IF = 1u << 9, DF = 1u << 10, OF = 1u << 11, IOPL = 3u << 12, NT = 1u << 14, RF = 1u << 16,
  VM = 1u << 17, AC = 1u << 18, VIF = 1u << 19, VIP = 1u << 20, ID = 1u << 21,
  ARITH_FLAGS = CF | PF | AF | ZF | SF | OF,
};

// Hidden part of a segment register (SDM vol.3 3.4.3). `attrs` holds descriptor bits 40..55
// with the limit nibble cleared: type(0-3) S(4) DPL(5-6) P(7) AVL(12) L(13) D/B(14) G(15).
// [rd_lo, rd_hi] and [wr_lo, wr_hi] are the offsets a read or write may touch; they fold in
// limit, expand-down and read/write rights, so an access check is two compares.
struct SegmentCache {
  uint32_t base;
  uint32_t limit;  // byte-granular
  uint32_t rd_lo, rd_hi;
  uint32_t wr_lo, wr_hi;
  uint16_t selector;
  uint16_t attrs;
  uint8_t valid;  // 0: null selector loaded in protected mode
};

enum SegAttr : uint16_t {
  SA_ACCESSED = 1, SA_WRITABLE = 2, SA_EXPAND_DOWN = 4, SA_CODE = 8, SA_S = 0x10,
  SA_DPL_SHIFT = 5, SA_P = 0x80, SA_AVL = 0x1000, SA_L = 0x2000, SA_DB = 0x4000,
  SA_G = 0x8000,
};

struct DescriptorTable {
  uint32_t base;
  uint16_t limit;
};

// Kinds of lazily evaluated arithmetic flags. The last flag-producing operation is kept as
// (kind, size, src1, src2, result) and CF/PF/AF/ZF/SF/OF are computed when read.
enum LazyKind : uint8_t {
  LZ_NONE,   // arithmetic flags are up to date in eflags
  LZ_ADD,    // res = src1 + src2
  LZ_ADC,    // res = src1 + src2 + cf_in
  LZ_SUB,    // res = src1 - src2 (also CMP, NEG with src1 = 0)
  LZ_SBB,    // res = src1 - src2 - cf_in
  LZ_LOGIC,  // AND/OR/XOR/TEST: CF=OF=0, AF=0
  LZ_INC,    // res = src1 + 1, CF = cf_in
  LZ_DEC,    // res = src1 - 1, CF = cf_in
};

// Why the interpreter returned to the monitor.
enum ExitReason : uint8_t {
  EXIT_NONE,
  EXIT_BUDGET,        // instruction budget used up
  EXIT_IO,            // IN/OUT/INS/OUTS waits in cpu.trap_insn
  EXIT_CPUID,
  EXIT_RDTSC,
  EXIT_MSR,
  EXIT_HLT,
  EXIT_TRIPLE_FAULT,
  EXIT_REQUEST,       // asked from outside (timeout, debugger)
  EXIT_COUNT
};

struct Insn;

struct SoftTlbEntry {
  uint32_t tag;        // linear page address; an unaligned value never matches
  uintptr_t addend;    // host address = addend + linear address
};

constexpr unsigned TLB_SIZE = 256;

struct SoftTlb {
  SoftTlbEntry read[TLB_SIZE];
  SoftTlbEntry write[TLB_SIZE];
  SoftTlbEntry fetch[TLB_SIZE];
};

struct Cpu {
  uint32_t regs[9];  // EAX..EDI, then a zero slot (REG_NONE)
  uint32_t eip;
  uint32_t eflags;  // arithmetic bits valid only when lz_kind == LZ_NONE

  uint32_t lz_src1, lz_src2, lz_res;
  uint8_t lz_kind, lz_size, lz_cf_in;  // lz_size in bytes: 1, 2 or 4

  uint8_t cpl;
  uint8_t a20_enabled;
  uint8_t stop;          // leave the current block after this instruction
  uint8_t exit_reason;   // ExitReason
  uint8_t halted;

  SegmentCache seg[6];
  SegmentCache ldtr, tr;
  DescriptorTable gdtr, idtr;
  uint32_t cr0, cr2, cr3, cr4;
  uint32_t dr[8];
  uint64_t tsc;
  uint64_t icount;       // instructions retired
  uint32_t mode_key;     // decoded-block cache key bits; see interp/mode.h

  const Insn* trap_insn;  // instruction that exited to the monitor (EXIT_IO etc.)
  uint32_t fault_depth;   // nested exception delivery (double/triple fault)

  PhysicalMemory* mem;
  BlockCache* cache;
  SoftTlb tlb;
};

// CR0 bits (SDM vol.3 2.5).
enum : uint32_t {
  CR0_PE = 1u << 0, CR0_MP = 1u << 1, CR0_EM = 1u << 2, CR0_TS = 1u << 3, CR0_ET = 1u << 4,
  CR0_NE = 1u << 5, CR0_WP = 1u << 16, CR0_AM = 1u << 18, CR0_NW = 1u << 29,
  CR0_CD = 1u << 30, CR0_PG = 1u << 31,
};

}  // namespace softcpu
