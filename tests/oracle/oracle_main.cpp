// Native oracle: generates instruction test cases (instruction form x operand values x initial
// flags), runs each one on the host CPU (native_runner, a gcc -m32 helper process) and in
// softcpu's interpreter, and compares the general registers, EFLAGS (undefined flags masked per
// the Intel SDM) and a 64-byte memory buffer. See tests/oracle/README.md.
#include <Zydis/Zydis.h>
#include <cpuid.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/interp/cpu_harness.h"
#include "tests/oracle/long_mode.h"
#include "tests/oracle/oracle_proto.h"
#include "interp/fpu_host.h"

namespace softcpu::oracle {
namespace {

constexpr uint32_t CODE = ORACLE_CODE_ADDR;
constexpr uint32_t DATA = ORACLE_DATA_ADDR;
constexpr uint32_t MEMSZ = ORACLE_MEM_SIZE;
constexpr uint32_t FL6 = CF | PF | AF | ZF | SF | OF;
constexpr uint32_t FL_ALL = FL6 | DF;  // what the oracle compares at most

// ---------------------------------------------------------------------------------------------
// Random numbers (splitmix64: small, fast, reproducible from --seed).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t u32() { return uint32_t(next() >> 32); }
  uint32_t below(uint32_t n) { return uint32_t((next() >> 32) % n); }
  bool chance(unsigned pct) { return below(100) < pct; }
};

// A test case plus what of its outcome is architecturally defined.
struct Case {
  OracleCase c{};
  uint32_t flag_mask = FL_ALL;  // flags to compare when the case runs to the end
  uint32_t regm[8] = {~0u, ~0u, ~0u, ~0u, 0, ~0u, ~0u, ~0u};  // register bits to compare
  uint64_t mem_mask = ~0ull;    // buffer bytes to compare (bit i: byte i)
  bool fpu = false;             // compare the x87 state (registers, CW, SW, TW)
  uint16_t cc_mask = FSW_CC;    // C0-C3 bits the instruction defines (SDM vol.2 "FPU Flags")
};

struct Form {
  std::string name;
  std::function<void(Rng&, Case&)> gen;
};

// An r/m operand: a register or the absolute address DATA + off.
struct Rm {
  bool mem;
  uint8_t reg;
  uint32_t off;
};

uint32_t mask_of(unsigned sz) { return sz == 1 ? 0xFFu : sz == 2 ? 0xFFFFu : 0xFFFFFFFFu; }

// Values that exercise edges for an operand of `sz` bytes (result masked to the size).
uint32_t interesting(Rng& r, unsigned sz) {
  const uint32_t m = mask_of(sz), sign = 1u << (sz * 8 - 1);
  unsigned k = r.below(100);
  uint32_t v;
  if (k < 40) {
    const uint32_t edges[] = {0,        1,        2,     m,        m - 1,    sign,
                              sign - 1, sign + 1, 0x7F,  0x80,     0xFF,     0x7FFF,
                              0x8000,   0xFFFF,   0x0F,  0x10,     0x09,     0x99,
                              0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100, 0x10000, 3};
    v = edges[r.below(sizeof edges / sizeof edges[0])];
  } else if (k < 50) {
    v = r.below(17);
    if (r.chance(50)) v = 0u - v;
  } else if (k < 60) {
    v = 1u << r.below(sz * 8);
    if (r.chance(30)) v = ~v;
  } else {
    v = r.u32();
  }
  return v & m;
}

// Shift and rotate counts: the edges from the brief plus random bytes.
uint8_t shift_count(Rng& r) {
  static const uint8_t counts[] = {0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65,
                                   255, 0xE1};
  if (r.chance(75)) return counts[r.below(sizeof counts)];
  return uint8_t(r.u32());
}

// Builds one case's code and inputs.
struct B {
  Rng& r;
  Case& k;
  OracleCase& c() { return k.c; }

  void b(uint8_t x) {
    if (k.c.code_len < ORACLE_CODE_MAX - 6) k.c.code[k.c.code_len++] = x;
  }
  void bytes(std::initializer_list<uint8_t> l) { for (uint8_t x : l) b(x); }
  void imm(unsigned sz, uint32_t v) { for (unsigned i = 0; i < sz; ++i) b(uint8_t(v >> (8 * i))); }
  void osize(unsigned sz) { if (sz == 2) b(0x66); }
  // `op` is the size-1 opcode (even); 16/32-bit forms use op+1.
  void opw(unsigned sz, uint8_t op) { osize(sz); b(sz == 1 ? op : uint8_t(op + 1)); }
  void modrm(unsigned regf, const Rm& rm) {
    if (rm.mem) {
      b(uint8_t(0x05 | (regf << 3)));
      imm(4, DATA + rm.off);
    } else {
      b(uint8_t(0xC0 | (regf << 3) | rm.reg));
    }
  }

  // Register numbers: any for 8-bit (AL..BH), anything but ESP otherwise.
  uint8_t gpr(unsigned sz) {
    if (sz == 1) return uint8_t(r.below(8));
    uint8_t g = uint8_t(r.below(7));
    return g >= ESP ? g + 1 : g;
  }
  Rm rm(unsigned sz, bool mem) {
    if (mem) return {true, 0, r.below(MEMSZ - sz + 1)};
    return {false, gpr(sz), 0};
  }

