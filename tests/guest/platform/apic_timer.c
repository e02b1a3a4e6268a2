/* Local APIC at 0xFEE00000 and IOAPIC at 0xFEC00000 (paging off): the APIC timer one-shot
   and periodic, with ISR set in the handler and cleared by EOI; then the PIT's IRQ0 through
   IOAPIC pin 2 (the ISA override; pin 0 must stay silent) with the 8259 masked. */
#include "platform.h"

#define TIMER_VECTOR 0x40
#define PIT_VECTOR 0x50
#define PIN0_VECTOR 0x51

static volatile uint32_t timer_count, timer_isr_bad, pit_count, pin0_count;

static uint32_t lapic_isr_bit(uint8_t v) { return (lapic_read(LAPIC_ISR + 0x10 * (v >> 5)) >> (v & 31)) & 1; }

static void timer_handler(struct trap_frame* f) {
  (void)f;
  timer_count++;
  if (!lapic_isr_bit(TIMER_VECTOR)) timer_isr_bad |= 1;
  lapic_write(LAPIC_EOI, 0);
  if (lapic_isr_bit(TIMER_VECTOR)) timer_isr_bad |= 2;
}
static void pit_handler(struct trap_frame* f) {
  (void)f;
  pit_count++;
  lapic_write(LAPIC_EOI, 0);
}
static void pin0_handler(struct trap_frame* f) {
  (void)f;
  pin0_count++;
  lapic_write(LAPIC_EOI, 0);
}


int main(void) {
  set_trap_handler(TIMER_VECTOR, timer_handler);
  set_trap_handler(PIT_VECTOR, pit_handler);
  set_trap_handler(PIN0_VECTOR, pin0_handler);
  pic_init(0xFF, 0xFF); /* 8259 fully masked: everything here comes through the APICs */
  pit_start_rate(PIT_1KHZ_DIVISOR);

  uint32_t apic_lo, apic_hi;
  __asm__ volatile("rdmsr" : "=a"(apic_lo), "=d"(apic_hi) : "c"(0x1B));
  check_eq("IA32_APIC_BASE base", LAPIC_BASE, apic_lo & 0xFFFFF000u, 1);
  check_eq("IA32_APIC_BASE enable+BSP", 0x900, apic_lo & 0x900, 2);
  /* Registers answer from power-on: the MSR says enabled, so MMIO must not float (all ones). */
  check_eq("LAPIC version 0x1x", 0x10, lapic_read(0x030) & 0xF0, 3);
  check_eq("LVT timer masked after reset", 0x10000, lapic_read(LAPIC_LVT_TIMER) & 0x10000, 4);
  lapic_write(LAPIC_SVR, 0x1FF);
  check_eq("SVR enabled", 0x1FF, lapic_read(LAPIC_SVR) & 0x1FF, 5);

  /* The counter runs down at the bus clock / divider (divide by 1: DCR 1011b). */
  lapic_write(LAPIC_TIMER_DIVIDE, 0x0B);
  lapic_write(LAPIC_LVT_TIMER, 0x10000 | TIMER_VECTOR); /* masked while we watch it */
  lapic_write(LAPIC_TIMER_INITIAL, 0xFFFFFFFFu);
  uint32_t c1 = lapic_read(LAPIC_TIMER_CURRENT);
  pit_wait_periods(2);
  uint32_t c2 = lapic_read(LAPIC_TIMER_CURRENT);
  check_eq("timer counts down", 1, c2 < c1 && c1 != 0, 6);
  lapic_write(LAPIC_TIMER_INITIAL, 0); /* stops it */
  check_eq("initial count 0 stops the timer", 0, lapic_read(LAPIC_TIMER_CURRENT), 7);

  /* One-shot: exactly one interrupt, then the count stays 0. */
  lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR);
  lapic_write(LAPIC_TIMER_INITIAL, 200000);
  while (timer_count == 0) wait_for_interrupt();
  idle_periods(10);
  check_eq("one-shot interrupts", 1, timer_count, 8);
  check_eq("one-shot current count at the end", 0, lapic_read(LAPIC_TIMER_CURRENT), 9);
  check_eq("ISR set in the handler, clear after EOI", 0, timer_isr_bad, 10);

  /* Periodic: keeps coming and reloads; masking the LVT stops the interrupts. */
  timer_count = 0;
  lapic_write(LAPIC_LVT_TIMER, 0x20000 | TIMER_VECTOR);
  lapic_write(LAPIC_TIMER_INITIAL, 100000);
  while (timer_count < 5) wait_for_interrupt();
  check_eq("periodic current count reloaded", 1, lapic_read(LAPIC_TIMER_CURRENT) != 0, 11);
  lapic_write(LAPIC_LVT_TIMER, 0x30000 | TIMER_VECTOR);
  check_eq("periodic timer masked: no interrupts", 0, interrupts_after_silencing(&timer_count, 10), 12);
  check_eq("periodic ISR/EOI", 0, timer_isr_bad, 13);
  lapic_write(LAPIC_TIMER_INITIAL, 0);

  /* IOAPIC: 24 redirection entries; IRQ0 is on pin 2 (pin 0 unmasked as a trap). */
  check_eq("IOAPIC max redirection entry", 23, (ioapic_read(0x01) >> 16) & 0xFF, 14);
  const uint32_t dest = lapic_read(LAPIC_ID) & 0xFF000000u; /* physical: our APIC ID */
  ioapic_write(0x10 + 2 * 2 + 1, dest);
  ioapic_write(0x10 + 2 * 2, PIT_VECTOR); /* fixed, physical, edge, high, unmasked */
  ioapic_write(0x10 + 2 * 0 + 1, dest);
  ioapic_write(0x10 + 2 * 0, PIN0_VECTOR);
  check_eq("RTE 2 low read back", PIT_VECTOR, ioapic_read(0x14) & 0x1FFFF, 15);
  check_eq("RTE 2 high read back", dest, ioapic_read(0x15), 16);
  while (pit_count < 5) wait_for_interrupt();
  check_eq("nothing on IOAPIC pin 0", 0, pin0_count, 17);
  check_eq("8259 delivered nothing (its ISR)", 0, pic_read_isr(PIC1_CMD), 18);
  ioapic_write(0x14, 0x10000 | PIT_VECTOR);
  check_eq("RTE 2 masked: no interrupts", 0, interrupts_after_silencing(&pit_count, 10), 19);
  check_eq("LAPIC ISR clear at the end", 0, lapic_isr_bit(PIT_VECTOR) | lapic_isr_bit(TIMER_VECTOR), 20);
  gprintf("apic_timer: one-shot, periodic and IOAPIC pin 2 ok (%u PIT interrupts)\n", pit_count);
  return 0;
}
