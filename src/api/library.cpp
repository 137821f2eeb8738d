// Library-wide queries of the public API.
#include "api/api_call.hpp"
#include "api/registry.hpp"
#include "core/thread_pool.hpp"
#include "io/image.hpp"
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

int hardware_threads() noexcept { return ThreadPool::all_cores(); }

bool has_cuda_backend() noexcept {
#if VISIONRT_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_available() noexcept { return cuda_backend_usable(); }

Image load_image(const std::string& path) {
  return api_call("decoding an image", [&] { return io::load_image(path, kMaxImagePixels); });
}

Image decode_image(const uint8_t* data, size_t size) {
  return api_call("decoding an image",
                  [&] { return io::decode_image(data, size, "<memory>", kMaxImagePixels); });
}

}  // namespace visionrt
