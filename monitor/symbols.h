// Guest symbol names for --profile: a System.map ("c1000000 T startup_32" per line, as the
// kernel build and `nm` write it; Debian ships /boot/System.map-VERSION) read into a sorted
// table that names an address as symbol+0xoffset.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace softcpu {

// A malformed symbol file: "FILE:LINE: what is wrong".
struct SymbolFileError {
  std::string message;
};

class SymbolTable {
 public:
  // Parse System.map text; `name` prefixes error messages. Blank lines are skipped, absolute
  // symbols (type a/A: constants, not code) are left out. Throws SymbolFileError.
  static SymbolTable parse(std::string_view text, const std::string& name);
  // Read and parse a file. Throws SymbolFileError (also when it cannot be read).
  static SymbolTable load(const std::string& path);

  // "name+0xoff" (or "name" at offset 0) for the closest symbol at or below `addr`; empty
  // when `addr` is below every symbol.
  std::string describe(uint32_t addr) const;
  size_t size() const { return symbols_.size(); }

 private:
  struct Symbol {
    uint32_t addr;
    bool global;  // upper-case type: preferred among symbols at one address
    std::string name;
  };
  std::vector<Symbol> symbols_;  // by address, one per address
};

}  // namespace softcpu
