# cmake -DROM=file -P check_rom_size.cmake: fail unless the ROM is 64, 128 or 256 KiB.
file(SIZE ${ROM} size)
if(NOT size EQUAL 65536 AND NOT size EQUAL 131072 AND NOT size EQUAL 262144)
  file(REMOVE ${ROM})
  message(FATAL_ERROR "${ROM}: ${size} bytes, a ROM must be 64, 128 or 256 KiB")
endif()
