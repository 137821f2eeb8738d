// visionrt::Detector through its public API: detections independent of the
// batch an image comes in, post-processing, and bad DETR folders.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "io/safetensors.hpp"
#include "model_folder_fixture.hpp"
#include "visionrt/visionrt.hpp"

namespace fs = std::filesystem;

namespace visionrt {
namespace {

const fs::path kRoot(VISIONRT_SOURCE_DIR);
const fs::path kFixture = kRoot / "tests/fixtures/detr/r18_timm";

TEST(DetectorTest, DetectionsDoNotDependOnTheOtherImagesInTheCall) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  const Detector det = Detector::load(kFixture.string(), {Device::cpu});
  // Two generated shape images (same size, so they share a batch), a
  // digit and a photo crop of other sizes.
  const std::vector<std::string> images = {
      (kRoot / "tests/fixtures/shapes-eval/shapes_00000.png").string(),
      (kRoot / "models/demo/images/digits/digit_3.png").string(),
      (kRoot / "tests/fixtures/shapes-eval/shapes_00001.png").string(),
      (kRoot / "tests/fixtures/frontend/flower.jpg").string()};
  const auto together = det.detect_files(images, 0.0f);
  ASSERT_EQ(together.size(), images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    SCOPED_TRACE(images[i]);
    const auto alone = det.detect_files({images[i]}, 0.0f)[0];
    ASSERT_EQ(alone.size(), together[i].size());
    for (size_t k = 0; k < alone.size(); ++k) {
      EXPECT_EQ(alone[k].id, together[i][k].id);
      // Only the matrix products' row blocking can differ between a batch
      // of one and of two: float32 rounding, far below a score's meaning.
      EXPECT_NEAR(alone[k].score, together[i][k].score, 1e-5);
      EXPECT_NEAR(alone[k].box.x0, together[i][k].box.x0, 1e-3);
      EXPECT_NEAR(alone[k].box.y0, together[i][k].box.y0, 1e-3);
      EXPECT_NEAR(alone[k].box.x1, together[i][k].box.x1, 1e-3);
      EXPECT_NEAR(alone[k].box.y1, together[i][k].box.y1, 1e-3);
    }
  }
}

TEST(DetectorTest, PostProcessFollowsTransformers) {
  const Detector det = Detector::load(kFixture.string(), {Device::cpu});
  DetrOutputs o;
  o.batch = 1;
  o.queries = 3;
  o.classes = static_cast<int>(det.label_names().size()) + 1;
  o.logits.assign(size_t(o.queries) * o.classes, 0.f);
  o.logits[0 * o.classes + 2] = 5.f;            // query 0: class 2, confident
  o.logits[1 * o.classes + o.classes - 1] = 9.f;  // query 1: "no object" wins, its best class is weak
  o.logits[2 * o.classes + 0] = 3.f;            // query 2: class 0
  o.boxes = {0.5f, 0.5f, 0.2f, 0.4f, 0.1f, 0.1f, 0.1f, 0.1f, 0.25f, 0.75f, 0.5f, 0.5f};
  const auto dets = det.post_process(o, 0, 200, 100, 0.3f);
  ASSERT_EQ(dets.size(), 2u);
  EXPECT_EQ(dets[0].id, 2);
  EXPECT_NEAR(dets[0].box.x0, 80.f, 1e-4);  // (0.5 - 0.1) * 200
  EXPECT_NEAR(dets[0].box.y0, 30.f, 1e-4);  // (0.5 - 0.2) * 100
  EXPECT_NEAR(dets[0].box.x1, 120.f, 1e-4);
  EXPECT_NEAR(dets[0].box.y1, 70.f, 1e-4);
  EXPECT_EQ(dets[1].id, 0);
  EXPECT_NEAR(dets[1].box.x0, 0.f, 1e-4);    // (0.25 - 0.25) * 200
  EXPECT_NEAR(dets[1].box.y0, 50.f, 1e-4);   // (0.75 - 0.25) * 100
  EXPECT_NEAR(dets[1].box.x1, 100.f, 1e-4);  // (0.25 + 0.25) * 200
  EXPECT_NEAR(dets[1].box.y1, 100.f, 1e-4);
  const double e5 = std::exp(5.0), e3 = std::exp(3.0), classes = o.classes;
  EXPECT_NEAR(dets[0].score, e5 / (e5 + classes - 1), 1e-6);
  EXPECT_NEAR(dets[1].score, e3 / (e3 + classes - 1), 1e-6);
}

// Rewrites `src` to `dst` with every tensor name passed through `rename`.
void write_renamed_safetensors(const std::string& src, const std::string& dst,
                               const std::function<std::string(std::string)>& rename) {
  const auto in = io::SafetensorsFile::open(src);
  std::map<std::string, const io::TensorEntry*> by_name;  // the data goes out in this order
  for (const io::TensorEntry& e : in->entries()) by_name[rename(e.name)] = &e;
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const auto& [name, e] : by_name) {
    const size_t bytes = e->end - e->begin;
    header[name] = {{"dtype", dtype_name(e->dtype)}, {"shape", e->shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');
  std::ofstream out(dst, std::ios::binary);
  const uint64_t len = text.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << text;
  for (const auto& [name, e] : by_name) {
    const Tensor t = in->view(*e);
    out.write(static_cast<const char*>(t.data()), static_cast<std::streamsize>(t.nbytes()));
  }
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

class DetectorNamesTest : public ModelFolderFixture<Detector> {
 protected:
  DetectorNamesTest() : ModelFolderFixture(kFixture) {}
};

TEST_F(DetectorNamesTest, LoadsTheModuleNamesOfTransformers5StateDicts) {
  // transformers 5 calls these modules o_proj, mlp.fc1/fc2 and backbone.model
  // in memory; save_pretrained maps them back, but a state dict saved by hand
  // keeps them.
  write_renamed_safetensors((kFixture / "model.safetensors").string(), (dir_ / "model.safetensors").string(),
                            [](std::string n) {
                              n = replace_all(n, "out_proj", "o_proj");
                              n = replace_all(n, ".fc1.", ".mlp.fc1.");
                              n = replace_all(n, ".fc2.", ".mlp.fc2.");
                              return replace_all(n, "model.backbone.conv_encoder.model.", "model.backbone.model.");
                            });
  const Detector published = Detector::load(kFixture.string(), {Device::cpu});
  const Detector renamed = Detector::load(dir_.string(), {Device::cpu});
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  std::vector<float> px(3 * 64 * 96);
  for (float& v : px) v = dist(rng);
  EXPECT_EQ(published.forward(px.data(), nullptr, 1, 64, 96).logits, renamed.forward(px.data(), nullptr, 1, 64, 96).logits);
}

class DetectorErrorsTest : public ModelFolderFixture<Detector> {
 protected:
  DetectorErrorsTest() : ModelFolderFixture(kFixture) {}
};

TEST_F(DetectorErrorsTest, UnsupportedBackboneListsSupported) {
  auto j = config();
  j["backbone_config"]["backbone"] = "efficientnet_b0";
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::unsupported);
  EXPECT_NE(std::string(e.what()).find("efficientnet_b0"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("resnet50"), std::string::npos) << e.what();
}

TEST_F(DetectorErrorsTest, NumLabelsDisagreeingWithHeadNamesTheTensor) {
  auto j = config();
  j["id2label"]["5"] = "extra";
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::shape_mismatch);
  EXPECT_NE(std::string(e.what()).find("class_labels_classifier.weight"), std::string::npos) << e.what();
}

TEST_F(DetectorErrorsTest, MissingTensorsAreNamed) {
  auto j = config();
  j["decoder_layers"] = j["decoder_layers"].get<int>() + 1;
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::not_found);
  EXPECT_NE(std::string(e.what()).find("model.decoder.layers."), std::string::npos) << e.what();
}

TEST_F(DetectorErrorsTest, ClassifierCheckpointIsRefused) {
  auto j = config();
  j["architectures"] = {"ViTForImageClassification"};
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::unsupported);
  EXPECT_NE(std::string(e.what()).find("DetrForObjectDetection"), std::string::npos) << e.what();
}

TEST_F(DetectorErrorsTest, UnsupportedPositionEncoding) {
  auto j = config();
  j["position_embedding_type"] = "learned";
  write_config(j);
  const Error e = load_error();
  EXPECT_EQ(e.code(), StatusCode::unsupported);
  EXPECT_NE(std::string(e.what()).find("learned"), std::string::npos) << e.what();
}

TEST_F(DetectorErrorsTest, TooSmallInputIsAShapeError) {
  const Detector det = Detector::load(dir_.string(), {Device::cpu});
  std::vector<float> px(3 * 16 * 16, 0.5f);
  try {
    det.forward(px.data(), nullptr, 1, 16, 16);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::shape_mismatch);
  }
}

}  // namespace
}  // namespace visionrt
