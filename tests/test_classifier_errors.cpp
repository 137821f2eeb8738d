// Bad model folders through the public API: one clear error each.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "model_folder_fixture.hpp"
#include "visionrt/visionrt.h"
#include "visionrt/visionrt.hpp"

namespace fs = std::filesystem;

namespace visionrt {
namespace {

const fs::path kFixture = fs::path(VISIONRT_SOURCE_DIR) / "tests/fixtures/vit/p16_d64";

class ClassifierErrorsTest : public ModelFolderFixture<Classifier> {
 protected:
  ClassifierErrorsTest() : ModelFolderFixture(kFixture) {}
};

// The one spelling of devices and precisions: every value round-trips,
// and nothing else parses (case, spaces and near misses included).
TEST(PublicNames, DevicesAndPrecisionsRoundTripAndNothingElseParses) {
  for (Device d : {Device::cpu, Device::cuda, Device::automatic}) {
    Device back = Device::cpu;
    EXPECT_TRUE(parse_device(device_name(d), &back)) << device_name(d);
    EXPECT_EQ(back, d);
  }
  for (Precision p : {Precision::fp32, Precision::bf16, Precision::fp16, Precision::tf32}) {
    Precision back = Precision::fp32;
    EXPECT_TRUE(parse_precision(precision_name(p), &back)) << precision_name(p);
    EXPECT_EQ(back, p);
  }
  EXPECT_STREQ(device_name(Device::automatic), "auto");
  EXPECT_STREQ(precision_name(Precision::bf16), "bf16");
  Device d;
  Precision p;
  for (const char* bad : {"", "CPU", "gpu", "cuda ", "automatic"}) EXPECT_FALSE(parse_device(bad, &d)) << bad;
  for (const char* bad : {"", "FP32", "fp8", "bfloat16", "fp16 "}) EXPECT_FALSE(parse_precision(bad, &p)) << bad;
}

TEST_F(ClassifierErrorsTest, MissingFolder) {
  fs::remove_all(dir_);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::not_found);
  EXPECT_NE(std::string(e.what()).find(dir_.string()), std::string::npos) << e.what();
}

TEST_F(ClassifierErrorsTest, UnsupportedArchitectureListsSupported) {
  auto j = config();
  j["architectures"] = {"DetrForSegmentation"};
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::unsupported);
  EXPECT_NE(std::string(e.what()).find("DetrForSegmentation"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("ViTForImageClassification"), std::string::npos) << e.what();
}

TEST_F(ClassifierErrorsTest, ConfigDisagreeingWithWeightsNamesTensorAndShapes) {
  auto j = config();
  j["intermediate_size"] = j["intermediate_size"].get<int>() + 4;
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::shape_mismatch);
  const std::string m = e.what();
  EXPECT_NE(m.find("intermediate.dense.weight"), std::string::npos) << m;
}

TEST_F(ClassifierErrorsTest, LabelCountDisagreeingWithHead) {
  auto j = config();
  for (int i = 5; i < 100; ++i) j["id2label"][std::to_string(i)] = "extra " + std::to_string(i);
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::shape_mismatch);
  const std::string m = e.what();
  EXPECT_NE(m.find("classifier.weight"), std::string::npos) << m;
  EXPECT_NE(m.find("[100, "), std::string::npos) << m;
}

TEST_F(ClassifierErrorsTest, Id2labelOutsideNumLabels) {
  auto j = config();
  j["id2label"]["7"] = "beyond";
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::corrupt_file);
  EXPECT_NE(std::string(e.what()).find("id2label"), std::string::npos) << e.what();
}

TEST_F(ClassifierErrorsTest, NumLabelsDisagreeingWithId2label) {
  auto j = config();
  j["num_labels"] = 4;
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::corrupt_file);
  EXPECT_NE(std::string(e.what()).find("num_labels"), std::string::npos) << e.what();
}

TEST_F(ClassifierErrorsTest, WrongTypedConfigValue) {
  auto j = config();
  j["hidden_size"] = "large";
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::corrupt_file);
  EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos) << e.what();
}

TEST_F(ClassifierErrorsTest, UnknownActivation) {
  auto j = config();
  j["hidden_act"] = "swishy";
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::unsupported);
  EXPECT_NE(std::string(e.what()).find("swishy"), std::string::npos) << e.what();
}

TEST_F(ClassifierErrorsTest, CApiReportsStatusAndMessage) {
  fs::remove(dir_ / "model.safetensors");
  vrt_classifier* c = nullptr;
  EXPECT_EQ(vrt_classifier_load(dir_.string().c_str(), nullptr, &c), VRT_NOT_FOUND);
  EXPECT_EQ(c, nullptr);
  EXPECT_NE(std::string(vrt_last_error()).find("model.safetensors"), std::string::npos) << vrt_last_error();
  EXPECT_EQ(vrt_classifier_load(nullptr, nullptr, &c), VRT_INVALID_ARGUMENT);
}

TEST_F(ClassifierErrorsTest, CApiClassifiesLikeCpp) {
  vrt_options o;
  vrt_options_default(&o);
  o.device = VRT_DEVICE_CPU;
  vrt_classifier* c = nullptr;
  ASSERT_EQ(vrt_classifier_load(dir_.string().c_str(), &o, &c), VRT_OK) << vrt_last_error();
  const Classifier cpp = Classifier::load(dir_.string(), {Device::cpu});
  const int h = cpp.info().image_height, w = cpp.info().image_width, L = cpp.info().num_labels;
  std::vector<float> px(size_t(3) * h * w);
  std::mt19937 rng(7);
  std::normal_distribution<float> d;
  for (float& v : px) v = d(rng);
  std::vector<float> got(L);
  ASSERT_EQ(vrt_classifier_logits(c, px.data(), 1, h, w, got.data()), VRT_OK) << vrt_last_error();
  EXPECT_EQ(got, cpp.logits(px.data(), 1, h, w));
  EXPECT_EQ(vrt_classifier_logits(c, px.data(), 1, h + 16, w, got.data()), VRT_SHAPE_MISMATCH);
  vrt_classifier_free(c);
}

}  // namespace
}  // namespace visionrt
