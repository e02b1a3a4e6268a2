/* Partition B of the isolation test: look for partition A's marker everywhere B can name.
   1. Every dword of its own RAM (below 0xA0000 and from 1 MiB to the end).
   2. Three dwords of every 4 KiB page from the end of its RAM to the IOAPIC (0xFEC00000).
   3. IDE bus-master DMA (PIIX3 function 1, BMIBA; 82371 datasheet 2.7) from memory to disk at
      guest-physical addresses beyond its RAM, each sector read back by PIO and searched.
   4. DMA from disk to one of those addresses (the write must go nowhere).
   Prints the counts on the debug console; exits 0 (status 1) when no marker was found. */
#include "hv_guest.h"

#define ATA_DATA 0x1F0
#define ATA_NSECT 0x1F2
#define ATA_LBAL 0x1F3
#define ATA_LBAM 0x1F4
#define ATA_LBAH 0x1F5
#define ATA_DEVICE 0x1F6
#define ATA_STATUS 0x1F7
#define ATA_CTRL 0x3F6
#define BMIBA 0xC000
#define PRD_TABLE 0x20000u
#define BOUNCE 0x21000u

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

static uint32_t hits;

static void look(uint32_t addr) {
  if (*(volatile uint32_t*)addr == HV_MARKER) {
    if (hits < 4) gprintf("marker at %x\n", addr);
    ++hits;
  }
}

static void pci_write32(uint32_t fn, uint8_t off, uint32_t v) {
  outl(0xCF8, 0x80000000u | (1u << 11) | (fn << 8) | off); /* bus 0, device 1 */
  outl(0xCFC, v);
}

static uint8_t ata_wait(void) {
  for (uint32_t i = 0; i < 10000000u; i++) {
    uint8_t s = inb(ATA_CTRL);
    if (!(s & 0x80)) return inb(ATA_STATUS);
  }
  return 0xFF;
}

static void ata_issue(uint8_t cmd, uint32_t lba) {
  outb(ATA_NSECT, 1);
  outb(ATA_LBAL, (uint8_t)lba);
  outb(ATA_LBAM, (uint8_t)(lba >> 8));
  outb(ATA_LBAH, (uint8_t)(lba >> 16));
  outb(ATA_DEVICE, 0xE0);
  outb(ATA_STATUS, cmd);
}

/* One sector of DMA between guest-physical `addr` and sector `lba`; true when it completed. */
static int dma(uint32_t addr, uint32_t lba, int to_memory) {
  volatile uint32_t* prd = (volatile uint32_t*)PRD_TABLE;
  prd[0] = addr;
  prd[1] = 0x80000000u | 512; /* EOT, 512 bytes */
  outb(BMIBA, 0);
  outl(BMIBA + 4, PRD_TABLE);
  outb(BMIBA + 2, 0x06); /* clear interrupt and error */
  ata_issue(to_memory ? 0xC8 : 0xCA, lba);
  outb(BMIBA, to_memory ? 0x09 : 0x01);
  for (uint32_t i = 0; i < 10000000u; i++)
    if (inb(BMIBA + 2) & 0x04) break;
  outb(BMIBA, 0);
  return (ata_wait() & 0x01) == 0;
}

static void pio_read_and_look(uint32_t lba) {
  ata_issue(0x20, lba);
  ata_wait();
  volatile uint16_t* b = (volatile uint16_t*)BOUNCE;
  for (unsigned i = 0; i < 256; i++) b[i] = inw(ATA_DATA);
  for (unsigned i = 0; i < 512; i += 4) look(BOUNCE + i);
  for (unsigned i = 0; i < 256; i++) b[i] = 0;
}

int main(void) {
  const uint32_t end = hv_ram_end();
  for (uint32_t a = 0; a < 0xA0000; a += 4) look(a);
  for (uint32_t a = 0x100000; a < end; a += 4) look(a);
  uint32_t pages = 0;
  for (uint32_t a = end; a < 0xFEC00000u; a += 4096) {
    look(a);
    look(a + 0x800);
    look(a + 0xFFC);
    ++pages;
  }
  gprintf("scanned ram %x pages %u hits %u\n", end, pages, hits);

  outb(ATA_CTRL, 0x02);                      /* nIEN: no interrupts */
  pci_write32(1, 0x20, BMIBA | 1);           /* BAR4: bus master registers */
  pci_write32(1, 0x04, 0x0005);              /* I/O space + bus master */
  static const uint32_t targets[] = {0x200000u, 0x300000u, 0x3FF000u, 0x1000000u, 0xE0000000u};
  uint32_t done = 0;
  for (uint32_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
    if (dma(targets[k], 10 + k, 0)) ++done;
    pio_read_and_look(10 + k);
  }
  const int in_ok = dma(0x300000u, 10, 1); /* disk -> memory B does not have */
  gprintf("dma out %u in %u hits %u\n", done, in_ok, hits);
  return hits ? 2 : 0;
}
