#include "translator/semantics.h"

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Transforms/Utils/Cloning.h>
#include <llvm/Transforms/Utils/ValueMapper.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/BLAKE3.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <stdexcept>
#include <unordered_set>
#include <vector>

#include "interp/sem/registry.h"

extern "C" const char softcpu_semantics_bc[];
extern "C" const char softcpu_semantics_bc_end[];

namespace softcpu {

const char* semantics_bitcode(size_t* size) {
  *size = size_t(softcpu_semantics_bc_end - softcpu_semantics_bc);
  return softcpu_semantics_bc;
}

namespace {

llvm::MemoryBufferRef blob() {
  size_t n;
  const char* p = semantics_bitcode(&n);
  return llvm::MemoryBufferRef(llvm::StringRef(p, n), "semantics.bc");
}

// Every Function in a constant initializer, in order (a handler table is a struct holding an
// array of function pointers).
void collect_functions(const llvm::Constant* c, std::vector<llvm::Function*>& out) {
  if (auto* f = llvm::dyn_cast<llvm::Function>(c)) {
    out.push_back(const_cast<llvm::Function*>(f));
    return;
  }
  if (llvm::isa<llvm::ConstantAggregate>(c))
    for (const llvm::Use& op : c->operands()) collect_functions(llvm::cast<llvm::Constant>(op), out);
}

const llvm::GlobalVariable* global_of(const llvm::Constant* c) {
  return llvm::dyn_cast<llvm::GlobalVariable>(c->stripPointerCasts());
}

// Read `f`'s body from the lazily read bitcode if it is not read yet. False if it cannot be.
bool materialised(const llvm::Function& f) {
  auto& g = const_cast<llvm::Function&>(f);
  if (!g.isMaterializable()) return true;
  if (llvm::Error err = g.materialize()) {
    llvm::consumeError(std::move(err));
    return false;
  }
  return true;
}

// May compiled code contain this function's body? Only if everything it reaches calls the
// JIT runtime (softcpu_jit_*: non-throwing, or markers the translator rewrites), LLVM
// intrinsics or memcpy-like libc, and reads no mutable global (a JIT module would get its
// own copy of it). Anything else (a host function that may throw, a counter) makes the
// handler a call through softcpu_jit_call instead.
bool body_is_inlinable(const llvm::Function& f, std::unordered_set<const llvm::Function*>& seen,
                       std::unordered_map<const llvm::Function*, bool>& memo) {
  if (auto it = memo.find(&f); it != memo.end()) return it->second;
  if (!seen.insert(&f).second) return true;  // recursion: decided by the outer visit
  bool ok = materialised(f);
  auto check_value = [&](const llvm::Value* v, auto& self) -> void {
    if (!ok) return;
    if (auto* g = llvm::dyn_cast<llvm::GlobalVariable>(v)) {
      if (!g->isConstant()) ok = false;
    } else if (auto* ce = llvm::dyn_cast<llvm::ConstantExpr>(v)) {
      for (const llvm::Use& op : ce->operands()) self(op.get(), self);
    }
  };
  for (const llvm::BasicBlock& bb : f) {
    if (!ok) break;
    for (const llvm::Instruction& in : bb) {
      if (auto* call = llvm::dyn_cast<llvm::CallBase>(&in)) {
        const llvm::Function* callee = call->getCalledFunction();
        if (!callee) {
          ok = false;  // a call through a pointer
        } else if (callee->isIntrinsic()) {
        } else if (callee->isDeclaration()) {
          const llvm::StringRef n = callee->getName();
          if (!n.starts_with("softcpu_jit_") && n != "memcpy" && n != "memmove" && n != "memset")
            ok = false;
        } else if (!body_is_inlinable(*callee, seen, memo)) {
          ok = false;
        }
        for (const llvm::Use& arg : call->args()) check_value(arg.get(), check_value);
      } else {
        for (const llvm::Use& op : in.operands()) check_value(op.get(), check_value);
      }
      if (!ok) break;
    }
    if (!ok) break;
  }
  memo[&f] = ok;
  return ok;
}

// What a handler weighs in a region: its IR instructions with every defined callee counted
// at each call site (what inlining it brings in), before optimisation. Compile time grows
// with it, so regions are bounded by the sum (RegionCompiler::blocks_within). Saturates at kCostCap.
constexpr uint32_t kCostCap = 1u << 20;
uint32_t inlined_cost(const llvm::Function& f, std::unordered_map<const llvm::Function*, uint32_t>& memo) {
  if (auto it = memo.find(&f); it != memo.end()) return it->second;
  memo[&f] = kCostCap;  // recursion: never inlined whole
  if (!materialised(f)) return kCostCap;
  uint64_t n = 0;
  for (const llvm::BasicBlock& bb : f)
    for (const llvm::Instruction& in : bb) {
      ++n;
      if (auto* call = llvm::dyn_cast<llvm::CallBase>(&in))
        if (const llvm::Function* callee = call->getCalledFunction();
            callee && !callee->isDeclaration() && !callee->isIntrinsic())
          n += inlined_cost(*callee, memo);
    }
  const uint32_t cost = uint32_t(std::min<uint64_t>(n, kCostCap));
  memo[&f] = cost;
  return cost;
}

}  // namespace

struct Semantics::Memo {
  std::unordered_set<const llvm::Function*> seen;
  std::unordered_map<const llvm::Function*, bool> inlinable;
  std::unordered_map<const llvm::Function*, uint32_t> costs;
};

Semantics::Semantics(llvm::LLVMContext& ctx) : ctx_(ctx), memo_(std::make_unique<Memo>()) {
  auto parsed = llvm::getLazyBitcodeModule(blob(), ctx_);
  if (!parsed) throw std::runtime_error("cannot parse the semantics bitcode: " +
                                        llvm::toString(parsed.takeError()));
  module_ = std::move(*parsed);
  llvm::Module* m = module_.get();
  triple_ = m->getTargetTriple();
  {
    const llvm::StringRef bc = blob().getBuffer();
    const auto digest = llvm::BLAKE3::hash<16>(
        llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(bc.data()), bc.size()));
    bitcode_hash_ = llvm::toHex(digest, true);
  }
  data_layout_ = m->getDataLayoutStr();

