// Machine snapshots (docs/snapshot.md): the machine's side. Sections: "machine" (the
// configuration a snapshot must match), "clock", "cpu", "ram", then the platform's devices and
// disk overlays (monitor/pc_platform_snapshot.cpp).
#include <cinttypes>
#include <cstdio>

#include "hostio/state_stream.h"
#include "interp/debug.h"
#include "interp/memory.h"
#include "interp/tlb.h"
#include "monitor/machine.h"
#include "monitor/pc_platform.h"
#include "monitor/snapshot.h"

namespace softcpu {

std::string Machine::describe_config() const {
  char bios[64];
  std::snprintf(bios, sizeof bios, "firmware: %u bytes, crc32 %08x\n", bios_size_, bios_crc_);
  // (With one CPU the description stays as it was: older one-CPU snapshots still load.)
  return "RAM: " + std::to_string(mem_->ram_size() >> 20) + " MiB\n" +
         (config_.cpus > 1 ? "CPUs: " + std::to_string(config_.cpus) + "\n" : "") + bios +
         platform_->describe_devices();
}

void Machine::save_snapshot(const std::string& path) {
  // A snapshot never holds half a disk operation: every request issued completes first (its
  // completion updates the IDE channel as it would have anyway).
  // -smp N: only CPU 0 is saved, so only a machine whose application processors have not
  // started (each still waits for its first SIPI and has run no instruction): a Linux boot
  // before its SMP bring-up. Loading leaves them as at reset. (Not seen: a STARTUP message
  // queued for an AP and not yet taken; it is not in the file.)
  for (size_t k = 0; k < aps_.size(); ++k)
    if (!aps_[k]->wait_for_sipi || aps_[k]->cpu.icount)
      throw SnapshotError{"CPU " + std::to_string(k + 1) + " has started: a snapshot of an SMP "
                          "machine holds CPU 0 only, so it must be taken before the "
                          "application processors start"};
  platform_->drain_disk_io(mailbox_);
  Snapshot snap;
  const std::string config = describe_config();
  snap.add("machine", std::vector<uint8_t>(config.begin(), config.end()));
  StateWriter clock;
  clock(clock_.now_ns(), tsc_offset_);
  snap.add("clock", std::move(clock.bytes()));
  StateWriter cpu;
  save_cpu(cpu_, cpu);
  snap.add("cpu", std::move(cpu.bytes()));
  StateWriter ram;
  uint64_t zero_pages = 0;
  save_ram(*mem_, ram, &zero_pages);
  snap.add("ram", std::move(ram.bytes()));
  platform_->save_state(snap);
  const uint64_t size = snap.write_file(path);
  std::fprintf(stderr,
               "softcpu: saved the machine to %s (%" PRIu64 " bytes; %" PRIu64 " of %u RAM "
               "pages were zero and not stored)\n",
               path.c_str(), size, zero_pages, mem_->ram_size() / PAGE_SIZE);
}

namespace {

// The first line where two configuration descriptions differ, for the error message.
std::string first_difference(const std::string& saved, const std::string& here) {
  size_t a = 0, b = 0;
  while (a < saved.size() || b < here.size()) {
    const size_t ea = saved.find('\n', a), eb = here.find('\n', b);
    const std::string la = a < saved.size() ? saved.substr(a, ea - a) : "(nothing)";
    const std::string lb = b < here.size() ? here.substr(b, eb - b) : "(nothing)";
    if (la != lb) return "the snapshot has '" + la + "', this machine '" + lb + "'";
    a = ea == std::string::npos ? saved.size() : ea + 1;
    b = eb == std::string::npos ? here.size() : eb + 1;
  }
  return "";
}

}  // namespace

void Machine::load_snapshot(const std::string& path) {
  const Snapshot snap = Snapshot::read_file(path);
  const auto& m = snap.need("machine").data;
  const std::string saved(m.begin(), m.end()), here = describe_config();
  if (saved != here)
    throw SnapshotError{"'" + path + "' was saved from a differently configured machine: " +
                        first_difference(saved, here)};
  for (const char* tag : {"clock", "cpu", "ram"}) snap.need(tag);
  // From here on the machine changes; the checks above cover what a file can get wrong.
  uint64_t saved_now = 0;
  try {
    platform_->drain_disk_io(mailbox_);
    StateReader clock(snap.need("clock").data);
    clock(saved_now, tsc_offset_);
    clock.expect_end("clock");
    StateReader ram(snap.need("ram").data);
    load_ram(*mem_, ram);
    StateReader cpu(snap.need("cpu").data);
    const uint64_t icount_before = cpu_.icount;
    load_cpu(cpu_, cpu);
    icount_loaded_ += cpu_.icount - icount_before;
    cpu.expect_end("cpu");
    platform_->load_state(snap);
  } catch (const StateError& e) {
    // Only a file written by different code with the same format version gets here.
    request_exit(1);
    throw SnapshotError{"'" + path + "': " + e.message + "; the machine is left half loaded and "
                        "stops"};
  }
  // Nothing cached from before may survive: decoded and compiled code, soft TLB entries.
  tlb_flush(cpu_);
  drop_code(cpu_, 0, 0xFFFFFFFFu);
  debug_rebuild(cpu_);
  reset_requested_ = false;
  // Last: the host time the load took (reading RAM, which takes seconds on a loaded host) is
  // not guest time. The devices armed their timers at absolute deadlines meanwhile.
  clock_.restore_now(saved_now);
}

bool Machine::snapshot_monitor_command(std::string_view cmd, std::string& reply) {
  const bool save = cmd.rfind("savevm", 0) == 0, load = cmd.rfind("loadvm", 0) == 0;
  if (!save && !load) return false;
  std::string_view arg = cmd.substr(6);
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  if (arg.empty()) {
    reply = std::string("usage: monitor ") + (save ? "savevm" : "loadvm") + " FILE\n";
    return true;
  }
  const std::string path(arg);
  try {
    if (save) {
      save_snapshot(path);
      reply = "saved the machine to " + path + "\n";
    } else {
      load_snapshot(path);
      reply = "loaded the machine from " + path + " (gdb: 'maintenance flush register-cache')\n";
    }
  } catch (const SnapshotError& e) {
    reply = std::string(save ? "savevm" : "loadvm") + " failed: " + e.message + "\n";
  }
  return true;
}

}  // namespace softcpu
