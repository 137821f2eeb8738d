// Hostile inputs that cost time, memory or silence rather than a crash:
// JPEG scans without end, safetensors headers of countless entries, and
// more. Each is generated here and refused within bounded time with one
// error naming the limit or the cause.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/image.hpp"
#include "io/jpeg_decode.hpp"
#include "io/safetensors.hpp"
#include "model_folder_fixture.hpp"
#include "scratch_dir.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt {
namespace {

const std::filesystem::path kSourceDir = VISIONRT_SOURCE_DIR;
const std::filesystem::path kDemoVit = kSourceDir / "models" / "demo" / "vit-digits";

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs `body`, expecting an Error with `code` whose message holds `fragment`.
template <typename Body>
std::string expect_error(Body&& body, StatusCode code, const std::string& fragment) {
  try {
    body();
    ADD_FAILURE() << "no error; expected one containing \"" << fragment << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what() << " lacks: " << fragment;
    return e.what();
  }
  return "";
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// --- Progressive JPEG scans -------------------------------------------------

std::string segment(uint8_t marker, const std::string& payload) {
  const size_t length = payload.size() + 2;
  return std::string{'\xFF', static_cast<char>(marker), static_cast<char>(length >> 8),
                     static_cast<char>(length & 0xFF)} +
         payload;
}

// A grey progressive JPEG of width x height whose first scan holds the DC
// coefficients and every later one the AC band 1..63 again, each with one
// byte of entropy data (libjpeg reads the rest of the band as zero). Every
// scan is a pass over the whole frame: the shape of an attacker's file.
std::string progressive_jpeg(int width, int height, int scans) {
  using namespace std::string_literals;
  std::string jpeg = "\xFF\xD8"s;
  jpeg += segment(0xDB, "\x00"s + std::string(64, '\x01'));  // quantisation table 0
  jpeg += segment(0xC2, "\x08"s + static_cast<char>(height >> 8) + static_cast<char>(height & 0xFF) +
                            static_cast<char>(width >> 8) + static_cast<char>(width & 0xFF) +
                            "\x01\x01\x11\x00"s);  // SOF2: one component
  // Huffman tables of one 1-bit code each: DC difference 0, AC end of band.
  const std::string one_code = "\x01"s + std::string(15, '\x00') + "\x00"s;
  jpeg += segment(0xC4, "\x00"s + one_code) + segment(0xDA, "\x01\x01\x00\x00\x00\x00"s) + "\x00"s;
  for (int i = 1; i < scans; ++i)
    jpeg += segment(0xC4, "\x10"s + one_code) + segment(0xDA, "\x01\x01\x00\x01\x3F\x00"s) + "\x00"s;
  return jpeg + "\xFF\xD9"s;
}

Image decode(const std::string& bytes) {
  return io::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.jpg",
                          kMaxImagePixels);
}

TEST(HostileInputs, ProgressiveJpegWithFewScansDecodes) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  const Image image = decode(progressive_jpeg(16, 16, 10));
  EXPECT_EQ(image.width, 16);
  EXPECT_EQ(image.height, 16);
  // Every coefficient is zero: level 128 after the inverse DCT.
  for (uint8_t v : image.rgb) ASSERT_EQ(v, 128);
  EXPECT_NO_THROW(decode(progressive_jpeg(16, 16, io::kMaxJpegScans)));
}

TEST(HostileInputs, ProgressiveJpegOverTheScanLimitIsRefused) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  const auto start = std::chrono::steady_clock::now();
  expect_error([] { decode(progressive_jpeg(16, 16, 30000)); }, StatusCode::invalid_argument,
               "t.jpg: progressive JPEG with more than 1000 scans (the limit)");
  // Bounded, not fast: 30,000 scans decoded for over a minute before the
  // limit; 10 s leaves room for a loaded machine or a sanitizer build.
  EXPECT_LT(seconds_since(start), 10.0);
}

