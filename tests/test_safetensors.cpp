// The safetensors reader and the weight store: values survive a round trip
// through files written the way the reference writer lays them out, and every
// kind of damaged file is refused with one error that names the problem.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scratch_dir.hpp"
#include "core/half.hpp"
#include "io/safetensors.hpp"
#include "visionrt/status.hpp"

namespace visionrt::io {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct StoredTensor {
  std::string name;
  std::string dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};

template <typename T>
std::vector<uint8_t> to_bytes(const std::vector<T>& values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// Writes `header_size` as the length prefix, then the header text and data as given,
// so that tests can state a damaged layout byte for byte.
void write_raw(const std::string& path, uint64_t header_size, const std::string& header,
               const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(header_size >> (8 * i) & 0xff));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

void write_raw(const std::string& path, const std::string& header, const std::vector<uint8_t>& data) {
  write_raw(path, header.size(), header, data);
}

// Writes a valid file the way the reference writer does: tensors back to back
// in the data section, the header padded with spaces to a multiple of 8 bytes.
void write_safetensors(const std::string& path, const std::vector<StoredTensor>& tensors,
                       const json& metadata = nullptr) {
  json header = json::object();
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  std::vector<uint8_t> data;
  for (const StoredTensor& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  write_raw(path, text, data);
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  std::vector<float> out(n);
  for (float& v : out) v = dist(rng);
  return out;
}

StoredTensor f32_tensor(const std::string& name, const Shape& shape, uint32_t seed) {
  return {name, "F32", shape, to_bytes(random_floats(static_cast<size_t>(shape_numel(shape)), seed))};
}

// Expects `body` to throw visionrt::Error with `code` and `fragment` in its message.
template <typename Body>
void expect_error(Body&& body, StatusCode code, const std::string& fragment) {
  try {
    body();
    ADD_FAILURE() << "no error; expected one containing \"" << fragment << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message \"" << e.what() << "\" lacks \"" << fragment << "\"";
  }
}

void expect_corrupt(const std::string& path, const std::string& fragment) {
  expect_error([&] { SafetensorsFile::open(path); }, StatusCode::corrupt_file, fragment);
  // Every message names the file it is about.
  expect_error([&] { SafetensorsFile::open(path); }, StatusCode::corrupt_file, path);
}

const std::vector<uint8_t> kEightBytes = to_bytes(std::vector<float>{1.5f, -0.25f});

TEST(SafetensorsTest, ReadsF32F16BF16Values) {
  ScratchDir dir;
  const std::vector<float> values = random_floats(24, 7);
  std::vector<uint16_t> halves, bfloats;
  for (float v : values) {
    halves.push_back(float_to_half(v));
    bfloats.push_back(float_to_bf16(v));
  }
  const std::string path = dir.file("model.safetensors");
  write_safetensors(path,
                    {{"a.f32", "F32", {2, 3, 4}, to_bytes(values)},
                     {"b.f16", "F16", {4, 6}, to_bytes(halves)},
                     {"c.bf16", "BF16", {24}, to_bytes(bfloats)},
                     {"d.empty", "F32", {0, 5}, {}}},
                    json{{"format", "pt"}});
  const auto file = SafetensorsFile::open(path);
  ASSERT_EQ(file->entries().size(), 4u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->find("missing"), nullptr);

  const Tensor a = file->view(*file->find("a.f32"));
  EXPECT_EQ(a.dtype(), DType::f32);
  EXPECT_EQ(a.shape(), (Shape{2, 3, 4}));
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(a.ptr<const float>()[i], values[i]);

  // Converted values equal the stored half/bfloat16 numbers exactly, and lie
  // within half a unit in the last place of the originals: 2^-11 relative for
  // F16 (11 significant bits; 2^-25 absolute in its subnormal range), 2^-8 for BF16.
  const Tensor b = to_f32(file->view(*file->find("b.f16")));
  const Tensor c = to_f32(file->view(*file->find("c.bf16")));
  EXPECT_EQ(file->view(*file->find("b.f16")).dtype(), DType::f16);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(b.f32()[i], half_to_float(halves[i]));
    EXPECT_LE(std::fabs(b.f32()[i] - values[i]),
              std::max(std::fabs(values[i]) * std::ldexp(1.f, -11), std::ldexp(1.f, -25)));
    EXPECT_EQ(c.f32()[i], bf16_to_float(bfloats[i]));
    EXPECT_LE(std::fabs(c.f32()[i] - values[i]), std::fabs(values[i]) * std::ldexp(1.f, -8));
  }
  EXPECT_EQ(file->view(*file->find("d.empty")).numel(), 0);
}

TEST(SafetensorsTest, ConvertsKnownHalfAndBfloat16Patterns) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  // 1, -2, 1/3 rounded to F16, the smallest subnormal; 1, pi rounded to BF16, -0.5.
  write_safetensors(path, {{"h", "F16", {4}, to_bytes(std::vector<uint16_t>{0x3C00, 0xC000, 0x3555, 0x0001})},
                           {"b", "BF16", {3}, to_bytes(std::vector<uint16_t>{0x3F80, 0x4049, 0xBF00})}});
  const auto file = SafetensorsFile::open(path);
  const Tensor h = to_f32(file->view(*file->find("h")));
  EXPECT_EQ(h.f32()[0], 1.f);
  EXPECT_EQ(h.f32()[1], -2.f);
  EXPECT_EQ(h.f32()[2], 0.333251953125f);
  EXPECT_EQ(h.f32()[3], std::ldexp(1.f, -24));
  const Tensor b = to_f32(file->view(*file->find("b")));
  EXPECT_EQ(b.f32()[0], 1.f);
  EXPECT_EQ(b.f32()[1], 3.140625f);
  EXPECT_EQ(b.f32()[2], -0.5f);
}

// An empty tensor may have no data at all (a [0, 7] entry of a file): its
// conversion reads nothing (a fuzzer found memcpy handed a null pointer).
TEST(SafetensorsTest, EmptyTensorsConvertWithoutData) {
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    const Tensor f = to_f32(Tensor::view(t, {0, 7}, nullptr));
    EXPECT_EQ(f.numel(), 0);
    EXPECT_EQ(f.shape(), (Shape{0, 7}));
  }
  convert_floats(nullptr, DType::f32, nullptr, DType::f32, 0);
  EXPECT_THROW(convert_floats(nullptr, DType::i64, nullptr, DType::f32, 0), Error);
}

