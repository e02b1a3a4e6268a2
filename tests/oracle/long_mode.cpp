// Long-mode translation of oracle cases (see long_mode.h and README.md, "The 64-bit runner").
//
// In 64-bit mode an instruction without REX.W and without 66 has 32-bit operand size and
// computes the same results and flags as in 32-bit mode; what differs is addressing (64-bit
// by default, disp32 alone is RIP-relative), a handful of one-byte opcodes (40-4F are REX,
// BCD/PUSHA/BOUND/... are invalid), the stack width and branch operand size (64 bits), and
// segmentation. The translation therefore:
//  - puts 0x67 (32-bit address size) before every instruction with a memory operand or
//    implicit 32-bit addressing (string ops, XLAT; LOOP/JECXZ: ECX as the counter), so
//    addresses are computed in 32 bits and wrap as in 32-bit mode;
//  - turns ModRM mod=00 rm=101 (disp32) into the SIB form with no base and no index;
//  - turns INC/DEC r16/r32 (40-4F) into FF /0, FF /1;
//  - re-emits relative JMP/Jcc as rel32 forms (LOOP/JECXZ keep rel8) with displacements for
//    the new lengths, and keeps the instruction boundaries to map a fault's RIP back;
//  - leaves everything else byte for byte (66 included);
//  - refuses what has no exact equivalent, with the reason.
// Every translated instruction is decoded again in 64-bit mode and must match the original's
// mnemonic, operand size and operands, so a mistranslation is reported, never run.
#include "tests/oracle/long_mode.h"

#include <Zydis/Zydis.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace softcpu::oracle {
namespace {

struct Decoders {
  ZydisDecoder d32, d64;
  Decoders() {
    ZydisDecoderInit(&d32, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    ZydisDecoderInit(&d64, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    // 0F 1A/1B and F3 0F 1E are hint NOPs on a P6 (and on hosts without MPX/CET).
    for (ZydisDecoder* d : {&d32, &d64}) {
      ZydisDecoderEnableMode(d, ZYDIS_DECODER_MODE_MPX, ZYAN_FALSE);
      ZydisDecoderEnableMode(d, ZYDIS_DECODER_MODE_CET, ZYAN_FALSE);
    }
  }
};

const Decoders& decoders() {
  static const Decoders d;
  return d;
}

bool is_legacy_prefix(uint8_t b) {
  switch (b) {
    case 0x26: case 0x2E: case 0x36: case 0x3E: case 0x64: case 0x65: case 0x66: case 0x67:
    case 0xF0: case 0xF2: case 0xF3:
      return true;
    default:
      return false;
  }
}

bool is_stack_pointer(ZydisRegister r) { return r == ZYDIS_REGISTER_ESP || r == ZYDIS_REGISTER_SP; }

// Mnemonics whose opcodes are invalid (or mean something else) in 64-bit mode.
bool invalid_in_long_mode(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_DAA: case ZYDIS_MNEMONIC_DAS: case ZYDIS_MNEMONIC_AAA:
    case ZYDIS_MNEMONIC_AAS: case ZYDIS_MNEMONIC_AAM: case ZYDIS_MNEMONIC_AAD:
    case ZYDIS_MNEMONIC_SALC: case ZYDIS_MNEMONIC_BOUND: case ZYDIS_MNEMONIC_PUSHA:
    case ZYDIS_MNEMONIC_PUSHAD: case ZYDIS_MNEMONIC_POPA: case ZYDIS_MNEMONIC_POPAD:
    case ZYDIS_MNEMONIC_INTO: case ZYDIS_MNEMONIC_LDS: case ZYDIS_MNEMONIC_LES:
    case ZYDIS_MNEMONIC_ARPL:
      return true;
    default:
      return false;
  }
}

bool is_system(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_INT: case ZYDIS_MNEMONIC_SYSCALL: case ZYDIS_MNEMONIC_SYSRET:
    case ZYDIS_MNEMONIC_SYSENTER: case ZYDIS_MNEMONIC_SYSEXIT: case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD: case ZYDIS_MNEMONIC_IRETQ:
      return true;
    default:
      return false;
  }
}

bool is_loop(ZydisMnemonic m) {
  return m == ZYDIS_MNEMONIC_LOOP || m == ZYDIS_MNEMONIC_LOOPE || m == ZYDIS_MNEMONIC_LOOPNE ||
         m == ZYDIS_MNEMONIC_JECXZ;
}

// One original instruction and its translation plan.
struct Insn {
  uint32_t off = 0, len = 0;  // in the original code (stripped LOCK prefixes included)
  uint8_t body[ZYDIS_MAX_INSTRUCTION_LENGTH] = {};  // the decoded bytes (without those LOCKs)
  uint32_t body_len = 0;
  unsigned locks = 0;  // LOCK prefixes stripped to decode it (an illegal LOCK: #UD)
  ZydisDecodedInstruction zi{};
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT]{};
  enum Kind { PLAIN, BRANCH, LOOP, LEA16 } kind = PLAIN;
  uint8_t lea[24] = {};  // LEA16: the replacement
  uint32_t lea_len = 0;
  bool addr32 = false;   // needs 0x67
  int64_t target = 0;    // BRANCH/LOOP: the original target offset
  uint32_t new_off = 0, new_len = 0;
};

