/* Guests that misbehave, one per ROM (built with -DMODE_...), run by misbehave_test.py, which
   checks each ends or continues as `softcpu --help` documents, within its timeout, with its
   peak RSS bounded:
     MODE_TRIPLE           null IDT, then INT3: #GP -> #DF -> triple fault.  Before it a magic
                           word goes to RAM (kept across a warm reset); after the reset the
                           guest finds it and exits 0, so --on-triple-fault reset passes with
                           status 1 and --on-triple-fault exit ends with status 3.
     MODE_HLT_CLI          CLI; HLT: halted for good (status 0).
     MODE_SERIAL_FLOOD     COM1's THR written forever without looking at LSR.
     MODE_DEBUGCON_FLOOD   port 0xE9 written forever.
     MODE_PIT_MAX          PIT channel 0 at its highest rate (mode 2, count 2: 596.6 kHz;
                           8254 datasheet: count 1 is illegal in mode 2), IRQ0 unmasked,
                           handler counting and EOI-ing; reports its count now and then and
                           runs until the timeout.
     MODE_ALL_PORTS        writes 00h then FFh to every port 0000h-FFFFh as byte, word and
                           dword, except the machine-control ports 0064h (i8042 reset
                           command), 0092h (fast reset), 00F4h-00F7h (debug exit), 00E9h (our console), 0CF9h (reset
                           control), then exits 0. */
#include "guestlib.h"

#define MAGIC_ADDR ((volatile uint32_t*)0x90000)
#define MAGIC 0x7E5E7A11u

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }

#ifdef MODE_ALL_PORTS
/* The ports left alone: machine control, and our own console. */
static int skipped(uint32_t port, uint32_t width) {
  static const uint16_t ranges[][2] = {{0x64, 0x64}, {0x92, 0x92}, {0xE9, 0xE9}, {0xF4, 0xF7},
                                       {0xCF9, 0xCF9}};
  if (port + width > 0x10000) return 1;
  for (unsigned i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
    if (port <= ranges[i][1] && port + width - 1 >= ranges[i][0]) return 1;
  return 0;
}
#endif

#ifdef MODE_PIT_MAX
static volatile uint32_t ticks;
static void irq0(struct trap_frame* f) {
  (void)f;
  ticks++;
  outb(0x20, 0x20);
}
#endif

int main(void) {
#if defined(MODE_TRIPLE)
  if (*MAGIC_ADDR == MAGIC) {
    *MAGIC_ADDR = 0;
    gprintf("misbehave: running again after the triple-fault reset\n");
    return 0;
  }
  *MAGIC_ADDR = MAGIC;
  gprintf("misbehave: triple fault now\n");
  static const struct __attribute__((packed)) { uint16_t limit; uint32_t base; } null_idt = {0, 0};
  __asm__ volatile("lidt %0; int3" : : "m"(null_idt));
  return 2; /* not reached */
#elif defined(MODE_HLT_CLI)
  gprintf("misbehave: cli; hlt\n");
  __asm__ volatile("cli; hlt");
  return 2;
#elif defined(MODE_SERIAL_FLOOD)
  gprintf("misbehave: flooding COM1\n");
  for (uint32_t i = 0;; i++) outb(0x3F8, (uint8_t)('A' + i % 26));
#elif defined(MODE_DEBUGCON_FLOOD)
  for (uint32_t i = 0;; i++) outb(0xE9, (uint8_t)(i % 64 == 63 ? '\n' : 'a' + i % 26));
#elif defined(MODE_PIT_MAX)
  set_trap_handler(0x20, irq0);
  outb(0x20, 0x11); outb(0xA0, 0x11); /* 8259 pair: vectors 0x20/0x28, cascade on IR2 */
  outb(0x21, 0x20); outb(0xA1, 0x28);
  outb(0x21, 0x04); outb(0xA1, 0x02);
  outb(0x21, 0x01); outb(0xA1, 0x01);
  outb(0x21, 0xFE); outb(0xA1, 0xFF); /* IRQ0 only */
  outb(0x43, 0x34);                   /* channel 0, lo/hi, mode 2 */
  outb(0x40, 2);
  outb(0x40, 0);
  __asm__ volatile("sti");
  for (uint32_t report = 1;; report++) {
    uint32_t until = ticks + 1000;
    while (ticks < until) __asm__ volatile("hlt");
    gprintf("misbehave: %u000 PIT interrupts\n", report);
  }
#elif defined(MODE_ALL_PORTS)
  for (uint32_t pass = 0; pass < 2; pass++) {
    uint32_t v = pass ? 0xFFFFFFFFu : 0;
    for (uint32_t port = 0; port < 0x10000; port++) {
      if (!skipped(port, 1)) outb((uint16_t)port, (uint8_t)v);
      if (!skipped(port, 2)) outw((uint16_t)port, (uint16_t)v);
      if (!skipped(port, 4)) outl((uint16_t)port, v);
    }
    gprintf("misbehave: pass %u over all ports done\n", pass);
  }
  return 0;
#else
#error "define one MODE_..."
#endif
}
