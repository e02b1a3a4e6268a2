/* The thin RTOS (rtos.h). */
#include "rtos.h"

#include <stdarg.h>

static struct {
  volatile uint32_t used;
  uint8_t stack[RTOS_STACK_SIZE] __attribute__((aligned(16)));
} slots[RTOS_MAX_TASKS];

/* A new vCPU starts here with ESP at [fn, arg, slot]: fn(arg), then the exit below. */
__asm__(".text\n"
        ".globl rtos_task_entry\n"
        "rtos_task_entry:\n"
        "  popl %eax\n"
        "  call *%eax\n"
        "  addl $4, %esp\n"
        "  popl %edx\n"             /* &slots[k].used */
        "  movl $2, %eax\n"         /* HC_VCPU_EXIT */
        "  movl $0, (%edx)\n"       /* the stack is free once we are off it: no use after this */
        "  .byte 0x0f, 0x01, 0xc1\n"
        "1: jmp 1b\n");
void rtos_task_entry(void);

int32_t rtos_task_create(rtos_task_fn fn, uint32_t arg, uint32_t prio) {
  for (uint32_t k = 0; k < RTOS_MAX_TASKS; ++k) {
    if (!__sync_bool_compare_and_swap(&slots[k].used, 0, 1)) continue;
    uint32_t* sp = (uint32_t*)(slots[k].stack + RTOS_STACK_SIZE);
    *--sp = (uint32_t)&slots[k].used;
    *--sp = arg;
    *--sp = (uint32_t)fn;
    int32_t id = sc_hypercall(HC_VCPU_CREATE, (uint32_t)rtos_task_entry, (uint32_t)sp, prio, 0);
    if (id < 0) slots[k].used = 0;
    return id;
  }
  return -SC_EAGAIN;
}

void rtos_task_exit(void) { sc_vcpu_exit(); }

void rtos_sleep_ns(uint64_t ns) {
  static volatile uint32_t never;  /* nobody wakes this word: the wait ends by its timeout */
  if (ns) sc_wait(&never, never, ns);
}

void rtos_sleep_until_next(uint64_t* next, uint64_t period_ns) {
  const uint64_t now = sc_time_ns();
  if (*next > now) rtos_sleep_ns(*next - now);
  *next += period_ns;
}

void rtos_mutex_lock(rtos_mutex* m) {
  const uint32_t self = (uint32_t)sc_vcpu_self();
  if (__sync_bool_compare_and_swap(&m->word, 0, self)) return;
  for (;;) {
    uint32_t v = m->word;
    if (v == 0) {
      /* Others may still wait: keep the bit so that our unlock wakes them. */
      if (__sync_bool_compare_and_swap(&m->word, 0, self | SC_LOCK_WAITERS)) return;
      continue;
    }
    if (!(v & SC_LOCK_WAITERS)) {
      if (!__sync_bool_compare_and_swap(&m->word, v, v | SC_LOCK_WAITERS)) continue;
      v |= SC_LOCK_WAITERS;
    }
    sc_lock_wait(&m->word, v, 0);
  }
}

void rtos_mutex_unlock(rtos_mutex* m) {
  const uint32_t v = __sync_lock_test_and_set(&m->word, 0);
  if (v & SC_LOCK_WAITERS) sc_wake(&m->word, 1);
}

int32_t rtos_sem_wait(rtos_sem* s, uint64_t timeout_ns) {
  const uint64_t deadline = timeout_ns ? sc_time_ns() + timeout_ns : 0;
  for (;;) {
    const uint32_t v = s->count;
    if (v > 0) {
      if (__sync_bool_compare_and_swap(&s->count, v, v - 1)) return 0;
      continue;
    }
    uint64_t left = 0;
    if (deadline) {
      const uint64_t now = sc_time_ns();
      if (now >= deadline) return -SC_ETIMEDOUT;
      left = deadline - now;
    }
    sc_wait(&s->count, 0, left);
  }
}

void rtos_sem_post(rtos_sem* s) {
  __sync_fetch_and_add(&s->count, 1);
  sc_wake(&s->count, 1);
}

/* ---- console ---- */

static char* put_u64(char* p, char* end, uint64_t v, unsigned base) {
  char tmp[24];
  int n = 0;
  do {
    const unsigned d = (unsigned)(v % base);
    tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v);
  while (n && p < end) *p++ = tmp[--n];
  return p;
}

void rtos_printf(const char* fmt, ...) {
  static char buf[256];  /* in RAM: the hypervisor reads guest RAM, not the ROM */
  char* p = buf;
  char* const end = buf + sizeof buf;
  va_list ap;
  va_start(ap, fmt);
  for (; *fmt && p < end; ++fmt) {
    if (*fmt != '%') { *p++ = *fmt; continue; }
    ++fmt;
    int longs = 0;
    while (*fmt == 'l') { ++longs; ++fmt; }
    switch (*fmt) {
      case 'u': p = put_u64(p, end, longs >= 2 ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t), 10); break;
      case 'x': p = put_u64(p, end, longs >= 2 ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t), 16); break;
      case 'd': {
        const int32_t v = va_arg(ap, int32_t);
        if (v < 0 && p < end) *p++ = '-';
        p = put_u64(p, end, v < 0 ? (uint32_t)-v : (uint32_t)v, 10);
        break;
      }
      case 's': for (const char* s = va_arg(ap, const char*); *s && p < end; ++s) *p++ = *s; break;
      case 'c': *p++ = (char)va_arg(ap, int); break;
      default: *p++ = *fmt; break;
    }
  }
  va_end(ap);
  sc_console_write(buf, (uint32_t)(p - buf));
}
