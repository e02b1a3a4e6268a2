/* Shared by the partition isolation guests (tests/hv/isolation/isolation_test.cpp). */
#ifndef HV_GUEST_H
#define HV_GUEST_H
#include "guestlib.h"

#define HV_MARKER 0x5AA5C33Cu /* what partition A fills its RAM with */

/* End of RAM from the CMOS (0x30/0x31: KiB above 1 MiB, as POST found it). */
static inline uint32_t hv_ram_end(void) {
  outb(0x70, 0x30);
  uint32_t lo = inb(0x71);
  outb(0x70, 0x31);
  uint32_t hi = inb(0x71);
  return 0x100000u + ((hi << 8) | lo) * 1024u;
}
#endif
