/* The guest of the kill test (kill_test.py): writes records to sectors 1, 2, 3, ... with WRITE
   SECTORS, a FLUSH CACHE after every 1-4 records, and after each successful flush prints
   "FLUSHED n" on the debug console: records 1..n were acknowledged as durable.  The host kills softcpu at a
   random moment and checks that every record up to the last FLUSHED line is in the image.
   Sector 0 holds the run's tag (written by the host: "TAG!" and a 32-bit tag); each record is
   "REC!", the tag, n, then a pattern of (tag, n). */
#include "ata.h"

#define LAST_RECORD 2000

static uint16_t buf[256];

int main(void) {
  ata_init();
  uint8_t s = ata_read1(0, buf);
  const uint8_t* b = (const uint8_t*)buf;
  if ((s & ST_ERR) || b[0] != 'T' || b[1] != 'A' || b[2] != 'G' || b[3] != '!') {
    gprintf("NO TAG\n");
    return 3;
  }
  uint32_t tag = buf[2] | (uint32_t)buf[3] << 16;
  uint32_t since_flush = 0;
  for (uint32_t n = 1; n <= LAST_RECORD; n++) {
    buf[0] = 'R' | 'E' << 8;
    buf[1] = 'C' | '!' << 8;
    buf[2] = (uint16_t)tag;
    buf[3] = (uint16_t)(tag >> 16);
    buf[4] = (uint16_t)n;
    buf[5] = (uint16_t)(n >> 16);
    for (unsigned i = 6; i < 256; i++) buf[i] = (uint16_t)(tag * 31 + n * 7 + i);
    s = ata_write1(n, buf);
    if (s & ST_ERR) {
      gprintf("WRITE ERROR %u\n", n);
      return 4;
    }
    if (++since_flush >= 1 + (n * 7 + tag) % 4) {
      s = ata_flush();
      if (s & ST_ERR) {
        gprintf("FLUSH ERROR %u\n", n);
        return 5;
      }
      gprintf("FLUSHED %u\n", n);
      since_flush = 0;
    }
  }
  gprintf("DONE\n");
  return 0;
}
