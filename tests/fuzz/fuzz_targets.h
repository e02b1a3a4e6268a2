// The bodies of the libFuzzer harnesses (tests/fuzz/README.md), as plain functions so that
// the fuzzers (fuzz_main.cpp, clang with -fsanitize=fuzzer) and the corpus replay test of the
// normal build (replay_test.cpp) run the same code. Each takes any bytes, never throws, and
// aborts (a finding) when softcpu breaks one of its promises for that input.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace softcpu::fuzz {

// Instruction streams: random code in real, 16/32-bit protected, V86 and paged modes
// (insn_target.cpp), run through the interpreter with invariants checked between runs.
int insn(const uint8_t* data, size_t size);
// The same inputs through the interpreter and through compiled code (translator/, every block
// compiled on first execution); the two runs' guest states must agree (insn_target.cpp).
int insn_jit(const uint8_t* data, size_t size);
// insn's run of one input with its outcome: instructions retired plus exceptions delivered
// (bounded by the harness's limit, whatever the code does; replay_test.cpp).
uint64_t insn_work(const uint8_t* data, size_t size);
// Port and MMIO sequences against the whole PC platform (platform_target.cpp).
int platform(const uint8_t* data, size_t size);
// GDB remote packets against the stub over a small machine (gdb_target.cpp).
int gdb(const uint8_t* data, size_t size);
// Boot inputs: bzImage, Multiboot (ELF and a.out kludge), initrd, ROM and disk images
// (boot_target.cpp).
int boot(const uint8_t* data, size_t size);
// System descriptions: TOML text through check-config's reader and checks (config_target.cpp).
int config(const uint8_t* data, size_t size);

// Remove `path` when the process exits (the harnesses' temporary disk, ROM and kernel files).
void remove_at_exit(const std::string& path);

// A broken invariant: print what and where, then abort (libFuzzer reports it as a crash).
[[noreturn]] void fail(const char* harness, const char* what);

}  // namespace softcpu::fuzz
