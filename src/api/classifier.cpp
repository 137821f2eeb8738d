// visionrt::Classifier: a ViT checkpoint, its preprocessing, and one planned
// executor per input shape seen.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "api/api_call.hpp"
#include "api/executor_cache.hpp"
#include "api/registry.hpp"
#include "core/error.hpp"
#include "graph/flops.hpp"
#include "io/image.hpp"
#include "io/model_folder.hpp"
#include "models/vit.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt {

struct Classifier::Impl {
  // The sample is one image of the size images are prepared to (height x
  // width): the first run's graph.
  Impl(models::VitModel m, const Options& o, const io::PreprocessConfig& p)
      : preprocess(p),
        model(std::move(m)),
        options(o),
        chosen(choose_backend_for(build(1, p.output_height(), p.output_width()), o)),
        executors(
            chosen.choice.backend, model.weights(), [this](int n, int h, int w) { return build(n, h, w); },
            kMaxPlannedShapes, o.cuda_graphs),
        device(device_of(executors.backend())) {
    executors.seed({1, p.output_height(), p.output_width()}, std::move(chosen.lowered));
  }
  graph::Graph build(int n, int h, int w) const { return model.build(n, h, w, options.interpolate_pos_encoding); }
  ModelInfo info;
  io::PreprocessConfig preprocess;
  models::VitModel model;
  Options options;
  SampleChoice chosen;
  ExecutorCache executors;
  Device device;  // where the backend runs: automatic resolved
  // How logits become scores, as transformers' image-classification
  // pipeline chooses from config.json's problem_type and num_labels.
  enum class Scores { softmax, sigmoid, logits } scores = Scores::softmax;

  std::vector<float> preprocess_image(const Image& img) const {
    std::vector<float> out(size_t(3) * preprocess.output_height() * preprocess.output_width());
    io::preprocess(img, preprocess, out.data());
    return out;
  }

