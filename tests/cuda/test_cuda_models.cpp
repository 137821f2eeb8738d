// Whole models on the GPU through the CUDA backend library: every ViT and
// ViT-family (DeiT, DINOv2, timm, YOLOS) reference fixture and the digits demo, in every precision, with and
// without CUDA graphs; the backend library's entry point; running out of
// device memory. Skips plainly without a GPU, but for what needs none.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include <cuda_runtime.h>

#include "backends/cuda_plugin.hpp"
#include "io/safetensors.hpp"
#include "kernels/device_buffer.hpp"
#include "kernel_test_util.hpp"
#include "visionrt/visionrt.hpp"

extern "C" bool visionrt_cuda_backend_create(int abi, const visionrt::CudaBackendConfig* config,
                                             std::shared_ptr<visionrt::Backend>* backend, std::string* error);

namespace visionrt {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot(VISIONRT_SOURCE_DIR);


struct Reference {
  Tensor pixels, logits;
  bool interpolate = false;
};

Reference read_reference(const fs::path& dir) {
  const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
  Reference r{to_f32(ref->view(*ref->find("pixel_values"))), to_f32(ref->view(*ref->find("logits")))};
  std::ifstream meta(dir / "reference.json");
  if (meta) r.interpolate = nlohmann::json::parse(meta).value("interpolate_pos_encoding", false);
  return r;
}

// The classifier fixtures: ViT's, and the family's with logits (DeiT,
// DINOv2 with registers and SwiGLU, timm's; head dims 8 to 64, 2 to 5
// prefix tokens).
std::vector<fs::path> vit_fixtures() {
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(kRoot / "tests/fixtures/vit"))
    if (fs::exists(e.path() / "reference.safetensors")) dirs.push_back(e.path());
  for (const auto& e : fs::directory_iterator(kRoot / "tests/fixtures/vitfam")) {
    const fs::path ref = e.path() / "reference.safetensors";
    if (fs::exists(ref) && e.path().filename().string().rfind("yolos", 0) != 0 &&
        io::SafetensorsFile::open(ref.string())->find("logits"))
      dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::vector<float> gpu_logits(const fs::path& dir, const Reference& r, Precision precision, bool graphs) {
  Options opt;
  opt.device = Device::cuda;
  opt.precision = precision;
  opt.cuda_graphs = graphs;
  opt.interpolate_pos_encoding = r.interpolate;
  const Classifier c = Classifier::load(dir.string(), opt);
  EXPECT_EQ(c.device(), Device::cuda);
  const int n = static_cast<int>(r.pixels.dim(0)), h = static_cast<int>(r.pixels.dim(2)),
            w = static_cast<int>(r.pixels.dim(3));
  // Three runs: node by node, then captured, then replayed.
  std::vector<float> first = c.logits(r.pixels.f32(), n, h, w);
  for (int i = 0; i < 2; ++i) {
    const std::vector<float> again = c.logits(r.pixels.f32(), n, h, w);
    EXPECT_EQ(again, first) << "run " << i + 2 << " differs from the first";
  }
  return first;
}

int argmax(const float* v, int n) { return static_cast<int>(std::max_element(v, v + n) - v); }

// fp32 (no TF32): the same sums as the CPU's in another order, 1e-3 of
// logits of scale ~1 bounds the reordering with margin (the CPU reaches
// ~1e-6); a wrong kernel errs by O(1).
TEST(CudaModels, EveryVitFixtureMatchesTransformersInFp32) {
  VRT_REQUIRE_CUDA();
  for (const fs::path& dir : vit_fixtures()) {
    SCOPED_TRACE(dir.filename().string());
    const Reference r = read_reference(dir);
    for (bool graphs : {true, false}) {
      const std::vector<float> got = gpu_logits(dir, r, Precision::fp32, graphs);
      ASSERT_EQ(got.size(), static_cast<size_t>(r.logits.numel()));
      double err = 0;
      for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::abs(double(got[i]) - r.logits.f32()[i]));
      EXPECT_LE(err, 1e-3) << (graphs ? "with" : "without") << " CUDA graphs";
    }
  }
}

// YOLOS: its detection tokens' logits and boxes, fp32, as the ViTs'.
TEST(CudaModels, YolosMatchesTransformersInFp32) {
  VRT_REQUIRE_CUDA();
  for (const char* name : {"yolos_narrow", "yolos_mid_narrow"}) {
    SCOPED_TRACE(name);
    const fs::path dir = kRoot / "tests/fixtures/vitfam" / name;
    const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
    const Tensor px = to_f32(ref->view(*ref->find("pixel_values")));
    Options opt;
    opt.device = Device::cuda;
    const Detector d = Detector::load(dir.string(), opt);
    const DetrOutputs o = d.forward(px.f32(), nullptr, static_cast<int>(px.dim(0)), static_cast<int>(px.dim(2)),
                                    static_cast<int>(px.dim(3)));
    for (const auto& [got, key] : {std::pair<const std::vector<float>&, const char*>{o.logits, "logits"},
                                   {o.boxes, "pred_boxes"}}) {
      const Tensor want = to_f32(ref->view(*ref->find(key)));
      ASSERT_EQ(got.size(), static_cast<size_t>(want.numel())) << key;
      double err = 0;
      for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::abs(double(got[i]) - want.f32()[i]));
      EXPECT_LE(err, 1e-3) << key;
    }
  }
}

