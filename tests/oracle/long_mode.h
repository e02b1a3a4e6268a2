// Long-mode translation of oracle cases, for hosts that run 64-bit user code only (no
// compatibility mode): each case's 32-bit code is rewritten into 64-bit-mode code that computes
// the same thing with 32-bit operand and address size, run by native_runner64, and its results
// are mapped back (a fault's EIP in the original code's terms). Cases that cannot run as 64-bit
// code (instructions invalid in 64-bit mode, stack width, segment registers, ...) are reported
// as not run, with the reason. See tests/oracle/README.md, "The 64-bit runner".
#ifndef SOFTCPU_TESTS_ORACLE_LONG_MODE_H
#define SOFTCPU_TESTS_ORACLE_LONG_MODE_H

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/oracle/oracle_proto.h"

namespace softcpu::oracle {

// One case's code as 64-bit-mode code.
struct LongModeCode {
  bool ok = false;
  std::string why;  // when !ok: "<reason>: <mnemonic>", e.g. "invalid in 64-bit mode: daa"
  uint8_t code[ORACLE_CODE64_MAX] = {};
  uint32_t len = 0;
  // Instruction boundaries (translated offset, original offset), the end included.
  std::vector<std::pair<uint32_t, uint32_t>> bounds;

  // The original EIP for a translated one (both absolute, at ORACLE_CODE_ADDR); an EIP that is
  // no translated instruction boundary is returned unchanged.
  uint32_t original_eip(uint32_t eip) const;
};

// Translates `len` bytes of 32-bit code (any number of instructions).
LongModeCode translate_to_long_mode(const uint8_t* code, uint32_t len);

// The reason part of LongModeCode::why ("invalid in 64-bit mode").
std::string why_category(const std::string& why);

// The translated bytes of a case as hex, or the reason it is not translatable (for reports).
std::string long_mode_describe(const OracleCase& c);

// A batch for native_runner64: the records to send and the mapping of the results back.
class LongModeBatch {
 public:
  // Translates the cases; returns the records for those that can run (in order).
  const std::vector<OracleCase64>& prepare(const std::vector<OracleCase>& cases);
  // One result per prepared case: the runner's result for those sent (fault EIP mapped back),
  // vector ORACLE_VECTOR_NOT_RUN for the others.
  void finish(const std::vector<OracleResult>& sent, std::vector<OracleResult>& out) const;
  // Why case i of the last batch was not run ("" if it was).
  const std::string& why(size_t i) const { return why_[i]; }

 private:
  std::vector<OracleCase64> recs_;
  std::vector<std::string> why_;
  std::vector<LongModeCode> code_;  // per case
};

// Counts, per form and reason, the cases not run natively, and prints the summary.
class NativeCoverage {
 public:
  void ran(const std::string& form) { ++at(form).ran; }
  void not_run(const std::string& form, const std::string& why) { ++at(form).why[why]; }
  uint64_t not_run_count(const std::string& form) const;
  // "N forms (M cases) not runnable on a 64-bit host: ..." plus partially run forms.
  void print() const;
  bool any() const;

 private:
  struct PerForm {
    std::string name;
    uint64_t ran = 0;
    std::map<std::string, uint64_t> why;
  };
  PerForm& at(const std::string& form);
  std::vector<PerForm> forms_;  // in the order first seen
  std::map<std::string, size_t> index_;
};

// Checks the translation of a table of known encodings (prints what differs); run by
// oracle_main's self-check when the native side is native_runner64.
bool long_mode_self_test();

// 32 or 64 for an ELF executable of that class, 0 if `path` is none.
int elf_class(const std::string& path);

}  // namespace softcpu::oracle

#endif
