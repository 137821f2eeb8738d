// Image decoding into 8-bit RGB, giving the pixels transformers' load_image
// gives (PIL.Image.open, ImageOps.exif_transpose, convert("RGB")).
//
// The header is checked here before a decoder sees the data: the format from
// its magic bytes and the pixel count from the header, so that an image
// claiming an enormous size is refused without allocating anything. JPEG is
// then decoded by libjpeg itself (io/jpeg_decode.cpp, silent where OpenCV's
// reader prints libjpeg's warnings); the other formats by OpenCV with
// IMREAD_UNCHANGED, which keeps 16-bit samples and alpha and ignores EXIF
// orientation. Orientation and the conversion to RGB are done here, the way
// PIL does them:
//  * EXIF orientation 2..8 is applied as exif_transpose does, from the EXIF
//    block of JPEG (APP1), PNG (eXIf), WebP (EXIF) or the TIFF's own first IFD.
//    (PIL also reads XMP orientation and ImageMagick text-chunk EXIF; those
//    rare sources are not read here.)
//  * grey is replicated to three channels; alpha is dropped, not blended,
//    as convert("RGB") does.
//  * 16-bit grey opens in PIL as mode I;16, whose conversion to RGB clips
//    values to 0..255 (so most 16-bit grey images come out nearly white);
//    16-bit colour or grey+alpha images are read by PIL as 8-bit, keeping
//    the high byte. Both are reproduced so that model inputs match.
#include "io/image.hpp"

#include "core/error.hpp"

#if VISIONRT_HAVE_OPENCV

#include "io/byte_reader.hpp"
#include "io/jpeg_decode.hpp"
#include "io/png_check.hpp"
#include "io/tiff_strips.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

