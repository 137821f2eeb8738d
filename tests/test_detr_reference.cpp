// End-to-end DETR outputs against transformers' DetrForObjectDetection on
// randomly initialised checkpoints (tools/make_detr_fixtures.py): padded
// mixed batches with their pixel_mask, each image alone, and the
// preparation of the raw images.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "io/model_folder.hpp"
#include "io/safetensors.hpp"
#include "visionrt/visionrt.hpp"

namespace fs = std::filesystem;

namespace visionrt {
namespace {

const fs::path kFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures" / "detr";

// fp32 on both sides, differing in summation order only (GEMM blocking,
// BatchNorm folded into the convolutions, fused projections): ~1e-6 here;
// 1e-4 is the promised bound for logits and boxes.
constexpr double kMaxError = 1e-4;

// Reference tensors as F32 (pixel_mask is stored as int64).
Tensor f32_of(const io::SafetensorsFile& f, const std::string& name) {
  const io::TensorEntry* e = f.find(name);
  if (!e) throw Error(StatusCode::not_found, "reference tensor " + name + " missing");
  const Tensor t = f.view(*e);
  if (t.dtype() != DType::i64) return to_f32(t);
  Tensor out = Tensor::empty(DType::f32, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out.f32()[i] = static_cast<float>(t.ptr<const int64_t>()[i]);
  return out;
}

double max_diff(const std::vector<float>& got, const Tensor& want) {
  EXPECT_EQ(got.size(), static_cast<size_t>(want.numel()));
  double err = 0;
  for (size_t i = 0; i < got.size() && i < size_t(want.numel()); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    err = std::max(err, std::abs(double(got[i]) - want.f32()[i]));
  }
  return err;
}

std::vector<fs::path> fixture_dirs() {
  std::vector<fs::path> dirs;
  if (fs::is_directory(kFixtures))
    for (const auto& e : fs::directory_iterator(kFixtures))
      if (fs::exists(e.path() / "reference.safetensors") && e.path().filename() != "detr-resnet-50")
        dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

void check_fixture(const fs::path& dir) {
  const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
  const Detector det = Detector::load(dir.string(), {Device::cpu});
  const Tensor px = f32_of(*ref, "pixel_values"), mask = f32_of(*ref, "pixel_mask");
  const int n = static_cast<int>(px.dim(0)), h = static_cast<int>(px.dim(2)), w = static_cast<int>(px.dim(3));
  const DetrOutputs batch = det.forward(px.f32(), mask.f32(), n, h, w);
  const double le = max_diff(batch.logits, f32_of(*ref, "logits"));
  const double be = max_diff(batch.boxes, f32_of(*ref, "pred_boxes"));
  std::cout << "  " << dir.filename().string() << " padded batch of " << n << ": logits " << le
            << ", boxes " << be << "\n";
  EXPECT_LE(le, kMaxError);
  EXPECT_LE(be, kMaxError);
  for (int i = 0; i < n; ++i) {
    const std::string p = "single_" + std::to_string(i) + "_";
    if (!ref->find(p + "pixel_values")) continue;
    const Tensor spx = f32_of(*ref, p + "pixel_values");
    const DetrOutputs one = det.forward(spx.f32(), nullptr, 1, static_cast<int>(spx.dim(2)), static_cast<int>(spx.dim(3)));
    const double sl = max_diff(one.logits, f32_of(*ref, p + "logits"));
    const double sb = max_diff(one.boxes, f32_of(*ref, p + "pred_boxes"));
    std::cout << "    image " << i << " alone: logits " << sl << ", boxes " << sb << "\n";
    EXPECT_LE(sl, kMaxError);
    EXPECT_LE(sb, kMaxError);
  }
}

TEST(DetrReferenceTest, CommittedConfigurationsMatchTransformers) {
  const auto dirs = fixture_dirs();
  ASSERT_GE(dirs.size(), 5u) << "reference fixtures missing under " << kFixtures;
  for (const fs::path& dir : dirs) {
    SCOPED_TRACE(dir.filename().string());
    check_fixture(dir);
  }
}

// facebook/detr-resnet-50's exact names and shapes, made on demand by
// `python tools/make_detr_fixtures.py --large` (160 MB, so not committed).
TEST(DetrReferenceTest, DetrResnet50WhenPresent) {
  const fs::path dir = kFixtures / "detr-resnet-50";
  if (!fs::exists(dir / "reference.safetensors"))
    GTEST_SKIP() << "not generated: run tools/make_detr_fixtures.py --large to make " << dir;
  check_fixture(dir);
}

TEST(DetrReferenceTest, PreparationMatchesDetrImageProcessor) {
  // The raw images of each fixture, resized and normalised as the fixture's
  // preprocessor_config.json says, against the processor's pixel_values.
  for (const fs::path& dir : fixture_dirs()) {
    SCOPED_TRACE(dir.filename().string());
    const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
    const io::ModelFolder folder = io::ModelFolder::open(dir.string());
    for (int i = 0; ref->find("image_" + std::to_string(i)); ++i) {
      const Tensor raw = ref->view(*ref->find("image_" + std::to_string(i)));
      io::ImageRGB8 img{static_cast<int>(raw.dim(1)), static_cast<int>(raw.dim(0)),
                        std::vector<uint8_t>(raw.ptr<uint8_t>(), raw.ptr<uint8_t>() + raw.numel())};
      const Tensor want = f32_of(*ref, "single_" + std::to_string(i) + "_pixel_values");
      int w = 0, h = 0;
      io::output_size(folder.preprocess, img.width, img.height, &w, &h);
      ASSERT_EQ(h, want.dim(2));
      ASSERT_EQ(w, want.dim(3));
      std::vector<float> got(size_t(3) * w * h);
      io::preprocess(img, folder.preprocess, got.data());
      // These fixtures come from transformers 5's DetrImageProcessor, which
      // resizes with torchvision (antialiased bilinear in float, rounded to
      // 8 bits); visionrt follows Pillow's fixed-point filter bit for bit
      // (PreprocessTest checks that against DetrImageProcessorPil). The two
      // filters differ by at most one 8-bit level: 1/255/std after
      // normalising, plus the float32 rounding of both values (|x| < 3: 2^-22 each).
      double level = 0;
      for (float sd : folder.preprocess.std) level = std::max(level, 1.0 / 255.0 / sd);
      EXPECT_LE(max_diff(got, want), level + 2 * std::ldexp(1.0, -22));
    }
  }
}

}  // namespace
}  // namespace visionrt
