#include "translator/region_compiler.h"

#include <llvm/Analysis/ValueTracking.h>
#include <llvm/Support/KnownBits.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/GetElementPtrTypeIterator.h>
#include <llvm/IR/Operator.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/Support/BLAKE3.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/IPO/AlwaysInliner.h>
#include <llvm/Transforms/IPO/GlobalDCE.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Utils/Local.h>

#include <time.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <vector>

#include "interp/access.h"
#include "interp/block.h"
#include "interp/cpu.h"
#include "interp/sem/control.h"
#include "translator/region_spec.h"
#include "translator/semantics.h"

namespace softcpu {

namespace {

// CPU time of this thread, µs (the compile thread shares the machine with the CPU thread).
double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

// Fresh analysis managers for one pipeline run over one module (reusing them across modules
// is what crashed for ../shared/TOOLCHAIN.md).
struct Analyses {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb;
  explicit Analyses(llvm::TargetMachine& tm) : pb(&tm) {
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
  }
};

// Is every object `ptr` may be based on one that `ok` accepts (and is there any)?
template <typename Pred>
bool all_underlying(const llvm::Value* ptr, Pred ok) {
  llvm::SmallVector<const llvm::Value*, 4> objs;
  llvm::getUnderlyingObjects(ptr, objs, nullptr, 0);
  if (objs.empty()) return false;
  for (const llvm::Value* o : objs)
    if (!ok(o)) return false;
  return true;
}

// A pointer made from an integer: a host address the soft TLB computed (guest RAM or ROM).
bool is_host_address(const llvm::Value* o) {
  if (llvm::isa<llvm::IntToPtrInst>(o)) return true;
  auto* ce = llvm::dyn_cast<llvm::ConstantExpr>(o);
  return ce && ce->getOpcode() == llvm::Instruction::IntToPtr;
}

// Does every object `ptr` may point into come from an integer?
bool points_to_guest_memory(const llvm::Value* ptr) { return all_underlying(ptr, is_host_address); }

// The parts of the Cpu compiled code keeps in a local copy (promote_head): its head
// (registers, EIP, EFLAGS, the lazy-flags record, CPL, A20, stop, exit_reason) and icount.
struct Promoted {
  uint64_t cpu_off, size, local_off;
};
constexpr uint64_t kHeadSize = offsetof(Cpu, seg);  // the head ends where the segments begin
constexpr uint64_t kIcountLocal = kHeadSize;         // icount follows the head in the copy
constexpr Promoted kPromoted[] = {
    {0, kHeadSize, 0},
    {offsetof(Cpu, icount), sizeof(uint64_t), kIcountLocal},
};
constexpr uint64_t kLocalSize = kIcountLocal + sizeof(uint64_t);
static_assert(kHeadSize == 64, "the promoted head of Cpu is its first 64 bytes");

// Where a Cpu byte range lives in the local copy, or -1 if it is not (wholly) promoted.
int64_t local_offset(int64_t off, uint64_t size) {
  for (const Promoted& p : kPromoted)
    if (off >= int64_t(p.cpu_off) && uint64_t(off) + size <= p.cpu_off + p.size)
      return int64_t(p.local_off) + (off - int64_t(p.cpu_off));
  return -1;
}

// Where a pointer may point into the Cpu: the byte offsets [lo, hi] its access starts at.
struct CpuRange {
  int64_t lo, hi;
};
// The range of Cpu offsets `p` may hold, or nullopt when it is not (known to be) derived from
// the Cpu argument alone: constant GEPs, variable indices into arrays inside the Cpu (the
// soft TLB, segment caches), and phis/selects of such pointers (the inliner leaves those where
// two paths computed the same field's address).
std::optional<CpuRange> cpu_range(const llvm::Value* p, const llvm::Argument* cpu,
                                  const llvm::DataLayout& dl, unsigned depth = 0) {
  using namespace llvm;
  if (p == cpu) return CpuRange{0, 0};
  if (depth > 8) return std::nullopt;
  if (auto* g = dyn_cast<GEPOperator>(p)) {
    auto r = cpu_range(g->getPointerOperand(), cpu, dl, depth + 1);
    if (!r) return std::nullopt;
    int64_t lo = 0, hi = 0;
    bool first = true;
    Type* container = nullptr;  // what the current index selects in (its previous indexed type)
    for (gep_type_iterator it = gep_type_begin(g), e = gep_type_end(g); it != e;
         container = it.getIndexedType(), ++it, first = false) {
      const Value* idx = it.getOperand();
      if (StructType* st = it.getStructTypeOrNull()) {
        const uint64_t field = cast<ConstantInt>(idx)->getZExtValue();
        const int64_t o = int64_t(dl.getStructLayout(st)->getElementOffset(unsigned(field)));
        lo += o, hi += o;
        continue;
      }
      const int64_t stride = int64_t(it.getSequentialElementStride(dl));
      if (auto* ci = dyn_cast<ConstantInt>(idx)) {
        lo += ci->getSExtValue() * stride, hi += ci->getSExtValue() * stride;
        continue;
      }
      // A variable index: bounded by what its value can be (the jump cache's index is an
      // AND of the EIP with the table's mask), else by the array it indexes (not the first
      // index, which steps over whole objects).
      const KnownBits known = computeKnownBits(idx, dl);
      if (known.getMaxValue().ult(1u << 20)) {
        lo += int64_t(known.getMinValue().getZExtValue()) * stride;
        hi += int64_t(known.getMaxValue().getZExtValue()) * stride;
        continue;
      }
      if (first) return std::nullopt;
      auto* at = dyn_cast_or_null<ArrayType>(container);
      const uint64_t n = at ? at->getNumElements() : 0;
      if (n == 0) return std::nullopt;
      hi += int64_t(n - 1) * stride;
    }
    return CpuRange{r->lo + lo, r->hi + hi};
  }
  // A select or phi: the union of its inputs' ranges (a phi's input may be the phi itself).
  auto merge = [&](auto&& inputs) -> std::optional<CpuRange> {
    std::optional<CpuRange> out;
    for (const Value* v : inputs) {
      if (v == p) continue;
      auto r = cpu_range(v, cpu, dl, depth + 1);
      if (!r) return std::nullopt;
      out = out ? CpuRange{std::min(out->lo, r->lo), std::max(out->hi, r->hi)} : *r;
    }
    return out;
  };
  if (auto* sel = dyn_cast<SelectInst>(p))
    return merge(std::initializer_list<const Value*>{sel->getTrueValue(), sel->getFalseValue()});
  if (auto* phi = dyn_cast<PHINode>(p)) return merge(phi->incoming_values());
  if (auto* c = dyn_cast<CastInst>(p); c && c->getOpcode() != Instruction::IntToPtr)
    return cpu_range(c->getOperand(0), cpu, dl, depth + 1);
  return std::nullopt;
}

// Is `p` known not to point into the Cpu: every object it may be based on is a host address
// from an integer (guest memory through the soft TLB), a local or a global?
bool surely_not_cpu(const llvm::Value* p) {
  return all_underlying(p, [](const llvm::Value* o) {
    return is_host_address(o) || llvm::isa<llvm::AllocaInst>(o) || llvm::isa<llvm::GlobalValue>(o) ||
           llvm::isa<llvm::ConstantPointerNull>(o);
  });
}

// A return that leaves the Cpu as it is, without writing the promoted copy back (promote_head
// skips it): nothing changed yet (the CS-limit refusal at entry). Metadata kind on the
// ReturnInst.
constexpr const char* kRawExit = "softcpu.raw_exit";

// How much of the Cpu a call needs current, and may change.
enum class CallSync { NONE, STOP_ONLY, ALL };
CallSync call_sync(const llvm::CallInst& call) {
  using namespace llvm;
  if (!call.mayReadOrWriteMemory()) return CallSync::NONE;
  if (auto* mi = dyn_cast<MemIntrinsic>(&call)) {
    const bool touches_cpu =
        !surely_not_cpu(mi->getRawDest()) ||
        (isa<MemTransferInst>(mi) && !surely_not_cpu(cast<MemTransferInst>(mi)->getRawSource()));
    return touches_cpu ? CallSync::ALL : CallSync::NONE;  // guest memory only: NONE
  }
  if (const Function* f = call.getCalledFunction()) {
    // The memory slow paths (interp/jit_runtime.cpp) read CPL and A20, which no inlined
    // instruction changes, and write only Cpu::stop of the promoted fields (self-modifying
    // code, data watches); a fault they record lives outside them.
    const StringRef n = f->getName();
    if (n == "softcpu_jit_read" || n == "softcpu_jit_write" || n == "softcpu_jit_probe_write" ||
        n == "softcpu_jit_read_system" || n == "softcpu_jit_write_system" ||
        n == "softcpu_jit_read_mem" || n == "softcpu_jit_write_mem")
      return CallSync::STOP_ONLY;
    // The x87 backend (interp/fpu_host.h) reads and writes only the FpuState and the operand
    // buffer it is given: no promoted field.
    if (n == "softcpu_jit_fpu_exec") return CallSync::NONE;
  }
  return CallSync::ALL;  // a called handler, or anything else: it may look at everything
}

// Keep the promoted parts of the Cpu in a local copy while the region runs: every access to
// them goes to the copy, which SROA turns into SSA values (guest registers and flags in host
// registers), and the copy is written back to the Cpu only where something else can look:
// before a call that needs it, an access to the Cpu the copy cannot cover, the return or the
// tail call (and read back after a call or such a store). Every exit therefore still leaves
// the Cpu exact, but a register written in one block and overwritten in the next is stored
// once, at the exit that needs it. Only the fields the region touches are copied; a copy-back
// of a field that did not change since it was read is a store of a just-loaded value, which
// EarlyCSE/DSE remove.
void promote_head(llvm::Function& fn, llvm::Argument* cpu) {
  using namespace llvm;
  const DataLayout& dl = fn.getParent()->getDataLayout();
  LLVMContext& ctx = fn.getContext();
  Type* i8 = Type::getInt8Ty(ctx);
  std::vector<Instruction*> work;
  for (BasicBlock& bb : fn)
    for (Instruction& in : bb) work.push_back(&in);
  IRBuilder<> b(&*fn.getEntryBlock().getFirstInsertionPt());
  AllocaInst* local = b.CreateAlloca(ArrayType::get(i8, kLocalSize), nullptr, "cpu_copy");
  local->setAlignment(Align(8));

  // Pass 1: redirect accesses to promoted fields into the copy; note the bytes they touch and
  // the places where the Cpu must be current.
  std::vector<uint8_t> touched(kLocalSize, 0);  // by local offset
  // ... of them, those the region stores to: a field it only reads keeps its value in the
  // Cpu (a call that may change it is followed by a read-back), so no write-back stores it.
  std::vector<uint8_t> written(kLocalSize, 0);
  struct Sync {
    Instruction* at;
    bool out;   // write the copy back before
    bool back;  // read the copy (all of it, or only Cpu::stop) back after
    bool stop_only;
  };
  std::vector<Sync> syncs;
  bool unknown_access = false;
  for (Instruction* in : work) {
    if (isa<ReturnInst>(in)) {
      if (in->getMetadata(kRawExit)) continue;  // leaves without the copy (see compile)
      auto* prev = dyn_cast_or_null<CallInst>(in->getPrevNode());
      if (!prev || !prev->isMustTailCall()) syncs.push_back({in, true, false, false});
      continue;
    }
    if (auto* call = dyn_cast<CallInst>(in)) {
      if (call->isMustTailCall()) {
        syncs.push_back({call, true, false, false});
        continue;
      }
      switch (call_sync(*call)) {
        case CallSync::NONE: break;
        case CallSync::STOP_ONLY: syncs.push_back({call, false, true, true}); break;
        case CallSync::ALL: syncs.push_back({call, true, true, false}); break;
      }
      continue;
    }
    Value* ptr = nullptr;
    Type* ty = nullptr;
    if (auto* l = dyn_cast<LoadInst>(in)) {
      ptr = l->getPointerOperand();
      ty = l->getType();
    } else if (auto* st = dyn_cast<StoreInst>(in)) {
      ptr = st->getPointerOperand();
      ty = st->getValueOperand()->getType();
    } else if (in->mayReadOrWriteMemory()) {
      for (Use& op : in->operands())
        if (op->getType()->isPointerTy() && !surely_not_cpu(op.get())) {
          syncs.push_back({in, true, true, false});  // an atomic or the like on the Cpu
          unknown_access = true;
          break;
        }
      continue;
    }
    if (!ptr) continue;
    const uint64_t size = dl.getTypeStoreSize(ty);
    if (const auto r = cpu_range(ptr, cpu, dl)) {
      if (r->lo == r->hi) {
        const int64_t lo = local_offset(r->lo, size);
        if (lo >= 0) {
          IRBuilder<> x(in);
          Value* p = x.CreateConstInBoundsGEP1_64(i8, local, uint64_t(lo));
          if (auto* l = dyn_cast<LoadInst>(in)) l->setOperand(0, p);
          else cast<StoreInst>(in)->setOperand(1, p);
          for (uint64_t k = 0; k < size; ++k) touched[lo + k] = 1;
          if (isa<StoreInst>(in))
            for (uint64_t k = 0; k < size; ++k) written[lo + k] = 1;
          continue;
        }
      }
      // The rest of the Cpu (a field, or an entry of an array such as the soft TLB, wholly
      // outside the promoted ranges) stays in memory.
      bool overlaps = false;
      for (const Promoted& pr : kPromoted)
        overlaps |= r->lo < int64_t(pr.cpu_off + pr.size) && r->hi + int64_t(size) > int64_t(pr.cpu_off);
      if (!overlaps) continue;
    } else if (surely_not_cpu(ptr)) {
      continue;  // guest memory, constants, locals
    }
    // An access to the Cpu at an offset the copy cannot cover (unknown, or straddling it).
    syncs.push_back({in, true, isa<StoreInst>(in), false});
    unknown_access = true;
  }
  if (unknown_access) {  // any field: copy them all
    std::fill(touched.begin(), touched.end(), 1);
    std::fill(written.begin(), written.end(), 1);
  }
  // Written back by whole fields (aligned 4 bytes; icount 8), so SROA keeps a register one
  // value even where only a byte of it (AL) is stored.
  for (uint64_t k = 0; k < kLocalSize; k += 4) {
    const uint64_t w = k == kIcountLocal ? 8 : 4;
    if (std::find(written.begin() + k, written.begin() + k + w, 1) != written.begin() + k + w)
      for (uint64_t j = k; j < k + w; ++j) written[j] = touched[j];
    if (w == 8) k += 4;
  }

  // The touched (written) bytes as runs, copied as one integer each (in Cpu terms: local runs
  // never span two promoted ranges, which are apart in the Cpu).
  struct Run {
    uint64_t local_off, cpu_off, bytes;
  };
  auto runs_of = [&](const std::vector<uint8_t>& mask) {
    std::vector<Run> runs;
    for (const Promoted& p : kPromoted) {
      for (uint64_t k = p.local_off; k < p.local_off + p.size;) {
        if (!mask[k]) {
          ++k;
          continue;
        }
        uint64_t e = k;
        while (e < p.local_off + p.size && mask[e]) ++e;
        runs.push_back({k, p.cpu_off + (k - p.local_off), e - k});
        k = e;
      }
    }
    return runs;
  };
  const std::vector<Run> runs_in = runs_of(touched), runs_out = runs_of(written);
  auto copy = [&](IRBuilder<>& x, bool to_cpu, bool stop_only) {
    for (const Run& r : to_cpu ? runs_out : runs_in) {
      uint64_t lo = r.local_off, co = r.cpu_off, n = r.bytes;
      if (stop_only) {  // just Cpu::stop, if the region touches it
        const uint64_t s = offsetof(Cpu, stop);
        if (s < co || s >= co + n) continue;
        lo += s - co;
        co = s;
        n = 1;
      }
      // In naturally aligned pieces of at most a field (4 bytes; icount 8): one wide integer
      // per run would make SROA slice every register out of it with shifts.
      while (n > 0) {
        const uint64_t cap = co == offsetof(Cpu, icount) ? 8 : 4;
        uint64_t p = cap;
        while (p > n || co % p != 0) p /= 2;
        Type* t = IntegerType::get(ctx, unsigned(p * 8));
        Value* lp = x.CreateConstInBoundsGEP1_64(i8, local, lo);
        Value* cp = x.CreateConstInBoundsGEP1_64(i8, cpu, co);
        if (to_cpu) x.CreateAlignedStore(x.CreateAlignedLoad(t, lp, Align(p)), cp, Align(p));
        else x.CreateAlignedStore(x.CreateAlignedLoad(t, cp, Align(p)), lp, Align(p));
        lo += p, co += p, n -= p;
      }
    }
  };
  copy(b, false, false);  // entry
  for (const Sync& sc : syncs) {
    if (sc.out) {
      IRBuilder<> x(sc.at);
      copy(x, true, false);
    }
    if (sc.back) {
      IRBuilder<> y(sc.at->getNextNode());
      copy(y, false, sc.stop_only);
    }
  }
}

// What specialize_flat_segments and bound_cs_limit rely on: the region calls no handler (a
// called handler may load a segment register; the runtime's memory slow paths change none)
// and none of its own stores, block copies or atomics may write the Cpu bytes [lo, hi).
bool keeps_cpu_bytes(llvm::Function& fn, llvm::Argument* cpu, int64_t lo, int64_t hi) {
  using namespace llvm;
  const DataLayout& dl = fn.getParent()->getDataLayout();
  for (BasicBlock& bb : fn)
    for (Instruction& in : bb) {
      if (auto* call = dyn_cast<CallInst>(&in)) {
        const Function* f = call->getCalledFunction();
        if (f && f->getName() == "softcpu_jit_call") return false;
        continue;
      }
      if (isa<LoadInst>(in)) continue;
      if (auto* mi = dyn_cast<MemIntrinsic>(&in)) {
        if (!surely_not_cpu(mi->getRawDest())) return false;
        continue;
      }
      auto* st = dyn_cast<StoreInst>(&in);
      if (!st) {
        if (in.mayWriteToMemory()) return false;  // an atomic or the like: not analysed
        continue;
      }
      if (surely_not_cpu(st->getPointerOperand())) continue;
      const auto r = cpu_range(st->getPointerOperand(), cpu, dl);
      const int64_t size = int64_t(dl.getTypeStoreSize(st->getValueOperand()->getType()));
      if (!r || (r->lo < hi && r->hi + size > lo)) return false;
    }
  return true;
}

// The entry's branch between the refusal (a return without the copy: the CS-limit test) and
// the rest of the region, and which way refuses; null if the entry is not that shape.
llvm::BranchInst* entry_refusal(llvm::Function& fn, bool* refuse_on_true) {
  using namespace llvm;
  auto* term = dyn_cast<BranchInst>(fn.getEntryBlock().getTerminator());
  if (!term || !term->isConditional()) return nullptr;
  auto refuses = [](BasicBlock* bb) {
    auto* r = dyn_cast<ReturnInst>(bb->getTerminator());
    return r && r->getMetadata(kRawExit);
  };
  *refuse_on_true = refuses(term->getSuccessor(0));
  if (!*refuse_on_true && !refuses(term->getSuccessor(1))) return nullptr;
  return term;
}

// Loads of the Cpu at one constant offset that `want(offset, bits)` accepts, outside the entry
// block (which holds the refusal's own tests).
template <typename Want>
std::vector<std::pair<llvm::LoadInst*, int64_t>> cpu_loads(llvm::Function& fn, llvm::Argument* cpu,
                                                           Want want) {
  using namespace llvm;
  const DataLayout& dl = fn.getParent()->getDataLayout();
  std::vector<std::pair<LoadInst*, int64_t>> out;
  for (BasicBlock& bb : fn) {
    if (&bb == &fn.getEntryBlock()) continue;
    for (Instruction& in : bb)
      if (auto* l = dyn_cast<LoadInst>(&in))
        if (l->getType()->isIntegerTy())
          if (const auto r = cpu_range(l->getPointerOperand(), cpu, dl))
            if (r->lo == r->hi && want(r->lo, l->getType()->getIntegerBitWidth()))
              out.push_back({l, r->lo});
  }
  return out;
}

// A segment among ES, SS and DS that was flat when the region was made (RegionSpec::flat_segs:
// base 0, every offset readable and writable, as every common 32-bit OS sets them up) is
// compiled as such: the region reads its base and ranges as those constants, and its entry
// refuses to run (NATIVE_EXIT_LIMIT, as for the CS limit: tier 0 runs the block) unless the
// Cpu holds exactly them, so an access keeps the TLB compare and one limit compare (an access
// that wraps past 4 GiB is unaligned: tlb_hit sends it to the slow path, which checks the
// limit) instead of three loads and three compares. Valid for the whole region when
// keeps_cpu_bytes holds for the segments.
void specialize_flat_segments(llvm::Function& fn, llvm::Argument* cpu, uint8_t flat_segs) {
  using namespace llvm;
  if (!flat_segs) return;
  const int64_t segs_lo = int64_t(offsetof(Cpu, seg));
  struct Field {
    size_t off;
    unsigned bits;
    uint64_t value;
  };
  static const Field kFields[] = {
      {offsetof(SegmentCache, base), 32, 0},
      {offsetof(SegmentCache, rd_lo), 32, 0},
      {offsetof(SegmentCache, rd_hi), 32, 0xFFFFFFFFu},
      {offsetof(SegmentCache, wr_lo), 32, 0},
      {offsetof(SegmentCache, wr_hi), 32, 0xFFFFFFFFu},
      {offsetof(SegmentCache, rd_lo), 64, 0xFFFFFFFF00000000ull},  // all_offsets(): lo, hi
      {offsetof(SegmentCache, wr_lo), 64, 0xFFFFFFFF00000000ull},
  };
  auto field_of = [&](int64_t off, unsigned bits) -> const Field* {
    for (unsigned s : {unsigned(ES), unsigned(SS), unsigned(DS)})
      for (const Field& f : kFields)
        if ((flat_segs & (1u << s)) && bits == f.bits &&
            off == segs_lo + int64_t(s * sizeof(SegmentCache) + f.off))
          return &f;
    return nullptr;
  };
  bool refuse_on_true = false;
  BranchInst* term = entry_refusal(fn, &refuse_on_true);
  if (!term || !keeps_cpu_bytes(fn, cpu, segs_lo, segs_lo + int64_t(sizeof(Cpu::seg)))) return;
  const auto loads = cpu_loads(fn, cpu, [&](int64_t off, unsigned bits) { return field_of(off, bits) != nullptr; });
  if (loads.empty()) return;
  // The guard: each field read, once, equal to its flat value, joins the refusal.
  IRBuilder<> g(term);
  Value* bad = g.getFalse();
  std::vector<int64_t> guarded;
  for (auto& [l, off] : loads) {
    const unsigned bits = l->getType()->getIntegerBitWidth();
    const Field& f = *field_of(off, bits);
    l->replaceAllUsesWith(ConstantInt::get(l->getType(), f.value));
    l->eraseFromParent();
    const int64_t key = off * 128 + bits;
    if (std::find(guarded.begin(), guarded.end(), key) != guarded.end()) continue;
    guarded.push_back(key);
    Value* now = g.CreateLoad(g.getIntNTy(bits), g.CreateConstInBoundsGEP1_64(g.getInt8Ty(), cpu, uint64_t(off)));
    bad = g.CreateOr(bad, g.CreateICmpNE(now, g.getIntN(bits, f.value)));
  }
  term->setCondition(refuse_on_true ? g.CreateOr(term->getCondition(), bad)
                                    : g.CreateAnd(term->getCondition(), g.CreateNot(bad)));
}

// The entry refuses to run a region whose furthest block ends past CS.limit, so inside it
// CS.limit >= that end - 1: every later read of CS.limit becomes the entry's, with that bound
// assumed, and the #GP(0) test of a near branch to one of the region's blocks (near_branch in
// interp/sem/control.h: target > CS.limit) folds away. Valid when keeps_cpu_bytes holds for it.
void bound_cs_limit(llvm::Function& fn, llvm::Argument* cpu, uint64_t end) {
  using namespace llvm;
  if (end == 0 || end - 1 > 0xFFFFFFFFu) return;
  const int64_t limit_off =
      int64_t(offsetof(Cpu, seg) + CS * sizeof(SegmentCache) + offsetof(SegmentCache, limit));
  bool refuse_on_true = false;
  BranchInst* term = entry_refusal(fn, &refuse_on_true);
  if (!term) return;
  BasicBlock* go = term->getSuccessor(refuse_on_true ? 1 : 0);
  if (go->getSinglePredecessor() != &fn.getEntryBlock()) return;
  if (!keeps_cpu_bytes(fn, cpu, limit_off, limit_off + 4)) return;
  const auto loads = cpu_loads(fn, cpu, [&](int64_t off, unsigned bits) { return off == limit_off && bits == 32; });
  if (loads.empty()) return;
  IRBuilder<> b(term);
  LoadInst* limit = b.CreateLoad(b.getInt32Ty(), b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), cpu, uint64_t(limit_off)));
  b.SetInsertPoint(&*go->getFirstInsertionPt());
  b.CreateAssumption(b.CreateICmpUGE(limit, b.getInt32(uint32_t(end - 1))));
  for (auto& [l, off] : loads) {
    l->replaceAllUsesWith(limit);
    l->eraseFromParent();
  }
}

}  // namespace

