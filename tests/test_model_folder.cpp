// Model folders: config.json, preprocessor_config.json and weights are found,
// and missing or malformed pieces are reported with the file and key at fault.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scratch_dir.hpp"
#include "io/model_folder.hpp"
#include "visionrt/status.hpp"

namespace visionrt::io {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

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

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// One F32 tensor "w" of shape [2, 2] with random values, laid out as the
// reference writer does (header padded with spaces to 8 bytes).
std::vector<float> write_weights(const std::string& path) {
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> values(4);
  for (float& v : values) v = dist(rng);
  std::string header = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(header.size() >> (8 * i) & 0xff));
  out << header;
  out.write(reinterpret_cast<const char*>(values.data()), sizeof(float) * values.size());
  return values;
}

const char* const kConfig = R"({
  "model_type": "vit", "hidden_size": 768, "layer_norm_eps": 1e-12,
  "qkv_bias": true, "hidden_act": "gelu", "num_labels": null
})";

TEST(ModelFolderTest, OpensAFolder) {
  ScratchDir dir;
  write_text(dir.file("config.json"), kConfig);
  write_text(dir.file("preprocessor_config.json"),
             R"({"do_resize": true, "size": {"height": 384, "width": 384},
                 "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})");
  const std::vector<float> values = write_weights(dir.file("model.safetensors"));
  const ModelFolder folder = ModelFolder::open(dir.str());
  EXPECT_EQ(folder.dir, dir.str());
  EXPECT_EQ(folder.config.at("model_type"), "vit");
  EXPECT_EQ(folder.preprocess.height, 384);
  EXPECT_EQ(folder.preprocess.width, 384);
  const Tensor w = folder.weights.f32("w", {2, 2});
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(w.f32()[i], values[i]);
}

TEST(ModelFolderTest, PreprocessingDefaultsWithoutItsConfig) {
  ScratchDir dir;
  write_text(dir.file("config.json"), kConfig);
  write_weights(dir.file("model.safetensors"));
  const ModelFolder folder = ModelFolder::open(dir.str());
  EXPECT_EQ(folder.preprocess.height, PreprocessConfig().height);
  EXPECT_EQ(folder.preprocess.width, PreprocessConfig().width);
}

TEST(ModelFolderTest, MissingFolder) {
  ScratchDir dir;
  const std::string absent = dir.file("absent");
  expect_error([&] { ModelFolder::open(absent); }, StatusCode::not_found,
               "model folder '" + absent + "' does not exist");
}

TEST(ModelFolderTest, FileInsteadOfFolder) {
  ScratchDir dir;
  write_text(dir.file("config.json"), kConfig);
  expect_error([&] { ModelFolder::open(dir.file("config.json")); }, StatusCode::not_found,
               "is not a folder");
}

TEST(ModelFolderTest, FolderWithoutConfig) {
  ScratchDir dir;
  write_weights(dir.file("model.safetensors"));
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::not_found, "has no config.json");
}

TEST(ModelFolderTest, MalformedConfig) {
  ScratchDir dir;
  write_weights(dir.file("model.safetensors"));
  write_text(dir.file("config.json"), R"({"hidden_size": 768,})");
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               dir.file("config.json") + ": not valid JSON");
}

TEST(ModelFolderTest, ConfigWithDuplicateKey) {
  ScratchDir dir;
  write_weights(dir.file("model.safetensors"));
  write_text(dir.file("config.json"), R"({"vision": {"hidden_size": 768, "hidden_size": 384}})");
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               "the key 'hidden_size' appears twice");
}

TEST(ModelFolderTest, ConfigThatIsNotAnObject) {
  ScratchDir dir;
  write_weights(dir.file("model.safetensors"));
  write_text(dir.file("config.json"), "[768]");
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               "must hold a JSON object");
}

TEST(ModelFolderTest, MalformedPreprocessorConfig) {
  ScratchDir dir;
  write_weights(dir.file("model.safetensors"));
  write_text(dir.file("config.json"), kConfig);
  write_text(dir.file("preprocessor_config.json"), "{\"size\": ");
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::corrupt_file,
               "preprocessor_config.json: not valid JSON");
}

TEST(ModelFolderTest, FolderWithoutWeights) {
  ScratchDir dir;
  write_text(dir.file("config.json"), kConfig);
  expect_error([&] { ModelFolder::open(dir.str()); }, StatusCode::not_found, "model.safetensors");
}

TEST(ModelFolderTest, ReadJsonFileReportsMissingFile) {
  ScratchDir dir;
  expect_error([&] { read_json_file(dir.file("nothing.json")); }, StatusCode::not_found,
               "nothing.json: file does not exist");
  expect_error([&] { read_json_file(dir.str()); }, StatusCode::io_error, "is a folder");
}

TEST(ModelFolderTest, TypedConfigReads) {
  const json config = json::parse(kConfig);
  EXPECT_EQ(config_int(config, "hidden_size"), 768);
  EXPECT_EQ(config_int(config, "num_layers", 12), 12);
  EXPECT_EQ(config_int(config, "num_labels", 1000), 1000);  // null means the default
  EXPECT_EQ(config_double(config, "layer_norm_eps", 1e-6), 1e-12);
  EXPECT_EQ(config_double(config, "hidden_size", 0.0), 768.0);  // integers are numbers too
  EXPECT_EQ(config_double(config, "dropout", 0.25), 0.25);
  EXPECT_TRUE(config_bool(config, "qkv_bias", false));
  EXPECT_FALSE(config_bool(config, "use_mask", false));
  EXPECT_EQ(config_string(config, "hidden_act", "relu"), "gelu");
  EXPECT_EQ(config_string(config, "pooling", "cls"), "cls");
}

TEST(ModelFolderTest, TypedConfigReadsRefuseWrongTypes) {
  const json config = json::parse(kConfig);
  const json huge = json::parse(R"({"hidden_size": 4294967296, "depth": -3000000000})");
  expect_error([&] { config_int(config, "num_layers"); }, StatusCode::corrupt_file,
               "config.json: required key 'num_layers' is missing");
  expect_error([&] { config_int(config, "layer_norm_eps"); }, StatusCode::corrupt_file,
               "config.json: key 'layer_norm_eps' must be an integer");
  expect_error([&] { config_int(config, "hidden_act", 3); }, StatusCode::corrupt_file,
               "key 'hidden_act' must be an integer");
  expect_error([&] { config_int(huge, "hidden_size"); }, StatusCode::corrupt_file, "out of range");
  expect_error([&] { config_int(huge, "depth", 1); }, StatusCode::corrupt_file, "out of range");
  expect_error([&] { config_double(config, "hidden_act", 1.0); }, StatusCode::corrupt_file,
               "key 'hidden_act' must be a number");
  expect_error([&] { config_bool(config, "hidden_size", true); }, StatusCode::corrupt_file,
               "key 'hidden_size' must be true or false");
  expect_error([&] { config_string(config, "qkv_bias", "x"); }, StatusCode::corrupt_file,
               "key 'qkv_bias' must be a string");
}

}  // namespace
}  // namespace visionrt::io
