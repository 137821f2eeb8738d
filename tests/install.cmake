# The install test: `cmake --install` into a scratch prefix, then build and run
# a CMake consumer (find_package) and a C consumer (pkg-config) against it.
# It compares them with the installed visionrt tool, so it needs that tool.
# The consumers get this build's compiler and linker flags: a library built
# with a sanitizer only loads into a program linked with its runtime.
if(NOT TARGET visionrt_cli)
  return()
endif()
add_test(NAME install_and_consume
  COMMAND ${CMAKE_COMMAND}
    -DVISIONRT_SOURCE_DIR=${PROJECT_SOURCE_DIR}
    -DVISIONRT_BINARY_DIR=${PROJECT_BINARY_DIR}
    -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/install_test
    -DGENERATOR=${CMAKE_GENERATOR}
    -DC_COMPILER=${CMAKE_C_COMPILER}
    -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
    "-DC_FLAGS=${CMAKE_C_FLAGS}"
    "-DCXX_FLAGS=${CMAKE_CXX_FLAGS}"
    "-DLINKER_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
    -P ${CMAKE_CURRENT_SOURCE_DIR}/install_test.cmake)
set_tests_properties(install_and_consume PROPERTIES
  TIMEOUT 600 LABELS slow
  SKIP_REGULAR_EXPRESSION "visionrt install test skipped")
