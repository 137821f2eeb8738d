// DETR on the GPU through the CUDA backend library: every reference fixture
// (a padded mixed batch with its pixel mask, and each image alone) in every
// precision from its stored pixels (no image front end needed, as on a GPU
// machine without OpenCV), and the shapes demo from its image files. Skips
// plainly without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "io/safetensors.hpp"
#include "kernel_test_util.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot(VISIONRT_SOURCE_DIR);


Tensor f32_of(const io::SafetensorsFile& f, const std::string& name) {
  const Tensor t = f.view(*f.find(name));
  if (t.dtype() != DType::i64) return to_f32(t);
  Tensor out = Tensor::empty(DType::f32, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out.f32()[i] = static_cast<float>(t.ptr<const int64_t>()[i]);
  return out;
}

double max_diff(const std::vector<float>& got, const Tensor& want) {
  if (got.size() != static_cast<size_t>(want.numel())) return INFINITY;
  double err = 0;
  for (size_t i = 0; i < got.size(); ++i)
    err = std::isfinite(got[i]) ? std::max(err, std::abs(double(got[i]) - want.f32()[i])) : INFINITY;
  return err;
}

Detector gpu_detector(const fs::path& dir, Precision precision) {
  Options opt;
  opt.device = Device::cuda;
  opt.precision = precision;
  Detector d = Detector::load(dir.string(), opt);
  EXPECT_EQ(d.device(), Device::cuda);
  return d;
}

// fp32 (no TF32): the CPU's sums in another order (cuDNN's convolution
// algorithms, cuBLASLt's blocking); 1e-3 bounds that with margin over the
// ~1e-6 the CPU reaches, while a wrong op errs by 1e-1 or more.
TEST(CudaDetr, EveryFixtureMatchesTransformersInFp32) {
  VRT_REQUIRE_CUDA();
  for (const auto& e : fs::directory_iterator(kRoot / "tests/fixtures/detr")) {
    if (!fs::exists(e.path() / "reference.safetensors")) continue;
    SCOPED_TRACE(e.path().filename().string());
    const auto ref = io::SafetensorsFile::open((e.path() / "reference.safetensors").string());
    const Detector det = gpu_detector(e.path(), Precision::fp32);
    const Tensor px = f32_of(*ref, "pixel_values"), mask = f32_of(*ref, "pixel_mask");
    const int n = static_cast<int>(px.dim(0));
    const DetrOutputs out = det.forward(px.f32(), mask.f32(), n, static_cast<int>(px.dim(2)), static_cast<int>(px.dim(3)));
    EXPECT_LE(max_diff(out.logits, f32_of(*ref, "logits")), 1e-3);
    EXPECT_LE(max_diff(out.boxes, f32_of(*ref, "pred_boxes")), 1e-3);
    for (int i = 0; i < n; ++i) {
      const std::string p = "single_" + std::to_string(i) + "_";
      if (!ref->find(p + "pixel_values")) continue;
      const Tensor spx = f32_of(*ref, p + "pixel_values");
      const DetrOutputs one =
          det.forward(spx.f32(), nullptr, 1, static_cast<int>(spx.dim(2)), static_cast<int>(spx.dim(3)));
      EXPECT_LE(max_diff(one.logits, f32_of(*ref, p + "logits")), 1e-3) << "image " << i << " alone";
      EXPECT_LE(max_diff(one.boxes, f32_of(*ref, p + "pred_boxes")), 1e-3) << "image " << i << " alone";
    }
  }
}

// tf32, fp16 and bf16 round every product's operands (to 11, 11 and 8
// significant bits): as for ViT (test_cuda_models.cpp), logits within 1%
// (5% for bf16) of their range, the reference's best class kept wherever it
// leads the next by more than twice that, and boxes (fractions of the
// image) within the same share.
TEST(CudaDetr, EveryFixtureKeepsItsClassesAndBoxesInReducedPrecisions) {
  VRT_REQUIRE_CUDA();
  int compared = 0;
  for (const auto& e : fs::directory_iterator(kRoot / "tests/fixtures/detr")) {
    if (!fs::exists(e.path() / "reference.safetensors")) continue;
    const auto ref = io::SafetensorsFile::open((e.path() / "reference.safetensors").string());
    const Tensor px = f32_of(*ref, "pixel_values"), mask = f32_of(*ref, "pixel_mask");
    const Tensor want_logits = f32_of(*ref, "logits"), want_boxes = f32_of(*ref, "pred_boxes");
    const int n = static_cast<int>(px.dim(0));
    const int classes = static_cast<int>(want_logits.dim(-1));
    const int64_t queries = want_logits.numel() / classes;
    for (Precision p : {Precision::tf32, Precision::fp16, Precision::bf16}) {
      SCOPED_TRACE(e.path().filename().string() + " precision " + precision_name(p));
      const Detector det = gpu_detector(e.path(), p);
      const DetrOutputs out =
          det.forward(px.f32(), mask.f32(), n, static_cast<int>(px.dim(2)), static_cast<int>(px.dim(3)));
      ASSERT_EQ(out.logits.size(), static_cast<size_t>(want_logits.numel()));
      ASSERT_EQ(out.boxes.size(), static_cast<size_t>(want_boxes.numel()));
      const double share = p == Precision::bf16 ? 0.05 : 0.01;
      for (int64_t q = 0; q < queries; ++q) {
        const float* want = want_logits.f32() + q * classes;
        const float* got = out.logits.data() + q * classes;
        const auto [lo, hi] = std::minmax_element(want, want + classes);
        const double bound = share * std::max(1.f, *hi - *lo);
        double err = 0;
        for (int k = 0; k < classes; ++k) err = std::max(err, std::abs(double(got[k]) - want[k]));
        EXPECT_LE(err, bound) << "query " << q;
        std::vector<float> sorted(want, want + classes);
        std::sort(sorted.rbegin(), sorted.rend());
        if (sorted[0] - sorted[1] > 2 * bound)
          EXPECT_EQ(std::max_element(got, got + classes) - got, std::max_element(want, want + classes) - want)
              << "query " << q;
        for (int k = 0; k < 4; ++k)
          EXPECT_NEAR(out.boxes[q * 4 + k], want_boxes.f32()[q * 4 + k], share) << "query " << q << " box " << k;
      }
      ++compared;
    }
  }
  EXPECT_GE(compared, 3 * 4) << "fixtures x precisions compared";
}

// The shapes demo: every precision finds the CPU's fp32 detections above
// the threshold, the same classes, boxes within 2% of the image's size
// (bf16 rounds operands to 8 bits: a box edge moves by a fraction of a
// percent over the decoder's layers); and an image's detections are the
// same alone as in a batch with the others.
TEST(CudaDetr, ShapesDemoGivesTheCpuDetectionsInEveryPrecision) {
  VRT_REQUIRE_CUDA();
  if (!has_image_io()) GTEST_SKIP() << "built without the image front end (OpenCV): the fixtures' test above covers DETR";
  const fs::path model = kRoot / "models/demo/detr-shapes";
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(kRoot / "models/demo/images/shapes")) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  Options cpu_opt;
  cpu_opt.device = Device::cpu;
  const auto want = Detector::load(model.string(), cpu_opt).detect_files(files);
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16}) {
    const Detector gpu = gpu_detector(model, p);
    const auto got = gpu.detect_files(files);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < files.size(); ++i) {
      SCOPED_TRACE(files[i] + " precision " + std::to_string(int(p)));
      const Image img = load_image(files[i]);
      const float tolerance = 0.02f * std::max(img.width, img.height);
      ASSERT_EQ(got[i].size(), want[i].size());
      for (size_t k = 0; k < got[i].size(); ++k) {
        EXPECT_EQ(got[i][k].id, want[i][k].id);
        EXPECT_NEAR(got[i][k].box.x0, want[i][k].box.x0, tolerance);
        EXPECT_NEAR(got[i][k].box.y0, want[i][k].box.y0, tolerance);
        EXPECT_NEAR(got[i][k].box.x1, want[i][k].box.x1, tolerance);
        EXPECT_NEAR(got[i][k].box.y1, want[i][k].box.y1, tolerance);
      }
      EXPECT_EQ(gpu.detect_files({files[i]}).at(0).size(), got[i].size()) << "alone";
    }
  }
}

}  // namespace
}  // namespace visionrt