  void set(unsigned sz, unsigned reg, uint32_t v) {
    uint32_t& R = k.c.regs[sz == 1 ? reg & 3 : reg];
    if (sz == 4) R = v;
    else if (sz == 2) R = (R & 0xFFFF0000u) | (v & 0xFFFF);
    else if (reg < 4) R = (R & 0xFFFFFF00u) | (v & 0xFF);
    else R = (R & 0xFFFF00FFu) | ((v & 0xFF) << 8);
  }
  uint32_t get(unsigned sz, unsigned reg) {
    uint32_t R = k.c.regs[sz == 1 ? reg & 3 : reg];
    if (sz == 1 && reg >= 4) R >>= 8;
    return R & mask_of(sz);
  }
  void set_mem(unsigned sz, uint32_t off, uint32_t v) {
    for (unsigned i = 0; i < sz && off + i < MEMSZ; ++i) k.c.mem[off + i] = uint8_t(v >> (8 * i));
  }
  void set_rm(unsigned sz, const Rm& x, uint32_t v) {
    if (x.mem) set_mem(sz, x.off, v); else set(sz, x.reg, v);
  }
  uint32_t get_rm(unsigned sz, const Rm& x) {
    if (!x.mem) return get(sz, x.reg);
    uint32_t v = 0;
    for (unsigned i = 0; i < sz; ++i) v |= uint32_t(k.c.mem[x.off + i]) << (8 * i);
    return v;
  }
  uint32_t val(unsigned sz) { return interesting(r, sz); }
};

// The x87 state after FNINIT, as an FNSAVE image.
void fninit_image(uint8_t* img) {
  std::memset(img, 0, ORACLE_FPU_SIZE);
  const uint32_t cw = 0xFFFF037F, sw = 0xFFFF0000, tw = 0xFFFFFFFF;
  std::memcpy(img, &cw, 4);
  std::memcpy(img + 4, &sw, 4);
  std::memcpy(img + 8, &tw, 4);
  const uint32_t ds = 0xFFFF0000;
  std::memcpy(img + 24, &ds, 4);
}

void init_case(Rng& r, Case& k) {
  k = Case{};
  fninit_image(k.c.fpu);
  for (unsigned i = 0; i < 8; ++i) k.c.regs[i] = interesting(r, 4);
  k.c.regs[ESP] = 0;
  k.c.eflags = r.u32() & FL_ALL;
  for (unsigned i = 0; i < MEMSZ; ++i) k.c.mem[i] = uint8_t(r.u32());
}

// ---------------------------------------------------------------------------------------------
// Form tables.

std::vector<Form> forms;

void add(std::string name, std::function<void(B&)> g) {
  forms.push_back({std::move(name), [g](Rng& r, Case& k) {
                     init_case(r, k);
                     B bb{r, k};
                     g(bb);
                   }});
}

const char* const ALU_NAMES[8] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
bool alu_logic(unsigned op) { return op == 1 || op == 4 || op == 6; }
const char* size_tag(unsigned sz) { return sz == 1 ? "8" : sz == 2 ? "16" : "32"; }
const char* acc_name(unsigned sz) { return sz == 1 ? "al" : sz == 2 ? "ax" : "eax"; }
const char* mr(bool mem) { return mem ? " [mem]" : " [reg]"; }
const unsigned SIZES[3] = {1, 2, 4};

void alu_forms() {
  for (unsigned op = 0; op < 8; ++op) {
    const std::string n = ALU_NAMES[op];
    const uint32_t fm = alu_logic(op) ? FL_ALL & ~AF : FL_ALL;  // SDM: AF undefined after logic
    for (unsigned sz : SIZES) {
      const std::string s = size_tag(sz);
      for (bool mem : {false, true}) {
        add(n + " rm" + s + ",r" + s + mr(mem), [=](B& b) {
          Rm d = b.rm(sz, mem);
          b.set_rm(sz, d, b.val(sz));
          uint8_t src = b.gpr(sz);
          if (!(b.r.chance(10))) b.set(sz, src, b.val(sz));
          b.opw(sz, uint8_t(op * 8));
          b.modrm(src, d);
          b.k.flag_mask = fm;
        });
        add(n + " r" + s + ",rm" + s + mr(mem), [=](B& b) {
          Rm sr = b.rm(sz, mem);
          b.set_rm(sz, sr, b.val(sz));
          uint8_t d = b.gpr(sz);
          if (!(b.r.chance(10))) b.set(sz, d, b.val(sz));
          b.opw(sz, uint8_t(op * 8 + 2));
          b.modrm(d, sr);
          b.k.flag_mask = fm;
        });
        add(n + " rm" + s + ",imm" + s + mr(mem), [=](B& b) {
          Rm d = b.rm(sz, mem);
          b.set_rm(sz, d, b.val(sz));
          b.osize(sz);
          b.b(sz == 1 ? 0x80 : 0x81);
          b.modrm(op, d);
          b.imm(sz, b.val(sz));
          b.k.flag_mask = fm;
        });
        if (sz != 1)
          add(n + " rm" + s + ",imm8s" + mr(mem), [=](B& b) {
            Rm d = b.rm(sz, mem);
            b.set_rm(sz, d, b.val(sz));
            b.osize(sz);
            b.b(0x83);
            b.modrm(op, d);
            b.imm(1, b.val(1));
            b.k.flag_mask = fm;
          });
      }
      add(n + " " + acc_name(sz) + ",imm" + s, [=](B& b) {
        b.set(sz, EAX, b.val(sz));
        b.opw(sz, uint8_t(op * 8 + 4));
        b.imm(sz, b.val(sz));
        b.k.flag_mask = fm;
      });
    }
  }
}

void unary_forms() {
  for (unsigned sz : SIZES) {
    const std::string s = size_tag(sz);
    for (bool mem : {false, true}) {
      add("test rm" + s + ",r" + s + mr(mem), [=](B& b) {
        Rm d = b.rm(sz, mem);
        b.set_rm(sz, d, b.val(sz));
        uint8_t src = b.gpr(sz);
        b.set(sz, src, b.val(sz));
        b.opw(sz, 0x84);
        b.modrm(src, d);
        b.k.flag_mask = FL_ALL & ~AF;
      });
      add("test rm" + s + ",imm" + s + mr(mem), [=](B& b) {
        Rm d = b.rm(sz, mem);
        b.set_rm(sz, d, b.val(sz));
        b.opw(sz, 0xF6);
        b.modrm(0, d);
        b.imm(sz, b.val(sz));
        b.k.flag_mask = FL_ALL & ~AF;
      });
      const char* un[4] = {"inc", "dec", "not", "neg"};
      for (unsigned u = 0; u < 4; ++u)
        add(std::string(un[u]) + " rm" + s + mr(mem), [=](B& b) {
          Rm d = b.rm(sz, mem);
          b.set_rm(sz, d, b.val(sz));
          if (u < 2) { b.opw(sz, 0xFE); b.modrm(u, d); }
          else { b.opw(sz, 0xF6); b.modrm(u, d); }
        });
    }
    add(std::string("test ") + acc_name(sz) + ",imm" + s, [=](B& b) {
      b.set(sz, EAX, b.val(sz));
      b.opw(sz, 0xA8);
      b.imm(sz, b.val(sz));
      b.k.flag_mask = FL_ALL & ~AF;
    });
    if (sz != 1)
      for (unsigned u = 0; u < 2; ++u)
        add(std::string(u ? "dec" : "inc") + " r" + s + " (4x)", [=](B& b) {
          uint8_t g = b.gpr(sz);
          b.set(sz, g, b.val(sz));
          b.osize(sz);
          b.b(uint8_t(0x40 + u * 8 + g));
        });
  }
}

// Whether OF after a shift or rotate by a count other than 1 (undefined in the SDM) is compared.
// The AMD EPYC host computes it as a P6 does (docs/design.md, "Undefined flags"); an Intel Xeon
// host (CPUID family 6, 2026-12-06) differs on every shift, rotate, SHLD and SHRD form, so on
// any host but AMD's it is masked (`--strict` compares it), and tests/interp/shift_test.cpp
// checks softcpu's P6 values.
bool g_compare_shift_of = true;

// Whether the flags BSF/BSR leave undefined (CF OF SF AF PF, SDM vol.2 BSF) are compared for
// a nonzero source. A P6 clears CF OF SF AF and sets PF from the index, and so did the family
// 26 AMD host; a family 25 AMD EPYC host (2026-12-07) keeps all five as they were (11 840
// mismatches in the 8 forms, nothing else), so the oracle asks the host (host_bsf_as_p6) and
// masks them where it differs; tests/interp/bits_test.cpp checks softcpu's P6 values.
bool g_compare_bsf_flags = true;

// BSF of 1 (index 0: PF = 1) with CF OF SF AF set before: a P6 leaves only PF of the five.
bool host_bsf_as_p6() {
  constexpr uintptr_t in = CF | OF | SF | AF | 0x2, five = CF | OF | SF | AF | PF;
  uintptr_t out;
  uint32_t dst = 0;
  const uint32_t src = 1;
#if defined(__x86_64__)
  // Below the red zone: the compiler may keep locals there in a leaf function.
  asm volatile("lea -128(%%rsp), %%rsp\n\tpush %[in]\n\tpopf\n\tbsf %[src], %[dst]\n\t"
               "pushf\n\tpop %[out]\n\tlea 128(%%rsp), %%rsp"
               : [out] "=&r"(out), [dst] "+r"(dst)
               : [in] "r"(in), [src] "r"(src)
               : "cc", "memory");
#else
  asm volatile("push %[in]\n\tpopf\n\tbsf %[src], %[dst]\n\tpushf\n\tpop %[out]"
               : [out] "=&r"(out), [dst] "+r"(dst)
               : [in] "r"(in), [src] "r"(src)
               : "cc", "memory");
#endif
  return (out & five) == PF;
}

// Flags compared after a shift/rotate. The SDM leaves OF undefined for counts other than 1,
// AF for shifts, CF for SHL/SHR by >= the width; softcpu defines them as a P6 does
// (docs/design.md, "Undefined flags"), and the AMD host agrees except for what is masked here:
//  - AF after SHL/SHR/SAR (the host sets it, a P6 clears it);
//  - OF after RCL/RCR r8/r16 whose count is a nonzero multiple of 9/17 (the host sets OF from
//    the unrotated operand, a P6 changes no flag).
// On a host other than AMD's, OF after a count other than 1 is masked too (g_compare_shift_of).
uint32_t shift_flag_mask(unsigned op, unsigned sz, uint8_t count) {
  const unsigned cnt = count & 0x1F;
  if (cnt == 0) return FL_ALL;  // flags unaffected
  uint32_t m = FL_ALL;
  if (cnt != 1 && !g_compare_shift_of) m &= ~OF;
  if (op >= 4) m &= ~AF;
  if ((op == 2 || op == 3) && sz < 4 && cnt % (sz * 8 + 1) == 0) m &= ~OF;
  return m;
}

void shift_forms() {
  const char* names[8] = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"};
  for (unsigned op : {0u, 1u, 2u, 3u, 4u, 5u, 7u}) {
    for (unsigned sz : SIZES) {
      const std::string s = size_tag(sz), n = names[op];
      for (int how = 0; how < 3; ++how) {  // 0: by 1, 1: by CL, 2: by imm8
        for (bool mem : {false, true}) {
          if (mem && how != 1) continue;  // memory variants: the CL form stands for all
          const char* hn[3] = {",1", ",cl", ",imm8"};
          add(n + " rm" + s + hn[how] + mr(mem), [=](B& b) {
            Rm d = b.rm(sz, mem);
            if (!mem && sz == 1 && how == 1 && (d.reg & 3) == ECX) d.reg = d.reg ^ 1;  // not CL/CH
            else if (!mem && how == 1 && d.reg == ECX) d.reg = EDX;
            b.set_rm(sz, d, b.val(sz));
            uint8_t cnt = 1;
            if (how == 0) { b.opw(sz, 0xD0); b.modrm(op, d); }
            if (how == 1) { cnt = shift_count(b.r); b.set(1, ECX, cnt); b.opw(sz, 0xD2); b.modrm(op, d); }
            if (how == 2) { cnt = shift_count(b.r); b.opw(sz, 0xC0); b.modrm(op, d); b.imm(1, cnt); }
            b.k.flag_mask = shift_flag_mask(op, sz, cnt);
          });
        }
      }
    }
  }
  // SHLD/SHRD (SDM: count > operand size leaves the destination and flags undefined; OF
  // undefined for counts other than 1, AF for all). Compared as a P6 defines them, but AF (the
  // AMD host sets it), OF of SHLD r16 by 16 (the host gives CF ^ the old MSB, a P6 CF ^ the new
  // one) and 16-bit counts of 17..31 (the host shifts another 48-bit value).
  for (unsigned dir = 0; dir < 2; ++dir)
    for (unsigned sz : {2u, 4u})
      for (int how = 0; how < 2; ++how)
        for (bool mem : {false, true}) {
          const std::string n = dir ? "shrd" : "shld", s = size_tag(sz);
          add(n + " rm" + s + ",r" + s + (how ? ",cl" : ",imm8") + mr(mem), [=](B& b) {
            Rm d = b.rm(sz, mem);
            uint8_t src = b.gpr(sz);
            if (how) {
              if (!mem && d.reg == ECX) d.reg = EDX;
              if (src == ECX) src = EBX;
            }
            b.set_rm(sz, d, b.val(sz));
            if (mem || src != d.reg) b.set(sz, src, b.val(sz));
            uint8_t cnt = shift_count(b.r);
            b.osize(sz);
            b.bytes({0x0F, uint8_t((dir ? 0xAC : 0xA4) + how)});
            if (how) b.set(1, ECX, cnt);
            b.modrm(src, d);
            if (!how) b.imm(1, cnt);
            const unsigned c5 = cnt & 0x1F;
            uint32_t m = FL_ALL;
            if (c5 != 0) {
              m &= ~AF;
              if (c5 != 1 && !g_compare_shift_of) m &= ~OF;
              if (!dir && sz == 2 && c5 == 16) m &= ~OF;
              if (c5 > sz * 8) {
                m = DF;
                if (mem) b.k.mem_mask &= ~(uint64_t(mask_of(sz)) << d.off);
                else b.k.regm[d.reg] &= ~mask_of(sz);
              }
            }
            b.k.flag_mask = m;
          });
        }
}

void muldiv_forms() {
  const char* names[4] = {"mul", "imul", "div", "idiv"};
  for (unsigned op = 0; op < 4; ++op)
    for (unsigned sz : SIZES)
      for (bool mem : {false, true}) {
        const std::string s = size_tag(sz);
        add(std::string(names[op]) + " rm" + s + mr(mem), [=](B& b) {
          Rm d = b.rm(sz, mem);
          uint32_t m = mask_of(sz);
          if (op < 2) {
            b.set(sz, EAX, b.val(sz));
            b.set_rm(sz, d, b.val(sz));
            b.k.flag_mask = CF | OF | DF;  // SF ZF AF PF: P6 sets them, the AMD host keeps them
          } else {
            // Mix of #DE and valid divisions (SDM: DIV/IDIV; all arithmetic flags undefined).
            uint32_t div = b.val(sz);
            unsigned strat = b.r.below(10);
            if (strat == 0) div = 0;
            uint32_t lo = b.val(sz), hi = b.val(sz);
            if (strat >= 4) {  // quotient fits
              if (op == 2) hi = div ? b.r.u32() % div : 0;
              else hi = (lo & (1u << (sz * 8 - 1))) ? m : 0;
            } else if (strat == 1 && op == 3) {
              div = m;  // -1
              lo = 1u << (sz * 8 - 1);
              hi = m;
            }
            if (sz == 1) b.set(2, EAX, (hi << 8) | lo);
            else { b.set(sz, EAX, lo); b.set(sz, EDX, hi); }
            b.set_rm(sz, d, div);
            b.k.flag_mask = DF;  // P6 keeps all six, the AMD host changes them
          }
          b.opw(sz, 0xF6);
          b.modrm(4 + op, d);
        });
      }
  for (unsigned sz : {2u, 4u}) {
    const std::string s = size_tag(sz);
    for (bool mem : {false, true}) {
      add("imul r" + s + ",rm" + s + mr(mem), [=](B& b) {
        Rm sr = b.rm(sz, mem);
        b.set_rm(sz, sr, b.val(sz));
        uint8_t d = b.gpr(sz);
        b.set(sz, d, b.val(sz));
        b.osize(sz);
        b.bytes({0x0F, 0xAF});
        b.modrm(d, sr);
        b.k.flag_mask = CF | OF | DF;
      });
      add("imul r" + s + ",rm" + s + ",imm" + s + mr(mem), [=](B& b) {
        Rm sr = b.rm(sz, mem);
        b.set_rm(sz, sr, b.val(sz));
        uint8_t d = b.gpr(sz);
        b.osize(sz);
        b.b(0x69);
        b.modrm(d, sr);
        b.imm(sz, b.val(sz));
        b.k.flag_mask = CF | OF | DF;
      });
      add("imul r" + s + ",rm" + s + ",imm8s" + mr(mem), [=](B& b) {
        Rm sr = b.rm(sz, mem);
        b.set_rm(sz, sr, b.val(sz));
        uint8_t d = b.gpr(sz);
        b.osize(sz);
        b.b(0x6B);
        b.modrm(d, sr);
        b.imm(1, b.val(1));
        b.k.flag_mask = CF | OF | DF;
      });
    }
  }
}

void bcd_forms() {
  auto bcd_al = [](B& b) {
    uint32_t v = b.r.chance(50) ? b.val(1) : ((b.r.below(10) << 4) | b.r.below(16));
    b.set(1, EAX, v);
    b.set(1, 4, b.val(1));  // AH
  };
  add("daa", [=](B& b) { bcd_al(b); b.b(0x27); b.k.flag_mask = FL_ALL & ~OF; });
  add("das", [=](B& b) { bcd_al(b); b.b(0x2F); b.k.flag_mask = FL_ALL & ~OF; });
  add("aaa", [=](B& b) { bcd_al(b); b.b(0x37); b.k.flag_mask = CF | AF | DF; });
  add("aas", [=](B& b) { bcd_al(b); b.b(0x3F); b.k.flag_mask = CF | AF | DF; });
  add("aam imm8", [=](B& b) {
    bcd_al(b);
    b.b(0xD4);
    unsigned k = b.r.below(10);
    b.b(k < 5 ? 10 : k == 5 ? 0 : uint8_t(b.r.u32()));
    b.k.flag_mask = SF | ZF | PF | DF;
  });
  add("aad imm8", [=](B& b) {
    bcd_al(b);
    b.b(0xD5);
    unsigned k = b.r.below(10);
    b.b(k < 6 ? 10 : uint8_t(b.r.u32()));
    b.k.flag_mask = SF | ZF | PF | DF;
  });
}

void bit_forms() {
  const char* names[4] = {"bt", "bts", "btr", "btc"};
  for (unsigned op = 0; op < 4; ++op)
    for (unsigned sz : {2u, 4u}) {
      const std::string s = size_tag(sz), n = names[op];
      for (bool mem : {false, true}) {
        add(n + " rm" + s + ",r" + s + mr(mem), [=](B& b) {
          Rm d = b.rm(sz, mem);
          uint8_t src = b.gpr(sz);
          b.set_rm(sz, d, b.val(sz));
          if (mem) {
            // Register bit offsets address beyond the operand (SDM BT: bit string); keep
            // them inside the buffer: operand at +16, offsets -128..383.
            d.off = 16;
            int32_t off = int32_t(b.r.below(512)) - 128;
            if (sz == 2) b.set(2, src, uint32_t(off));
            else b.set(4, src, uint32_t(off));
          } else if (src != d.reg) {
            b.set(sz, src, b.r.chance(50) ? b.val(sz) : b.r.below(80));
          }
          b.osize(sz);
          b.bytes({0x0F, uint8_t(0xA3 + op * 8)});
          b.modrm(src, d);
          // OF SF AF PF undefined: kept by a P6 and by the AMD host; ZF unaffected
        });
        add(n + " rm" + s + ",imm8" + mr(mem), [=](B& b) {
          Rm d = b.rm(sz, mem);
          b.set_rm(sz, d, b.val(sz));
          b.osize(sz);
          b.bytes({0x0F, 0xBA});
          b.modrm(4 + op, d);
          b.imm(1, b.r.chance(70) ? b.r.below(sz * 8) : b.r.u32());
        });
      }
    }
  for (unsigned rev = 0; rev < 2; ++rev)
    for (unsigned sz : {2u, 4u})
      for (bool mem : {false, true}) {
        const std::string s = size_tag(sz);
        add(std::string(rev ? "bsr" : "bsf") + " r" + s + ",rm" + s + mr(mem), [=](B& b) {
          Rm sr = b.rm(sz, mem);
          uint32_t v = b.r.chance(20) ? 0 : b.val(sz);
          b.set_rm(sz, sr, v);
          uint8_t d = b.gpr(sz);
          b.osize(sz);
          b.bytes({0x0F, uint8_t(0xBC + rev)});
          b.modrm(d, sr);
          // A zero source: P6 and the AMD hosts keep the destination; a P6 keeps the other
          // flags, the family 26 host sets PF and clears CF OF SF AF. Otherwise all flags are
          // compared where the host computes them as a P6 does (g_compare_bsf_flags).
          if (b.get_rm(sz, sr) == 0 || !g_compare_bsf_flags) b.k.flag_mask = ZF | DF;
        });
      }
  for (bool mem : {false, true})
    add(std::string("setcc rm8") + mr(mem), [=](B& b) {
      Rm d = b.rm(1, mem);
      b.bytes({0x0F, uint8_t(0x90 + b.r.below(16))});
      b.modrm(0, d);
    });
  for (unsigned sz : {2u, 4u})
    for (bool mem : {false, true}) {
      const std::string s = size_tag(sz);
      add("cmovcc r" + s + ",rm" + s + mr(mem), [=](B& b) {
        Rm sr = b.rm(sz, mem);
        b.set_rm(sz, sr, b.val(sz));
        uint8_t d = b.gpr(sz);
        b.osize(sz);
        b.bytes({0x0F, uint8_t(0x40 + b.r.below(16))});
        b.modrm(d, sr);
      });
    }
  add("bswap r32", [](B& b) { b.bytes({0x0F, uint8_t(0xC8 + b.gpr(4))}); });
}

void data_forms() {
  for (unsigned sz : SIZES) {
    const std::string s = size_tag(sz);
    for (bool mem : {false, true}) {
      add("xchg rm" + s + ",r" + s + mr(mem), [=](B& b) {
        Rm d = b.rm(sz, mem);
        b.set_rm(sz, d, b.val(sz));
        uint8_t g = b.gpr(sz);
        b.opw(sz, 0x86);
        b.modrm(g, d);
      });
      add("xadd rm" + s + ",r" + s + mr(mem), [=](B& b) {
        Rm d = b.rm(sz, mem);
        b.set_rm(sz, d, b.val(sz));
        uint8_t g = b.gpr(sz);
        if (mem || g != d.reg) b.set(sz, g, b.val(sz));
        b.osize(sz);
        b.bytes({0x0F, uint8_t(sz == 1 ? 0xC0 : 0xC1)});
        b.modrm(g, d);
      });
      add("cmpxchg rm" + s + ",r" + s + mr(mem), [=](B& b) {
        Rm d = b.rm(sz, mem);
        b.set_rm(sz, d, b.val(sz));
        uint8_t g = b.gpr(sz);
        if (mem || g != d.reg) b.set(sz, g, b.val(sz));
        if (b.r.chance(50)) b.set(sz, EAX, b.get_rm(sz, d));  // equal: the store path
        b.osize(sz);
        b.bytes({0x0F, uint8_t(sz == 1 ? 0xB0 : 0xB1)});
        b.modrm(g, d);
      });
    }
    if (sz != 1)
      add("xchg " + std::string(acc_name(sz)) + ",r" + s + " (9x)", [=](B& b) {
        uint8_t g = b.gpr(sz);
        if (g == EAX) g = EBX;
        b.osize(sz);
        b.b(uint8_t(0x90 + g));
      });
  }
  struct Ext { const char* name; unsigned dsz, ssz; uint8_t op; };
  const Ext exts[] = {{"movzx r16,rm8", 2, 1, 0xB6}, {"movzx r32,rm8", 4, 1, 0xB6},
                      {"movzx r32,rm16", 4, 2, 0xB7}, {"movsx r16,rm8", 2, 1, 0xBE},
                      {"movsx r32,rm8", 4, 1, 0xBE}, {"movsx r32,rm16", 4, 2, 0xBF}};
  for (const Ext& e : exts)
    for (bool mem : {false, true})
      add(std::string(e.name) + mr(mem), [=](B& b) {
        Rm sr = b.rm(e.ssz, mem);
        b.set_rm(e.ssz, sr, b.val(e.ssz));
        uint8_t d = b.gpr(e.dsz);
        b.osize(e.dsz);
        b.bytes({0x0F, e.op});
        b.modrm(d, sr);
      });
  add("cbw", [](B& b) { b.set(1, EAX, b.val(1)); b.bytes({0x66, 0x98}); });
  add("cwde", [](B& b) { b.set(2, EAX, b.val(2)); b.b(0x98); });
  add("cwd", [](B& b) { b.set(2, EAX, b.val(2)); b.bytes({0x66, 0x99}); });
  add("cdq", [](B& b) { b.set(4, EAX, b.val(4)); b.b(0x99); });
  add("lahf", [](B& b) { b.b(0x9F); });
  add("sahf", [](B& b) { b.set(1, 4, b.val(1)); b.b(0x9E); });
  add("clc", [](B& b) { b.b(0xF8); });
  add("stc", [](B& b) { b.b(0xF9); });
  add("cmc", [](B& b) { b.b(0xF5); });
  add("cld", [](B& b) { b.b(0xFC); });
  add("std", [](B& b) { b.b(0xFD); });

  // LEA with random 32-bit addressing forms (ModRM/SIB, SDM vol.2 2.1.5); ESP is never a base.
  for (unsigned sz : {2u, 4u})
    add(std::string("lea r") + size_tag(sz) + ",m (addr32)", [=](B& b) {
      uint8_t d = b.gpr(sz);
      unsigned mod = b.r.below(3), rm = b.r.below(8);
      if (rm == ESP && b.r.chance(30)) rm = EAX;
      b.osize(sz);
      b.b(0x8D);
      b.b(uint8_t((mod << 6) | (d << 3) | rm));
      if (rm == ESP) {
        unsigned base = b.r.below(8), index = b.r.below(8), scale = b.r.below(4);
        if (base == ESP) base = EBX;
        b.b(uint8_t((scale << 6) | (index << 3) | base));
        if (mod == 0 && base == EBP) b.imm(4, b.val(4));
      } else if (mod == 0 && rm == EBP) {
        b.imm(4, b.val(4));
      }
      if (mod == 1) b.imm(1, b.val(1));
      if (mod == 2) b.imm(4, b.val(4));
    });
  for (unsigned sz : {2u, 4u})
    add(std::string("lea r") + size_tag(sz) + ",m (addr16)", [=](B& b) {
      uint8_t d = b.gpr(sz);
      unsigned mod = b.r.below(3), rm = b.r.below(8);
      b.osize(sz);
      b.b(0x67);
      b.b(0x8D);
      b.b(uint8_t((mod << 6) | (d << 3) | rm));
      if (mod == 0 && rm == 6) b.imm(2, b.val(2));
      if (mod == 1) b.imm(1, b.val(1));
      if (mod == 2) b.imm(2, b.val(2));
    });
}

// Two-instruction sequences: a flag producer followed by a consumer, so lazily held flags are
// read by the next instruction (the single-instruction forms always start from materialized
// flags). The consumer only reads flags the producer defines.
void seq_forms() {
  // Returns the flags the producer defines.
  auto producer = [](B& b, unsigned sz) -> uint32_t {
    unsigned kind = b.r.below(12);
    uint8_t d = b.gpr(sz), s = b.gpr(sz);
    b.set(sz, d, b.val(sz));
    if (s != d) b.set(sz, s, b.val(sz));
    if (kind < 8) {  // ALU r/m,r
      b.opw(sz, uint8_t(kind * 8));
      b.modrm(s, Rm{false, d, 0});
      return alu_logic(kind) ? FL_ALL & ~AF : FL_ALL;
    }
    if (kind < 10) {  // INC/DEC: CF unchanged
      b.opw(sz, 0xFE);
      b.modrm(kind - 8, Rm{false, d, 0});
      return FL_ALL;
    }
    if (kind == 10) {  // NEG
      b.opw(sz, 0xF6);
      b.modrm(3, Rm{false, d, 0});
      return FL_ALL;
    }
    b.opw(sz, 0x84);  // TEST
    b.modrm(s, Rm{false, d, 0});
    return FL_ALL & ~AF;
  };
  for (unsigned sz : SIZES) {
    const std::string s = size_tag(sz);
    add("seq alu" + s + "; setcc", [=](B& b) {
      b.k.flag_mask = producer(b, sz);
      b.bytes({0x0F, uint8_t(0x90 + b.r.below(16)), uint8_t(0xC0 | b.gpr(1))});
    });
    add("seq alu" + s + "; adc/sbb r32", [=](B& b) {
      b.k.flag_mask = producer(b, sz);
      b.b(b.r.chance(50) ? 0x11 : 0x19);
      b.modrm(b.gpr(4), Rm{false, b.gpr(4), 0});
      b.k.flag_mask = FL_ALL;
    });
    add("seq alu" + s + "; cmovcc r32", [=](B& b) {
      b.k.flag_mask = producer(b, sz);
      b.bytes({0x0F, uint8_t(0x40 + b.r.below(16))});
      b.modrm(b.gpr(4), Rm{false, b.gpr(4), 0});
    });
    add("seq alu" + s + "; lahf", [=](B& b) {
      uint32_t m = producer(b, sz);
      b.k.flag_mask = m;
      b.b(0x9F);
      if (!(m & AF)) b.k.regm[EAX] &= ~(uint32_t(AF) << 8);  // AH bit 4 holds undefined AF
    });
    add("seq shl/shr/sar" + s + " imm; setcc", [=](B& b) {
      uint8_t d = b.gpr(sz);
      b.set(sz, d, b.val(sz));
      unsigned op = 4 + b.r.below(3);
      if (op == 6) op = 7;
      uint8_t cnt = uint8_t(b.r.below(32));  // CF and OF are compared for every count
      b.opw(sz, 0xC0);
      b.modrm(op, Rm{false, d, 0});
      b.imm(1, cnt);
      const uint8_t cc = uint8_t(b.r.below(16)), dst = b.gpr(1);
      b.bytes({0x0F, uint8_t(0x90 + cc), uint8_t(0xC0 | dst)});
      b.k.flag_mask = shift_flag_mask(op, sz, cnt);
      // SETO/SETNO/SETL/SETGE/SETLE/SETG read OF: where OF is not compared, neither is the byte.
      const bool reads_of = cc <= 1 || cc >= 12;
      if (reads_of && !(b.k.flag_mask & OF)) b.k.regm[dst & 3] &= ~(dst < 4 ? 0xFFu : 0xFF00u);
    });
    add("seq mul" + s + "; setc/seto", [=](B& b) {
      b.set(sz, EAX, b.val(sz));
      uint8_t g = b.gpr(sz);
      b.set(sz, g, b.val(sz));
      b.opw(sz, 0xF6);
      b.modrm(4 + b.r.below(2), Rm{false, g, 0});
      b.bytes({0x0F, uint8_t(0x90 + b.r.below(4)), uint8_t(0xC0 | b.gpr(1))});
      b.k.flag_mask = CF | OF | DF;
    });
  }
}

// LOCK prefix: allowed on read-modify-write memory forms, #UD otherwise (SDM vol.2 LOCK).
void lock_forms() {
  for (bool mem : {true, false}) {
    const std::string tail = mem ? " [mem]" : " [reg] (#UD)";
    add("lock alu rm32,r32" + tail, [=](B& b) {
      unsigned op = b.r.below(7);  // ADD..XOR (CMP cannot be locked)
      Rm d = b.rm(4, mem);
      b.set_rm(4, d, b.val(4));
      b.bytes({0xF0, uint8_t(op * 8 + 1)});
      b.modrm(b.gpr(4), d);
      b.k.flag_mask = alu_logic(op) ? FL_ALL & ~AF : FL_ALL;
    });
    add("lock alu rm8,imm8" + tail, [=](B& b) {
      unsigned op = b.r.below(7);
      Rm d = b.rm(1, mem);
      b.set_rm(1, d, b.val(1));
      b.bytes({0xF0, 0x80});
      b.modrm(op, d);
      b.imm(1, b.val(1));
      b.k.flag_mask = alu_logic(op) ? FL_ALL & ~AF : FL_ALL;
    });
    add("lock inc/dec/not/neg rm16" + tail, [=](B& b) {
      unsigned u = b.r.below(4);
      Rm d = b.rm(2, mem);
      b.set_rm(2, d, b.val(2));
      b.bytes({0xF0, 0x66, uint8_t(u < 2 ? 0xFF : 0xF7)});
      b.modrm(u, d);  // FF /0 /1, F7 /2 /3
    });
    add("lock xadd/cmpxchg/xchg rm32,r32" + tail, [=](B& b) {
      unsigned u = b.r.below(3);
      Rm d = b.rm(4, mem);
      b.set_rm(4, d, b.val(4));
      if (u == 1 && b.r.chance(50)) b.set(4, EAX, b.get_rm(4, d));
      b.b(0xF0);
      if (u == 0) b.bytes({0x0F, 0xC1});
      else if (u == 1) b.bytes({0x0F, 0xB1});
      else b.b(0x87);
      b.modrm(b.gpr(4), d);
    });
    add("lock bts/btr/btc rm32,imm8" + tail, [=](B& b) {
      unsigned u = 1 + b.r.below(3);
      Rm d = b.rm(4, mem);
      b.set_rm(4, d, b.val(4));
      b.bytes({0xF0, 0x0F, 0xBA});
      b.modrm(4 + u, d);
      b.imm(1, b.r.below(32));
    });
  }
  add("lock cmp m32,r32 (#UD)", [](B& b) {
    Rm d = b.rm(4, true);
    b.bytes({0xF0, 0x39});
    b.modrm(b.gpr(4), d);
  });
}

// ---------------------------------------------------------------------------------------------
// x87 forms: a random FPU state (loaded with FRSTOR natively, fpu_from_image in softcpu), one
// instruction (every valid register encoding group and memory form, except FRSTOR/FNSAVE whose
// 94/108-byte images exceed the buffer, and SSE3's FISTTP), compared on registers, CW, SW and TW.

// 80-bit values that exercise the edges: zeros, integers, infinities, NaNs (quiet, signaling,
// indefinite), denormals, pseudo-denormals, unnormals, pseudo-NaN/infinity, extremes, values
// near the integer-conversion limits and the underflow range.
void f80_value(Rng& r, uint8_t* out) {
  uint64_t m;
  uint32_t e;
  const uint32_t sign = r.chance(50) ? 0x8000u : 0;
  const unsigned k = r.below(100);
  if (k < 8) { m = 0; e = 0; }
  else if (k < 18) {
    uint64_t n = 1 + r.below(20);
    unsigned lz = unsigned(__builtin_clzll(n));
    m = n << lz;
    e = 16383 + 63 - lz;
  } else if (k < 24) { m = 1ull << 63; e = 0x7FFF; }
  else if (k < 30) { m = (3ull << 62) | (r.next() >> 2); e = 0x7FFF; }
  else if (k < 34) { m = (1ull << 63) | ((r.next() >> 2) | 1); e = 0x7FFF; }
  else if (k < 36) { m = 3ull << 62; e = 0x7FFF; }
  else if (k < 42) { m = (r.next() >> (1 + r.below(62))) | 1; e = 0; }
  else if (k < 44) { m = (1ull << 63) | (r.next() >> 1); e = 0; }
  else if (k < 47) { m = r.next() >> 1; e = 1 + r.below(0x7FFE); }
  else if (k < 49) { m = r.next() >> 1; e = 0x7FFF; }
  else if (k < 55) {
    const uint32_t es[] = {0x7FFE, 0x0001, 0x7FFD, 0x0002, 0x3FFF, 0x3FFE};
    e = es[r.below(6)];
    m = r.chance(50) ? ~0ull : 1ull << 63;
  } else if (k < 70) { m = (1ull << 63) | r.next(); e = 0x3FFF - 64 + r.below(128); }
  else if (k < 82) {
    const uint32_t es[] = {14, 15, 30, 31, 62, 63, 64, 0, 1};
    e = 0x3FFF + es[r.below(9)];
    m = r.chance(30) ? 1ull << 63 : (1ull << 63) | (r.next() >> r.below(64));
  } else if (k < 92) {
    e = r.chance(50) ? r.below(160) : 0x7FFE - r.below(160);
    m = (1ull << 63) | r.next();
  } else { m = (1ull << 63) | r.next(); e = 1 + r.below(0x7FFE); }
  std::memcpy(out, &m, 8);
  const uint16_t se = uint16_t(sign | e);
  std::memcpy(out + 8, &se, 2);
}

// Memory operand values of `sz` bytes for the ESC group `esc` (floats, integers or BCD).
void x87_mem_value(Rng& r, unsigned esc, unsigned reg, unsigned sz, uint8_t* out) {
  const bool is_int =
      esc == 2 || esc == 6 || (esc == 3 && reg < 4) || (esc == 7 && reg != 4 && reg != 6);
  if (sz == 10 && esc == 7) {  // packed BCD
    for (unsigned i = 0; i < 9; ++i)
      out[i] = r.chance(95) ? uint8_t(r.below(10) << 4 | r.below(10)) : uint8_t(r.u32());
    if (r.chance(30)) std::memset(out + 2 + r.below(7), 0, 9 - 2 - 6);
    out[9] = r.chance(50) ? 0x80 : r.chance(90) ? 0 : uint8_t(r.u32());
    return;
  }
  if (sz == 10) { f80_value(r, out); return; }
  if (is_int) {
    uint64_t v = sz == 8 ? (uint64_t(interesting(r, 4)) << 32 | interesting(r, 4))
                         : interesting(r, sz);
    if (sz == 8 && r.chance(40)) v = uint64_t(int64_t(int32_t(interesting(r, 4))));
    std::memcpy(out, &v, sz);
    return;
  }
  // Floats: build from an 80-bit value's class, re-encoded in the smaller format.
  const unsigned ebits = sz == 4 ? 8 : 11, mbits = sz == 4 ? 23 : 52;
  const uint64_t emax = (1ull << ebits) - 1, bias = emax >> 1;
  const unsigned k = r.below(100);
  uint64_t e, f;
  if (k < 10) { e = 0; f = 0; }
  else if (k < 20) { e = bias + r.below(8); f = uint64_t(r.below(8)) << (mbits - 3); }
  else if (k < 26) { e = emax; f = 0; }
  else if (k < 32) {
    e = emax;
    f = (1ull << (mbits - 1)) | (r.next() & ((1ull << (mbits - 1)) - 1));
  }
  else if (k < 38) { e = emax; f = (r.next() & ((1ull << (mbits - 1)) - 1)) | 1; }
  else if (k < 46) { e = 0; f = (r.next() & ((1ull << mbits) - 1)) | 1; }
  else if (k < 52) { e = r.chance(50) ? 1 : emax - 1; f = r.next() & ((1ull << mbits) - 1); }
  else if (k < 80) { e = bias - 40 + r.below(80); f = r.next() & ((1ull << mbits) - 1); }
  else { e = r.next() % emax; f = r.next() & ((1ull << mbits) - 1); }
  uint64_t v = (uint64_t(r.chance(50)) << (ebits + mbits)) | (e << mbits) | f;
  std::memcpy(out, &v, sz);
}

// A random x87 state as an FNSAVE image. `pending`: percent chance of an unmasked flag.
void x87_state(Rng& r, uint8_t* img, unsigned pending) {
  uint16_t cw =
      uint16_t(0x40 | (r.below(4) << 8) | (r.below(4) << 10) | (r.chance(20) ? 0x1000 : 0));
  cw |= r.chance(70) ? 0x3F : uint16_t(r.below(64));
  uint16_t sw = uint16_t((r.below(8) << 11) | (r.u32() & FSW_CC));
  if (r.chance(pending)) sw |= uint16_t(~cw & 0x3F ? (~cw & 0x3F) & (1u << r.below(6)) : 0);
  else if (r.chance(30)) sw |= uint16_t(r.u32() & cw & 0x3F) | (r.chance(30) ? FSW_SF : 0);
  uint16_t tw = 0;
  for (unsigned i = 0; i < 8; ++i)
    if (r.chance(18)) tw |= uint16_t(3u << (2 * i));
  std::memset(img, 0, ORACLE_FPU_SIZE);
  const uint32_t w[7] = {0xFFFF0000u | cw, 0xFFFF0000u | sw, 0xFFFF0000u | tw, 0, 0, 0,
                         0xFFFF0000u};
  std::memcpy(img, w, sizeof w);
  for (unsigned i = 0; i < 8; ++i) f80_value(r, img + 28 + 10 * i);
}

// C0-C3 the instruction defines (SDM vol.2, each instruction's "FPU Flags Affected").
uint16_t x87_cc_mask(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_FCOM: case ZYDIS_MNEMONIC_FCOMP: case ZYDIS_MNEMONIC_FCOMPP:
    case ZYDIS_MNEMONIC_FUCOM: case ZYDIS_MNEMONIC_FUCOMP: case ZYDIS_MNEMONIC_FUCOMPP:
    case ZYDIS_MNEMONIC_FICOM: case ZYDIS_MNEMONIC_FICOMP: case ZYDIS_MNEMONIC_FTST:
    case ZYDIS_MNEMONIC_FXAM: case ZYDIS_MNEMONIC_FPREM: case ZYDIS_MNEMONIC_FPREM1:
    case ZYDIS_MNEMONIC_FCOMI: case ZYDIS_MNEMONIC_FCOMIP: case ZYDIS_MNEMONIC_FUCOMI:
    case ZYDIS_MNEMONIC_FUCOMIP: case ZYDIS_MNEMONIC_FNINIT: case ZYDIS_MNEMONIC_FLDENV:
      return FSW_CC;
    case ZYDIS_MNEMONIC_FSIN: case ZYDIS_MNEMONIC_FCOS: case ZYDIS_MNEMONIC_FSINCOS:
    case ZYDIS_MNEMONIC_FPTAN:
      return FSW_C1 | FSW_C2;
    case ZYDIS_MNEMONIC_FFREE: case ZYDIS_MNEMONIC_FFREEP: case ZYDIS_MNEMONIC_FNOP:
    case ZYDIS_MNEMONIC_FNCLEX: case ZYDIS_MNEMONIC_FLDCW: case ZYDIS_MNEMONIC_FNSTCW:
    case ZYDIS_MNEMONIC_FNSTSW: case ZYDIS_MNEMONIC_FNSTENV: case ZYDIS_MNEMONIC_FWAIT:
    case ZYDIS_MNEMONIC_FENI8087_NOP: case ZYDIS_MNEMONIC_FDISI8087_NOP:
    case ZYDIS_MNEMONIC_FSETPM287_NOP:
      return 0;
    default:
      return FSW_C1;  // arithmetic, loads, stores: C1 = round-up / stack fault direction
  }
}

