# Helpers that build guest ROM images (64 KiB, mapped so they end at 0xFFFFF).
#
#   guest_raw_rom(NAME OUTPUT SOURCE [INCLUDES dir...] [DEPENDS f...])
#       nasm -f bin of one self-contained assembly file.
#   guest_c_rom(NAME OUTPUT SOURCES f.c|f.asm... [CFLAGS ...] [DEPENDS ...])
#       C and/or assembly objects linked with the shared boot stub and
#       runtime (tests/guest/lib) by guest.ld, then objcopy -O binary.
# Each defines a custom target NAME that is part of ALL.

# Included from several directories: variables are directory-scoped, so no include_guard.

find_program(NASM_EXECUTABLE nasm REQUIRED)
find_program(GUEST_CC NAMES gcc REQUIRED)
find_program(GUEST_LD NAMES ld REQUIRED)
find_program(GUEST_OBJCOPY NAMES objcopy REQUIRED)

set(GUEST_LIB_DIR ${CMAKE_CURRENT_LIST_DIR})
set(GUEST_CFLAGS -m32 -march=i686 -mno-sse -mno-mmx -O2 -ffreestanding -fno-pic -fno-pie
    -nostdlib -fno-stack-protector -fno-asynchronous-unwind-tables -fno-builtin
    -fno-tree-loop-distribute-patterns -fcf-protection=none -Wall -Wextra -std=gnu11)
execute_process(COMMAND ${GUEST_CC} -m32 -print-libgcc-file-name
                OUTPUT_VARIABLE GUEST_LIBGCC OUTPUT_STRIP_TRAILING_WHITESPACE)

function(_guest_obj out_var src objdir)
  cmake_parse_arguments(G "" "" "CFLAGS;DEPENDS" ${ARGN})
  get_filename_component(base ${src} NAME)
  set(obj ${objdir}/${base}.o)
  get_filename_component(srcdir ${src} DIRECTORY)
  if(src MATCHES "\\.asm$")
    add_custom_command(OUTPUT ${obj}
      COMMAND ${NASM_EXECUTABLE} -f elf32 -I${GUEST_LIB_DIR}/ -I${srcdir}/ -o ${obj} ${src}
      DEPENDS ${src} ${G_DEPENDS} VERBATIM)
  else()
    add_custom_command(OUTPUT ${obj}
      COMMAND ${GUEST_CC} ${GUEST_CFLAGS} ${G_CFLAGS} -I${GUEST_LIB_DIR} -c ${src} -o ${obj}
      DEPENDS ${src} ${GUEST_LIB_DIR}/guestlib.h ${G_DEPENDS} VERBATIM)
  endif()
  set(${out_var} ${obj} PARENT_SCOPE)
endfunction()

function(guest_c_rom name)
  cmake_parse_arguments(G "" "OUTPUT" "SOURCES;CFLAGS;DEPENDS" ${ARGN})
  set(objdir ${CMAKE_CURRENT_BINARY_DIR}/${name}.objs)
  file(MAKE_DIRECTORY ${objdir})
  set(objs)
  foreach(src ${GUEST_LIB_DIR}/boot.asm ${GUEST_LIB_DIR}/guestlib.c ${G_SOURCES})
    _guest_obj(obj ${src} ${objdir} CFLAGS ${G_CFLAGS} DEPENDS ${G_DEPENDS})
    list(APPEND objs ${obj})
  endforeach()
  set(elf ${objdir}/${name}.elf)
  add_custom_command(OUTPUT ${G_OUTPUT}
    COMMAND ${GUEST_LD} -m elf_i386 -nostdlib -z noexecstack -T ${GUEST_LIB_DIR}/guest.ld -Map=${objdir}/${name}.map
            -o ${elf} ${objs} ${GUEST_LIBGCC}
    COMMAND ${GUEST_OBJCOPY} -O binary --gap-fill 0xFF ${elf} ${G_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -DROM=${G_OUTPUT} -P ${GUEST_LIB_DIR}/check_rom_size.cmake
    DEPENDS ${objs} ${GUEST_LIB_DIR}/guest.ld ${GUEST_LIB_DIR}/check_rom_size.cmake VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${G_OUTPUT})
endfunction()

function(guest_raw_rom name)
  cmake_parse_arguments(G "" "OUTPUT;SOURCE" "INCLUDES;DEPENDS" ${ARGN})
  set(incs)
  foreach(d ${G_INCLUDES})
    list(APPEND incs -I${d}/)
  endforeach()
  add_custom_command(OUTPUT ${G_OUTPUT}
    COMMAND ${NASM_EXECUTABLE} -f bin ${incs} -o ${G_OUTPUT} ${G_SOURCE}
    COMMAND ${CMAKE_COMMAND} -DROM=${G_OUTPUT} -P ${GUEST_LIB_DIR}/check_rom_size.cmake
    DEPENDS ${G_SOURCE} ${G_DEPENDS} ${GUEST_LIB_DIR}/check_rom_size.cmake VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${G_OUTPUT})
endfunction()
