/* Starting the second CPU of a -smp 2 machine from a platform test (paging off): a real-mode
   trampoline at 0x8000 (SIPI vector 8) takes the AP into protected mode with the BSP's flat
   GDT and jumps to its C entry on its own stack (SDM vol.3 8.4.4, "MP initialization
   example"). */
#ifndef SMP_BOOT_H
#define SMP_BOOT_H

#include "platform.h"

#define SMP_TRAMPOLINE 0x8000u /* SIPI vector 8: CS = 0x0800, EIP = 0 */
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310

extern char gdt_desc[]; /* lib/boot.asm: the flat GDT (0x08 code, 0x10 data) and the IDT */
extern char idt_desc[];

static inline void send_ipi(uint8_t dest, uint32_t low) {
  lapic_write(LAPIC_ICR_HIGH, (uint32_t)dest << 24);
  lapic_write(LAPIC_ICR_LOW, low);
}

/* Hand-assembled (it runs at 0x8000 with CS = 0x0800):
     cli; xor ax,ax; mov ds,ax; o32 lgdt [0x8100]; mov eax,cr0; or al,1; mov cr0,eax;
     jmp dword 0x08:0x8040
   at 0x8040, 32-bit: mov ax,0x10; mov ds/es/ss/fs/gs,ax; mov esp,[0x8108]; jmp [0x810C] */
static const uint8_t smp_trampoline16[] = {
    0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0x66, 0x0F, 0x01, 0x16, 0x00, 0x81, 0x0F, 0x20, 0xC0,
    0x0C, 0x01, 0x0F, 0x22, 0xC0, 0x66, 0xEA, 0x40, 0x80, 0x00, 0x00, 0x08, 0x00};
static const uint8_t smp_trampoline32[] = {
    0x66, 0xB8, 0x10, 0x00, 0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xD0, 0x8E, 0xE0, 0x8E, 0xE8,
    0x8B, 0x25, 0x08, 0x81, 0x00, 0x00, 0xFF, 0x25, 0x0C, 0x81, 0x00, 0x00};

/* INIT then STARTUP to APIC ID 1: it runs entry() with ESP = stack_top, IF = 0. */
static inline void start_ap(void (*entry)(void), uint32_t* stack_top) {
  memcpy((void*)SMP_TRAMPOLINE, smp_trampoline16, sizeof smp_trampoline16);
  memcpy((void*)(SMP_TRAMPOLINE + 0x40), smp_trampoline32, sizeof smp_trampoline32);
  memcpy((void*)(SMP_TRAMPOLINE + 0x100), gdt_desc, 6);
  *(volatile uint32_t*)(SMP_TRAMPOLINE + 0x108) = (uint32_t)stack_top;
  *(volatile uint32_t*)(SMP_TRAMPOLINE + 0x10C) = (uint32_t)entry;
  send_ipi(1, 0x4500);
  send_ipi(1, 0x4600 | (SMP_TRAMPOLINE >> 12));
}

/* The TSC (guest nanoseconds here, which follow the host clock). */
static inline uint64_t smp_rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

/* Wait until *flag >= value, for at most `limit_ns` of guest time (the TSC, read every 2^20
   turns so the loop stays a plain load, compare and PAUSE). Bounded by time, not by turns: a
   count of turns ran out while the other CPU was still working when this loop ran compiled
   and the other CPU interpreted under ThreadSanitizer (30-40x slower). Returns the flag. */
static inline uint32_t smp_wait_flag(volatile uint32_t* flag, uint32_t value, uint64_t limit_ns) {
  const uint64_t t0 = smp_rdtsc();
  for (uint32_t n = 1;; ++n) {
    if (*flag >= value) return *flag;
    __asm__ volatile("pause");
    if ((n & 0xFFFFF) == 0 && smp_rdtsc() - t0 > limit_ns) return *flag;
  }
}

/* One atomic increment of *p: LOCK CMPXCHG retried until no other CPU came in between.
   Returns the retries. */
static inline uint32_t lock_add_one(volatile uint32_t* p) {
  for (uint32_t retries = 0;; ++retries) {
    uint32_t old = *p, prev;
    __asm__ volatile("lock cmpxchgl %2, %1"
                     : "=a"(prev), "+m"(*p)
                     : "r"(old + 1), "0"(old)
                     : "memory", "cc");
    if (prev == old) return retries;
  }
}

/* Both CPUs start the same way: PIC masked, local APIC on, the AP started at `entry`. */
static inline void smp_start(void (*entry)(void), uint32_t* stack_top) {
  pic_init(0xFF, 0xFF);
  lapic_write(LAPIC_SVR, 0x1FF);
  start_ap(entry, stack_top);
}

#endif
