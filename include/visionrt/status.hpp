// Error type shared by every public and internal piece of visionrt.
// The library reports failures by throwing visionrt::Error from the C++ API;
// the C API turns them into status codes. It never exits or prints.
#pragma once
#include <stdexcept>
#include <string>

#include "visionrt/export.hpp"

namespace visionrt {

enum class StatusCode : int {
  ok = 0,
  invalid_argument = 1,   // caller passed something unusable
  not_found = 2,          // file, folder or tensor missing
  io_error = 3,           // could not read or write
  corrupt_file = 4,       // file present but malformed
  unsupported = 5,        // valid, but not something visionrt handles
  shape_mismatch = 6,     // a tensor or input of the wrong shape
  out_of_memory = 7,      // host or device allocation failed
  device_error = 8,       // CUDA missing, or a CUDA call failed
  internal = 9,           // a bug in visionrt
};

VISIONRT_API const char* status_name(StatusCode code) noexcept;

class VISIONRT_API Error : public std::runtime_error {
 public:
  Error(StatusCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  StatusCode code() const noexcept { return code_; }

 private:
  StatusCode code_;
};

}  // namespace visionrt