TEST(HostileInputs, JpegScansOverTheDecodeWorkLimitAreRefused) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  // 4000x4000 is 250,000 blocks a scan: the limit falls within 600 scans,
  // under the scan limit.
  const auto start = std::chrono::steady_clock::now();
  expect_error([] { decode(progressive_jpeg(4000, 4000, 600)); }, StatusCode::invalid_argument,
               "t.jpg: JPEG whose scans decode more than 134217728 8x8 blocks (the decode-work limit)");
  EXPECT_LT(seconds_since(start), 60.0);  // bounded (see the test above); about 1.5 s here
}

// --- PNG, WebP: messages and memory -----------------------------------------

uint32_t crc32_of(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFF;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
  }
  return ~crc;
}

std::string big_endian32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  return big_endian32(static_cast<uint32_t>(data.size())) + type + data + big_endian32(crc32_of(type + data));
}

// A zlib stream of `n` zero bytes, written by hand so that tests need no
// zlib: one fixed-Huffman block of a literal 0 and then copies of 258 bytes
// at distance 1 (13 bits each), so 128 MB of zeros take 800 KB.
std::string zlib_zeros(uint64_t n) {
  std::string out = "\x78\x01";
  uint64_t bits = 0;
  int used = 0;
  auto put = [&](uint32_t value, int count) {  // LSB first
    bits |= static_cast<uint64_t>(value) << used;
    for (used += count; used >= 8; used -= 8, bits >>= 8) out += static_cast<char>(bits & 0xFF);
  };
  auto put_code = [&](uint32_t code, int count) {  // Huffman codes go MSB first
    for (int i = count - 1; i >= 0; --i) put(code >> i & 1, 1);
  };
  put(1, 1);  // final block
  put(1, 2);  // fixed Huffman codes
  uint64_t left = n;
  if (left > 0) put_code(0x30, 8), --left;             // literal 0
  for (; left >= 258; left -= 258) put_code(0xC5, 8), put_code(0, 5);  // length 258, distance 1
  for (; left > 0; --left) put_code(0x30, 8);
  put_code(0, 7);  // end of block
  if (used > 0) put(0, 8 - used);
  const uint32_t adler = static_cast<uint32_t>((n % 65521) << 16 | 1);
  return out + big_endian32(adler);
}

// An all-zero PNG: IHDR, then `extra` chunks, then the pixel data.
std::string zero_png(uint32_t width, uint32_t height, int depth, int colour, const std::string& extra = "") {
  const int channels = colour == 0 ? 1 : colour == 2 ? 3 : colour == 4 ? 2 : colour == 6 ? 4 : 1;
  const uint64_t row = 1 + (uint64_t{width} * channels * depth + 7) / 8;
  const std::string ihdr = big_endian32(width) + big_endian32(height) +
                           std::string{static_cast<char>(depth), static_cast<char>(colour), 0, 0, 0};
  return "\x89PNG\r\n\x1A\n" + png_chunk("IHDR", ihdr) + extra + png_chunk("IDAT", zlib_zeros(row * height)) +
         png_chunk("IEND", "");
}

Image decode_named(const std::string& bytes, const std::string& name) {
  return io::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name, kMaxImagePixels);
}

TEST(HostileInputs, PngSideOverLibpngsLimitIsRefusedBeforeLibpng) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  // 1 x 100,000,000 is within the pixel limit; libpng refuses a side over
  // 1,000,000 and printed two lines saying so.
  const std::string ihdr = big_endian32(1) + big_endian32(100000000) + std::string{8, 0, 0, 0, 0};
  const std::string png = "\x89PNG\r\n\x1A\n" + png_chunk("IHDR", ihdr) + png_chunk("IDAT", "") + png_chunk("IEND", "");
  expect_error([&] { decode_named(png, "tall.png"); }, StatusCode::corrupt_file,
               "tall.png: cannot decode image (PNG with a side over 1000000 pixels, libpng's limit)");
  const Image wide = decode_named(zero_png(1000000, 1, 8, 0), "wide.png");
  EXPECT_EQ(wide.width, 1000000);
}

