// Library-wide queries of the public API.
#include "backends/registry.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt {

const char* version() noexcept { return VISIONRT_VERSION_STRING; }

bool has_image_io() noexcept {
#if VISIONRT_HAVE_OPENCV
  return true;
#else
  return false;
#endif
}

bool cuda_available() noexcept { return cuda_backend_usable(); }

}  // namespace visionrt
