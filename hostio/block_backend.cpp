#include "hostio/block_backend.h"

#include <algorithm>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>

#include "hostio/cpu_mailbox.h"
#include "hostio/event_loop.h"

namespace softcpu {

struct BlockBackend::Request {
  uv_fs_t fs{};
  BlockBackend* owner = nullptr;
  Kind kind = Kind::READ;
  uint64_t offset = 0;
  size_t len = 0;
  uint8_t* buffer = nullptr;  // READ destination or WRITE source
  size_t done_bytes = 0;      // progress of a READ/WRITE made of several partial transfers
  Done done;
  std::promise<void>* closed = nullptr;  // CLOSE only
};

namespace {

// The processes other than (this process, fd `own_fd`) that have the file (dev, ino) open, as
// "pid 123 (softcpu)" joined by ", "; empty when /proc tells nothing.
std::string other_users(dev_t dev, ino_t ino, int own_fd) {
  std::string found;
  DIR* proc = opendir("/proc");
  if (!proc) return found;
  const long self = static_cast<long>(getpid());
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::string fd_dir = std::string("/proc/") + e->d_name + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (!fds) continue;  // another user's process: not ours to look at
    bool uses = false;
    while (dirent* f = readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      if (pid == self && std::atoi(f->d_name) == own_fd) continue;
      struct stat st;
      if (stat((fd_dir + "/" + f->d_name).c_str(), &st) == 0 && st.st_dev == dev &&
          st.st_ino == ino) {
        uses = true;
        break;
      }
    }
    closedir(fds);
    if (!uses) continue;
    std::string comm;
    std::ifstream(std::string("/proc/") + e->d_name + "/comm") >> comm;
    if (!found.empty()) found += ", ";
    found += "pid " + std::to_string(pid) + (comm.empty() ? "" : " (" + comm + ")");
    if (pid == self) found += " [this process]";
  }
  closedir(proc);
  return found;
}

// Takes the image lock (see block_backend.h). Returns "" or why the image cannot be used.
std::string lock_image(int fd, const std::string& path, bool shared, const struct stat& st) {
  struct flock fl {};
  fl.l_type = shared ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file, however it grows
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return "";
  int err = errno;
  if (err != EAGAIN && err != EACCES) {
    // A file system without OFD locks (some network ones): go on unprotected, as QEMU does.
    std::fprintf(stderr, "softcpu: warning: cannot lock disk image '%s' (%s): another process "
                 "could open it at the same time\n", path.c_str(), std::strerror(err));
    return "";
  }
  std::string users = other_users(st.st_dev, st.st_ino, fd);
  std::string who = users.empty() ? "another process" : users;
  if (shared)
    return "it is open read-write by " + who +
           "; an image being written cannot be shared (stop that user first)";
  return "it is in use by " + who +
         "; only one process may open an image read-write (add readonly=on or snapshot=on "
         "to both users to share it)";
}

const char* kind_name(int kind) {
  static const char* const names[] = {"read", "write", "flush"};
  return kind >= 0 && kind < 3 ? names[kind] : "close";
}

}  // namespace

BlockBackend::BlockBackend(std::string path, const Options& options, EventLoop& loop,
                           CpuMailbox& mailbox)
    : path_(std::move(path)),
      options_(options),
      loop_(loop),
      mailbox_(mailbox),
      alive_(std::make_shared<bool>(true)) {}