TEST(HostileInputs, PngDepthColourTypeAndFilterTypeAreCheckedBeforeLibpng) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  expect_error([&] { decode_named(zero_png(4, 4, 4, 2), "t.png"); }, StatusCode::corrupt_file,
               "an IHDR chunk with an invalid bit depth, colour type");
  expect_error([&] { decode_named(zero_png(4, 4, 8, 3), "t.png"); }, StatusCode::corrupt_file,
               "a palette image without a valid PLTE chunk");
  EXPECT_NO_THROW(decode_named(zero_png(4, 4, 8, 3, png_chunk("PLTE", std::string(6, '\x10'))), "t.png"));
  // A filter type byte of 5 on the second row: a 4x2 grey image inflated
  // from stored (uncompressed) deflate data.
  const std::string rows = std::string("\0\1\2\3\4", 5) + std::string("\5\1\2\3\4", 5);
  uint32_t a = 1, b = 0;
  for (unsigned char c : rows) b += a += c;
  const std::string stored = std::string("\x78\x01\x01\x0A\x00\xF5\xFF", 7) + rows + big_endian32(b << 16 | a);
  const std::string ihdr = big_endian32(4) + big_endian32(2) + std::string{8, 0, 0, 0, 0};
  const std::string png = "\x89PNG\r\n\x1A\n" + png_chunk("IHDR", ihdr) + png_chunk("IDAT", stored) + png_chunk("IEND", "");
  expect_error([&] { decode_named(png, "t.png"); }, StatusCode::corrupt_file, "a row filter type other than 0 to 4");
}

TEST(HostileInputs, PngAncillaryChunksAreNotPassedToLibpng) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  // A colour profile libpng warns about, a transparency chunk of the wrong
  // length and a text chunk: the pixels are those of the plain file.
  const std::string extra = png_chunk("iCCP", std::string("bad\0\0", 5) + "not a profile") +
                            png_chunk("tRNS", "\x01") + png_chunk("tEXt", std::string("k\0v", 3));
  const Image plain = decode_named(zero_png(8, 8, 8, 2), "t.png");
  const Image with_chunks = decode_named(zero_png(8, 8, 8, 2, extra), "t.png");
  EXPECT_EQ(with_chunks.rgb, plain.rgb);
}

TEST(HostileInputs, AnimatedWebpGivesItsFirstFrame) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  // PIL: frames of solid red, green, blue, yellow, cyan, saved lossless with
  // save_all=True; Image.open gives the first.
  const std::vector<uint8_t> webp = read_bytes(kSourceDir / "tests/fixtures/frontend/hostile/animated_5_frames.webp");
  const Image image = io::decode_image(webp.data(), webp.size(), "anim.webp", kMaxImagePixels);
  EXPECT_EQ(image.width, 32);
  EXPECT_EQ(image.height, 24);
  for (size_t i = 0; i < image.rgb.size(); i += 3)
    ASSERT_EQ((std::vector<int>{image.rgb[i], image.rgb[i + 1], image.rgb[i + 2]}), (std::vector<int>{255, 0, 0}))
        << "pixel " << i / 3;
}

// --- TIFF strips cut short ---------------------------------------------------

// A little-endian 8-bit grey TIFF of width x height in one strip of
// `strip`, compressed with `compression`.
std::string grey_tiff(uint32_t width, uint32_t height, uint16_t compression, const std::string& strip) {
  auto le = [](uint32_t v, int bytes) {
    std::string out;
    for (int i = 0; i < bytes; ++i) out += static_cast<char>(v >> (8 * i) & 0xFF);
    return out;
  };
  const std::vector<std::pair<uint16_t, uint32_t>> tags = {
      {256, width}, {257, height}, {258, 8}, {259, compression}, {262, 1}, {273, 0}, {277, 1}, {278, height},
      {279, static_cast<uint32_t>(strip.size())}};
  const uint32_t data_at = 8 + 2 + 12 * static_cast<uint32_t>(tags.size()) + 4;
  std::string tiff = std::string("II*\0", 4) + le(8, 4) + le(static_cast<uint32_t>(tags.size()), 2);
  for (const auto& [tag, value] : tags)
    tiff += le(tag, 2) + le(4, 2) + le(1, 4) + le(tag == 273 ? data_at : value, 4);  // LONG values
  return tiff + le(0, 4) + strip;
}

