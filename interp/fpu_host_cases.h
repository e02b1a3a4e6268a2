// Case lists of the host x87 runners (interp/fpu_host.cpp, interp/fpu_quick.cpp): each runs the
// guest's instruction bytes as a `case` of a switch over the code, one asm statement a case.
#pragma once

// The eight rows of register forms (ModRM C0-FF): ROW(op, first ModRM of the row).
#define SOFTCPU_X87_ROWS_OF(ROW, op)                                                         \
  ROW(op, 0xC0) ROW(op, 0xC8) ROW(op, 0xD0) ROW(op, 0xD8) ROW(op, 0xE0) ROW(op, 0xE8)       \
  ROW(op, 0xF0) ROW(op, 0xF8)
// Memory forms normalized to mod 00, rm 111: [RDI] (64-bit host) / [EDI] (32-bit host).
#define SOFTCPU_X87_MEMS_OF(CASE, op)                                                        \
  CASE(op, 0x07) CASE(op, 0x0F) CASE(op, 0x17) CASE(op, 0x1F) CASE(op, 0x27) CASE(op, 0x2F) \
  CASE(op, 0x37) CASE(op, 0x3F)
