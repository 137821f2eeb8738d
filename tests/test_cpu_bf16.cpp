// bf16 matrix products on the CPU (Options::precision = bf16): on every
// reference fixture and both demo models, the same answers as fp32 — the
// same top-1 label, the same detections above threshold — and outputs
// within bounds that bf16's 8-bit significand explains. On a CPU without
// AVX-512 BF16 or AMX the same calls must fail with one clear error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "io/safetensors.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot(VISIONRT_SOURCE_DIR);

Options with(Precision p) {
  Options o;
  o.device = Device::cpu;
  o.precision = p;
  return o;
}

// Why this CPU cannot run bf16 products (the library's own refusal, which
// must name what is missing), or "" where it can.
std::string bf16_missing() {
  try {
    Classifier::load((kRoot / "models/demo/vit-digits").string(), with(Precision::bf16));
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
    EXPECT_NE(std::string(e.what()).find("AVX-512 BF16 or AMX"), std::string::npos) << e.what();
    return e.what();
  }
}

// The numeric tests need a CPU with BF16 products: elsewhere they skip, with
// a reason tools/ci/check_test_skips.sh knows, as GPU tests do without a GPU.
#define VRT_REQUIRE_BF16_CPU()                                                 \
  do {                                                                         \
    const std::string missing = bf16_missing();                                \
    if (!missing.empty()) GTEST_SKIP() << "no BF16 on this CPU: " << missing; \
  } while (0)

// bf16 is refused with its reason where the CPU lacks it; where it has it,
// the model loads and answers.
TEST(CpuBf16Test, RefusedWithItsReasonOrRuns) {
  const std::string missing = bf16_missing();
  if (!missing.empty()) {
    std::printf("bf16 refused here, as it must be: %s\n", missing.c_str());
    return;
  }
  const Classifier c = Classifier::load((kRoot / "models/demo/vit-digits").string(), with(Precision::bf16));
  const std::vector<float> px(size_t(c.info().num_channels) * c.info().image_height * c.info().image_width, 0.25f);
  const std::vector<float> logits = c.logits(px.data(), 1, c.info().image_height, c.info().image_width);
  EXPECT_EQ(logits.size(), c.label_names().size());
}

// bf16 rounds both operands of every product to 8 significant bits (each
// within 2^-9 relative, so about 2^-8 per matrix product with fp32
// accumulation). Normalised layers keep those errors independent, so after
// L products in sequence they add up like a random walk, to about
// 2^-8 * sqrt(L) of the outputs' scale; the largest of hundreds of outputs
// reaches about 4 times that. Longest chains of products: the ViT fixtures
// (at most 2 layers) about 12, the DETR fixtures (up to ResNet-50's 49
// convolutions, then 6 encoder and 6 decoder layers) about 100. A wrong
// kernel or weight layout errs by the whole scale.
double relative_bound(int products) { return 4 * std::ldexp(1.0, -8) * std::sqrt(double(products)); }
// Boxes pass through a sigmoid (slope at most 1/4) after the last product.
constexpr double kBoxBound = 0.02;

// A classifier fixture in bf16 against fp32: the same top label for each
// image, logits within relative_bound(12) of the largest (at most 12
// products in a chain: these have at most 2 layers).
void expect_bf16_keeps_top_one(const fs::path& dir, bool interpolate) {
  SCOPED_TRACE(dir.filename().string());
  const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
  const Tensor px = to_f32(ref->view(*ref->find("pixel_values")));
  Options fp32 = with(Precision::fp32), bf16 = with(Precision::bf16);
  fp32.interpolate_pos_encoding = bf16.interpolate_pos_encoding = interpolate;
  const int n = static_cast<int>(px.dim(0)), h = static_cast<int>(px.dim(2)), w = static_cast<int>(px.dim(3));
  const std::vector<float> a = Classifier::load(dir.string(), fp32).logits(px.f32(), n, h, w);
  const std::vector<float> b = Classifier::load(dir.string(), bf16).logits(px.f32(), n, h, w);
  const size_t labels = a.size() / n;
  double err = 0, scale = 0;
  for (int i = 0; i < n; ++i) {
    const float* x = a.data() + i * labels;
    const float* y = b.data() + i * labels;
    EXPECT_EQ(std::max_element(x, x + labels) - x, std::max_element(y, y + labels) - y) << "image " << i;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, double(std::abs(a[i] - b[i])));
    scale = std::max(scale, double(std::abs(a[i])));
  }
  EXPECT_LE(err, relative_bound(12) * scale);
  std::printf("%s: bf16 vs fp32 max logit difference %.4g (%.2f%% of the largest logit)\n",
              dir.filename().c_str(), err, 100 * err / scale);
}

