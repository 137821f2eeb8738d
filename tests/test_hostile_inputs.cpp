// Hostile inputs that cost time, memory or silence rather than a crash:
// JPEG scans without end, safetensors headers of countless entries, and
// more. Each is generated here and refused within bounded time with one
// error naming the limit or the cause.
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/image.hpp"
#include "io/jpeg_decode.hpp"
#include "io/safetensors.hpp"
#include "model_folder_fixture.hpp"
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
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
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

io::ImageRGB8 decode(const std::string& bytes) {
  return io::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.jpg",
                          kMaxImagePixels);
}

TEST(HostileInputs, ProgressiveJpegWithFewScansDecodes) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  const io::ImageRGB8 image = decode(progressive_jpeg(16, 16, 10));
  EXPECT_EQ(image.width, 16);
  EXPECT_EQ(image.height, 16);
  // Every coefficient is zero: level 128 after the inverse DCT.
  for (uint8_t v : image.pixels) ASSERT_EQ(v, 128);
  EXPECT_NO_THROW(decode(progressive_jpeg(16, 16, io::kMaxJpegScans)));
}

TEST(HostileInputs, ProgressiveJpegOverTheScanLimitIsRefused) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  const auto start = std::chrono::steady_clock::now();
  expect_error([] { decode(progressive_jpeg(16, 16, 30000)); }, StatusCode::invalid_argument,
               "t.jpg: progressive JPEG with more than 1000 scans (the limit)");
  EXPECT_LT(seconds_since(start), 1.0);
}

TEST(HostileInputs, JpegScansOverTheDecodeWorkLimitAreRefused) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  // 4000x4000 is 250,000 blocks a scan: the limit falls within 600 scans,
  // under the scan limit.
  const auto start = std::chrono::steady_clock::now();
  expect_error([] { decode(progressive_jpeg(4000, 4000, 600)); }, StatusCode::invalid_argument,
               "t.jpg: JPEG whose scans decode more than 134217728 8x8 blocks (the decode-work limit)");
  EXPECT_LT(seconds_since(start), 10.0);
}

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
  EXPECT_LT(seconds_since(start), 1.0);
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
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_EQ(e.code(), StatusCode::corrupt_file);
  EXPECT_NE(std::string(e.what()).find("holds 99800 tensors the config does not use: t0, t1, t10, ..."),
            std::string::npos)
      << e.what();
}

}  // namespace
}  // namespace visionrt