RegionCompiler::RegionCompiler(llvm::LLVMContext& ctx, const Semantics& sem,
                               llvm::TargetMachine& tm)
    : ctx_(ctx), sem_(sem), tm_(tm) {}

std::string RegionCompiler::function_name(const RegionSpec& spec) {
  char name[32];
  std::snprintf(name, sizeof name, "_r%llu", static_cast<unsigned long long>(spec.id));
  return symbol_name(spec) + name;
}

std::string RegionCompiler::symbol_name(const RegionSpec& spec) {
  uint32_t bytes = 0;
  for (const RegionBlock& b : spec.blocks) bytes += b.bytes;
  char name[64];
  std::snprintf(name, sizeof name, "guest_0x%08x_len_%u", spec.entry_lin, bytes);
  return name;
}

std::string RegionCompiler::host_symbol(const std::string& handler) { return "softcpu_host." + handler; }

size_t RegionCompiler::blocks_within(const RegionSpec& spec, uint64_t budget) const {
  uint64_t total = 0;
  size_t k = 0;
  for (; k < spec.blocks.size(); ++k) {
    uint64_t w = 0;
    for (const Insn& in : spec.blocks[k].insns) {
      const Semantics::Handler* h = sem_.find(in.fn);
      w += h ? h->cost : 8;
    }
    if (k > 0 && total + w > budget) break;
    total += w;
  }
  return k;
}

