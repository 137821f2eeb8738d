// What the C API's translation units share: the handles, the per-thread last
// error, and the wrappers that turn exceptions into status codes so that
// none crosses the C boundary.
#pragma once
#include <new>
#include <string>

#include "visionrt/visionrt.h"
#include "visionrt/visionrt.hpp"

struct vrt_classifier {
  visionrt::Classifier classifier;
};

struct vrt_embedder {
  visionrt::Embedder embedder;
};

struct vrt_detector {
  visionrt::Detector detector;
};

namespace visionrt::capi {

inline thread_local std::string g_last_error;

// Runs fn; returns its status, the message of a failure in *message.
template <typename Fn>
vrt_status catch_status(Fn&& fn, std::string* message) {
  try {
    fn();
    return VRT_OK;
  } catch (const Error& e) {
    *message = e.what();
    return static_cast<vrt_status>(e.code());
  } catch (const std::bad_alloc&) {
    *message = "out of memory";
    return VRT_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    *message = e.what();
    return VRT_INTERNAL;
  } catch (...) {
    *message = "unknown error";
    return VRT_INTERNAL;
  }
}

// Runs fn as one C call: its failure becomes the thread's last error.
template <typename Fn>
vrt_status guarded(Fn&& fn) {
  std::string message;
  const vrt_status s = catch_status(fn, &message);
  g_last_error = std::move(message);
  return s;
}

inline vrt_status invalid(const char* what) {
  g_last_error = what;
  return VRT_INVALID_ARGUMENT;
}

// The C++ options for a vrt_options (NULL: the defaults); throws
// invalid_argument for values outside their enums or an unfilled struct.
Options to_options(const vrt_options* options);

}  // namespace visionrt::capi
