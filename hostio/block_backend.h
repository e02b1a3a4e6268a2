// A disk image for the block devices: a raw file opened with uv_fs on the EventLoop thread.
// Devices (CPU thread) call read()/write()/flush(); the requests run one at a time, in the order
// they were issued, on the loop thread (and libuv's thread pool), and each completion callback is
// posted to the CpuMailbox so it runs on the CPU thread. Serializing the requests keeps a read
// issued after a write from overtaking it.
//
// Modes: readonly (the file is opened read-only and every write fails with UV_EROFS) and
// snapshot (the file is opened read-only and never modified; writes go to an in-memory overlay
// of 512-byte sectors that later reads see; snapshot requests must be sector-aligned).
//
// Image locking: open() takes an advisory OFD lock on the whole file (fcntl F_OFD_SETLK), shared
// in readonly and snapshot modes and exclusive for read-write, so a second process (or a second
// backend in this process) cannot write an image another one uses; it is refused with a message
// naming the image and, when /proc tells, the other process.
//
// Host I/O errors (docs/design.md "Host I/O faults and data safety"): a failed request completes
// with its libuv error code (the device turns it into an ATA error); the first failure of each
// kind (read, write, flush) is reported on stderr and the rest are counted, with one summary
// line at close. A write that makes no progress (0 bytes) fails with UV_EIO rather than
// retrying forever. Once an fsync has failed every later flush fails too (UV_EIO): the kernel
// may have dropped the dirty pages the failed fsync covered, so a later successful fsync would
// claim data is durable that may be gone.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace softcpu {

class EventLoop;
class CpuMailbox;

class BlockBackend {
 public:
  static constexpr uint32_t SECTOR_SIZE = 512;

  struct Options {
    bool readonly = false;
    bool snapshot = false;
  };
  // status: 0 on success, else a negative libuv error code (uv_strerror explains it).
  using Done = std::function<void(int status)>;

  // Opens `path` on the loop thread (the caller waits). On failure returns nullptr and sets
  // *error to one line such as "cannot open disk image 'x': no such file or directory".
  // The loop and the mailbox must outlive the backend.
  static std::unique_ptr<BlockBackend> open(const std::string& path, const Options& options,
                                            EventLoop& loop, CpuMailbox& mailbox,
                                            std::string* error);

  // Waits for the requests already issued, then fsyncs (unless read-only) and closes the file.
  // Completions not yet delivered are dropped. Destroy on the CPU thread, before the loop.
  ~BlockBackend();
  BlockBackend(const BlockBackend&) = delete;
  BlockBackend& operator=(const BlockBackend&) = delete;

  // CPU thread. `buffer` must stay valid until `done` runs. Reads past the end of the file
  // return zeros.
  void read(uint64_t offset, size_t len, uint8_t* buffer, Done done);
  void write(uint64_t offset, size_t len, const uint8_t* buffer, Done done);
  void flush(Done done);  // fsync; succeeds at once in readonly and snapshot modes

  // Blocking versions for tests and tools: issue the request, then drain the mailbox (running
  // whatever else is queued there) until it completes. CPU thread only.
  int read_sync(uint64_t offset, size_t len, uint8_t* buffer);
  int write_sync(uint64_t offset, size_t len, const uint8_t* buffer);
  int flush_sync();

  // Deterministic runs (--deterministic): each request is carried out at once (the CPU thread
  // waits for the loop thread) and its completion is handed to `defer`, which runs it at a
  // point of guest time that does not depend on the host (monitor/replay.h). Empty: the
  // completion runs when the host finishes, through the mailbox (the default).
  using Deferrer = std::function<void(std::function<void()> completion)>;
  void set_deferrer(Deferrer defer) { defer_ = std::move(defer); }

  uint64_t size() const { return size_; }  // bytes, at open time
  bool readonly() const { return options_.readonly; }
  bool snapshot() const { return options_.snapshot; }
  const std::string& path() const { return path_; }
  // Requests issued whose completion has not run yet (CPU thread view).
  unsigned pending() const { return pending_; }
  uint64_t reads = 0, writes = 0, flushes = 0;  // requests issued, for stats
  // Failed requests so far (loop thread writes, any thread may read for stats or tests).
  uint64_t io_errors() const { return io_errors_total_; }

  // Snapshots (monitor/snapshot.h): the snapshot-mode overlay, sector by sector in sector
  // order. Only while nothing is pending (pending() == 0: every request issued has completed
  // on the loop thread and its completion ran here), so the loop thread does not touch the
  // overlay meanwhile. Loading replaces the overlay.
  void save_overlay(std::vector<uint8_t>& out) const;
  // False (overlay unchanged) if `data` is not a well-formed overlay of this disk.
  bool load_overlay(const uint8_t* data, size_t len);

 private:
  enum class Kind { READ, WRITE, FLUSH, CLOSE };
  struct Request;

  BlockBackend(std::string path, const Options& options, EventLoop& loop, CpuMailbox& mailbox);
  int wait_for(const std::function<void(Done)>& issue);
  void submit(std::unique_ptr<Request> req);  // CPU thread
  void issue(std::unique_ptr<Request> req);   // submit, or run now and defer (set_deferrer)
  Deferrer defer_;
  // Loop thread: start the next queued request if none is running.
  void start_next();
  void start(Request* req);
  void finish(Request* req, int status);
  static void on_fs_done(void* uv_req);
  void apply_overlay(const Request& req);
  void store_overlay(const Request& req);
  void report_error(const Request& req, int status);  // loop thread

  std::string path_;
  Options options_;
  EventLoop& loop_;
  CpuMailbox& mailbox_;
  int fd_ = -1;  // uv_file
  uint64_t size_ = 0;
  unsigned pending_ = 0;  // CPU thread
  // Checked by posted completions on the CPU thread: false once the backend is gone.
  std::shared_ptr<bool> alive_;

  // Loop thread only.
  std::deque<std::unique_ptr<Request>> queue_;
  std::unique_ptr<Request> running_;
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> overlay_;  // sector -> data
  bool flush_failed_ = false;       // an fsync failed: every later flush fails (see above)
  uint64_t io_errors_[3] = {};      // failures by Kind (READ, WRITE, FLUSH)
  std::atomic<uint64_t> io_errors_total_{0};
};

}  // namespace softcpu
