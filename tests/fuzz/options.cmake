# SOFTCPU_FUZZ: the libFuzzer harnesses of tests/fuzz (clang only). Included by the top-level
# CMakeLists.txt before any library is defined and before its sanitizer block, so that every
# part of softcpu gets libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link) on top
# of SOFTCPU_SANITIZE, which defaults to ASan + UBSan here (a sanitizer report is a finding, so
# nothing recovers). The same objects serve the sanitizer test subset and the fuzzers: `make
# test-sanitize` and `make fuzz-smoke` share build-fuzz (docs/hardening.md "In CI").
option(SOFTCPU_FUZZ "Build the libFuzzer harnesses (tests/fuzz); needs clang" OFF)
if(SOFTCPU_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SOFTCPU_FUZZ=ON needs clang (e.g. CC=clang-19 CXX=clang++-19): "
                        "libFuzzer is part of clang's runtime (Debian: libclang-rt-19-dev)")
  endif()
  set(SOFTCPU_SANITIZE "address,undefined" CACHE STRING
      "Sanitizers to build with (-fsanitize= list), empty for none")
  if(NOT SOFTCPU_SANITIZE MATCHES "address")
    message(FATAL_ERROR "SOFTCPU_FUZZ=ON needs ASan in SOFTCPU_SANITIZE (libFuzzer's harnesses "
                        "link against its runtime), not '${SOFTCPU_SANITIZE}'")
  endif()
  # Not the targets the sanitizer block leaves alone (SOFTCPU_NO_SANITIZE: the native
  # oracle's runners link no sanitizer runtime, which supplies the coverage callbacks).
  add_compile_options("$<$<AND:$<COMPILE_LANGUAGE:C,CXX>,$<NOT:$<BOOL:$<TARGET_PROPERTY:SOFTCPU_NO_SANITIZE>>>>:-fsanitize=fuzzer-no-link>")
endif()
