// The guest CPU state: plain data with a fixed layout (the JIT will address its fields).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "interp/msr.h"

namespace softcpu {

class PhysicalMemory;
class BlockCache;
class SmpHooks;

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
  // SHL/SAL, SHR, SAR by a count of 1-31: src1 = the operand, src2 = the count, res = the
  // result; CF and OF follow from them (interp/flags.h), AF = 0.
  LZ_SHL,
  LZ_SHR,
  LZ_SAR,
};

// Why the interpreter returned to the monitor.
enum ExitReason : uint8_t {
  EXIT_NONE,
  EXIT_BUDGET,        // instruction budget used up
  EXIT_IO,            // IN/OUT/INS/OUTS waits in cpu.trap_insn
  EXIT_CPUID,
  EXIT_RDTSC,
  EXIT_MSR,
  EXIT_VMCALL,        // VMCALL (a thin guest's hypercall) waits in cpu.trap_insn
  EXIT_HLT,
  EXIT_TRIPLE_FAULT,
  EXIT_REQUEST,       // asked from outside (timeout, debugger)
  EXIT_DEBUG,         // a debugger breakpoint or watchpoint was hit: cpu.debug_hit
  EXIT_COUNT
};

struct Insn;
class InterruptAcknowledge;

// Debugger hits (interp/debug.h). Breakpoints stop before the instruction, watchpoints after.
enum WatchKind : uint8_t { WATCH_WRITE = 1, WATCH_READ = 2, WATCH_ACCESS = 3 };
enum DebugHitKind : uint8_t { HIT_NONE, HIT_BREAKPOINT, HIT_WATCHPOINT };
struct DebugHit {
  DebugHitKind kind;
  WatchKind watch;    // for HIT_WATCHPOINT: the access that hit
  uint32_t address;   // breakpoint address, or the watched address that was accessed
};

// A watched linear range [lo, hi] (interp/debug.cpp): from DR0-DR3 (source 0-3) or from
// the debugger (source DEBUGGER_WATCH).
struct WatchRange {
  uint32_t lo, hi;
  uint8_t kind;    // WatchKind bits
  uint8_t source;
};
constexpr uint8_t DEBUGGER_WATCH = 4;
constexpr unsigned MAX_DEBUG_POINTS = 64;

struct DebugPoints {
  uint32_t bp[MAX_DEBUG_POINTS];              // debugger breakpoints (linear)
  WatchRange wp[MAX_DEBUG_POINTS];            // debugger watchpoints
  WatchRange watch[4 + MAX_DEBUG_POINTS];     // all data watches: DR0-DR3, then wp
  uint8_t nbp, nwp, nwatch;
};

// One x87 data register: 64-bit significand (explicit integer bit) and sign/exponent, the
// layout of the 80-bit extended format (SDM vol.1 4.2.2), padded to 16 bytes.
struct Float80 {
  uint64_t mant;
  uint16_t se;  // bit 15 sign, bits 0-14 biased exponent
  uint16_t pad[3];
};

// x87 FPU state (SDM vol.1 8.1). Registers are physical R0..R7; ST(i) is R[(TOP + i) & 7]
// with TOP in sw bits 11-13. tw holds 2 bits per physical register (00 valid, 01 zero,
// 10 special, 11 empty). fip/fcs/fop and fdp/fds describe the last non-control instruction.
struct FpuState {
  Float80 st[8];
  uint16_t cw, sw, tw;
  uint16_t fop;  // 11 bits: low 3 bits of the ESC opcode, then the ModRM byte
  uint32_t fip, fdp;
  uint16_t fcs, fds;
};

