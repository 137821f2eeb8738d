#include "core/error.hpp"

namespace visionrt {

const char* status_name(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::ok: return "ok";
    case StatusCode::invalid_argument: return "invalid argument";
    case StatusCode::not_found: return "not found";
    case StatusCode::io_error: return "I/O error";
    case StatusCode::corrupt_file: return "corrupt file";
    case StatusCode::unsupported: return "unsupported";
    case StatusCode::shape_mismatch: return "shape mismatch";
    case StatusCode::out_of_memory: return "out of memory";
    case StatusCode::device_error: return "device error";
    case StatusCode::internal: return "internal error";
  }
  return "unknown";
}

}  // namespace visionrt
