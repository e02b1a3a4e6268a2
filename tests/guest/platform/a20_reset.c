/* A20 gate and system reset.  A20 is open when either the i8042 output port bit 1 (command
   0xD1) or port 0x92 bit 1 opens it; closed, address 0x100600 aliases 0x600.  Then three
   resets, one per path: PIIX3 reset control 0xCF9, i8042 pulse command 0xFE, port 0x92 bit 0.
   RAM survives a reset, so a state word at 0x7000 (outside .data/.bss, which the boot stub
   re-initialises) says which stage runs after each trip through the reset vector. */
#include "platform.h"

#define STATE ((volatile uint32_t*)0x7000)
#define MAGIC 0x52535421u /* "!TSR" */
#define LOW phys(0x600)
#define HIGH phys(0x100600)

/* A pointer to a physical address (paging is off); the empty asm keeps GCC from treating an
   address in page 0 as a null-pointer access (-Warray-bounds). */
static inline volatile uint32_t* phys(uint32_t addr) {
  __asm__("" : "+r"(addr));
  return (volatile uint32_t*)addr;
}

static uint32_t wraps(void) {
  *LOW = 0x11111111u;
  *HIGH = 0x22222222u;
  return *LOW == 0x22222222u;
}

static void kbc_wait_input_empty(void) {
  while (inb(0x64) & 0x02) {}
}
static void kbc_command(uint8_t cmd) {
  kbc_wait_input_empty();
  outb(0x64, cmd);
}
static uint8_t kbc_read_output_port(void) {
  kbc_command(0xD0);
  for (uint32_t i = 0; i < 1000000u; i++)
    if (inb(0x64) & 0x01) return inb(0x60);
  check_eq("i8042 0xD0 reply (OBF)", 1, 0, 40);
  return 0;
}
static void kbc_write_output_port(uint8_t v) {
  kbc_command(0xD1);
  kbc_wait_input_empty();
  outb(0x60, v);
  kbc_wait_input_empty();
}

/* Reached only if the reset did not happen: give it 50 ms of guest time. */
static void expect_no_return(uint32_t code) {
  pit_start_rate(PIT_1KHZ_DIVISOR);
  pit_wait_periods(50);
  check_eq("still running after the reset request", 0, 1, code);
}

static void check_power_on_a20(uint32_t code) {
  check_eq("port 0x92 after reset", 0, inb(0x92) & 0x03, code);
  check_eq("i8042 output port A20 and reset lines after reset", 0x03, kbc_read_output_port() & 0x03, code + 1);
  check_eq("no 1 MiB wrap after reset", 0, wraps(), code + 2);
}

int main(void) {
  if (STATE[0] != MAGIC) {
    /* Power-on: the i8042 holds A20 open, port 0x92 does not. */
    check_power_on_a20(1);

    kbc_write_output_port(0xCD); /* A20 off (bit 1), keep reset high (bit 0) */
    check_eq("i8042 output port reads back", 0xCD, kbc_read_output_port() & 0xCF, 4);
    check_eq("wrap with A20 off", 1, wraps(), 5);
    check_eq("0x600 sees the write to 0x100600", 0x22222222u, *LOW, 6);

    outb(0x92, 0x02); /* fast A20 on */
    check_eq("port 0x92 reads back", 0x02, inb(0x92) & 0x03, 7);
    check_eq("no wrap with port 0x92 A20", 0, wraps(), 8);
    check_eq("0x100600 kept its own value", 0x22222222u, *HIGH, 9);
    check_eq("0x600 kept its own value", 0x11111111u, *LOW, 10);

    outb(0x92, 0x00);
    check_eq("wrap again with both gates closed", 1, wraps(), 11);

    kbc_write_output_port(0xCF);
    check_eq("no wrap with i8042 A20 on", 0, wraps(), 12);

    STATE[0] = MAGIC;
    STATE[1] = 1;
    outb(0xCF9, 0x02); /* PIIX3 reset control: hard reset ... */
    outb(0xCF9, 0x06); /* ... on the 0 -> 1 transition of bit 2 */
    expect_no_return(13);
  }
  switch (STATE[1]) {
    case 1:
      check_power_on_a20(20);
      check_eq("0xCF9 bits cleared by the reset", 0, inb(0xCF9) & 0x0E, 23);
      STATE[1] = 2;
      kbc_command(0xFE); /* pulse output port bit 0 (reset) */
      expect_no_return(24);
      break;
    case 2:
      check_power_on_a20(25);
      STATE[1] = 3;
      outb(0x92, inb(0x92) | 0x01); /* fast reset */
      expect_no_return(28);
      break;
    case 3:
      check_power_on_a20(29);
      STATE[0] = 0;
      gprintf("a20_reset: A20 via i8042 and port 0x92, resets via 0xCF9, i8042 0xFE, port 0x92 ok\n");
      return 0;
    default: check_eq("reset stage", 1, STATE[1], 35);
  }
  return 99;
}
