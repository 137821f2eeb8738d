// Hostile model files: deep nesting, absurd numbers, oversized or special
// files and degenerate preprocessing constants are refused with one clear
// error naming the file and key, without crashing, hanging or exhausting memory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scratch_dir.hpp"
#include "core/json_text.hpp"
#include "io/model_folder.hpp"
#include "io/preprocess.hpp"
#include "io/safetensors.hpp"
#include "visionrt/status.hpp"

namespace visionrt::io {
namespace {

using json = nlohmann::json;

// Runs `body`, expecting an Error with `code` whose message contains every fragment;
// returns the message.
template <typename Body>
std::string expect_error(Body&& body, StatusCode code, std::initializer_list<std::string> fragments) {
  try {
    body();
    ADD_FAILURE() << "no error; expected one containing \"" << *fragments.begin() << "\"";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.code(), code) << message;
    for (const std::string& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "message \"" << message << "\" lacks \"" << fragment << "\"";
    return message;
  }
  return "";
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string nested_arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

const char* const kConfig = R"({"model_type": "vit", "num_labels": 3})";

// --- 1. Deep nesting --------------------------------------------------------

TEST(HostileFilesTest, DeepJsonInConfigIsRefusedAtParse) {
  ScratchDir dir;
  write_text(dir.file("config.json"), R"({"model_type": "vit", "num_labels": )" + nested_arrays(100000) + "}");
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               {dir.file("config.json"), "JSON nests deeper than 64 levels"});
  // Unclosed brackets are refused the same way, before the syntax error.
  write_text(dir.file("config.json"), std::string(100000, '['));
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               {dir.file("config.json"), "JSON nests deeper than 64 levels"});
}

TEST(HostileFilesTest, DeepJsonInPreprocessorConfigIsRefusedAtParse) {
  ScratchDir dir;
  write_text(dir.file("config.json"), kConfig);
  write_text(dir.file("preprocessor_config.json"), R"({"image_std": )" + nested_arrays(100000) + "}");
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               {dir.file("preprocessor_config.json"), "JSON nests deeper than 64 levels"});
}

TEST(HostileFilesTest, DeepShapeInSafetensorsHeaderIsRefusedAtParse) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  std::string header = R"({"w":{"dtype":"F32","shape":)" + nested_arrays(100000) + R"(,"data_offsets":[0,0]}})";
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(header.size() >> (8 * i) & 0xff));
  out << header;
  out.close();
  expect_error([&] { SafetensorsFile::open(path); }, StatusCode::corrupt_file,
               {path, "header: JSON nests deeper than 64 levels"});
}

TEST(HostileFilesTest, NestingLimitIsExactly64Levels) {
  const std::string ok = nested_arrays(64), deep = nested_arrays(65);
  EXPECT_NO_THROW(parse_json_text(ok.data(), ok.data() + ok.size(), "t.json"));
  expect_error([&] { parse_json_text(deep.data(), deep.data() + deep.size(), "t.json"); },
               StatusCode::corrupt_file, {"t.json: JSON nests deeper than 64 levels"});
  std::string mixed;
  for (int i = 0; i < 65; ++i) mixed += i % 2 ? R"({"k":)" : "[";
  expect_error([&] { parse_json_text(mixed.data(), mixed.data() + mixed.size(), "t.json"); },
               StatusCode::corrupt_file, {"nests deeper than 64 levels"});
}