struct X87Group {
  std::string name;
  ZydisMnemonic mnem;
  std::vector<uint16_t> codes;  // ESC byte << 8 | ModRM
};

// Control words for FLDCW: random, or the usual ones with random masks and rounding.
uint32_t r_cw(Rng& r) {
  if (r.chance(30)) return r.u32() & 0xFFFF;
  return 0x0040 | (r.below(4) << 8) | (r.below(4) << 10) | (r.chance(70) ? 0x3F : r.below(64));
}

void x87_forms() {
  ZydisDecoder dec;
  ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
  auto mnem_of = [&](const uint8_t* b, unsigned n, ZydisMnemonic& m) {
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, b, n, &zi, ops))) return false;
    m = zi.mnemonic;
    return true;
  };
  // Register forms, grouped by (ESC byte, ModRM row, mnemonic).
  auto groups = std::make_shared<std::vector<X87Group>>();
  for (unsigned esc = 0xD8; esc <= 0xDF; ++esc)
    for (unsigned row = 0xC0; row < 0x100; row += 8) {
      std::vector<X87Group> here;
      for (unsigned i = 0; i < 8; ++i) {
        const uint8_t b[2] = {uint8_t(esc), uint8_t(row + i)};
        ZydisMnemonic m;
        if (!mnem_of(b, 2, m)) continue;
        auto it = std::find_if(here.begin(), here.end(), [&](auto& g) { return g.mnem == m; });
        if (it == here.end()) {
          char nm[64];
          std::snprintf(nm, sizeof nm, "x87 %s (%02X %02X)", ZydisMnemonicGetString(m), esc,
                        row + i);
          here.push_back({nm, m, {}});
          it = here.end() - 1;
        }
        it->codes.push_back(uint16_t(esc << 8 | (row + i)));
      }
      for (auto& g : here) groups->push_back(g);
    }
  auto emit_reg = [](B& b, const X87Group& g) {
    const uint16_t code = g.codes[b.r.below(unsigned(g.codes.size()))];
    b.bytes({uint8_t(code >> 8), uint8_t(code)});
    b.k.cc_mask = x87_cc_mask(g.mnem);
  };
  for (const X87Group& g : *groups)
    add(g.name, [g, emit_reg](B& b) {
      b.k.fpu = true;
      x87_state(b.r, b.c().fpu, 8);
      emit_reg(b, g);
    });

  // Memory forms: ESC /reg with an absolute operand in the buffer.
  for (unsigned esc = 0; esc < 8; ++esc)
    for (unsigned reg = 0; reg < 8; ++reg) {
      if (esc == 5 && (reg == 4 || reg == 6)) continue;  // FRSTOR/FNSAVE: image > buffer
      const uint8_t probe[6] = {uint8_t(0xD8 + esc), uint8_t(0x05 | reg << 3), 0, 0, 0, 0};
      ZydisMnemonic m;
      if (!mnem_of(probe, 6, m) || m == ZYDIS_MNEMONIC_FISTTP) continue;
      unsigned sz;
      switch (esc) {
        case 0: case 2: sz = 4; break;
        case 4: sz = 8; break;
        case 6: sz = 2; break;
        case 1: { const unsigned t[8] = {4, 0, 4, 4, 28, 2, 28, 2}; sz = t[reg]; break; }
        case 3: { const unsigned t[8] = {4, 0, 4, 4, 0, 10, 0, 10}; sz = t[reg]; break; }
        case 5: { const unsigned t[8] = {8, 0, 8, 8, 0, 0, 0, 2}; sz = t[reg]; break; }
        default: { const unsigned t[8] = {2, 0, 2, 2, 10, 8, 10, 8}; sz = t[reg]; break; }
      }
      char nm[64];
      std::snprintf(nm, sizeof nm, "x87 %s m%u (%02X /%u)", ZydisMnemonicGetString(m), sz * 8,
                    0xD8 + esc, reg);
      const bool env = sz == 28;
      add(nm, [=](B& b) {
        b.k.fpu = true;
        x87_state(b.r, b.c().fpu, 8);
        const uint32_t off = b.r.below(MEMSZ - sz + 1);
        if (env) {  // FLDENV: a plausible environment; FNSTENV: pointer fields not compared
          uint8_t img[ORACLE_FPU_SIZE];
          x87_state(b.r, img, 20);
          std::memcpy(b.c().mem + off, img, 28);
          if (reg == 6) b.k.mem_mask &= ~(0xFFFFull << (off + 12));
        } else if (m == ZYDIS_MNEMONIC_FLDCW) {
          uint16_t cw = uint16_t(r_cw(b.r));
          std::memcpy(b.c().mem + off, &cw, 2);
        } else {
          x87_mem_value(b.r, esc, reg, sz, b.c().mem + off);
        }
        b.bytes({uint8_t(0xD8 + esc), uint8_t(0x05 | reg << 3)});
        b.imm(4, DATA + off);
        b.k.cc_mask = x87_cc_mask(m);
      });
    }

  add("x87 fwait", [](B& b) {
    b.k.fpu = true;
    x87_state(b.r, b.c().fpu, 50);
    b.b(0x9B);
    b.k.cc_mask = FSW_CC;
  });
  // Two instructions: an exception left pending by the first is reported (#MF) by the second
  // if it waits; lazily held state must carry over.
  add("seq x87 reg; x87 reg", [groups, emit_reg](B& b) {
    b.k.fpu = true;
    x87_state(b.r, b.c().fpu, 4);
    emit_reg(b, (*groups)[b.r.below(unsigned(groups->size()))]);
    emit_reg(b, (*groups)[b.r.below(unsigned(groups->size()))]);
    b.k.cc_mask = 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Issue 9, P6 opcodes assemblers rarely emit: SALC (D6), the 82 alias of 80, the /6 (SAL) alias
// in the shift groups, the /1 (TEST) alias in F6/F7, the hint-NOP space 0F 18-1F, UD0/UD1/UD2
// (#UD). The x87 aliases (FSTP1, FXCH4, FFREEP, ...) are among the x87 register groups above.
// Not here, because the host is not a P6 or not at CPL 0: INT1 (the host kernel turns it into
// SIGTRAP), RDPMC (CR4.PCE is the host kernel's), CPUID, 0F 0D (a prefetch on the AMD host,
// #UD on a P6); tests/interp/p6_opcodes_test.cpp and pmc_cpuid_test.cpp cover those.
void p6_opcode_forms() {
  add("salc", [](B& b) { b.set(1, EAX, b.val(1)); b.b(0xD6); });
  add("lock salc (#UD)", [](B& b) { b.bytes({0xF0, 0xD6}); });
  for (bool mem : {false, true})
    add(std::string("alu rm8,imm8 (82 alias)") + mr(mem), [=](B& b) {
      const unsigned op = b.r.below(8);
      Rm d = b.rm(1, mem);
      b.set_rm(1, d, b.val(1));
      b.b(0x82);
      b.modrm(op, d);
      b.imm(1, b.val(1));
      b.k.flag_mask = alu_logic(op) ? FL_ALL & ~AF : FL_ALL;
    });
  for (unsigned sz : SIZES) {
    const std::string s = size_tag(sz);
    for (bool mem : {false, true}) {
      add("sal rm" + s + " (/6 alias; 1, cl, imm8)" + mr(mem), [=](B& b) {
        Rm d = b.rm(sz, mem);
        b.set_rm(sz, d, b.val(sz));
        const unsigned how = b.r.below(3);  // 0: by 1, 1: by CL, 2: by imm8
        const uint8_t cnt = how == 0 ? 1 : shift_count(b.r);
        if (how == 1) b.set(1, ECX, cnt);  // after the operand: CL may be the operand
        b.opw(sz, how == 0 ? 0xD0 : how == 1 ? 0xD2 : 0xC0);
        b.modrm(6, d);
        if (how == 2) b.imm(1, cnt);
        b.k.flag_mask = shift_flag_mask(6, sz, cnt);
      });
      add("test rm" + s + ",imm" + s + " (/1 alias)" + mr(mem), [=](B& b) {
        Rm d = b.rm(sz, mem);
        b.set_rm(sz, d, b.val(sz));
        b.opw(sz, 0xF6);
        b.modrm(1, d);
        b.imm(sz, b.val(sz));
        b.k.flag_mask = FL_ALL & ~AF;
      });
    }
  }
  for (bool mem : {false, true})
    add(std::string("hint nop 0F 18-1F /r") + mr(mem), [=](B& b) {
      if (b.r.chance(30)) b.b(0x66);
      b.bytes({0x0F, uint8_t(0x18 + b.r.below(8))});
      b.modrm(b.r.below(8), b.rm(4, mem));
    });
  add("ud2 (#UD)", [](B& b) { b.bytes({0x0F, 0x0B}); });
  add("ud1 r32,rm32 (#UD)", [](B& b) {
    b.bytes({0x0F, 0xB9});
    b.modrm(b.gpr(4), b.rm(4, b.r.chance(50)));
  });
  add("ud0 (#UD)", [](B& b) { b.bytes({0x0F, 0xFF, 0xC0}); });
}

void build_forms() {
  alu_forms();
  unary_forms();
  shift_forms();
  muldiv_forms();
  bcd_forms();
  bit_forms();
  data_forms();
  seq_forms();
  lock_forms();
  x87_forms();
  p6_opcode_forms();
}

// ---------------------------------------------------------------------------------------------
// Running cases.

// The native side: native_runner (32-bit) or native_runner64 (cases translated to 64-bit-mode
// code, see long_mode.h), picked by the ELF class of `path`, as a child process fed through
// pipes.
class NativeRunner {
 public:
  explicit NativeRunner(const std::string& path) : long_mode_(elf_class(path) == 64) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) { perror("pipe"); exit(2); }
    pid_ = fork();
    if (pid_ < 0) { perror("fork"); exit(2); }
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[0]); close(in[1]); close(out[0]); close(out[1]);
      execl(path.c_str(), path.c_str(), (char*)nullptr);
      perror(path.c_str());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~NativeRunner() {
    if (to_ >= 0) close(to_);
    if (from_ >= 0) close(from_);
    int st;
    waitpid(pid_, &st, 0);
  }

  // Runs a batch; returns false if the runner died. Cases the 64-bit runner cannot run get
  // vector ORACLE_VECTOR_NOT_RUN (why(i) says why).
  bool run(const std::vector<Case>& cases, std::vector<OracleResult>& out) {
    out.resize(cases.size());
    std::vector<OracleCase> raw(cases.size());
    for (size_t i = 0; i < cases.size(); ++i) raw[i] = cases[i].c;
    if (!long_mode_) return transfer(raw, out);
    const std::vector<OracleCase64>& recs = lm_.prepare(raw);
    std::vector<OracleResult> res(recs.size());
    if (!transfer(recs, res)) return false;
    lm_.finish(res, out);
    return true;
  }
  bool long_mode() const { return long_mode_; }
  std::string why(size_t i) const { return long_mode_ ? lm_.why(i) : std::string(); }

 private:
  template <class T>
  bool transfer(const std::vector<T>& in, std::vector<OracleResult>& out) {
    bool wrote = true;
    std::thread writer([&] { wrote = write_all(in.data(), in.size() * sizeof(T)); });
    bool ok = read_all(out.data(), out.size() * sizeof(OracleResult));
    writer.join();
    return ok && wrote;
  }
  bool write_all(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n) {
      ssize_t w = write(to_, c, n);
      if (w <= 0) return false;
      c += w;
      n -= size_t(w);
    }
    return true;
  }
  bool read_all(void* p, size_t n) {
    char* c = static_cast<char*>(p);
    while (n) {
      ssize_t r = read(from_, c, n);
      if (r <= 0) return false;
      c += r;
      n -= size_t(r);
    }
    return true;
  }
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  bool long_mode_;
  LongModeBatch lm_;
};

