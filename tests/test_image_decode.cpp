// Image decoding against PIL (transformers' load_image: EXIF transpose, then
// convert("RGB")), with the files and references written by
// tools/fixtures/make_frontend_fixtures.py, and refusal of bad input.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/image.hpp"
#include "visionrt/status.hpp"

namespace visionrt::io {
namespace {

const std::string kFixtures = std::string(VISIONRT_SOURCE_DIR) + "/tests/fixtures/frontend/";
constexpr int64_t kMaxPixels = int64_t{1} << 26;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

const nlohmann::json& manifest() {
  static const nlohmann::json m = [] {
    std::ifstream file(kFixtures + "manifest.json");
    if (!file) throw std::runtime_error("missing " + kFixtures + "manifest.json");
    return nlohmann::json::parse(file);
  }();
  return m;
}

// A uint8 reference array (height x width x 3) from the fixtures.
Image reference(const std::string& name) {
  const auto& entry = manifest().at("arrays").at(name);
  const auto shape = entry.at("shape").get<std::vector<int>>();
  Image image;
  image.height = shape.at(0);
  image.width = shape.at(1);
  image.rgb.resize(static_cast<size_t>(image.width) * image.height * 3);
  std::ifstream file(kFixtures + entry.at("file").get<std::string>(), std::ios::binary);
  file.seekg(entry.at("offset").get<std::streamoff>());
  file.read(reinterpret_cast<char*>(image.rgb.data()), static_cast<std::streamsize>(image.rgb.size()));
  if (!file) throw std::runtime_error("cannot read " + name);
  return image;
}

// Error code and message of a call (ok and "" when it does not throw).
std::pair<StatusCode, std::string> outcome(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  return {StatusCode::ok, ""};
}

#if VISIONRT_HAVE_OPENCV
#define SKIP_WITHOUT_OPENCV()
#else
#define SKIP_WITHOUT_OPENCV() GTEST_SKIP() << "built without the OpenCV image front end"
#endif

// Decodes every fixture whose file name passes `select` and compares it with
// PIL's pixels. The files are lossless or written by libjpeg-turbo and read
// back by the same IDCT in both decoders, so the expected difference is 0.
int compare_with_pil(const std::function<bool(const std::string&)>& select) {
  int compared = 0;
  for (const auto& c : manifest().at("decode_cases")) {
    const std::string file = c.at("file");
    if (!select(file)) continue;
    const Image expected = reference(c.at("expected"));
    const Image got = load_image(kFixtures + file, kMaxPixels);
    EXPECT_EQ(got.width, expected.width) << file;
    EXPECT_EQ(got.height, expected.height) << file;
    if (got.rgb.size() != expected.rgb.size()) continue;
    int max_diff = 0;
    for (size_t i = 0; i < got.rgb.size(); ++i)
      max_diff = std::max(max_diff, std::abs(int{got.rgb[i]} - int{expected.rgb[i]}));
    EXPECT_EQ(max_diff, 0) << file;
    ++compared;
  }
  return compared;
}

bool is_orientation_case(const std::string& file) { return file.find("orientation_") != std::string::npos; }

TEST(ImageDecodeTest, MatchesPillowForEachFormat) {
  SKIP_WITHOUT_OPENCV();
  // grey/RGBA/16-bit grey/16-bit RGB/palette PNG, BMP, WebP and TIFF (with
  // and without alpha); greyscale, progressive and CMYK JPEG, and damaged
  // JPEGs that PIL still decodes: stray bytes between segments, scans cut
  // short by the end-of-image marker (baseline and progressive).
  EXPECT_EQ(compare_with_pil([](const std::string& f) { return !is_orientation_case(f); }), 16);
}

TEST(ImageDecodeTest, AppliesEveryExifOrientationAsPillow) {
  SKIP_WITHOUT_OPENCV();
  // JPEG with orientations 1..8, plus EXIF in PNG (eXIf), WebP and a TIFF tag.
  EXPECT_EQ(compare_with_pil(is_orientation_case), 11);
}

TEST(ImageDecodeTest, DecodesFromMemoryAsFromFile) {
  SKIP_WITHOUT_OPENCV();
  const std::string path = kFixtures + "decode/orientation_6.jpg";
  const std::vector<uint8_t> bytes = read_file(path);
  const Image from_memory = decode_image(bytes.data(), bytes.size(), "<memory>", kMaxPixels);
  const Image from_file = load_image(path, kMaxPixels);
  EXPECT_EQ(from_memory.width, 24);
  EXPECT_EQ(from_memory.height, 40);
  EXPECT_EQ(from_memory.rgb, from_file.rgb);
}

TEST(ImageDecodeTest, RejectsEmptyAndUnknownData) {
  SKIP_WITHOUT_OPENCV();
  EXPECT_EQ(outcome([] { decode_image(nullptr, 0, "<memory>", kMaxPixels); }).first,
            StatusCode::invalid_argument);
  const uint8_t one = 0xFF;
  EXPECT_EQ(outcome([&] { decode_image(&one, 0, "<memory>", kMaxPixels); }).first,
            StatusCode::invalid_argument);

  std::mt19937 rng(1234);
  std::vector<uint8_t> noise(4096);
  for (auto& b : noise) b = static_cast<uint8_t>(rng() & 0xFF);
  noise[0] = 0x17;  // not the first byte of any supported signature
  const auto [code, message] = outcome([&] { decode_image(noise.data(), noise.size(), "noise.bin", kMaxPixels); });
  EXPECT_EQ(code, StatusCode::invalid_argument);
  EXPECT_EQ(message, "noise.bin: not a supported image (JPEG, PNG, BMP, WebP, TIFF)");

  const std::string text = "This is a text file, not an image.\n";
  EXPECT_EQ(outcome([&] {
              decode_image(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "notes.txt",
                           kMaxPixels);
            }).first,
            StatusCode::invalid_argument);
}

TEST(ImageDecodeTest, RejectsTruncatedFiles) {
  SKIP_WITHOUT_OPENCV();
  for (const char* name : {"decode/rgba.png", "decode/orientation_1.jpg", "decode/rgb.webp",
                           "decode/rgb.bmp", "decode/rgb.tiff"}) {
    std::vector<uint8_t> bytes = read_file(kFixtures + name);
    for (size_t keep : {bytes.size() / 2, size_t{40}, size_t{12}}) {
      const auto [code, message] =
          outcome([&] { decode_image(bytes.data(), keep, name, kMaxPixels); });
      EXPECT_EQ(code, StatusCode::corrupt_file) << name << " cut to " << keep << ": " << message;
      EXPECT_NE(message.find(name), std::string::npos) << message;
    }
  }
}

// A PNG signature and IHDR chunk claiming a huge image, with no pixel data.
std::vector<uint8_t> png_header(uint32_t width, uint32_t height) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  for (uint32_t v : {width, height})
    for (int shift = 24; shift >= 0; shift -= 8) png.push_back(static_cast<uint8_t>(v >> shift));
  for (uint8_t b : {8, 2, 0, 0, 0, 0, 0, 0, 0}) png.push_back(b);  // 8-bit RGB, then a CRC
  return png;
}

TEST(ImageDecodeTest, RefusesOversizedImagesFromTheHeader) {
  SKIP_WITHOUT_OPENCV();
  const std::vector<uint8_t> png = png_header(100000, 100000);
  const auto start = std::chrono::steady_clock::now();
  const auto [code, message] = outcome([&] { decode_image(png.data(), png.size(), "huge.png", kMaxPixels); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(code, StatusCode::invalid_argument);
  EXPECT_NE(message.find("100000x100000"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(kMaxPixels)), std::string::npos) << message;
  EXPECT_LT(seconds, 0.05);  // refused from the header, nothing decoded

  // The limit applies to every format, and a header that fits passes it.
  for (const char* name : {"decode/orientation_1.jpg", "decode/rgb.bmp", "decode/rgb.webp",
                           "decode/rgb.tiff", "decode/grey.png"}) {
    const std::vector<uint8_t> bytes = read_file(kFixtures + name);
    EXPECT_EQ(outcome([&] { decode_image(bytes.data(), bytes.size(), name, 100); }).first,
              StatusCode::invalid_argument)
        << name;
    EXPECT_EQ(outcome([&] { decode_image(bytes.data(), bytes.size(), name, 40 * 24); }).first,
              StatusCode::ok)
        << name;
  }
}

TEST(ImageDecodeTest, ReportsMissingFilesAndDirectories) {
  SKIP_WITHOUT_OPENCV();
  const std::string missing = kFixtures + "decode/no_such_image.png";
  const auto [code, message] = outcome([&] { load_image(missing, kMaxPixels); });
  EXPECT_EQ(code, StatusCode::not_found);
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_EQ(outcome([&] { load_image(kFixtures + "decode", kMaxPixels); }).first, StatusCode::io_error);
}

// Only a build without the front end has this behaviour to test.
#if !VISIONRT_HAVE_OPENCV
TEST(ImageDecodeTest, WithoutOpenCvReportsUnsupported) {
  const uint8_t bytes[] = {0x89, 'P', 'N', 'G'};
  EXPECT_EQ(outcome([&] { decode_image(bytes, sizeof bytes, "<memory>", kMaxPixels); }).first,
            StatusCode::unsupported);
  EXPECT_EQ(outcome([] { load_image("any.png", kMaxPixels); }).first, StatusCode::unsupported);
}
#endif

}  // namespace
}  // namespace visionrt::io
