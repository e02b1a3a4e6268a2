// The registry of handler families (interp/sem/handler_table.h): every handler the decoder can
// give an Insn, by family and index. interp/sem/registry.cpp defines it; it is compiled into the
// host and, with SOFTCPU_JIT_BITCODE, into the translator's bitcode, so the two lists are one.
#pragma once
#include <cstdint>

#include "interp/sem/handler_table.h"

extern "C" {
extern const softcpu::HandlerFamily softcpu_handler_families[];
extern const uint32_t softcpu_handler_family_count;
// Sizes and offsets the semantics depend on (sizeof Cpu, offsets of its fields, sizeof Insn):
// the translator refuses bitcode whose record differs from the host's.
extern const uint32_t softcpu_layout[];
extern const uint32_t softcpu_layout_count;
}
