/* The HPET at 0xFED00000 (IA-PC HPET 1.0a) through the real wiring: capabilities (vendor
   8086, three 64-bit timers, legacy route, 10 ns period), the main counter halted until
   ENABLE_CNF and then advancing at the advertised rate measured against the PIT, a one-shot
   edge interrupt and a periodic one through IOAPIC pins 20 and 21, a level-triggered one held
   until its status bit is cleared, and the legacy replacement route: timer 0 on IRQ0 (IOAPIC
   pin 2) with the PIT's own IRQ0 cut off, and back. The 8259 stays masked. */
#include "platform.h"

#define HPET_BASE 0xFED00000u
#define IOAPIC_BASE 0xFEC00000u
#define V_ONESHOT 0x60
#define V_PERIODIC 0x61
#define V_LEVEL 0x62
#define V_IRQ0 0x63

#define HPET_CFG 0x010
#define HPET_STATUS 0x020
#define HPET_COUNTER 0x0F0
#define TN_CFG(n) (0x100 + 0x20 * (n))
#define TN_CMP(n) (0x108 + 0x20 * (n))
#define TN_LEVEL (1u << 1)
#define TN_INT_ENB (1u << 2)
#define TN_PERIODIC (1u << 3)
#define TN_VAL_SET (1u << 6)
#define TN_32BIT (1u << 8)
#define TN_ROUTE(p) ((uint32_t)(p) << 9)

static volatile uint32_t oneshot_count, periodic_count, level_count, level_status_bad, irq0_count;

static uint32_t hpet_read(uint32_t reg) { return mmio_read32(HPET_BASE + reg); }
static void hpet_write(uint32_t reg, uint32_t v) { mmio_write32(HPET_BASE + reg, v); }
static uint32_t counter_low(void) { return hpet_read(HPET_COUNTER); }

static void ioapic_route(unsigned pin, uint8_t vector, int level) {
  const uint32_t dest = lapic_read(LAPIC_ID) & 0xFF000000u; /* physical: our APIC ID */
  mmio_write32(IOAPIC_BASE, 0x10 + 2 * pin + 1);
  mmio_write32(IOAPIC_BASE + 0x10, dest);
  mmio_write32(IOAPIC_BASE, 0x10 + 2 * pin);
  mmio_write32(IOAPIC_BASE + 0x10, vector | (level ? 0x8000u : 0)); /* fixed, high, unmasked */
}

static void oneshot_handler(struct trap_frame* f) { (void)f; oneshot_count++; lapic_write(LAPIC_EOI, 0); }
static void periodic_handler(struct trap_frame* f) { (void)f; periodic_count++; lapic_write(LAPIC_EOI, 0); }
static void irq0_handler(struct trap_frame* f) { (void)f; irq0_count++; lapic_write(LAPIC_EOI, 0); }
/* Level: the status bit says it is ours; clearing it drops the line before the EOI, else the
   IOAPIC would send it again at once. */
static void level_handler(struct trap_frame* f) {
  (void)f;
  level_count++;
  if (!(hpet_read(HPET_STATUS) & 4)) level_status_bad |= 1;
  hpet_write(HPET_STATUS, 4);
  if (hpet_read(HPET_STATUS) & 4) level_status_bad |= 2;
  lapic_write(LAPIC_EOI, 0);
}

