/* ATA PIO by polling on the primary channel (ATA/ATAPI-6, T13 1410D), for the host I/O fault
   and kill tests.  nIEN is set: no interrupts, status is polled on the alternate status port. */
#ifndef FAULTS_ATA_H
#define FAULTS_ATA_H

#include "guestlib.h"

#include "ata_regs.h"

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

/* Status once BSY is clear (a bounded wait: 0xFF if it never clears). */
static inline uint8_t ata_wait(void) {
  for (uint32_t i = 0; i < 50000000u; i++) {
    uint8_t s = inb(ATA_CTRL);
    if (!(s & ST_BSY)) return inb(ATA_STATUS);
  }
  return 0xFF;
}

static inline void ata_issue(uint8_t cmd, uint32_t lba, uint8_t count) {
  outb(ATA_NSECT, count);
  outb(ATA_LBAL, (uint8_t)lba);
  outb(ATA_LBAM, (uint8_t)(lba >> 8));
  outb(ATA_LBAH, (uint8_t)(lba >> 16));
  outb(ATA_DEVICE, (uint8_t)(0xE0 | ((lba >> 24) & 0x0F))); /* LBA, master */
  outb(ATA_STATUS, cmd);
}

static inline void ata_init(void) {
  outb(ATA_CTRL, 0x02); /* nIEN */
  outb(ATA_DEVICE, 0xE0);
  ata_wait();
}

/* WRITE SECTORS of one sector; returns the final status (ERR set on failure). */
static inline uint8_t ata_write1(uint32_t lba, const uint16_t* words) {
  ata_issue(CMD_WRITE_SECTORS, lba, 1);
  uint8_t s = ata_wait();
  if ((s & (ST_DRQ | ST_ERR)) != ST_DRQ) return s;
  for (unsigned i = 0; i < 256; i++) outw(ATA_DATA, words[i]);
  return ata_wait();
}

/* READ SECTORS of one sector into words; returns the final status. */
static inline uint8_t ata_read1(uint32_t lba, uint16_t* words) {
  ata_issue(CMD_READ_SECTORS, lba, 1);
  uint8_t s = ata_wait();
  if ((s & (ST_DRQ | ST_ERR)) != ST_DRQ) return s;
  for (unsigned i = 0; i < 256; i++) words[i] = inw(ATA_DATA);
  return ata_wait();
}

static inline uint8_t ata_flush(void) {
  outb(ATA_STATUS, CMD_FLUSH_CACHE);
  return ata_wait();
}

static inline uint32_t ata_lba28(void) {
  return inb(ATA_LBAL) | (uint32_t)inb(ATA_LBAM) << 8 | (uint32_t)inb(ATA_LBAH) << 16 |
         (uint32_t)(inb(ATA_DEVICE) & 0x0F) << 24;
}

#endif