  // The Cpu and Insn layouts the bitcode was compiled against must be the host's.
  const auto* layout = m->getGlobalVariable("softcpu_layout", true);
  const auto* li = layout ? llvm::dyn_cast<llvm::ConstantDataArray>(layout->getInitializer())
                          : nullptr;
  if (!li || li->getNumElements() != softcpu_layout_count)
    throw std::runtime_error("semantics bitcode: no layout record");
  for (unsigned k = 0; k < softcpu_layout_count; ++k)
    if (li->getElementAsInteger(k) != softcpu_layout[k])
      throw std::runtime_error("semantics bitcode: Cpu/Insn layout differs from the host's");

  const auto* fam = m->getGlobalVariable("softcpu_handler_families", true);
  const auto* arr = fam ? llvm::dyn_cast<llvm::ConstantArray>(fam->getInitializer()) : nullptr;
  if (!arr || arr->getNumOperands() != softcpu_handler_family_count)
    throw std::runtime_error("semantics bitcode: the handler registry differs from the host's");
  for (unsigned k = 0; k < softcpu_handler_family_count; ++k) {
    const auto* entry = llvm::cast<llvm::ConstantStruct>(arr->getOperand(k));
    const llvm::GlobalVariable* table = global_of(entry->getOperand(1));
    std::vector<llvm::Function*> fns;
    if (table && table->hasInitializer()) collect_functions(table->getInitializer(), fns);
    const HandlerFamily& host = softcpu_handler_families[k];
    if (fns.size() != host.count)
      throw std::runtime_error(std::string("semantics bitcode: handler family ") + host.name +
                               " has " + std::to_string(fns.size()) + " handlers, the host " +
                               std::to_string(host.count));
    Family family{host.name, {}};
    for (uint32_t j = 0; j < host.count; ++j) {
      llvm::Function* f = fns[j];
      auto [it, fresh] = by_fn_.emplace(
          host.fns[j], Handler{f->getName().str(), f->getFunctionType(), false, 0, host.fns[j], f, false});
      if (fresh) by_name_.emplace(it->second.name, &it->second);
      family.handlers.push_back(&it->second);
    }
    families_.push_back(std::move(family));
  }
}

const Semantics::Handler* Semantics::settle(const Handler* h) const {
  if (!h || h->settled) return h;
  // Ours (by_fn_'s values are not const); compile thread only, like everything here.
  auto& w = const_cast<Handler&>(*h);
  memo_->seen.clear();
  w.inlinable = body_is_inlinable(*w.fn, memo_->seen, memo_->inlinable);
  // A handler that is not inlined costs its call and the status check after it.
  w.cost = w.inlinable ? inlined_cost(*w.fn, memo_->costs) : 8;
  w.settled = true;
  return h;
}

Semantics::Bodies Semantics::bodies() const {
  Bodies b;
  for (const llvm::Function& f : *module_) {
    if (f.isMaterializable()) ++b.total;
    else if (!f.isDeclaration()) ++b.total, ++b.read;
  }
  return b;
}

const std::vector<Semantics::Family>& Semantics::families() const {
  for (const Family& f : families_)
    for (const Handler* h : f.handlers) settle(h);
  return families_;
}

Semantics::~Semantics() = default;

const Semantics::Handler* Semantics::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : settle(it->second);
}

const Semantics::Handler* Semantics::find(softcpu::Handler fn) const {
  auto it = by_fn_.find(fn);
  return it == by_fn_.end() ? nullptr : settle(&it->second);
}

