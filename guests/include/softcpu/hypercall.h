/* softcpu hypercalls for thin guests (docs/hypercalls.md). Plain C: included by guests
 * (freestanding, i386) and by the secondary hypervisor (monitor/hv/secondary.cpp), so the
 * numbers are written once.
 *
 * VMCALL (0F 01 C1): call number in EAX, arguments in EBX, ECX, EDX, ESI, the result in EAX
 * (negative errno codes on error; HC_TIME_NS also returns the high half in EDX). Addresses
 * are guest-physical (thin guests run with paging off). Only a partition of the secondary
 * hypervisor has hypercalls; elsewhere VMCALL raises #UD.
 *
 * Priorities: a larger number is more urgent. A partition may use the levels of its
 * priority_range (docs/config.md).
 *
 * Lock words (HC_LOCK_WAIT, priority inheritance): 0 = free; otherwise the holder's vCPU id
 * (HC_VCPU_SELF) in bits 0-30, and SC_LOCK_WAITERS when some vCPU waits or has waited. A
 * locker sets the word to its id with a compare-and-swap; one that finds it held sets the
 * waiters bit and calls HC_LOCK_WAIT(word, value seen); the holder releases with an exchange
 * to 0 and, if the waiters bit was set, HC_WAKE(word, 1). A woken locker takes the word with
 * the waiters bit set (others may still wait). While a vCPU waits in HC_LOCK_WAIT, the holder
 * named by the word runs at least at the waiter's priority (transitively along holders that
 * wait on other lock words) until it calls HC_WAKE on that word.
 */
#ifndef SOFTCPU_HYPERCALL_H
#define SOFTCPU_HYPERCALL_H

#define HC_VCPU_CREATE        1  /* (entry, stack, priority, arg) -> id; new vCPU: EIP=entry, ESP=stack, EAX=arg */
#define HC_VCPU_EXIT          2  /* () -> does not return; the last vCPU's exit stops the partition */
#define HC_VCPU_YIELD         3  /* () -> 0; behind the other ready vCPUs of its priority */
#define HC_VCPU_SET_PRIORITY  4  /* (id or 0 = self, priority) -> 0 */
#define HC_VCPU_SELF          5  /* () -> id (1..) */
#define HC_WAIT               6  /* (addr, expected, timeout_ns low, high) -> 0 woken, -EAGAIN differs, -ETIMEDOUT; timeout 0 = none */
#define HC_WAKE               7  /* (addr, max_n) -> number woken, highest priority first */
#define HC_LOCK_WAIT          8  /* as HC_WAIT on a lock word, with priority inheritance */
#define HC_TIME_NS            9  /* () -> EDX:EAX nanoseconds of the host's monotonic clock */
#define HC_CONSOLE_WRITE     10  /* (buf, len <= 4096) -> len */
#define HC_PARTITION_REQUEST 11  /* (op, name, name_len) -> 0; the primary starts/stops the partition */
#define HC_MEM_LEND          12  /* (name, name_len, bytes) -> 0; lend bytes of the caller's dynamic memory to partition name */
#define HC_MEM_RETURN        13  /* (name, name_len, bytes, how) -> 0; how 0: give back what name lent the caller; 1: take back what the caller lent name */
#define HC_COUNT             14

#define HC_PARTITION_START 0
#define HC_PARTITION_STOP  1

#define HC_MEM_GIVE_BACK 0  /* HC_MEM_RETURN: the caller is the borrower */
#define HC_MEM_TAKE_BACK 1  /* HC_MEM_RETURN: the caller is the lender */

#define SC_LOCK_WAITERS 0x80000000u
#define SC_MAX_VCPUS 1024  /* per partition, live at once */
#define SC_CONSOLE_MAX 4096

/* errno values (Linux numbering), returned negated. */
#define SC_EPERM      1   /* priority outside the partition's range */
#define SC_ENOENT     2   /* no such partition */
#define SC_ESRCH      3   /* no such vCPU */
#define SC_EAGAIN    11   /* the word differs from `expected`; or too many vCPUs */
#define SC_ENOMEM    12   /* the primary refused a lend/return: not that much memory or room */
#define SC_EFAULT    14   /* an address not mapped (readable) in the partition */
#define SC_EBUSY     16   /* the primary refused the request (e.g. already running) */
#define SC_EINVAL    22   /* a bad argument (unaligned word, length, op) */
#define SC_ENOSYS    38   /* no such hypercall */
#define SC_ETIMEDOUT 110

#if defined(__i386__) && !defined(__cplusplus)
#include <stdint.h>
static inline int32_t sc_hypercall(uint32_t nr, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  uint32_t r;
  __asm__ volatile(".byte 0x0f, 0x01, 0xc1" /* vmcall */
                   : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d) : "memory");
  return (int32_t)r;
}
static inline uint64_t sc_time_ns(void) {
  uint32_t lo, hi;
  __asm__ volatile(".byte 0x0f, 0x01, 0xc1" : "=a"(lo), "=d"(hi) : "a"(HC_TIME_NS) : "memory");
  return ((uint64_t)hi << 32) | lo;
}
static inline int32_t sc_wait(volatile uint32_t* w, uint32_t expected, uint64_t timeout_ns) {
  return sc_hypercall(HC_WAIT, (uint32_t)w, expected, (uint32_t)timeout_ns, (uint32_t)(timeout_ns >> 32));
}
static inline int32_t sc_lock_wait(volatile uint32_t* w, uint32_t expected, uint64_t timeout_ns) {
  return sc_hypercall(HC_LOCK_WAIT, (uint32_t)w, expected, (uint32_t)timeout_ns, (uint32_t)(timeout_ns >> 32));
}
static inline int32_t sc_wake(volatile uint32_t* w, uint32_t n) { return sc_hypercall(HC_WAKE, (uint32_t)w, n, 0, 0); }
static inline int32_t sc_vcpu_self(void) { return sc_hypercall(HC_VCPU_SELF, 0, 0, 0, 0); }
static inline int32_t sc_yield(void) { return sc_hypercall(HC_VCPU_YIELD, 0, 0, 0, 0); }
static inline int32_t sc_set_priority(uint32_t id, uint32_t prio) { return sc_hypercall(HC_VCPU_SET_PRIORITY, id, prio, 0, 0); }
static inline __attribute__((noreturn)) void sc_vcpu_exit(void) {
  sc_hypercall(HC_VCPU_EXIT, 0, 0, 0, 0);
  for (;;) {}
}
static inline int32_t sc_mem_lend(const char* to, uint32_t to_len, uint32_t bytes) {
  return sc_hypercall(HC_MEM_LEND, (uint32_t)to, to_len, bytes, 0);
}
static inline int32_t sc_mem_return(const char* peer, uint32_t peer_len, uint32_t bytes, uint32_t how) {
  return sc_hypercall(HC_MEM_RETURN, (uint32_t)peer, peer_len, bytes, how);
}
static inline int32_t sc_console_write(const void* buf, uint32_t len) {
  return sc_hypercall(HC_CONSOLE_WRITE, (uint32_t)buf, len, 0, 0);
}
#endif

#endif
