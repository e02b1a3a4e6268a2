#include "monitor/machine.h"

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <fstream>
#include <iterator>

#include "hostio/char_backend.h"
#include "hostio/event_loop.h"
#include "interp/access.h"
#include "interp/exceptions.h"
#include "interp/flags.h"
#include "interp/segments.h"
#include "interp/tlb.h"
#include "vdevices/debug_exit.h"
#include "vdevices/debugcon.h"
#include "vdevices/uart16550.h"
#include "vdevices/unassigned.h"

namespace softcpu {

namespace {

// Instructions the interpreter may run between checks of the clock and exit requests.
constexpr uint64_t kRunBudget = 200000;

const char* exit_reason_name(unsigned r) {
  switch (r) {
    case EXIT_BUDGET: return "budget";
    case EXIT_IO: return "io";
    case EXIT_CPUID: return "cpuid";
    case EXIT_RDTSC: return "rdtsc";
    case EXIT_MSR: return "msr";
    case EXIT_HLT: return "hlt";
    case EXIT_TRIPLE_FAULT: return "triple_fault";
    case EXIT_REQUEST: return "request";
    default: return "none";
  }
}

}  // namespace

Machine::Machine(const MachineConfig& config) : config_(config) {
  if (config.ram_mib < 1 || config.ram_mib > 3072)
    throw ConfigError{"memory size must be between 1 and 3072 MiB, got " +
                      std::to_string(config.ram_mib)};
  mem_ = std::make_unique<PhysicalMemory>(config.ram_mib << 20);
  cpu_.mem = mem_.get();
  cpu_.cache = &cache_;
  interp_ = std::make_unique<Interpreter>(cpu_, cache_);
  if (config.bios_path.empty())
    throw ConfigError{"no firmware given: use --bios FILE (a 64, 128 or 256 KiB ROM image)"};
  load_bios(config.bios_path);

  loop_ = std::make_unique<EventLoop>();
  unassigned_ = std::make_unique<UnassignedPorts>();
  ports_ = std::make_unique<PortBus>(unassigned_.get());

  std::string error;
  auto serial = open_char_backend(config.serial, *loop_, &error);
  if (!serial) throw ConfigError{error};
  serial->set_quit_handler([this] { request_exit(0); });
  auto uart = std::make_unique<Uart16550>(0x3F8, *serial);
  ports_->attach(uart.get(), 0x3F8, 8);
  com1_ = uart.get();
  devices_.push_back(std::move(uart));
  backends_.push_back(std::move(serial));

  for (const DebugconSpec& d : config.debugcons) {
    auto out = open_output_file(d.path, &error, "debug console");
    if (!out) throw ConfigError{error};
    auto con = std::make_unique<Debugcon>(d.port, *out);
    ports_->attach(con.get(), d.port, 1);
    devices_.push_back(std::move(con));
    backends_.push_back(std::move(out));
  }

  auto exit_dev = std::make_unique<DebugExit>([this](int status) { request_exit(status); });
  ports_->attach(exit_dev.get(), 0xF4, 4);
  devices_.push_back(std::move(exit_dev));

  if (!config.trace_path.empty()) {
    trace_ = config.trace_path == "-" ? stdout : std::fopen(config.trace_path.c_str(), "w");
    if (!trace_)
      throw ConfigError{"cannot open trace file '" + config.trace_path + "': " +
                        std::strerror(errno)};
    interp_->set_trace(&Machine::trace_hook, this);
  }

  reset_cpu(cpu_);
  register_stats();
}

Machine::~Machine() {
  if (trace_ && trace_ != stdout) std::fclose(trace_);
}

void Machine::load_bios(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ConfigError{"cannot open BIOS image '" + path + "': " + std::strerror(errno)};
  std::vector<uint8_t> rom((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw ConfigError{"cannot read BIOS image '" + path + "'"};
  size_t n = rom.size();
  if (n != 64 * 1024 && n != 128 * 1024 && n != 256 * 1024)
    throw ConfigError{"BIOS image '" + path + "' is " + std::to_string(n) +
                      " bytes; it must be 64, 128 or 256 KiB"};
  // The ROM ends at 0xFFFFF (real-mode view) and at 0xFFFFFFFF (the reset vector at
  // 0xFFFFFFF0, where a 386 starts: SDM vol.3 9.1.4).
  uint32_t low = 0x100000 - uint32_t(n);
  mem_->map_rom(low, rom.data(), uint32_t(n));
  mem_->alias_rom(uint32_t(0x100000000ull - n), low, uint32_t(n));
}

void Machine::request_exit(int status) {
  int none = -1;
  exit_status_.compare_exchange_strong(none, status);
}

void Machine::register_stats() {
  stats_.add("instructions", &cpu_.icount);
  stats_.add("wall_seconds", [this] { return wall_seconds_; });
  stats_.add("mips", [this] {
    return wall_seconds_ > 0 ? double(cpu_.icount) / wall_seconds_ / 1e6 : 0.0;
  });
  const InterpCounters& ic = interp_->counters();
  stats_.add("blocks_decoded", &ic.blocks_decoded);
  stats_.add("insns_decoded", &ic.insns_decoded);
  const CacheCounters& cc = cache_.counters();
  stats_.add("cache.lookups", &cc.lookups);
  stats_.add("cache.hits", [&cc] { return double(cc.jump_cache_hits + cc.hash_hits); });
  stats_.add("cache.jump_cache_hits", &cc.jump_cache_hits);
  stats_.add("cache.hash_hits", &cc.hash_hits);
  stats_.add("cache.misses", &cc.misses);
  stats_.add("cache.chained", &cc.chained);
  // Chained transitions found their block without a lookup: they count as hits.
  stats_.add("cache.hit_rate", [&cc] {
    uint64_t all = cc.lookups + cc.chained;
    return all ? double(cc.jump_cache_hits + cc.hash_hits + cc.chained) / double(all) : 0.0;
  });
  stats_.add("cache.invalidations", &cc.invalidations);
  stats_.add("cache.flushes", &cc.flushes);
  stats_.add("cache.blocks", [this] { return double(cache_.block_count()); });
  for (unsigned r = EXIT_IO; r < EXIT_COUNT; ++r)
    stats_.add(std::string("exits.") + exit_reason_name(r), &exits_[r]);
  stats_.add("resets", &resets_);
  const TlbCounters& tc = cpu_.tlb_counters;
  stats_.add("tlb.slow_accesses", &tc.slow_accesses);
  stats_.add("tlb.walks", &tc.walks);
  stats_.add("tlb.fills", &tc.fills);
  stats_.add("tlb.flushes", &tc.flushes);
  stats_.add("tlb.nonglobal_flushes", &tc.nonglobal_flushes);
  stats_.add("tlb.invlpg", &tc.invlpg);
  stats_.add("exceptions.total", &ic.exceptions);
  for (unsigned v = 0; v < 32; ++v)
    if (v <= VEC_MC)
      stats_.add("exceptions.vector_" + std::to_string(v), &ic.exceptions_by_vector[v]);
  stats_.add("io.port_reads", &ports_->reads);
  stats_.add("io.port_writes", &ports_->writes);
  stats_.add("io.unassigned_accesses", [this] { return double(unassigned_->total()); });
  stats_.add("memory.unassigned_reads", &mem_->unassigned_reads);
  stats_.add("memory.unassigned_writes", &mem_->unassigned_writes);
}

void Machine::register_final_stats() {
  for (const auto& [port, count] : unassigned_->accesses()) {
    char name[48];
    std::snprintf(name, sizeof name, "io.unassigned.port_0x%04x", port);
    uint64_t n = count.reads + count.writes;
    stats_.add(name, [n] { return double(n); });
  }
}

void Machine::trace_hook(void* self, Cpu& c, const Insn& insn, uint32_t eip) {
  auto* m = static_cast<Machine*>(self);
  uint8_t bytes[16] = {};
  uint32_t lin = c.seg[CS].base + eip;
  for (unsigned k = 0; k < insn.len; ++k) {
    uint32_t phys;  // the instruction was fetched, so this cannot fault; never raise here
    bytes[k] = try_translate(c, lin + k, ACCESS_FETCH, phys) ? uint8_t(m->mem_->read(phys, 1)) : 0;
  }
  char text[96];
  m->interp_->decoder().format(bytes, insn.len, code32(c), eip, text, sizeof text);
  char hex[48] = {};
  for (unsigned k = 0; k < insn.len && k < 15; ++k)
    std::snprintf(hex + 3 * k, 4, "%02x ", bytes[k]);
  std::fprintf(m->trace_,
               "%04x:%08x  %-30s %-32s EAX=%08x EBX=%08x ECX=%08x EDX=%08x ESI=%08x EDI=%08x "
               "EBP=%08x ESP=%08x EFL=%08x\n",
               c.seg[CS].selector, eip, hex, text, c.regs[EAX], c.regs[EBX], c.regs[ECX],
               c.regs[EDX], c.regs[ESI], c.regs[EDI], c.regs[EBP], c.regs[ESP], read_eflags(c));
}

// Run the instruction the interpreter stopped before (I/O, CPUID, RDTSC, HLT, MSR).
bool Machine::run_trapped() {
  const TrapOp op = trap_op(*cpu_.trap_insn);
  ++trap_ops_[op];
  cpu_.tsc = cpu_.icount + tsc_offset_;  // one tick per instruction: a virtual clock
  if (!execute_trapped(cpu_, *ports_)) return false;
  if (op == TRAP_WRMSR) tsc_offset_ = cpu_.tsc - cpu_.icount;
  return true;
}

void Machine::report_triple_fault() {
  Cpu& c = cpu_;
  std::fprintf(stderr,
               "softcpu: triple fault at %04x:%08x (CR0=%08x)\n"
               "  EAX=%08x EBX=%08x ECX=%08x EDX=%08x ESI=%08x EDI=%08x EBP=%08x ESP=%08x "
               "EFL=%08x\n"
               "  CS=%04x SS=%04x DS=%04x ES=%04x GDT=%08x/%04x IDT=%08x/%04x\n",
               c.seg[CS].selector, c.eip, c.cr0, c.regs[EAX], c.regs[EBX], c.regs[ECX],
               c.regs[EDX], c.regs[ESI], c.regs[EDI], c.regs[EBP], c.regs[ESP], read_eflags(c),
               c.seg[CS].selector, c.seg[SS].selector, c.seg[DS].selector, c.seg[ES].selector,
               c.gdtr.base, c.gdtr.limit, c.idtr.base, c.idtr.limit);
}

int Machine::run() {
  started_ = std::chrono::steady_clock::now();
  const bool has_deadline = config_.timeout_seconds.has_value();
  const auto deadline =
      started_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                     std::chrono::duration<double>(has_deadline ? *config_.timeout_seconds : 0));
  int status = 0;
  for (;;) {
    if (int requested = exit_status_.load(); requested >= 0) {
      status = requested;
      break;
    }
    ExitReason r = interp_->run(kRunBudget);
    ++exits_[r];
    com1_->poll();  // take host input even when the guest is not reading the UART
    if (r == EXIT_TRIPLE_FAULT || ((r >= EXIT_IO && r <= EXIT_HLT) && !run_trapped())) {
      report_triple_fault();
      if (!config_.reset_on_triple_fault) {
        status = 3;
        break;
      }
      // A triple fault makes a PC's chipset assert RESET (SDM vol.3 6.15, #DF): the CPU
      // starts again at the reset vector; memory is kept.
      std::fprintf(stderr, "softcpu: resetting the CPU (--on-triple-fault=reset)\n");
      ++resets_;
      reset_cpu(cpu_);
      continue;
    }
    if (cpu_.halted) {
      // No device can raise an interrupt on this machine yet, so HLT is the end.
      std::fprintf(stderr, "softcpu: guest halted at %04x:%08x with no interrupt source; stopping\n",
                   cpu_.seg[CS].selector, cpu_.eip);
      status = 0;
      break;
    }
    if (has_deadline && exit_status_.load() < 0 && std::chrono::steady_clock::now() >= deadline) {
      std::fprintf(stderr, "softcpu: timeout after %g seconds; stopping the guest\n",
                   *config_.timeout_seconds);
      status = 124;
      break;
    }
  }
  wall_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  if (trace_) std::fflush(trace_);
  return status;
}

}  // namespace softcpu
