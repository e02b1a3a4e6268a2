/* Shared helpers for the platform tests: port I/O widths guestlib lacks, the 8259 pair, PIT
   channel 0 (also the time base for bounded waits: guest time follows the host clock, so a
   loop count says nothing about elapsed time), CMOS and 32-bit MMIO. */
#ifndef PLATFORM_H
#define PLATFORM_H

#include "guestlib.h"

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
/* One interrupt window: STI's shadow covers the HLT, so an interrupt that arrived while IF
   was 0 wakes the HLT instead of slipping in before it (SDM vol.2 STI). */
static inline void wait_for_interrupt(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }

static inline uint32_t mmio_read32(uint32_t addr) { return *(volatile uint32_t*)addr; }
static inline void mmio_write32(uint32_t addr, uint32_t v) { *(volatile uint32_t*)addr = v; }

/* ---- 8259 pair (8259A datasheet: ICW1-4, OCW2 EOI, OCW3 register select) */
#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define PIC1_VECTOR 0x20
#define PIC2_VECTOR 0x28

static inline void pic_init(uint8_t master_mask, uint8_t slave_mask) {
  outb(PIC1_CMD, 0x11);  /* ICW1: edge, cascade, ICW4 follows */
  outb(PIC2_CMD, 0x11);
  outb(PIC1_DATA, PIC1_VECTOR); /* ICW2: vector base */
  outb(PIC2_DATA, PIC2_VECTOR);
  outb(PIC1_DATA, 0x04);  /* ICW3: slave on IR2 */
  outb(PIC2_DATA, 0x02);  /* ICW3: slave identity 2 */
  outb(PIC1_DATA, 0x01);  /* ICW4: 8086 mode, normal EOI */
  outb(PIC2_DATA, 0x01);
  outb(PIC1_DATA, master_mask);
  outb(PIC2_DATA, slave_mask);
}
static inline uint8_t pic_read_isr(uint16_t cmd) { outb(cmd, 0x0B); uint8_t v = inb(cmd); outb(cmd, 0x0A); return v; }
static inline uint8_t pic_read_irr(uint16_t cmd) { outb(cmd, 0x0A); return inb(cmd); }
static inline void pic_eoi(uint16_t cmd) { outb(cmd, 0x20); }

/* ---- local APIC at its default base (SDM vol.3 ch.11) */
#define LAPIC_BASE 0xFEE00000u
#define LAPIC_ID 0x020
#define LAPIC_EOI 0x0B0
#define LAPIC_SVR 0x0F0
#define LAPIC_ISR 0x100
#define LAPIC_IRR 0x200
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3E0
static inline uint32_t lapic_read(uint32_t reg) { return mmio_read32(LAPIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }
/* Virtual wire mode as a BIOS sets it up (MP spec 3.6.2.2): APIC on, LINT0 ExtINT so the
   8259's INTR reaches the CPU, LINT1 NMI.  After reset LINT0 is masked; whether a
   software-disabled APIC still passes the 8259 through differs between models (QEMU does
   not), so the tests do not depend on it. */
static inline void lapic_virtual_wire(void) {
  lapic_write(LAPIC_SVR, 0x1FF);  /* enabled, spurious vector 0xFF */
  lapic_write(LAPIC_LVT_LINT0, 0x700);
  lapic_write(LAPIC_LVT_LINT1, 0x400);
}

/* ---- IOAPIC at its default base (82093AA datasheet: IOREGSEL at +0, IOWIN at +0x10) */
#define IOAPIC_BASE 0xFEC00000u
static inline uint32_t ioapic_read(uint8_t reg) {
  mmio_write32(IOAPIC_BASE, reg);
  return mmio_read32(IOAPIC_BASE + 0x10);
}
static inline void ioapic_write(uint8_t reg, uint32_t v) {
  mmio_write32(IOAPIC_BASE, reg);
  mmio_write32(IOAPIC_BASE + 0x10, v);
}

/* ---- PIT channel 0 (8254 datasheet: control word, counter latch) */
#define PIT_HZ 1193182u
#define PIT_1KHZ_DIVISOR 1193u

static inline void pit_start_rate(uint16_t divisor) {
  outb(0x43, 0x34);  /* channel 0, lobyte/hibyte, mode 2 (rate generator), binary */
  outb(0x40, (uint8_t)divisor);
  outb(0x40, (uint8_t)(divisor >> 8));
}
static inline uint16_t pit_read0(void) {
  outb(0x43, 0x00);  /* counter latch, channel 0 */
  uint8_t lo = inb(0x40);
  return (uint16_t)(lo | inb(0x40) << 8);
}
static inline uint16_t pit_read2(void) {
  outb(0x43, 0x80);  /* counter latch, channel 2 */
  uint8_t lo = inb(0x42);
  return (uint16_t)(lo | inb(0x42) << 8);
}
/* Waits until channel 0 (in mode 2) reloaded `periods` times: each reload shows as the count
   going up.  Works with interrupts off and IRQ0 masked. */
static inline void pit_wait_periods(unsigned periods) {
  uint16_t last = pit_read0();
  while (periods) {
    uint16_t now = pit_read0();
    if (now > last) periods--;
    last = now;
  }
}

/* Waits with IF=1 for `periods` PIT periods (channel 0 polled, IRQ0 may be masked). */
static inline void idle_periods(unsigned periods) {
  __asm__ volatile("sti" ::: "memory");
  pit_wait_periods(periods);
  __asm__ volatile("cli" ::: "memory");
}
/* After an interrupt source was silenced (masked, disabled, its route cut), counts the
   interrupts that still arrive (`count` is the handler's counter) over `periods` PIT periods.
   One interrupt may already be latched (the 8259's or the local APIC's IRR) if this vCPU was
   descheduled between the last handler and the silencing write, as happens on a loaded host:
   that one is let in first, over two periods. Returns 0xFFFFFFFF if more than one came then. */
static inline uint32_t interrupts_after_silencing(volatile uint32_t* count, unsigned periods) {
  uint32_t before = *count;
  idle_periods(2);
  if (*count - before > 1) return 0xFFFFFFFFu;
  before = *count;
  idle_periods(periods);
  return *count - before;
}

/* ---- CMOS / RTC (MC146818A); index bit 7 keeps NMI masked */
static inline uint8_t cmos_read(uint8_t index) { outb(0x70, 0x80 | index); return inb(0x71); }
static inline void cmos_write(uint8_t index, uint8_t v) { outb(0x70, 0x80 | index); outb(0x71, v); }

#endif
