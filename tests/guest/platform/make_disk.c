/* Writes the ide_pio test disk: SECTORS sectors of 512 bytes; sector n starts with "SECT"
   and n as a little-endian u32, and byte i >= 8 is (n * 31 + i) & 0xFF (disk_pattern.h). */
#include <stdio.h>

#include "disk_pattern.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTPUT\n", argv[0]);
    return 2;
  }
  FILE* f = fopen(argv[1], "wb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  unsigned char sector[512];
  for (unsigned n = 0; n < DISK_SECTORS; n++) {
    for (unsigned i = 0; i < 512; i++) sector[i] = disk_pattern_byte(n, i);
    if (fwrite(sector, 1, sizeof sector, f) != sizeof sector) {
      perror(argv[1]);
      return 1;
    }
  }
  return fclose(f) == 0 ? 0 : 1;
}
