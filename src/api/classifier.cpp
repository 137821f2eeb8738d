// visionrt::Classifier: a ViT checkpoint, its preprocessing, and one planned
// executor per input shape seen.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <tuple>

#include "backends/registry.hpp"
#include "core/error.hpp"
#include "graph/executor.hpp"
#include "io/image.hpp"
#include "io/model_folder.hpp"
#include "models/vit.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt {

const char* version() noexcept { return VISIONRT_VERSION_STRING; }

bool has_image_io() noexcept {
#if VISIONRT_HAVE_OPENCV
  return true;
#else
  return false;
#endif
}

bool cuda_available() noexcept { return cuda_backend_usable(); }

namespace {

// Executors kept per input shape; beyond this many the cache starts over, so
// a caller cycling through many batch sizes cannot grow memory without bound.
constexpr size_t kMaxCachedShapes = 8;

std::string architecture_of(const nlohmann::json& config) {
  const auto it = config.find("architectures");
  if (it != config.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    return (*it)[0].get<std::string>();
  return io::config_string(config, "model_type", "");
}

}  // namespace

struct Classifier::Impl {
  explicit Impl(models::VitModel m) : model(std::move(m)) {}
  ModelInfo info;
  io::PreprocessConfig preprocess;
  models::VitModel model;
  Options options;
  std::shared_ptr<Backend> backend;
  Device device = Device::cpu;
  std::mutex mu;  // one run at a time: executors own their activation memory
  std::map<std::tuple<int, int, int>, std::unique_ptr<graph::Executor>> executors;
  size_t peak_bytes = 0;

  graph::Executor& executor(int n, int h, int w) {
    auto key = std::make_tuple(n, h, w);
    auto it = executors.find(key);
    if (it != executors.end()) return *it->second;
    if (executors.size() >= kMaxCachedShapes) executors.clear();
    auto ex = std::make_unique<graph::Executor>(
        model.build(n, h, w, options.interpolate_pos_encoding), backend);
    peak_bytes = std::max(peak_bytes, ex->plan().arena_bytes + ex->plan().workspace_bytes);
    return *executors.emplace(key, std::move(ex)).first->second;
  }

  std::vector<Label> top_labels(const float* logits, int topk) const {
    const int L = info.num_labels;
    // Softmax in double: probabilities of near-tied classes keep their order.
    const float mx = *std::max_element(logits, logits + L);
    std::vector<double> p(L);
    double sum = 0.0;
    for (int i = 0; i < L; ++i) sum += p[i] = std::exp(double(logits[i]) - mx);
    std::vector<int> order(L);
    std::iota(order.begin(), order.end(), 0);
    const int k = std::min(topk, L);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    std::vector<Label> out;
    for (int i = 0; i < k; ++i)
      out.push_back({order[i], model.config().labels[order[i]], static_cast<float>(p[order[i]] / sum)});
    return out;
  }
};

Classifier::Classifier(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Classifier Classifier::load(const std::string& model_dir, const Options& options) {
  io::ModelFolder folder = io::ModelFolder::open(model_dir);
  const std::string arch = architecture_of(folder.config);
  if (arch != "ViTForImageClassification")
    fail(StatusCode::unsupported, model_dir, ": architecture '", arch.empty() ? "(none)" : arch,
         "' is not supported for classification (supported: ViTForImageClassification)");
  if (options.num_threads < 0)
    fail(StatusCode::invalid_argument, "num_threads must be 0 (all cores) or positive");
  auto impl = std::make_shared<Impl>(models::VitModel::load(folder));
  const models::VitConfig& c = impl->model.config();
  impl->info = {arch, c.image_height, c.image_width, c.num_channels,
                static_cast<int>(c.labels.size()), impl->model.num_parameters()};
  impl->options = options;
  impl->backend = make_backend(options.device, options.num_threads);
  impl->device = Device::cpu;
  // Batches need one input size. It is the processor's fixed size when the
  // position table may be resampled for it, else the model's own.
  io::PreprocessConfig& pp = impl->preprocess;
  pp = folder.preprocess;
  pp.do_resize = true;
  if (!options.interpolate_pos_encoding || pp.shortest_edge > 0) {
    pp.shortest_edge = pp.longest_edge = 0;
    pp.height = c.image_height;
    pp.width = c.image_width;
  }
  return Classifier(std::move(impl));
}

const ModelInfo& Classifier::info() const { return impl_->info; }
Device Classifier::device() const { return impl_->device; }
const std::vector<std::string>& Classifier::label_names() const { return impl_->model.config().labels; }

std::vector<float> Classifier::logits(const float* pixel_values, int n, int height, int width) const {
  if (!pixel_values) fail(StatusCode::invalid_argument, "pixel_values is null");
  if (n <= 0 || height <= 0 || width <= 0)
    fail(StatusCode::invalid_argument, "batch ", n, "x", height, "x", width, " must be positive");
  std::lock_guard<std::mutex> lock(impl_->mu);
  graph::Executor& ex = impl_->executor(n, height, width);
  std::vector<float> out(static_cast<size_t>(n) * impl_->info.num_labels);
  ex.run({pixel_values}, {out.data()});
  return out;
}

std::vector<std::vector<Label>> Classifier::classify(const float* pixel_values, int n, int height,
                                                     int width, int topk) const {
  if (topk <= 0) fail(StatusCode::invalid_argument, "topk must be positive, got ", topk);
  const std::vector<float> l = logits(pixel_values, n, height, width);
  std::vector<std::vector<Label>> out;
  for (int i = 0; i < n; ++i) out.push_back(impl_->top_labels(l.data() + size_t(i) * impl_->info.num_labels, topk));
  return out;
}

std::vector<float> Classifier::preprocess_file(const std::string& path) const {
  const io::ImageRGB8 img = io::load_image(path, kMaxImagePixels);
  const io::PreprocessConfig& p = impl_->preprocess;
  std::vector<float> out(size_t(3) * p.height * p.width);
  io::preprocess(img, p, out.data());
  return out;
}

std::vector<std::vector<Label>> Classifier::classify_files(const std::vector<std::string>& paths,
                                                           int topk) const {
  if (paths.empty()) return {};
  const io::PreprocessConfig& p = impl_->preprocess;
  const size_t per = size_t(3) * p.height * p.width;
  std::vector<float> batch(per * paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::vector<float> one = preprocess_file(paths[i]);
    std::copy(one.begin(), one.end(), batch.begin() + i * per);
  }
  return classify(batch.data(), static_cast<int>(paths.size()), p.height, p.width, topk);
}

std::vector<Label> Classifier::classify_encoded(const uint8_t* data, size_t size, int topk) const {
  const io::ImageRGB8 img = io::decode_image(data, size, "<memory>", kMaxImagePixels);
  const io::PreprocessConfig& p = impl_->preprocess;
  std::vector<float> px(size_t(3) * p.height * p.width);
  io::preprocess(img, p, px.data());
  return classify(px.data(), 1, p.height, p.width, topk)[0];
}

size_t Classifier::peak_activation_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->peak_bytes;
}

}  // namespace visionrt