// fp16, bf16 and tf32 round every product's operands (to 11, 8 and 11
// significant bits): the promise is the same top-1 label wherever the
// reference's best logit leads the next by more than that rounding can
// move it, 5% of the logits' range for bf16 (2^-8 per operand, summed over
// a few layers) and 1% for fp16 and tf32, and logits within that bound.
TEST(CudaModels, ReducedPrecisionsKeepTheTopLabel) {
  VRT_REQUIRE_CUDA();
  for (const fs::path& dir : vit_fixtures()) {
    const Reference r = read_reference(dir);
    const int n = static_cast<int>(r.pixels.dim(0)), labels = static_cast<int>(r.logits.numel() / n);
    for (Precision p : {Precision::fp16, Precision::bf16, Precision::tf32}) {
      SCOPED_TRACE(dir.filename().string() + " precision " + std::to_string(int(p)));
      const std::vector<float> got = gpu_logits(dir, r, p, true);
      ASSERT_EQ(got.size(), static_cast<size_t>(r.logits.numel()));
      for (int i = 0; i < n; ++i) {
        const float* want = r.logits.f32() + i * labels;
        const auto [lo, hi] = std::minmax_element(want, want + labels);
        const double bound = (p == Precision::bf16 ? 0.05 : 0.01) * std::max(1.f, *hi - *lo);
        double err = 0;
        for (int k = 0; k < labels; ++k) err = std::max(err, std::abs(double(got[i * labels + k]) - want[k]));
        EXPECT_LE(err, bound) << "image " << i;
        std::vector<float> sorted(want, want + labels);
        std::sort(sorted.rbegin(), sorted.rend());
        if (labels > 1 && sorted[0] - sorted[1] > 2 * bound)
          EXPECT_EQ(argmax(got.data() + i * labels, labels), argmax(want, labels)) << "image " << i;
      }
    }
  }
}

// The digits demo in every GPU precision against the CPU: on random pixel
// batches always (the top label wherever the CPU's leads by more than the
// rounding bound of ReducedPrecisionsKeepTheTopLabel), and on the demo's
// image files where the image front end is built.
TEST(CudaModels, DigitsDemoGivesTheCpuLabels) {
  VRT_REQUIRE_CUDA();
  const fs::path model = kRoot / "models/demo/vit-digits";
  Options cpu_opt;
  cpu_opt.device = Device::cpu;
  const Classifier cpu = Classifier::load(model.string(), cpu_opt);
  const int size = cpu.info().image_height, width = cpu.info().image_width, n = 16;
  const std::vector<float> px = kernels::testing::random_floats(size_t(n) * cpu.info().num_channels * size * width, -1.f, 1.f, 7u);
  const std::vector<float> want = cpu.logits(px.data(), n, size, width);
  const int labels = static_cast<int>(want.size()) / n;
  int compared = 0;
  for (Precision p : {Precision::fp32, Precision::fp16, Precision::bf16}) {
    Options opt;
    opt.device = Device::cuda;
    opt.precision = p;
    const Classifier gpu = Classifier::load(model.string(), opt);
    const std::vector<float> got = gpu.logits(px.data(), n, size, width);
    ASSERT_EQ(got.size(), want.size());
    for (int i = 0; i < n; ++i) {
      const float* w = want.data() + i * labels;
      const auto [lo, hi] = std::minmax_element(w, w + labels);
      const double bound = (p == Precision::bf16 ? 0.05 : 0.01) * std::max(1.f, *hi - *lo);
      std::vector<float> sorted(w, w + labels);
      std::sort(sorted.rbegin(), sorted.rend());
      if (sorted[0] - sorted[1] <= 2 * bound) continue;
      EXPECT_EQ(argmax(got.data() + i * labels, labels), argmax(w, labels)) << "batch image " << i << " precision " << int(p);
      ++compared;
    }
    if (!has_image_io()) continue;
    for (const auto& e : fs::directory_iterator(kRoot / "models/demo/images/digits")) {
      const auto cpu_top = cpu.classify_files({e.path().string()}, 1);
      const auto gpu_top = gpu.classify_files({e.path().string()}, 1);
      EXPECT_EQ(gpu_top.at(0).at(0).id, cpu_top.at(0).at(0).id) << e.path() << " precision " << int(p);
      ++compared;
    }
  }
  EXPECT_GT(compared, 0) << "no image's top label was compared";
}

