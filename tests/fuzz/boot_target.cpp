// Boot-input harness: what a user hands softcpu to boot, malformed.
//
// Input: byte 0 the kind (below), byte 1 the RAM size (1-16 MiB), bytes 2-3 a size parameter
// (initrd KiB, module KiB, ROM size choice or disk bytes), byte 4 a count (command-line length
// / 8, number of modules), then the file's bytes.
//   0 bzImage       load_bzimage (monitor/linux_boot.h) with an initrd and a command line
//   1 Multiboot     load_multiboot (monitor/multiboot.h): ELF program headers, a.out kludge,
//                   modules
//   2 -kernel       a whole Machine booting the file directly (load_direct_kernel picks
//                   bzImage or Multiboot; the initrd/module files exist), 2000 instructions
//   3 ROM and disk  a whole Machine with the bytes at the end of a ROM of 64/128/256 KiB or of
//                   an odd size, and an IDE disk of an odd size, 2000 instructions
// The documented errors (BootError, ConfigError) are the expected outcome of bad files; any
// other exception, a crash or a sanitizer report is a finding.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "interp/memory.h"
#include "monitor/boot_error.h"
#include "monitor/linux_boot.h"
#include "monitor/machine.h"
#include "monitor/machine_config.h"
#include "monitor/multiboot.h"
#include "tests/fuzz/fuzz_memory.h"
#include "tests/fuzz/fuzz_targets.h"

namespace softcpu::fuzz {
namespace {

std::string temp_path(const char* name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/softcpu-fuzz-" +
                     std::to_string(getpid()) + "-" + name;
  remove_at_exit(path);
  return path;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail("boot", "cannot write a temporary file in TMPDIR");
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
    fail("boot", "cannot write a temporary file in TMPDIR");
  std::fclose(f);
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = uint8_t(k * 7 + seed);
  return v;
}

void run_machine_quietly(MachineConfig& config) {
  config.serial = "none";
  config.insn_limit = 2000;
  config.timeout_seconds = 2.0;
  config.reset_on_triple_fault = false;
  Machine m(config);
  m.run();
}

}  // namespace

int boot(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const unsigned kind = data[0] % 4;
  const uint32_t ram_mib = 1 + data[1] % 16;
  const uint32_t param = uint32_t(data[2]) | uint32_t(data[3]) << 8;
  const unsigned count = data[4];
  const std::vector<uint8_t> file(data + 5, data + size);
  try {
    switch (kind) {
      case 0: {
        PhysicalMemory& mem = reusable_memory("boot", ram_mib << 20);
        LinuxBootOptions o;
        o.cmdline.assign(count * 8, 'x');
        o.initrd = pattern(size_t(param % 16384) << 10, 1);  // up to 16 MiB
        o.vga_text = param & 1;
        load_bzimage(mem, file, o);
        break;
      }
      case 1: {
        PhysicalMemory& mem = reusable_memory("boot", ram_mib << 20);
        MultibootOptions o;
        o.cmdline.assign(count * 8 % 4096, 'y');
        for (unsigned k = 0; k < count % 4; ++k)
          o.modules.push_back({pattern(size_t(param % 4096) << (k * 4), uint8_t(k)),
                               "mod" + std::to_string(k) + " arg"});
        load_multiboot(mem, file, o);
        break;
      }
      case 2: {
        static const std::string rom_path = temp_path("hlt.rom");
        static const std::string kernel = temp_path("kernel"), initrd = temp_path("initrd");
        static const bool once = (write_file(rom_path, std::vector<uint8_t>(64 << 10, 0xF4)), true);
        (void)once;
        write_file(kernel, file);
        write_file(initrd, pattern(size_t(param % 4096) << 8, 3));
        MachineConfig config;
        config.bios_path = rom_path;
        config.ram_mib = ram_mib;
        config.kernel_path = kernel;
        config.append.assign(count * 8, 'z');
        // bzImage: one initrd; Multiboot: a module list (",," is a literal comma).
        config.initrd_path = (param & 0x8000) ? initrd + " a,," + initrd : initrd;
        run_machine_quietly(config);
        break;
      }
      case 3: {
        static const std::string rom_path = temp_path("fuzz.rom"), disk = temp_path("disk.img");
        const size_t sizes[] = {64 << 10, 128 << 10, 256 << 10, file.size()};
        std::vector<uint8_t> rom(sizes[count % 4], 0xF4);
        const size_t n = std::min(rom.size(), file.size());
        std::copy(file.end() - long(n), file.end(), rom.end() - long(n));  // the reset vector
        write_file(rom_path, rom);
        write_file(disk, pattern(param * 3u + (count >> 2), 5));  // any size, odd ones too
        MachineConfig config;
        config.bios_path = rom_path;
        config.ram_mib = ram_mib;
        config.drives = {{disk, (count >> 4) % 4, (count & 0x40) != 0, (count & 0x80) != 0}};
        run_machine_quietly(config);
        break;
      }
    }
  } catch (const BootError&) {
  } catch (const ConfigError&) {
  }
  return 0;
}

}  // namespace softcpu::fuzz
