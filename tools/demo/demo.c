/* Demo guest for `make run`: greets over the serial console (COM1, polled),
   prints a few computed results and exits through isa-debug-exit with 0
   (emulator exit status 1 = success for guests). */
#include "guestlib.h"

static uint32_t fib(uint32_t n) {
  uint32_t a = 0, b = 1;
  while (n--) {
    uint32_t t = a + b;
    a = b;
    b = t;
  }
  return a;
}

static uint32_t count_primes(uint32_t limit) {
  uint32_t count = 0;
  for (uint32_t n = 2; n < limit; n++) {
    uint32_t d = 2;
    while (d * d <= n && n % d) d++;
    if (d * d > n) count++;
  }
  return count;
}

static uint32_t crc32(const char* s) {
  uint32_t crc = 0xFFFFFFFFu;
  while (*s) {
    crc ^= (uint8_t)*s++;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

int main(void) {
  serial_init();
  con_select(CON_SERIAL);
  uint32_t cr0;
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  gprintf("Hello from softcpu! A freestanding guest in 32-bit protected mode (CR0=0x%08x).\n", cr0);
  gprintf("  fib(40)               = %u\n", fib(40));
  gprintf("  primes below 10000    = %u\n", count_primes(10000));
  gprintf("  crc32(\"123456789\")    = 0x%08x\n", crc32("123456789"));
  gprintf("  123456789 * 987654321 = %llu\n", (uint64_t)123456789u * 987654321u);
  gprintf("Bye.\n");
  return 0;
}