TEST(SafetensorsTest, ViewKeepsTheFileMapped) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  const StoredTensor w = f32_tensor("w", {3, 5}, 11);
  write_safetensors(path, {w});
  auto file = SafetensorsFile::open(path);
  const Tensor view = file->view(*file->find("w"));
  file.reset();
  EXPECT_EQ(std::memcmp(view.data(), w.bytes.data(), w.bytes.size()), 0);
}

TEST(SafetensorsTest, CopiesTensorsMisalignedForTheirType) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  // An unpadded 49-byte header puts the data at file offset 57, misaligned for F32.
  const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_NE((8 + header.size()) % 4, 0u);
  write_raw(path, header, kEightBytes);
  const auto file = SafetensorsFile::open(path);
  const Tensor w = file->view(*file->find("w"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data()) % 4, 0u);
  EXPECT_EQ(w.f32()[0], 1.5f);
  EXPECT_EQ(w.f32()[1], -0.25f);
}

TEST(SafetensorsTest, AcceptsAFileWithoutTensors) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, "{}      ", {});
  EXPECT_TRUE(SafetensorsFile::open(path)->entries().empty());
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  ScratchDir dir;
  expect_error([&] { SafetensorsFile::open(dir.file("absent.safetensors")); }, StatusCode::not_found,
               "absent.safetensors");
}

TEST(SafetensorsTest, FolderIsAnIoError) {
  ScratchDir dir;
  expect_error([&] { SafetensorsFile::open(dir.str()); }, StatusCode::io_error, "not a regular file");
}

TEST(SafetensorsTest, RefusesFileShorterThanTheLengthPrefix) {
  ScratchDir dir;
  const std::string path = dir.file("short.safetensors");
  std::ofstream(path, std::ios::binary) << "\x10\0\0\0";
  expect_corrupt(path, "too short");
}

TEST(SafetensorsTest, RefusesFileCutInTheDataSection) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_safetensors(path, {f32_tensor("w", {4, 4}, 3)});
  fs::resize_file(path, fs::file_size(path) - 6);
  expect_corrupt(path, "run past the end");
}

