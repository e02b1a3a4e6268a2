// Atomic locked instructions when vCPUs run on parallel host threads (docs/design.md "SMP vCPUs
// on host threads"). SDM vol.3 8.1.2: a LOCK-prefixed read-modify-write, XCHG with memory and
// CMPXCHG8B are atomic against every other processor's accesses.
//
// The instruction's own handler computes the result: it runs against a per-CPU scratch copy of
// the operand (both soft-TLB entries of the operand's page point at the scratch page for that
// moment), and the result is published with one host compare-and-swap on the guest RAM bytes;
// if another CPU changed them meanwhile, the registers and flags are put back and it runs again.
// An operand that is not plain RAM reachable through the write TLB (MMIO, a page holding code,
// a page-crossing or misaligned operand, one whose translation faults) runs in an exclusive
// section instead: every other vCPU is out of guest code while the handler runs as usual.
#include <cstring>
#include <mutex>

#include "interp/access.h"
#include "interp/decode.h"
#include "interp/insn.h"
#include "interp/smp.h"
#include "interp/tlb.h"

namespace softcpu {

namespace {

enum AtomicKind : uint8_t { K_PLAIN, K_CMPXCHG8B, K_BT_REG };

// The original handlers, indexed by Insn::imm2 of the wrapped instruction (no lockable
// instruction uses imm2). Appended under a mutex, read without one: an entry never changes
// once the count that publishes it is stored.
struct Wrapped {
  Handler fn;
  uint8_t kind;
};
constexpr unsigned kMaxWrapped = 4096;
Wrapped g_wrapped[kMaxWrapped];
std::atomic<unsigned> g_wrapped_count{0};
std::mutex g_wrapped_mu;

int register_wrapped(Handler fn, uint8_t kind) {
  const unsigned n = g_wrapped_count.load(std::memory_order_acquire);
  for (unsigned k = 0; k < n; ++k)
    if (g_wrapped[k].fn == fn && g_wrapped[k].kind == kind) return int(k);
  std::lock_guard lock(g_wrapped_mu);
  const unsigned m = g_wrapped_count.load(std::memory_order_relaxed);
  for (unsigned k = n; k < m; ++k)
    if (g_wrapped[k].fn == fn && g_wrapped[k].kind == kind) return int(k);
  if (m == kMaxWrapped) return -1;
  g_wrapped[m] = {fn, kind};
  g_wrapped_count.store(m + 1, std::memory_order_release);
  return int(m);
}

uint64_t load_atomic(uintptr_t p, unsigned size) {
  switch (size) {
    case 1: return __atomic_load_n(reinterpret_cast<uint8_t*>(p), __ATOMIC_SEQ_CST);
    case 2: return __atomic_load_n(reinterpret_cast<uint16_t*>(p), __ATOMIC_SEQ_CST);
    case 4: return __atomic_load_n(reinterpret_cast<uint32_t*>(p), __ATOMIC_SEQ_CST);
    default: return __atomic_load_n(reinterpret_cast<uint64_t*>(p), __ATOMIC_SEQ_CST);
  }
}

template <typename T>
bool cas(uintptr_t p, uint64_t expected, uint64_t desired) {
  T e = T(expected);
  return __atomic_compare_exchange_n(reinterpret_cast<T*>(p), &e, T(desired), false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

bool cas_n(uintptr_t p, unsigned size, uint64_t expected, uint64_t desired) {
  switch (size) {
    case 1: return cas<uint8_t>(p, expected, desired);
    case 2: return cas<uint16_t>(p, expected, desired);
    case 4: return cas<uint32_t>(p, expected, desired);
    default: return cas<uint64_t>(p, expected, desired);
  }
}

// Host address of the operand [lin, lin + size) if it is naturally aligned plain RAM that the
// write TLB maps (so no device, no decoded code, no fault); 0 otherwise.
uintptr_t atomic_host(Cpu& c, uint32_t lin, unsigned size) {
  if (lin % size) return 0;  // aligned, so also within one page
  const SoftTlbEntry& we = tlb_entry(c.tlb.write, lin);
  if (!tlb_hit(we, lin, 1)) {
    if (c.cr0 & CR0_PG) {
      uint32_t phys;
      if (!try_translate(c, lin, ACCESS_WRITE, phys)) return 0;  // the handler raises the #PF
    } else {
      tlb_fill(c, lin, ACCESS_WRITE);
    }
    if (!tlb_hit(we, lin, 1)) return 0;
  }
  return we.addend + lin;
}

// The handler with every other vCPU out of guest code.
void run_exclusive(Cpu& c, const Insn& i, Handler fn) {
  c.smp->start_exclusive();
  try {
    fn(c, i);
  } catch (...) {
    c.smp->end_exclusive();
    throw;
  }
  c.smp->end_exclusive();
}

// What a handler may change besides memory: registers and flags.
struct SavedState {
  uint32_t regs[8];
  uint32_t eflags, lz_src1, lz_src2, lz_res;
  uint8_t lz_kind, lz_size, lz_cf_in;
  explicit SavedState(const Cpu& c)
      : eflags(c.eflags), lz_src1(c.lz_src1), lz_src2(c.lz_src2), lz_res(c.lz_res),
        lz_kind(c.lz_kind), lz_size(c.lz_size), lz_cf_in(c.lz_cf_in) {
    std::memcpy(regs, c.regs, sizeof regs);
  }
  void restore(Cpu& c) const {
    std::memcpy(c.regs, regs, sizeof regs);
    c.eflags = eflags;
    c.lz_src1 = lz_src1;
    c.lz_src2 = lz_src2;
    c.lz_res = lz_res;
    c.lz_kind = lz_kind;
    c.lz_size = lz_size;
    c.lz_cf_in = lz_cf_in;
  }
};

void locked_insn(Cpu& c, const Insn& i) {
  const Wrapped& w = g_wrapped[i.imm2];
  const unsigned opsize = i.opsize;
  uint32_t ea = effective_address(c, i);
  unsigned size = opsize;
  if (w.kind == K_CMPXCHG8B) {
    size = 8;
  } else if (w.kind == K_BT_REG) {  // as bt_mem (interp/sem/bits.h) addresses the operand
    const int32_t soff =
        opsize == 2 ? int32_t(int16_t(get_reg<2>(c, i.reg))) : int32_t(c.regs[i.reg]);
    ea += uint32_t((soff >> (opsize == 2 ? 4 : 5)) * int32_t(opsize));
    if (!i.addr32) ea &= 0xFFFF;
  }
  const SegmentCache& s = c.seg[i.seg];
  uintptr_t host = 0;
  uint32_t lin = 0;
  // A segment fault is the handler's to raise (it checks the same range first).
  if (ea >= s.wr_lo && uint64_t(ea) + size - 1 <= s.wr_hi) {
    lin = s.base + ea;
    host = atomic_host(c, lin, size);
  }
  if (!host) return run_exclusive(c, i, w.fn);

  const unsigned idx = tlb_index(lin);
  SoftTlbEntry& re = c.tlb.read[idx];
  SoftTlbEntry& we = c.tlb.write[idx];
  const SoftTlbEntry saved_r = re, saved_w = we;
  uint8_t* const scratch = c.smp->scratch;
  const uint32_t off = lin & 0xFFF;
  const SavedState saved(c);
  for (;;) {
    const uint64_t old = load_atomic(host, size);
    std::memcpy(scratch + off, &old, size);
    re.tag = we.tag = lin & ~0xFFFu;
    re.addend = we.addend = uintptr_t(scratch) - (lin & ~0xFFFu);
    try {
      w.fn(c, i);
    } catch (...) {
      re = saved_r;
      we = saved_w;
      throw;
    }
    re = saved_r;
    we = saved_w;
    uint64_t result = 0;
    std::memcpy(&result, scratch + off, size);
    if (cas_n(host, size, old, result)) return;
    saved.restore(c);  // another CPU wrote the operand in between: run again on its value
  }
}

// Skip the legacy prefixes (SDM vol.2 2.1.1) to the opcode.
const uint8_t* opcode_of(const uint8_t* b, unsigned len) {
  const uint8_t* end = b + len;
  while (b < end) {
    switch (*b) {
      case 0xF0: case 0xF2: case 0xF3: case 0x2E: case 0x36: case 0x3E: case 0x26:
      case 0x64: case 0x65: case 0x66: case 0x67:
        ++b;
        continue;
      default:
        return b;
    }
  }
  return end;
}

}  // namespace

bool make_atomic(Insn& insn, const uint8_t* bytes, unsigned len) {
  if (!insn.is_mem || insn.fn == handler_ud) return false;
  const uint8_t* op = opcode_of(bytes, len);
  const uint8_t* end = bytes + len;
  if (op >= end) return false;
  const bool xchg = *op == 0x86 || *op == 0x87;  // XCHG with memory locks without the prefix
  if (!insn.lock && !xchg) return false;
  uint8_t kind = K_PLAIN;
  if (op[0] == 0x0F && op + 1 < end) {
    if (op[1] == 0xC7) kind = K_CMPXCHG8B;
    else if (op[1] == 0xAB || op[1] == 0xB3 || op[1] == 0xBB) kind = K_BT_REG;  // BTS BTR BTC r
  }
  const int index = register_wrapped(insn.fn, kind);
  if (index < 0) return false;  // cannot happen: far fewer handlers exist
  insn.imm2 = uint16_t(index);
  insn.fn = locked_insn;
  return true;
}

}  // namespace softcpu
