/* Integer workload shared by the guest test and its host-side reference:
   the same source is compiled natively at build time to produce the
   expected values (EXPECTED, EXPECTED_PARTS) and for the guest. */
#ifndef CHECKSUM_WORK_H
#define CHECKSUM_WORK_H
#include <stdint.h>

#define CHECKSUM_PARTS 14
extern const char* const checksum_part_names[CHECKSUM_PARTS];
/* Fills parts[] and returns a hash over all of them. */
uint32_t checksum_run(uint32_t parts[CHECKSUM_PARTS]);
#endif