int main(void) {
  set_trap_handler(V_ONESHOT, oneshot_handler);
  set_trap_handler(V_PERIODIC, periodic_handler);
  set_trap_handler(V_LEVEL, level_handler);
  set_trap_handler(V_IRQ0, irq0_handler);
  pic_init(0xFF, 0xFF);
  lapic_write(LAPIC_SVR, 0x1FF);
  pit_start_rate(PIT_1KHZ_DIVISOR);

  /* 2.3.4: REV_ID 1, NUM_TIM_CAP 2, COUNT_SIZE_CAP, LEG_RT_CAP, vendor 8086; period in fs. */
  check_eq("HPET capabilities", 0x8086A201u, hpet_read(0x000), 1);
  check_eq("HPET period (fs)", 10000000u, hpet_read(0x004), 2);
  check_eq("timer 0 caps (periodic, 64-bit)", 0x30, hpet_read(TN_CFG(0)) & 0x30, 3);
  check_eq("timer 2 route cap (pins 16-23)", 0x00FF0000u, hpet_read(TN_CFG(2) + 4), 4);

  /* Halted after reset; counts from the value written once enabled. */
  check_eq("counter halted at 0", 0, counter_low() | hpet_read(HPET_COUNTER + 4), 5);
  pit_wait_periods(2);
  check_eq("counter still halted", 0, counter_low(), 6);
  hpet_write(HPET_CFG, 1);
  /* The rate: 100 MHz against the PIT's 1.193182 MHz. PIT channel 2 in mode 0 counts down
     once from 0xFFFF (55 ms), so the PIT clocks between two reads are exact however the host
     schedules us (polling for reloads is not: guest time follows the host's clock, and a
     loaded host that deschedules us for a few ms makes the poll miss whole periods). Each side
     is read right after the other, 20 ms apart. Ten tries, one must be within 2 % (a host
     stall between two adjacent reads spoils a try; so does one that runs past the 55 ms: the
     count wraps, and port 0x61 bit 5, OUT2, is high then). On a host loaded 6x over, CI-like,
     three tries in a row ran 60-67 ms each. */
  int rate_ok = 0;
  for (int attempt = 0; attempt < 10 && !rate_ok; ++attempt) {
    outb(0x61, (inb(0x61) & ~2u) | 1u); /* gate 2 high, speaker off */
    outb(0x43, 0xB0);                    /* channel 2, lobyte/hibyte, mode 0, binary */
    outb(0x42, 0xFF);
    outb(0x42, 0xFF);
    pit_wait_periods(1);                 /* let the count load */
    const uint32_t h0 = counter_low();
    const uint16_t p0 = pit_read2();
    while (counter_low() - h0 < 2000000) {
    }
    const uint16_t p1 = pit_read2();
    const uint32_t h1 = counter_low();
    if (inb(0x61) & 0x20) continue; /* OUT2 rose: the count reached 0 and wrapped */
    const uint32_t pit_clocks = (uint16_t)(p0 - p1), ticks = h1 - h0;
    /* expected ticks = pit_clocks * 100e6 / 1193182 */
    const uint32_t expected = (uint32_t)((uint64_t)pit_clocks * 100000000u / PIT_HZ);
    gprintf("hpet: %u ticks while the PIT counted %u (expected %u)\n", ticks, pit_clocks, expected);
    rate_ok = pit_clocks > 20000 && ticks >= expected - expected / 50 && ticks <= expected + expected / 50;
  }
  check_eq("counter rate vs PIT within 2 %", 1, rate_ok, 7);

  /* One-shot edge on IOAPIC pin 20 in 1 ms: one interrupt, then silence. */
  ioapic_route(20, V_ONESHOT, 0);
  hpet_write(TN_CFG(2), TN_ROUTE(20) | TN_INT_ENB);
  hpet_write(TN_CMP(2) + 4, 0);
  hpet_write(TN_CMP(2), counter_low() + 100000);
  while (oneshot_count == 0) wait_for_interrupt();
  idle_periods(10);
  check_eq("one-shot interrupts", 1, oneshot_count, 8);
  check_eq("one-shot sets no status bit (edge)", 0, hpet_read(HPET_STATUS), 9);

  /* Periodic timer 0, 32-bit, 1 ms, on pin 21, programmed as Linux does (counter halted,
     VAL_SET + comparator, then the period alone). */
  ioapic_route(21, V_PERIODIC, 0);
  hpet_write(HPET_CFG, 0);
  const uint32_t start = counter_low();
  hpet_write(TN_CFG(0), TN_ROUTE(21) | TN_INT_ENB | TN_PERIODIC | TN_VAL_SET | TN_32BIT);
  hpet_write(TN_CMP(0), start + 100000);
  hpet_write(TN_CMP(0), 100000);
  hpet_write(HPET_CFG, 1);
  while (periodic_count < 5) wait_for_interrupt();
  /* The counter first: the comparator, read after it, is ahead of the counter as read, however
     long the host stalls between the two reads (it steps past the counter as periods end). */
  const uint32_t count_then = counter_low();
  const uint32_t cmp = hpet_read(TN_CMP(0));
  check_eq("periodic comparator advanced by whole periods", 0, (cmp - start) % 100000, 10);
  check_eq("periodic comparator ahead of the counter", 1, (int32_t)(cmp - count_then) > 0, 11);
  check_eq("periodic: 5 interrupts took >= 5 periods", 1, counter_low() - start >= 500000, 12);
  hpet_write(TN_CFG(0), TN_ROUTE(21) | TN_PERIODIC | TN_32BIT); /* interrupt off */
  check_eq("periodic with Tn_INT_ENB off: no interrupts", 0,
           interrupts_after_silencing(&periodic_count, 10), 13);

  /* Level-triggered timer 2 on pin 22: the handler sees its status bit and clears it. */
  ioapic_route(22, V_LEVEL, 1);
  hpet_write(TN_CFG(2), TN_ROUTE(22) | TN_INT_ENB | TN_LEVEL);
  hpet_write(TN_CMP(2), counter_low() + 50000);
  while (level_count == 0) wait_for_interrupt();
  idle_periods(5);
  check_eq("level interrupts", 1, level_count, 14);
  check_eq("level status bit set in the handler, clear after W1C", 0, level_status_bad, 15);
  hpet_write(TN_CFG(2), 0);

  /* Legacy replacement: the PIT's IRQ0 (still running at 1 kHz) no longer reaches pin 2;
     timer 0 does. */
  ioapic_route(2, V_IRQ0, 0);
  while (irq0_count < 3) wait_for_interrupt(); /* the PIT through pin 2 first */
  hpet_write(HPET_CFG, 3);
  hpet_write(TN_CFG(0), 0);
  check_eq("legacy route cuts the PIT's IRQ0 off", 0, interrupts_after_silencing(&irq0_count, 10), 16);
  uint32_t before = irq0_count;
  hpet_write(TN_CFG(0), TN_INT_ENB | TN_32BIT);
  hpet_write(TN_CMP(0), counter_low() + 100000);
  idle_periods(10);
  check_eq("timer 0 on IRQ0 in legacy mode: one interrupt", before + 1, irq0_count, 17);
  hpet_write(HPET_CFG, 1);
  before = irq0_count;
  idle_periods(10);
  check_eq("legacy route off: the PIT is back on pin 2", 1, irq0_count > before, 18);
  gprintf("hpet: one-shot, periodic (%u), level and legacy route ok\n", periodic_count);
  return 0;
}
