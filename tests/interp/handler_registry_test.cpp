// Every handler the decoder can put in an Insn must be in the handler registry
// (interp/sem/registry.h): that is how the translator finds the same handler in its bitcode.
// A handler missing there still runs in compiled code, but as a call the optimiser cannot see
// into. The corpus: every one- and two-byte opcode with every ModRM byte, under the prefixes
// that change the form, in 16- and 32-bit code, with a 16- and a 32-bit stack (SS.B).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <unordered_set>

#include "interp/decode.h"
#include "interp/sem/registry.h"

namespace softcpu {
namespace {

std::unordered_set<Handler> registered() {
  std::unordered_set<Handler> s;
  for (uint32_t k = 0; k < softcpu_handler_family_count; ++k)
    for (uint32_t j = 0; j < softcpu_handler_families[k].count; ++j)
      s.insert(softcpu_handler_families[k].fns[j]);
  return s;
}

TEST(HandlerRegistry, EveryDecodedHandlerIsRegistered) {
  const std::unordered_set<Handler> reg = registered();
  InsnDecoder dec;
  std::map<Handler, std::string> missing;  // handler -> an encoding that selects it
  unsigned decoded = 0;
  const std::vector<std::vector<uint8_t>> prefixes = {{}, {0x66}, {0x67}, {0xF3}, {0xF2}, {0xF0}, {0x66, 0xF3}};
  for (unsigned mode = 0; mode < 4; ++mode) {
    const bool code32 = mode & 1, stack32 = mode & 2;
    for (const auto& pre : prefixes) {
      for (unsigned map = 0; map < 2; ++map) {
        for (unsigned op = 0; op < 256; ++op) {
          if (map == 0 && op == 0x0F) continue;
          for (unsigned modrm = 0; modrm < 256; ++modrm) {
            uint8_t bytes[15] = {};
            unsigned n = 0;
            for (uint8_t p : pre) bytes[n++] = p;
            if (map) bytes[n++] = 0x0F;
            bytes[n++] = uint8_t(op);
            bytes[n++] = uint8_t(modrm);
            bytes[n++] = 0x24;  // SIB, then displacement/immediate bytes
            const Insn i = dec.decode(bytes, 15, code32, stack32);
            ++decoded;
            if (i.fn == handler_ud || reg.count(i.fn)) continue;
            if (!missing.count(i.fn)) {
              char enc[64];
              int w = std::snprintf(enc, sizeof enc, "%s/%s:", code32 ? "32" : "16",
                                    stack32 ? "ss32" : "ss16");
              for (unsigned k = 0; k < n && w < 60; ++k) w += std::snprintf(enc + w, sizeof enc - w, " %02x", bytes[k]);
              missing[i.fn] = enc;
            }
          }
        }
      }
    }
  }
  for (const auto& [fn, enc] : missing) std::printf("  not registered: handler %p, e.g. %s\n", reinterpret_cast<void*>(fn), enc.c_str());
  std::printf("%u encodings decoded, %zu handlers in the registry, %zu decoded handlers missing\n",
              decoded, reg.size(), missing.size());
  EXPECT_TRUE(missing.empty());
}

TEST(HandlerRegistry, FamiliesAreNamedAndNonEmpty) {
  std::set<std::string> names;
  for (uint32_t k = 0; k < softcpu_handler_family_count; ++k) {
    const HandlerFamily& f = softcpu_handler_families[k];
    EXPECT_GT(f.count, 0u);
    EXPECT_TRUE(names.insert(f.name).second) << "family listed twice: " << f.name;
    for (uint32_t j = 0; j < f.count; ++j) EXPECT_NE(f.fns[j], nullptr) << f.name << "[" << j << "]";
  }
}

}  // namespace
}  // namespace softcpu
