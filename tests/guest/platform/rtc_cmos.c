/* RTC/CMOS (MC146818A) through ports 0x70/0x71 and IRQ8 -> slave 8259 IR0 -> master IR2:
   the memory-size fields for -m 64, the time registers read with the update-in-progress
   protocol, and the periodic interrupt at 1024 Hz acknowledged by reading register C (an
   unread C keeps IRQ8 high, so no new edge and no new interrupt until it is read). */
#include "platform.h"

#define RAM_MIB 64u /* CMakeLists passes -m 64 */
#define REG_A 0x0A
#define REG_B 0x0B
#define REG_C 0x0C
#define REG_D 0x0D

static volatile uint32_t periodic, read_c;
static volatile uint32_t bad_c, ack_enabled = 1;

static void rtc_handler(struct trap_frame* f) {
  (void)f;
  periodic++;
  if (ack_enabled) {
    uint8_t c = cmos_read(REG_C);
    if ((c & 0xC0) != 0xC0) bad_c = 0x100 | c; /* IRQF and PF */
    read_c++;
  }
  pic_eoi(PIC2_CMD);
  pic_eoi(PIC1_CMD);
}

static uint32_t bcd_ok(uint8_t v, uint8_t lo, uint8_t hi) {
  return (v & 0x0F) <= 9 && (v >> 4) <= 9 && v >= lo && v <= hi;
}
static uint32_t bcd(uint8_t v) { return (v >> 4) * 10u + (v & 0x0F); }

struct rtc_time { uint8_t sec, min, hour, day, month, year, century; };

/* Wait for UIP clear, read, repeat until two reads agree (the usual driver protocol). */
static void read_time(struct rtc_time* t) {
  struct rtc_time a, b;
  do {
    while (cmos_read(REG_A) & 0x80) {}
    a.sec = cmos_read(0x00); a.min = cmos_read(0x02); a.hour = cmos_read(0x04);
    a.day = cmos_read(0x07); a.month = cmos_read(0x08); a.year = cmos_read(0x09);
    a.century = cmos_read(0x32);
    while (cmos_read(REG_A) & 0x80) {}
    b.sec = cmos_read(0x00); b.min = cmos_read(0x02); b.hour = cmos_read(0x04);
    b.day = cmos_read(0x07); b.month = cmos_read(0x08); b.year = cmos_read(0x09);
    b.century = cmos_read(0x32);
  } while (memcmp(&a, &b, sizeof a) != 0);
  *t = a;
}

static uint32_t seconds_of_day(const struct rtc_time* t) {
  return bcd(t->hour) * 3600u + bcd(t->min) * 60u + bcd(t->sec);
}

