/* IDE primary channel (0x1F0-0x1F7, 0x3F6) by PIO: IDENTIFY, READ SECTORS (LBA28) of
   sectors 0, 1, 1000-1001 and the last one by polling, a read past the end (IDNF), WRITE
   SECTORS + read back, and one read completing through IRQ14 -> slave 8259 IR6.  The disk
   is the 1 MiB pattern of disk_pattern.h, attached with snapshot=on: sector 5 must still
   hold its original pattern when the test starts, whatever earlier runs wrote. */
#include "disk_pattern.h"
#include "platform.h"

#include "ata_regs.h"

static uint16_t buf[256];
static volatile uint32_t irq14, irq14_status;

static uint8_t wait_not_busy(uint32_t code) {
  for (uint32_t i = 0; i < 10000000u; i++) {
    uint8_t s = inb(ATA_CTRL); /* alternate status: does not acknowledge the interrupt */
    if (!(s & ST_BSY)) return inb(ATA_STATUS);
  }
  check_eq("BSY never cleared", 0, ST_BSY, code);
  return 0;
}

static void wait_drq(const char* what, uint32_t code) {
  uint8_t s = wait_not_busy(code);
  if ((s & (ST_DRQ | ST_ERR | ST_DRDY)) != (ST_DRQ | ST_DRDY)) {
    gprintf("FAIL %s: status 0x%x error 0x%x\n", what, s, inb(ATA_ERROR));
    guest_exit(code);
  }
}

static void issue(uint8_t cmd, uint32_t lba, uint8_t count) {
  outb(ATA_NSECT, count);
  outb(ATA_LBAL, (uint8_t)lba);
  outb(ATA_LBAM, (uint8_t)(lba >> 8));
  outb(ATA_LBAH, (uint8_t)(lba >> 16));
  outb(ATA_DEVICE, (uint8_t)(0xE0 | ((lba >> 24) & 0x0F))); /* LBA, master */
  outb(ATA_STATUS, cmd);
}

static void read_data(void) {
  for (unsigned i = 0; i < 256; i++) buf[i] = inw(ATA_DATA);
}

/* Index of the first byte differing from the pattern of `sector`, or 512. */
static uint32_t first_mismatch(uint32_t sector) {
  const uint8_t* p = (const uint8_t*)buf;
  for (uint32_t i = 0; i < 512; i++)
    if (p[i] != disk_pattern_byte(sector, i)) return i;
  return 512;
}

static void read_and_check(uint32_t lba, uint8_t count, uint32_t code) {
  issue(CMD_READ_SECTORS, lba, count);
  for (uint32_t k = 0; k < count; k++) {
    wait_drq("READ SECTORS DRQ", code);
    read_data();
    const uint8_t* p = (const uint8_t*)buf;
    check_eq("sector magic", 0x54434553 /* "SECT" */, buf[0] | (uint32_t)buf[1] << 16, code);
    check_eq("sector number", lba + k, p[4] | p[5] << 8 | p[6] << 16 | (uint32_t)p[7] << 24, code);
    check_eq("sector pattern: first bad byte", 512, first_mismatch(lba + k), code);
  }
  check_eq("status after the last word", ST_DRDY, wait_not_busy(code) & (ST_DRDY | ST_DRQ | ST_ERR), code);
}

static void ide_handler(struct trap_frame* f) {
  (void)f;
  irq14++;
  irq14_status = inb(ATA_STATUS); /* acknowledges: INTRQ drops */
  pic_eoi(PIC2_CMD);
  pic_eoi(PIC1_CMD);
}

