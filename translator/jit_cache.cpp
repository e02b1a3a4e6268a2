#include "translator/jit_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/Support/BLAKE3.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Target/TargetMachine.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <vector>

#include "translator/semantics.h"

namespace softcpu {

namespace {

constexpr char kMagic[8] = {'s', 'o', 'f', 't', 'j', 'i', 't', 'c'};
// Bump when the file layout or what a region's IR does not show changes meaning (the run-time
// ABI of compiled code, the pass pipeline, code generation options).
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kPage = 4096;

// The GNU build ID of the executable: a rebuild of softcpu (any change to the translator, the
// runtime compiled code calls, the interpreter's layouts) makes a new one.
std::string build_id() {
  std::string id;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* out = static_cast<std::string*>(data);
        for (int k = 0; k < info->dlpi_phnum; ++k) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[k];
          if (ph.p_type != PT_NOTE) continue;
          const auto* p = reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
          const uint8_t* end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            const auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const uint8_t* name = p + sizeof(ElfW(Nhdr));
            const uint8_t* desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end) break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
              *out = llvm::toHex(llvm::ArrayRef<uint8_t>(desc, nh->n_descsz), true);
              return 1;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
          }
        }
        return 1;  // the first object is the executable: look no further
      },
      &id);
  return id;
}

// A little-endian byte writer and a bounds-checked reader for the file's payload.
struct Writer {
  std::string b;
  void u8(uint8_t v) { b.push_back(char(v)); }
  void u32(uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); }
  void u64(uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); }
  void bytes(const void* p, size_t n) { b.append(static_cast<const char*>(p), n); }
  void str(const std::string& s) {
    u32(uint32_t(s.size()));
    b += s;
  }
};
struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;
  bool take(void* out, size_t n) {
    if (!ok || size_t(end - p) < n) return ok = false;
    std::memcpy(out, p, n);
    p += n;
    return true;
  }
  uint8_t u8() { uint8_t v = 0; take(&v, 1); return v; }
  uint32_t u32() { uint32_t v = 0; take(&v, 4); return v; }
  uint64_t u64() { uint64_t v = 0; take(&v, 8); return v; }
  std::string str(size_t max) {
    const uint32_t n = u32();
    if (!ok || n > max || size_t(end - p) < n) {
      ok = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
};

CacheDigest digest(llvm::StringRef data) {
  return llvm::BLAKE3::hash<32>(
      llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

// A block's instructions as the file keeps them: each handler by name, the rest of the Insn
// as it is (with the handler pointer zeroed).
void put_insns(Writer& w, const Semantics& sem, const RegionBlock& rb) {
  w.u32(uint32_t(rb.insns.size()));
  for (const Insn& in : rb.insns) {
    const Semantics::Handler* h = sem.find(in.fn);
    w.str(h ? h->name : std::string());
    Insn copy = in;
    copy.fn = nullptr;
    w.bytes(&copy, sizeof copy);
  }
}

// A region file of the directory: its name, size and the time it was last written or loaded.
struct CacheFile {
  std::string name;
  uint64_t bytes;
  timespec used;
};

// A region file is tens of KiB (its code, records and relocations); one past this is not ours.
constexpr uint64_t kMaxFileBytes = 64ull << 20;

// A temporary file untouched this long was left by a writer that died before its rename.
constexpr time_t kStaleTempSeconds = 3600;

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() > n && s.compare(s.size() - n, n, suffix) == 0;
}

// The region files in `dir` (names ending in .o, and their reference files .ref) and their
// total size. Files that vanish while it looks (another process evicting) are left out;
// stale temporary files are removed.
std::vector<CacheFile> scan_files(const std::string& dir, uint64_t* total) {
  std::vector<CacheFile> files;
  *total = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return files;
  const time_t now = time(nullptr);
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    const bool temp = name.rfind(".tmp-", 0) == 0;
    if (!temp && !ends_with(name, ".o") && !ends_with(name, ".ref")) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (temp) {
      if (now - st.st_mtim.tv_sec > kStaleTempSeconds) unlinkat(dirfd(d), e->d_name, 0);
      continue;
    }
    files.push_back({name, uint64_t(st.st_size), st.st_mtim});
    *total += uint64_t(st.st_size);
  }
  closedir(d);
  return files;
}

}  // namespace

