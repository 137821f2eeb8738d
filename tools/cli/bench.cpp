// visionrt bench: throughput and latency of a model's forward pass on random
// inputs (never zeros), with the work done per pass and peak memory.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "bench.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt_cli {
namespace {

constexpr const char* kUsage =
    R"(usage: visionrt bench --model DIR [OPTIONS]
       visionrt bench --model DIR --end-to-end [OPTIONS] IMAGE_OR_DIR...

Times the model's forward pass (preprocessed inputs in, raw outputs out) on
random pixels: latency percentiles, images per second, achieved GFLOP/s
(two per multiply-add of the matrix products) and peak resident memory.
With --end-to-end, times the whole pipeline on image files instead: decode,
preprocess, forward (copies in and out included) and post-process each
alone, then all of them with decoding and preprocessing on a pool of
threads overlapped with the previous batch's forward pass, next to the
forward pass alone (the first --batch size is used).

options:
  --model DIR             a ViT-family (ViT, DeiT, DINOv2, timm; a base model
                          for features), DETR, YOLOS, RT-DETR(v2) or D-FINE folder  [required]
  --batch N[,N...]        images per forward pass, one measurement per size
                          (default 1)
  --size HxW              input size (default: the size the processor prepares
                          images to, as DINOv2's 224 crop and the real-time DETRs'
                          fixed size; 800x1066 for DETR and YOLOS)
  --iterations N          timed passes (default 20)
  --warmup N              untimed passes first (default 3)
  --decode-threads N      --end-to-end: threads decoding and preprocessing
                          (default 0: one per hardware thread)
)" VISIONRT_DEVICE_OPTIONS_HELP R"(  --json                  one JSON object instead of text
  -h, --help              show this help
)";

std::optional<BenchSettings> parse_settings(const std::vector<std::string>& args) {
  ArgParser parser({"--help", "--json", "--end-to-end"},
                   {"--model", "--batch", "--size", "--iterations", "--warmup", "--device", "--precision", "--threads",
                    "--cuda-graph", "--decode-threads"});
  parser.parse(args);
  if (parser.has("--help")) return std::nullopt;
  BenchSettings s;
  s.model_dir = parser.value("--model");
  if (s.model_dir.empty()) throw UsageError("missing --model DIR");
  if (parser.has("--batch")) {
    s.batches.clear();
    const std::string list = parser.value("--batch");
    for (size_t begin = 0; begin <= list.size();) {
      const size_t comma = std::min(list.find(',', begin), list.size());
      s.batches.push_back(parse_int(list.substr(begin, comma - begin), "--batch", 1, 4096));
      begin = comma + 1;
    }
  }
  s.iterations = parser.int_value("--iterations", 20, 1, 1'000'000);
  s.warmup = parser.int_value("--warmup", 3, 0, 1'000'000);
  s.json = parser.has("--json");
  read_device_options(parser, s.options);
  if (parser.has("--size")) {
    const std::string size = parser.value("--size");
    const size_t x = size.find('x');
    if (x == std::string::npos) throw UsageError("--size must be HEIGHTxWIDTH, got '" + size + "'");
    s.height = parse_int(size.substr(0, x), "--size height", 1, 65536);
    s.width = parse_int(size.substr(x + 1), "--size width", 1, 65536);
  }
  s.end_to_end = parser.positionals();
  if (parser.has("--end-to-end") && s.end_to_end.empty()) throw UsageError("--end-to-end needs image files or folders");
  if (!parser.has("--end-to-end") && !s.end_to_end.empty())
    throw UsageError("unexpected argument '" + s.end_to_end[0] + "' (image files go with --end-to-end)");
  s.decode_threads = parser.int_value("--decode-threads", 0, 0, 4096);
  return s;
}

}  // namespace

const visionrt::ModelInfo& Model::info() const {
  return classifier ? classifier->info() : detector ? detector->info() : embedder->info();
}

void Model::forward(const std::vector<float>& pixels, const std::vector<float>& mask, int n, int height,
                    int width) const {
  if (classifier) classifier->logits(pixels.data(), n, height, width);
  else if (detector) detector->forward(pixels.data(), mask.data(), n, height, width);
  else embedder->tokens(pixels.data(), n, height, width);
}

double Model::flops(int n, int height, int width) const {
  return classifier ? classifier->forward_flops(n, height, width)
         : detector ? detector->forward_flops(n, height, width)
                    : embedder->forward_flops(n, height, width);
}

size_t Model::activation_bytes() const {
  return classifier ? classifier->peak_activation_bytes()
         : detector ? detector->peak_activation_bytes()
                    : embedder->peak_activation_bytes();
}

