#include "monitor/symbols.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace softcpu {

namespace {

bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

// Whitespace-separated fields of one line.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at < line.size()) {
    while (at < line.size() && is_space(line[at])) ++at;
    size_t end = at;
    while (end < line.size() && !is_space(line[end])) ++end;
    if (end > at) out.push_back(line.substr(at, end - at));
    at = end;
  }
  return out;
}

}  // namespace

SymbolTable SymbolTable::parse(std::string_view text, const std::string& name) {
  SymbolTable t;
  size_t line_no = 0;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    std::string_view line = text.substr(at, nl == std::string_view::npos ? text.size() - at : nl - at);
    at = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    auto fail = [&](const std::string& what) {
      throw SymbolFileError{name + ":" + std::to_string(line_no) + ": " + what +
                            " (expected 'ADDRESS TYPE NAME', e.g. 'c1000000 T startup_32')"};
    };
    const std::vector<std::string_view> f = fields_of(line);
    if (f.empty()) continue;
    if (line.find("real System.map is in") != std::string_view::npos)
      throw SymbolFileError{name + ":" + std::to_string(line_no) +
                            ": Debian's placeholder System.map; the real one is in the "
                            "linux-image-VERSION-dbg package, or use the guest's /proc/kallsyms"};
    // A fourth field is allowed when it names a module ("[ext4]"), as /proc/kallsyms has.
    if (f.size() < 3 || (f.size() == 4 && f[3].front() != '[') || f.size() > 4)
      fail("expected 3 fields, found " + std::to_string(f.size()));
    const std::string_view addr = f[0];
    if (addr.size() > 16 ||
        !std::all_of(addr.begin(), addr.end(), [](char ch) { return std::isxdigit(uint8_t(ch)); }))
      fail("bad address '" + std::string(addr) + "'");
    const uint64_t value = std::stoull(std::string(addr), nullptr, 16);
    if (value > 0xFFFFFFFFull) fail("address '" + std::string(addr) + "' is above 4 GiB");
    if (f[1].size() != 1 || !std::isalpha(uint8_t(f[1][0])))
      fail("bad symbol type '" + std::string(f[1]) + "'");
    const char type = f[1][0];
    if (type == 'a' || type == 'A') continue;
    t.symbols_.push_back({uint32_t(value), bool(std::isupper(uint8_t(type))), std::string(f[2])});
  }
  // One name per address: the first global one, else the first.
  std::stable_sort(t.symbols_.begin(), t.symbols_.end(),
                   [](const Symbol& a, const Symbol& b) {
                     return a.addr != b.addr ? a.addr < b.addr : a.global > b.global;
                   });
  t.symbols_.erase(std::unique(t.symbols_.begin(), t.symbols_.end(),
                               [](const Symbol& a, const Symbol& b) { return a.addr == b.addr; }),
                   t.symbols_.end());
  return t;
}

SymbolTable SymbolTable::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SymbolFileError{"cannot open symbol file '" + path + "': " + std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw SymbolFileError{"cannot read symbol file '" + path + "'"};
  return parse(text.str(), path);
}

std::string SymbolTable::describe(uint32_t addr) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                             [](uint32_t a, const Symbol& s) { return a < s.addr; });
  if (it == symbols_.begin()) return {};
  --it;
  const uint32_t off = addr - it->addr;
  if (off == 0) return it->name;
  char buf[16];
  std::snprintf(buf, sizeof buf, "+0x%x", off);
  return it->name + buf;
}

}  // namespace softcpu