std::string mnemonic(const Insn& in) { return ZydisMnemonicGetString(in.zi.mnemonic); }

// Decodes the instruction at `p`; an instruction Zydis rejects only for its LOCK prefix is
// decoded without it (and raises #UD in both modes).
bool decode32(const uint8_t* p, uint32_t n, Insn& in) {
  const ZydisDecoder& d = decoders().d32;
  if (ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, p, n, &in.zi, in.ops))) {
    in.len = in.body_len = in.zi.length;
    std::memcpy(in.body, p, in.len);
    return true;
  }
  uint8_t tmp[ZYDIS_MAX_INSTRUCTION_LENGTH];
  uint32_t t = 0, i = 0;
  unsigned locks = 0;
  for (; i < n && is_legacy_prefix(p[i]); ++i) {
    if (p[i] == 0xF0) ++locks;
    else if (t < sizeof tmp) tmp[t++] = p[i];
  }
  if (!locks) return false;
  for (; i < n && t < sizeof tmp; ++i) tmp[t++] = p[i];
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, tmp, t, &in.zi, in.ops))) return false;
  in.locks = locks;
  in.body_len = in.zi.length;
  in.len = in.body_len + locks;
  std::memcpy(in.body, tmp, in.body_len);
  return true;
}

// LEA with 16-bit addressing has an exact 64-bit-mode equivalent: the low 16 bits of a sum
// depend only on the low 16 bits of its terms, so LEA r16 with the same registers in 32-bit
// addressing (EBX+ESI+disp for BX+SI+disp) gives the same result, and LEA r32 (the 16-bit
// address zero-extended) is that followed by MOVZX r32,r16 (neither touches the flags).
std::string lea16(Insn& in) {
  const ZydisDecodedInstruction& zi = in.zi;
  static const uint8_t base_of[8] = {3, 3, 5, 5, 6, 7, 5, 3};  // EBX EBX EBP EBP ESI EDI EBP EBX
  static const int index_of[8] = {6, 7, 6, 7, -1, -1, -1, -1};  // ESI EDI ESI EDI
  if (in.locks) return "LOCK (#UD) on a rewritten instruction";
  const unsigned mod = zi.raw.modrm.mod, rm = zi.raw.modrm.rm, reg = zi.raw.modrm.reg;
  int32_t disp = 0;
  if (zi.raw.disp.size) disp = int32_t(zi.raw.disp.value);
  uint32_t k = 0;
  uint8_t* p = in.lea;
  p[k++] = 0x67;
  for (unsigned i = 0; i < zi.raw.prefix_count; ++i)
    if (in.body[i] != 0x67) p[k++] = in.body[i];
  p[k++] = 0x8D;
  if (mod == 0 && rm == 6) {  // disp16 alone
    p[k++] = uint8_t(reg << 3 | 4);
    p[k++] = 0x25;
  } else if (index_of[rm] >= 0) {
    p[k++] = uint8_t(0x80 | reg << 3 | 4);
    p[k++] = uint8_t(index_of[rm] << 3 | base_of[rm]);
  } else {
    p[k++] = uint8_t(0x80 | reg << 3 | base_of[rm]);
  }
  std::memcpy(p + k, &disp, 4);
  k += 4;
  if (zi.operand_width == 32) {
    p[k++] = 0x0F;
    p[k++] = 0xB7;
    p[k++] = uint8_t(0xC0 | reg << 3 | reg);
  } else if (zi.operand_width != 16) {
    return "16-bit addressing";
  }
  in.kind = Insn::LEA16;
  in.lea_len = k;
  return "";
}