Model load_bench_model(const BenchSettings& s) {
  Model m;
  // Each kind in turn. A refusal for another reason than the architecture
  // (a precision the device lacks) stops there; when every kind refuses,
  // every reason is said, so the real one is never hidden.
  std::string reasons;
  auto attempt = [&](const char* kind, auto&& load) {
    try {
      load();
      return true;
    } catch (const visionrt::Error& e) {
      if (e.code() != visionrt::StatusCode::unsupported) throw;
      reasons += std::string(reasons.empty() ? "" : "; ") + "as " + kind + ": " + e.what();
      return false;
    }
  };
  if (!attempt("a classifier", [&] { m.classifier.emplace(visionrt::Classifier::load(s.model_dir, s.options)); }) &&
      !attempt("a detector", [&] { m.detector.emplace(visionrt::Detector::load(s.model_dir, s.options)); }) &&
      !attempt("an encoder", [&] { m.embedder.emplace(visionrt::Embedder::load(s.model_dir, s.options)); }))
    throw visionrt::Error(visionrt::StatusCode::unsupported, reasons);
  const visionrt::ModelInfo& info = m.info();
  const visionrt::Device device = m.classifier ? m.classifier->device()
                                  : m.detector ? m.detector->device()
                                               : m.embedder->device();
  const std::string& notice = m.classifier ? m.classifier->device_notice()
                              : m.detector ? m.detector->device_notice()
                                           : m.embedder->device_notice();
  if (!notice.empty()) std::fprintf(stderr, "visionrt: %s\n", notice.c_str());
  m.architecture = info.architecture;
  m.parameters = info.num_parameters;
  m.device = device == visionrt::Device::cuda ? "cuda" : "cpu";
  return m;
}

// The process's peak resident memory (VmHWM). Unlike getrusage's maxrss it
// starts anew at exec, so a large parent (a Python peers script) does not
// show through.
double peak_resident_kb() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
  std::fclose(f);
  return kb;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
  return v[i];
}

int run_bench(const std::vector<std::string>& args) {
  std::optional<BenchSettings> settings = parse_settings(args);
  if (!settings) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  BenchSettings& s = *settings;
  try {
    const Model m = load_bench_model(s);
    if (!s.end_to_end.empty()) return run_end_to_end(s, m);
    if (s.height == 0) {
      // The size images are prepared to (DINOv2's crop, the real-time DETRs'
      // fixed size), else DETR's usual 800x1066.
      const visionrt::ModelInfo& info = m.info();
      s.height = info.input_height ? info.input_height : 800;
      s.width = info.input_width ? info.input_width : 1066;
    }
    for (const int n : s.batches) {
      std::mt19937 rng(2024);
      std::normal_distribution<float> normal;
      std::vector<float> pixels(size_t(n) * 3 * s.height * s.width);
      for (float& p : pixels) p = normal(rng);
      std::vector<float> mask(size_t(n) * s.height * s.width, 1.f);
      auto forward = [&] { m.forward(pixels, mask, n, s.height, s.width); };
      for (int i = 0; i < s.warmup; ++i) forward();
      std::vector<double> ms;
      for (int i = 0; i < s.iterations; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        forward();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      const double flops = m.flops(n, s.height, s.width);
      const double p50 = percentile(ms, 50), mean_ms = [&] {
        double sum = 0;
        for (double t : ms) sum += t;
        return sum / ms.size();
      }();
      const double peak_mb = peak_resident_kb() / 1024.0;
      // On the device the model runs on: activations and scratch planned for this batch.
      const double planned_mb = m.activation_bytes() / 1048576.0;
      const char* precision = visionrt::precision_name(s.options.precision);
      if (s.json) {
        nlohmann::ordered_json j = {
            {"model", s.model_dir}, {"architecture", m.architecture}, {"device", m.device},
            {"threads", s.options.num_threads}, {"precision", precision},
            {"cuda_graphs", s.options.cuda_graphs}, {"batch", n}, {"height", s.height}, {"width", s.width},
            {"iterations", s.iterations}, {"latency_ms", {{"p50", p50}, {"p90", percentile(ms, 90)},
                                                          {"p99", percentile(ms, 99)}, {"min", percentile(ms, 0)},
                                                          {"mean", mean_ms}}},
            {"images_per_s", n * 1000.0 / mean_ms}, {"gflop_per_pass", flops / 1e9},
            {"gflop_per_s", flops / 1e9 / (p50 / 1000.0)}, {"peak_resident_mb", peak_mb},
            {"planned_activation_mb", planned_mb}};
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf("%s (%s), %.1f M parameters, device %s, %s, threads %d, batch %d, %dx%d\n",
                    s.model_dir.c_str(), m.architecture.c_str(), m.parameters / 1e6, m.device.c_str(), precision,
                    s.options.num_threads, n, s.height, s.width);
        std::printf("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  min %.2f  (%d passes after %d warm-up)\n", p50,
                    percentile(ms, 90), percentile(ms, 99), percentile(ms, 0), s.iterations, s.warmup);
        std::printf("throughput: %.2f images/s\n", n * 1000.0 / mean_ms);
        std::printf("compute: %.2f GFLOP per pass, %.1f GFLOP/s at p50\n", flops / 1e9, flops / 1e9 / (p50 / 1000.0));
        std::printf("peak resident memory: %.0f MB; activations and scratch on the %s: %.1f MB\n", peak_mb,
                    m.device.c_str(), planned_mb);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "visionrt: %s: %s\n", s.model_dir.c_str(), one_line_reason(e.what(), s.model_dir).c_str());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace visionrt_cli
