// visionrt bench: what its two modes share (bench.cpp times the model
// alone on random pixels, bench_pipeline.cpp the whole pipeline on image
// files).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "visionrt/visionrt.hpp"

namespace visionrt_cli {

struct BenchSettings {
  std::string model_dir;
  std::vector<int> batches{1};
  int iterations = 20, warmup = 3, height = 0, width = 0;
  bool json = false;
  std::vector<std::string> end_to_end;  // image files and folders: the whole pipeline on them
  int decode_threads = 0;               // 0: one per hardware thread
  visionrt::Options options;
};

// One forward pass of whichever model the folder holds: a classifier, a
// detector, or an encoder without a head (features).
struct Model {
  std::optional<visionrt::Classifier> classifier;
  std::optional<visionrt::Detector> detector;
  std::optional<visionrt::Embedder> embedder;
  std::string architecture, device;
  int64_t parameters = 0;

  const visionrt::ModelInfo& info() const;
  // Runs n images of height x width (random pixels, no padding).
  void forward(const std::vector<float>& pixels, const std::vector<float>& mask, int n, int height, int width) const;
  double flops(int n, int height, int width) const;
  size_t activation_bytes() const;
};

Model load_bench_model(const BenchSettings& s);

double percentile(std::vector<double> v, double p);

// The process's peak resident memory (VmHWM), in kB.
double peak_resident_kb();

// bench --end-to-end: returns the exit code.
int run_end_to_end(const BenchSettings& s, const Model& m);

}  // namespace visionrt_cli