TEST(SafetensorsTest, RefusesHeaderLongerThanTheFile) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, 1000, "{}", {});
  expect_corrupt(path, "runs past the end");
}

TEST(SafetensorsTest, RefusesHeaderOverTheSizeLimit) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, 200'000'000, "{}", {});
  expect_corrupt(path, "exceeds the limit");
}

TEST(SafetensorsTest, RefusesEmptyHeader) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, "", kEightBytes);
  expect_corrupt(path, "header length is 0");
}

TEST(SafetensorsTest, RefusesMalformedJson) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"w":{"dtype":"F32","shape":[2],)", {});
  expect_corrupt(path, "not valid JSON");
}

TEST(SafetensorsTest, RefusesHeaderThatIsNotAnObject) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, "[1, 2]  ", {});
  expect_corrupt(path, "must be a JSON object");
}

TEST(SafetensorsTest, RefusesDuplicateTensorNames) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path,
            R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
            R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            kEightBytes);
  expect_corrupt(path, "the key 'w' appears twice");
}

TEST(SafetensorsTest, RefusesDuplicateKeysInsideAnEntry) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"w":{"dtype":"F32","shape":[2],"dtype":"F16","data_offsets":[0,8]}})",
            kEightBytes);
  expect_corrupt(path, "the key 'dtype' appears twice");
}

TEST(SafetensorsTest, RefusesUnknownDtype) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"w":{"dtype":"XYZ","shape":[2],"data_offsets":[0,8]}})", kEightBytes);
  expect_corrupt(path, "tensor 'w': unknown dtype \"XYZ\"");
}

TEST(SafetensorsTest, RefusesFormatDtypeVisionrtDoesNotHandleAsUnsupported) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", kEightBytes);
  expect_error([&] { SafetensorsFile::open(path); }, StatusCode::unsupported,
               "tensor 'w' has dtype F8_E4M3");
}

TEST(SafetensorsTest, RefusesShapeThatDoesNotMatchTheByteRange) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kEightBytes);
  expect_corrupt(path, "shape [3] of F32 needs 12 bytes, but data_offsets [0,8] hold 8");
}

TEST(SafetensorsTest, RefusesShapeWhoseSizeOverflows) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path,
            R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
            kEightBytes);
  expect_corrupt(path, "too large");
}

TEST(SafetensorsTest, RefusesOffsetsPastTheEnd) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", kEightBytes);
  expect_corrupt(path, "data_offsets [0,16] run past the end of the 8-byte data section");
}

TEST(SafetensorsTest, RefusesOffsetsThatEndBeforeTheyBegin) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", kEightBytes);
  expect_corrupt(path, "end before they begin");
}

TEST(SafetensorsTest, RefusesOverlappingTensors) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path,
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            to_bytes(std::vector<float>{1, 2, 3}));
  expect_corrupt(path, "tensor 'b' (bytes 4..12) overlaps tensor 'a' (bytes 0..8)");
}

TEST(SafetensorsTest, RefusesGapBetweenTensors) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path,
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
            to_bytes(std::vector<float>{1, 2, 3}));
  expect_corrupt(path, "bytes 4..8 of the data section belong to no tensor");
}

TEST(SafetensorsTest, RefusesTrailingBytesAfterTheLastTensor) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", kEightBytes);
  expect_corrupt(path, "the last 4 bytes of the 8-byte data section belong to no tensor");
}

TEST(SafetensorsTest, RefusesNegativeOrNonIntegerShapes) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kEightBytes);
  expect_corrupt(path, "tensor 'w': shape [-2] must hold non-negative integers");
  write_raw(path, R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", kEightBytes);
  expect_corrupt(path, "must hold non-negative integers");
  write_raw(path, R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", kEightBytes);
  expect_corrupt(path, "\"shape\" must be an array");
}

TEST(SafetensorsTest, RefusesMalformedEntriesAndMetadata) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", kEightBytes);
  expect_corrupt(path, "\"data_offsets\" must be two non-negative integers");
  write_raw(path, R"({"w":{"shape":[2],"data_offsets":[0,8]}})", kEightBytes);
  expect_corrupt(path, "\"dtype\" must be a string");
  write_raw(path, R"({"w":[1,2]})", kEightBytes);
  expect_corrupt(path, "entry must be a JSON object");
  write_raw(path, R"({"__metadata__":{"format":1},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
            kEightBytes);
  expect_corrupt(path, "__metadata__ value of 'format' must be a string");
}

