/* Shared by the discovery guests (tests/hv/discovery/discovery_test.cpp): what a partition's
   firmware view shows it. PCI configuration mechanism #1, QEMU's fw_cfg, the 8259 IRQ
   counters. */
#ifndef HV_VIEW_H
#define HV_VIEW_H
#include "ata_regs.h"
#include "platform.h"

static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

/* PCI 2.1 3.7.4.1: CONFIG_ADDRESS 0xCF8 (enable, bus, device, function, register), data at
   0xCFC. Bus 0 only: the PC has no bridge. */
static inline uint32_t pci_read32(uint32_t dev, uint32_t fn, uint32_t off) {
  outl(0xCF8, 0x80000000u | (dev << 11) | (fn << 8) | (off & 0xFC));
  return inl(0xCFC);
}

/* Every function of bus 0 with a vendor ID (an absent one reads all ones), printed as
   "pci DD.F VVVV:DDDD class CCSSPP"; returns the count. */
static inline unsigned pci_list(void) {
  unsigned n = 0;
  for (uint32_t dev = 0; dev < 32; dev++) {
    for (uint32_t fn = 0; fn < 8; fn++) {
      const uint32_t id = pci_read32(dev, fn, 0);
      if ((id & 0xFFFF) == 0xFFFF) {
        if (fn == 0) break;
        continue;
      }
      gprintf("pci %x.%x %x:%x class %x\n", dev, fn, id & 0xFFFF, id >> 16, pci_read32(dev, fn, 8) >> 8);
      n++;
      /* Header type bit 7: more functions than 0 (PCI 2.1 6.2.1). */
      if (fn == 0 && !(pci_read32(dev, 0, 0x0C) & 0x800000u)) break;
    }
  }
  return n;
}

/* QEMU fw_cfg (docs/specs/fw_cfg.rst): selector 0x510 (16-bit), data 0x511. */
#define FW_CFG_SEL 0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_FILE_DIR 0x19
static inline void fw_cfg_select(uint16_t key) { outw(FW_CFG_SEL, key); }
static inline void fw_cfg_read(void* out, uint32_t len) {
  uint8_t* p = (uint8_t*)out;
  for (uint32_t i = 0; i < len; i++) p[i] = inb(FW_CFG_DATA);
}
static inline uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* The selector of the fw_cfg file `name` (file directory: u32 count, then 64-byte entries
   {u32 size, u16 select, u16 reserved, char name[56]}, big-endian); 0 when absent. */
static inline uint16_t fw_cfg_find(const char* name, uint32_t* size) {
  uint8_t count[4];
  fw_cfg_select(FW_CFG_FILE_DIR);
  fw_cfg_read(count, 4);
  for (uint32_t i = 0; i < be32(count) && i < 256; i++) {
    uint8_t e[64];
    fw_cfg_read(e, 64);
    const char* n = (const char*)e + 8;
    unsigned k = 0;
    while (name[k] && n[k] == name[k]) k++;
    if (!name[k] && !n[k]) {
      *size = be32(e);
      return (uint16_t)(e[4] << 8 | e[5]);
    }
  }
  return 0;
}

/* Bytes of RAM (type 1) in fw_cfg's "etc/e820" (20-byte little-endian records), and the
   highest RAM address + 1. */
static inline uint32_t e820_ram(uint32_t* end) {
  uint32_t size = 0, total = 0;
  *end = 0;
  const uint16_t sel = fw_cfg_find("etc/e820", &size);
  if (!sel) return 0;
  fw_cfg_select(sel);
  for (uint32_t at = 0; at + 20 <= size; at += 20) {
    uint32_t r[5];
    fw_cfg_read(r, 20);
    gprintf("e820 %x +%x type %u\n", r[0], r[2], r[4]);
    if (r[4] == 1) {
      total += r[2];
      if (r[0] + r[2] > *end) *end = r[0] + r[2];
    }
  }
  return total;
}

/* CMOS memory size: 0x15/0x16 base KiB, 0x30/0x31 KiB above 1 MiB (up to 64 MiB),
   0x34/0x35 64 KiB blocks above 16 MiB (what SeaBIOS and QEMU's pc put there). */
static inline uint32_t cmos_ram_bytes(void) {
  const uint32_t ext = cmos_read(0x30) | (uint32_t)cmos_read(0x31) << 8;
  const uint32_t above16 = cmos_read(0x34) | (uint32_t)cmos_read(0x35) << 8;
  if (above16) return 16u * 1024 * 1024 + above16 * 65536u;
  return 1024u * 1024 + ext * 1024u;
}

/* IRQ counters of the 8259 pair (vectors 0x20-0x2F), each handler acknowledging. */
static volatile uint32_t irq_count[16];
static void count_irq(struct trap_frame* f) {
  const unsigned irq = f->vector - PIC1_VECTOR;
  irq_count[irq]++;
  if (irq >= 8) pic_eoi(PIC2_CMD);
  pic_eoi(PIC1_CMD);
}
static inline void count_irqs(uint8_t master_mask, uint8_t slave_mask) {
  for (unsigned v = 0; v < 16; v++) set_trap_handler(PIC1_VECTOR + v, count_irq);
  lapic_virtual_wire();
  pic_init(master_mask, slave_mask);
}
#endif
