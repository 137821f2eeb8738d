// JPEG decoding with libjpeg itself rather than through OpenCV: libjpeg
// reports a damaged but decodable stream ("Corrupt JPEG data: 38 extraneous
// bytes before marker 0xd9") through a message hook that OpenCV leaves
// printing to stderr, and the library never prints. Here that hook is
// silent, as in PIL, and the pixels are PIL's.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/preprocess.hpp"

namespace visionrt::io {

// Decodes a JPEG into 8-bit RGB as PIL's Image.open(...).convert("RGB")
// does (no EXIF orientation: the caller applies it). Grey is replicated;
// CMYK and YCCK are read as Adobe's inverted CMYK and converted with PIL's
// formula. `header_width` and `header_height` are the frame size the caller read from the
// header and checked against its limit; a frame libjpeg reads otherwise is
// refused before anything is allocated for it. Throws corrupt_file when
// libjpeg fails, the sizes disagree or the data ends before the image does
// (PIL's "image file is truncated"), unsupported for what libjpeg cannot
// give as 8-bit samples, out_of_memory when the pixels cannot be allocated.
//
// A progressive JPEG may repeat scans without limit, each one a pass over
// the whole frame: 30,000 tiny scans over an 8000x8000 frame cost a minute.
// Real files have at most ~20 scans (libjpeg's default progression has 10),
// so more than kMaxJpegScans is refused, as libjpeg-turbo's tools do with
// -maxscans. The scans' total work, counted in 8x8 blocks decoded, is
// capped at kMaxJpegBlocks: about 6 times what libjpeg's default
// progression decodes for a 100-megapixel image. Both throw
// invalid_argument naming the limit.
constexpr int kMaxJpegScans = 1000;
constexpr int64_t kMaxJpegBlocks = int64_t{1} << 27;

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name, int64_t header_width,
                      int64_t header_height);

}  // namespace visionrt::io
