// PNG checks made before libpng (through OpenCV) reads a file: libpng
// reports what it refuses, and many things it merely dislikes, on stderr,
// and the library never prints.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/byte_reader.hpp"

namespace visionrt::io {

// libpng's default limit on either side (PNG_USER_WIDTH_MAX).
constexpr uint64_t kMaxPngSide = 1'000'000;

// "" when libpng will read the file's pixels quietly, else what is wrong
// with it: an IHDR libpng refuses (a side over kMaxPngSide, a bit depth the
// colour type does not allow, unknown methods), a palette image without a
// valid palette, a chunk whose CRC does not match, a row filter type over 4,
// or compressed data that is corrupt or inflates to a size other than the
// one IHDR implies. Needs zlib; without it only the header is checked.
std::string png_data_problem(ByteReader r);

// The file rebuilt from the chunks that decide its pixels (IHDR, PLTE of a
// palette image, IDAT, IEND), or an empty vector when it holds no other.
// The RGB pixels are unchanged: ancillary chunks (colour profiles, gamma,
// text, transparency) are not applied by OpenCV, or only to alpha, which
// the conversion to RGB drops, while libpng warns on stderr about bad ones
// ("iCCP: known incorrect sRGB profile"). The file must have passed
// png_data_problem.
std::vector<uint8_t> png_pixel_chunks(ByteReader r);

}  // namespace visionrt::io
