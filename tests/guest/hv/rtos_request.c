/* HC_PARTITION_REQUEST for another partition (tests/hv/secondary/secondary_test.cpp,
 * Secondary.AThinGuestStartsAndStopsAnotherPartition): asks the primary to start the partition
 * "idle" (the rtos_idle guest, which prints and then blocks for good), waits 100 ms (times
 * GUEST_TIME_SCALE), asks it to stop it, then stops its own partition. Prints
 * "request start=.. stop=.. elapsed_ms=..". */
#include "guestlib.h"
#include "rtos.h"

#ifndef GUEST_TIME_SCALE  /* 12 in a ThreadSanitizer build (tests/guest/hv/CMakeLists.txt) */
#define GUEST_TIME_SCALE 1
#endif

int main(void) {
  static char other[] = "idle";  /* in RAM: the hypervisor reads RAM */
  const uint64_t t0 = sc_time_ns();
  const int32_t started = sc_hypercall(HC_PARTITION_REQUEST, HC_PARTITION_START, (uint32_t)other, 4, 0);
  rtos_sleep_ns(100000000ull * GUEST_TIME_SCALE);  /* the other partition's time to print */
  const int32_t stopped = sc_hypercall(HC_PARTITION_REQUEST, HC_PARTITION_STOP, (uint32_t)other, 4, 0);
  gprintf("request start=%d stop=%d elapsed_ms=%u\n", started, stopped,
          (uint32_t)((sc_time_ns() - t0) / 1000000));
  static char self_name[] = "rtos";
  sc_hypercall(HC_PARTITION_REQUEST, HC_PARTITION_STOP, (uint32_t)self_name, 4, 0);
  for (;;) {}
}
