// Helpers for the hypervisor tests: tiny ROMs in temporary files and small systems.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "monitor/hv/system_config.h"

namespace softcpu::hv::test {

// A 64 KiB ROM of HLT bytes with `reset` at the reset vector (F000:FFF0) and `code` at `at`.
inline std::string write_rom(const std::vector<uint8_t>& reset, uint32_t at = 0,
                             const std::vector<uint8_t>& code = {}) {
  std::vector<uint8_t> rom(0x10000, 0xF4);
  std::copy(reset.begin(), reset.end(), rom.begin() + 0xFFF0);
  std::copy(code.begin(), code.end(), rom.begin() + at);
  char path[] = "/tmp/softcpu_hv_rom_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, rom.data(), rom.size()), ssize_t(rom.size()));
  close(fd);
  return path;
}

// CLI (IF=0 already at reset) ; HLT: the guest halts for good at once (a clean stop).
inline const std::vector<uint8_t> kHaltForGood = {0xFA, 0xF4};
// jmp $: runs until stopped.
inline const std::vector<uint8_t> kLoopForever = {0xEB, 0xFE};
// UD2 with the real-mode IVT all zeros: #UD's handler at 0000:0000 is ADD [BX+SI],AL
// (00 00) ... runs into zeros forever; instead LIDT a zero-limit IDT first so #UD cannot be
// delivered: #UD -> #DF -> triple fault (SDM vol.3 6.15).  lidt [0x500] (6 zero bytes); ud2.
inline const std::vector<uint8_t> kTripleFault = {0x0F, 0x01, 0x1E, 0x00, 0x05, 0x0F, 0x0B};

// STI ; HLT ; JMP back: halts with interrupts on and nothing to deliver (no timer programmed),
// so it waits for ever without powering off.
inline const std::vector<uint8_t> kIdleForever = {0xFB, 0xF4, 0xEB, 0xFC};

// A guest's timeout that is only a guard against a hang, scaled for ThreadSanitizer: a guest
// there costs 30-60 times the release build's CPU (smp_atomics.c 14.7 s against 0.25 s), and
// on the loaded 2-core test host the process may get a tenth of a core, so guards of the
// release build's size ended runs that were still going (docs/hardening.md "ThreadSanitizer").
// (The factor is tests/CMakeLists.txt's HV_TIME_SCALE, the guests' and scripts' too.)
#ifndef SOFTCPU_HV_TIME_SCALE
#error "SOFTCPU_HV_TIME_SCALE comes from tests/CMakeLists.txt (HV_TIME_SCALE)"
#endif
inline constexpr unsigned kTimeScale = SOFTCPU_HV_TIME_SCALE;
inline double guard_seconds(double release_seconds) { return release_seconds * kTimeScale; }
// A wall-time window in which a guest must make some progress (run instructions, take turns),
// scaled the same way: under TSan the release build's windows were not filled on the loaded
// host (docs/hardening.md "ThreadSanitizer"). What must happen in the window is not scaled.
// The thin guests' own windows get the same factor as GUEST_TIME_SCALE
// (tests/guest/hv/CMakeLists.txt).
inline std::chrono::milliseconds window(std::chrono::milliseconds release) {
  return release * kTimeScale;
}

// Polls `done` every 5 ms for up to 20 s: whether it came true.
template <typename F>
inline bool wait_for(F done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline PartitionConfig partition(const std::string& name, const std::string& rom,
                                 uint64_t ram = 1u << 20) {
  PartitionConfig p;
  p.name = name;
  p.machine.bios_path = rom;
  p.machine.serial = "none";
  p.machine.timeout_seconds = 30;
  p.memory.push_back({0, ram, false, "", 0});
  return p;
}

// A primary hypervisor named "primary" on one processor set "set0" of `threads` host threads,
// with `slice_us` time slices; partitions go on it with on_primary().
inline SystemConfig system_on_set(unsigned threads, uint32_t slice_us) {
  SystemConfig s;
  s.processor_sets.push_back({"set0", threads, 0});
  HypervisorConfig h;
  h.name = "primary";
  h.processor_set = "set0";
  h.time_slice_us = slice_us;
  s.hypervisors.push_back(h);
  return s;
}

inline PartitionConfig on_primary(PartitionConfig p) {
  p.hypervisor = "primary";
  return p;
}

// A shared region of `size` bytes mapped as `maps` says (partition, guest-physical base, rights).
inline SharedRegionConfig shared_region(const std::string& name, uint64_t size,
                                        std::vector<SharedMapConfig> maps) {
  SharedRegionConfig sr;
  sr.name = name;
  sr.size = size;
  sr.maps = std::move(maps);
  return sr;
}

// A thin partition of the secondary hypervisor "rt" (tests/hv/secondary/): guest ROM `rom`,
// 2 MiB of RAM at 0, its debug console (port 0xE9) into `debugcon`, priority `priority` within
// 1-200, a 40 s timeout.
inline PartitionConfig thin_partition(const std::string& name, const std::string& rom,
                                      const std::string& debugcon, unsigned priority) {
  PartitionConfig p;
  p.name = name;
  p.hypervisor = "rt";
  p.machine.bios_path = rom;
  p.machine.serial = "none";
  p.machine.timeout_seconds = 40;
  p.machine.debugcons.push_back({0xE9, debugcon});
  p.memory.push_back({0, 2u << 20, false, "", 0});
  p.priority = priority;
  p.priority_range = std::make_pair(1u, 200u);
  return p;
}

// The folder of the guest programs (tests/guest/hv/), which ctest passes in HV_GUEST_DIR.
inline std::string guest_dir() {
  const char* d = std::getenv("HV_GUEST_DIR");
  return d ? d : "";
}

// A new temporary file /tmp/softcpu_hv_TAG_XXXXXX of `size` bytes (zeros).
inline std::string temp_file(const char* tag, size_t size) {
  std::string path = std::string("/tmp/softcpu_hv_") + tag + "_XXXXXX";
  const int fd = mkstemp(path.data());
  EXPECT_GE(fd, 0);
  if (size) {
    EXPECT_EQ(ftruncate(fd, off_t(size)), 0);
  }
  close(fd);
  return path;
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A partition running guest program `rom` with `ram` bytes at 0 and its debug console (port
// 0xE9) written to `debugcon`; no serial port, 50 s at most (guard_seconds).
inline PartitionConfig guest_partition(const std::string& name, const std::string& rom,
                                       uint64_t ram, const std::string& debugcon) {
  PartitionConfig p;
  p.name = name;
  p.machine.bios_path = rom;
  p.machine.serial = "none";
  p.machine.timeout_seconds = guard_seconds(50);
  p.machine.debugcons.push_back({0xE9, debugcon});
  p.memory.push_back({0, ram, false, "", 0});
  return p;
}

}  // namespace softcpu::hv::test
