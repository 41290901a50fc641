# ds_test(NAME SOURCES... LIBS ... LABELS ... [TSAN])
# A GoogleTest binary registered with CTest under the given labels.
# TSAN marks tests that run clean under ThreadSanitizer; in a DS_TSAN_SUBSET
# build only those are built.
function(ds_test name)
  cmake_parse_arguments(T "TSAN" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(DS_TSAN_SUBSET AND NOT T_TSAN)
    return()
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "DS_BIN_DIR=${CMAKE_BINARY_DIR}/bin;TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tsan.supp halt_on_error=1 second_deadlock_stack=1")
endfunction()
