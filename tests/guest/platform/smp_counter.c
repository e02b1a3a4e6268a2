/* Two CPUs (-smp 2, paging off). The bootstrap processor starts the other by INIT and
   STARTUP IPIs through its ICR (SDM vol.3 8.4.4, "MP initialization example"); the AP runs a
   real-mode trampoline at 0x8000 into protected mode and C. Then: each CPU sees its own local
   APIC at 0xFEE00000 (ID register, CPUID.1:EBX[31:24], IA32_APIC_BASE.BSP), a fixed IPI goes
   each way, the IOAPIC delivers the PIT's pin 2 to the AP only when its destination says so,
   and both CPUs add to one counter with LOCK CMPXCHG until it holds the exact total. */
#include "smp_boot.h"

#define TRAMPOLINE SMP_TRAMPOLINE
#define AP_IPI_VECTOR 0x60
#define BSP_IPI_VECTOR 0x61
#define PIT_VECTOR 0x70
#define ITERATIONS 150000u

static volatile uint32_t counter, go;
static volatile uint32_t ap_ready, ap_done, ap_apic_id, ap_cpuid_id, ap_apic_base;
static volatile uint32_t ap_ipi_count, bsp_ipi_count, ap_pit_count, bsp_pit_count, ap_pit_bad;
static volatile uint32_t retries[2];
static uint32_t ap_stack[1024];

static uint32_t cpu_index(void) { return lapic_read(LAPIC_ID) >> 24; }

static void add_one(unsigned cpu) { retries[cpu] += lock_add_one(&counter); }

/* Bounded wait for *flag >= value (the other CPU gets its turns meanwhile): 120 s of guest
   time, far below the test's --timeout. */
static void wait_for(volatile uint32_t* flag, uint32_t value, const char* what, uint32_t code) {
  if (smp_wait_flag(flag, value, 120000000000ull) >= value) return;
  check_eq(what, value, *flag, code);
}

static void ap_ipi_handler(struct trap_frame* f) {
  (void)f;
  if (cpu_index() == 1) ap_ipi_count++;
  lapic_write(LAPIC_EOI, 0);
}
static void bsp_ipi_handler(struct trap_frame* f) {
  (void)f;
  if (cpu_index() == 0) bsp_ipi_count++;
  lapic_write(LAPIC_EOI, 0);
}
static void pit_handler(struct trap_frame* f) {
  (void)f;
  if (cpu_index() == 1) ap_pit_count++;
  else bsp_pit_count++;
  lapic_write(LAPIC_EOI, 0); /* the EOI goes to the APIC of the CPU that took it */
}

/* The AP in C, on its own stack, IF = 0. */
__attribute__((noreturn, used)) static void ap_main(void) {
  __asm__ volatile("lidt idt_desc");
  ap_apic_id = lapic_read(LAPIC_ID);
  uint32_t a = 1, b, c = 0, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  ap_cpuid_id = b >> 24;
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x1B));
  ap_apic_base = lo;
  lapic_write(LAPIC_SVR, 0x1FF);
  ap_ready = 1;
  /* The BSP's fixed IPI, then the PIT through the IOAPIC, both with IF = 1 here. */
  while (ap_ipi_count == 0 || ap_pit_count < 3) wait_for_interrupt();
  send_ipi(0, BSP_IPI_VECTOR);
  while (!go) __asm__ volatile("pause");
  for (uint32_t k = 0; k < ITERATIONS; ++k) add_one(1);
  ap_done = 1;
  for (;;) __asm__ volatile("cli; hlt");
}

int main(void) {
  set_trap_handler(AP_IPI_VECTOR, ap_ipi_handler);
  set_trap_handler(BSP_IPI_VECTOR, bsp_ipi_handler);
  set_trap_handler(PIT_VECTOR, pit_handler);
  pic_init(0xFF, 0xFF); /* everything comes through the APICs */
  lapic_write(LAPIC_SVR, 0x1FF);
  check_eq("BSP APIC ID", 0, lapic_read(LAPIC_ID), 2);
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x1B));
  check_eq("BSP flag on CPU 0", 0x100, lo & 0x100, 3);

  /* The trampoline (smp_boot.h), started by hand to check INIT de-assert and a second SIPI. */
  memcpy((void*)TRAMPOLINE, smp_trampoline16, sizeof smp_trampoline16);
  memcpy((void*)(TRAMPOLINE + 0x40), smp_trampoline32, sizeof smp_trampoline32);
  memcpy((void*)(TRAMPOLINE + 0x100), gdt_desc, 6);
  *(volatile uint32_t*)(TRAMPOLINE + 0x108) = (uint32_t)&ap_stack[1024];
  *(volatile uint32_t*)(TRAMPOLINE + 0x10C) = (uint32_t)&ap_main;

  /* INIT, then STARTUP twice (the second is ignored by a CPU that already runs). */
  send_ipi(1, 0x4500);
  send_ipi(1, 0x8500); /* INIT level de-assert: no effect */
  send_ipi(1, 0x4600 | (TRAMPOLINE >> 12));
  send_ipi(1, 0x4600 | (TRAMPOLINE >> 12));
  wait_for(&ap_ready, 1, "AP came up", 4);
  check_eq("AP APIC ID register", 1u << 24, ap_apic_id, 5);
  check_eq("AP CPUID initial APIC ID", 1, ap_cpuid_id, 6);
  check_eq("AP IA32_APIC_BASE enabled, not BSP", 0x800, ap_apic_base & 0x900, 7);
  check_eq("BSP APIC ID after the AP started", 0, lapic_read(LAPIC_ID), 8);

  /* A fixed IPI to APIC ID 1. */
  send_ipi(1, AP_IPI_VECTOR);
  wait_for(&ap_ipi_count, 1, "AP took the fixed IPI", 9);

  /* The PIT's IRQ0 on IOAPIC pin 2, physical destination APIC 1, edge, vector PIT_VECTOR. */
  ioapic_write(0x10 + 2 * 2 + 1, 1u << 24);
  ioapic_write(0x10 + 2 * 2, PIT_VECTOR);
  pit_start_rate(PIT_1KHZ_DIVISOR);
  __asm__ volatile("sti");
  wait_for(&ap_pit_count, 3, "AP took PIT interrupts through the IOAPIC", 10);
  ioapic_write(0x10 + 2 * 2, 0x10000 | PIT_VECTOR); /* masked */
  check_eq("IOAPIC pin 2 destination kept", 1u << 24, ioapic_read(0x10 + 2 * 2 + 1), 11);
  check_eq("BSP took none of the AP's PIT interrupts", 0, bsp_pit_count, 12);
  wait_for(&bsp_ipi_count, 1, "BSP took the AP's fixed IPI", 13);
  cli();

  go = 1;
  for (uint32_t k = 0; k < ITERATIONS; ++k) add_one(0);
  wait_for(&ap_done, 1, "AP finished counting", 14);
  gprintf("counter %u (CAS retries: BSP %u, AP %u)\n", counter, retries[0], retries[1]);
  check_eq("exact total of both CPUs' LOCK CMPXCHG increments", 2 * ITERATIONS, counter, 15);
  gputs("smp_counter: ok\n");
  return 0;
}