// Tag of an empty soft-TLB entry. A lookup compares `lin & (~0xFFF | (size - 1))` with the tag
// (interp/access.h tlb_hit), so the masked address can have bits 0-1 set (an unaligned access)
// but never bits 2-11: a tag with one of those set matches no access at all. (The value 1 did
// match an odd 2-byte or a 4-byte access at lin % 4 == 1 in linear page 0, and the entry's
// addend of 0 then turned the guest address into a host pointer.)
constexpr uint32_t TLB_INVALID_TAG = 0x800;
static_assert((TLB_INVALID_TAG & 0xFFC) != 0, "an empty TLB tag must have a bit in 2..11");

struct SoftTlbEntry {
  uint32_t tag = TLB_INVALID_TAG;  // linear page address, or TLB_INVALID_TAG
  uint32_t phys = 0;               // physical page address (A20 applied)
  uintptr_t addend = 0;            // host address = addend + linear address
};

constexpr unsigned TLB_SIZE = 1024;

// The slot of linear address `lin` in a table of TLB_SIZE entries (its page number, modulo).
inline constexpr unsigned tlb_index(uint32_t lin) { return (lin >> 12) % TLB_SIZE; }
// The entry of `lin` in `table` (read, write or fetch), which every access computes: through
// the byte offset of the slot, (lin >> 8) & 0x3FF0, two host instructions, where
// table[tlb_index(lin)] is three or four (shift, mask or zero-extend, shift by 4, add).
template <class Entry>
inline Entry& tlb_entry(Entry* table, uint32_t lin) {
  static_assert(sizeof(Entry) == 16 && (TLB_SIZE & (TLB_SIZE - 1)) == 0, "the byte offset below");
  using Byte = std::conditional_t<std::is_const_v<Entry>, const char, char>;
  return *reinterpret_cast<Entry*>(reinterpret_cast<Byte*>(table) +
                                   ((lin >> 8) & ((TLB_SIZE - 1) << 4)));
}

// Per-slot bookkeeping of the soft TLB (slot = table * TLB_SIZE + index; tables in the order
// read, write, fetch). interp/paging.cpp maintains it.
enum : uint8_t {
  TLB_LISTED = 1,      // the slot is in SoftTlb::filled
  TLB_GLOBAL = 2,      // filled from a global translation (CR4.PGE and G): kept over CR3 loads
  TLB_LARGE = 4,       // filled from a 4 MiB page (INVLPG drops the whole 4 MiB)
  TLB_SUP_LISTED = 8,  // the slot is in SoftTlb::sup (may allow what CPL 3 may not)
};

constexpr unsigned TLB_GONE = 4 * TLB_SIZE;

// Direct-mapped per access kind. Entries are shared by all privilege levels: an entry filled
// at CPL 3 was checked for user rights (which imply supervisor rights on a P6); an entry
// filled at CPL 0-2 that a user access may not use is listed in `sup` and set aside before
// code runs at CPL 3 again (Interpreter::lookup); a miss at CPL 0-2 takes it back.
struct SoftTlb {
  SoftTlbEntry read[TLB_SIZE];
  SoftTlbEntry write[TLB_SIZE];
  SoftTlbEntry fetch[TLB_SIZE];
  uint8_t meta[3 * TLB_SIZE];
  uint16_t filled[3 * TLB_SIZE];  // slots that may hold a valid entry, each listed once
  uint16_t sup[3 * TLB_SIZE];     // slots that may hold a supervisor-only entry
  uint16_t nfilled, nsup;
  uint8_t any_large;              // an entry came from a 4 MiB page since the last full flush
  // The supervisor-only entries tlb_drop_supervisor took out before code ran at CPL 3, by
  // slot, with their GLOBAL and LARGE bits: a miss at CPL 0-2 takes its page's entry back from
  // here instead of walking (interp/paging.cpp tlb_fill) while the entry's stash_gen is the
  // current `stash_generation`, which every invalidation moves (so it discards them all).
  uint32_t stash_generation;
  uint32_t stash_gen[3 * TLB_SIZE];
  uint8_t stash_meta[3 * TLB_SIZE];
  SoftTlbEntry stash[3 * TLB_SIZE];
  // For --stats only (tlb.miss.*), touched on the slow paths alone: why pages left the TLB,
  // per table, hashed by page (TLB_GONE entries each, interp/paging.cpp): the page address
  // with its TlbMissCause in the low bits, so a fill can tell what dropped its page.
  uint32_t gone[3 * TLB_GONE];
};

