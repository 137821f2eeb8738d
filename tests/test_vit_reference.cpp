// End-to-end ViT logits against transformers' ViTForImageClassification.
// The fixtures (tools/fixtures/make_vit_fixtures.py) are randomly initialised models
// saved with save_pretrained, with pixel_values and the reference logits.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "io/safetensors.hpp"
#include "visionrt/visionrt.hpp"

namespace fs = std::filesystem;

namespace visionrt {
namespace {

const fs::path kFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures" / "vit";

// fp32 on both sides; the reference and the engine differ only in summation
// order (GEMM blocking, fused QKV, LayerNorm in double). Over a few layers
// that moves logits by ~1e-6; 1e-4 is the bound the project promises.
constexpr double kMaxLogitError = 1e-4;

double max_logit_error(const fs::path& dir) {
  const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
  const Tensor px = to_f32(ref->view(*ref->find("pixel_values")));
  const Tensor want = to_f32(ref->view(*ref->find("logits")));
  bool interpolate = false;
  std::ifstream meta(dir / "reference.json");
  if (meta) interpolate = nlohmann::json::parse(meta).value("interpolate_pos_encoding", false);
  Options opt;
  opt.device = Device::cpu;
  opt.interpolate_pos_encoding = interpolate;
  const Classifier c = Classifier::load(dir.string(), opt);
  const std::vector<float> got = c.logits(px.f32(), static_cast<int>(px.dim(0)),
                                          static_cast<int>(px.dim(2)), static_cast<int>(px.dim(3)));
  EXPECT_EQ(got.size(), static_cast<size_t>(want.numel()));
  double err = 0;
  for (size_t i = 0; i < got.size() && i < size_t(want.numel()); ++i) {
    EXPECT_TRUE(std::isfinite(got[i]));
    err = std::max(err, std::abs(double(got[i]) - want.f32()[i]));
  }
  return err;
}

std::vector<fs::path> fixture_dirs() {
  std::vector<fs::path> dirs;
  if (fs::is_directory(kFixtures))
    for (const auto& e : fs::directory_iterator(kFixtures))
      if (fs::exists(e.path() / "reference.safetensors") && e.path().filename() != "vit-base-patch16-224")
        dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(VitReferenceTest, CommittedConfigurationsMatchTransformers) {
  const auto dirs = fixture_dirs();
  ASSERT_GE(dirs.size(), 5u) << "reference fixtures missing under " << kFixtures;
  for (const fs::path& dir : dirs) {
    SCOPED_TRACE(dir.filename().string());
    const double err = max_logit_error(dir);
    std::cout << "  " << dir.filename().string() << ": max abs logit error " << err << "\n";
    EXPECT_LE(err, kMaxLogitError);
  }
}

// google/vit-base-patch16-224's exact names and shapes, made on demand by
// `python tools/fixtures/make_vit_fixtures.py --base` (330 MB, so not committed).
TEST(VitReferenceTest, VitBasePatch16_224WhenPresent) {
  const fs::path dir = kFixtures / "vit-base-patch16-224";
  if (!fs::exists(dir / "reference.safetensors"))
    GTEST_SKIP() << "not generated: run tools/fixtures/make_vit_fixtures.py --base to make " << dir;
  const double err = max_logit_error(dir);
  std::cout << "  vit-base-patch16-224: max abs logit error " << err << "\n";
  EXPECT_LE(err, kMaxLogitError);
}

TEST(VitReferenceTest, OtherInputSizeNeedsInterpolation) {
  const auto dirs = fixture_dirs();
  ASSERT_FALSE(dirs.empty());
  Options opt;
  opt.device = Device::cpu;
  const Classifier c = Classifier::load(dirs[0].string(), opt);
  const int h = c.info().image_height + c.info().image_height / 2, w = c.info().image_width;
  std::vector<float> px(size_t(3) * h * w, 0.25f);
  try {
    c.logits(px.data(), 1, h, w);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::shape_mismatch);
    EXPECT_NE(std::string(e.what()).find("interpolate_pos_encoding"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace visionrt
