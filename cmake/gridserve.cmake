# Shared CMake helpers for gridserve targets.

# Warnings for our own code only (generated and third-party headers are not ours to fix).
function(gridserve_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

# gridserve_library(NAME SOURCES ... DEPS ...): one CMake library per module.
function(gridserve_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  gridserve_warnings(${name})
endfunction()

# gridserve_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s] [WHOLE_BINARY]): a GoogleTest
# binary registered with ctest, one ctest entry per test case; WHOLE_BINARY registers the binary
# as one entry instead (for suites whose shared set-up, e.g. a server on the model zoo, is costly).
function(gridserve_test name)
  cmake_parse_arguments(ARG "WHOLE_BINARY" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  gridserve_warnings(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  if(ARG_WHOLE_BINARY)
    add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
  else()
    gtest_discover_tests(${name}
      DISCOVERY_TIMEOUT 60
      PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}"
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  endif()
endfunction()
