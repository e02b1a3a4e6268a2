// The thread contract of SMP on host threads, for the Machine's own files (machine*.cpp).
#pragma once
#include <cstdio>
#include <cstdlib>

// The thread contract of SMP on host threads (docs/design.md "SMP vCPUs on host threads"):
// device work runs holding the big lock. Checked in debug builds, where it costs a load and
// a compare per trapped instruction and per device service.
#if SOFTCPU_DEBUG_CHECKS
#define SOFTCPU_ASSERT_BIG_LOCK()                                                          \
  do {                                                                                     \
    if (sync_ && !bql_.held_by_me()) {                                                     \
      std::fprintf(stderr, "softcpu: internal error: %s without the big lock\n", __func__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
#else
#define SOFTCPU_ASSERT_BIG_LOCK() ((void)0)
#endif