// Values built in code are not depth-checked by a parser: the messages
// describing them must stay short and must not recurse through them.
TEST(HostileFilesTest, ErrorMessagesDescribeValuesBriefly) {
  json deep = json::array();
  for (int i = 0; i < 100000; ++i) {
    json outer = json::array();
    outer.push_back(std::move(deep));
    deep = std::move(outer);
  }
  json config = json::object();
  config["image_std"] = std::move(deep);  // moved, never copied: copying recurses
  const std::string deep_message = expect_error([&] { PreprocessConfig::from_json(config); },
                                                StatusCode::corrupt_file, {"\"image_std\" must be 3 numbers (one per RGB channel), found [[[[", "... (array of 1 element)"});
  EXPECT_LT(deep_message.size(), 200u) << deep_message;

  const std::string long_text(1 << 20, 'x');
  const std::string string_message =
      expect_error([&] { PreprocessConfig::from_json({{"size", long_text}}); }, StatusCode::corrupt_file,
                   {"\"size\" must be an integer, [height, width] or an object, found \"xxxx", "... (string)"});
  EXPECT_LT(string_message.size(), 200u) << string_message;

  json wide = json::array();
  for (int i = 0; i < 100000; ++i) wide.push_back(i);
  const std::string wide_message = expect_error([&] { PreprocessConfig::from_json({{"image_mean", wide}}); },
                                                StatusCode::corrupt_file, {"[0,1,2,3", "... (array of 100000 elements)"});
  EXPECT_LT(wide_message.size(), 200u) << wide_message;

  EXPECT_EQ(describe_json(json::parse("[1,[2,{\"a\":null}]]")), "[1,[2,{\"a\":null}]]");
  EXPECT_EQ(describe_json(json("\xC3\xA9")), "\"\xC3\xA9\"");
}

TEST(HostileFilesTest, LongSafetensorsShapeIsDescribedBriefly) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  std::string shape = "[";
  for (int i = 0; i < 100000; ++i) shape += "1,";
  shape += "-1]";
  std::string header = R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,0]}})";
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(header.size() >> (8 * i) & 0xff));
  out << header;
  out.close();
  const std::string message = expect_error([&] { SafetensorsFile::open(path); }, StatusCode::corrupt_file,
                                           {path, "tensor 'w': shape [1,1,1", "... (array of 100001 elements) must hold non-negative integers"});
  EXPECT_LT(message.size(), 300u + path.size()) << message;
}

// --- 2. Label counts -----------------------------------------------------------

TEST(HostileFilesTest, HugeNumLabelsIsRefusedBeforeAllocating) {
  expect_error([] { config_labels({{"num_labels", 2147483647}}); }, StatusCode::corrupt_file,
               {"config.json: num_labels (2147483647) is over the limit of 1000000 labels"});
  expect_error([] { config_labels({{"num_labels", 1000001}}); }, StatusCode::corrupt_file,
               {"num_labels (1000001) is over the limit of 1000000 labels"});
  expect_error([] { config_labels({{"num_labels", 4294967328ull}}); }, StatusCode::corrupt_file,
               {"config.json: key 'num_labels' = 4294967328 is out of range for an integer"});
  EXPECT_EQ(config_labels({{"num_labels", 1000}}).size(), 1000u);
}

TEST(HostileFilesTest, Id2LabelSizeAndKeysAreChecked) {
  json big = json::object();
  for (int i = 0; i <= 1000000; ++i) big[std::to_string(i)] = "x";
  expect_error([&] { config_labels({{"id2label", big}}); }, StatusCode::corrupt_file,
               {"config.json: id2label names 1000001 labels, over the limit of 1000000"});
  for (const char* key : {"+1", " 1", "1 ", "-0", "99999999999999999999", "0x1", ""}) {
    expect_error([&] { config_labels({{"id2label", {{"0", "a"}, {key, "b"}}}}); }, StatusCode::corrupt_file,
                 {"config.json: id2label must name each id 0..1 once with a string; found \""});
  }
  EXPECT_EQ(config_labels({{"id2label", {{"1", "b"}, {"0", "a"}}}}), (std::vector<std::string>{"a", "b"}));
}

// --- 3. Size limits and regular files ---------------------------------------

TEST(HostileFilesTest, OversizedJsonFileIsRefusedBeforeReading) {
  ScratchDir dir;
  {
    std::ofstream out(dir.file("config.json"), std::ios::binary);
    out << "{}";
    out << std::string((16u << 20) - 1, ' ');  // 16 MiB + 1 byte
  }
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               {dir.file("config.json") + ": file is 16777217 bytes, over the limit of 16777216 bytes for a JSON file"});
  std::filesystem::resize_file(dir.file("config.json"), 16u << 20);  // exactly the limit: read
  write_text(dir.file("preprocessor_config.json"), "{}");
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::not_found, {"no weights"});
}

