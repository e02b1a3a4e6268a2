/* What the guests of a partition split between the hypervisors share (bench/hv_irq_guest.c,
   tests/hv/smp/serial_echo_guest.c, disk_irq_guest.c): the BSP (vCPU 0, on the primary's set)
   starts the AP (vCPU 1, on the secondary's) and halts until the AP's IPI says it is done,
   so CPU 0 leaves the primary's thread idle meanwhile; and a sort for the AP's reports. */
#ifndef SPLIT_GUEST_H
#define SPLIT_GUEST_H
#include "smp_boot.h"

#define BSP_VECTOR 0x52

static volatile uint32_t ap_done;
static uint32_t ap_stack[1024];

static void on_bsp(struct trap_frame* f) {
  (void)f;
  lapic_write(LAPIC_EOI, 0);
}

/* The AP: done; the BSP hears it. */
__attribute__((noreturn)) static inline void ap_finish(void) {
  ap_done = 1;
  send_ipi(0, BSP_VECTOR);
  for (;;) __asm__ volatile("cli; hlt");
}

/* The BSP: start the AP at `ap_main` and halt until it is done. */
static inline void split_run(void (*ap_main)(void)) {
  set_trap_handler(BSP_VECTOR, on_bsp);
  smp_start(ap_main, &ap_stack[1024]);
  while (!ap_done) wait_for_interrupt();
}

static inline void sort_u32(uint32_t* a, uint32_t n) { /* shell sort: n is small */
  for (uint32_t gap = n / 2; gap; gap /= 2)
    for (uint32_t i = gap; i < n; ++i)
      for (uint32_t j = i; j >= gap && a[j - gap] > a[j]; j -= gap) {
        uint32_t t = a[j];
        a[j] = a[j - gap];
        a[j - gap] = t;
      }
}

#endif
