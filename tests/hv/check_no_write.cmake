# ctest hv.stage2_view_write_fails: compile stage2_view_write.cpp once per case; the control
# (case 0) must compile and every write attempt (cases 1-5) must be rejected.
foreach(case 0 1 2 3 4 5)
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INC} -DSTAGE2_WRITE_CASE=${case} ${SRC}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(case EQUAL 0 AND NOT rc EQUAL 0)
    message(FATAL_ERROR "control case does not compile:\n${err}")
  elseif(NOT case EQUAL 0 AND rc EQUAL 0)
    message(FATAL_ERROR "case ${case} compiled: a write through the read-only view is possible")
  elseif(NOT case EQUAL 0)
    message(STATUS "case ${case} rejected as it must be")
  endif()
endforeach()
