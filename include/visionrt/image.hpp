// A decoded image, the one image type of visionrt: the public API takes
// and returns it, the front end decodes into it and preprocesses from it.
#pragma once
#include <cstdint>
#include <vector>

namespace visionrt {

// 8-bit RGB, rows of width * 3 bytes, no padding, EXIF orientation applied.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

}  // namespace visionrt
