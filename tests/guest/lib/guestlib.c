#include "guestlib.h"

static unsigned con_mask = CON_DEBUGCON;
static trap_handler handlers[256];

void con_select(unsigned mask) { con_mask = mask; }

void serial_init(void) {
  outb(COM1 + 1, 0x00); /* IER: no interrupts */
  outb(COM1 + 3, 0x80); /* LCR: DLAB */
  outb(COM1 + 0, 0x01); /* divisor 1: 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03); /* 8N1 */
  outb(COM1 + 2, 0xC7); /* FIFO on, cleared */
  outb(COM1 + 4, 0x03); /* DTR RTS */
}

void serial_putc(char c) {
  /* Poll LSR.THRE (bit 5); bounded so a broken UART model cannot hang us. */
  for (uint32_t i = 0; i < 1000000u; i++)
    if (inb(COM1 + 5) & 0x20) break;
  outb(COM1, (uint8_t)c);
}

void debugcon_putc(char c) { outb(DEBUGCON_PORT, (uint8_t)c); }

void gputc(char c) {
  if (con_mask & CON_SERIAL) {
    if (c == '\n') serial_putc('\r');
    serial_putc(c);
  }
  if (con_mask & CON_DEBUGCON) debugcon_putc(c);
}

void gputs(const char* s) {
  while (*s) gputc(*s++);
}

/* *v /= base (2..16), returns the remainder; 32-bit divisions only, so the
   runtime does not need libgcc's 64-bit helpers. */
static uint32_t divmod_small(uint64_t* v, uint32_t base) {
  uint32_t hi = (uint32_t)(*v >> 32), lo = (uint32_t)*v;
  uint32_t qhi = hi / base, r = hi % base;
  uint32_t x = (r << 16) | (lo >> 16);
  uint32_t q1 = x / base;
  x = ((x % base) << 16) | (lo & 0xFFFF);
  uint32_t q0 = x / base;
  *v = ((uint64_t)qhi << 32) | (q1 << 16) | q0;
  return x % base;
}

static void put_num(uint64_t v, unsigned base, int width, char pad, int neg) {
  char buf[24];
  int n = 0;
  do {
    unsigned d = divmod_small(&v, base);
    buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
  } while (v);
  if (neg) buf[n++] = '-';
  while (n < width) buf[n++] = pad;
  while (n) gputc(buf[--n]);
}

void gprintf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      gputc(*fmt);
      continue;
    }
    fmt++;
    char pad = ' ';
    int width = 0, longs = 0;
    if (*fmt == '0') pad = '0', fmt++;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l') longs++, fmt++;
    switch (*fmt) {
      case 'd': {
        int64_t v = longs >= 2 ? va_arg(ap, int64_t) : va_arg(ap, int32_t);
        put_num(v < 0 ? (uint64_t)-v : (uint64_t)v, 10, width, pad, v < 0);
        break;
      }
      case 'u':
      case 'x': {
        uint64_t v = longs >= 2 ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t);
        put_num(v, *fmt == 'u' ? 10 : 16, width, pad, 0);
        break;
      }
      case 's': gputs(va_arg(ap, const char*)); break;
      case 'c': gputc((char)va_arg(ap, int)); break;
      case '%': gputc('%'); break;
      case 0: fmt--; break;
      default: gputc('%'); gputc(*fmt); break;
    }
  }
  va_end(ap);
}

void guest_exit(uint32_t v) {
  outb(EXIT_PORT, (uint8_t)v);
  for (;;) __asm__ volatile("cli; hlt");
}

void check_eq(const char* what, uint32_t expected, uint32_t seen, uint32_t code) {
  if (expected == seen) return;
  gprintf("FAIL %s: expected 0x%08x saw 0x%08x\n", what, expected, seen);
  guest_exit(code);
}

void set_trap_handler(unsigned vector, trap_handler h) { handlers[vector & 255] = h; }

void trap_dispatch(struct trap_frame* f) {
  static int in_default;
  trap_handler h = handlers[f->vector & 255];
  if (h) {
    h(f);
    return;
  }
  if (in_default) {
    /* A fault while reporting a fault: print the bare numbers and give up. */
    static const char hex[] = "0123456789abcdef";
    const char* m = "\nFAIL nested unexpected vector, eip ";
    while (*m) debugcon_putc(*m++);
    for (int i = 28; i >= 0; i -= 4) debugcon_putc(hex[(f->eip >> i) & 15]);
    debugcon_putc(' ');
    for (int i = 4; i >= 0; i -= 4) debugcon_putc(hex[(f->vector >> i) & 15]);
    debugcon_putc('\n');
    guest_exit(0x7D);
  }
  in_default = 1;
  gprintf("FAIL unexpected vector %u error 0x%x at %x:%08x eflags 0x%x\n", f->vector, f->error,
          f->cs, f->eip, f->eflags);
  guest_exit(0x7E);
}

void* memcpy(void* d, const void* s, size_t n) {
  uint8_t* dp = d;
  const uint8_t* sp = s;
  while (n--) *dp++ = *sp++;
  return d;
}

void* memmove(void* d, const void* s, size_t n) {
  uint8_t* dp = d;
  const uint8_t* sp = s;
  if (dp < sp) {
    while (n--) *dp++ = *sp++;
  } else {
    while (n--) dp[n] = sp[n];
  }
  return d;
}

void* memset(void* d, int c, size_t n) {
  uint8_t* dp = d;
  while (n--) *dp++ = (uint8_t)c;
  return d;
}

int memcmp(const void* a, const void* b, size_t n) {
  const uint8_t *ap = a, *bp = b;
  for (; n; n--, ap++, bp++)
    if (*ap != *bp) return *ap - *bp;
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