// TIFF LZW of `bytes` without compression: a clear code, each byte as its
// own 9-bit code, the end code (the table never reaches 511 entries here).
std::string lzw_literal(const std::string& bytes) {
  std::vector<uint32_t> codes = {256};
  for (unsigned char b : bytes) codes.push_back(b);
  codes.push_back(257);
  std::string out;
  uint32_t bits = 0;
  int held = 0;
  for (uint32_t code : codes) {
    bits = bits << 9 | code;
    for (held += 9; held >= 8; held -= 8) out += static_cast<char>(bits >> (held - 8) & 0xFF);
  }
  if (held > 0) out += static_cast<char>(bits << (8 - held) & 0xFF);
  return out;
}

TEST(HostileInputs, CompressedTiffStripsCutShortAreRefusedBeforeLibtiff) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  std::string pixels;
  for (int i = 0; i < 8 * 6; ++i) pixels += static_cast<char>(i * 5);
  // Whole: the pixels come back (grey replicated to RGB).
  const Image whole = decode_named(grey_tiff(8, 6, 5, lzw_literal(pixels)), "t.tif");
  ASSERT_EQ(whole.rgb.size(), pixels.size() * 3);
  for (size_t i = 0; i < pixels.size(); ++i) ASSERT_EQ(whole.rgb[3 * i], static_cast<uint8_t>(pixels[i])) << i;
  // Cut: LZW ending early (OpenCV printed libtiff's failure), PackBits
  // runs for 4 of 6 rows.
  expect_error([&] { decode_named(grey_tiff(8, 6, 5, lzw_literal(pixels.substr(0, 30))), "t.tif"); },
               StatusCode::corrupt_file, "t.tif: cannot decode image (TIFF strip 0 holds less compressed data than its 48 bytes)");
  std::string packbits;
  for (int row = 0; row < 4; ++row) packbits += '\x07' + pixels.substr(row * 8, 8);
  expect_error([&] { decode_named(grey_tiff(8, 6, 32773, packbits), "t.tif"); }, StatusCode::corrupt_file,
               "TIFF strip 0 holds less compressed data than its 48 bytes");
  for (int row = 4; row < 6; ++row) packbits += '\x07' + pixels.substr(row * 8, 8);
  EXPECT_EQ(decode_named(grey_tiff(8, 6, 32773, packbits), "t.tif").rgb, whole.rgb);
}

#ifdef VISIONRT_CLI_PATH
// Peak resident memory (KB) and stderr of `visionrt classify` on one image.
std::pair<long, std::string> classify_peak(const std::filesystem::path& image, const std::filesystem::path& scratch) {
  const std::string err = (scratch / "stderr").string();
  const pid_t child = fork();
  if (child == 0) {
    const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execl(VISIONRT_CLI_PATH, VISIONRT_CLI_PATH, "classify", "--device", "cpu", "--model", kDemoVit.c_str(),
          image.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  wait4(child, &status, 0, &usage);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::ifstream in(err);
  return {usage.ru_maxrss, std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>())};
}

TEST(HostileInputs, DecodingPeaksAtTwiceTheRgbImage) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
#if defined(__SANITIZE_ADDRESS__)
  // Freed blocks wait in the sanitizer's quarantine and every byte has its
  // shadow: the peak measured would be the sanitizer's, not the decoder's.
  GTEST_SKIP() << "peak memory is not the decoder's under AddressSanitizer";
#endif
  ScratchDir scratch;
  // 16-bit RGBA: 128 MB of samples for 48 MB of RGB. It was held as
  // OpenCV's samples, their RGB conversion, a copy for the orientation and
  // a transposed copy for resizing (272 MB).
  const int side = 4000;
  const double rgb_mb = 3.0 * side * side / 1e6;
  write_bytes(scratch.path() / "big.png", zero_png(side, side, 16, 6));
  write_bytes(scratch.path() / "small.png", zero_png(16, 16, 16, 6));
  const auto [small_kb, small_err] = classify_peak(scratch.path() / "small.png", scratch.path());
  const auto [big_kb, big_err] = classify_peak(scratch.path() / "big.png", scratch.path());
  EXPECT_EQ(small_err, "");
  EXPECT_EQ(big_err, "");
  EXPECT_LE((big_kb - small_kb) / 1e3, 2 * rgb_mb) << "peak " << big_kb << " KB against " << small_kb << " KB";
}
#endif