std::string jit_cache_env(const Semantics& sem, const llvm::TargetMachine& tm) {
  std::string env = "softcpu jit cache " + std::to_string(kFormatVersion);
  env += "\nllvm " LLVM_VERSION_STRING;
  env += "\ntarget " + tm.getTargetTriple().str() + " cpu " + tm.getTargetCPU().str() +
         " features " + tm.getTargetFeatureString().str();
  env += "\ncodegen model " + std::to_string(int(tm.getCodeModel())) +
         " reloc " + std::to_string(int(tm.getRelocationModel())) + " opt " +
         std::to_string(int(tm.getOptLevel()));
  env += "\nsemantics " + sem.bitcode_hash();
  env += "\nbuild " + build_id();
  env += "\ninsn " + std::to_string(sizeof(Insn)) + " link " + std::to_string(sizeof(NativeLink));
  return env;
}

JitCache::JitCache(std::string dir, const std::string& env, const Semantics& sem,
                   uint64_t max_bytes)
    : dir_(std::move(dir)), env_(digest(env)), sem_(sem), max_bytes_(max_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) why_ = ec.message();
  else if (access(dir_.c_str(), W_OK) != 0) why_ = std::strerror(errno);
  writable_ = why_.empty();
  // The files are native code this process runs, and their checksum detects damage, not
  // tampering: a directory another user may write to (or owns) is not used at all, as ssh
  // refuses a key file others can write.
  struct stat st;
  if (stat(dir_.c_str(), &st) == 0) {
    if (st.st_uid != geteuid())
      untrusted_ = "owned by another user";
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
      untrusted_ = "writable by its group or by others";
  }
}

JitCache::~JitCache() = default;

CacheDigest JitCache::key(const CacheDigest& ir_hash) const {
  llvm::BLAKE3 h;
  h.update(llvm::ArrayRef<uint8_t>(env_.data(), env_.size()));
  h.update(llvm::ArrayRef<uint8_t>(ir_hash.data(), ir_hash.size()));
  return h.final<32>();
}

std::string JitCache::path(const RegionSpec& spec) const {
  return name(spec.entry_lin, spec.mode, spec.blocks[0], ".o");
}

std::string JitCache::ref_path(uint32_t lin, uint32_t mode, const RegionBlock& rb) const {
  return name(lin, mode, rb, ".ref");
}

std::string JitCache::name(uint32_t lin, uint32_t mode, const RegionBlock& rb,
                           const char* suffix) const {
  Writer w;
  w.bytes(env_.data(), env_.size());
  w.u32(lin);
  w.u32(mode);
  w.u32(rb.eip);
  w.u32(rb.phys % kPage);
  w.u32(rb.bytes);
  put_insns(w, sem_, rb);
  const CacheDigest d = digest(w.b);
  char head[16];
  std::snprintf(head, sizeof head, "%08x-", lin);
  return dir_ + "/" + head + llvm::toHex(llvm::ArrayRef<uint8_t>(d.data(), 16), true) + suffix;
}

bool JitCache::put(const std::string& data, const std::string& final_path, std::string* error) {
  static std::atomic<uint64_t> serial{0};
  const std::string tmp = dir_ + "/.tmp-" + std::to_string(getpid()) + "-" + std::to_string(++serial);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(data.data(), std::streamsize(data.size()));
    f.close();
    if (!f) {
      *error = "cannot write " + tmp + ": " + std::strerror(errno);
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), final_path.c_str()) != 0) {
    *error = "cannot rename " + tmp + " to " + final_path + ": " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  used_ += data.size();  // (more than the truth when it replaced a file: the next scan corrects it)
  return true;
}

