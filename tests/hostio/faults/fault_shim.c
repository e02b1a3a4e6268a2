/* fault_shim.so: an LD_PRELOAD library that makes chosen host I/O calls on one file fail, for
   the fault-injection tests of hostio/block_backend (docs/design.md "Host I/O faults and data
   safety").  It wraps the calls libuv's thread pool makes for uv_fs_read/write/fsync (pread,
   pwrite, preadv, pwritev and their 64-bit names, fsync, fdatasync) so that the whole product
   runs unchanged, real libuv and real files included.

   SOFTCPU_FAULT_FILE=PATH   the file whose I/O may fail (matched by device and inode)
   SOFTCPU_FAULTS=RULE,RULE  RULE = OP:WHAT[:at=BYTE][:after=N][:times=N]
       OP    read | write | fsync
       WHAT  EIO | ENOSPC (the call fails with that errno), short (read/write: only the first
             half of the bytes, at least 1, are transferred), zero (the call returns 0)
       at    only calls whose byte range holds BYTE (read/write)
       after skip the first N calls the rule matches
       times fire N times (default 1; 0 = every time)
   SOFTCPU_FAULT_LOG=PATH    append one line per injected fault ("write 1048576 4096 EIO") */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum op { OP_READ, OP_WRITE, OP_FSYNC };
enum what { W_ERRNO, W_SHORT, W_ZERO };

struct rule {
  enum op op;
  enum what what;
  int err;
  long long at; /* -1: any */
  long after, times, seen, fired;
};

#define MAX_RULES 16
static struct rule rules[MAX_RULES];
static int nrules;
static const char* target_path;
static dev_t target_dev;
static ino_t target_ino;
static int have_target; /* the file is resolved lazily: it may not exist when we load */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void parse_rule(char* text) {
  if (nrules == MAX_RULES) return;
  struct rule r = {0};
  r.at = -1;
  r.times = 1;
  char* save = NULL;
  char* op = strtok_r(text, ":", &save);
  char* what = strtok_r(NULL, ":", &save);
  if (!op || !what) goto bad;
  if (!strcmp(op, "read")) r.op = OP_READ;
  else if (!strcmp(op, "write")) r.op = OP_WRITE;
  else if (!strcmp(op, "fsync")) r.op = OP_FSYNC;
  else goto bad;
  if (!strcmp(what, "EIO")) { r.what = W_ERRNO; r.err = EIO; }
  else if (!strcmp(what, "ENOSPC")) { r.what = W_ERRNO; r.err = ENOSPC; }
  else if (!strcmp(what, "short")) r.what = W_SHORT;
  else if (!strcmp(what, "zero")) r.what = W_ZERO;
  else goto bad;
  for (char* kv; (kv = strtok_r(NULL, ":", &save));) {
    if (!strncmp(kv, "at=", 3)) r.at = strtoll(kv + 3, NULL, 0);
    else if (!strncmp(kv, "after=", 6)) r.after = strtol(kv + 6, NULL, 0);
    else if (!strncmp(kv, "times=", 6)) r.times = strtol(kv + 6, NULL, 0);
    else goto bad;
  }
  rules[nrules++] = r;
  return;
bad:
  fprintf(stderr, "fault_shim: bad rule in SOFTCPU_FAULTS\n");
  abort();
}

__attribute__((constructor)) static void init(void) {
  const char* file = getenv("SOFTCPU_FAULT_FILE");
  const char* spec = getenv("SOFTCPU_FAULTS");
  if (!file || !spec) return;
  target_path = file;
  char* copy = strdup(spec);
  char* save = NULL;
  for (char* r = strtok_r(copy, ",", &save); r; r = strtok_r(NULL, ",", &save)) parse_rule(r);
  free(copy);
}

static void log_fault(enum op op, long long off, size_t len, const struct rule* r) {
  const char* path = getenv("SOFTCPU_FAULT_LOG");
  if (!path) return;
  FILE* f = fopen(path, "a");
  if (!f) return;
  static const char* const ops[] = {"read", "write", "fsync"};
  const char* what = r->what == W_SHORT ? "short" : r->what == W_ZERO ? "zero"
                     : r->err == EIO    ? "EIO" : "ENOSPC";
  fprintf(f, "%s %lld %zu %s\n", ops[op], off, len, what);
  fclose(f);
}