// Why an access missed the soft TLB (its page had no entry), as the fill finds it.
enum TlbMissCause : uint8_t {
  TLB_MISS_COLD,      // no record of the page leaving: never entered, or its record was reused
  TLB_MISS_CONFLICT,  // evicted by another page filling its slot (capacity and conflict)
  TLB_MISS_CR3,       // dropped by a CR3 load or a task switch (not global)
  TLB_MISS_INVLPG,    // dropped by INVLPG
  TLB_MISS_FLUSH,     // a full flush (CR0.PG/WP, CR4.PGE/PSE, A20, watchpoints, reset, ...)
  TLB_MISS_USER,      // a supervisor-only entry dropped before code ran at CPL 3
  TLB_MISS_CODE,      // a write entry dropped because its page began holding decoded code
  TLB_MISS_UNCACHED,  // the page is never entered: MMIO, ROM (writes), code (writes), watched
  TLB_MISS_CAUSES
};
// Soft TLB counters for --stats (slow-path events only: the fast path counts nothing).
struct TlbCounters {
  uint64_t slow_accesses;  // data accesses that missed the TLB or need the slow path
  uint64_t walks;          // page-table walks (paging on)
  uint64_t fills;          // entries filled
  uint64_t flushes;        // full flushes (CR3 loads keep global entries: nonglobal_flushes)
  uint64_t nonglobal_flushes;
  uint64_t invlpg;
  // Slow-path accesses by why they were slow: an access within one page whose page was in the
  // TLB (only its alignment sent it here); an access crossing a page; and fills (a walk, or
  // the identity map with paging off) by table (read, write, fetch) and cause.
  uint64_t unaligned;
  uint64_t page_crossings;
  uint64_t restored;  // misses at CPL 0-2 served by a set-aside supervisor entry
  uint64_t misses[3][TLB_MISS_CAUSES];
};

