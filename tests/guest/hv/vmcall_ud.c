/* VMCALL (0F 01 C1) on an ordinary machine, which has no VMX and no thin-guest hypervisor:
   #UD with EIP on the instruction (SDM vol.2 VMCALL: #UD outside VMX operation), EAX kept. */
#include "guestlib.h"

static volatile uint32_t ud_eip, ud_count;

static void on_ud(struct trap_frame* f) {
  ud_eip = f->eip;
  ++ud_count;
  f->eip += 3;  /* skip it */
}

extern char vmcall_at[];

int main(void) {
  set_trap_handler(6, on_ud);
  uint32_t eax = 5;
  __asm__ volatile("vmcall_at: .byte 0x0f, 0x01, 0xc1" : "+a"(eax) : : "memory");
  check_eq("#UD raised once", 1, ud_count, 2);
  check_eq("#UD at the VMCALL", (uint32_t)vmcall_at, ud_eip, 3);
  check_eq("EAX kept", 5, eax, 4);
  gprintf("vmcall_ud ok\n");
  return 0;
}
