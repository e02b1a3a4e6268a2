// The x87 backend's quick paths (see fpu_host.h, fpu_quick_exec): the frequent instructions
// without loading and saving the whole guest state (FRSTOR + FNSAVE, some 250 cycles a pair).
//
// - Stack-only forms (FLD ST(i), FST/FSTP ST(i), FXCH, FCHS, FABS, FLDZ, FLD1) are moves of
//   80-bit registers and tags, done in software (SDM vol.2 on each: no exception but a stack
//   fault, which we leave to the round trip; C1 cleared).
// - Arithmetic, compares, conversions, loads and stores run the same instruction on the host
//   x87 with only its operands loaded (FLD m80 and FSTP m80 move any register contents
//   unchanged and raise nothing: SDM vol.2 FLD, FSTP), under the guest's rounding and
//   precision control with every exception masked. The host status word then gives the
//   exception flags this instruction raised and the condition codes it defines.
//
// A case is refused (nothing changed) when a stack fault would occur, when the guest leaves
// #U unmasked (an unmasked underflow is raised for tiny exact results too, which the masked
// run does not report: SDM vol.1 4.9.1.5), or when the masked run raised an exception the
// guest leaves unmasked (the hardware would then neither deliver the result nor pop).
// tests/interp/fpu_test.cpp (Fpu.QuickPathsMatchTheRoundTrip) compares every form here with
// the round trip over random states.
#include <cstring>

#include "interp/fpu_host.h"
#include "interp/fpu_host_cases.h"