// The softcpu side: one harness (flat 32-bit protected mode, CPL 0) reused for every case.
class SoftRunner {
 public:
  // Own GDT, IDT, exception stubs and vector byte, all outside page 0: the shared harness keeps
  // them in page 0, where an invalidated soft-TLB entry (tag 1) still "hits" (see README).
  static constexpr uint32_t GDT = 0x5000, IDT = 0x2000, STUBS = 0x3000, VEC = 0x4000;

  explicit SoftRunner(bool jit) : h_(true, jit ? test::Tier::JIT : test::default_tier()) {
    static_assert(ORACLE_DATA_ADDR + 4096 <= test::CpuHarness::RAM);
    Cpu& c = h_.cpu;
    const uint64_t gdt[3] = {0, 0x00CF9B000000FFFFull, 0x00CF93000000FFFFull};
    h_.mem.write_bytes(GDT, gdt, sizeof gdt);
    c.gdtr = {GDT, sizeof gdt - 1};
    for (unsigned v = 0; v < 32; ++v) {
      // mov byte [VEC], v ; hlt
      const uint8_t stub[8] = {0xC6, 0x05, uint8_t(VEC), uint8_t(VEC >> 8), 0, 0, uint8_t(v), 0xF4};
      h_.mem.write_bytes(STUBS + v * 16, stub, sizeof stub);
      const uint32_t off = STUBS + v * 16;
      const uint32_t lo = (0x08u << 16) | (off & 0xFFFF), hi = (off & 0xFFFF0000u) | 0x8E00;
      h_.mem.write_bytes(IDT + v * 8, &lo, 4);
      h_.mem.write_bytes(IDT + v * 8 + 4, &hi, 4);
    }
    c.idtr = {IDT, 32 * 8 - 1};
  }

