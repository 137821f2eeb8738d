# visionrt_optional(PART RESULT_VAR): finds an optional library named by
# VISIONRT_WITH_<PART> (AUTO/ON/OFF), sets RESULT_VAR to TRUE or FALSE and,
# when found, defines the imported target visionrt::<part> (opencv, onednn).
# ON and not found is a configure error; AUTO and not found leaves the part
# out. Either way VISIONRT_<PART>_HINT says why and what brings the part, for
# the error or the configure summary.
#
# Both libraries are found by their headers and shared libraries rather than
# by the CMake packages they ship:
#  - OpenCV's CMake package (and its .pc file) is only in Debian's
#    libopencv-dev, which pulls in every OpenCV module (video, GDAL, HDF5,
#    ...: 422 packages, 1.46 GB on a new Debian 12 with the rest of the
#    set-up). visionrt uses core, imgproc and imgcodecs, whose -dev packages
#    carry the headers and libraries but no CMake package (212 packages,
#    0.84 GB with the rest).
#  - Debian's oneDNN CMake package requires OpenCL's development files for a
#    GPU runtime visionrt does not use, and fails configure without them.
# CMAKE_PREFIX_PATH, OpenCV_ROOT and dnnl_ROOT point at other installs.

set(VISIONRT_OPENCV_PACKAGES "libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libjpeg-dev")
set(VISIONRT_ONEDNN_PACKAGES "libdnnl-dev")

# Reads `#define <macro> <number>` from a header into out_var.
function(_visionrt_header_number header macro out_var)
  file(STRINGS "${header}" line REGEX "^#define[ \t]+${macro}[ \t]+[0-9]+")
  string(REGEX REPLACE "^#define[ \t]+${macro}[ \t]+([0-9]+).*$" "\\1" number "${line}")
  set(${out_var} "${number}" PARENT_SCOPE)
endfunction()

# Sets found to TRUE and defines visionrt::opencv when OpenCV 4 with core,
# imgproc and imgcodecs, and libjpeg, are installed; otherwise sets why.
function(_visionrt_find_opencv found why)
  set(${found} FALSE PARENT_SCOPE)
  find_path(VISIONRT_OPENCV_INCLUDE_DIR opencv2/core/version.hpp PATH_SUFFIXES opencv4)
  if(NOT VISIONRT_OPENCV_INCLUDE_DIR)
    set(${why} "no OpenCV headers (opencv2/core/version.hpp)" PARENT_SCOPE)
    return()
  endif()
  _visionrt_header_number("${VISIONRT_OPENCV_INCLUDE_DIR}/opencv2/core/version.hpp" CV_VERSION_MAJOR major)
  if(NOT major OR major LESS 4)
    set(${why} "OpenCV at ${VISIONRT_OPENCV_INCLUDE_DIR} is not version 4 or newer" PARENT_SCOPE)
    return()
  endif()
  set(libraries)
  foreach(module core imgproc imgcodecs)
    if(NOT EXISTS "${VISIONRT_OPENCV_INCLUDE_DIR}/opencv2/${module}.hpp")
      set(${why} "no header for OpenCV's ${module} module (opencv2/${module}.hpp)" PARENT_SCOPE)
      return()
    endif()
    find_library(VISIONRT_OPENCV_${module}_LIBRARY opencv_${module})
    if(NOT VISIONRT_OPENCV_${module}_LIBRARY)
      set(${why} "no library for OpenCV's ${module} module (libopencv_${module}.so)" PARENT_SCOPE)
      return()
    endif()
    list(APPEND libraries "${VISIONRT_OPENCV_${module}_LIBRARY}")
  endforeach()
  # JPEG is decoded with libjpeg itself (src/io/jpeg_decode.cpp), whose
  # warnings OpenCV's reader would print.
  find_path(VISIONRT_JPEG_INCLUDE_DIR jpeglib.h)
  find_library(VISIONRT_JPEG_LIBRARY jpeg)
  if(NOT VISIONRT_JPEG_INCLUDE_DIR OR NOT VISIONRT_JPEG_LIBRARY)
    set(${why} "no libjpeg headers (jpeglib.h) or library (libjpeg.so)" PARENT_SCOPE)
    return()
  endif()
  list(APPEND libraries "${VISIONRT_JPEG_LIBRARY}")
  add_library(visionrt::opencv INTERFACE IMPORTED GLOBAL)
  set_target_properties(visionrt::opencv PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${VISIONRT_OPENCV_INCLUDE_DIR};${VISIONRT_JPEG_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${libraries}")
  message(STATUS "visionrt: OpenCV ${major} in ${VISIONRT_OPENCV_INCLUDE_DIR}")
  set(${found} TRUE PARENT_SCOPE)
endfunction()

# Sets found to TRUE and defines visionrt::onednn when oneDNN 2 or newer is
# installed; otherwise sets why.
function(_visionrt_find_onednn found why)
  set(${found} FALSE PARENT_SCOPE)
  find_path(VISIONRT_ONEDNN_INCLUDE_DIR oneapi/dnnl/dnnl_version.h)
  find_library(VISIONRT_ONEDNN_LIBRARY dnnl)
  if(NOT VISIONRT_ONEDNN_INCLUDE_DIR OR NOT VISIONRT_ONEDNN_LIBRARY)
    set(${why} "no oneDNN headers (oneapi/dnnl/dnnl_version.h) or library (libdnnl.so)" PARENT_SCOPE)
    return()
  endif()
  _visionrt_header_number("${VISIONRT_ONEDNN_INCLUDE_DIR}/oneapi/dnnl/dnnl_version.h" DNNL_VERSION_MAJOR major)
  if(NOT major OR major LESS 2)
    set(${why} "oneDNN at ${VISIONRT_ONEDNN_INCLUDE_DIR} is not version 2 or newer" PARENT_SCOPE)
    return()
  endif()
  add_library(visionrt::onednn INTERFACE IMPORTED GLOBAL)
  set_target_properties(visionrt::onednn PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${VISIONRT_ONEDNN_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${VISIONRT_ONEDNN_LIBRARY}")
  message(STATUS "visionrt: oneDNN ${major} in ${VISIONRT_ONEDNN_LIBRARY}")
  set(${found} TRUE PARENT_SCOPE)
endfunction()

function(visionrt_optional part result)
  set(mode "${VISIONRT_WITH_${part}}")
  set(found FALSE)
  set(hint "")
  if(mode STREQUAL "OFF")
    set(hint "VISIONRT_WITH_${part}=OFF")
  else()
    if(part STREQUAL "OPENCV")
      _visionrt_find_opencv(found why)
    elseif(part STREQUAL "ONEDNN")
      _visionrt_find_onednn(found why)
    else()
      message(FATAL_ERROR "visionrt_optional: unknown part ${part}")
    endif()
    if(NOT found)
      set(hint "${why}; install ${VISIONRT_${part}_PACKAGES} (Debian), or put another install on CMAKE_PREFIX_PATH")
      if(mode STREQUAL "ON")
        message(FATAL_ERROR "VISIONRT_WITH_${part}=ON but ${part} was not found: ${hint}")
      endif()
    endif()
  endif()
  set(${result} ${found} PARENT_SCOPE)
  set(VISIONRT_${part}_HINT "${hint}" PARENT_SCOPE)
endfunction()