std::unique_ptr<BlockBackend> BlockBackend::open(const std::string& path, const Options& options,
                                                 EventLoop& loop, CpuMailbox& mailbox,
                                                 std::string* error) {
  std::unique_ptr<BlockBackend> backend(new BlockBackend(path, options, loop, mailbox));
  std::string why;
  bool ran = loop.run_sync([&] {
    // A snapshot never touches the file, so it needs only read access.
    int flags = (options.readonly || options.snapshot) ? UV_FS_O_RDONLY : UV_FS_O_RDWR;
    uv_fs_t req;
    int fd = uv_fs_open(loop.uv(), &req, path.c_str(), flags, 0, nullptr);
    uv_fs_req_cleanup(&req);
    if (fd < 0) {
      why = uv_strerror(fd);
      return;
    }
    int rc = uv_fs_fstat(loop.uv(), &req, fd, nullptr);
    uv_stat_t st = req.statbuf;
    uv_fs_req_cleanup(&req);
    if (rc == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
      why = S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
    else if (rc < 0)
      why = uv_strerror(rc);
    if (why.empty()) {
      struct stat host_st;
      if (::fstat(fd, &host_st) == 0)
        why = lock_image(fd, path, options.readonly || options.snapshot, host_st);
    }
    if (!why.empty()) {
      uv_fs_close(loop.uv(), &req, fd, nullptr);
      uv_fs_req_cleanup(&req);
      return;
    }
    backend->fd_ = fd;
    backend->size_ = st.st_size;
    if (S_ISBLK(st.st_mode)) {  // st_size is 0 for block devices: seek to the end instead
      off_t end = lseek(fd, 0, SEEK_END);
      backend->size_ = end > 0 ? static_cast<uint64_t>(end) : 0;
    }
  });
  if (!ran) why = "host I/O thread has stopped";
  if (!why.empty()) {
    if (error) *error = "cannot open disk image '" + path + "': " + why;
    return nullptr;
  }
  return backend;
}

BlockBackend::~BlockBackend() {
  *alive_ = false;  // completions still in the mailbox are dropped
  if (fd_ < 0) return;
  struct Summary {  // after the close: the loop thread is done with the counters
    BlockBackend* self;
    ~Summary() {
      uint64_t total = self->io_errors_total_;
      unsigned kinds = (self->io_errors_[0] > 0) + (self->io_errors_[1] > 0) +
                       (self->io_errors_[2] > 0);
      if (total > kinds)  // more than the lines already printed
        std::fprintf(stderr,
                     "softcpu: disk '%s': %llu host I/O errors in all (%llu read, %llu write, "
                     "%llu flush)\n",
                     self->path_.c_str(), static_cast<unsigned long long>(total),
                     static_cast<unsigned long long>(self->io_errors_[0]),
                     static_cast<unsigned long long>(self->io_errors_[1]),
                     static_cast<unsigned long long>(self->io_errors_[2]));
    }
  } summary{this};
  std::promise<void> closed;
  auto* req = new Request;
  req->owner = this;
  req->kind = Kind::CLOSE;
  req->closed = &closed;
  if (loop_.post([this, req] {
        queue_.emplace_back(req);
        start_next();
      })) {
    closed.get_future().wait();  // everything queued before the close has finished
  } else {
    delete req;  // the loop has stopped, so nothing is in flight
    if (!options_.readonly && !options_.snapshot) ::fsync(fd_);
    ::close(fd_);
  }
}

void BlockBackend::read(uint64_t offset, size_t len, uint8_t* buffer, Done done) {
  ++reads;
  auto req = std::make_unique<Request>();
  req->kind = Kind::READ;
  req->offset = offset;
  req->len = len;
  req->buffer = buffer;
  req->done = std::move(done);
  issue(std::move(req));
}

void BlockBackend::write(uint64_t offset, size_t len, const uint8_t* buffer, Done done) {
  ++writes;
  auto req = std::make_unique<Request>();
  req->kind = Kind::WRITE;
  req->offset = offset;
  req->len = len;
  req->buffer = const_cast<uint8_t*>(buffer);  // only read from
  req->done = std::move(done);
  issue(std::move(req));
}

void BlockBackend::flush(Done done) {
  ++flushes;
  auto req = std::make_unique<Request>();
  req->kind = Kind::FLUSH;
  req->done = std::move(done);
  issue(std::move(req));
}

int BlockBackend::wait_for(const std::function<void(Done)>& issue) {
  // A blocking request completes here, not at a deferred point of guest time.
  Deferrer deferred = std::move(defer_);
  defer_ = nullptr;
  bool finished = false;
  int status = 0;
  issue([&](int s) {
    finished = true;
    status = s;
  });
  while (!finished) {
    mailbox_.wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
    mailbox_.drain();
  }
  defer_ = std::move(deferred);
  return status;
}

int BlockBackend::read_sync(uint64_t offset, size_t len, uint8_t* buffer) {
  return wait_for([&](Done d) { read(offset, len, buffer, std::move(d)); });
}

int BlockBackend::write_sync(uint64_t offset, size_t len, const uint8_t* buffer) {
  return wait_for([&](Done d) { write(offset, len, buffer, std::move(d)); });
}

int BlockBackend::flush_sync() {
  return wait_for([&](Done d) { flush(std::move(d)); });
}

void BlockBackend::issue(std::unique_ptr<Request> req) {
  if (!defer_) return submit(std::move(req));
  Done done = std::move(req->done);
  bool finished = false;
  int status = 0;
  req->done = [&](int s) {
    finished = true;
    status = s;
  };
  submit(std::move(req));
  while (!finished) {
    mailbox_.wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
    mailbox_.drain();
  }
  if (done) defer_([done = std::move(done), status] { done(status); });
}

void BlockBackend::submit(std::unique_ptr<Request> req) {
  req->owner = this;
  ++pending_;
  Request* raw = req.release();
  bool posted = loop_.post([this, raw] {
    queue_.emplace_back(raw);
    start_next();
  });
  if (!posted) {
    // Host I/O has stopped (shutdown): fail the request on the CPU thread.
    Done done = std::move(raw->done);
    delete raw;
    auto alive = alive_;
    mailbox_.post([this, alive, done = std::move(done)] {
      if (!*alive) return;
      --pending_;
      if (done) done(UV_ECANCELED);
    });
  }
}

void BlockBackend::start_next() {
  // start() either issues an asynchronous uv request (running_ stays set until on_fs_done) or
  // completes at once through finish(), which clears running_.
  while (!running_ && !queue_.empty()) {
    running_ = std::move(queue_.front());
    queue_.pop_front();
    bool closing = running_->kind == Kind::CLOSE;
    start(running_.get());
    if (closing) return;  // *this may already be destroyed
  }
}

void BlockBackend::start(Request* req) {
  uv_loop_t* uv = loop_.uv();
  req->fs.data = req;
  auto cb = [](uv_fs_t* fs) { on_fs_done(fs); };
  bool aligned = req->offset % SECTOR_SIZE == 0 && req->len % SECTOR_SIZE == 0;
  int rc = 0;
  switch (req->kind) {
    case Kind::READ: {
      if (options_.snapshot && !aligned) return finish(req, UV_EINVAL);
      uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(req->buffer + req->done_bytes),
                                 static_cast<unsigned>(req->len - req->done_bytes));
      if (buf.len == 0) return finish(req, 0);
      rc = uv_fs_read(uv, &req->fs, fd_, &buf, 1, req->offset + req->done_bytes, cb);
      break;
    }
    case Kind::WRITE: {
      if (options_.readonly) return finish(req, UV_EROFS);
      if (options_.snapshot) {
        if (!aligned) return finish(req, UV_EINVAL);
        store_overlay(*req);
        return finish(req, 0);
      }
      uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(req->buffer + req->done_bytes),
                                 static_cast<unsigned>(req->len - req->done_bytes));
      if (buf.len == 0) return finish(req, 0);
      rc = uv_fs_write(uv, &req->fs, fd_, &buf, 1, req->offset + req->done_bytes, cb);
      break;
    }
    case Kind::FLUSH:
      if (options_.readonly || options_.snapshot) return finish(req, 0);
      if (flush_failed_) return finish(req, UV_EIO);
      rc = uv_fs_fsync(uv, &req->fs, fd_, cb);
      break;
    case Kind::CLOSE:
      // Final flush and close, synchronously: nothing else is queued behind a close.
      if (!options_.readonly && !options_.snapshot) {
        int synced = uv_fs_fsync(uv, &req->fs, fd_, nullptr);
        uv_fs_req_cleanup(&req->fs);
        if (synced < 0 || flush_failed_)
          std::fprintf(stderr,
                       "softcpu: disk '%s': the final fsync failed (%s): writes since the "
                       "last successful flush may not be on disk\n",
                       path_.c_str(), uv_strerror(synced < 0 ? synced : UV_EIO));
      }
      uv_fs_close(uv, &req->fs, fd_, nullptr);
      uv_fs_req_cleanup(&req->fs);
      fd_ = -1;
      return finish(req, 0);
  }
  if (rc < 0) finish(req, rc);
}