// Random damage (changed bytes, cut files) must end in a valid file or one
// visionrt::Error, never in a crash or a read outside the mapping.
TEST(SafetensorsTest, SurvivesRandomDamage) {
  ScratchDir dir;
  const std::string good = dir.file("good.safetensors"), bad = dir.file("bad.safetensors");
  write_safetensors(good, {f32_tensor("a", {3, 4}, 1), f32_tensor("b", {5}, 2)}, json{{"k", "v"}});
  std::vector<char> original(fs::file_size(good));
  std::ifstream(good, std::ios::binary).read(original.data(), static_cast<std::streamsize>(original.size()));
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<char> damaged = original;
    const int changes = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < changes; ++i) damaged[rng() % damaged.size()] = static_cast<char>(rng());
    if (trial % 4 == 0) damaged.resize(rng() % damaged.size());
    std::ofstream(bad, std::ios::binary | std::ios::trunc)
        .write(damaged.data(), static_cast<std::streamsize>(damaged.size()));
    try {
      const auto file = SafetensorsFile::open(bad);
      for (const TensorEntry& e : file->entries()) {
        const Tensor t = file->view(e);
        EXPECT_EQ(t.nbytes(), e.end - e.begin);
      }
    } catch (const Error& e) {
      EXPECT_TRUE(e.code() == StatusCode::corrupt_file || e.code() == StatusCode::unsupported)
          << e.what();
    }
  }
}

TEST(SafetensorsTest, WeightStoreReadsASingleFile) {
  ScratchDir dir;
  const std::vector<float> values = random_floats(6, 5);
  std::vector<uint16_t> halves;
  for (float v : values) halves.push_back(float_to_half(v));
  write_safetensors(dir.file("model.safetensors"),
                    {{"w", "F16", {2, 3}, to_bytes(halves)}, f32_tensor("b", {3}, 9)});
  const WeightStore store = WeightStore::open_folder(dir.str());
  EXPECT_EQ(store.names(), (std::vector<std::string>{"b", "w"}));
  EXPECT_TRUE(store.contains("w"));
  EXPECT_FALSE(store.contains("x"));
  EXPECT_EQ(store.raw("w").dtype(), DType::f16);
  const Tensor w = store.f32("w", {2, 3});
  ASSERT_EQ(w.dtype(), DType::f32);
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(w.f32()[i], half_to_float(halves[i]));
}

TEST(SafetensorsTest, WeightStoreNamesAMissingTensor) {
  ScratchDir dir;
  write_safetensors(dir.file("model.safetensors"), {f32_tensor("w", {2}, 1)});
  const WeightStore store = WeightStore::open_folder(dir.str());
  expect_error([&] { store.f32("encoder.layer.0.weight", {2}); }, StatusCode::not_found,
               "missing tensor 'encoder.layer.0.weight' in " + dir.str());
  expect_error([&] { store.raw("x"); }, StatusCode::not_found, "missing tensor 'x'");
}

TEST(SafetensorsTest, WeightStoreNamesBothShapesOnAMismatch) {
  ScratchDir dir;
  write_safetensors(dir.file("model.safetensors"), {f32_tensor("proj.weight", {2, 3}, 1)});
  const WeightStore store = WeightStore::open_folder(dir.str());
  expect_error([&] { store.f32("proj.weight", {3, 2}); }, StatusCode::shape_mismatch,
               "tensor 'proj.weight' has shape [2, 3], expected [3, 2]");
}

TEST(SafetensorsTest, WeightStoreRefusesToConvertIntegerTensors) {
  ScratchDir dir;
  write_safetensors(dir.file("model.safetensors"),
                    {{"ids", "I32", {2}, to_bytes(std::vector<int32_t>{4, -9})}});
  const WeightStore store = WeightStore::open_folder(dir.str());
  EXPECT_EQ(store.raw("ids").ptr<const int32_t>()[1], -9);
  expect_error([&] { store.f32("ids", {2}); }, StatusCode::unsupported, "tensor 'ids' is I32");
}

void write_index(const ScratchDir& dir, const json& weight_map) {
  std::ofstream(dir.file("model.safetensors.index.json"))
      << json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump(2);
}

