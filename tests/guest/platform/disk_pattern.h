/* The ide_pio disk contents, shared by the host generator and the guest: 1 MiB; sector n
   starts with "SECT" and n as a little-endian u32, then bytes (n * 31 + i) & 0xFF. */
#ifndef DISK_PATTERN_H
#define DISK_PATTERN_H

#define DISK_SECTORS 2048u

static inline unsigned char disk_pattern_byte(unsigned sector, unsigned i) {
  if (i < 4) return (unsigned char)"SECT"[i];
  if (i < 8) return (unsigned char)(sector >> (8 * (i - 4)));
  return (unsigned char)(sector * 31u + i);
}

#endif