  bool jit() const { return h_.jit != nullptr; }

  OracleResult run(const OracleCase& in) {
    Cpu& c = h_.cpu;
    uint8_t code[ORACLE_CODE_MAX + 1] = {};
    std::memcpy(code, in.code, in.code_len);
    code[in.code_len] = 0xF4;  // HLT
    h_.mem.write_bytes(CODE, code, in.code_len + 1);
    h_.cache.invalidate(CODE, ORACLE_CODE_MAX + 16);
    std::memset(h_.mem.ram() + DATA, 0, 4096);
    std::memcpy(h_.mem.ram() + DATA, in.mem, MEMSZ);
    h_.mem.write_bytes(VEC, "\xFF", 1);
    for (unsigned i = 0; i < 8; ++i) c.regs[i] = in.regs[i];
    c.regs[ESP] = test::CpuHarness::STACK_TOP;
    c.eflags = (in.eflags & FL_ALL) | 2u;
    c.lz_kind = LZ_NONE;
    c.eip = CODE;
    c.halted = 0;
    c.cr0 |= CR0_NE;  // unmasked x87 exceptions raise #MF, as under Linux
    FpuImage img;
    std::memcpy(img.b, in.fpu, ORACLE_FPU_SIZE);
    fpu_from_image(c.fpu, img);
    c.exit_reason = EXIT_NONE;

    OracleResult r{};
    ExitReason why = EXIT_NONE;
    try {
      why = h_.run(64);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "softcpu threw: %s\n", e.what());
      why = EXIT_COUNT;
    }
    for (unsigned i = 0; i < 8; ++i) r.regs[i] = c.regs[i];
    r.eflags = read_eflags(c);
    std::memcpy(r.mem, h_.mem.ram() + DATA, MEMSZ);
    r.vector = -1;
    if (why != EXIT_HLT) {
      r.vector = 1000 + int(why);  // did not reach the final HLT
    } else if (uint8_t v = h_.mem.ram()[VEC]; v != 0xFF) {
      r.vector = v;
      const bool err = v == 8 || (v >= 10 && v <= 14) || v == 17;
      r.fault_eip = h_.rd32(c.regs[ESP] + (err ? 4 : 0));
    }
    FpuImage out;
    fpu_to_image(c.fpu, out);
    std::memcpy(r.fpu, out.b, ORACLE_FPU_SIZE);
    return r;
  }

 private:
  test::CpuHarness h_;
};

