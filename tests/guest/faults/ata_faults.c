/* The guest's view of host I/O faults (run by ata_faults_test.py with fault_shim.so preloaded
   into softcpu: every write and read touching sectors 100 and 200 fail with EIO, and the first
   fsync fails).  Each failing command must end with ERR and the error bits ATA-6 gives for it:
   WRITE SECTORS ABRT ("Error outputs": the device was not able to complete the action),
   READ SECTORS UNC with the LBA of the failing sector in the task file (8.27), FLUSH CACHE
   ABRT (8.12) — and a second FLUSH CACHE fails too (the host withdrew its durability claim).
   After the failures the drive keeps working: other sectors write, read back and flush. */
#include "ata.h"

static uint16_t buf[256], back[256];

static void fill(uint32_t seed) {
  for (unsigned i = 0; i < 256; i++) buf[i] = (uint16_t)(seed * 0x9E37 + i * 0x0101);
}

int main(void) {
  ata_init();
  uint8_t s;

  /* A write the host fails: ERR + ABRT, no DRQ left, DRDY still set. */
  fill(1);
  s = ata_write1(100, buf);
  check_eq("WRITE SECTORS 100: status", ST_DRDY | ST_ERR, s & (ST_BSY | ST_DRDY | ST_DF | ST_DRQ | ST_ERR), 1);
  check_eq("WRITE SECTORS 100: error ABRT", ERR_ABRT, inb(ATA_ERROR), 2);
  /* The guest retries (as drivers do): it fails the same way. */
  s = ata_write1(100, buf);
  check_eq("WRITE SECTORS 100 again: ERR", ST_ERR, s & ST_ERR, 3);

  /* A read the host fails: ERR + UNC and the failing LBA. */
  s = ata_read1(200, back);
  check_eq("READ SECTORS 200: status", ST_DRDY | ST_ERR, s & (ST_BSY | ST_DRDY | ST_DF | ST_DRQ | ST_ERR), 4);
  check_eq("READ SECTORS 200: error UNC", ERR_UNC, inb(ATA_ERROR), 5);
  check_eq("READ SECTORS 200: LBA of the error", 200, ata_lba28(), 6);

  /* A good write, then the failing fsync: FLUSH CACHE ends with ERR + ABRT. */
  fill(2);
  s = ata_write1(300, buf);
  check_eq("WRITE SECTORS 300", ST_DRDY, s & (ST_BSY | ST_DRDY | ST_DRQ | ST_ERR), 7);
  s = ata_flush();
  check_eq("FLUSH CACHE (fsync fails): status", ST_DRDY | ST_ERR, s & (ST_BSY | ST_DRDY | ST_DRQ | ST_ERR), 8);
  check_eq("FLUSH CACHE: error ABRT", ERR_ABRT, inb(ATA_ERROR), 9);
  s = ata_flush();
  check_eq("second FLUSH CACHE fails too", ST_ERR, s & ST_ERR, 10);

  /* The drive still works: read back sector 300, read 201 (next to the bad one). */
  s = ata_read1(300, back);
  check_eq("READ SECTORS 300", ST_DRDY, s & (ST_BSY | ST_DRDY | ST_DRQ | ST_ERR), 11);
  check_eq("sector 300 read back", 0, memcmp(buf, back, 512) != 0, 12);
  s = ata_read1(201, back);
  check_eq("READ SECTORS 201", ST_DRDY, s & (ST_BSY | ST_DRDY | ST_DRQ | ST_ERR), 13);
  gprintf("ata_faults: write ABRT, read UNC, flush ABRT (twice), drive still works\n");
  return 0;
}