void BlockBackend::on_fs_done(void* uv_req) {
  auto* fs = static_cast<uv_fs_t*>(uv_req);
  auto* req = static_cast<Request*>(fs->data);
  BlockBackend* self = req->owner;
  ssize_t result = fs->result;
  uv_fs_req_cleanup(fs);
  if (result < 0) {
    self->finish(req, static_cast<int>(result));
  } else if (req->kind == Kind::WRITE && result == 0) {
    self->finish(req, UV_EIO);  // no progress: retrying would spin forever
  } else if (req->kind == Kind::READ && result == 0) {
    // End of file: the rest of the range reads as zeros.
    std::memset(req->buffer + req->done_bytes, 0, req->len - req->done_bytes);
    req->done_bytes = req->len;
    self->finish(req, 0);
  } else if (req->kind == Kind::READ || req->kind == Kind::WRITE) {
    req->done_bytes += static_cast<size_t>(result);
    if (req->done_bytes < req->len) {
      self->start(req);  // partial transfer: continue where it stopped
      if (self->running_) return;
    } else {
      self->finish(req, 0);
    }
  } else {
    self->finish(req, 0);
  }
  self->start_next();
}

void BlockBackend::finish(Request* req, int status) {
  if (status == 0 && req->kind == Kind::READ && options_.snapshot) apply_overlay(*req);
  if (req->kind == Kind::CLOSE) {
    std::promise<void>* closed = req->closed;
    running_.reset();
    closed->set_value();  // the destroying thread may free *this from here on
    return;
  }
  if (status < 0 && status != UV_ECANCELED) {
    if (req->kind == Kind::FLUSH) flush_failed_ = true;
    report_error(*req, status);
  }
  Done done = std::move(req->done);
  auto alive = alive_;
  mailbox_.post([this, alive, done = std::move(done), status] {
    if (!*alive) return;
    --pending_;
    if (done) done(status);
  });
  running_.reset();
}