// ---------------------------------------------------------------------------------------------
// Comparison and reporting.

const char* const REG_NAMES[8] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};

std::string flag_str(uint32_t f) {
  static const struct { uint32_t bit; const char* n; } fl[] = {
      {CF, "CF"}, {PF, "PF"}, {AF, "AF"}, {ZF, "ZF"}, {SF, "SF"}, {OF, "OF"}, {DF, "DF"}};
  std::string s;
  for (auto& x : fl)
    if (f & x.bit) s += std::string(s.empty() ? "" : " ") + x.n;
  return "[" + s + "]";
}

std::string disasm(const OracleCase& c) {
  std::string out;
  uint32_t off = 0;
  while (off < c.code_len) {
    ZydisDisassembledInstruction zi;
    if (!ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LEGACY_32, CODE + off,
                                            c.code + off, c.code_len - off, &zi))) {
      out += (out.empty() ? "" : "; ") + std::string("(bad)");
      break;
    }
    out += (out.empty() ? "" : "; ") + std::string(zi.text);
    off += zi.info.length;
  }
  return out;
}

std::string hex_bytes(const uint8_t* p, unsigned n) {
  std::string s;
  char buf[4];
  for (unsigned i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02X", p[i]);
    s += (i ? " " : "") + std::string(buf);
  }
  return s;
}

