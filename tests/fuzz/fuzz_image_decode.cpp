// io::decode_image on arbitrary bytes: the format sniffing and header
// checks, the PNG chunk and zlib pre-checks, OpenCV's decoders and the
// conversion to oriented RGB. visionrt::Error is the expected refusal; any
// other exception escapes and libFuzzer reports it.
#include <cstddef>
#include <cstdint>

#include "io/image.hpp"
#include "visionrt/status.hpp"

namespace {

// Small enough that time goes to parsing, not to decoding large images;
// the limit itself is checked the same way at any value.
constexpr int64_t kMaxFuzzPixels = 1 << 16;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const visionrt::Image image = visionrt::io::decode_image(data, size, "fuzz-image", kMaxFuzzPixels);
    if (image.width < 1 || image.height < 1 ||
        image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
      __builtin_trap();
  } catch (const visionrt::Error&) {
  }
  return 0;
}
