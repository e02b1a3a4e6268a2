// The target description gdb reads with qXfer:features:read (GDB manual, "Target
// Descriptions"): gdb's standard i386 core feature, so that `g` has gdb's i386 layout, plus
// the system registers gdb has no feature for.
#pragma once
#include "monitor/gdb_target.h"

namespace softcpu {

// Register numbers (positions in the `g` packet and for `p`/`P`).
enum I386GdbReg : unsigned {
  GDB_EAX, GDB_ECX, GDB_EDX, GDB_EBX, GDB_ESP, GDB_EBP, GDB_ESI, GDB_EDI,
  GDB_EIP, GDB_EFLAGS,
  GDB_CS, GDB_SS, GDB_DS, GDB_ES, GDB_FS, GDB_GS,
  GDB_ST0, GDB_ST7 = GDB_ST0 + 7,
  GDB_FCTRL, GDB_FSTAT, GDB_FTAG, GDB_FISEG, GDB_FIOFF, GDB_FOSEG, GDB_FOOFF, GDB_FOP,
  // Feature "org.softcpu.i386.system" (read-only).
  GDB_CR0, GDB_CR2, GDB_CR3, GDB_CR4,
  GDB_CS_BASE, GDB_SS_BASE, GDB_DS_BASE, GDB_ES_BASE, GDB_FS_BASE, GDB_GS_BASE,
  GDB_GDTR_BASE, GDB_GDTR_LIMIT, GDB_IDTR_BASE, GDB_IDTR_LIMIT, GDB_LDTR, GDB_TR,
  GDB_REG_COUNT
};

const GdbTargetDescription& i386_target_description();

}  // namespace softcpu