// Opens the FIFO for writing after a while, so that a reader wrongly blocked
// in open() wakes up and the test fails instead of hanging.
class FifoWatchdog {
 public:
  explicit FifoWatchdog(std::string path) : path_(std::move(path)), thread_([this] { run(); }) {}
  ~FifoWatchdog() {
    done_ = true;
    thread_.join();
  }

 private:
  void run() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (done_) return;
    ADD_FAILURE() << "a reader blocked on the FIFO " << path_;
    const int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  std::string path_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

TEST(HostileFilesTest, FifoAsConfigJsonIsRefusedWithoutBlocking) {
  ScratchDir dir;
  const std::string path = dir.file("config.json");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  FifoWatchdog watchdog(path);
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::io_error, {path + ": not a regular file"});
  expect_error([&] { read_json_file(path); }, StatusCode::io_error, {path + ": not a regular file"});
}

TEST(HostileFilesTest, FifoAsPreprocessorConfigIsRefusedWithoutBlocking) {
  ScratchDir dir;
  write_text(dir.file("config.json"), kConfig);
  const std::string path = dir.file("preprocessor_config.json");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  FifoWatchdog watchdog(path);
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::io_error, {path + ": not a regular file"});
}

TEST(HostileFilesTest, FifoAsWeightsIsRefusedWithoutBlocking) {
  ScratchDir dir;
  write_text(dir.file("config.json"), kConfig);
  const std::string path = dir.file("model.safetensors");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  FifoWatchdog watchdog(path);
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::io_error, {path + ": not a regular file"});
}

TEST(HostileFilesTest, SafetensorsHeaderLengthIsBounded) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  auto write_length = [&](uint64_t length) {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i) & 0xff));
    out << "{}";
  };
  write_length(~uint64_t{0});
  expect_error([&] { SafetensorsFile::open(path); }, StatusCode::corrupt_file,
               {path + ": header length 18446744073709551615 exceeds the limit of 100000000 bytes"});
  write_length(100'000'001);
  expect_error([&] { SafetensorsFile::open(path); }, StatusCode::corrupt_file,
               {"header length 100000001 exceeds the limit of 100000000 bytes"});
  write_length(3);
  expect_error([&] { SafetensorsFile::open(path); }, StatusCode::corrupt_file,
               {path + ": header length 3 runs past the end of the 10-byte file"});
}

// --- 4. Preprocessing constants ---------------------------------------------

TEST(HostileFilesTest, DegenerateImageStdIsRefused) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  for (const double s : {1e-45, 0.0, -0.0, -0.5, 1e-7, 1e7, inf, -inf, nan}) {
    expect_error([&] { PreprocessConfig::from_json({{"image_std", {0.5, s, 0.5}}}); }, StatusCode::corrupt_file,
                 {"preprocessor_config.json: \"image_std[1]\" must be a number in [1e-06, 1e+06], found "});
    expect_error([&] { PreprocessConfig::from_json({{"image_std", s}}); }, StatusCode::corrupt_file,
                 {"\"image_std\" must be a number in [1e-06, 1e+06], found "});
  }
  expect_error([] { PreprocessConfig::from_json({{"image_std", {0.5, 1e-45, 0.5}}}); }, StatusCode::corrupt_file,
               {"found 1e-45"});
  EXPECT_NO_THROW(PreprocessConfig::from_json({{"image_std", {58.395, 57.12, 57.375}}}));
}

TEST(HostileFilesTest, DegenerateImageStdInAFileNamesFileAndKey) {
  ScratchDir dir;
  write_text(dir.file("config.json"), kConfig);
  write_text(dir.file("preprocessor_config.json"), R"({"image_std": [0.5, 1e-45, 0.5]})");
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               {dir.file("preprocessor_config.json") +
                ": \"image_std[1]\" must be a number in [1e-06, 1e+06], found 1e-45"});
}