int main(void) {
  outb(ATA_CTRL, 0x02); /* nIEN: polling */
  outb(ATA_DEVICE, 0xE0);
  check_eq("status after select", ST_DRDY, wait_not_busy(1) & (ST_BSY | ST_DRDY | ST_DRQ | ST_ERR), 1);

  /* IDENTIFY DEVICE (ATA-6 8.15): 1 MiB = 2048 sectors. */
  outb(ATA_STATUS, 0xEC);
  wait_drq("IDENTIFY DRQ", 2);
  read_data();
  check_eq("IDENTIFY word 0 bit 15 (ATA device)", 0, buf[0] & 0x8000, 3);
  check_eq("IDENTIFY word 49 LBA supported", 0x0200, buf[49] & 0x0200, 4);
  check_eq("IDENTIFY words 60-61 LBA28 sectors", DISK_SECTORS, buf[60] | (uint32_t)buf[61] << 16, 5);
  check_eq("IDENTIFY word 83 bit 10 (48-bit)", 0x0400, buf[83] & 0x0400, 6);
  check_eq("IDENTIFY words 100-101 LBA48 sectors", DISK_SECTORS, buf[100] | (uint32_t)buf[101] << 16, 7);
  check_eq("IDENTIFY words 102-103", 0, buf[102] | (uint32_t)buf[103] << 16, 8);
  check_eq("IDENTIFY CHS capacity <= sectors", 1, (uint32_t)buf[1] * buf[3] * buf[6] <= DISK_SECTORS, 9);
  uint8_t sum = 0;
  for (unsigned i = 0; i < 256; i++) sum = (uint8_t)(sum + (buf[i] & 0xFF) + (buf[i] >> 8));
  if ((buf[255] & 0xFF) == 0xA5) check_eq("IDENTIFY integrity checksum", 0, sum, 10);
  check_eq("status after IDENTIFY data", ST_DRDY, wait_not_busy(11) & (ST_DRDY | ST_DRQ | ST_ERR), 11);

  read_and_check(0, 1, 12);
  read_and_check(1, 1, 13);
  read_and_check(1000, 2, 14);
  read_and_check(DISK_SECTORS - 1, 1, 15);

  /* Past the end: ERR with IDNF (ATA-6 8.27). */
  issue(CMD_READ_SECTORS, DISK_SECTORS, 1);
  uint8_t s = wait_not_busy(16);
  check_eq("read past the end: ERR, no DRQ", ST_ERR, s & (ST_ERR | ST_DRQ), 16);
  check_eq("read past the end: IDNF", 0x10, inb(ATA_ERROR) & 0x10, 17);

  /* Write sector 5 (snapshot=on keeps the image file unchanged) and read it back. */
  read_and_check(5, 1, 18);
  issue(CMD_WRITE_SECTORS, 5, 1);
  wait_drq("WRITE SECTORS DRQ", 19);
  for (unsigned i = 0; i < 256; i++) outw(ATA_DATA, (uint16_t)(0xC0DE ^ (i * 0x0101)));
  check_eq("status after the write", ST_DRDY, wait_not_busy(20) & (ST_DRDY | ST_DRQ | ST_ERR), 20);
  outb(ATA_STATUS, 0xE7); /* FLUSH CACHE */
  check_eq("status after FLUSH CACHE", ST_DRDY, wait_not_busy(21) & (ST_DRDY | ST_DRQ | ST_ERR), 21);
  issue(CMD_READ_SECTORS, 5, 1);
  wait_drq("read back DRQ", 22);
  read_data();
  for (unsigned i = 0; i < 256; i++)
    if (buf[i] != (uint16_t)(0xC0DE ^ (i * 0x0101))) check_eq("read back word", i, 0xFFFF, 23);
  read_and_check(4, 1, 24); /* the neighbours are untouched */
  read_and_check(6, 1, 25);

  /* One read completing through IRQ14 (nIEN clear): slave IR6, vector 0x2E. */
  set_trap_handler(PIC2_VECTOR + 6, ide_handler);
  lapic_virtual_wire();
  pic_init(0xFB, 0xBF);
  outb(ATA_CTRL, 0x00);
  issue(CMD_READ_SECTORS, 1000, 1);
  while (irq14 == 0) wait_for_interrupt();
  check_eq("IRQ14 count", 1, irq14, 26);
  check_eq("status seen in the IRQ14 handler", ST_DRDY | ST_DRQ, irq14_status & (ST_BSY | ST_DRDY | ST_DRQ | ST_ERR), 27);
  read_data();
  check_eq("IRQ-driven read pattern", 512, first_mismatch(1000), 28);
  /* The last word ends the command without a new interrupt for a one-sector read. */
  __asm__ volatile("sti" ::: "memory");
  pit_start_rate(PIT_1KHZ_DIVISOR);
  pit_wait_periods(5);
  cli();
  check_eq("IRQ14 count after the data", 1, irq14, 29);
  gprintf("ide_pio: IDENTIFY, reads, write/read back, IRQ14 ok\n");
  return 0;
}