// Backends made and dropped in turn, each running a model: every one
// tears its library handles down before the stream they were bound to,
// and nothing of an earlier one breaks the next.
TEST(CudaModels, BackendsComeAndGoCleanly) {
  VRT_REQUIRE_CUDA();
  const fs::path dir = kRoot / "tests/fixtures/vit/p16_d64";
  const Reference r = read_reference(dir);
  const int n = static_cast<int>(r.pixels.dim(0)), h = static_cast<int>(r.pixels.dim(2)),
            w = static_cast<int>(r.pixels.dim(3));
  std::vector<float> first;
  for (int i = 0; i < 24; ++i) {
    Options opt;
    opt.device = Device::cuda;
    const Classifier c = Classifier::load(dir.string(), opt);
    const std::vector<float> got = c.logits(r.pixels.f32(), n, h, w);
    if (first.empty()) first = got;
    EXPECT_EQ(got, first) << "backend " << i;
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

// With the GPU's memory all but taken, planning a new input shape is an
// out-of-memory error naming the size; a model already planned keeps
// running meanwhile, and once the memory is back the first one runs too.
TEST(CudaModels, OutOfDeviceMemoryIsAnErrorAndTheProcessGoesOn) {
  VRT_REQUIRE_CUDA();
  const fs::path dir = kRoot / "tests/fixtures/vit/p16_d64";
  const Reference r = read_reference(dir);
  Options opt;
  opt.device = Device::cuda;
  const Classifier c = Classifier::load(dir.string(), opt);
  const Classifier other = Classifier::load(dir.string(), opt);
  const int n = static_cast<int>(r.pixels.dim(0)), h = static_cast<int>(r.pixels.dim(2)),
            w = static_cast<int>(r.pixels.dim(3));
  const std::vector<float> want = other.logits(r.pixels.f32(), n, h, w);  // planned before the squeeze
  {
    size_t free_bytes = 0, total = 0;
    ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
    // Leave 16 MiB: less than one linear layer's cuBLASLt workspace.
    std::unique_ptr<kernels::DeviceBuffer> hog;
    for (size_t keep = size_t(16) << 20; !hog && keep < free_bytes; keep *= 2) {
      try {
        hog = std::make_unique<kernels::DeviceBuffer>(free_bytes - keep);
      } catch (const Error&) {
      }
    }
    ASSERT_NE(hog, nullptr);
    try {
      (void)c.logits(r.pixels.f32(), n, h, w);
      ADD_FAILURE() << "planned and ran with the GPU's memory taken";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), StatusCode::out_of_memory) << e.what();
      EXPECT_NE(std::string(e.what()).find("MiB"), std::string::npos) << e.what();
    }
    EXPECT_EQ(other.logits(r.pixels.f32(), n, h, w), want);
  }
  EXPECT_EQ(c.logits(r.pixels.f32(), n, h, w).size(), want.size());
}

// The backend library refuses a core of another interface version, and
// reports a GPU that cannot start as an error, never by crashing.
TEST(CudaBackendLibrary, EntryPointRefusesAnotherVersionAndReportsFailures) {
  CudaBackendConfig config;
  std::shared_ptr<Backend> backend;
  std::string error;
  EXPECT_FALSE(visionrt_cuda_backend_create(kCudaPluginAbi + 1, &config, &backend, &error));
  EXPECT_NE(error.find("another visionrt version"), std::string::npos) << error;
  EXPECT_EQ(backend, nullptr);
  error.clear();
  const bool made = visionrt_cuda_backend_create(kCudaPluginAbi, &config, &backend, &error);
  if (cuda_available()) {
    EXPECT_TRUE(made) << error;
    ASSERT_NE(backend, nullptr);
    EXPECT_STREQ(backend->name(), "cuda");
  } else {
    EXPECT_FALSE(made);
    EXPECT_NE(error.find("the GPU could not be set up"), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace visionrt