bool JitCache::store(const RegionSpec& spec, const CacheDigest& key, uint64_t code_bytes,
                     const std::string& symbol, const llvm::MemoryBuffer& object,
                     uint64_t* bytes_written, std::string* error) {
  Writer w;
  w.bytes(kMagic, sizeof kMagic);
  w.u32(kFormatVersion);
  w.bytes(env_.data(), env_.size());
  w.bytes(key.data(), key.size());
  w.u32(spec.entry_lin);
  w.u32(spec.mode);
  w.u32(uint32_t(spec.blocks.size()));
  for (const RegionBlock& rb : spec.blocks) {
    w.u32(rb.eip);
    w.u32(rb.phys % kPage);
    w.u32(rb.bytes);
    w.u8(rb.entry);
    put_insns(w, sem_, rb);
  }
  w.u64(code_bytes);
  w.str(symbol);
  w.u64(object.getBufferSize());
  w.bytes(object.getBufferStart(), object.getBufferSize());
  const CacheDigest sum = digest(w.b);
  w.bytes(sum.data(), sum.size());

  const std::string final_path = path(spec);
  if (!put(w.b, final_path, error)) return false;
  *bytes_written = w.b.size();
  // The other entries name the file: a later run in which one of them gets warm first finds
  // the region there (load checks that the file still has it as an entry).
  const std::string file = final_path.substr(dir_.size() + 1);
  const uint32_t cs_base = spec.entry_lin - spec.blocks[0].eip;
  for (size_t k = 1; k < spec.blocks.size(); ++k) {
    const RegionBlock& rb = spec.blocks[k];
    if (!rb.entry) continue;
    if (!put(file, ref_path(cs_base + rb.eip, spec.mode, rb), error)) return false;
    *bytes_written += file.size();
  }
  return true;
}

uint64_t JitCache::trim() {
  if (!max_bytes_ || !writable_ || (scanned_ && used_ <= max_bytes_)) return 0;
  std::vector<CacheFile> files = scan_files(dir_, &used_);
  scanned_ = true;
  if (used_ <= max_bytes_) return 0;
  // Least recently used first (ties by name, so the order does not depend on readdir's).
  std::sort(files.begin(), files.end(), [](const CacheFile& a, const CacheFile& b) {
    if (a.used.tv_sec != b.used.tv_sec) return a.used.tv_sec < b.used.tv_sec;
    if (a.used.tv_nsec != b.used.tv_nsec) return a.used.tv_nsec < b.used.tv_nsec;
    return a.name < b.name;
  });
  const uint64_t target = max_bytes_ - max_bytes_ / 10;
  uint64_t evicted = 0;
  for (const CacheFile& f : files) {
    if (used_ <= target) break;
    const std::string file = dir_ + "/" + f.name;
    // A file another process removed meanwhile is gone all the same; one it replaced since
    // the scan (rename) goes too: a later run misses it and compiles.
    const bool removed = unlink(file.c_str()) == 0;
    if (removed && ends_with(f.name, ".o")) ++evicted;  // (reference files go uncounted)
    if (removed || errno == ENOENT) used_ -= std::min(used_, f.bytes);
  }
  return evicted;
}

