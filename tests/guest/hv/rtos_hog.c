/* A thin partition that holds the secondary's worker most of the time: it spins for SPIN_MS
   (reading the time by hypercall) and sleeps GAP_MS, for ever. Beside a split vCPU at a lower
   priority on the same one-worker set, that vCPU runs only in the sleeps
   (BothHypervisors.CpuZeroServesADeviceDeadlineTheHeldOffWorkerCannot, tests/hv/smp/
   recheck_guest.c). */
#include "guestlib.h"
#include "rtos.h"

#ifndef GUEST_TIME_SCALE /* 12 in a ThreadSanitizer build (tests/guest/hv/CMakeLists.txt) */
#define GUEST_TIME_SCALE 1
#endif
#define MS 1000000ull
#define SPIN_MS 30
#define GAP_MS 2

int main(void) {
  for (;;) {
    const uint64_t until = sc_time_ns() + SPIN_MS * MS * GUEST_TIME_SCALE;
    while (sc_time_ns() < until) {
    }
    rtos_sleep_ns(GAP_MS * MS * GUEST_TIME_SCALE);
  }
}