TEST(SafetensorsTest, WeightStoreReadsShardsListedInTheIndex) {
  ScratchDir dir;
  const StoredTensor a = f32_tensor("a", {4}, 21), b = f32_tensor("b", {2, 2}, 22),
                     c = f32_tensor("c", {3}, 23);
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), {a, b});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), {c});
  write_index(dir, {{"a", "model-00001-of-00002.safetensors"},
                    {"b", "model-00001-of-00002.safetensors"},
                    {"c", "model-00002-of-00002.safetensors"}});
  const WeightStore store = WeightStore::open_folder(dir.str());
  EXPECT_EQ(store.names(), (std::vector<std::string>{"a", "b", "c"}));
  for (const StoredTensor* t : {&a, &b, &c}) {
    const Tensor loaded = store.f32(t->name, t->shape);
    EXPECT_EQ(std::memcmp(loaded.data(), t->bytes.data(), t->bytes.size()), 0) << t->name;
  }
}

TEST(SafetensorsTest, WeightStoreRefusesShardNamesOutsideTheFolder) {
  ScratchDir dir;
  fs::create_directories(dir.file("inner"));
  // A real file behind the escaping name, so only the name check can refuse it.
  write_safetensors(dir.file("outside.safetensors"), {f32_tensor("w", {2}, 1)});
  const std::string inner = dir.file("inner");
  for (const std::string shard : {"../outside.safetensors", "/etc/passwd",
                                  "sub/../../outside.safetensors", ""}) {
    std::ofstream(inner + "/model.safetensors.index.json")
        << json{{"weight_map", {{"w", shard}}}}.dump();
    expect_error([&] { WeightStore::open_folder(inner); }, StatusCode::corrupt_file,
                 "shard file name '" + shard + "' must be a relative name inside the model folder");
  }
}

TEST(SafetensorsTest, WeightStoreRefusesTensorStoredInTwoShards) {
  ScratchDir dir;
  write_safetensors(dir.file("s1.safetensors"), {f32_tensor("w", {2}, 1)});
  write_safetensors(dir.file("s2.safetensors"), {f32_tensor("w", {2}, 2), f32_tensor("v", {2}, 3)});
  write_index(dir, {{"w", "s1.safetensors"}, {"v", "s2.safetensors"}});
  expect_error([&] { WeightStore::open_folder(dir.str()); }, StatusCode::corrupt_file,
               "tensor 'w' is stored twice");
}

TEST(SafetensorsTest, WeightStoreRefusesIndexEntryItsShardLacks) {
  ScratchDir dir;
  write_safetensors(dir.file("s1.safetensors"), {f32_tensor("w", {2}, 1)});
  write_index(dir, {{"w", "s1.safetensors"}, {"v", "s1.safetensors"}});
  expect_error([&] { WeightStore::open_folder(dir.str()); }, StatusCode::corrupt_file,
               "tensor 'v' is listed in s1.safetensors, which does not hold it");
}

TEST(SafetensorsTest, WeightStoreReportsAMissingShard) {
  ScratchDir dir;
  write_index(dir, {{"w", "gone.safetensors"}});
  expect_error([&] { WeightStore::open_folder(dir.str()); }, StatusCode::not_found,
               "gone.safetensors");
}

TEST(SafetensorsTest, WeightStoreRefusesMalformedIndex) {
  ScratchDir dir;
  std::ofstream(dir.file("model.safetensors.index.json"))
      << R"({"weight_map": {"w": "a.safetensors", "w": "b.safetensors"}})";
  expect_error([&] { WeightStore::open_folder(dir.str()); }, StatusCode::corrupt_file,
               "'w' appears twice");
  std::ofstream(dir.file("model.safetensors.index.json")) << R"({"metadata": {}})";
  expect_error([&] { WeightStore::open_folder(dir.str()); }, StatusCode::corrupt_file,
               "\"weight_map\" must be an object");
}

TEST(SafetensorsTest, WeightStoreNeedsWeights) {
  ScratchDir dir;
  expect_error([&] { WeightStore::open_folder(dir.str()); }, StatusCode::not_found,
               "neither model.safetensors.index.json nor model.safetensors exists");
}

}  // namespace
}  // namespace visionrt::io