  std::vector<Label> top_labels(const float* logits, int topk) const {
    const int L = info.num_labels;
    // In double: scores of near-tied classes keep their order.
    std::vector<double> p(L);
    double sum = 1.0;
    if (scores == Scores::softmax) {
      const float mx = *std::max_element(logits, logits + L);
      sum = 0.0;
      for (int i = 0; i < L; ++i) sum += p[i] = std::exp(double(logits[i]) - mx);
    } else if (scores == Scores::sigmoid) {
      for (int i = 0; i < L; ++i) p[i] = 1.0 / (1.0 + std::exp(-double(logits[i])));
    } else {
      for (int i = 0; i < L; ++i) p[i] = logits[i];
    }
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
  return api_call("loading a classifier", [&] {
    io::ModelFolder folder = io::ModelFolder::open(model_dir);
    const std::string arch = io::architecture(folder.config);
    if (!models::VitModel::is_vit_family(folder.config))
      fail(StatusCode::unsupported, model_dir, ": architecture '", arch.empty() ? "(none)" : arch,
           "' is not supported for classification (supported: ", models::VitModel::supported_architectures(), ")");
    if (options.num_threads < 0)
      fail(StatusCode::invalid_argument, "num_threads must be 0 (all cores) or positive");
    models::VitModel model = models::VitModel::load(folder);
    const models::VitConfig& loaded = model.config();
    const io::PreprocessConfig pp = io::classifier_preprocess(
        folder.preprocess, loaded.image_height, loaded.image_width,
        options.interpolate_pos_encoding || loaded.resample_always);
    auto impl = std::make_shared<Impl>(std::move(model), options, pp);
    const models::VitConfig& c = impl->model.config();
    ModelInfo& info = impl->info;
    info.architecture = c.architecture;
    info.image_height = c.image_height;
    info.image_width = c.image_width;
    info.num_channels = c.num_channels;
    info.num_labels = static_cast<int>(c.labels.size());
    info.num_parameters = impl->model.num_parameters();
    // As the pipeline: "regression" gives the logits, "multi_label_classification"
    // or a single label a sigmoid of each, anything else a softmax.
    const auto problem = folder.config.find("problem_type");
    if (problem != folder.config.end() && !problem->is_null()) {
      const std::string kind = problem->is_string() ? problem->get<std::string>() : "";
      if (kind == "regression") impl->scores = Impl::Scores::logits;
      else if (kind == "multi_label_classification") impl->scores = Impl::Scores::sigmoid;
      else if (kind != "single_label_classification")
        fail(StatusCode::corrupt_file, model_dir, "/config.json: key 'problem_type' must be \"regression\", "
             "\"single_label_classification\" or \"multi_label_classification\"");
    }
    if (info.num_labels == 1 && impl->scores == Impl::Scores::softmax) impl->scores = Impl::Scores::sigmoid;
    impl->info.input_height = pp.output_height();
    impl->info.input_width = pp.output_width();
    return Classifier(std::move(impl));
  });
}

const ModelInfo& Classifier::info() const { return impl_->info; }
Device Classifier::device() const { return impl_->device; }
const std::string& Classifier::device_notice() const { return impl_->chosen.choice.notice; }
const std::vector<std::string>& Classifier::label_names() const { return impl_->model.config().labels; }

std::vector<float> Classifier::logits(const float* pixel_values, int n, int height, int width) const {
  return api_call("running the classifier", [&] {
    if (!pixel_values) fail(StatusCode::invalid_argument, "pixel_values is null");
    if (n <= 0 || height <= 0 || width <= 0)
      fail(StatusCode::invalid_argument, "batch ", n, "x", height, "x", width, " must be positive");
    const ModelInfo& info = impl_->info;
    std::vector<float> out(static_cast<size_t>(n) * info.num_labels);
    const Tensor in = Tensor::view(DType::f32, {n, info.num_channels, height, width},
                                   const_cast<float*>(pixel_values));
    const Tensor logits = Tensor::view(DType::f32, {n, info.num_labels}, out.data());
    impl_->executors.run({n, height, width}, {in}, {logits});
    // Finite weights can still overflow (or the pixels hold NaN): a NaN
    // score must not be reported as a result.
    if (const int64_t at = io::first_non_finite(logits); at >= 0)
      fail(StatusCode::unsupported, "output 'logits' of image ", at / info.num_labels,
           " holds a non-finite value (NaN or infinity): the forward pass overflowed");
    return out;
  });
}

std::vector<std::vector<Label>> Classifier::classify(const float* pixel_values, int n, int height,
                                                     int width, int topk) const {
  return api_call("classifying", [&] {
    if (topk <= 0) fail(StatusCode::invalid_argument, "topk must be positive, got ", topk);
    const std::vector<float> l = logits(pixel_values, n, height, width);
    std::vector<std::vector<Label>> out;
    for (int i = 0; i < n; ++i) out.push_back(impl_->top_labels(l.data() + size_t(i) * impl_->info.num_labels, topk));
    return out;
  });
}

std::vector<float> Classifier::preprocess_file(const std::string& path) const {
  return api_call("preparing an image", [&] {
    return impl_->preprocess_image(io::load_image(path, kMaxImagePixels));
  });
}

std::vector<float> Classifier::preprocess(const Image& image) const {
  return api_call("preparing an image", [&] {
    return impl_->preprocess_image(io::checked_image(image));
  });
}

std::vector<std::vector<Label>> Classifier::classify_files(const std::vector<std::string>& paths,
                                                           int topk) const {
  return api_call("classifying", [&]() -> std::vector<std::vector<Label>> {
    if (paths.empty()) return {};
    const int h = impl_->info.input_height, w = impl_->info.input_width;
    const size_t per = size_t(3) * h * w;
    std::vector<float> batch(per * paths.size());
    for (size_t i = 0; i < paths.size(); ++i) {
      const std::vector<float> one = preprocess_file(paths[i]);
      std::copy(one.begin(), one.end(), batch.begin() + i * per);
    }
    return classify(batch.data(), static_cast<int>(paths.size()), h, w, topk);
  });
}

std::vector<Label> Classifier::classify_encoded(const uint8_t* data, size_t size, int topk) const {
  return api_call("classifying", [&] {
    const std::vector<float> px = impl_->preprocess_image(io::decode_image(data, size, "<memory>", kMaxImagePixels));
    return classify(px.data(), 1, impl_->info.input_height, impl_->info.input_width, topk)[0];
  });
}

double Classifier::forward_flops(int n, int height, int width) const {
  return api_call("counting operations", [&] {
    return graph::count_flops(impl_->model.build(n, height, width, impl_->options.interpolate_pos_encoding));
  });
}

size_t Classifier::peak_activation_bytes() const { return impl_->executors.held_bytes(); }

}  // namespace visionrt