namespace visionrt::io {
namespace {

enum class Format { jpeg, png, bmp, webp, tiff };

struct HeaderInfo {
  int64_t width = 0, height = 0;
  int orientation = 1;  // EXIF orientation, 1 = as stored
  // TIFF only: header values to overwrite before decoding (see decode_image).
  std::vector<std::pair<size_t, uint16_t>> tiff_patches;
  bool tiff_big_endian = false;
};

bool sniff(const uint8_t* d, size_t n, Format* format) {
  ByteReader r(d, n);
  if (r.matches(0, "\xFF\xD8\xFF", 3)) *format = Format::jpeg;
  else if (r.matches(0, "\x89PNG\r\n\x1A\n", 8)) *format = Format::png;
  else if (r.matches(0, "BM", 2)) *format = Format::bmp;
  else if (r.matches(0, "RIFF", 4) && r.matches(8, "WEBP", 4)) *format = Format::webp;
  else if (r.matches(0, "II*\0", 4) || r.matches(0, "MM\0*", 4) || r.matches(0, "II+\0", 4) ||
           r.matches(0, "MM\0+", 4))
    *format = Format::tiff;
  else return false;
  return true;
}

// What the first IFD of a TIFF structure (a TIFF file, or an EXIF block) says.
struct TiffIfd {
  int64_t width = 0, height = 0;  // ImageWidth (256), ImageLength (257)
  int orientation = 1;            // Orientation (274)
  size_t orientation_at = 0;      // where a SHORT orientation value sits, 0 if none
  size_t alpha_at = 0;            // where a single ExtraSamples value of 2 sits, 0 if none
  bool big_endian = false;
  uint64_t data_end = 0;          // end of the last strip or tile, 0 if not given
  // What OpenCV's reader checks before decoding (-1: tag absent).
  int64_t photometric = -1;       // PhotometricInterpretation (262)
  int64_t bits_per_sample = -1;   // BitsPerSample (258), its first value
  int64_t samples_per_pixel = -1; // SamplesPerPixel (277)
  int64_t sample_format = -1;     // SampleFormat (339), its first value
  int64_t rows_per_strip = -1;    // RowsPerStrip (278)
  int64_t tile_width = -1, tile_length = -1;  // TileWidth (322), TileLength (323)
  int64_t compression = 1;        // Compression (259)
  int64_t planar = 1;             // PlanarConfiguration (284)
  // Strip or tile offsets and byte counts: element size, count, position.
  struct Array {
    int bytes = 0;
    uint64_t count = 0;
    size_t at = 0;
  } offsets, byte_counts;
};

// Classic TIFF and BigTIFF. Returns false when the structure is malformed.
bool read_tiff_ifd0(ByteReader r, TiffIfd* out) {
  if (r.matches(0, "II", 2)) r.set_big_endian(false);
  else if (r.matches(0, "MM", 2)) r.set_big_endian(true);
  else return false;
  out->big_endian = r.matches(0, "MM", 2);
  const uint64_t version = r.uint(2, 2);
  const bool big_tiff = version == 43;
  if (version != 42 && !(big_tiff && r.uint(4, 2) == 8)) return false;
  const uint64_t ifd = big_tiff ? r.uint(8, 8) : r.uint(4, 4);
  const uint64_t count = big_tiff ? r.uint(ifd, 8) : r.uint(ifd, 2);
  const size_t entry_size = big_tiff ? 20 : 12, inline_size = big_tiff ? 8 : 4;
  const size_t first_entry = ifd + (big_tiff ? 8 : 2);
  if (!r.ok() || count > 65535 || !r.has(first_entry, count * entry_size)) return false;

  TiffIfd::Array& offsets = out->offsets;
  TiffIfd::Array& byte_counts = out->byte_counts;
  for (uint64_t i = 0; i < count; ++i) {
    const size_t e = first_entry + i * entry_size;
    const uint64_t tag = r.uint(e, 2), type = r.uint(e + 2, 2);
    const uint64_t n = big_tiff ? r.uint(e + 4, 8) : r.uint(e + 4, 4);
    const size_t value = e + (big_tiff ? 12 : 8);
    // SHORT, LONG and LONG8 values sit left-justified in the value field.
    const int bytes = type == 3 ? 2 : type == 4 ? 4 : (type == 16 && big_tiff) ? 8 : 0;
    if (bytes == 0 || n == 0) continue;
    if (tag == 273 || tag == 279 || tag == 324 || tag == 325) {
      if (n > r.size()) return false;  // more entries than bytes: malformed
      TiffIfd::Array& a = (tag == 273 || tag == 324) ? offsets : byte_counts;
      a.bytes = bytes;
      a.count = n;
      // Arrays too long for the value field are stored at the offset it holds.
      a.at = n * bytes <= inline_size ? value : r.uint(value, static_cast<int>(inline_size));
      if (!r.has(a.at, n * bytes)) return false;
      continue;
    }
    const uint64_t v = r.uint(value, bytes);
    if (tag == 258 || tag == 339) {
      // Per-sample arrays too long for the value field sit at its offset.
      const size_t at = n * bytes <= inline_size ? value : r.uint(value, static_cast<int>(inline_size));
      (tag == 258 ? out->bits_per_sample : out->sample_format) = static_cast<int64_t>(r.uint(at, bytes));
    }
    if (tag == 262) out->photometric = static_cast<int64_t>(v);
    if (tag == 259) out->compression = static_cast<int64_t>(v);
    if (tag == 284) out->planar = static_cast<int64_t>(v);
    if (tag == 278) out->rows_per_strip = static_cast<int64_t>(v);
    if (tag == 322) out->tile_width = static_cast<int64_t>(v);
    if (tag == 323) out->tile_length = static_cast<int64_t>(v);
    if (tag == 277) out->samples_per_pixel = static_cast<int64_t>(v);
    if (tag == 256) out->width = static_cast<int64_t>(std::min<uint64_t>(v, INT32_MAX));
    if (tag == 257) out->height = static_cast<int64_t>(std::min<uint64_t>(v, INT32_MAX));
    if (tag == 274 && v >= 1 && v <= 8) {
      out->orientation = static_cast<int>(v);
      out->orientation_at = bytes == 2 ? value : 0;
    }
    if (tag == 338 && bytes == 2 && n == 1 && v == 2) out->alpha_at = value;  // unassociated alpha
  }
  if (offsets.count > 0 && offsets.count == byte_counts.count) {
    for (uint64_t i = 0; i < offsets.count; ++i) {
      const uint64_t begin = r.uint(offsets.at + i * offsets.bytes, offsets.bytes);
      const uint64_t length = r.uint(byte_counts.at + i * byte_counts.bytes, byte_counts.bytes);
      out->data_end = std::max(out->data_end, begin + std::min<uint64_t>(length, UINT32_MAX));
    }
  }
  return r.ok();
}

// Orientation from an EXIF block; a malformed block counts as none, as the
// pixel data can still be decoded.
int exif_orientation(ByteReader exif) {
  if (exif.matches(0, "Exif\0\0", 6)) exif = exif.slice(6, exif.size() - 6);
  TiffIfd ifd;
  if (!read_tiff_ifd0(exif, &ifd)) return 1;
  return ifd.orientation;
}

bool parse_png(ByteReader r, HeaderInfo* info) {
  r.set_big_endian(true);
  if (!r.matches(12, "IHDR", 4)) return false;
  info->width = static_cast<int64_t>(r.uint(16, 4));
  info->height = static_cast<int64_t>(r.uint(20, 4));
  // Walk every chunk: the eXIf chunk may come before or after the image
  // data, and a chunk running past the end means the file is truncated
  // (caught here, before libpng would report it on stderr).
  size_t pos = 8;
  while (r.has(pos, 8) && !r.matches(pos + 4, "IEND", 4)) {
    const uint64_t length = r.uint(pos, 4);
    if (!r.has(pos + 8, length + 4)) return false;
    if (r.matches(pos + 4, "eXIf", 4)) info->orientation = exif_orientation(r.slice(pos + 8, length));
    pos += 12 + length;
  }
  return r.ok() && (pos == r.size() || r.has(pos, 12));
}


// Walks the marker segments up to the first scan; `scan_start` receives the
// offset of the start-of-scan marker.
bool parse_jpeg(ByteReader r, HeaderInfo* info, size_t* scan_start) {
  r.set_big_endian(true);
  bool have_size = false, have_exif = false;
  size_t pos = 2;
  while (r.has(pos, 2)) {
    // Stray bytes before a marker are skipped, as PIL and libjpeg do (libjpeg
    // warns "extraneous bytes before marker").
    while (r.has(pos, 1) && *r.at(pos) != 0xFF) ++pos;
    if (!r.has(pos, 2)) return false;
    while (r.has(pos + 1, 1) && *r.at(pos + 1) == 0xFF) ++pos;  // fill bytes
    if (!r.has(pos + 1, 1)) return false;
    const uint8_t marker = *r.at(pos + 1);
    pos += 2;
    if (marker == 0x00) continue;  // a stuffed 0xFF, not a marker: libjpeg skips it too
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no payload
    if (marker == 0xD9) return false;                                     // EOI before any scan
    if (marker == 0xDA) {
      *scan_start = pos - 2;
      return have_size && r.ok();
    }
    const uint64_t length = r.uint(pos, 2);
    if (length < 2 || !r.has(pos, length)) return false;
    const bool start_of_frame =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (start_of_frame && !have_size) {
      info->height = static_cast<int64_t>(r.uint(pos + 3, 2));
      info->width = static_cast<int64_t>(r.uint(pos + 5, 2));
      have_size = true;
    } else if (marker == 0xE1 && !have_exif && r.matches(pos + 2, "Exif\0\0", 6)) {
      info->orientation = exif_orientation(r.slice(pos + 2, length - 2));
      have_exif = true;  // PIL reads the first EXIF segment only
    }
    pos += length;
  }
  return false;
}

bool parse_bmp(ByteReader r, HeaderInfo* info) {
  const uint64_t pixels_at = r.uint(10, 4), dib_size = r.uint(14, 4);
  uint64_t bits_per_pixel = 0, compression = 0;
  if (dib_size == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit unsigned sizes
    info->width = static_cast<int64_t>(r.uint(18, 2));
    info->height = static_cast<int64_t>(r.uint(20, 2));
    bits_per_pixel = r.uint(24, 2);
  } else {
    // Negative height marks a top-down bitmap.
    info->width = static_cast<int32_t>(r.uint(18, 4));
    const int64_t height = static_cast<int32_t>(r.uint(22, 4));
    info->height = height < 0 ? -height : height;
    bits_per_pixel = r.uint(28, 2);
    compression = r.uint(30, 4);
  }
  if (!r.ok() || dib_size < 12 || info->width < 1) return false;
  // OpenCV's reader throws, and prints, when its header reads run past the
  // data: the palette after the info header (4-byte entries, 3-byte in the
  // OS/2 header) or, for 16-bit bit fields, three colour masks.
  if (dib_size > INT32_MAX) return false;
  const uint64_t after_header = 14 + dib_size;
  if (dib_size == 12) {
    if (bits_per_pixel <= 8 && !r.has(26, (uint64_t{1} << bits_per_pixel) * 3)) return false;
  } else if (dib_size >= 36) {
    if (!r.has(0, 50)) return false;
    if (bits_per_pixel <= 8) {
      const uint64_t colours_used = r.uint(46, 4);
      if (colours_used > 256) return false;
      const uint64_t entries = colours_used == 0 ? uint64_t{1} << bits_per_pixel : colours_used;
      if (!r.has(after_header, entries * 4)) return false;
    } else if (bits_per_pixel == 16 && compression == 3 && !r.has(after_header, 12)) {
      return false;
    }
  }
  // Uncompressed rows are padded to 4 bytes; they must all be present.
  const bool uncompressed = compression == 0 || compression == 3 || compression == 6;
  if (uncompressed && bits_per_pixel > 0 && bits_per_pixel <= 64) {
    const uint64_t row = (static_cast<uint64_t>(info->width) * bits_per_pixel + 31) / 32 * 4;
    const uint64_t rows = static_cast<uint64_t>(info->height);
    if (rows > 0 && (row > r.size() / rows || !r.has(pixels_at, row * rows))) return false;
  }
  return true;
}

bool parse_webp(ByteReader r, HeaderInfo* info) {
  // The RIFF size covers everything after the first 8 bytes.
  if (!r.has(8, r.uint(4, 4))) return false;
  if (r.matches(12, "VP8 ", 4)) {
    if (!r.matches(23, "\x9D\x01\x2A", 3)) return false;
    info->width = static_cast<int64_t>(r.uint(26, 2) & 0x3FFF);
    info->height = static_cast<int64_t>(r.uint(28, 2) & 0x3FFF);
  } else if (r.matches(12, "VP8L", 4)) {
    if (r.uint(20, 1) != 0x2F) return false;
    const uint64_t bits = r.uint(21, 4);
    info->width = static_cast<int64_t>(bits & 0x3FFF) + 1;
    info->height = static_cast<int64_t>((bits >> 14) & 0x3FFF) + 1;
  } else if (r.matches(12, "VP8X", 4)) {
    info->width = static_cast<int64_t>(r.uint(24, 3)) + 1;
    info->height = static_cast<int64_t>(r.uint(27, 3)) + 1;
    // Only the extended format carries metadata chunks.
    for (size_t pos = 12; r.has(pos, 8);) {
      const uint64_t length = r.uint(pos + 4, 4);
      if (r.matches(pos, "EXIF", 4)) {
        info->orientation = exif_orientation(r.slice(pos + 8, length));
        break;
      }
      pos += 8 + length + (length & 1);
    }
  } else {
    return false;
  }
  return r.ok();
}

// OpenCV's TIFF reader prints to stderr when its header checks throw; what
// it would refuse, or what visionrt cannot convert anyway (floating-point or
// signed samples), is refused here first. Absent tags take TIFF's defaults.
void check_tiff_layout(const TiffIfd& ifd, const std::string& name) {
  if (ifd.photometric < 0)
    fail(StatusCode::unsupported, name, ": TIFF without a PhotometricInterpretation tag is not supported");
  const int64_t samples = ifd.samples_per_pixel < 0 ? 1 : ifd.samples_per_pixel;
  if (samples < 1 || samples > 4)
    fail(StatusCode::unsupported, name, ": TIFF with ", samples, " samples per pixel is not supported");
  const int64_t bits = ifd.bits_per_sample < 0 ? 1 : ifd.bits_per_sample;
  const bool palette = ifd.photometric == 3;
  if (!(bits == 1 || bits == 8 || bits == 16 || (bits == 4 && palette)))
    fail(StatusCode::unsupported, name, ": TIFF with ", bits, " bits per sample is not supported");
  if (ifd.sample_format > 1)
    fail(StatusCode::unsupported, name, ": TIFF with signed or floating-point samples is not supported");
  // OpenCV allocates one strip or tile of RGBA at the size the tags give,
  // where libtiff would clamp a strip to the image: a 1-row image claiming
  // 16 million rows per strip would cost gigabytes. Tiles may exceed a small
  // image (256x256 tiles for a 10x10 image), not by orders of magnitude.
  const bool tiled = ifd.tile_width >= 0 || ifd.tile_length >= 0;
  int64_t block_width = tiled ? ifd.tile_width : ifd.width;
  int64_t block_rows = tiled ? ifd.tile_length : ifd.rows_per_strip;
  if (block_width <= 0) block_width = ifd.width;
  if (block_rows <= 0 || (!tiled && block_rows >= int64_t{UINT32_MAX})) block_rows = ifd.height;
  // In double: each size is below 2^32, their products below 2^64.
  const double block = static_cast<double>(block_width) * static_cast<double>(block_rows);
  if (block > 4.0 * static_cast<double>(ifd.width) * static_cast<double>(ifd.height) + 65536.0)
    fail(StatusCode::unsupported, name, ": TIFF ", tiled ? "tiles" : "strips", " of ", block_width, "x",
         block_rows, " pixels for a ", ifd.width, "x", ifd.height, " image are not supported");
}

// Compressed strips or tiles that decode to less than they hold make
// libtiff fail and OpenCV print; PIL refuses them too ("decoder error").
// Called after check_tiff_layout, so the sizes are bounded.
void check_tiff_blocks(ByteReader r, const TiffIfd& ifd, const std::string& name) {
  // Every size below divides by the height (a fuzzer found the zero).
  if (ifd.width <= 0 || ifd.height <= 0)
    fail(StatusCode::corrupt_file, name, ": cannot decode image (TIFF with a side of 0 pixels)");
  if (ifd.offsets.count == 0 || ifd.offsets.count != ifd.byte_counts.count) return;
  const bool tiled = ifd.tile_width > 0 && ifd.tile_length > 0;
  const uint64_t samples = ifd.samples_per_pixel < 1 ? 1 : static_cast<uint64_t>(ifd.samples_per_pixel);
  const uint64_t bits = ifd.bits_per_sample < 1 ? 1 : static_cast<uint64_t>(ifd.bits_per_sample);
  const uint64_t per_pixel = ifd.planar == 2 ? bits : bits * samples;
  const uint64_t width = static_cast<uint64_t>(tiled ? ifd.tile_width : ifd.width);
  const uint64_t row_bytes = (width * per_pixel + 7) / 8;
  const uint64_t rows_per_strip = ifd.rows_per_strip > 0 && ifd.rows_per_strip < ifd.height
                                      ? static_cast<uint64_t>(ifd.rows_per_strip)
                                      : static_cast<uint64_t>(ifd.height);
  const uint64_t strips_per_plane = (static_cast<uint64_t>(ifd.height) + rows_per_strip - 1) / rows_per_strip;
  r.set_big_endian(ifd.big_endian);
  for (uint64_t i = 0; i < ifd.offsets.count; ++i) {
    const uint64_t begin = r.uint(ifd.offsets.at + i * ifd.offsets.bytes, ifd.offsets.bytes);
    const uint64_t length = r.uint(ifd.byte_counts.at + i * ifd.byte_counts.bytes, ifd.byte_counts.bytes);
    uint64_t rows = tiled ? static_cast<uint64_t>(ifd.tile_length) : rows_per_strip;
    if (!tiled && i % strips_per_plane == strips_per_plane - 1)  // the last strip holds the rest
      rows = static_cast<uint64_t>(ifd.height) - (strips_per_plane - 1) * rows_per_strip;
    if (!r.has(begin, length)) return;  // refused as truncated elsewhere
    if (!tiff_block_complete(r.at(begin), length, static_cast<uint64_t>(ifd.compression), rows * row_bytes))
      fail(StatusCode::corrupt_file, name, ": cannot decode image (TIFF ", tiled ? "tile " : "strip ", i,
           " holds less compressed data than its ", rows * row_bytes, " bytes)");
  }
}

const char* format_name(Format f) {
  switch (f) {
    case Format::jpeg: return "JPEG";
    case Format::png: return "PNG";
    case Format::bmp: return "BMP";
    case Format::webp: return "WebP";
    case Format::tiff: return "TIFF";
  }
  return "image";
}

// Reads size and orientation from the header. JPEG data must also reach an
// end-of-image marker: libjpeg would otherwise pad a truncated file with grey
// where PIL refuses it.
HeaderInfo parse_header(const uint8_t* data, size_t size, Format format, const std::string& name) {
  ByteReader r(data, size);
  HeaderInfo info;
  size_t scan_start = 0;
  bool ok = false;
  switch (format) {
    case Format::png: ok = parse_png(r, &info); break;
    case Format::jpeg: ok = parse_jpeg(r, &info, &scan_start); break;
    case Format::bmp: ok = parse_bmp(r, &info); break;
    case Format::webp: ok = parse_webp(r, &info); break;
    case Format::tiff: {
      TiffIfd ifd;
      // Strips or tiles reaching past the end mean a truncated file.
      ok = read_tiff_ifd0(r, &ifd) && ifd.data_end <= size;
      if (ok) check_tiff_layout(ifd, name);
      if (ok) check_tiff_blocks(r, ifd, name);
      info.width = ifd.width;
      info.height = ifd.height;
      info.orientation = ifd.orientation;
      if (ifd.orientation != 1) {
        if (ifd.orientation_at == 0)
          fail(StatusCode::unsupported, name, ": TIFF orientation tag of an unexpected type");
        info.tiff_patches.emplace_back(ifd.orientation_at, 1);  // 1: as stored
      }
      if (ifd.alpha_at) info.tiff_patches.emplace_back(ifd.alpha_at, 0);  // 0: unspecified
      info.tiff_big_endian = ifd.big_endian;
      break;
    }
  }
  if (!ok || info.width < 1 || info.height < 1)
    fail(StatusCode::corrupt_file, name, ": malformed or truncated ", format_name(format),
         " file (cannot read its header, or its data ends early)");
  if (format == Format::jpeg) {
    static const uint8_t kEndOfImage[2] = {0xFF, 0xD9};
    const uint8_t* end = data + size;
    if (std::search(data + scan_start, end, kEndOfImage, kEndOfImage + 2) == end)
      fail(StatusCode::corrupt_file, name, ": cannot decode image (truncated JPEG data)");
  }
  return info;
}

// One 8-bit sample the way PIL converts it (see the file comment).
inline uint8_t sample8(const cv::Mat& m, int y, int x, int c) {
  const int channels = m.channels();
  if (m.depth() == CV_8U) return m.ptr<uint8_t>(y)[x * channels + c];
  const uint16_t v = m.ptr<uint16_t>(y)[x * channels + c];
  if (channels == 1) return static_cast<uint8_t>(std::min<uint16_t>(v, 255));
  return static_cast<uint8_t>(v >> 8);
}

Image to_rgb8(const cv::Mat& m, const std::string& name) {
  if (m.depth() != CV_8U && m.depth() != CV_16U)
    fail(StatusCode::unsupported, name, ": only 8- and 16-bit integer images are supported");
  const int channels = m.channels();
  if (channels < 1 || channels > 4)
    fail(StatusCode::unsupported, name, ": images with ", channels, " channels are not supported");
  Image out;
  out.width = m.cols;
  out.height = m.rows;
  out.rgb.resize(static_cast<size_t>(m.cols) * m.rows * 3);
  uint8_t* dst = out.rgb.data();
  for (int y = 0; y < m.rows; ++y) {
    for (int x = 0; x < m.cols; ++x, dst += 3) {
      if (channels <= 2) {  // grey, or grey + alpha
        dst[0] = dst[1] = dst[2] = sample8(m, y, x, 0);
      } else {  // OpenCV orders colour as BGR(A)
        dst[0] = sample8(m, y, x, 2);
        dst[1] = sample8(m, y, x, 1);
        dst[2] = sample8(m, y, x, 0);
      }
    }
  }
  return out;
}

// PIL's exif_transpose: 2 flip left-right, 3 rotate 180, 4 flip top-bottom,
// 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise.
Image apply_orientation(Image in, int orientation) {
  if (orientation == 1) return in;  // moved, not copied
  const int w = in.width, h = in.height;
  const bool swap = orientation >= 5;
  Image out;
  out.width = swap ? h : w;
  out.height = swap ? w : h;
  out.rgb.resize(in.rgb.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        case 8: sx = w - 1 - y; sy = x; break;
        default: break;
      }
      std::memcpy(&out.rgb[(static_cast<size_t>(y) * out.width + x) * 3],
                  &in.rgb[(static_cast<size_t>(sy) * w + sx) * 3], 3);
    }
  }
  return out;
}