JitCache::Found JitCache::load(const RegionSpec& probe, Entry* out, uint64_t* bytes_read,
                               bool* member) const {
  if (member) *member = false;
  *bytes_read = 0;
  const Found head = load_file(path(probe), probe, out, bytes_read);
  if (head != Found::NONE) return head;
  // A reference file: the name of a region file that has the block as another entry.
  const std::string ref = ref_path(probe.entry_lin, probe.mode, probe.blocks[0]);
  const int fd = open(ref.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Found::NONE;
  char buf[96];
  ssize_t n;
  do n = read(fd, buf, sizeof buf); while (n < 0 && errno == EINTR);
  if (n > 0 && size_t(n) < sizeof buf) futimens(fd, nullptr);  // used now, as a load does
  close(fd);
  if (n <= 0 || size_t(n) >= sizeof buf) return Found::NONE;
  const std::string file(buf, size_t(n));
  // Only a file of this directory (a damaged reference names none: a miss).
  if (!ends_with(file, ".o") || file.find('/') != std::string::npos || file[0] == '.')
    return Found::NONE;
  *out = Entry{};
  uint64_t more = 0;
  const Found f = load_file(dir_ + "/" + file, probe, out, &more);
  *bytes_read += uint64_t(n) + more;
  if (member) *member = f == Found::OK;
  return f;
}

JitCache::Found JitCache::load_file(const std::string& file, const RegionSpec& probe, Entry* out,
                                    uint64_t* bytes_read) const {
  // Read through one descriptor: a file renamed over or removed meanwhile (another process
  // writing or evicting) is still the whole file opened, or not there (a miss).
  struct Fd {
    int fd;
    ~Fd() {
      if (fd >= 0) close(fd);
    }
  } f{open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st;
  if (f.fd < 0 || fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) return Found::NONE;
  // Far larger than any region's file: not read (a miss; the next store replaces it).
  if (uint64_t(st.st_size) > kMaxFileBytes) return Found::NONE;
  std::string data(size_t(st.st_size), '\0');
  size_t filled = 0;
  while (filled < data.size()) {
    const ssize_t n = read(f.fd, data.data() + filled, data.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    filled += size_t(n);
  }
  data.resize(filled);
  *bytes_read += data.size();
  auto bad = [&] {
    // Removed only if the name still holds the file read (not one another process put there).
    struct stat now;
    if (stat(file.c_str(), &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino)
      std::remove(file.c_str());
    return Found::BAD;
  };
  // The checksum first: nothing of a damaged or truncated file is looked at.
  if (data.size() < sizeof kMagic + 4 + 32) return bad();
  const size_t body = data.size() - 32;
  const CacheDigest sum = digest(llvm::StringRef(data).take_front(body));  // (no copy of it)
  if (std::memcmp(sum.data(), data.data() + body, 32) != 0) return bad();
  out->checksum = sum;
  Reader r{reinterpret_cast<const uint8_t*>(data.data()),
           reinterpret_cast<const uint8_t*>(data.data()) + body};
  char magic[sizeof kMagic];
  CacheDigest env;
  r.take(magic, sizeof magic);
  const uint32_t version = r.u32();
  r.take(env.data(), env.size());
  if (!r.ok || std::memcmp(magic, kMagic, sizeof kMagic) != 0 || version != kFormatVersion ||
      env != env_)
    return bad();  // another format or environment: not ours to load
  r.take(out->key.data(), out->key.size());
  RegionSpec& s = out->spec;
  s.entry_lin = r.u32();
  s.mode = r.u32();
  const uint32_t nblocks = r.u32();
  if (!r.ok || nblocks == 0 || nblocks > 4096) return bad();
  const uint32_t page_phys = probe.blocks[0].phys & ~(kPage - 1);
  for (uint32_t k = 0; k < nblocks && r.ok; ++k) {
    RegionBlock rb;
    rb.eip = r.u32();
    rb.phys = page_phys | (r.u32() % kPage);
    rb.bytes = r.u32();
    rb.entry = r.u8() != 0;
    const uint32_t n = r.u32();
    if (!r.ok || n == 0 || n > 4096) return bad();
    rb.insns.resize(n);
    for (Insn& in : rb.insns) {
      const std::string name = r.str(4096);
      r.take(&in, sizeof in);
      const Semantics::Handler* h = r.ok ? sem_.find(name) : nullptr;
      if (!h) return bad();  // a handler this build does not have
      in.fn = h->host;
    }
    s.blocks.push_back(std::move(rb));
  }
  out->code_bytes = r.u64();
  out->symbol = r.str(256);
  const uint64_t size = r.u64();
  if (!r.ok || size != uint64_t(r.end - r.p)) return bad();
  out->object = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(reinterpret_cast<const char*>(r.p), size_t(size)), file);
  // The probe's block must be an entry of the region: its first block (a file named by it),
  // or another (a file a reference named). Otherwise it is a file of another region whose
  // block hashed to the same name (never seen), or one written over since the reference.
  const RegionBlock& want = probe.blocks[0];
  const uint32_t cs_base = s.entry_lin - s.blocks[0].eip;
  auto is_it = [&](const RegionBlock& got) {
    return cs_base + got.eip == probe.entry_lin && got.eip == want.eip && got.phys == want.phys &&
           same_code(got.bytes, got.insns, want.bytes, want.insns);
  };
  if (s.mode != probe.mode ||
      std::none_of(s.blocks.begin(), s.blocks.end(),
                   [&](const RegionBlock& b) { return (&b == &s.blocks[0] || b.entry) && is_it(b); }))
    return Found::NONE;
  s.entry_phys = s.blocks[0].phys;
  // Used now: the last file a bounded directory evicts (JitCache::trim). A read-only
  // directory keeps its times.
  futimens(f.fd, nullptr);
  return Found::OK;
}

}  // namespace softcpu