void BlockBackend::report_error(const Request& req, int status) {
  int kind = static_cast<int>(req.kind);
  if (kind > 2) return;
  ++io_errors_total_;
  if (io_errors_[kind]++ > 0) return;  // one line per kind; the rest are summed at close
  if (req.kind == Kind::FLUSH)
    std::fprintf(stderr,
                 "softcpu: disk '%s': flush (fsync) failed: %s; the guest sees a disk error, "
                 "and every later flush fails too (further errors are counted, not shown)\n",
                 path_.c_str(), uv_strerror(status));
  else
    std::fprintf(stderr,
                 "softcpu: disk '%s': %s of %zu bytes at offset %llu failed: %s; the guest sees "
                 "a disk error (further %s errors are counted, not shown)\n",
                 path_.c_str(), kind_name(kind), req.len,
                 static_cast<unsigned long long>(req.offset + req.done_bytes),
                 uv_strerror(status), kind_name(kind));
}

void BlockBackend::apply_overlay(const Request& req) {
  if (overlay_.empty()) return;
  for (size_t pos = 0; pos < req.len; pos += SECTOR_SIZE) {
    auto it = overlay_.find((req.offset + pos) / SECTOR_SIZE);
    if (it != overlay_.end()) std::memcpy(req.buffer + pos, it->second.get(), SECTOR_SIZE);
  }
}

void BlockBackend::store_overlay(const Request& req) {
  for (size_t pos = 0; pos < req.len; pos += SECTOR_SIZE) {
    auto& slot = overlay_[(req.offset + pos) / SECTOR_SIZE];
    if (!slot) slot.reset(new uint8_t[SECTOR_SIZE]);
    std::memcpy(slot.get(), req.buffer + pos, SECTOR_SIZE);
  }
}

// Records of an 8-byte sector number (little-endian host order) and the sector's 512 bytes.
void BlockBackend::save_overlay(std::vector<uint8_t>& out) const {
  std::vector<uint64_t> sectors;
  sectors.reserve(overlay_.size());
  for (const auto& [sector, data] : overlay_) sectors.push_back(sector);
  std::sort(sectors.begin(), sectors.end());
  for (uint64_t sector : sectors) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&sector);
    out.insert(out.end(), p, p + sizeof sector);
    const uint8_t* data = overlay_.at(sector).get();
    out.insert(out.end(), data, data + SECTOR_SIZE);
  }
}

bool BlockBackend::load_overlay(const uint8_t* data, size_t len) {
  constexpr size_t kRecord = sizeof(uint64_t) + SECTOR_SIZE;
  if (len % kRecord != 0 || (len && !options_.snapshot)) return false;
  for (size_t at = 0; at < len; at += kRecord) {
    uint64_t sector;
    std::memcpy(&sector, data + at, sizeof sector);
    if (sector >= (size_ + SECTOR_SIZE - 1) / SECTOR_SIZE) return false;
  }
  overlay_.clear();
  for (size_t at = 0; at < len; at += kRecord) {
    uint64_t sector;
    std::memcpy(&sector, data + at, sizeof sector);
    auto copy = std::make_unique<uint8_t[]>(SECTOR_SIZE);
    std::memcpy(copy.get(), data + at + sizeof sector, SECTOR_SIZE);
    overlay_[sector] = std::move(copy);
  }
  return true;
}

}  // namespace softcpu