std::string vec_str(int v) {
  if (v == -1) return "none";
  if (v >= 1000) return "no final HLT (exit reason " + std::to_string(v - 1000) + ")";
  static const char* names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
                                "#DF", "?9",  "#TS", "#NP", "#SS", "#GP", "#PF"};
  return v < 15 ? std::string(names[v]) + "(" + std::to_string(v) + ")" : std::to_string(v);
}

struct Diff {
  bool any = false;
  std::string what;
};

bool g_strict = false;  // --strict: compare undefined flags and results too

// CPUID leaf 0's vendor string is "AuthenticAMD".
bool host_is_amd() {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  return b == 0x68747541 && d == 0x69746E65 && c == 0x444D4163;  // "Auth" "enti" "cAMD"
}
bool g_long_mode = false;  // the native side is native_runner64 (translated code)

Diff compare(const Case& k, const OracleResult& exp, const OracleResult& got) {
  Diff d;
  auto note = [&](const std::string& s) {
    d.any = true;
    d.what += (d.what.empty() ? "" : ", ") + s;
  };
  if (exp.vector != got.vector) note("exception");
  // A faulting instruction changes nothing: compare everything then.
  const bool faulted = (exp.vector >= 0 && exp.vector == got.vector) || g_strict;
  const uint32_t fm = faulted ? FL_ALL : k.flag_mask;
  if (faulted && exp.fault_eip != got.fault_eip) note("fault eip");
  if (k.fpu) {
    // CW, SW (C0-C3 as defined), TW and the eight registers; not the instruction/data
    // pointers and opcode (selectors differ, and newer CPUs store FOP/FCS/FDS as zero).
    auto w16 = [](const uint8_t* p, unsigned off) { return uint16_t(p[off] | p[off + 1] << 8); };
    const uint16_t ccm = faulted ? uint16_t(FSW_CC) : k.cc_mask;
    const uint16_t swm = uint16_t(~FSW_CC | ccm);
    if (w16(exp.fpu, 0) != w16(got.fpu, 0)) note("fpu cw");
    if ((w16(exp.fpu, 4) ^ w16(got.fpu, 4)) & swm) note("fpu sw");
    if (w16(exp.fpu, 8) != w16(got.fpu, 8)) note("fpu tw");
    if (std::memcmp(exp.fpu + 28, got.fpu + 28, 80) != 0) note("fpu st");
  }
  for (unsigned i = 0; i < 8; ++i) {
    const uint32_t m = i == ESP ? 0 : faulted ? ~0u : k.regm[i];
    if ((exp.regs[i] ^ got.regs[i]) & m) note(REG_NAMES[i]);
  }
  if ((exp.eflags ^ got.eflags) & fm) note("flags " + flag_str((exp.eflags ^ got.eflags) & fm));
  for (unsigned i = 0; i < MEMSZ; ++i)
    if (exp.mem[i] != got.mem[i] && (faulted || (k.mem_mask >> i & 1))) {
      note("memory");
      break;
    }
  return d;
}

void print_state(const char* label, const OracleResult& r, const OracleCase& in, uint32_t fm) {
  std::printf("    %-9s", label);
  for (unsigned i = 0; i < 8; ++i)
    if (i != ESP) std::printf(" %s=%08X", REG_NAMES[i], r.regs[i]);
  std::printf("\n              flags=%s (compared %s)", flag_str(r.eflags & FL_ALL).c_str(),
              flag_str(fm).c_str());
  std::printf(" exception=%s", vec_str(r.vector).c_str());
  if (r.vector >= 0 && r.vector < 1000) std::printf(" at %08X", r.fault_eip);
  std::printf("\n");
  if (std::memcmp(r.mem, in.mem, MEMSZ) != 0) {
    std::printf("              mem changed:");
    for (unsigned i = 0; i < MEMSZ; ++i)
      if (r.mem[i] != in.mem[i]) std::printf(" +%u=%02X", i, r.mem[i]);
    std::printf("\n");
  }
}

void print_fpu(const char* label, const uint8_t* img) {
  auto w16 = [&](unsigned off) { return unsigned(img[off] | img[off + 1] << 8); };
  std::printf("    %-9s cw=%04X sw=%04X tw=%04X st:", label, w16(0), w16(4), w16(8));
  for (unsigned i = 0; i < 8; ++i) {
    const uint8_t* p = img + 28 + 10 * i;
    std::printf(" %02X%02X_", p[9], p[8]);
    for (int b = 7; b >= 0; --b) std::printf("%02X", p[b]);
  }
  std::printf("\n");
}

void print_mismatch(const Form& f, size_t index, const Case& k, const OracleResult& exp,
                    const OracleResult& got, const Diff& d, const char* tag = "MISMATCH") {
  std::printf("  %s %s (case %zu): %s   | %s\n", tag, f.name.c_str(), index,
              hex_bytes(k.c.code, k.c.code_len).c_str(), disasm(k.c).c_str());
  if (g_long_mode) std::printf("    natively as 64-bit code: %s\n", long_mode_describe(k.c).c_str());
  std::printf("    input    ");
  for (unsigned i = 0; i < 8; ++i)
    if (i != ESP) std::printf(" %s=%08X", REG_NAMES[i], k.c.regs[i]);
  std::printf("\n              flags=%s mem@%08X: %s\n", flag_str(k.c.eflags).c_str(), DATA,
              hex_bytes(k.c.mem, 32).c_str());
  print_state("expected", exp, k.c, k.flag_mask);
  print_state("seen", got, k.c, k.flag_mask);
  if (k.fpu) {
    print_fpu("fpu in", k.c.fpu);
    print_fpu("fpu exp", exp.fpu);
    print_fpu("fpu seen", got.fpu);
  }
  if (d.any) std::printf("    differs: %s\n", d.what.c_str());
}