// Cpu::events, the one Cpu field another thread writes: the --profile sampler
// (monitor/profile.cpp) sets it to ask for a sample. Every access, on either thread, is a relaxed
// atomic byte access (ThreadSanitizer found the sampler's atomic store racing the CPU thread's
// plain ones); on x86 that is the plain load or store it was, so the run loop's test costs the
// same. Plain data still: trivially copyable, zeroed with the Cpu, one byte at its offset.
struct EventFlag {
  uint8_t value;
  operator uint8_t() const {
    return std::atomic_ref<uint8_t>(const_cast<uint8_t&>(value)).load(std::memory_order_relaxed);
  }
  EventFlag& operator=(uint8_t v) {
    std::atomic_ref<uint8_t>(value).store(v, std::memory_order_relaxed);
    return *this;
  }
};
static_assert(sizeof(EventFlag) == 1 && std::is_trivially_copyable_v<EventFlag>);

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
  // Of them, PAUSEs that -smp's smp_pause retired (interp/interpreter.cpp): tier 0's work,
  // which the run loop cannot count (the instruction exits), so the statistics add it.
  uint64_t pauses_retired;
  uint32_t mode_key;     // decoded-block cache key bits; see interp/mode.h

  const Insn* trap_insn;  // instruction that exited to the monitor (EXIT_IO etc.)

  // Compiled code (translator/, interp/jit_abi.h): it returns to the run loop at a block
  // boundary once icount reaches icount_limit; a fault it met waits here for delivery.
  uint64_t icount_limit;
  uint32_t jit_fault_error;
  uint8_t jit_fault_vector;
  uint8_t jit_fault_has_error;
  // The exit slot (NativeLink, interp/block.h) of a region that left through a branch it could
  // not follow; the run loop links it to the block it finds next.
  void* native_link;

  FpuState fpu;
  MsrState msr;
  TlbCounters tlb_counters;

  // Interrupt pins, shadows and debug events (interp/events.h says who sets what).
  EventFlag events;        // nonzero: the run loop looks at the next instruction boundary
  // Set by interrupt controllers: with vCPUs on parallel host threads (interp/smp.h) another
  // thread's, so relaxed atomic bytes like `events` (plain loads and stores on x86).
  EventFlag intr;          // INTR pin level
  EventFlag nmi_pending;   // NMI latched
  uint8_t nmi_blocked;     // an NMI is being handled: no other until the next IRET
  uint8_t shadow;          // SHADOW_*: events inhibited before the next instruction
  uint8_t int_delivered;   // set by every interrupt/exception delivery
  uint8_t exec_bp_active;  // DR7 enables an instruction breakpoint or the debugger has one
  uint8_t ferr;            // FERR#: unmasked x87 exception with CR0.NE = 0 (IRQ13)
  uint8_t cpuid_apic;      // a local APIC exists (CPUID.1:EDX bit 9)
  uint8_t apic_id;         // its initial APIC ID (CPUID.1:EBX[31:24]); 0 = the bootstrap CPU
  uint32_t db_trap;        // DR6 bits of #DB traps raised by the running instruction
  DebugHit debug_pending;  // a debugger watchpoint hit by the running instruction
  DebugHit debug_hit;      // what EXIT_DEBUG stopped at
  DebugPoints dbg;
  InterruptAcknowledge* intc;

  PhysicalMemory* mem;
  BlockCache* cache;
  // -smp N: the next CPU sharing this memory and cache (a ring); null with one CPU. Only the
  // code-page rule uses it: a page that starts holding code loses every CPU's write entries.
  Cpu* smp_next;
  // vCPUs on parallel host threads (interp/smp.h, --accel tcg,thread=multi): the monitor's
  // exclusive sections and cross-CPU code invalidation; null otherwise.
  SmpHooks* smp;

  // Compiled code's jump cache (QEMU's tb_jmp_cache, looked up as lookup_and_goto_ptr does):
  // the run loop records every compiled block it enters, by EIP; a region whose exit slot
  // does not match where a branch went (a RET to one of several call sites) looks here before
  // returning to the run loop. An entry is valid while the cache generation it was made in
  // lasts, for its CS base and mode only (interp/interpreter.cpp fills it, translator/ reads it).
  struct NativeJump {
    uint32_t eip;
    uint32_t cs_base;
    uint32_t mode;
    uint32_t unused;
    uint64_t generation;
    void* fn;  // NativeFn (interp/block.h); null: empty
  };
  static constexpr unsigned NATIVE_JUMPS = 256;
  NativeJump native_jumps[NATIVE_JUMPS];
  // Called at the start of every interrupt or exception delivery when set (--trace-events
  // int): vector, source (IntSource as a number: 0 exception, 1 INT n, 2 external), error code.
  void (*interrupt_trace)(void* ctx, Cpu& c, uint8_t vector, uint8_t source, bool has_error,
                          uint32_t error);
  void* interrupt_trace_ctx;
  SoftTlb tlb;
};

// CR4 virtual-interrupt bits (SDM vol.3 2.5, 20.3, 20.4); the paging ones are in paging.h.
constexpr uint32_t CR4_VME = 1u << 0, CR4_PVI = 1u << 1;

// CR0 bits (SDM vol.3 2.5).
enum : uint32_t {
  CR0_PE = 1u << 0, CR0_MP = 1u << 1, CR0_EM = 1u << 2, CR0_TS = 1u << 3, CR0_ET = 1u << 4,
  CR0_NE = 1u << 5, CR0_WP = 1u << 16, CR0_AM = 1u << 18, CR0_NW = 1u << 29,
  CR0_CD = 1u << 30, CR0_PG = 1u << 31,
};

}  // namespace softcpu
