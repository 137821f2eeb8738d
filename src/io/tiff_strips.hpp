// Checks of compressed TIFF strips and tiles made before libtiff (through
// OpenCV) decodes them: a strip that ends early makes libtiff fail, and
// OpenCV print a warning and the failure on stderr.
#pragma once
#include <cstddef>
#include <cstdint>

namespace visionrt::io {

// Whether `size` bytes of a strip or tile compressed with TIFF compression
// `compression` decode to at least `expected` bytes (and, for LZW, end
// with the end-of-information code), as libtiff needs. True for
// compressions not checked here: none (1), whose short strips libtiff
// reads quietly, and those other than PackBits (32773), LZW (5) and
// Deflate (8, 32946; checked only where zlib is built in).
bool tiff_block_complete(const uint8_t* data, size_t size, uint64_t compression, uint64_t expected);

}  // namespace visionrt::io