/* The rule that fires for this call, or NULL (then the call runs normally). */
static const struct rule* match(int fd, enum op op, long long off, size_t len) {
  if (!target_path || nrules == 0) return NULL;
  struct stat st;
  if (!have_target) {
    if (stat(target_path, &st) != 0) return NULL;
    target_dev = st.st_dev;
    target_ino = st.st_ino;
    have_target = 1;
  }
  if (fstat(fd, &st) != 0 || st.st_dev != target_dev || st.st_ino != target_ino) return NULL;
  const struct rule* hit = NULL;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < nrules && !hit; i++) {
    struct rule* r = &rules[i];
    if (r->op != op) continue;
    if (r->at >= 0 && (off < 0 || r->at < off || r->at >= off + (long long)len)) continue;
    if (r->seen++ < r->after) continue;
    if (r->times && r->fired >= r->times) continue;
    r->fired++;
    hit = r;
  }
  pthread_mutex_unlock(&lock);
  if (hit) log_fault(op, off, len, hit);
  return hit;
}

static size_t iov_total(const struct iovec* iov, int n) {
  size_t t = 0;
  for (int i = 0; i < n; i++) t += iov[i].iov_len;
  return t;
}

#define REAL(name, type) static type real_##name; if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

typedef ssize_t (*pio_fn)(int, void*, size_t, off_t);
typedef ssize_t (*pvio_fn)(int, const struct iovec*, int, off_t);
typedef int (*sync_fn)(int);

/* Run one positional transfer through `real`, or the fault the rules choose. */
static ssize_t transfer(pio_fn real, int fd, void* buf, size_t len, off_t off, enum op op) {
  const struct rule* r = match(fd, op, off, len);
  if (!r) return real(fd, buf, len, off);
  if (r->what == W_ERRNO) { errno = r->err; return -1; }
  if (r->what == W_ZERO) return 0;
  return real(fd, buf, len > 1 ? len / 2 : len, off);
}

static ssize_t transferv(pvio_fn real, pio_fn single, int fd, const struct iovec* iov, int n,
                         off_t off, enum op op) {
  size_t len = iov_total(iov, n);
  const struct rule* r = match(fd, op, off, len);
  if (!r) return real(fd, iov, n, off);
  if (r->what == W_ERRNO) { errno = r->err; return -1; }
  if (r->what == W_ZERO || n == 0) return 0;
  size_t first = iov[0].iov_len;
  return single(fd, iov[0].iov_base, first > 1 ? first / 2 : first, off);
}

ssize_t pread(int fd, void* buf, size_t len, off_t off) {
  REAL(pread, pio_fn);
  return transfer(real_pread, fd, buf, len, off, OP_READ);
}
ssize_t pread64(int fd, void* buf, size_t len, off_t off) { return pread(fd, buf, len, off); }
ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) {
  REAL(pwrite, pio_fn);
  return transfer(real_pwrite, fd, (void*)buf, len, off, OP_WRITE);
}
ssize_t pwrite64(int fd, const void* buf, size_t len, off_t off) { return pwrite(fd, buf, len, off); }
ssize_t preadv(int fd, const struct iovec* iov, int n, off_t off) {
  REAL(preadv, pvio_fn);
  REAL(pread, pio_fn);
  return transferv(real_preadv, real_pread, fd, iov, n, off, OP_READ);
}
ssize_t preadv64(int fd, const struct iovec* iov, int n, off_t off) { return preadv(fd, iov, n, off); }
ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t off) {
  REAL(pwritev, pvio_fn);
  REAL(pwrite, pio_fn);
  return transferv(real_pwritev, real_pwrite, fd, iov, n, off, OP_WRITE);
}
ssize_t pwritev64(int fd, const struct iovec* iov, int n, off_t off) { return pwritev(fd, iov, n, off); }

static int do_sync(sync_fn real, int fd) {
  const struct rule* r = match(fd, OP_FSYNC, -1, 0);
  if (!r) return real(fd);
  if (r->what == W_ERRNO) { errno = r->err; return -1; }
  return real(fd);
}
int fsync(int fd) {
  REAL(fsync, sync_fn);
  return do_sync(real_fsync, fd);
}
int fdatasync(int fd) {
  REAL(fdatasync, sync_fn);
  return do_sync(real_fdatasync, fd);
}