// Guards against a vacuous oracle: native and softcpu must agree on a simple memory form, and
// a perturbed softcpu result (register, flag, memory byte, exception) must be reported.
bool self_check(NativeRunner& native, SoftRunner& soft) {
  const Form* f = nullptr;
  for (auto& x : forms)
    if (x.name == "add rm32,r32 [mem]") f = &x;
  if (!f) return true;
  Rng rng{42};
  std::vector<Case> cases(16);
  std::vector<OracleResult> exp;
  for (auto& k : cases) f->gen(rng, k);
  if (!native.run(cases, exp)) {
    std::fprintf(stderr, "oracle self-check: native runner failed\n");
    return false;
  }
  bool ok = true, ran = false;
  for (size_t i = 0; i < cases.size(); ++i) {
    OracleResult got = soft.run(cases[i].c);
    ran |= std::memcmp(exp[i].mem, cases[i].c.mem, MEMSZ) != 0;  // the add stored natively
    for (unsigned m = 0; m < 4; ++m) {
      OracleResult bad = got;
      if (m == 0) bad.regs[EBX] ^= 1u << (i % 32);
      if (m == 1) bad.eflags ^= ZF;
      if (m == 2) bad.mem[i % MEMSZ] ^= 0x40;
      if (m == 3) bad.vector = 6;
      if (!compare(cases[i], exp[i], bad).any) ok = false;
    }
  }
  if (!ok) std::fprintf(stderr, "oracle self-check: perturbed results were not reported\n");
  if (!ran) std::fprintf(stderr, "oracle self-check: the native runner changed no memory\n");

  // The x87 state: the native side must really run FADD, and perturbed x87 results (a
  // register bit, C1, the tag word) must be reported.
  const Form* fx = nullptr;
  for (auto& x : forms)
    if (x.name.rfind("x87 fadd (D8 C0)", 0) == 0) fx = &x;
  bool fran = fx == nullptr, fok = true;
  if (fx) {
    for (auto& k : cases) fx->gen(rng, k);
    if (!native.run(cases, exp)) return false;
    for (size_t i = 0; i < cases.size(); ++i) {
      OracleResult got = soft.run(cases[i].c);
      fran |= std::memcmp(exp[i].fpu + 28, cases[i].c.fpu + 28, 80) != 0 ||
              (exp[i].fpu[4] & 0x3F) != (cases[i].c.fpu[4] & 0x3F);
      for (unsigned m = 0; m < 3; ++m) {
        OracleResult bad = got;
        if (m == 0) bad.fpu[28 + (i % 80)] ^= 0x10;
        if (m == 1) bad.fpu[5] ^= FSW_C1 >> 8;
        if (m == 2) bad.fpu[8] ^= 0x01;
        if (!compare(cases[i], exp[i], bad).any) fok = false;
      }
    }
  }
  if (!fok) std::fprintf(stderr, "oracle self-check: perturbed x87 results were not reported\n");
  if (!fran) std::fprintf(stderr, "oracle self-check: the native runner changed no x87 state\n");
  return ok && ran && fok && fran;
}

struct Options {
  std::string native;
  uint64_t count = 2000;
  uint64_t seed = 1;
  std::vector<std::string> filters;
  unsigned show = 2;
  bool list = false;
  bool quiet = false;
  unsigned dump = 0;
  bool jit = false;
  bool corrupt = false;  // flip a bit of softcpu's EAX in every result: the test must see it
};

std::string lower(std::string s) {
  for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

void usage() {
  std::printf(
      "usage: oracle_main [--native PATH] [--count N | --soak N] [--seed S] [--filter SUB]...\n"
      "                   [--show N] [--quiet] [--strict] [--dump N] [--list] [--jit]\n"
      "  --native PATH  native_runner or native_runner64 (by ELF class; default: next to this\n"
      "                 executable, native_runner if built)\n"
      "  --count N      cases per form (default 2000)\n"
      "  --soak N       same as --count N, meant for large N\n"
      "  --seed S       random seed (default 1; the run is reproducible from it)\n"
      "  --filter SUB   run only forms whose name contains SUB (case-insensitive; repeatable)\n"
      "  --show N       print the first N mismatches of each form in full (default 2)\n"
      "  --quiet        print only forms with mismatches and the total\n"
      "  --strict       also compare what the SDM leaves undefined (flags, BSF/BSR/SHLD results)\n"
      "  --dump N       print the first N cases of each form with both results\n"
      "  --list         list the forms and exit\n"
      "  --jit          run softcpu's side as compiled code (tier 1: every case's code is\n"
      "                 compiled by the translator before it runs; also SOFTCPU_TEST_TIER=jit)\n"
      "  --corrupt      flip bit 0 of softcpu's EAX in every result, so every case must\n"
      "                 mismatch (proves the comparison catches a wrong result)\n");
}

int main_impl(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&]() -> std::string {
      if (i + 1 >= argc) { usage(); std::exit(2); }
      return argv[++i];
    };
    if (a == "--native") o.native = need();
    else if (a == "--count" || a == "--soak") o.count = std::strtoull(need().c_str(), nullptr, 0);
    else if (a == "--seed") o.seed = std::strtoull(need().c_str(), nullptr, 0);
    else if (a == "--filter") o.filters.push_back(lower(need()));
    else if (a == "--show") o.show = unsigned(std::strtoul(need().c_str(), nullptr, 0));
    else if (a == "--list") o.list = true;
    else if (a == "--quiet") o.quiet = true;
    else if (a == "--strict") g_strict = true;
    else if (a == "--dump") o.dump = unsigned(std::strtoul(need().c_str(), nullptr, 0));
    else if (a == "--jit") o.jit = true;
    else if (a == "--corrupt") o.corrupt = true;
    else { usage(); return a == "--help" || a == "-h" ? 0 : 2; }
  }
  if (!g_strict && !host_is_amd()) {
    g_compare_shift_of = false;
    std::printf("host CPU is not AMD's: OF after shifts and rotates by counts other than 1 is not compared\n");
  }
  if (!g_strict && !host_bsf_as_p6()) {
    g_compare_bsf_flags = false;
    std::printf("host CPU's BSF/BSR keep the flags a P6 defines (CF OF SF AF PF): only ZF is compared\n");
  }
  build_forms();
  if (o.list) {
    for (auto& f : forms) std::printf("%s\n", f.name.c_str());
    return 0;
  }
  if (o.native.empty()) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
      self[n] = 0;
      std::string p = self;
      o.native = p.substr(0, p.rfind('/') + 1) + "native_runner";
      if (access(o.native.c_str(), X_OK) != 0) o.native += "64";  // no 32-bit runner built
    }
  }
  signal(SIGPIPE, SIG_IGN);
  NativeRunner native(o.native);
  g_long_mode = native.long_mode();
  NativeCoverage coverage;
  SoftRunner soft(o.jit);
  if (soft.jit()) std::printf("softcpu side: compiled code (tier 1, every case compiled)\n");

  if (!self_check(native, soft)) return 2;
  if (g_long_mode && !long_mode_self_test()) return 2;

  uint64_t total_cases = 0, total_bad = 0, total_not_run = 0;
  std::vector<std::string> bad_forms;
  constexpr size_t CHUNK = 4096;
  std::vector<Case> cases;
  std::vector<OracleResult> exp;
  for (size_t fi = 0; fi < forms.size(); ++fi) {
    const Form& f = forms[fi];
    if (!o.filters.empty()) {
      bool hit = false;
      for (auto& s : o.filters) hit |= lower(f.name).find(s) != std::string::npos;
      if (!hit) continue;
    }
    // Each form gets its own stream, so --filter does not change a form's cases.
    Rng rng{o.seed * 0x100000001B3ull + fi * 0x9E3779B97F4A7C15ull};
    uint64_t done = 0, bad = 0, faults = 0;
    unsigned shown = 0;
    while (done < o.count) {
      size_t n = size_t(std::min<uint64_t>(CHUNK, o.count - done));
      cases.resize(n);
      for (auto& k : cases) f.gen(rng, k);
      if (!native.run(cases, exp)) {
        std::fprintf(stderr, "oracle: native runner '%s' failed\n", o.native.c_str());
        return 2;
      }
      for (size_t i = 0; i < n; ++i) {
        if (exp[i].vector == ORACLE_VECTOR_NOT_RUN) {  // no 64-bit-mode equivalent
          coverage.not_run(f.name, native.why(i));
          continue;
        }
        coverage.ran(f.name);
        OracleResult got = soft.run(cases[i].c);
        if (o.corrupt) got.regs[0] ^= 1;  // the oracle's own check (ctest native_oracle_*_corrupt)
        Diff d = compare(cases[i], exp[i], got);
        faults += exp[i].vector >= 0;
        if (done + i < o.dump) print_mismatch(f, done + i, cases[i], exp[i], got, d, "CASE");
        if (!d.any) continue;
        ++bad;
        if (shown < o.show) {
          ++shown;
          print_mismatch(f, done + i, cases[i], exp[i], got, d);
        }
      }
      done += n;
    }
    const uint64_t not_run = coverage.not_run_count(f.name);
    total_cases += done - not_run;
    total_not_run += not_run;
    total_bad += bad;
    if (bad) bad_forms.push_back(f.name);
    if (!o.quiet || bad)
      std::printf("%s: %llu cases, %llu mismatches%s%s\n", f.name.c_str(),
                  (unsigned long long)(done - not_run), (unsigned long long)bad,
                  faults ? (" (" + std::to_string(faults) + " raised an exception natively)").c_str()
                         : "",
                  not_run ? (" (" + std::to_string(not_run) + " not run natively)").c_str() : "");
    std::fflush(stdout);
  }
  if (coverage.any()) coverage.print();
  std::printf("TOTAL: %llu cases, %llu mismatches in %zu forms",
              (unsigned long long)total_cases, (unsigned long long)total_bad, bad_forms.size());
  if (g_long_mode)
    std::printf(" (64-bit runner: %llu cases not run natively)", (unsigned long long)total_not_run);
  std::printf("\n");
  return total_bad ? 1 : 0;
}

}  // namespace
}  // namespace softcpu::oracle

int main(int argc, char** argv) { return softcpu::oracle::main_impl(argc, argv); }