// --- Safetensors headers of many entries ------------------------------------

// The demo ViT's checkpoint with `extra` empty tensors added to its header.
std::string with_empty_tensors(size_t extra) {
  const std::vector<uint8_t> file = read_bytes(kDemoVit / "model.safetensors");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | file[i];
  std::string header(file.begin() + 8, file.begin() + 8 + header_size);
  header.erase(header.find_last_not_of(' ') + 1);
  header.pop_back();  // the closing brace
  for (size_t i = 0; i < extra; ++i)
    header += ",\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
  header += '}';
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>(header.size() >> (8 * i) & 0xFF);
  return out + header + std::string(file.begin() + 8 + header_size, file.end());
}

class HostileCheckpoint : public ModelFolderFixture<Classifier> {
 protected:
  HostileCheckpoint() : ModelFolderFixture(kDemoVit) {}
};

TEST_F(HostileCheckpoint, HeaderOverTheEntryLimitIsRefusedWhileParsed) {
  write_bytes(dir_ / "model.safetensors", with_empty_tensors(300000));
  const auto start = std::chrono::steady_clock::now();
  const Error e = load_error();
  // Quadratic parsing would take hours here; linear takes about 0.3 s, and
  // 10 s leaves room for a loaded machine or a sanitizer build.
  EXPECT_LT(seconds_since(start), 10.0);
  EXPECT_EQ(e.code(), StatusCode::corrupt_file);
  EXPECT_NE(std::string(e.what()).find("model.safetensors: header: more than 100000 entries (the limit)"),
            std::string::npos)
      << e.what();
}

TEST_F(HostileCheckpoint, ManyUnusedEntriesAreRefusedInLinearTime) {
  // Just under the limit: every check after parsing sees 100,000 entries.
  // (Quadratic parsing took 34 s for 80,000.)
  write_bytes(dir_ / "model.safetensors", with_empty_tensors(io::kMaxSafetensorsEntries - 200));
  const auto start = std::chrono::steady_clock::now();
  const Error e = load_error();
  // About 0.6 s here; quadratic checks would take about a minute.
  EXPECT_LT(seconds_since(start), 30.0);
  EXPECT_EQ(e.code(), StatusCode::corrupt_file);
  EXPECT_NE(std::string(e.what()).find("holds 99800 tensors the config does not use: t0, t1, t10, ..."),
            std::string::npos)
      << e.what();
}

// --- Non-finite weights and outputs ------------------------------------------

// Overwrites every element of F32 tensor `name` in `folder`'s checkpoint.
void fill_tensor(const std::filesystem::path& folder, const std::string& name, float value) {
  const std::filesystem::path path = folder / "model.safetensors";
  std::vector<uint8_t> bytes = read_bytes(path);
  const auto file = io::SafetensorsFile::from_memory(bytes.data(), bytes.size(), path.string());
  const io::TensorEntry* entry = file->find(name);
  ASSERT_NE(entry, nullptr) << name;
  ASSERT_EQ(entry->dtype, DType::f32);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | bytes[i];
  for (size_t at = 8 + header_size + entry->begin; at < 8 + header_size + entry->end; at += 4)
    std::memcpy(&bytes[at], &value, 4);
  write_bytes(path, std::string(bytes.begin(), bytes.end()));
}