// Classifies a decoded instruction; returns the reason it cannot run in 64-bit mode, or "".
std::string classify(Insn& in, uint32_t code_len) {
  const ZydisDecodedInstruction& zi = in.zi;
  if (zi.attributes & ZYDIS_ATTRIB_HAS_ADDRESSSIZE) {
    if (zi.mnemonic == ZYDIS_MNEMONIC_LEA && zi.address_width == 16) return lea16(in);
    return "16-bit addressing";
  }
  if (invalid_in_long_mode(zi.mnemonic)) return "invalid in 64-bit mode";
  if (zi.opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && zi.opcode == 0x82) {
    // Invalid in 64-bit mode; outside it an alias of 80 (SDM vol.2 A.3, "Immediate Grp 1"),
    // so the host runs 80 in its place.
    in.body[zi.raw.modrm.offset - 1] = 0x80;
  }
  if (zi.attributes & (ZYDIS_ATTRIB_HAS_SEGMENT_FS | ZYDIS_ATTRIB_HAS_SEGMENT_GS))
    return "FS/GS base";
  if (zi.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR) return "far transfer";
  if (is_system(zi.mnemonic)) return "system";
  bool stack = false;
  for (unsigned i = 0; i < zi.operand_count; ++i) {
    const ZydisDecodedOperand& o = in.ops[i];
    if (o.type == ZYDIS_OPERAND_TYPE_POINTER) return "far transfer";
    if (o.type == ZYDIS_OPERAND_TYPE_REGISTER) {
      if (ZydisRegisterGetClass(o.reg.value) == ZYDIS_REGCLASS_SEGMENT) return "segment registers";
      if (o.visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN && is_stack_pointer(o.reg.value))
        stack = true;
    }
    if (o.type == ZYDIS_OPERAND_TYPE_MEMORY) {
      if (o.visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN && is_stack_pointer(o.mem.base)) continue;
      // A write through CS raises #GP in 32-bit mode (code segment); 64-bit mode ignores CS.
      if (o.mem.segment == ZYDIS_REGISTER_CS && (o.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
        return "write through CS";
      in.addr32 = true;
    }
  }
  if (stack) {
    // 16-bit PUSH/POP/PUSHF/POPF move 2 bytes and the stack pointer by 2 in both modes (the
    // stack is the runner's own, below 4 GiB); everything else pushes or pops 8 bytes.
    const ZydisMnemonic m = zi.mnemonic;
    const bool same = zi.operand_width == 16 && (m == ZYDIS_MNEMONIC_PUSH || m == ZYDIS_MNEMONIC_POP ||
                                                 m == ZYDIS_MNEMONIC_PUSHF || m == ZYDIS_MNEMONIC_POPF);
    if (!same) return "stack width";
  }
  if (zi.attributes & ZYDIS_ATTRIB_IS_RELATIVE) {
    if (zi.operand_width == 16) return "16-bit branch";  // EIP truncated to 16 bits
    if (is_loop(zi.mnemonic)) {
      in.kind = Insn::LOOP;
      in.addr32 = true;  // ECX as the counter
    } else if (zi.meta.branch_type != ZYDIS_BRANCH_TYPE_NONE &&
               (zi.mnemonic == ZYDIS_MNEMONIC_JMP || zi.meta.category == ZYDIS_CATEGORY_COND_BR)) {
      in.kind = Insn::BRANCH;
    } else {
      return "relative operand";
    }
    in.target = int64_t(in.off) + in.len + zi.raw.imm[0].value.s;
    if (in.target < 0 || in.target > int64_t(code_len)) return "branch leaves the code";
  }
  if (in.locks && in.kind != Insn::PLAIN) return "LOCK (#UD) on a rewritten instruction";
  return "";
}

std::string hex_of(const uint8_t* p, uint32_t n) {
  std::string s;
  char b[4];
  for (uint32_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02X", p[i]);
    s += (i ? " " : "") + std::string(b);
  }
  return s;
}

bool is_incdec_4x(const ZydisDecodedInstruction& zi) {
  return zi.opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && zi.opcode >= 0x40 && zi.opcode <= 0x4F &&
         !(zi.attributes & ZYDIS_ATTRIB_HAS_MODRM);
}

bool is_disp32_only(const ZydisDecodedInstruction& zi) {
  return (zi.attributes & ZYDIS_ATTRIB_HAS_MODRM) && zi.raw.modrm.mod == 0 && zi.raw.modrm.rm == 5;
}

uint64_t width_mask(unsigned bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }

// The 64-bit decode of a translated instruction must match the original's.
bool same_in_long_mode(const Insn& in, const uint8_t* p, uint32_t n) {
  ZydisDecodedInstruction zi{};
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoders().d64, p, n, &zi, ops))) return false;
  if (zi.mnemonic != in.zi.mnemonic) return false;
  if (in.kind == Insn::LEA16) {  // LEA r16/r32 with 32-bit addressing [; MOVZX r32,r16]
    const ZydisRegister dst = in.ops[0].reg.value;
    if (zi.address_width != 32 || zi.operand_width != in.zi.operand_width ||
        ops[0].reg.value != dst)
      return false;
    if (in.zi.operand_width == 16) return zi.length == n;
    const uint32_t first = zi.length;
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoders().d64, p + first, n - first, &zi, ops)))
      return false;
    return zi.mnemonic == ZYDIS_MNEMONIC_MOVZX && first + zi.length == n &&
           ops[0].reg.value == dst &&
           ops[1].reg.value == ZydisRegisterEncode(ZYDIS_REGCLASS_GPR16, ZydisRegisterGetId(dst));
  }
  if (zi.length != n) return false;
  if (in.kind != Insn::PLAIN) return true;  // operand size 64, displacement rewritten
  if (zi.operand_width != in.zi.operand_width) return false;
  if (zi.operand_count_visible != in.zi.operand_count_visible) return false;
  for (unsigned i = 0; i < zi.operand_count_visible; ++i) {
    const ZydisDecodedOperand &a = in.ops[i], &b = ops[i];
    if (a.type != b.type || a.size != b.size) return false;
    switch (a.type) {
      case ZYDIS_OPERAND_TYPE_REGISTER:
        if (a.reg.value != b.reg.value) return false;
        break;
      case ZYDIS_OPERAND_TYPE_MEMORY:
        if (a.mem.type != b.mem.type || a.mem.base != b.mem.base || a.mem.index != b.mem.index ||
            a.mem.scale != b.mem.scale || uint32_t(a.mem.disp.value) != uint32_t(b.mem.disp.value))
          return false;
        break;
      case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        if (((a.imm.value.u ^ b.imm.value.u) & width_mask(a.size)) != 0) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

uint32_t LongModeCode::original_eip(uint32_t eip) const {
  for (const auto& [t, o] : bounds)
    if (eip == ORACLE_CODE_ADDR + t) return ORACLE_CODE_ADDR + o;
  return eip;
}

LongModeCode translate_to_long_mode(const uint8_t* code, uint32_t len) {
  LongModeCode r;
  std::vector<Insn> insns;
  // Decode and classify.
  for (uint32_t off = 0; off < len;) {
    Insn in;
    in.off = off;
    if (!decode32(code + off, len - off, in)) {
      uint32_t op = off;  // name it by its opcode bytes
      while (op < len && is_legacy_prefix(code[op])) ++op;
      r.why = "undecodable: " + hex_of(code + off, std::min(len, op + (op < len && code[op] == 0x0F ? 2 : 1)) - off);
      return r;
    }
    if (std::string why = classify(in, len); !why.empty()) {
      r.why = why + ": " + mnemonic(in);
      return r;
    }
    off += in.len;
    insns.push_back(in);
  }
  // Lengths and offsets.
  uint32_t pos = 0;
  for (Insn& in : insns) {
    in.new_off = pos;
    const uint32_t pfx = in.zi.raw.prefix_count;
    if (in.kind == Insn::BRANCH)
      in.new_len = pfx + (in.zi.mnemonic == ZYDIS_MNEMONIC_JMP ? 5 : 6);
    else if (in.kind == Insn::LOOP)
      in.new_len = 1 + pfx + 2;
    else if (in.kind == Insn::LEA16)
      in.new_len = in.lea_len;
    else
      in.new_len = unsigned(in.addr32) + in.locks + in.body_len +
                   unsigned(is_disp32_only(in.zi)) + unsigned(is_incdec_4x(in.zi));
    pos += in.new_len;
  }
  if (pos > ORACLE_CODE64_MAX) {
    r.why = "too long";
    return r;
  }
  for (const Insn& in : insns) r.bounds.push_back({in.new_off, in.off});
  r.bounds.push_back({pos, len});
  auto new_offset = [&](int64_t orig, uint32_t& out) {
    for (const auto& [t, o] : r.bounds)
      if (int64_t(o) == orig) { out = t; return true; }
    return false;
  };
  // Emit.
  for (const Insn& in : insns) {
    uint8_t* p = r.code + in.new_off;
    uint32_t k = 0;
    uint32_t locks_at = 0;  // where the LOCK prefixes are (the 64-bit check decodes without)
    const uint32_t pfx = in.zi.raw.prefix_count;
    if (in.kind == Insn::LEA16) {
      std::memcpy(p, in.lea, in.lea_len);
      k = in.lea_len;
    } else if (in.kind != Insn::PLAIN) {
      uint32_t tgt;
      if (!new_offset(in.target, tgt)) {
        r.why = "branch into an instruction: " + mnemonic(in);
        return r;
      }
      if (in.kind == Insn::LOOP) p[k++] = 0x67;
      std::memcpy(p + k, in.body, pfx);
      k += pfx;
      const int64_t next = int64_t(in.new_off) + in.new_len, rel = int64_t(tgt) - next;
      if (in.kind == Insn::LOOP) {
        if (rel < -128 || rel > 127) {
          r.why = "too long";
          return r;
        }
        p[k++] = in.zi.opcode;
        p[k++] = uint8_t(int8_t(rel));
      } else {
        if (in.zi.mnemonic == ZYDIS_MNEMONIC_JMP) {
          p[k++] = 0xE9;
        } else {
          p[k++] = 0x0F;
          p[k++] = uint8_t(0x80 | (in.zi.opcode & 0x0F));  // 7x and 0F 8x: cc in the low nibble
        }
        const int32_t rel32 = int32_t(rel);
        std::memcpy(p + k, &rel32, 4);
        k += 4;
      }
    } else {
      if (in.addr32) p[k++] = 0x67;
      locks_at = k;
      for (unsigned i = 0; i < in.locks; ++i) p[k++] = 0xF0;
      const ZydisDecodedInstruction& zi = in.zi;
      if (is_incdec_4x(zi)) {
        std::memcpy(p + k, in.body, in.body_len - 1);  // prefixes
        k += in.body_len - 1;
        p[k++] = 0xFF;
        p[k++] = uint8_t((zi.opcode < 0x48 ? 0xC0 : 0xC8) | (zi.opcode & 7));
      } else if (is_disp32_only(zi)) {
        const uint32_t m = zi.raw.modrm.offset;
        std::memcpy(p + k, in.body, m);
        k += m;
        p[k++] = uint8_t((in.body[m] & 0xF8) | 4);  // SIB follows
        p[k++] = 0x25;                              // no index, no base: disp32
        std::memcpy(p + k, in.body + m + 1, in.body_len - m - 1);
        k += in.body_len - m - 1;
      } else {
        std::memcpy(p + k, in.body, in.body_len);
        k += in.body_len;
      }
    }
    if (k != in.new_len) {
      r.why = "internal length error: " + mnemonic(in);
      return r;
    }
    uint8_t check[ORACLE_CODE64_MAX];
    std::memcpy(check, p, locks_at);
    std::memcpy(check + locks_at, p + locks_at + in.locks, k - locks_at - in.locks);
    if (!same_in_long_mode(in, check, k - in.locks)) {
      r.why = "decodes differently in 64-bit mode: " + mnemonic(in);
      return r;
    }
  }
  r.len = pos;
  r.ok = true;
  return r;
}

std::string why_category(const std::string& why) {
  const size_t c = why.find(':');
  return c == std::string::npos ? why : why.substr(0, c);
}

std::string long_mode_describe(const OracleCase& c) {
  const LongModeCode t = translate_to_long_mode(c.code, c.code_len);
  return t.ok ? hex_of(t.code, t.len) : "not translatable (" + t.why + ")";
}

const std::vector<OracleCase64>& LongModeBatch::prepare(const std::vector<OracleCase>& cases) {
  recs_.clear();
  why_.assign(cases.size(), std::string());
  code_.resize(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    code_[i] = translate_to_long_mode(cases[i].code, cases[i].code_len);
    if (!code_[i].ok) {
      why_[i] = code_[i].why;
      continue;
    }
    OracleCase64 rec{};
    rec.c = cases[i];
    std::memcpy(rec.code64, code_[i].code, code_[i].len);
    rec.code64_len = code_[i].len;
    recs_.push_back(rec);
  }
  return recs_;
}

void LongModeBatch::finish(const std::vector<OracleResult>& sent,
                           std::vector<OracleResult>& out) const {
  out.resize(code_.size());
  size_t j = 0;
  for (size_t i = 0; i < code_.size(); ++i) {
    if (!code_[i].ok || j >= sent.size()) {
      out[i] = OracleResult{};
      out[i].vector = ORACLE_VECTOR_NOT_RUN;
      continue;
    }
    out[i] = sent[j++];
    if (out[i].vector >= 0) out[i].fault_eip = code_[i].original_eip(out[i].fault_eip);
  }
}

NativeCoverage::PerForm& NativeCoverage::at(const std::string& form) {
  auto it = index_.find(form);
  if (it != index_.end()) return forms_[it->second];
  index_.emplace(form, forms_.size());
  forms_.push_back(PerForm{});
  forms_.back().name = form;
  return forms_.back();
}

uint64_t NativeCoverage::not_run_count(const std::string& form) const {
  auto it = index_.find(form);
  if (it == index_.end()) return 0;
  uint64_t n = 0;
  for (const auto& [w, c] : forms_[it->second].why) n += c;
  return n;
}

bool NativeCoverage::any() const {
  for (const PerForm& f : forms_)
    if (!f.why.empty()) return true;
  return false;
}

void NativeCoverage::print() const {
  // Whole forms, grouped by reason category.
  struct Group {
    std::vector<std::string> forms;
    uint64_t cases = 0;
  };
  std::map<std::string, Group> whole;
  size_t nforms = 0, npartial = 0;
  uint64_t ncases = 0, npartial_cases = 0;
  for (const PerForm& f : forms_) {
    if (f.why.empty()) continue;
    uint64_t n = 0;
    std::map<std::string, uint64_t> cats;
    for (const auto& [w, c] : f.why) {
      n += c;
      cats[why_category(w)] += c;
    }
    if (f.ran) {
      ++npartial;
      npartial_cases += n;
      continue;
    }
    ++nforms;
    ncases += n;
    // A form is listed under the reason of most of its cases.
    auto best = cats.begin();
    for (auto it = cats.begin(); it != cats.end(); ++it)
      if (it->second > best->second) best = it;
    whole[best->first].forms.push_back(f.name);
    whole[best->first].cases += n;
  }
  std::printf("%zu forms (%llu cases) not runnable on a 64-bit host:\n", nforms,
              (unsigned long long)ncases);
  for (const auto& [cat, g] : whole) {
    std::printf("  %s (%zu forms, %llu cases):", cat.c_str(), g.forms.size(),
                (unsigned long long)g.cases);
    for (size_t i = 0; i < g.forms.size(); ++i)
      std::printf("%s %s", i ? "," : "", g.forms[i].c_str());
    std::printf("\n");
  }
  if (npartial) {
    std::printf("%zu forms partly runnable on a 64-bit host (%llu cases not run):\n", npartial,
                (unsigned long long)npartial_cases);
    for (const PerForm& f : forms_) {
      if (f.why.empty() || !f.ran) continue;
      // Per reason: the count and the first few details (mnemonics, opcode bytes).
      std::map<std::string, std::pair<uint64_t, std::vector<std::string>>> cats;
      for (const auto& [w, c] : f.why) {
        auto& [n, details] = cats[why_category(w)];
        n += c;
        const size_t colon = w.find(':');
        if (colon != std::string::npos) details.push_back(w.substr(colon + 2));
      }
      std::printf("  %s: %llu run", f.name.c_str(), (unsigned long long)f.ran);
      for (const auto& [cat, nd] : cats) {
        std::printf("; %llu %s", (unsigned long long)nd.first, cat.c_str());
        for (size_t i = 0; i < nd.second.size() && i < 4; ++i)
          std::printf("%s%s", i ? ", " : " (", nd.second[i].c_str());
        if (nd.second.size() > 4) std::printf(", ... %zu kinds", nd.second.size());
        if (!nd.second.empty()) std::printf(")");
      }
      std::printf("\n");
    }
  }
}

bool long_mode_self_test() {
  // 32-bit code -> 64-bit code, or "!" and the reason it is not run.
  static const struct { const char* in; const char* out; } table[] = {
      {"01 05 00 00 34 00", "67 01 04 25 00 00 34 00"},        // disp32 -> SIB, 0x67
      {"66 F7 05 04 00 34 00 34 12", "67 66 F7 04 25 04 00 34 00 34 12"},
      {"8B 44 B3 08", "67 8B 44 B3 08"},                      // [ebx+esi*4+8]
      {"8D 04 E5 78 56 34 12", "67 8D 04 E5 78 56 34 12"},    // SIB without base: kept
      {"01 C8", "01 C8"},                                     // no memory operand
      {"40", "FF C0"}, {"66 4F", "66 FF CF"},                 // INC/DEC r32/r16
      {"A1 00 00 34 00", "67 A1 00 00 34 00"},                // moffs32
      {"F3 A5", "67 F3 A5"}, {"D7", "67 D7"}, {"2E AC", "67 2E AC"},
      {"F0 0F C1 05 00 00 34 00", "67 F0 0F C1 04 25 00 00 34 00"},
      {"F0 39 05 00 00 34 00", "67 F0 39 04 25 00 00 34 00"},  // illegal LOCK kept (#UD)
      {"82 C0 01", "80 C0 01"},                               // 82 alias of 80
      {"74 01 40 90", "0F 84 02 00 00 00 FF C0 90"},          // Jcc re-displaced
      {"EB FE", "E9 FB FF FF FF"},
      {"90 E2 FD", "90 67 E2 FC"},                            // LOOP with ECX
      {"E3 00", "67 E3 00"},
      {"66 50 66 58", "66 50 66 58"},                         // 16-bit PUSH/POP
      {"67 8D 00", "67 8D 84 33 00 00 00 00 0F B7 C0"},       // LEA addr16 -> addr32 + MOVZX
      {"66 67 8D 4E 10", "67 66 8D 8D 10 00 00 00"},
      {"27", "!invalid in 64-bit mode"}, {"D4 0A", "!invalid in 64-bit mode"},
      {"D6", "!invalid in 64-bit mode"}, {"60", "!invalid in 64-bit mode"},
      {"50", "!stack width"}, {"9C", "!stack width"}, {"E8 00 00 00 00", "!stack width"},
      {"C3", "!stack width"}, {"C9", "!stack width"},
      {"67 8B 00", "!16-bit addressing"}, {"64 8B 00", "!FS/GS base"},
      {"8E D8", "!segment registers"}, {"EA 00 00 00 00 08 00", "!far transfer"},
      {"CD 80", "!system"}, {"66 74 00", "!16-bit branch"}, {"74 05", "!branch leaves the code"},
      {"74 01 66 40 90", "!branch into an instruction"},
      {"2E 89 05 00 00 34 00", "!write through CS"},
  };
  auto parse = [](const char* h, std::vector<uint8_t>& out) {
    unsigned x;
    int n;
    while (std::sscanf(h, " %2x%n", &x, &n) == 1) {
      out.push_back(uint8_t(x));
      h += n;
    }
  };
  bool ok = true;
  for (const auto& t : table) {
    std::vector<uint8_t> in, want;
    parse(t.in, in);
    const LongModeCode r = translate_to_long_mode(in.data(), uint32_t(in.size()));
    std::string got = r.ok ? hex_of(r.code, r.len) : "!" + why_category(r.why);
    if (t.out[0] != '!') {
      parse(t.out, want);
      if (r.ok && (r.len != want.size() || std::memcmp(r.code, want.data(), r.len) != 0)) ok = false;
      if (!r.ok) ok = false;
    } else if (got != t.out) {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "long-mode translation self-test: %s -> %s, expected %s\n", t.in,
                   got.c_str(), t.out);
      return false;
    }
  }
  // A fault's EIP maps back: 40 (inc eax) -> FF C0, so the ud2 at 1 is at 2 translated.
  const uint8_t code[] = {0x40, 0x0F, 0x0B};
  const LongModeCode r = translate_to_long_mode(code, sizeof code);
  if (!r.ok || r.original_eip(ORACLE_CODE_ADDR + 2) != ORACLE_CODE_ADDR + 1 ||
      r.original_eip(ORACLE_CODE_ADDR + 4) != ORACLE_CODE_ADDR + 3) {
    std::fprintf(stderr, "long-mode translation self-test: fault EIP not mapped back\n");
    return false;
  }
  return true;
}

int elf_class(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return 0;
  unsigned char h[5] = {};
  const size_t n = std::fread(h, 1, sizeof h, f);
  std::fclose(f);
  if (n != sizeof h || std::memcmp(h, "\x7F" "ELF", 4) != 0) return 0;
  return h[4] == 1 ? 32 : h[4] == 2 ? 64 : 0;
}

}  // namespace softcpu::oracle
