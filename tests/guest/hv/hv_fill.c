/* Partition A of the isolation test: fill all RAM above 1 MiB with HV_MARKER, check it
   reads back, report on the debug console and exit (status 1). */
#include "hv_guest.h"

int main(void) {
  const uint32_t end = hv_ram_end();
  for (uint32_t a = 0x100000; a < end; a += 4) *(volatile uint32_t*)a = HV_MARKER;
  uint32_t bad = 0;
  for (uint32_t a = 0x100000; a < end; a += 4) bad += *(volatile uint32_t*)a != HV_MARKER;
  gprintf("filled %x-%x bad %u\n", 0x100000, end, bad);
  return bad ? 2 : 0;
}
