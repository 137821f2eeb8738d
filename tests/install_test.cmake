# Run by ctest as `cmake -P` (see install.cmake) with VISIONRT_SOURCE_DIR,
# VISIONRT_BINARY_DIR, WORK_DIR, GENERATOR, C_COMPILER and CXX_COMPILER set,
# and optionally C_FLAGS, CXX_FLAGS and LINKER_FLAGS, the build's own, with
# which the consumers are built.
# Installs the build into WORK_DIR/prefix and checks that an outside project
# can use it: the C++ consumer through find_package(visionrt), the C consumer
# through pkg-config, and the installed visionrt tool; all three must name the
# same top label for the same image.
cmake_minimum_required(VERSION 3.19)  # string(JSON)

foreach(var VISIONRT_SOURCE_DIR VISIONRT_BINARY_DIR WORK_DIR GENERATOR C_COMPILER CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_test.cmake needs -D${var}=...")
  endif()
endforeach()

set(model "${VISIONRT_SOURCE_DIR}/models/demo/vit-digits")
file(GLOB images "${VISIONRT_SOURCE_DIR}/models/demo/images/digits/*.png")
if(NOT EXISTS "${model}/config.json" OR NOT images)
  message("visionrt install test skipped: no demo model at ${model} or no images beside it")
  return()
endif()
list(SORT images)
list(GET images 0 image)

# Runs a command; stops the test with its output when it fails.
# Sets <out_var> to its stdout.
function(run_checked out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    list(JOIN ARGN " " command)
    message(FATAL_ERROR "failed (${result}): ${command}\n--- stdout:\n${out}\n--- stderr:\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

# The line "top1 id=N probability=P label=NAME" printed by both consumers.
function(top1_id output who out_var)
  if(NOT output MATCHES "top1 id=([0-9]+) probability=([0-9.]+) label=([^\n]+)")
    message(FATAL_ERROR "${who} printed no top-1 line:\n${output}")
  endif()
  set(${out_var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
run_checked(ignored "${CMAKE_COMMAND}" --install "${VISIONRT_BINARY_DIR}" --prefix "${prefix}")

# GNUInstallDirs may pick lib/ or lib/<multiarch>/, so look rather than assume.
file(GLOB_RECURSE library "${prefix}/libvisionrt.so")
file(GLOB_RECURSE pc_file "${prefix}/visionrt.pc")
file(GLOB_RECURSE cmake_config "${prefix}/visionrtConfig.cmake")
foreach(installed library pc_file cmake_config)
  list(LENGTH ${installed} count)
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "expected one installed ${installed}, found ${count}: '${${installed}}'")
  endif()
endforeach()
foreach(header visionrt.hpp visionrt.h status.hpp export.hpp)
  if(NOT EXISTS "${prefix}/include/visionrt/${header}")
    message(FATAL_ERROR "header visionrt/${header} was not installed under ${prefix}/include")
  endif()
endforeach()
get_filename_component(libdir "${library}" DIRECTORY)
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
set(run_env "${CMAKE_COMMAND}" -E env "LD_LIBRARY_PATH=${libdir}")

# The installed tool, which also says whether image decoding is built in.
run_checked(version ${run_env} "${prefix}/bin/visionrt" --version)
if(NOT version MATCHES "OpenCV image decoding: yes")
  set(no_image_io TRUE)
endif()

# C++ consumer: find_package(visionrt) through CMAKE_PREFIX_PATH.
set(consumer_build "${WORK_DIR}/consumer-build")
run_checked(ignored "${CMAKE_COMMAND}"
  -S "${VISIONRT_SOURCE_DIR}/tests/consumer" -B "${consumer_build}"
  -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
  "-DCMAKE_PREFIX_PATH=${prefix}")
file(STRINGS "${consumer_build}/CMakeCache.txt" found_dir REGEX "^visionrt_DIR:")
string(FIND "${found_dir}" "${prefix}/" at)
if(at EQUAL -1)
  message(FATAL_ERROR "find_package(visionrt) did not use the installed package: ${found_dir}")
endif()
run_checked(ignored "${CMAKE_COMMAND}" --build "${consumer_build}")

# C consumer: compiled and linked with nothing but pkg-config's flags.
find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf REQUIRED)
run_checked(pc_flags "${CMAKE_COMMAND}" -E env "PKG_CONFIG_PATH=${pc_dir}"
  "${PKG_CONFIG_EXECUTABLE}" --cflags --libs visionrt)
string(STRIP "${pc_flags}" pc_text)
separate_arguments(pc_flags UNIX_COMMAND "${pc_text}")
# The flags must lead to this install, not to a prefix fixed when visionrt
# was configured (where another visionrt, or none, may be installed).
file(REAL_PATH "${prefix}/include" want_include)
file(REAL_PATH "${libdir}" want_lib)
set(flag_dirs_ok TRUE)
foreach(flag IN LISTS pc_flags)
  if(flag MATCHES "^-([IL])(.+)$")
    file(REAL_PATH "${CMAKE_MATCH_2}" dir)
    if(NOT (CMAKE_MATCH_1 STREQUAL "I" AND dir STREQUAL want_include) AND
       NOT (CMAKE_MATCH_1 STREQUAL "L" AND dir STREQUAL want_lib))
      set(flag_dirs_ok FALSE)
    endif()
  endif()
endforeach()
if(NOT flag_dirs_ok OR NOT pc_text MATCHES "-I" OR NOT pc_text MATCHES "-L")
  message(FATAL_ERROR "pkg-config flags '${pc_text}' do not point into the install prefix "
    "${prefix}: visionrt.pc must find the prefix relative to itself (\${pcfiledir})")
endif()
separate_arguments(build_flags UNIX_COMMAND "${C_FLAGS} ${LINKER_FLAGS}")
run_checked(ignored "${C_COMPILER}" -std=c99 -Wall -Wextra -pedantic -Werror ${build_flags}
  "${VISIONRT_SOURCE_DIR}/tests/consumer/consumer_c.c" ${pc_flags} -o "${WORK_DIR}/consumer_c")

if(no_image_io)
  message("visionrt install test skipped: both consumers built, but this visionrt cannot "
    "decode images (built without OpenCV), so they were not run")
  return()
endif()

run_checked(cpp_out "${consumer_build}/consumer" "${model}" "${image}")
top1_id("${cpp_out}" "the C++ consumer" cpp_id)
run_checked(c_out ${run_env} "${WORK_DIR}/consumer_c" "${model}" "${image}")
top1_id("${c_out}" "the C consumer" c_id)
run_checked(cli_out ${run_env} "${prefix}/bin/visionrt" classify --model "${model}" --topk 1 --json
  "${image}")
string(JSON cli_id GET "${cli_out}" predictions 0 id)

if(NOT cpp_id EQUAL c_id OR NOT cpp_id EQUAL cli_id)
  message(FATAL_ERROR "top-1 ids differ for ${image}: C++ consumer ${cpp_id}, C consumer ${c_id}, "
    "visionrt tool ${cli_id}")
endif()
message(STATUS "installed visionrt works: top-1 id ${cpp_id} for ${image} from the C++ consumer, "
  "the C consumer and the tool")

# Detection through the C API: the same objects, in the same order, as the
# tool finds in a demo image.
set(detr "${VISIONRT_SOURCE_DIR}/models/demo/detr-shapes")
set(shapes "${VISIONRT_SOURCE_DIR}/models/demo/images/shapes/shapes_00000.png")
run_checked(c_det ${run_env} "${WORK_DIR}/consumer_c" detect "${detr}" "${shapes}")
run_checked(cli_det ${run_env} "${prefix}/bin/visionrt" detect --model "${detr}" --json "${shapes}")
string(REGEX MATCHALL "id=[0-9]+" c_ids "${c_det}")
string(JSON cli_count LENGTH "${cli_det}" detections)
set(cli_ids "")
if(cli_count GREATER 0)
  math(EXPR last "${cli_count} - 1")
  foreach(i RANGE ${last})
    string(JSON id GET "${cli_det}" detections ${i} id)
    list(APPEND cli_ids "id=${id}")
  endforeach()
endif()
if(NOT c_ids STREQUAL cli_ids OR NOT c_det MATCHES "^detections ${cli_count}\n")
  message(FATAL_ERROR "detections differ for ${shapes}: C consumer\n${c_det}\nvisionrt tool\n${cli_det}")
endif()
message(STATUS "installed visionrt detects: ${cli_count} objects (${c_ids}) in ${shapes} from the C "
  "consumer and the tool")
file(REMOVE_RECURSE "${WORK_DIR}")
