#include "io/png_check.hpp"

#include <algorithm>
#include <new>
#include <string>
#include <utility>

#if VISIONRT_HAVE_ZLIB
#include <zlib.h>
#endif

namespace visionrt::io {

// The size of IDAT's inflated stream is checked here, as libpng reports a
// short or long one on stderr before OpenCV gives up.
std::string png_data_problem(ByteReader r) {
  r.set_big_endian(true);
  const uint64_t width = r.uint(16, 4), height = r.uint(20, 4);
  const uint64_t depth = r.uint(24, 1), colour = r.uint(25, 1), interlace = r.uint(28, 1);
  const uint64_t channels = colour == 0 ? 1 : colour == 2 ? 3 : colour == 3 ? 1 : colour == 4 ? 2 : colour == 6 ? 4 : 0;
  // The depths each colour type allows: grey 1..16, palette 1..8, else 8 or 16.
  const bool depth_ok = (depth == 8 || depth == 16 || ((colour == 0 || colour == 3) && (depth == 1 || depth == 2 || depth == 4))) &&
                        !(colour == 3 && depth == 16);
  if (!r.ok() || channels == 0 || !depth_ok || interlace > 1 || r.uint(26, 1) != 0 || r.uint(27, 1) != 0)
    return "an IHDR chunk with an invalid bit depth, colour type, or compression, filter or interlace method";
  if (width == 0 || height == 0) return "an IHDR chunk with a side of 0 pixels";
  if (width > kMaxPngSide || height > kMaxPngSide)
    return "a side over " + std::to_string(kMaxPngSide) + " pixels, libpng's limit";
#if VISIONRT_HAVE_ZLIB
  // Each (Adam7) pass as its rows and the bytes of one, filter byte included.
  std::vector<std::pair<uint64_t, uint64_t>> passes;
  if (interlace == 0) {
    passes.emplace_back(height, 1 + (width * channels * depth + 7) / 8);
  } else {
    static const int kX0[7] = {0, 4, 0, 2, 0, 1, 0}, kY0[7] = {0, 0, 4, 0, 2, 0, 1};
    static const int kDx[7] = {8, 8, 4, 4, 2, 2, 1}, kDy[7] = {8, 8, 8, 4, 4, 2, 2};
    for (int p = 0; p < 7; ++p) {
      const uint64_t w = (width + kDx[p] - 1 - kX0[p]) / kDx[p], h = (height + kDy[p] - 1 - kY0[p]) / kDy[p];
      if (w > 0 && h > 0) passes.emplace_back(h, 1 + (w * channels * depth + 7) / 8);
    }
  }
  uint64_t expected = 0;
  for (const auto& [rows, row_bytes] : passes) expected += rows * row_bytes;
  // Where the next row's filter type byte lies in the inflated stream.
  size_t pass = 0;
  uint64_t row = 0, filter_at = 0;
  bool bad_filter = false;
  bool have_palette = false, palette_ok = true;
  // Ends the stream on every way out, an exception from the scratch buffer's
  // allocation included.
  struct Inflater {
    z_stream z{};
    ~Inflater() { inflateEnd(&z); }
  } inflater;
  z_stream& z = inflater.z;
  const int init = inflateInit(&z);
  if (init == Z_MEM_ERROR) throw std::bad_alloc();
  if (init != Z_OK) return "zlib could not start";
  std::vector<unsigned char> scratch(1 << 16);
  uint64_t produced = 0;
  int status = Z_OK;
  bool ended = false, extra = false, saw_data = false;
  for (size_t pos = 8; r.has(pos, 12);) {
    const uint64_t length = r.uint(pos, 4);
    const bool is_end = r.matches(pos + 4, "IEND", 4);
    if (!r.has(pos + 8, length + 4)) return "a chunk running past the end of the file";
    if (crc32(0L, r.at(pos + 4), static_cast<uInt>(length + 4)) != r.uint(pos + 8 + length, 4))
      return "a chunk whose CRC does not match its data";
    if (r.matches(pos + 4, "PLTE", 4) && !saw_data) {
      have_palette = true;
      palette_ok = length % 3 == 0 && length >= 3 && length / 3 <= (uint64_t{1} << std::min<uint64_t>(depth, 8));
    }
    saw_data = saw_data || r.matches(pos + 4, "IDAT", 4);
    if (r.matches(pos + 4, "IDAT", 4) && length > 0) {
      if (ended) extra = true;
      z.next_in = const_cast<Bytef*>(r.at(pos + 8));
      z.avail_in = static_cast<uInt>(length);
      while (!ended && z.avail_in > 0 && status == Z_OK) {
        z.next_out = scratch.data();
        z.avail_out = static_cast<uInt>(scratch.size());
        status = inflate(&z, Z_NO_FLUSH);
        const uint64_t got = scratch.size() - z.avail_out;
        // The row's length is read before the pass may end: past the last
        // pass there is no passes[pass] to read.
        while (pass < passes.size() && filter_at < produced + got) {
          bad_filter = bad_filter || scratch[filter_at - produced] > 4;
          filter_at += passes[pass].second;
          if (++row == passes[pass].first) row = 0, ++pass;
        }
        produced += got;
        if (status == Z_STREAM_END) ended = true;
        else if (status == Z_BUF_ERROR && z.avail_in > 0) status = Z_OK;  // output space was short
      }
      if (ended && z.avail_in > 0) extra = true;
      if (status != Z_OK && status != Z_STREAM_END) break;
    }
    if (is_end) break;
    pos += 12 + length;
  }
  if (colour == 3 && (!have_palette || !palette_ok))
    return "a palette image without a valid PLTE chunk before its data";
  if (status != Z_OK && status != Z_STREAM_END) return "corrupt compressed image data";
  if (!ended || produced < expected) return "compressed image data that ends early";
  if (extra || produced > expected) return "more compressed image data than the image holds";
  if (bad_filter) return "a row filter type other than 0 to 4";
#endif
  return "";
}

std::vector<uint8_t> png_pixel_chunks(ByteReader r) {
  r.set_big_endian(true);
  const bool palette = r.uint(25, 1) == 3;
  auto kept = [&](size_t pos) {
    return r.matches(pos + 4, "IHDR", 4) || r.matches(pos + 4, "IDAT", 4) || r.matches(pos + 4, "IEND", 4) ||
           (palette && r.matches(pos + 4, "PLTE", 4));
  };
  // Chunks up to IEND; bytes after it are not read by libpng either.
  auto for_each_chunk = [&](auto&& visit) {
    for (size_t pos = 8; r.has(pos, 12); pos += 12 + r.uint(pos, 4)) {
      visit(pos);
      if (r.matches(pos + 4, "IEND", 4)) break;
    }
  };
  bool all_kept = true;
  for_each_chunk([&](size_t pos) { all_kept = all_kept && kept(pos); });
  if (all_kept) return {};
  std::vector<uint8_t> out(r.at(0), r.at(8));
  for_each_chunk([&](size_t pos) {
    if (kept(pos)) out.insert(out.end(), r.at(pos), r.at(pos) + 12 + r.uint(pos, 4));
  });
  return out;
}

}  // namespace visionrt::io