namespace softcpu {

namespace {

// What the quick path does with one (normalized) code.
enum QuickKind : uint8_t {
  Q_NONE,   // round trip
  Q_HOST,   // the host x87 on the operands
  Q_FLD,    // FLD ST(i)
  Q_FST,    // FST ST(i)
  Q_FSTP,   // FSTP ST(i)
  Q_FXCH,   // FXCH ST(i)
  Q_FCHS,
  Q_FABS,
  Q_FLDZ,
  Q_FLD1,
};

struct QuickForm {
  uint8_t kind = Q_NONE;
  uint8_t nin = 0;      // Q_HOST: guest registers loaded into the host (ST(0), then ST(other))
  int8_t delta = 0;     // stack depth change: +1 push, -1 / -2 pops
  bool sti = false;     // the second operand is ST(i) from the ModRM byte (else ST(1))
  bool store = false;   // writes its memory operand
  uint16_t cc = 0;      // condition-code bits taken from the host status word
};

constexpr uint16_t CC_C1 = FSW_C1;
constexpr uint16_t CC_ALL = FSW_CC;

constexpr QuickForm host_form(uint8_t nin, int8_t delta, bool sti, uint16_t cc,
                              bool store = false) {
  QuickForm q;
  q.kind = Q_HOST;
  q.nin = nin;
  q.delta = delta;
  q.sti = sti;
  q.cc = cc;
  q.store = store;
  return q;
}
constexpr QuickForm soft_form(QuickKind k) {
  QuickForm q;
  q.kind = k;
  return q;
}

// Register forms by ESC opcode and ModRM (C0-FF); memory forms by ESC opcode and reg field
// (code normalized to mod 00, rm 111 as fpu_host.cpp runs them). SDM vol.2 tables.
constexpr QuickForm classify(uint16_t code) {
  const unsigned esc = (code >> 8) & 7, modrm = code & 0xFF, reg = (modrm >> 3) & 7;
  if (modrm < 0xC0) {
    switch (esc) {
      case 0: case 2: case 4: case 6:  // FADD..FDIVR m32fp / m32int / m64fp / m16int
        return host_form(1, reg == 3 ? -1 : 0, false, (reg == 2 || reg == 3) ? CC_ALL : CC_C1);
      case 1:  // FLD m32fp, FST m32fp, FSTP m32fp
        if (reg == 0) return host_form(0, 1, false, CC_C1);
        if (reg == 2 || reg == 3) return host_form(1, reg == 3 ? -1 : 0, false, CC_C1, true);
        return {};
      case 3:  // FILD m32int, FIST(P) m32int, FLD m80fp, FSTP m80fp
        if (reg == 0 || reg == 5) return host_form(0, 1, false, CC_C1);
        if (reg == 2 || reg == 3 || reg == 7)
          return host_form(1, reg == 2 ? 0 : -1, false, CC_C1, true);
        return {};
      case 5:  // FLD m64fp, FST(P) m64fp
        if (reg == 0) return host_form(0, 1, false, CC_C1);
        if (reg == 2 || reg == 3) return host_form(1, reg == 3 ? -1 : 0, false, CC_C1, true);
        return {};
      case 7:  // FILD m16int, FIST(P) m16int, FBLD, FILD m64int, FBSTP, FISTP m64int
        if (reg == 0 || reg == 4 || reg == 5) return host_form(0, 1, false, CC_C1);
        if (reg == 2 || reg == 3 || reg == 6 || reg == 7)
          return host_form(1, reg == 2 ? 0 : -1, false, CC_C1, true);
        return {};
    }
    return {};
  }
  switch (esc) {
    case 0:  // FADD FMUL FCOM FCOMP FSUB FSUBR FDIV FDIVR ST(0), ST(i)
      return host_form(2, reg == 3 ? -1 : 0, true, (reg == 2 || reg == 3) ? CC_ALL : CC_C1);
    case 1:
      if (modrm < 0xC8) return soft_form(Q_FLD);
      if (modrm < 0xD0) return soft_form(Q_FXCH);
      switch (modrm) {
        case 0xE0: return soft_form(Q_FCHS);
        case 0xE1: return soft_form(Q_FABS);
        case 0xE4: return host_form(1, 0, false, CC_ALL);  // FTST
        case 0xE8: return soft_form(Q_FLD1);
        case 0xE9: case 0xEA: case 0xEB: case 0xEC: case 0xED:  // FLDL2T .. FLDLN2 (RC)
          return host_form(0, 1, false, CC_C1);
        case 0xEE: return soft_form(Q_FLDZ);
        case 0xF0: return host_form(1, 0, false, CC_C1);    // F2XM1
        case 0xF1: return host_form(2, -1, false, CC_C1);   // FYL2X
        case 0xF3: return host_form(2, -1, false, CC_C1);   // FPATAN
        case 0xF4: return host_form(1, 1, false, CC_C1);    // FXTRACT
        case 0xF9: return host_form(2, -1, false, CC_C1);   // FYL2XP1
        case 0xFA: return host_form(1, 0, false, CC_C1);    // FSQRT
        case 0xFC: return host_form(1, 0, false, CC_C1);    // FRNDINT
        case 0xFD: return host_form(2, 0, false, CC_C1);    // FSCALE
        case 0xFE: case 0xFF:                                // FSIN, FCOS (C2: out of range)
          return host_form(1, 0, false, CC_C1 | FSW_C2);
        // FPTAN, FSINCOS (no push when out of range), FPREM, FPREM1 (C0-C3 kept on #IA, so
        // they cannot come from the host's status word), FXAM, FNOP, ...
        default: return {};
      }
    case 2:
      if (modrm < 0xE0) return host_form(2, 0, true, 0);  // FCMOVB/E/BE/U: C1 kept
      if (modrm == 0xE9) return host_form(2, -2, false, CC_ALL);  // FUCOMPP
      return {};
    case 3:
      if (modrm < 0xE0) return host_form(2, 0, true, 0);  // FCMOVNB/NE/NBE/NU: C1 kept
      if (modrm >= 0xE8 && modrm < 0xF8) return host_form(2, 0, true, 0);  // FUCOMI FCOMI
      return {};
    case 4:  // FADD FMUL FSUBR FSUB FDIVR FDIV ST(i), ST(0)
      if (modrm < 0xD0 || modrm >= 0xE0) return host_form(2, 0, true, CC_C1);
      return {};
    case 5:
      if (modrm >= 0xD0 && modrm < 0xD8) return soft_form(Q_FST);
      if (modrm >= 0xD8 && modrm < 0xE0) return soft_form(Q_FSTP);
      if (modrm >= 0xE0 && modrm < 0xF0)  // FUCOM, FUCOMP
        return host_form(2, modrm >= 0xE8 ? -1 : 0, true, CC_ALL);
      return {};
    case 6:  // FADDP FMULP FSUBRP FSUBP FDIVRP FDIVP ST(i), ST(0); FCOMPP
      if (modrm < 0xD0 || modrm >= 0xE0) return host_form(2, -1, true, CC_C1);
      if (modrm == 0xD9) return host_form(2, -2, false, CC_ALL);
      return {};
    case 7:
      if (modrm >= 0xE8 && modrm < 0xF8) return host_form(2, -1, true, 0);  // F(U)COMIP
      return {};
  }
  return {};
}

struct QuickTable {
  QuickForm f[8 * 256];
  constexpr QuickTable() {
    for (unsigned k = 0; k < 8 * 256; ++k) f[k] = classify(uint16_t(k));
  }
};
constexpr QuickTable kQuick;

bool empty(const FpuState& f, unsigned phys) { return fpu_tag_at(f.tw, phys & 7) == 3; }

// The stack-only forms: moves of registers and tags, C1 cleared (SDM vol.2 FLD, FST, FXCH,
// FCHS, FABS, FLD1/FLDZ), C0 C2 C3 left alone.
bool soft_exec(FpuState& f, unsigned kind, unsigned i) {
  const unsigned top = fpu_top(f.sw), sti = (top + i) & 7, below = (top - 1) & 7;
  unsigned new_top = top;
  switch (kind) {
    case Q_FLD:
      if (empty(f, sti) || !empty(f, below)) return false;
      f.st[below] = f.st[sti];
      fpu_set_tag(f, below, fpu_tag_at(f.tw, sti));
      new_top = below;
      break;
    case Q_FST:
    case Q_FSTP:
      if (empty(f, top)) return false;
      f.st[sti] = f.st[top];
      fpu_set_tag(f, sti, fpu_tag_at(f.tw, top));
      if (kind == Q_FSTP) {
        fpu_set_tag(f, top, 3);
        new_top = (top + 1) & 7;
      }
      break;
    case Q_FXCH: {
      if (empty(f, top) || empty(f, sti)) return false;
      const Float80 r = f.st[top];
      const unsigned t = fpu_tag_at(f.tw, top);
      f.st[top] = f.st[sti];
      fpu_set_tag(f, top, fpu_tag_at(f.tw, sti));
      f.st[sti] = r;
      fpu_set_tag(f, sti, t);
      break;
    }
    case Q_FCHS:
    case Q_FABS:
      if (empty(f, top)) return false;
      f.st[top].se = uint16_t(kind == Q_FCHS ? f.st[top].se ^ 0x8000 : f.st[top].se & 0x7FFF);
      break;
    case Q_FLDZ:
    case Q_FLD1:
      if (!empty(f, below)) return false;
      f.st[below].mant = kind == Q_FLD1 ? uint64_t(1) << 63 : 0;
      f.st[below].se = kind == Q_FLD1 ? 0x3FFF : 0;
      std::memset(f.st[below].pad, 0, sizeof f.st[below].pad);
      fpu_set_tag(f, below, kind == Q_FLD1 ? 0 : 1);
      new_top = below;
      break;
    default:
      return false;
  }
  f.sw = uint16_t((f.sw & ~(FSW_TOP | FSW_C1)) | (new_top << 11));
  fpu_update_summary(f);
  return true;
}

// One host run: load `nin` 80-bit values (in[1] deeper, in[0] on top), set the host flags
// from AH (FCMOVcc), run the instruction, read AH back (FCOMI), store the status word, pop
// `nout` values to out[0], out[1]. The guest's control word (`gcw`, every exception masked)
// is loaded only when it differs from the host's, and the host's restored after; sticky
// flags some other host code left set are cleared first, so `sw` holds what this
// instruction raised. `mem` (RDI) is the memory operand of the normalized memory forms.
#define SOFTCPU_X87_QUICK(bytes)                                                             \
  asm volatile("fnstcw %[hcw]\n\t"                                                           \
               "movzwl %[hcw], %%ecx\n\t"                                                    \
               "cmpw %%cx, %[gcw]\n\t"                                                       \
               "je 1f\n\t"                                                                   \
               "fldcw %[gcw]\n"                                                              \
               "1:\tfnstsw %[sw]\n\t"                                                        \
               "testb $0x3F, %[sw]\n\t"                                                      \
               "jz 2f\n\t"                                                                   \
               "fnclex\n"                                                                    \
               "2:\tcmpl $2, %[nin]\n\t"                                                     \
               "jb 3f\n\t"                                                                   \
               "fldt 16(%[in])\n"                                                            \
               "3:\tcmpl $1, %[nin]\n\t"                                                     \
               "jb 4f\n\t"                                                                   \
               "fldt (%[in])\n"                                                              \
               "4:\tsahf\n\t" bytes "\n\t"                                                   \
               "lahf\n\t"                                                                    \
               "fnstsw %[sw]\n\t"                                                            \
               "cmpl $1, %[nout]\n\t"                                                        \
               "jb 5f\n\t"                                                                   \
               "fstpt (%[out])\n\t"                                                          \
               "cmpl $2, %[nout]\n\t"                                                        \
               "jb 5f\n\t"                                                                   \
               "fstpt 16(%[out])\n"                                                          \
               "5:\tcmpw %%cx, %[gcw]\n\t"                                                   \
               "je 6f\n\t"                                                                   \
               "fldcw %[hcw]\n"                                                              \
               "6:"                                                                          \
               : [hcw] "=m"(hcw), [sw] "=m"(sw), "+a"(ax)                                    \
               : [gcw] "m"(gcw), [in] "r"(in), [out] "r"(out), [nin] "r"(nin),               \
                 [nout] "r"(nout), "D"(mem)                                                  \
               : "rcx", "memory", "cc")

#define SOFTCPU_X87_QCASE(op, m) \
  case ((op) << 8) | (m): SOFTCPU_X87_QUICK(".byte " #op ", " #m); break;
// The host forms: register forms with i = 0 or 1 (ST(i) operands are loaded as ST(1)), the
// implicit two-operand forms, and the memory forms at [RDI].
#define SOFTCPU_X87_QROW2(op, m) SOFTCPU_X87_QCASE(op, m + 0) SOFTCPU_X87_QCASE(op, m + 1)
#define SOFTCPU_X87_QSTI(op) SOFTCPU_X87_ROWS_OF(SOFTCPU_X87_QROW2, op)
#define SOFTCPU_X87_QMEMS(op) SOFTCPU_X87_MEMS_OF(SOFTCPU_X87_QCASE, op)

struct alignas(16) Reg16 {
  uint8_t b[16];
};

// Returns AH after the instruction; false if `code` has no case here.
bool host_quick(uint16_t code, uint16_t gcw, const Reg16* in, unsigned nin, Reg16* out,
                unsigned nout, uint8_t* mem, uint8_t& ah, uint16_t& sw) {
  uint16_t hcw = 0;
  unsigned long ax = (unsigned long)ah << 8;
  switch (code) {
    SOFTCPU_X87_QSTI(0xD8) SOFTCPU_X87_QMEMS(0xD8)
    SOFTCPU_X87_QCASE(0xD9, 0xE4) SOFTCPU_X87_QCASE(0xD9, 0xE9) SOFTCPU_X87_QCASE(0xD9, 0xEA)
    SOFTCPU_X87_QCASE(0xD9, 0xEB) SOFTCPU_X87_QCASE(0xD9, 0xEC) SOFTCPU_X87_QCASE(0xD9, 0xED)
    SOFTCPU_X87_QCASE(0xD9, 0xF0) SOFTCPU_X87_QCASE(0xD9, 0xF1) SOFTCPU_X87_QCASE(0xD9, 0xF3)
    SOFTCPU_X87_QCASE(0xD9, 0xF4) SOFTCPU_X87_QCASE(0xD9, 0xF5) SOFTCPU_X87_QCASE(0xD9, 0xF8)
    SOFTCPU_X87_QCASE(0xD9, 0xF9) SOFTCPU_X87_QCASE(0xD9, 0xFA) SOFTCPU_X87_QCASE(0xD9, 0xFC)
    SOFTCPU_X87_QCASE(0xD9, 0xFD) SOFTCPU_X87_QCASE(0xD9, 0xFE) SOFTCPU_X87_QCASE(0xD9, 0xFF)
    SOFTCPU_X87_QMEMS(0xD9)
    SOFTCPU_X87_QSTI(0xDA) SOFTCPU_X87_QMEMS(0xDA)
    SOFTCPU_X87_QSTI(0xDB) SOFTCPU_X87_QMEMS(0xDB)
    SOFTCPU_X87_QSTI(0xDC) SOFTCPU_X87_QMEMS(0xDC)
    SOFTCPU_X87_QSTI(0xDD) SOFTCPU_X87_QMEMS(0xDD)
    SOFTCPU_X87_QSTI(0xDE) SOFTCPU_X87_QMEMS(0xDE)
    SOFTCPU_X87_QSTI(0xDF) SOFTCPU_X87_QMEMS(0xDF)
    default: return false;
  }
  ah = uint8_t(ax >> 8);
  return true;
}

}  // namespace

bool fpu_quick_exec(FpuState& f, uint16_t code, uint8_t* mem, unsigned mem_size, bool mem_store,
                    uint8_t flags_in, FpuExecResult& res) {
  const bool reg_form = (code & 0xC0) == 0xC0;
  const uint16_t norm = reg_form ? code : uint16_t((code & 0xFF38) | 0x07);
  const QuickForm& q = kQuick.f[norm & 0x7FF];
  if (q.kind == Q_NONE) return false;
  const uint8_t ah_in = uint8_t((flags_in & 0xD5) | 2);
  if (q.kind != Q_HOST) {
    if (!soft_exec(f, q.kind, code & 7)) return false;
    res = {false, 0, ah_in};
    return true;
  }
  // #U unmasked: the masked run cannot tell whether the hardware would raise it.
  if (!(f.cw & FSW_UE) || q.store != mem_store) return false;
  const unsigned top = fpu_top(f.sw);
  // The guest registers loaded: ST(0), then ST(i) (or ST(1)); ST(0) alone for ST(0), ST(0).
  unsigned i = q.sti ? code & 7u : 1u;
  unsigned nin = q.nin;
  uint16_t host_code = norm;
  int delta = q.delta;  // what the host's stack does
  if (q.sti) {
    if (i == 0) nin = 1;
    host_code = uint16_t((norm & ~7u) | (i ? 1u : 0u));
    // FADDP ST(0), ST(0) and the like pop the register that holds the result, which stays
    // there (FNSAVE shows it): the host runs FADD ST(0), ST(0) (DC) and we pop.
    if (i == 0 && (norm >> 8) == 0xDE) host_code ^= 0x0200, delta = 0;
  }
  const unsigned pos[2] = {top, (top + i) & 7};
  for (unsigned k = 0; k < nin; ++k)
    if (empty(f, pos[k])) return false;  // stack underflow
  if (q.delta > 0 && !empty(f, top - 1)) return false;  // stack overflow
  const unsigned nout = unsigned(int(nin) + delta);
  Reg16 in[2], out[2];
  for (unsigned k = 0; k < nin; ++k) {
    std::memcpy(in[k].b, &f.st[pos[k]].mant, 8);
    std::memcpy(in[k].b + 8, &f.st[pos[k]].se, 2);
  }
  // A load reads `mem` where it is; a store goes to `buf` until the result is certain.
  uint8_t buf[16];
  uint8_t ah = ah_in;
  uint16_t hsw = 0;
  if (!host_quick(host_code, uint16_t(f.cw | FSW_EXC), in, nin, out, nout, q.store ? buf : mem,
                  ah, hsw))
    return false;
  const uint16_t raised = hsw & FSW_EXC;
  if (raised & ~f.cw & FSW_EXC) return false;  // unmasked: the round trip says what happens
  // Commit. Popped registers are ST(0) (and ST(1)) and keep their contents; a value the host
  // returns as out[k] was loaded as in[k - delta] (a pop shifts the host stack up), or is
  // the new ST(k) (a push).
  const unsigned host_top = (top - unsigned(delta)) & 7, new_top = (top - unsigned(q.delta)) & 7;
  for (unsigned k = 0; k < nout; ++k) {
    const int from = int(k) - delta;
    const unsigned phys = from >= 0 && from < int(nin) ? pos[from] : (host_top + k) & 7;
    Float80& r = f.st[phys];
    std::memcpy(&r.mant, out[k].b, 8);
    std::memcpy(&r.se, out[k].b + 8, 2);
    std::memset(r.pad, 0, sizeof r.pad);
    fpu_set_tag(f, phys, fpu_tag_of(r));
  }
  for (int k = 0; k < -q.delta; ++k) fpu_set_tag(f, (top + unsigned(k)) & 7, 3);
  f.sw = uint16_t((f.sw & ~(FSW_TOP | q.cc)) | (hsw & q.cc) | raised | (new_top << 11));
  fpu_update_summary(f);
  if (q.store) std::memcpy(mem, buf, mem_size);
  res = {q.store, raised, ah};
  return true;
}

}  // namespace softcpu
