// The image decoder (the only piece built on OpenCV; absent when visionrt is
// built without it). Decodes files or bytes into 8-bit RGB.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/preprocess.hpp"

namespace visionrt::io {

// Checks the format from its magic bytes (JPEG, PNG, BMP, WebP, TIFF) and
// the pixel count from the header (<= max_pixels) before decoding; applies
// EXIF orientation; converts grey, alpha and 16-bit images to 8-bit RGB.
// `name` is used in error messages (the file path, or "<memory>").
// Throws invalid_argument (empty data, not an image, too many pixels),
// corrupt_file (decoder failure) or unsupported (built without OpenCV).
Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                       int64_t max_pixels);
// load_image reads regular files only (a FIFO or device is refused with
// io_error before it is opened, so it cannot block), after checking the size:
// a file over kMaxImageFileBytes is refused (invalid_argument) unread.
constexpr uint64_t kMaxImageFileBytes = uint64_t{1} << 30;  // 1 GiB
Image load_image(const std::string& path, int64_t max_pixels);

// A labelled box to draw: corners in pixels, a caption, a colour index.
struct DrawBox {
  float x0, y0, x1, y1;
  std::string caption;
  int colour;
};

// Writes `image` with the boxes and captions drawn on it to `path`; the
// format follows the extension (.png, .jpg, ...). Throws io_error naming the
// path when it cannot be written, unsupported without OpenCV.
void write_annotated(const Image& image, const std::vector<DrawBox>& boxes, const std::string& path);

}  // namespace visionrt::io