// Runs cv::imdecode into `dst` (which may wrap memory of the caller's),
// turning OpenCV's exceptions into errors naming the image.
void opencv_decode(const uint8_t* data, size_t size, int flags, cv::Mat* dst, const std::string& name,
                   const HeaderInfo& info) {
  try {
    const cv::Mat encoded(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
    cv::imdecode(encoded, flags, dst);
  } catch (const cv::Exception& e) {
    fail(StatusCode::corrupt_file, name, ": cannot decode image (", e.what(), ")");
  } catch (const std::bad_alloc&) {
    fail(StatusCode::out_of_memory, name, ": out of memory decoding a ", info.width, "x", info.height, " image");
  }
  if (dst->empty()) fail(StatusCode::corrupt_file, name, ": cannot decode image");
  if (dst->cols != info.width || dst->rows != info.height)
    fail(StatusCode::corrupt_file, name, ": decoded ", dst->cols, "x", dst->rows, " pixels but the header says ",
         info.width, "x", info.height);
}

// Decodes with OpenCV into 8-bit RGB. Where OpenCV's own conversion to
// 8-bit BGR is PIL's (8-bit formats, and PNG but 16-bit grey: the high
// byte of 16-bit colour, alpha dropped), it decodes straight into the
// result, swapped to RGB in place: the image is held once. 16-bit grey is
// clipped, not shifted, and TIFF goes through libtiff's RGBA reader, so
// those are decoded to their own samples and converted by to_rgb8.
Image decode_with_opencv(const uint8_t* data, size_t size, Format format, const std::string& name,
                             const HeaderInfo& info) {
  const bool grey16_png = format == Format::png && data[24] == 16 && data[25] == 0;
  if (format == Format::tiff || grey16_png) {
    cv::Mat decoded;
    opencv_decode(data, size, cv::IMREAD_UNCHANGED, &decoded, name, info);
    return to_rgb8(decoded, name);
  }
  Image out;
  out.width = static_cast<int>(info.width);
  out.height = static_cast<int>(info.height);
  try {
    out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  } catch (const std::bad_alloc&) {
    fail(StatusCode::out_of_memory, name, ": out of memory decoding a ", info.width, "x", info.height, " image");
  }
  cv::Mat bgr(out.height, out.width, CV_8UC3, out.rgb.data());
  opencv_decode(data, size, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION, &bgr, name, info);
  if (bgr.data != out.rgb.data()) fail(StatusCode::internal, name, ": OpenCV decoded into a buffer of its own");
  for (size_t i = 0; i < out.rgb.size(); i += 3) std::swap(out.rgb[i], out.rgb[i + 2]);
  return out;
}

// VP8X with the animation flag set.
bool is_animated_webp(ByteReader r) { return r.matches(12, "VP8X", 4) && (r.uint(20, 1) & 0x02); }

// The first frame of an animated WebP as PIL's Image.open gives it:
// libwebp's animation decoder writes it, unblended (it is a key frame),
// onto a canvas of transparent black; the conversion to RGB then drops
// alpha. OpenCV's reader does not take animations, so
// the frame's own chunks (ALPH, then VP8 or VP8L) are wrapped as a still
// WebP for it.
Image decode_webp_first_frame(ByteReader r, const std::string& name, const HeaderInfo& info) {
  auto corrupt = [&] { fail(StatusCode::corrupt_file, name, ": malformed animated WebP (no readable first frame)"); };
  size_t frame = 0;
  for (size_t pos = 12; r.has(pos, 8) && !frame; pos += 8 + r.uint(pos + 4, 4) + (r.uint(pos + 4, 4) & 1))
    if (r.matches(pos, "ANMF", 4)) frame = pos;
  const uint64_t frame_size = frame ? r.uint(frame + 4, 4) : 0;
  if (!frame || frame_size < 16 || !r.has(frame + 8, frame_size)) corrupt();
  const size_t f = frame + 8;
  const int64_t x = 2 * static_cast<int64_t>(r.uint(f, 3)), y = 2 * static_cast<int64_t>(r.uint(f + 3, 3));
  const int64_t width = static_cast<int64_t>(r.uint(f + 6, 3)) + 1, height = static_cast<int64_t>(r.uint(f + 9, 3)) + 1;
  if (x + width > info.width || y + height > info.height) corrupt();
  // The frame's chunks, padding included, and whether one is ALPH.
  const size_t chunks = f + 16, chunks_end = frame + 8 + frame_size;
  bool alpha = false;
  for (size_t pos = chunks; r.has(pos, 8) && pos < chunks_end; pos += 8 + r.uint(pos + 4, 4) + (r.uint(pos + 4, 4) & 1))
    alpha = alpha || r.matches(pos, "ALPH", 4);
  std::vector<uint8_t> still = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
  auto put24 = [&](int64_t v) {
    for (int i = 0; i < 3; ++i) still.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  if (alpha) {  // ALPH is only read after a VP8X header that announces it
    still.insert(still.end(), {'V', 'P', '8', 'X', 10, 0, 0, 0, 0x10, 0, 0, 0});
    put24(width - 1);
    put24(height - 1);
  }
  still.insert(still.end(), r.at(chunks), r.at(std::min<size_t>(chunks_end, r.size())));
  const uint64_t riff = still.size() - 8;
  for (int i = 0; i < 4; ++i) still[4 + i] = static_cast<uint8_t>(riff >> (8 * i));

  HeaderInfo frame_info;
  frame_info.width = width;
  frame_info.height = height;
  cv::Mat pixels;  // BGR or BGRA
  opencv_decode(still.data(), still.size(), cv::IMREAD_UNCHANGED, &pixels, name, frame_info);
  if (pixels.depth() != CV_8U || (pixels.channels() != 3 && pixels.channels() != 4)) corrupt();
  Image out;
  out.width = static_cast<int>(info.width);
  out.height = static_cast<int>(info.height);
  out.rgb.assign(static_cast<size_t>(out.width) * out.height * 3, 0);
  for (int64_t row = 0; row < height; ++row) {
    const uint8_t* src = pixels.ptr<uint8_t>(static_cast<int>(row));
    uint8_t* dst = out.rgb.data() + (static_cast<size_t>(y + row) * out.width + x) * 3;
    for (int64_t col = 0; col < width; ++col, src += pixels.channels(), dst += 3) {
      dst[0] = src[2];
      dst[1] = src[1];
      dst[2] = src[0];
    }
  }
  return out;
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                       int64_t max_pixels) {
  if (max_pixels < 1)
    fail(StatusCode::invalid_argument, name, ": max_pixels must be positive, is ", max_pixels);
  if (!data || size == 0) fail(StatusCode::invalid_argument, name, ": empty image data");
  Format format;
  if (!sniff(data, size, &format))
    fail(StatusCode::invalid_argument, name, ": not a supported image (JPEG, PNG, BMP, WebP, TIFF)");
  const HeaderInfo info = parse_header(data, size, format, name);
  if (info.width > max_pixels / info.height)
    fail(StatusCode::invalid_argument, name, ": ", format_name(format), " image of ", info.width,
         "x", info.height, " pixels is over the limit of ", max_pixels, " pixels");
  if (size > static_cast<size_t>(INT32_MAX))
    fail(StatusCode::invalid_argument, name, ": encoded image of ", size, " bytes is too large");
  // After the size checks: inflating a PNG is only worth it once it may be
  // decoded. Only the chunks that decide the pixels are passed on.
  std::vector<uint8_t> patched;
  if (format == Format::png) {
    const std::string problem = png_data_problem(ByteReader(data, size));
    if (!problem.empty()) fail(StatusCode::corrupt_file, name, ": cannot decode image (PNG with ", problem, ")");
    patched = png_pixel_chunks(ByteReader(data, size));
  }

  // libtiff's RGBA reader (which OpenCV uses for 8-bit TIFFs) applies some
  // orientations itself and premultiplies unassociated alpha into the colour.
  // PIL does neither, so decode a copy whose tags say "as stored" and
  // "unspecified extra sample", and orient the pixels below.
  if (!info.tiff_patches.empty()) {
    patched.assign(data, data + size);
    for (const auto& [at, value] : info.tiff_patches) {
      patched[at + (info.tiff_big_endian ? 0 : 1)] = static_cast<uint8_t>(value >> 8);
      patched[at + (info.tiff_big_endian ? 1 : 0)] = static_cast<uint8_t>(value & 0xFF);
    }
  }
  if (!patched.empty()) {
    data = patched.data();
    size = patched.size();
  }

  if (format == Format::jpeg)
    return apply_orientation(decode_jpeg(data, size, name, info.width, info.height), info.orientation);
  if (format == Format::webp && is_animated_webp(ByteReader(data, size)))
    return apply_orientation(decode_webp_first_frame(ByteReader(data, size), name, info), info.orientation);
  return apply_orientation(decode_with_opencv(data, size, format, name, info), info.orientation);
}

Image load_image(const std::string& path, int64_t max_pixels) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    fail(StatusCode::not_found, path, ": no such file");
  if (ec) fail(StatusCode::io_error, path, ": ", ec.message());
  if (std::filesystem::is_directory(status))
    fail(StatusCode::io_error, path, ": is a directory, not an image file");
  // A FIFO, socket or device would block or never end: only regular files.
  if (!std::filesystem::is_regular_file(status))
    fail(StatusCode::io_error, path, ": is not a regular file");
  const uintmax_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(StatusCode::io_error, path, ": cannot determine the file size (", ec.message(), ")");
  if (file_size > kMaxImageFileBytes)
    fail(StatusCode::invalid_argument, path, ": image file of ", file_size, " bytes is over the limit of ",
         kMaxImageFileBytes, " bytes");
  std::ifstream file(path, std::ios::binary);
  if (!file) fail(StatusCode::io_error, path, ": cannot open for reading");
  std::vector<uint8_t> bytes(static_cast<size_t>(file_size));
  file.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (file.bad() || static_cast<size_t>(file.gcount()) != bytes.size())
    fail(StatusCode::io_error, path, ": read error");
  return decode_image(bytes.data(), bytes.size(), path, max_pixels);
}

}  // namespace visionrt::io

#else  // !VISIONRT_HAVE_OPENCV

namespace visionrt::io {

Image decode_image(const uint8_t*, size_t, const std::string&, int64_t) {
  fail(StatusCode::unsupported, "visionrt was built without the OpenCV image front end");
}

Image load_image(const std::string&, int64_t) {
  fail(StatusCode::unsupported, "visionrt was built without the OpenCV image front end");
}

}  // namespace visionrt::io

#endif  // VISIONRT_HAVE_OPENCV