TEST(HostileFilesTest, NonFiniteImageMeanIsRefused) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  for (const double m : {inf, -inf, nan, 1e300, -1e7}) {
    expect_error([&] { PreprocessConfig::from_json({{"image_mean", {0.5, 0.5, m}}}); }, StatusCode::corrupt_file,
                 {"\"image_mean[2]\" must be a finite number in [-1e+06, 1e+06], found "});
  }
  expect_error([] { PreprocessConfig::from_json({{"image_mean", "0.5"}}); }, StatusCode::corrupt_file,
               {"\"image_mean\" must be 3 numbers (one per RGB channel), found \"0.5\""});
  EXPECT_NO_THROW(PreprocessConfig::from_json({{"image_mean", {-123.675, 0.0, 116.28}}}));
}

TEST(HostileFilesTest, DegenerateRescaleFactorIsRefused) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  for (const double f : {0.0, -1.0 / 255, inf, nan, 1e-300, 1e7}) {
    expect_error([&] { PreprocessConfig::from_json({{"rescale_factor", f}}); }, StatusCode::corrupt_file,
                 {"\"rescale_factor\" must be a number in [1e-12, 1e+06], found "});
  }
  EXPECT_DOUBLE_EQ(PreprocessConfig::from_json({{"rescale_factor", 1.0}}).rescale_factor, 1.0);
}

// --- 5. Output sizes --------------------------------------------------------

TEST(HostileFilesTest, AbsurdSizeIsRefusedWhenRead) {
  const std::string range = " must be an integer in [1, 8192], found ";
  expect_error([] { PreprocessConfig::from_json({{"size", {{"height", 32768}, {"width", 32768}}}}); },
               StatusCode::corrupt_file, {"\"size.height\"" + range + "32768"});
  expect_error([] { PreprocessConfig::from_json({{"size", 32768}}); }, StatusCode::corrupt_file,
               {"\"size\"" + range + "32768"});
  expect_error([] { PreprocessConfig::from_json({{"size", {224, 1 << 20}}}); }, StatusCode::corrupt_file,
               {"\"size[1]\"" + range + "1048576"});
  expect_error([] { PreprocessConfig::from_json({{"size", 800}, {"max_size", 100000}}); }, StatusCode::corrupt_file,
               {"\"max_size\"" + range + "100000"});
  // Beyond int and int64 range: no wrapping to a small or negative side.
  const uint64_t beyond_int = 4294967328ull;  // 2^32 + 32
  for (const char* key : {"height", "width", "shortest_edge", "longest_edge"}) {
    json size = {{"height", 224}, {"width", 224}};
    if (std::string(key).find("edge") != std::string::npos) size = {{"shortest_edge", 800}, {"longest_edge", 1333}};
    size[key] = beyond_int;
    expect_error([&] { PreprocessConfig::from_json({{"size", size}}); }, StatusCode::corrupt_file,
                 {"\"size." + std::string(key) + "\"" + range + "4294967328"});
    size[key] = std::numeric_limits<uint64_t>::max();
    expect_error([&] { PreprocessConfig::from_json({{"size", size}}); }, StatusCode::corrupt_file,
                 {"\"size." + std::string(key) + "\"" + range + "18446744073709551615"});
    size[key] = std::numeric_limits<int64_t>::min();
    expect_error([&] { PreprocessConfig::from_json({{"size", size}}); }, StatusCode::corrupt_file,
                 {"\"size." + std::string(key) + "\"" + range + "-9223372036854775808"});
    size[key] = 224.5;
    expect_error([&] { PreprocessConfig::from_json({{"size", size}}); }, StatusCode::corrupt_file,
                 {"\"size." + std::string(key) + "\"" + range + "224.5"});
  }
  expect_error([&] { PreprocessConfig::from_json({{"size", beyond_int}}); }, StatusCode::corrupt_file,
               {"\"size\"" + range + "4294967328"});
  const PreprocessConfig largest = PreprocessConfig::from_json({{"size", {{"height", 8192}, {"width", 8192}}}});
  EXPECT_EQ(largest.height, 8192);
  EXPECT_EQ(largest.width, 8192);
}

