/* Partition B of the discovery test (tests/hv/discovery/): B is given COM1 and a debug port,
   no disk. What it finds:
   1. PCI bus 0: the chipset functions every partition has (00.0 host bridge, 01.0 ISA bridge,
      01.3 power management), not the IDE function 01.1, which reads all ones.
   2. Every port of both IDE channels reads all ones, also after commands written to them.
   3. COM1 is there (its scratch register keeps a value).
   4. Memory: fw_cfg's RAM size and "etc/e820" RAM, and the CMOS memory size, which the test
      compares with B's configured RAM.
   5. Interrupts: every 8259 IRQ unmasked and counted, the PIT at 1 kHz, until the test writes
      HV_GO_FLAG to HV_FLAG_ADDR (after partition A did its disk I/O): then the counts.
   Prints one line per finding; exits 0 (status 1). */
#include "hv_view.h"

#define HV_FLAG_ADDR 0x80000u
#define HV_GO_FLAG 0x600DF1A6u

static const uint16_t ide_ports[] = {0x1F0, 0x1F1, 0x1F2, 0x1F3, 0x1F4, 0x1F5, 0x1F6, 0x1F7, 0x3F6,
                                     0x170, 0x171, 0x172, 0x173, 0x174, 0x175, 0x176, 0x177, 0x376};

int main(void) {
  gprintf("pci functions %u\n", pci_list());
  gprintf("pci 01.1 id %x\n", pci_read32(1, 1, 0));

  outb(0x1F6, 0xA0);       /* select the master */
  outb(0x1F7, 0xEC);       /* IDENTIFY DEVICE: dropped */
  outb(0x3F6, 0x04);       /* SRST: dropped */
  uint32_t ones = 0, n = sizeof ide_ports / sizeof ide_ports[0];
  for (uint32_t k = 0; k < n; k++)
    if (inb(ide_ports[k]) == 0xFF) ones++;
  gprintf("ide ports reading all ones %u of %u, data word %x\n", ones, n, inw(0x1F0));

  outb(COM1 + 7, 0x5A);
  gprintf("com1 scratch %x\n", inb(COM1 + 7));

  uint32_t end = 0;
  const uint32_t e820 = e820_ram(&end);
  uint32_t fw_ram[2];
  fw_cfg_select(FW_CFG_RAM_SIZE);
  fw_cfg_read(fw_ram, 8);
  gprintf("memory e820 %x end %x fw_cfg %x cmos %x\n", e820, end, fw_ram[0], cmos_ram_bytes());

  count_irqs(0x00, 0x00);
  pit_start_rate(PIT_1KHZ_DIVISOR);
  gprintf("counting interrupts\n");
  while (*(volatile uint32_t*)HV_FLAG_ADDR != HV_GO_FLAG) wait_for_interrupt();
  outb(PIC1_DATA, 0xFF);
  outb(PIC2_DATA, 0xFF);
  gprintf("irqs");
  for (unsigned i = 0; i < 16; i++) gprintf(" %u", irq_count[i]);
  gprintf("\n");
  return 0;
}
