# SOFTCPU_FUZZ: the libFuzzer harnesses of tests/fuzz (clang only). Included by the top-level
# CMakeLists.txt before any library is defined, so that every part of softcpu is built with
# coverage instrumentation for libFuzzer and with ASan + UBSan (a sanitizer report is a
# finding, so UBSan does not recover). Use a build directory of its own (make fuzz-smoke uses
# build-fuzz).
option(SOFTCPU_FUZZ "Build the libFuzzer harnesses (tests/fuzz); needs clang" OFF)
if(SOFTCPU_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SOFTCPU_FUZZ=ON needs clang (e.g. CC=clang-19 CXX=clang++-19): "
                        "libFuzzer is part of clang's runtime (Debian: libclang-rt-19-dev)")
  endif()
  set(SOFTCPU_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined
                              -fno-omit-frame-pointer)
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${SOFTCPU_FUZZ_SANITIZERS};-fsanitize=fuzzer-no-link>")
  add_link_options(${SOFTCPU_FUZZ_SANITIZERS})
endif()
