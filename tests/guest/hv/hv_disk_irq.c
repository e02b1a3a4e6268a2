/* Partition A of the discovery test (tests/hv/discovery/): A is given a disk (ide0) whose
   interrupt the test routes to GSI 10, and no serial port.
   1. PCI: lists bus 0 (the IDE function 01.1 is there).
   2. COM1 is concealed: its eight ports read all ones.
   3. READS sector reads by PIO with the disk's interrupt enabled (nIEN = 0): each completion
      interrupts once on 8259 IRQ 10 of A's own controllers, never on IRQ 14 (its PC/AT line).
      The PIT's IRQ0 ticks (1 kHz) bound each wait.
   Prints "disk irq10 N irq14 M of READS reads", exits 0 (status 1) when N == READS and M == 0. */
#include "hv_view.h"

#define READS 64

static uint8_t ata_wait_not_busy(void) {
  for (uint32_t i = 0; i < 10000000u; i++) {
    const uint8_t s = inb(ATA_CTRL); /* alternate status: does not acknowledge */
    if (!(s & ST_BSY)) return s;
  }
  return 0xFF;
}

int main(void) {
  gprintf("pci functions %u\n", pci_list());
  uint32_t ones = 0;
  for (uint16_t p = COM1; p < COM1 + 8; p++)
    if (inb(p) == 0xFF) ones++;
  gprintf("com1 ports reading all ones %u of 8\n", ones);

  /* Master: IRQ0 (timer) and IRQ2 (cascade); slave: IRQ10 and IRQ14. */
  count_irqs(0xFA, 0xBB);
  pit_start_rate(PIT_1KHZ_DIVISOR);
  outb(ATA_CTRL, 0x00); /* nIEN = 0: the device interrupts */
  uint32_t timeouts = 0, errors = 0;
  for (uint32_t k = 0; k < READS; k++) {
    const uint32_t before = irq_count[10] + irq_count[14];
    ata_wait_not_busy();
    outb(ATA_NSECT, 1);
    outb(ATA_LBAL, (uint8_t)k);
    outb(ATA_LBAM, 0);
    outb(ATA_LBAH, 0);
    outb(ATA_DEVICE, 0xE0);
    outb(ATA_STATUS, CMD_READ_SECTORS);
    const uint32_t t0 = irq_count[0];
    while (irq_count[10] + irq_count[14] == before && irq_count[0] - t0 < 1000) wait_for_interrupt();
    if (irq_count[10] + irq_count[14] == before) timeouts++;
    const uint8_t st = inb(ATA_STATUS); /* acknowledges the interrupt (INTRQ low) */
    if (st & ST_ERR) errors++;
    for (unsigned w = 0; w < 256; w++) inw(ATA_DATA);
  }
  outb(PIC1_DATA, 0xFF);
  outb(PIC2_DATA, 0xFF);
  gprintf("disk irq10 %u irq14 %u of %u reads (timeouts %u errors %u) timer %u\n", irq_count[10],
          irq_count[14], READS, timeouts, errors, irq_count[0]);
  return (ones == 8 && irq_count[10] == READS && irq_count[14] == 0 && !errors) ? 0 : 2;
}
