#include "io/tiff_strips.hpp"

#include <new>
#include <vector>

#if VISIONRT_HAVE_ZLIB
#include <zlib.h>
#endif

namespace visionrt::io {
namespace {

// PackBits: a count byte n, then n + 1 literal bytes (n >= 0) or one byte
// repeated 1 - n times (n < 0; -128 is a no-op).
bool packbits_complete(const uint8_t* data, size_t size, uint64_t expected) {
  uint64_t produced = 0;
  for (size_t i = 0; i < size && produced < expected;) {
    const int n = static_cast<int8_t>(data[i++]);
    if (n >= 0) {
      if (size - i < static_cast<size_t>(n) + 1) return false;
      produced += n + 1;
      i += n + 1;
    } else if (n != -128) {
      if (i >= size) return false;
      produced += 1 - n;
      ++i;
    }
  }
  return produced >= expected;
}

// TIFF's LZW: MSB-first codes of 9 to 12 bits, 256 clears the table, 257
// ends the data; the width grows one code early. Only the lengths of the
// table's strings are followed, which is all the output size needs.
bool lzw_complete(const uint8_t* data, size_t size, uint64_t expected) {
  // libtiff reads the old, LSB-first variant too; it starts 00 01.
  if (size >= 2 && data[0] == 0 && (data[1] & 1)) return true;
  std::vector<uint32_t> length(4096, 1);
  uint32_t next = 258, width = 9;
  int64_t previous = -1;
  uint64_t produced = 0, bits = 0;
  int held = 0;
  size_t i = 0;
  for (;;) {
    while (held < static_cast<int>(width) && i < size) bits = (bits << 8) | data[i++], held += 8;
    if (held < static_cast<int>(width)) return produced >= expected;  // no end-of-information code
    const uint32_t code = static_cast<uint32_t>(bits >> (held - width)) & ((1u << width) - 1);
    held -= width;
    if (code == 257) return produced >= expected;
    if (code == 256) {
      next = 258, width = 9, previous = -1;
      continue;
    }
    if (code > next || (code == next && previous < 0)) return false;  // a code not yet defined: corrupt
    const uint32_t added = code == next ? length[previous] + 1 : length[code];
    if (previous >= 0 && next < 4096) length[next++] = length[previous] + 1;
    produced += added;
    previous = code;
    if (next + 1 >= (1u << width) && width < 12) ++width;
  }
}

#if VISIONRT_HAVE_ZLIB
bool deflate_complete(const uint8_t* data, size_t size, uint64_t expected) {
  struct Inflater {
    z_stream z{};
    ~Inflater() { inflateEnd(&z); }
  } inflater;
  z_stream& z = inflater.z;
  const int init = inflateInit(&z);
  if (init == Z_MEM_ERROR) throw std::bad_alloc();
  if (init != Z_OK) return true;  // leave it to libtiff
  std::vector<unsigned char> scratch(1 << 16);
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  uint64_t produced = 0;
  int status = Z_OK;
  while (status == Z_OK && produced < expected) {
    z.next_out = scratch.data();
    z.avail_out = static_cast<uInt>(scratch.size());
    status = inflate(&z, Z_NO_FLUSH);
    produced += scratch.size() - z.avail_out;
    if (status == Z_BUF_ERROR && z.avail_in > 0) status = Z_OK;
  }
  return produced >= expected;
}
#endif

}  // namespace

bool tiff_block_complete(const uint8_t* data, size_t size, uint64_t compression, uint64_t expected) {
  switch (compression) {
    case 5: return lzw_complete(data, size, expected);
    case 32773: return packbits_complete(data, size, expected);
#if VISIONRT_HAVE_ZLIB
    case 8:
    case 32946: return deflate_complete(data, size, expected);
#endif
    default: return true;
  }
}

}  // namespace visionrt::io