int main(void) {
  /* Memory fields (the PC/AT CMOS map; 0x34/0x35 as SeaBIOS reads it). */
  const uint32_t ext_kib = (RAM_MIB - 1) * 1024; /* above 1 MiB, in KiB */
  const uint32_t high_64k = (RAM_MIB - 16) * 16; /* above 16 MiB, in 64 KiB units */
  check_eq("CMOS 0x15/0x16 base memory KiB", 640, cmos_read(0x15) | cmos_read(0x16) << 8, 1);
  check_eq("CMOS 0x17/0x18 extended KiB", ext_kib, cmos_read(0x17) | cmos_read(0x18) << 8, 2);
  check_eq("CMOS 0x30/0x31 extended KiB", ext_kib, cmos_read(0x30) | cmos_read(0x31) << 8, 3);
  check_eq("CMOS 0x34/0x35 64K above 16M", high_64k, cmos_read(0x34) | cmos_read(0x35) << 8, 4);
#ifndef QEMU_NO_CMOS_CHECKSUM /* QEMU leaves the checksum to the firmware */
  uint32_t sum = 0;
  for (uint8_t i = 0x10; i <= 0x2D; i++) sum += cmos_read(i);
  check_eq("CMOS checksum 0x2E/0x2F", sum & 0xFFFF, cmos_read(0x2E) << 8 | cmos_read(0x2F), 5);
#endif

  /* Status registers: VRT set in D; B in BCD (DM=0) and 24-hour mode, no interrupts yet. */
  check_eq("reg D VRT", 0x80, cmos_read(REG_D) & 0x80, 6);
  uint8_t b = cmos_read(REG_B);
  check_eq("reg B DM (BCD)", 0, b & 0x04, 7);
  check_eq("reg B 24h", 0x02, b & 0x02, 8);
  check_eq("reg B PIE/AIE/UIE off", 0, b & 0x70, 9);
  check_eq("CMOS RAM byte write/read", 0x5A, (cmos_write(0x40, 0x5A), cmos_read(0x40)), 10);
  check_eq("CMOS RAM byte write/read", 0xA5, (cmos_write(0x40, 0xA5), cmos_read(0x40)), 11);

  struct rtc_time t0;
  read_time(&t0);
  gprintf("rtc: 20%02x-%02x-%02x %02x:%02x:%02x (century %02x)\n", t0.year, t0.month, t0.day,
          t0.hour, t0.min, t0.sec, t0.century);
  check_eq("seconds BCD", 1, bcd_ok(t0.sec, 0, 0x59), 12);
  check_eq("minutes BCD", 1, bcd_ok(t0.min, 0, 0x59), 13);
  check_eq("hours BCD 24h", 1, bcd_ok(t0.hour, 0, 0x23), 14);
  check_eq("day BCD", 1, bcd_ok(t0.day, 1, 0x31), 15);
  check_eq("month BCD", 1, bcd_ok(t0.month, 1, 0x12), 16);
  check_eq("year BCD", 1, bcd_ok(t0.year, 0, 0x99), 17);
  check_eq("century", 0x20, t0.century, 18);

  /* Periodic interrupt: divider 010 (32.768 kHz), rate 6 = 1024 Hz; IRQ8 on the slave. */
  set_trap_handler(PIC2_VECTOR + 0, rtc_handler);
  lapic_virtual_wire();
  pic_init(0xFB, 0xFE); /* master: IR2 (cascade) open; slave: IR0 (IRQ8) open */
  cmos_write(REG_A, 0x26);
  check_eq("reg A written", 0x26, cmos_read(REG_A) & 0x7F, 19);
  cmos_read(REG_C); /* drop stale flags */
  cmos_write(REG_B, b | 0x40);
  pit_start_rate(PIT_1KHZ_DIVISOR); /* time base for the bounded waits, IRQ0 stays masked */
  /* 2048 interrupts = 2 s of RTC time: the seconds must move by at least 2. Interrupts may
     come late on a loaded host (guest time follows the host clock and missed periods
     coalesce in PF, as on real hardware), so the upper bound only catches a stuck rate. */
  while (periodic < 2048) wait_for_interrupt();
  struct rtc_time t1;
  read_time(&t1);
  uint32_t elapsed = (seconds_of_day(&t1) + 86400 - seconds_of_day(&t0)) % 86400;
  check_eq("bad reg C in the handler", 0, bad_c, 20);
  check_eq("every interrupt read C", periodic, read_c, 21);
  check_eq("RTC seconds over 2048 periodic interrupts in 2..20", 1, elapsed >= 2 && elapsed <= 20, 22);
  check_eq("slave ISR after EOI", 0, pic_read_isr(PIC2_CMD), 23);

  /* Stop reading C: after one more interrupt IRQ8 stays high and nothing more arrives. */
  ack_enabled = 0;
  uint32_t before = periodic;
  while (periodic == before) wait_for_interrupt();
  before = periodic;
  __asm__ volatile("sti" ::: "memory");
  pit_wait_periods(20); /* ~20 ms = ~20 RTC periods */
  cli();
  check_eq("no interrupt while C is unread", before, periodic, 24);
  /* UF (bit 4) is set by every update cycle whatever UIE says (MC146818A datasheet, register C),
     so a second boundary inside the wait sets it too: only IRQF, PF and AF are checked. */
  check_eq("reg C flags after the wait", 0xC0, cmos_read(REG_C) & 0xE0, 25);
  /* The read cleared C. A period may end between two reads when the host deschedules this
     vCPU for a millisecond (CI saw 0xC0 here), so a few back-to-back reads may be made; a read
     that does not clear C would return 0xC0 every time. */
  uint8_t c_again = cmos_read(REG_C);
  for (int tries = 0; c_again != 0 && tries < 3; tries++) c_again = cmos_read(REG_C);
  check_eq("reg C cleared by the read", 0, c_again, 26);
  ack_enabled = 1;
  while (periodic < before + 3) wait_for_interrupt();

  /* PIE off: no more interrupts (beyond one IRQ8 edge the slave latched before the write,
     8259A: an edge is kept until INTA; CI saw one arrive on a loaded host). */
  cmos_write(REG_B, b);
  cmos_read(REG_C);
  pic_eoi(PIC2_CMD);
  check_eq("no interrupt with PIE off", 0, interrupts_after_silencing(&periodic, 20), 27);
  gprintf("rtc_cmos: %u periodic interrupts, %u s elapsed\n", periodic, elapsed);
  return 0;
}