const void* Semantics::host_address(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : reinterpret_cast<const void*>(it->second->host);
}

bool Semantics::link_into(llvm::Module& m, std::string* error) const {
  // Copies of the bodies from the module read at start-up, which keeps every body it has read:
  // no second read of the bitcode. Reading a lazy copy of it per region (and linking that with
  // LinkOnlyNeeded) cost 4 ms of each region's ~40 ms (docs/design.md, "Compile cost, seventh
  // round"). `vmap` takes each bitcode value this region uses to its copy in `m`.
  llvm::ValueToValueMapTy vmap;
  std::vector<llvm::GlobalValue*> work;  // mapped, with a body or initializer still to copy
  std::unordered_set<const llvm::Constant*> seen;
  std::string bad;
  auto map = [&](llvm::GlobalValue* g) {
    if (vmap.count(g)) return;
    // Names with local linkage are the bitcode's own: a copy of its own, whatever `m` holds.
    llvm::GlobalValue* dst = g->hasLocalLinkage() ? nullptr : m.getNamedValue(g->getName());
    if (dst && dst->getValueType() != g->getValueType()) {
      bad = "'" + g->getName().str() + "' has another type in the region";
      return;
    }
    if (!dst) {
      if (auto* f = llvm::dyn_cast<llvm::Function>(g)) {
        auto* nf = llvm::Function::Create(f->getFunctionType(), f->getLinkage(),
                                          f->getAddressSpace(), f->getName(), &m);
        nf->copyAttributesFrom(f);
        dst = nf;
      } else if (auto* v = llvm::dyn_cast<llvm::GlobalVariable>(g)) {
        auto* nv = new llvm::GlobalVariable(m, v->getValueType(), v->isConstant(), v->getLinkage(),
                                            nullptr, v->getName(), nullptr,
                                            v->getThreadLocalMode(), v->getAddressSpace());
        nv->copyAttributesFrom(v);
        dst = nv;
      } else {
        bad = "'" + g->getName().str() + "' is neither a function nor a variable";
        return;
      }
    }
    vmap[g] = dst;
    if (!g->isDeclaration() && dst->isDeclaration()) work.push_back(g);
  };
  // Every global value an operand reaches (through constant expressions and aggregates).
  auto visit = [&](const llvm::Value* v, auto& self) -> void {
    if (auto* g = llvm::dyn_cast<llvm::GlobalValue>(v)) {
      map(const_cast<llvm::GlobalValue*>(g));
    } else if (auto* c = llvm::dyn_cast<llvm::Constant>(v)) {
      if (c->getNumOperands() && seen.insert(c).second)
        for (const llvm::Use& op : c->operands()) self(op.get(), self);
    }
  };

  // What the region declares and the bitcode defines, then what those reach.
  for (llvm::GlobalValue& d : m.global_values())
    if (d.isDeclaration() && !d.getName().starts_with("llvm."))
      if (llvm::GlobalValue* g = module_->getNamedValue(d.getName()); g && !g->isDeclaration())
        map(g);
  std::vector<std::pair<llvm::Function*, llvm::Function*>> bodies;
  std::vector<std::pair<llvm::GlobalVariable*, llvm::GlobalVariable*>> initializers;
  while (!work.empty() && bad.empty()) {
    llvm::GlobalValue* g = work.back();
    work.pop_back();
    if (auto* f = llvm::dyn_cast<llvm::Function>(g)) {
      if (!materialised(*f)) {
        bad = "cannot read the body of '" + f->getName().str() + "'";
        break;
      }
      bodies.emplace_back(f, llvm::cast<llvm::Function>(vmap[f]));
      if (f->hasPersonalityFn()) visit(f->getPersonalityFn(), visit);
      for (const llvm::BasicBlock& bb : *f)
        for (const llvm::Instruction& in : bb)
          for (const llvm::Use& op : in.operands()) visit(op.get(), visit);
    } else {
      auto* v = llvm::cast<llvm::GlobalVariable>(g);
      initializers.emplace_back(v, llvm::cast<llvm::GlobalVariable>(vmap[v]));
      visit(v->getInitializer(), visit);
    }
  }
  if (!bad.empty()) {
    *error = "linking the semantics failed: " + bad;
    return false;
  }
  for (auto [from, to] : bodies) {
    auto arg = to->arg_begin();
    for (llvm::Argument& a : from->args()) {
      arg->setName(a.getName());
      vmap[&a] = &*arg++;
    }
    llvm::SmallVector<llvm::ReturnInst*, 8> returns;
    llvm::CloneFunctionInto(to, from, vmap, llvm::CloneFunctionChangeType::DifferentModule, returns);
  }
  for (auto [from, to] : initializers) to->setInitializer(llvm::MapValue(from->getInitializer(), vmap));
  return true;
}

}  // namespace softcpu
