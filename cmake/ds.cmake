# Build helpers shared by every CMakeLists.txt of the tree.
#
# Header visibility. No target has src/ (or the repository root) on its
# include path. Instead:
#   - every header outside an internal/ directory is staged, as a symlink, in
#     ${DS_INCLUDE_DIR} (src/<path>.h as <path>.h; testing/, tools/ and tests/
#     headers under their own prefix) and reached through the INTERFACE
#     target ds_headers, which every component links;
#   - a component's own internal/ directory is linked into a private include
#     root that only that directory's targets (its library, its tests) see.
# So "coalescer/internal/flight_table.h" compiles inside src/coalescer and
# nowhere else: including another component's internal header fails to build.
# A header added later is staged by the next configure, which the
# CONFIGURE_DEPENDS glob triggers by itself on the next build.

set(DS_INCLUDE_DIR ${CMAKE_BINARY_DIR}/include)
set(DS_PRIVATE_INCLUDE_ROOT ${CMAKE_BINARY_DIR}/private-include)

function(ds_stage_public_headers)
  file(GLOB_RECURSE src_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/src
       ${PROJECT_SOURCE_DIR}/src/*.h)
  file(GLOB_RECURSE other_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
       ${PROJECT_SOURCE_DIR}/testing/*.h ${PROJECT_SOURCE_DIR}/tools/*.h
       ${PROJECT_SOURCE_DIR}/tests/*.h)
  file(REMOVE_RECURSE ${DS_INCLUDE_DIR})  # no stale links to removed headers
  foreach(rel ${src_headers})
    if(NOT rel MATCHES "(^|/)internal/")
      get_filename_component(dir ${DS_INCLUDE_DIR}/${rel} DIRECTORY)
      file(MAKE_DIRECTORY ${dir})
      file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${rel} ${DS_INCLUDE_DIR}/${rel} SYMBOLIC)
    endif()
  endforeach()
  foreach(rel ${other_headers})
    if(NOT rel MATCHES "(^|/)internal/")
      get_filename_component(dir ${DS_INCLUDE_DIR}/${rel} DIRECTORY)
      file(MAKE_DIRECTORY ${dir})
      file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${rel} ${DS_INCLUDE_DIR}/${rel} SYMBOLIC)
    endif()
  endforeach()
endfunction()

ds_stage_public_headers()
add_library(ds_headers INTERFACE)
target_include_directories(ds_headers INTERFACE ${DS_INCLUDE_DIR})

# ds_private_includes(<target>): lets <target> include the internal/ headers
# of the current directory (as "<dir>/internal/x.h", <dir> relative to src/,
# or to the repository root outside src/).
function(ds_private_includes target)
  set(internal ${CMAKE_CURRENT_SOURCE_DIR}/internal)
  if(NOT IS_DIRECTORY ${internal})
    return()
  endif()
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR})
  if(rel MATCHES "^\\.\\.")
    file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  string(REPLACE "/" "_" root_name ${rel})
  set(root ${DS_PRIVATE_INCLUDE_ROOT}/${root_name})
  if(NOT EXISTS ${root}/${rel}/internal)
    file(MAKE_DIRECTORY ${root}/${rel})
    file(CREATE_LINK ${internal} ${root}/${rel}/internal SYMBOLIC)
  endif()
  target_include_directories(${target} PRIVATE ${root})
endfunction()

# ds_component(<name> <source>...): the static library of the component in the
# current directory, with the visibility rules above.
function(ds_component name)
  add_library(${name} STATIC ${ARGN})
  target_link_libraries(${name} PUBLIC ds_headers)
  ds_private_includes(${name})
endfunction()

# ds_test(NAME SOURCES... LIBS ... LABELS ... [TSAN] [RUN_SERIAL] [TIMEOUT s]
#         [DEPENDS targets...] [FIXTURES_REQUIRED fixtures...])
# A GoogleTest binary registered with CTest under the given labels. It sees
# the internal/ headers of the directory that defines it. TSAN marks tests
# that run clean under ThreadSanitizer; in a DS_TSAN_SUBSET build only those
# are built, and everything else this function would set up is skipped with
# them. DEPENDS: targets (binaries the test runs) built first.
function(ds_test name)
  cmake_parse_arguments(T "TSAN;RUN_SERIAL" "TIMEOUT"
                        "SOURCES;LIBS;LABELS;DEPENDS;FIXTURES_REQUIRED" ${ARGN})
  if(DS_TSAN_SUBSET AND NOT T_TSAN)
    return()
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ds_headers ${T_LIBS} GTest::gtest GTest::gmock
                        GTest::gtest_main)
  ds_private_includes(${name})
  if(T_DEPENDS)
    add_dependencies(${name} ${T_DEPENDS})
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "DS_BIN_DIR=${CMAKE_BINARY_DIR}/bin;TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tsan.supp halt_on_error=1 second_deadlock_stack=1")
  if(T_RUN_SERIAL)
    set_tests_properties(${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
  if(T_FIXTURES_REQUIRED)
    set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED "${T_FIXTURES_REQUIRED}")
  endif()
endfunction()
