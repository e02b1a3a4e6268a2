/* A thin RTOS over softcpu's hypercalls (docs/hypercalls.md): it has no scheduler of its own.
 * Each task is a vCPU of the secondary hypervisor, scheduled by priority there; mutexes and
 * semaphores block and wake through HC_LOCK_WAIT / HC_WAIT / HC_WAKE; periodic tasks sleep with
 * wait timeouts; the console is HC_CONSOLE_WRITE. Freestanding C for the guest toolchain
 * (tests/guest/lib). Copy it as a starting point. */
#ifndef RTOS_H
#define RTOS_H
#include <stdint.h>

#include "softcpu/hypercall.h"

#define RTOS_MAX_TASKS 128
#define RTOS_STACK_SIZE 2048

typedef void (*rtos_task_fn)(uint32_t arg);

/* A new task at `prio` running fn(arg); returns its id (> 0) or a negative error. It may run
 * before this returns (when more urgent than the caller). A task ends by returning. */
int32_t rtos_task_create(rtos_task_fn fn, uint32_t arg, uint32_t prio);
__attribute__((noreturn)) void rtos_task_exit(void);
static inline int32_t rtos_self(void) { return sc_vcpu_self(); }
static inline uint64_t rtos_now_ns(void) { return sc_time_ns(); }
void rtos_sleep_ns(uint64_t ns);
/* Sleep until *next, then advance it by period (a periodic task's loop). */
void rtos_sleep_until_next(uint64_t* next, uint64_t period_ns);

/* A mutex: a lock word (0 free, holder id, SC_LOCK_WAITERS) with priority inheritance. */
typedef struct { volatile uint32_t word; } rtos_mutex;
void rtos_mutex_lock(rtos_mutex* m);
void rtos_mutex_unlock(rtos_mutex* m);

/* A counting semaphore; wait with a timeout (0 = none) returns 0 or -SC_ETIMEDOUT. */
typedef struct { volatile uint32_t count; } rtos_sem;
int32_t rtos_sem_wait(rtos_sem* s, uint64_t timeout_ns);
void rtos_sem_post(rtos_sem* s);

/* The console (HC_CONSOLE_WRITE): %u %d %x %s %c and %llu. */
void rtos_printf(const char* fmt, ...);

#endif
