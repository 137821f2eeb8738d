// The ViT family (DeiT, DINOv2 with and without registers or SwiGLU, timm's
// ViT, DeiT and DINOv2-style checkpoints) against the library that wrote
// each checkpoint. The fixtures (tools/fixtures/make_vit_family_fixtures.py)
// are random models at narrow widths, in their libraries' own folder
// formats, with pixel_values and the reference logits; `--large` adds the
// published shapes with float64 references (not committed).
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

const fs::path kFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures" / "vitfam";

// fp32 on both sides, differing only in summation order (GEMM blocking,
// fused QKV, LayerScale folded into the projections, LayerNorm in double):
// ~1e-6 over two layers. 1e-4 is the bound the project promises.
constexpr double kMaxLogitError = 1e-4;

struct Result {
  double logits = -1, tokens = -1;  // max abs errors; -1 where the fixture has no such output
};

double max_error(const std::vector<float>& got, const Tensor& want) {
  EXPECT_EQ(got.size(), static_cast<size_t>(want.numel()));
  double err = 0;
  for (size_t i = 0; i < got.size() && i < size_t(want.numel()); ++i) {
    EXPECT_TRUE(std::isfinite(got[i]));
    err = std::max(err, std::abs(double(got[i]) - want.f32()[i]));
  }
  return err;
}

// Logits (and, where the fixture has them, the final tokens) against
// `suffix` ("" for the library's float32 outputs, "_f64" for float64).
Result compare(const fs::path& dir, const std::string& suffix) {
  const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
  const Tensor px = to_f32(ref->view(*ref->find("pixel_values")));
  const int n = static_cast<int>(px.dim(0)), h = static_cast<int>(px.dim(2)), w = static_cast<int>(px.dim(3));
  Options opt;
  opt.device = Device::cpu;
  Result r;
  if (const auto* logits = ref->find("logits" + suffix)) {
    const Classifier c = Classifier::load(dir.string(), opt);
    r.logits = max_error(c.logits(px.f32(), n, h, w), to_f32(ref->view(*logits)));
  }
  if (const auto* tokens = ref->find("last_hidden_state" + suffix)) {
    const Embedder e = Embedder::load(dir.string(), opt);
    r.tokens = max_error(e.tokens(px.f32(), n, h, w), to_f32(ref->view(*tokens)));
  }
  return r;
}

std::vector<fs::path> fixture_dirs(const fs::path& root) {
  std::vector<fs::path> dirs;
  if (fs::is_directory(root))
    for (const auto& e : fs::directory_iterator(root)) {
      const std::string name = e.path().filename().string();
      if (fs::exists(e.path() / "reference.safetensors") && name.rfind("yolos", 0) != 0) dirs.push_back(e.path());
    }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(VitFamilyReferenceTest, CommittedModelsMatchTheirLibraries) {
  const auto dirs = fixture_dirs(kFixtures);
  ASSERT_GE(dirs.size(), 9u) << "reference fixtures missing under " << kFixtures;
  for (const fs::path& dir : dirs) {
    SCOPED_TRACE(dir.filename().string());
    const Result r = compare(dir, "");
    EXPECT_TRUE(r.logits >= 0 || r.tokens >= 0) << "no output to compare";
    std::cout << "  " << dir.filename().string() << ": max abs error";
    if (r.logits >= 0) std::cout << " logits " << r.logits;
    if (r.tokens >= 0) std::cout << " tokens " << r.tokens;
    std::cout << "\n";
    EXPECT_LE(r.logits, kMaxLogitError);
    EXPECT_LE(r.tokens, kMaxLogitError);
  }
}

// The published shapes, made on demand by `make_vit_family_fixtures.py
// --large` (hundreds of MB, so not committed), against float64: within
// 1e-4, or twice PyTorch float32's own error where that is larger.
TEST(VitFamilyReferenceTest, PublishedShapesWhenPresent) {
  const auto dirs = fixture_dirs(kFixtures / "large");
  if (dirs.empty()) GTEST_SKIP() << "not generated: run tools/fixtures/make_vit_family_fixtures.py --large";
  for (const fs::path& dir : dirs) {
    SCOPED_TRACE(dir.filename().string());
    std::ifstream meta(dir / "reference.json");
    const nlohmann::json j = nlohmann::json::parse(meta);
    const auto& own = j["float32_vs_float64"];
    const Result r = compare(dir, "_f64");
    std::cout << "  " << dir.filename().string() << ": vs float64";
    if (r.logits >= 0) {
      const double torch_logits = own["logits"]["max_abs_err"].get<double>();
      std::cout << " logits " << r.logits << " (PyTorch float32 " << torch_logits << ")";
      EXPECT_LE(r.logits, std::max(kMaxLogitError, 2 * torch_logits));
    }
    if (r.tokens >= 0) {
      const double torch_tokens = own["last_hidden_state"]["max_abs_err"].get<double>();
      std::cout << ", tokens " << r.tokens << " (PyTorch " << torch_tokens << ")";
      EXPECT_LE(r.tokens, std::max(kMaxLogitError, 2 * torch_tokens));
    }
    std::cout << "\n";
  }
}

// YOLOS through the Detector: logits and boxes of its detection tokens.
struct DetectionErrors {
  double logits = 0, boxes = 0;
};

DetectionErrors compare_yolos(const fs::path& dir, const std::string& suffix) {
  const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
  const Tensor px = to_f32(ref->view(*ref->find("pixel_values")));
  Options opt;
  opt.device = Device::cpu;
  const Detector d = Detector::load(dir.string(), opt);
  const DetrOutputs o = d.forward(px.f32(), nullptr, static_cast<int>(px.dim(0)), static_cast<int>(px.dim(2)),
                                  static_cast<int>(px.dim(3)));
  return {max_error(o.logits, to_f32(ref->view(*ref->find("logits" + suffix)))),
          max_error(o.boxes, to_f32(ref->view(*ref->find("pred_boxes" + suffix))))};
}

TEST(VitFamilyReferenceTest, YolosMatchesTransformers) {
  for (const char* name : {"yolos_narrow", "yolos_mid_narrow"}) {
    SCOPED_TRACE(name);
    const DetectionErrors e = compare_yolos(kFixtures / name, "");
    std::cout << "  " << name << ": max abs error logits " << e.logits << " boxes " << e.boxes << "\n";
    EXPECT_LE(e.logits, kMaxLogitError);
    EXPECT_LE(e.boxes, kMaxLogitError);
  }
  const fs::path large = kFixtures / "large" / "yolos_tiny";
  if (!fs::exists(large / "reference.safetensors")) return;  // made by --large only
  const DetectionErrors e = compare_yolos(large, "_f64");
  std::cout << "  yolos_tiny: vs float64 logits " << e.logits << " boxes " << e.boxes << "\n";
  EXPECT_LE(e.logits, kMaxLogitError);
  EXPECT_LE(e.boxes, kMaxLogitError);
}

}  // namespace
}  // namespace visionrt
