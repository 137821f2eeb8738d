// Hostile inputs that cost time, memory or silence rather than a crash:
// safetensors headers of countless entries, and more. Each is generated here and refused within bounded time with one
// error naming the limit or the cause.
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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