TEST(CpuBf16Test, VitFixturesKeepTopOneAndStayWithinBounds) {
  VRT_REQUIRE_BF16_CPU();
  int checked = 0;
  for (const auto& e : fs::directory_iterator(kRoot / "tests/fixtures/vit")) {
    const fs::path dir = e.path();
    if (!fs::exists(dir / "reference.safetensors") || dir.filename() == "vit-base-patch16-224") continue;
    expect_bf16_keeps_top_one(dir, dir.filename() == "p16_interp");
    ++checked;
  }
  EXPECT_GE(checked, 8);
}

// DeiT, DINOv2 (registers, SwiGLU) and timm's ViTs.
TEST(CpuBf16Test, VitFamilyFixturesKeepTopOneAndStayWithinBounds) {
  VRT_REQUIRE_BF16_CPU();
  int checked = 0;
  for (const auto& e : fs::directory_iterator(kRoot / "tests/fixtures/vitfam")) {
    const fs::path dir = e.path();
    if (!fs::exists(dir / "reference.safetensors") || dir.filename().string().rfind("yolos", 0) == 0) continue;
    if (!io::SafetensorsFile::open((dir / "reference.safetensors").string())->find("logits")) continue;
    expect_bf16_keeps_top_one(dir, false);
    ++checked;
  }
  EXPECT_GE(checked, 9);
}

TEST(CpuBf16Test, DetrFixturesStayWithinBounds) {
  VRT_REQUIRE_BF16_CPU();
  for (const char* name : {"r18_timm", "r18_hf", "dc5", "r50_hf_small"}) {
    SCOPED_TRACE(name);
    const fs::path dir = kRoot / "tests/fixtures/detr" / name;
    const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
    const Tensor px = to_f32(ref->view(*ref->find("pixel_values")));
    const int n = static_cast<int>(px.dim(0)), h = static_cast<int>(px.dim(2)), w = static_cast<int>(px.dim(3));
    const DetrOutputs a = Detector::load(dir.string(), with(Precision::fp32)).forward(px.f32(), nullptr, n, h, w);
    const DetrOutputs b = Detector::load(dir.string(), with(Precision::bf16)).forward(px.f32(), nullptr, n, h, w);
    double err = 0, scale = 0, box = 0;
    for (size_t i = 0; i < a.logits.size(); ++i) {
      err = std::max(err, double(std::abs(a.logits[i] - b.logits[i])));
      scale = std::max(scale, double(std::abs(a.logits[i])));
    }
    for (size_t i = 0; i < a.boxes.size(); ++i) box = std::max(box, double(std::abs(a.boxes[i] - b.boxes[i])));
    EXPECT_LE(err, relative_bound(100) * scale);
    EXPECT_LE(box, kBoxBound);
    std::printf("%s: bf16 vs fp32 max logit difference %.4g (%.2f%% of the largest), boxes %.4g\n", name, err,
                100 * err / scale, box);
  }
}

TEST(CpuBf16Test, DemoModelsGiveTheSameAnswers) {
  VRT_REQUIRE_BF16_CPU();
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  std::vector<std::string> digits, shapes;
  for (const auto& e : fs::directory_iterator(kRoot / "models/demo/images/digits")) digits.push_back(e.path().string());
  for (const auto& e : fs::directory_iterator(kRoot / "models/demo/images/shapes")) shapes.push_back(e.path().string());
  const std::string vit = (kRoot / "models/demo/vit-digits").string(), detr = (kRoot / "models/demo/detr-shapes").string();
  const auto a = Classifier::load(vit, with(Precision::fp32)).classify_files(digits, 1);
  const auto b = Classifier::load(vit, with(Precision::bf16)).classify_files(digits, 1);
  for (size_t i = 0; i < digits.size(); ++i) EXPECT_EQ(a[i][0].id, b[i][0].id) << digits[i];
  const auto x = Detector::load(detr, with(Precision::fp32)).detect_files(shapes, 0.7f);
  const auto y = Detector::load(detr, with(Precision::bf16)).detect_files(shapes, 0.7f);
  double score = 0, px = 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    ASSERT_EQ(x[i].size(), y[i].size()) << shapes[i];
    for (size_t k = 0; k < x[i].size(); ++k) {
      EXPECT_EQ(x[i][k].id, y[i][k].id) << shapes[i];
      score = std::max(score, double(std::abs(x[i][k].score - y[i][k].score)));
      for (auto [p, q] : {std::pair{x[i][k].box.x0, y[i][k].box.x0}, {x[i][k].box.y0, y[i][k].box.y0},
                          {x[i][k].box.x1, y[i][k].box.x1}, {x[i][k].box.y1, y[i][k].box.y1}})
        px = std::max(px, double(std::abs(p - q)));
    }
  }
  // The 128-pixel shape images: kBoxBound of the image is 2.6 pixels; scores
  // come from a softmax of logits within relative_bound(100) of each other.
  EXPECT_LE(px, kBoxBound * 128);
  EXPECT_LE(score, relative_bound(100));
  std::printf("demo models: same top-1 on %zu digits; same detections on %zu shape images, scores within %.4f, "
              "boxes within %.2f px\n", digits.size(), shapes.size(), score, px);
}

}  // namespace
}  // namespace visionrt