TEST(HostileFilesTest, AbsurdSizeInAFileNamesFileAndKey) {
  ScratchDir dir;
  write_text(dir.file("config.json"), kConfig);
  write_text(dir.file("preprocessor_config.json"), R"({"size": {"height": 4294967328, "width": 224}})");
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               {dir.file("preprocessor_config.json") +
                ": \"size.height\" must be an integer in [1, 8192], found 4294967328"});
}

TEST(HostileFilesTest, ComputedOutputSizeIsBoundedInPixels) {
  const PreprocessConfig cfg = PreprocessConfig::from_json({{"size", {{"shortest_edge", 8192}}}});
  int w = 0, h = 0;
  // 8192 x 24576: each side within 32768, but 201 million pixels.
  expect_error([&] { output_size(cfg, 3000, 1000, &w, &h); }, StatusCode::invalid_argument,
               {"output_size: resizing 3000x1000 gives 24576x8192, over the limit of 67108864 pixels"});
  output_size(cfg, 1000, 1000, &w, &h);
  EXPECT_EQ(w, 8192);
  EXPECT_EQ(h, 8192);
}

// --- 6. Inputs found by the fuzz targets (tests/fuzz) -------------------------

// A safetensors file's bytes: the 8-byte little-endian header length, the header, the data.
std::string safetensors_bytes(const std::string& header, const std::string& data = "") {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>(header.size() >> (8 * i) & 0xff);
  return bytes + header + data;
}

TEST(HostileFilesTest, SafetensorsFromMemoryReadsAsOpenDoes) {
  const float values[2] = {1.5f, -2.0f};
  const std::string bytes = safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                              std::string(reinterpret_cast<const char*>(values), 8));
  const auto file = SafetensorsFile::from_memory(bytes.data(), bytes.size(), "w.safetensors");
  ASSERT_EQ(file->entries().size(), 1u);
  const Tensor w = file->view(*file->find("w"));
  EXPECT_EQ(w.shape(), Shape({2}));
  EXPECT_EQ(w.f32()[0], 1.5f);
  EXPECT_EQ(w.f32()[1], -2.0f);
  expect_error([&] { SafetensorsFile::from_memory(bytes.data(), 7, "w.safetensors"); }, StatusCode::corrupt_file,
               {"w.safetensors: file is 7 bytes, too short for the 8-byte header length"});
}

// An empty tensor whose dimensions overflow int64 before the zero is reached:
// Tensor::numel() multiplies them in order, so its count would overflow.
TEST(HostileFilesTest, SafetensorsShapeWhoseRunningProductOverflowsIsRefused) {
  const std::string big = "4611686018427387904";  // 2^62
  const std::string bytes = safetensors_bytes(R"({"w":{"dtype":"F32","shape":[)" + big + "," + big +
                                              R"(,0],"data_offsets":[0,0]}})");
  expect_error([&] { SafetensorsFile::from_memory(bytes.data(), bytes.size(), "w.safetensors"); },
               StatusCode::corrupt_file,
               {"w.safetensors: tensor 'w': shape [" + big + ", " + big + ", 0] is too large"});
  // With the zero first every running product is zero: empty, and read.
  const std::string zero_first = safetensors_bytes(R"({"w":{"dtype":"F32","shape":[0,)" + big + "," + big +
                                                   R"(],"data_offsets":[0,0]}})");
  const auto file = SafetensorsFile::from_memory(zero_first.data(), zero_first.size(), "w.safetensors");
  EXPECT_EQ(file->view(file->entries()[0]).numel(), 0);
}

}  // namespace
}  // namespace visionrt::io
