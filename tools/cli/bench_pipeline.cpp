// visionrt bench --end-to-end: the whole pipeline on image files, each stage
// timed alone, then the stages overlapped as a deployment runs them:
// decoding and preprocessing of batch k + 1 on a pool of threads while the
// model runs batch k. The forward pass alone is the bound the pipeline is
// measured against.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "bench.hpp"
#include "commands.hpp"
#include "inputs.hpp"
#include "output.hpp"
#include "parallel.hpp"

namespace visionrt_cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One batch, decoded and made model-ready.
struct Prepared {
  std::vector<visionrt::Image> images;
  std::vector<float> pixels;      // classifier: n x 3 x h x w
  visionrt::DetrBatch detr;       // detector: padded, with its mask
  double decode_ms = 0, preprocess_ms = 0;  // summed over the images (CPU time of one thread each)
};

Prepared prepare(const Model& m, const std::vector<std::string>& paths, int threads) {
  Prepared p;
  p.images.resize(paths.size());
  std::vector<double> decode(paths.size()), preprocess(paths.size());
  std::vector<std::vector<float>> pixels(paths.size());
  parallel_for(paths.size(), threads, [&](size_t i) {
    auto t0 = Clock::now();
    p.images[i] = visionrt::load_image(paths[i]);
    decode[i] = ms_since(t0);
    if (m.classifier) {
      t0 = Clock::now();
      pixels[i] = m.classifier->preprocess(p.images[i]);
      preprocess[i] = ms_since(t0);
    }
  });
  for (size_t i = 0; i < paths.size(); ++i) {
    p.decode_ms += decode[i];
    p.preprocess_ms += preprocess[i];
    p.pixels.insert(p.pixels.end(), pixels[i].begin(), pixels[i].end());
  }
  if (m.detector) {
    // Resizing, normalising and padding the batch together.
    const auto t0 = Clock::now();
    p.detr = m.detector->prepare(p.images);
    p.preprocess_ms = ms_since(t0);
  }
  return p;
}

struct RunTimes {
  double forward_ms = 0, post_ms = 0;
};

// The model, then its post-processing, on one prepared batch.
RunTimes run(const Model& m, const Prepared& p) {
  RunTimes t;
  auto t0 = Clock::now();
  if (m.classifier) {
    const visionrt::ModelInfo& info = m.classifier->info();
    const int n = static_cast<int>(p.images.size());
    const std::vector<float> logits = m.classifier->logits(p.pixels.data(), n, info.input_height, info.input_width);
    t.forward_ms = ms_since(t0);
    // Top-5 by softmax, as classify() does after its forward pass.
    t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      const float* l = logits.data() + static_cast<size_t>(i) * info.num_labels;
      std::vector<int> order(info.num_labels);
      for (int k = 0; k < info.num_labels; ++k) order[k] = k;
      const int k = std::min(5, info.num_labels);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) { return l[a] > l[b]; });
    }
    t.post_ms = ms_since(t0);
  } else {
    const visionrt::DetrOutputs out = m.detector->forward(p.detr);
    t.forward_ms = ms_since(t0);
    t0 = Clock::now();
    for (int i = 0; i < p.detr.n; ++i)
      (void)m.detector->post_process(out, i, p.detr.original_width[i], p.detr.original_height[i], 0.7f);
    t.post_ms = ms_since(t0);
  }
  return t;
}

}  // namespace

int run_end_to_end(const BenchSettings& s, const Model& m) {
  if (m.embedder) {
    std::fprintf(stderr, "visionrt: --end-to-end times classifiers and detectors; %s gives features only\n",
                 m.architecture.c_str());
    return kExitFailure;
  }
  if (!visionrt::has_image_io()) {
    std::fprintf(stderr, "visionrt: this build cannot decode image files (it was built without OpenCV)\n");
    return kExitFailure;
  }
  const ImageInputs inputs = expand_image_inputs(s.end_to_end);
  if (inputs.paths.empty()) {
    std::fprintf(stderr, "visionrt: no image files given\n");
    return kExitFailure;
  }
  const int batch = s.batches.front();
  const int threads = front_end_threads(s.decode_threads);
  // Batch k holds images k*batch, k*batch + 1, ... of the list, round and round.
  auto batch_paths = [&](int k) {
    std::vector<std::string> paths;
    for (int i = 0; i < batch; ++i) paths.push_back(inputs.paths[(size_t(k) * batch + i) % inputs.paths.size()]);
    return paths;
  };

  // Stage by stage, one batch at a time.
  for (int k = 0; k < s.warmup; ++k) run(m, prepare(m, batch_paths(k), threads));
  std::vector<double> decode, preprocess, forward, post;
  for (int k = 0; k < s.iterations; ++k) {
    const Prepared p = prepare(m, batch_paths(k), threads);
    const RunTimes t = run(m, p);
    decode.push_back(p.decode_ms / batch);
    preprocess.push_back(p.preprocess_ms / batch);
    forward.push_back(t.forward_ms);
    post.push_back(t.post_ms / batch);
  }

  // Overlapped: batch k + 1 is prepared while batch k runs.
  const auto t0 = Clock::now();
  std::future<Prepared> next = std::async(std::launch::async, prepare, std::cref(m), batch_paths(0), threads);
  for (int k = 0; k < s.iterations; ++k) {
    const Prepared p = next.get();
    if (k + 1 < s.iterations)
      next = std::async(std::launch::async, prepare, std::cref(m), batch_paths(k + 1), threads);
    run(m, p);
  }
  const double pipeline_ms = ms_since(t0);
  const double images = double(batch) * s.iterations;
  const double pipeline_ips = images * 1000.0 / pipeline_ms;
  const double model_ips = batch * 1000.0 / percentile(forward, 50);
  const double decode_ms = percentile(decode, 50), preprocess_ms = percentile(preprocess, 50),
               post_ms = percentile(post, 50), forward_ms = percentile(forward, 50);
  if (s.json) {
    nlohmann::ordered_json j = {
        {"model", s.model_dir}, {"architecture", m.architecture}, {"device", m.device},
        {"precision", visionrt::precision_name(s.options.precision)}, {"batch", batch}, {"images", inputs.paths.size()},
        {"decode_threads", threads}, {"iterations", s.iterations},
        {"per_image_ms", {{"decode", decode_ms}, {"preprocess", preprocess_ms}, {"post_process", post_ms}}},
        {"forward_ms_per_batch", forward_ms}, {"model_images_per_s", model_ips},
        {"pipeline_images_per_s", pipeline_ips}, {"peak_resident_mb", peak_resident_kb() / 1024.0}};
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }
  std::printf("%s (%s), device %s, %s, batch %d, %zu image files, %d decode threads\n", s.model_dir.c_str(),
              m.architecture.c_str(), m.device.c_str(), visionrt::precision_name(s.options.precision), batch,
              inputs.paths.size(), threads);
  std::printf("per image, one thread: decode %.2f ms, preprocess %.2f ms, post-process %.3f ms\n", decode_ms,
              preprocess_ms, post_ms);
  std::printf("forward pass (copies included): %.2f ms per batch of %d, %.1f images/s\n", forward_ms, batch,
              model_ips);
  std::printf("whole pipeline, overlapped: %.1f images/s (%.2fx the forward pass alone)\n", pipeline_ips,
              pipeline_ips / model_ips);
  std::printf("peak resident memory: %.0f MB\n", peak_resident_kb() / 1024.0);
  return kExitOk;
}

}  // namespace visionrt_cli