TEST(HostileInputs, NonFiniteElementsAreFoundInEveryFloatDtype) {
  // Bit patterns: each dtype's largest finite value, infinity and a NaN.
  struct Case {
    DType dtype;
    uint32_t largest, infinity, nan;
  };
  for (const Case& c : {Case{DType::f32, 0x7F7FFFFF, 0x7F800000, 0x7FC00001},
                        Case{DType::f16, 0x7BFF, 0x7C00, 0x7E01}, Case{DType::bf16, 0x7F7F, 0x7F80, 0x7FC1}}) {
    const size_t size = dtype_size(c.dtype);
    // Past a whole block of the scan (4096 elements), and an odd tail.
    const int64_t n = 3 * 4096 + 7;
    Tensor t = Tensor::empty(c.dtype, {n});
    auto set = [&](int64_t i, uint32_t bits) { std::memcpy(static_cast<char*>(t.data()) + i * size, &bits, size); };
    for (int64_t i = 0; i < n; ++i) set(i, i % 2 ? c.largest : c.largest | (uint32_t{1} << (8 * size - 1)));
    EXPECT_EQ(io::first_non_finite(t), -1) << dtype_name(c.dtype);
    for (int64_t at : {int64_t{0}, int64_t{4095}, int64_t{4096}, n - 1}) {
      for (uint32_t bad : {c.infinity, c.infinity | (uint32_t{1} << (8 * size - 1)), c.nan}) {
        set(at, bad);
        EXPECT_EQ(io::first_non_finite(t), at) << dtype_name(c.dtype) << " " << std::hex << bad;
        set(at, c.largest);
      }
    }
  }
}

TEST_F(HostileCheckpoint, NanWeightIsRefusedAtLoadNamingTheTensor) {
  fill_tensor(dir_, "classifier.weight", std::numeric_limits<float>::quiet_NaN());
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::corrupt_file);
  EXPECT_NE(std::string(e.what()).find("tensor 'classifier.weight' holds a non-finite value (NaN or infinity) at "
                                       "element 0 of "),
            std::string::npos)
      << e.what();
  fill_tensor(dir_, "classifier.weight", 0.5f);
  fill_tensor(dir_, "vit.encoder.layer.0.attention.attention.query.weight", -std::numeric_limits<float>::infinity());
  EXPECT_NE(std::string(load_error().what()).find("'vit.encoder.layer.0.attention.attention.query.weight'"),
            std::string::npos);
}

TEST_F(HostileCheckpoint, OverflowingLogitsAreAnErrorNamingTheOutput) {
  // Finite weights whose products overflow float.
  fill_tensor(dir_, "classifier.weight", 3e38f);
  const Classifier c = Classifier::load(dir_.string(), {Device::cpu});
  const std::vector<float> pixels(size_t(3) * c.info().image_height * c.info().image_width, 0.5f);
  expect_error([&] { c.classify(pixels.data(), 1, c.info().image_height, c.info().image_width, 1); },
               StatusCode::unsupported,
               "output 'logits' of image 0 holds a non-finite value (NaN or infinity): the forward pass overflowed");
}

class HostileDetrCheckpoint : public ModelFolderFixture<Detector> {
 protected:
  HostileDetrCheckpoint() : ModelFolderFixture(kSourceDir / "models" / "demo" / "detr-shapes") {}
};

TEST_F(HostileDetrCheckpoint, OverflowingLogitsAreAnErrorNamingTheOutput) {
  fill_tensor(dir_, "class_labels_classifier.weight", 3e38f);
  const Detector d = Detector::load(dir_.string(), {Device::cpu});
  const int side = 64;
  const std::vector<float> pixels(size_t(3) * side * side, 0.5f);
  expect_error([&] { d.forward(pixels.data(), nullptr, 1, side, side); }, StatusCode::unsupported,
               "output 'logits' of image 0 holds a non-finite value");
  fill_tensor(dir_, "class_labels_classifier.weight", 0.5f);
  const Detector fine = Detector::load(dir_.string(), {Device::cpu});
  EXPECT_NO_THROW(fine.forward(pixels.data(), nullptr, 1, side, side));
}

}  // namespace
}  // namespace visionrt