uint8_t RegionCompiler::flat_segments(const Cpu& c) {
  uint8_t flat = 0;
  for (unsigned s : {unsigned(ES), unsigned(SS), unsigned(DS)})
    if (c.seg[s].base == 0 && reads_anywhere(c.seg[s]) && writes_anywhere(c.seg[s]))
      flat |= uint8_t(1u << s);
  return flat;
}

std::vector<uint32_t> RegionCompiler::jump_table_targets(const Cpu& c, const Insn& tail,
                                                         uint32_t cs_base, uint32_t page_lin) {
  std::vector<uint32_t> out;
  if (tail.fn != &jmp_near_rm<4, RM_SIB32> || tail.base != REG_NONE || tail.scale != 2) return out;
  const uint32_t table = c.seg[tail.seg].base + tail.disp;
  for (uint32_t k = 0; k < 64; ++k) {
    const uint32_t lin = table + 4 * k;
    const SoftTlbEntry& e = tlb_entry(c.tlb.read, lin);
    if (!tlb_hit(e, lin, 4)) break;
    const uint32_t eip = load_host<4>(e.addend + lin);
    if (((cs_base + eip) & ~0xFFFu) != page_lin) break;
    out.push_back(eip);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void RegionCompiler::mark_entries(RegionSpec& spec) const {
  const size_t n = spec.blocks.size();
  std::vector<bool> loop_head(n, false);
  std::vector<uint64_t> inflow(n, 0);  // executions of the blocks that branch forward to it
  for (size_t p = 0; p < n; ++p) {
    const RegionBlock& rb = spec.blocks[p];
    const Insn& tail = rb.insns.back();
    const Semantics::Handler* h = sem_.find(tail.fn);
    if ((tail.flags & INSN_TRAPS) || !h || !h->inlinable) continue;
    const uint32_t next = rb.eip + rb.bytes;
    std::vector<uint32_t> to = rb.next_eips;
    if (!(tail.flags & INSN_ENDS_BLOCK)) to.push_back(next);
    if (tail.flags & INSN_REL_BRANCH)
      to.push_back(tail.opsize == 2 ? (next + tail.disp) & 0xFFFF : next + tail.disp);
    std::sort(to.begin(), to.end());
    to.erase(std::unique(to.begin(), to.end()), to.end());  // a chain link may repeat a static edge
    for (uint32_t eip : to)
      for (size_t k = 0; k < n; ++k)
        if (spec.blocks[k].eip == eip) {
          if (k <= p) loop_head[k] = true;  // a branch back: its target tests for events
          else inflow[k] += rb.executions / to.size();  // its runs shared among its successors
        }
  }
  // A block that ran clearly more often than the blocks that branch forward to it was also
  // reached from elsewhere (a return site, a join of several regions' paths): an entry too.
  for (size_t k = 0; k < n; ++k)
    spec.blocks[k].entry =
        k == 0 || loop_head[k] || spec.blocks[k].executions * 8 > inflow[k] * 9;
}

bool RegionCompiler::compile(const RegionSpec& spec, bool dump, Output& out, std::string* error,
                             const std::atomic<bool>* cancel,
                             const std::function<bool(const Output&)>& go_on) {
  using namespace llvm;
  double t = thread_cpu_us();
  // lap() closes a phase; it says false when the compile should give up.
  auto lap = [&t, cancel, error](double& into) {
    const double now = thread_cpu_us();
    into += now - t;
    t = now;
    if (cancel && cancel->load(std::memory_order_relaxed)) {
      *error = "cancelled";
      return false;
    }
    return true;
  };
  auto m = std::make_unique<Module>("region", ctx_);
  m->setTargetTriple(sem_.triple());
  m->setDataLayout(sem_.data_layout());
  out.name = function_name(spec);
  out.symbol = symbol_name(spec);

  Type* i8 = Type::getInt8Ty(ctx_);
  Type* i32 = Type::getInt32Ty(ctx_);
  Type* i64 = Type::getInt64Ty(ctx_);
  PointerType* ptr = PointerType::get(ctx_, 0);
  Function* fn = Function::Create(FunctionType::get(i32, {ptr}, false),
                                  GlobalValue::ExternalLinkage, out.name, m.get());
  fn->addFnAttr(Attribute::NoUnwind);
  Argument* cpu = fn->getArg(0);
  // The Cpu is the only guest state the region touches through this pointer; guest memory is
  // reached through host addresses the soft TLB computes (see tag_memory below).
  cpu->addAttr(Attribute::NoAlias);
  cpu->addAttr(Attribute::NonNull);
  cpu->addAttr(Attribute::getWithDereferenceableBytes(ctx_, sizeof(Cpu)));
  cpu->addAttr(Attribute::getWithAlignment(ctx_, Align(alignof(Cpu))));

  FunctionType* call_ty = FunctionType::get(i32, {ptr, ptr, ptr}, false);
  FunctionCallee jit_call = m->getOrInsertFunction("softcpu_jit_call", call_ty);
  cast<Function>(jit_call.getCallee())->addFnAttr(Attribute::NoUnwind);

  IRBuilder<> b(ctx_);
  auto field = [&](size_t off) { return b.CreateConstInBoundsGEP1_64(i8, cpu, off); };
  auto raw_exit = [&](ReturnInst* r) { r->setMetadata(kRawExit, MDNode::get(ctx_, {})); };
  auto store_eip = [&](uint32_t eip) { b.CreateStore(b.getInt32(eip), field(offsetof(Cpu, eip))); };
  auto add_icount = [&](uint64_t n) {
    if (n == 0) return;
    Value* p = field(offsetof(Cpu, icount));
    b.CreateStore(b.CreateAdd(b.CreateLoad(i64, p), b.getInt64(n)), p);
  };
  // Every exit goes through one return block (and every chained jump through one tail call),
  // so the Cpu is written back in one place (promote_head).
  BasicBlock* exit_block = BasicBlock::Create(ctx_, "exit");  // placed last (not the entry)
  PHINode* exit_code = PHINode::Create(i32, 0, "code", exit_block);
  BasicBlock* tail_block = BasicBlock::Create(ctx_, "tail");
  PHINode* tail_target = PHINode::Create(ptr, 0, "target", tail_block);
  auto ret = [&](NativeExit e) {
    exit_code->addIncoming(b.getInt32(e), b.GetInsertBlock());
    b.CreateBr(exit_block);
  };

  const size_t nblocks = spec.blocks.size();
  const uint32_t cs_base = spec.entry_lin - spec.blocks[0].eip;
  BasicBlock* entry = BasicBlock::Create(ctx_, "entry", fn);
  std::vector<BasicBlock*> check(nblocks), body(nblocks);
  for (size_t k = 0; k < nblocks; ++k) {
    check[k] = BasicBlock::Create(ctx_, "check" + std::to_string(k), fn);
    body[k] = BasicBlock::Create(ctx_, "block" + std::to_string(k), fn);
  }
  BasicBlock* fault_exit = BasicBlock::Create(ctx_, "fault_exit", fn);
  BasicBlock* branch_exit = BasicBlock::Create(ctx_, "branch_exit", fn);

  // One exit slot per block that can branch out of the region (interp/block.h NativeLink),
  // in the region's own writable data (freed with its code), and the cache generation by name
  // (JitEngine::define): the object holds no host address, so another run can load it
  // (translator/jit_cache.h).
  auto* links = new GlobalVariable(*m, ArrayType::get(i8, nblocks * sizeof(NativeLink)), false,
                                   GlobalValue::PrivateLinkage,
                                   ConstantAggregateZero::get(ArrayType::get(i8, nblocks * sizeof(NativeLink))),
                                   "links");
  links->setAlignment(Align(alignof(NativeLink)));
  Constant* gen_addr = m->getOrInsertGlobal(kGenerationSymbol, i64);
  // Exits taken rarely (events, stops, faults of called handlers) say so, so that the code
  // generator lays them out of the hot path.
  MDNode* unlikely = MDBuilder(ctx_).createUnlikelyBranchWeights();
  // The boundary test: events pending or the instruction budget used up.
  auto boundary_pending = [&]() -> Value* {
    // Monotonic (relaxed), like every access to Cpu::events (interp/cpu.h EventFlag): another
    // thread may set it, and a plain load could be hoisted out of a loop in the region.
    LoadInst* events = b.CreateLoad(i8, field(offsetof(Cpu, events)));
    events->setAtomic(AtomicOrdering::Monotonic);
    Value* ev = b.CreateICmpNE(events, b.getInt8(0));
    Value* over = b.CreateICmpUGE(b.CreateLoad(i64, field(offsetof(Cpu, icount))),
                                  b.CreateLoad(i64, field(offsetof(Cpu, icount_limit))));
    return b.CreateOr(ev, over);
  };

  // entry: the run loop cleared Cpu::stop; saying so lets the checks after instructions
  // that cannot set it fold away.
  b.SetInsertPoint(entry);
  AllocaInst* cur = b.CreateAlloca(i32, nullptr, "insn");
  b.CreateStore(b.getInt8(0), field(offsetof(Cpu, stop)));
  // The blocks were decoded under some CS limit; the run loop checks only the block it enters
  // at (past_cs_limit in interp/interpreter.cpp), and a chained jump or the jump cache none.
  // Under a smaller limit a later block could run past it (SDM vol.3 6.3: #GP(0) on fetching
  // there), so the region refuses to run when its furthest block ends past CS.limit, before
  // it changes anything: tier 0 runs the block, refitted to the limit.
  {
    uint64_t end = 0;
    for (const RegionBlock& rb : spec.blocks) end = std::max<uint64_t>(end, uint64_t(rb.eip) + rb.bytes);
    Value* limit = b.CreateLoad(i32, field(offsetof(Cpu, seg) + CS * sizeof(SegmentCache) +
                                           offsetof(SegmentCache, limit)));
    Value* past = end - 1 > 0xFFFFFFFFu ? b.getTrue()
                                        : b.CreateICmpUGT(b.getInt32(uint32_t(end - 1)), limit);
    BasicBlock* refuse = BasicBlock::Create(ctx_, "limit_exit", fn);
    BasicBlock* go = BasicBlock::Create(ctx_, "dispatch", fn);
    b.CreateCondBr(past, refuse, go, unlikely);
    b.SetInsertPoint(refuse);
    raw_exit(b.CreateRet(b.getInt32(NATIVE_EXIT_LIMIT)));  // nothing changed: no write-back
    b.SetInsertPoint(go);
  }
  // The run loop enters the region at an entry block (mark_entries) only when EIP is that
  // block's, so no other value reaches the switch.
  if (nblocks == 1) {
    b.CreateBr(body[0]);
  } else {
    BasicBlock* none = BasicBlock::Create(ctx_, "no_entry", fn);
    SwitchInst* sw = b.CreateSwitch(b.CreateLoad(i32, field(offsetof(Cpu, eip))), none,
                                    unsigned(nblocks));
    for (size_t k = 0; k < nblocks; ++k)
      if (spec.blocks[k].entry) sw->addCase(b.getInt32(spec.blocks[k].eip), body[k]);
    b.SetInsertPoint(none);
    b.CreateUnreachable();
  }

  // Per instruction, in region order: its EIP and its index in its block (the instructions
  // of the block before it retired when it faults).
  std::vector<Constant*> eips, retired;
  for (size_t bi = 0; bi < nblocks; ++bi) {
    const RegionBlock& rb = spec.blocks[bi];
    // Block boundary reached by a branch back: interrupts, timers, the debugger and the
    // instruction budget are looked at here, so no loop in the region runs without the test
    // (the interpreter looks between every two blocks; a forward path through a region is at
    // most max_region_blocks long, and the region's exits test too). Such a block is an entry,
    // so the run loop comes back into compiled code where it left.
    b.SetInsertPoint(check[bi]);
    {
      BasicBlock* leave = BasicBlock::Create(ctx_, "event_exit" + std::to_string(bi), fn);
      b.CreateCondBr(boundary_pending(), leave, body[bi], unlikely);
      b.SetInsertPoint(leave);
      store_eip(rb.eip);
      ret(NATIVE_EXIT_EVENT);
    }

    b.SetInsertPoint(body[bi]);
    const size_t n = rb.insns.size();
    uint32_t eip = rb.eip;
    bool last_opaque = false;
    for (size_t j = 0; j < n; ++j) {
      const Insn& in = rb.insns[j];
      const bool last = j + 1 == n;
      const uint32_t next = eip + in.len;
      b.CreateStore(b.getInt32(uint32_t(eips.size())), cur);
      eips.push_back(b.getInt32(eip));
      retired.push_back(b.getInt32(uint32_t(j)));
      // Handler contract (interp/insn.h): a block's last instruction finds EIP = next.
      if (last) store_eip(next);
      // The handler pointer is not copied: no handler reads it (they are called with the Insn,
      // not through it), and it is an address of this process.
      Insn copy = in;
      copy.fn = nullptr;
      Constant* bytes = ConstantDataArray::get(
          ctx_, ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(&copy), sizeof(Insn)));
      auto* g = new GlobalVariable(*m, bytes->getType(), true, GlobalValue::PrivateLinkage, bytes,
                                   "insn" + std::to_string(eips.size() - 1));
      g->setAlignment(Align(alignof(Insn)));
      const Semantics::Handler* h = sem_.find(in.fn);
      if (h && h->inlinable) {
        FunctionCallee callee = m->getOrInsertFunction(h->name, h->type);
        b.CreateCall(callee, {cpu, g});
        ++out.inlined_insns;
        last_opaque = false;
      } else {
        // Not inlinable: the host handler itself, through the runtime's fault catcher, by name
        // (JitEngine::define); a handler outside the registry only by address, and then the
        // region is not saved (translator/jit_cache.h).
        Constant* host;
        if (h) {
          host = cast<Constant>(m->getOrInsertFunction(host_symbol(h->name), h->type).getCallee());
        } else {
          host = ConstantExpr::getIntToPtr(b.getInt64(reinterpret_cast<uintptr_t>(in.fn)), ptr);
          out.relocatable = false;
        }
        Value* st = b.CreateCall(jit_call, {host, cpu, g});
        BasicBlock* ok = BasicBlock::Create(ctx_, "", fn);
        b.CreateCondBr(b.CreateICmpNE(st, b.getInt32(0)), fault_exit, ok, unlikely);
        b.SetInsertPoint(ok);
        last_opaque = true;
      }
      if (!last) {
        // Self-modifying code or a data watch stops the block after this instruction.
        Value* stop = b.CreateICmpNE(b.CreateLoad(i8, field(offsetof(Cpu, stop))), b.getInt8(0));
        BasicBlock* leave = BasicBlock::Create(ctx_, "", fn);
        BasicBlock* go = BasicBlock::Create(ctx_, "", fn);
        b.CreateCondBr(stop, leave, go, unlikely);
        b.SetInsertPoint(leave);
        store_eip(next);
        add_icount(j + 1);
        ret(NATIVE_EXIT_STOP);
        b.SetInsertPoint(go);
      }
      eip = next;
    }
    // After the block's last instruction.
    const Insn& tail = rb.insns.back();
    if (tail.flags & INSN_TRAPS) {
      // The monitor runs it: the handler left EIP at it and set the exit reason.
      Value* trapped =
          b.CreateICmpNE(b.CreateLoad(i8, field(offsetof(Cpu, exit_reason))), b.getInt8(0));
      BasicBlock* leave = BasicBlock::Create(ctx_, "trap_exit", fn);
      BasicBlock* go = BasicBlock::Create(ctx_, "", fn);
      b.CreateCondBr(trapped, leave, go);
      b.SetInsertPoint(leave);
      add_icount(n - 1);
      ret(NATIVE_EXIT_TRAP);
      b.SetInsertPoint(go);
    }
    add_icount(n);
    {
      Value* stop = b.CreateICmpNE(b.CreateLoad(i8, field(offsetof(Cpu, stop))), b.getInt8(0));
      BasicBlock* leave = BasicBlock::Create(ctx_, "stop_exit", fn);
      BasicBlock* go = BasicBlock::Create(ctx_, "", fn);
      b.CreateCondBr(stop, leave, go, unlikely);
      b.SetInsertPoint(leave);
      // The last instruction stopped on itself (a REP string instruction paused after a
      // chunk, EIP left at it): the run loop charges budget for the resume, as run_impl does.
      BasicBlock* paused = BasicBlock::Create(ctx_, "pause_exit", fn);
      BasicBlock* stopped = BasicBlock::Create(ctx_, "", fn);
      b.CreateCondBr(b.CreateICmpEQ(b.CreateLoad(i32, field(offsetof(Cpu, eip))),
                                    b.getInt32(eip - tail.len)),
                     paused, stopped);
      b.SetInsertPoint(paused);
      ret(NATIVE_EXIT_PAUSE);
      b.SetInsertPoint(stopped);
      ret(NATIVE_EXIT_STOP);
      b.SetInsertPoint(go);
    }
    if (last_opaque) {
      // A host handler may have changed the mode, the mapping or the descriptor tables:
      // only the run loop's lookup may continue.
      b.CreateBr(branch_exit);
      continue;
    }
    // Continue inside the region when EIP is one of its blocks (the switch folds to a direct
    // branch when the handler computed EIP from constants); otherwise through the block's exit
    // slot to the region compiled for where it went last time, or back to the run loop.
    Value* next_eip = b.CreateLoad(i32, field(offsetof(Cpu, eip)));
    BasicBlock* out_exit = BasicBlock::Create(ctx_, "exit" + std::to_string(bi), fn);
    SwitchInst* sw = b.CreateSwitch(next_eip, out_exit, unsigned(nblocks));
    // A branch back (to this block or an earlier one: every cycle has one) goes through the
    // target's boundary test; a branch forward goes straight to its body.
    for (size_t k = 0; k < nblocks; ++k)
      sw->addCase(b.getInt32(spec.blocks[k].eip), k <= bi ? check[k] : body[k]);
    b.SetInsertPoint(out_exit);
    {
      // The out-of-line getGetElementPtr directly: getInBoundsGetElementPtr's inline wrappers
      // copy their empty std::optional<ConstantRange>, which GCC 12 at -O1 (the sanitizer
      // builds) takes for a read of uninitialised memory (-Werror=maybe-uninitialized).
      auto at = [&](size_t off) {
        Value* idx = b.getInt64(bi * sizeof(NativeLink) + off);
        return ConstantExpr::getGetElementPtr(i8, links, ArrayRef<Value*>(idx),
                                              GEPNoWrapFlags::inBounds());
      };
      Constant* slot = at(0);
      Value* same_eip = b.CreateICmpEQ(b.CreateLoad(i32, at(offsetof(NativeLink, eip))), next_eip);
      Value* generation = b.CreateLoad(i64, gen_addr);
      Value* same_gen = b.CreateICmpEQ(b.CreateLoad(i64, at(offsetof(NativeLink, generation))),
                                       generation);
      BasicBlock* follow = BasicBlock::Create(ctx_, "chain" + std::to_string(bi), fn);
      BasicBlock* jump = BasicBlock::Create(ctx_, "jump" + std::to_string(bi), fn);
      BasicBlock* lookup = BasicBlock::Create(ctx_, "lookup" + std::to_string(bi), fn);
      BasicBlock* found = BasicBlock::Create(ctx_, "found" + std::to_string(bi), fn);
      BasicBlock* leave = BasicBlock::Create(ctx_, "leave" + std::to_string(bi), fn);
      b.CreateCondBr(b.CreateAnd(same_eip, same_gen), follow, lookup);
      b.SetInsertPoint(follow);
      b.CreateCondBr(boundary_pending(), leave, jump, unlikely);
      b.SetInsertPoint(jump);
      tail_target->addIncoming(b.CreateLoad(ptr, at(offsetof(NativeLink, fn))), b.GetInsertBlock());
      b.CreateBr(tail_block);
      // The slot went elsewhere: the jump cache (Cpu::native_jumps) for this EIP, same CS
      // base, mode and cache generation.
      b.SetInsertPoint(lookup);
      {
        using J = Cpu::NativeJump;
        Value* idx = b.CreateZExt(b.CreateAnd(next_eip, b.getInt32(Cpu::NATIVE_JUMPS - 1)), i64);
        Value* e = b.CreateGEP(
            i8, cpu, b.CreateAdd(b.getInt64(offsetof(Cpu, native_jumps)),
                                 b.CreateMul(idx, b.getInt64(sizeof(J)))));
        auto jf = [&](size_t off) { return b.CreateConstInBoundsGEP1_64(i8, e, off); };
        Value* target = b.CreateLoad(ptr, jf(offsetof(J, fn)));
        Value* ok = b.CreateICmpEQ(b.CreateLoad(i32, jf(offsetof(J, eip))), next_eip);
        ok = b.CreateAnd(ok, b.CreateICmpEQ(b.CreateLoad(i32, jf(offsetof(J, cs_base))),
                                            b.getInt32(cs_base)));
        ok = b.CreateAnd(ok, b.CreateICmpEQ(b.CreateLoad(i32, jf(offsetof(J, mode))),
                                            b.getInt32(spec.mode)));
        ok = b.CreateAnd(ok, b.CreateICmpEQ(b.CreateLoad(i64, jf(offsetof(J, generation))),
                                            generation));
        ok = b.CreateAnd(ok, b.CreateIsNotNull(target));
        b.CreateCondBr(ok, found, leave);
        b.SetInsertPoint(found);
        BasicBlock* go = BasicBlock::Create(ctx_, "", fn);
        b.CreateCondBr(boundary_pending(), leave, go, unlikely);
        b.SetInsertPoint(go);
        tail_target->addIncoming(target, go);
        b.CreateBr(tail_block);
      }
      b.SetInsertPoint(leave);
      b.CreateStore(slot, field(offsetof(Cpu, native_link)));
      ret(NATIVE_EXIT_BRANCH);
    }
  }

  b.SetInsertPoint(branch_exit);
  ret(NATIVE_EXIT_BRANCH);
  exit_block->insertInto(fn);
  tail_block->insertInto(fn);
  b.SetInsertPoint(exit_block);
  b.CreateRet(exit_code);
  b.SetInsertPoint(tail_block);
  {
    CallInst* tail = b.CreateCall(FunctionType::get(i32, {ptr}, false), tail_target, {cpu});
    tail->setTailCallKind(CallInst::TCK_MustTail);
    b.CreateRet(tail);
  }

  // The fault exit: EIP of the faulting instruction, the instructions before it in its block
  // retired (as the interpreter's recovery does).
  b.SetInsertPoint(fault_exit);
  {
    ArrayType* at = ArrayType::get(i32, eips.size());
    auto* eip_tab = new GlobalVariable(*m, at, true, GlobalValue::PrivateLinkage,
                                       ConstantArray::get(at, eips), "eips");
    auto* ret_tab = new GlobalVariable(*m, at, true, GlobalValue::PrivateLinkage,
                                       ConstantArray::get(at, retired), "retired");
    Value* k = b.CreateZExt(b.CreateLoad(i32, cur), i64);
    Value* e = b.CreateLoad(i32, b.CreateInBoundsGEP(at, eip_tab, {b.getInt64(0), k}));
    Value* r = b.CreateLoad(i32, b.CreateInBoundsGEP(at, ret_tab, {b.getInt64(0), k}));
    b.CreateStore(e, field(offsetof(Cpu, eip)));
    Value* p = field(offsetof(Cpu, icount));
    b.CreateStore(b.CreateAdd(b.CreateLoad(i64, p), b.CreateZExt(r, i64)), p);
    ret(NATIVE_EXIT_FAULT);
  }

  // The region as built, before anything else comes in: what the persistent cache keys it by
  // (its only reader, through go_on: printing and hashing the module is not free).
  if (go_on) {
    SmallString<0> text;
    raw_svector_ostream os(text);
    fn->setName(out.symbol);  // the name without this run's region number
    m->print(os, nullptr);
    fn->setName(out.name);
    out.ir_hash = BLAKE3::hash<32>(ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  if (go_on && !go_on(out)) {
    (void)lap(out.build_us);
    return true;  // the caller has what it wanted (the key, or an object from the cache)
  }

  // Bring in the handler bodies, inline them all into the region function.
  if (!sem_.link_into(*m, error)) return false;
  if (!lap(out.build_us)) return false;
  for (Function& f : *m) {
    if (&f == fn || f.isDeclaration()) continue;
    f.setLinkage(GlobalValue::InternalLinkage);
    f.setComdat(nullptr);
    f.removeFnAttr(Attribute::NoInline);
    f.removeFnAttr(Attribute::OptimizeNone);
    f.addFnAttr(Attribute::AlwaysInline);
  }
  for (GlobalVariable& g : m->globals())
    if (!g.isDeclaration()) {
      g.setLinkage(GlobalValue::InternalLinkage);
      g.setComdat(nullptr);
    }
  {
    Analyses a(tm_);
    ModulePassManager mpm;
    mpm.addPass(AlwaysInlinerPass());
    mpm.addPass(GlobalDCEPass());
    mpm.run(*m, a.mam);
  }

  // Markers (interp/jit_abi.h): a fault raised inline records itself and leaves through the
  // fault exit; a runtime call that reported a fault (already recorded) leaves the same way.
  std::vector<CallInst*> markers;
  for (BasicBlock& bb : *fn)
    for (Instruction& in : bb)
      if (auto* call = dyn_cast<CallInst>(&in))
        if (Function* callee = call->getCalledFunction())
          if (callee->getName() == "softcpu_jit_raise" || callee->getName() == "softcpu_jit_fault_exit")
            markers.push_back(call);
  for (CallInst* call : markers) {
    Instruction* next = call->getNextNode();
    if (!isa<UnreachableInst>(next)) changeToUnreachable(next);
    Instruction* unreachable = call->getNextNode();
    b.SetInsertPoint(call);
    if (call->getCalledFunction()->getName() == "softcpu_jit_raise") {
      Value* vf = call->getArgOperand(0);
      b.CreateStore(b.CreateTrunc(vf, i8), field(offsetof(Cpu, jit_fault_vector)));
      b.CreateStore(b.CreateTrunc(b.CreateAnd(b.CreateLShr(vf, 8), 1), i8),
                    field(offsetof(Cpu, jit_fault_has_error)));
      b.CreateStore(call->getArgOperand(1), field(offsetof(Cpu, jit_fault_error)));
    }
    b.SetInsertPoint(unreachable);
    b.CreateBr(fault_exit);
    unreachable->eraseFromParent();
    call->eraseFromParent();
  }
  for (const char* name : {"softcpu_jit_raise", "softcpu_jit_fault_exit"})
    if (Function* f = m->getFunction(name); f && f->use_empty()) f->eraseFromParent();
  removeUnreachableBlocks(*fn);
  if (!lap(out.inline_us)) return false;

  // Guest memory (host addresses from the soft TLB) never overlaps the Cpu: say so with
  // scoped alias metadata, so stores to guest memory do not force guest registers and the
  // lazy flags back out of host registers, and the other way round. Calls stay barriers.
  {
    MDBuilder mdb(ctx_);
    MDNode* domain = mdb.createAnonymousAliasScopeDomain("softcpu");
    MDNode* cpu_scope = mdb.createAnonymousAliasScope(domain, "cpu");
    MDNode* guest_scope = mdb.createAnonymousAliasScope(domain, "guest");
    MDNode* cpu_list = MDNode::get(ctx_, {cpu_scope});
    MDNode* guest_list = MDNode::get(ctx_, {guest_scope});
    for (BasicBlock& bb : *fn) {
      for (Instruction& in : bb) {
        const Value* p = nullptr;
        if (auto* l = dyn_cast<LoadInst>(&in)) p = l->getPointerOperand();
        else if (auto* s = dyn_cast<StoreInst>(&in)) p = s->getPointerOperand();
        else if (auto* mi = dyn_cast<MemIntrinsic>(&in)) {
          bool guest = points_to_guest_memory(mi->getRawDest());
          if (auto* mt = dyn_cast<MemTransferInst>(mi)) guest = guest && points_to_guest_memory(mt->getRawSource());
          if (guest) {
            in.setMetadata(LLVMContext::MD_alias_scope, guest_list);
            in.setMetadata(LLVMContext::MD_noalias, cpu_list);
          }
          continue;
        }
        if (!p) continue;
        if (getUnderlyingObject(p, 0) == cpu) {
          in.setMetadata(LLVMContext::MD_alias_scope, cpu_list);
          in.setMetadata(LLVMContext::MD_noalias, guest_list);
        } else if (points_to_guest_memory(p)) {
          in.setMetadata(LLVMContext::MD_alias_scope, guest_list);
          in.setMetadata(LLVMContext::MD_noalias, cpu_list);
        }
      }
    }
  }

  {
    // Fold the decoded operands first (loads from the constant Insns), so that register
    // accesses have constant offsets when the head of the Cpu is promoted.
    Analyses a(tm_);
    FunctionPassManager fpm;
    fpm.addPass(InstCombinePass());
    fpm.run(*fn, a.fam);
  }
  specialize_flat_segments(*fn, cpu, spec.flat_segs);
  {
    uint64_t end = 0;
    for (const RegionBlock& rb : spec.blocks) end = std::max<uint64_t>(end, uint64_t(rb.eip) + rb.bytes);
    bound_cs_limit(*fn, cpu, end);
  }
  promote_head(*fn, cpu);
  if (dump) {
    raw_string_ostream os(out.ir_before);
    m->print(os, nullptr);
  }
  {
    Analyses a(tm_);
    // O2's function simplification. A short explicit pipeline (sroa, early-cse, instcombine,
    // simplifycfg, gvn, dse, adce) halved this phase but made bench.rom's compiled code slower
    // (docs/design.md, "Compile cost, second round").
    FunctionPassManager fpm =
        a.pb.buildFunctionSimplificationPipeline(OptimizationLevel::O2, ThinOrFullLTOPhase::None);
    fpm.run(*fn, a.fam);
  }
  if (!lap(out.opt_us)) return false;

  if (verifyModule(*m, nullptr)) {
    std::string text;
    raw_string_ostream os(text);
    verifyModule(*m, &os);
    *error = "invalid IR: " + text.substr(0, 400);
    return false;
  }
  if (dump) {
    raw_string_ostream os(out.ir);
    m->print(os, nullptr);
  }

  auto emit = [&](CodeGenFileType kind, SmallVector<char, 0>& buf) {
    legacy::PassManager cg;
    raw_svector_ostream os(buf);
    if (tm_.addPassesToEmitFile(cg, os, nullptr, kind)) return false;
    cg.run(*m);
    return true;
  };
  if (dump) {
    SmallVector<char, 0> text;
    if (emit(CodeGenFileType::AssemblyFile, text)) out.assembly.assign(text.data(), text.size());
  }
  SmallVector<char, 0> obj;
  if (!emit(CodeGenFileType::ObjectFile, obj)) {
    *error = "the target cannot emit object files";
    return false;
  }
  out.object = MemoryBuffer::getMemBufferCopy(StringRef(obj.data(), obj.size()), out.name);
  (void)lap(out.codegen_us);
  if (auto file = object::ObjectFile::createObjectFile(out.object->getMemBufferRef())) {
    for (const object::SectionRef& s : (*file)->sections())
      if (s.isText()) out.code_bytes += s.getSize();
  } else {
    consumeError(file.takeError());
  }
  return true;
}

}  // namespace softcpu
