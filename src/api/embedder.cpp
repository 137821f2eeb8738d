// visionrt::Embedder: a ViT-family encoder's tokens as image features, one
// planned executor per input shape seen.
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

struct Embedder::Impl {
  Impl(models::VitModel m, const Options& o, int height, int width)
      : model(std::move(m)),
        options(o),
        chosen(choose_backend_for(build(1, height, width), o)),
        executors(
            chosen.choice.backend, model.weights(), [this](int n, int h, int w) { return build(n, h, w); },
            kMaxPlannedShapes, o.cuda_graphs),
        device(device_of(executors.backend())) {
    executors.seed({1, height, width}, std::move(chosen.lowered));
  }
  graph::Graph build(int n, int h, int w) const {
    return model.build(n, h, w, options.interpolate_pos_encoding, models::VitOutput::hidden_states);
  }
  ModelInfo info;
  io::PreprocessConfig preprocess;
  models::VitModel model;
  Options options;
  SampleChoice chosen;
  ExecutorCache executors;
  Device device;
};

Embedder::Embedder(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Embedder Embedder::load(const std::string& model_dir, const Options& options) {
  return api_call("loading an embedder", [&] {
    io::ModelFolder folder = io::ModelFolder::open(model_dir);
    const std::string arch = io::architecture(folder.config);
    if (!models::VitModel::is_vit_family(folder.config, true))
      fail(StatusCode::unsupported, model_dir, ": architecture '", arch.empty() ? "(none)" : arch,
           "' is not supported for feature extraction (supported: ", models::VitModel::supported_architectures(),
           ", and the base models ViTModel, DeiTModel, Dinov2Model, Dinov2WithRegistersModel)");
    if (options.num_threads < 0)
      fail(StatusCode::invalid_argument, "num_threads must be 0 (all cores) or positive");
    models::VitModel model = models::VitModel::load(folder);
    const models::VitConfig& c = model.config();
    io::PreprocessConfig pp = io::classifier_preprocess(folder.preprocess, c.image_height, c.image_width,
                                                        options.interpolate_pos_encoding || c.resample_always);
    auto impl = std::make_shared<Impl>(std::move(model), options, pp.output_height(), pp.output_width());
    const models::VitConfig& cfg = impl->model.config();
    ModelInfo& info = impl->info;
    info.architecture = cfg.architecture;
    info.image_height = cfg.image_height;
    info.image_width = cfg.image_width;
    info.num_channels = cfg.num_channels;
    info.num_labels = static_cast<int>(cfg.labels.size());
    info.num_parameters = impl->model.num_parameters();
    info.input_height = pp.output_height();
    info.input_width = pp.output_width();
    impl->preprocess = pp;
    return Embedder(std::move(impl));
  });
}

const ModelInfo& Embedder::info() const { return impl_->info; }
Device Embedder::device() const { return impl_->device; }
const std::string& Embedder::device_notice() const { return impl_->chosen.choice.notice; }
int Embedder::hidden_size() const { return impl_->model.config().hidden_size; }

int Embedder::num_tokens(int height, int width) const {
  const models::VitConfig& c = impl_->model.config();
  return c.prefix_tokens + (height / c.patch_size) * (width / c.patch_size);
}

std::vector<float> Embedder::tokens(const float* pixel_values, int n, int height, int width) const {
  return api_call("extracting features", [&] {
    if (!pixel_values) fail(StatusCode::invalid_argument, "pixel_values is null");
    if (n <= 0 || height <= 0 || width <= 0)
      fail(StatusCode::invalid_argument, "batch ", n, "x", height, "x", width, " must be positive");
    const int64_t S = num_tokens(height, width), D = hidden_size();
    std::vector<float> out(static_cast<size_t>(n * S * D));
    const Tensor in = Tensor::view(DType::f32, {n, impl_->info.num_channels, height, width},
                                   const_cast<float*>(pixel_values));
    const Tensor hidden = Tensor::view(DType::f32, {n, S, D}, out.data());
    impl_->executors.run({n, height, width}, {in}, {hidden});
    if (const int64_t at = io::first_non_finite(hidden); at >= 0)
      fail(StatusCode::unsupported, "the features of image ", at / (S * D),
           " hold a non-finite value (NaN or infinity): the forward pass overflowed");
    return out;
  });
}

std::vector<float> Embedder::embed(const float* pixel_values, int n, int height, int width, Pooling pooling) const {
  return api_call("extracting features", [&] {
    std::vector<float> all = tokens(pixel_values, n, height, width);
    if (pooling == Pooling::tokens) return all;
    const int64_t S = num_tokens(height, width), D = hidden_size(), first = impl_->model.config().prefix_tokens;
    std::vector<float> out(static_cast<size_t>(n * D));
    for (int64_t i = 0; i < n; ++i) {
      const float* seq = all.data() + i * S * D;
      if (pooling == Pooling::cls) {
        std::copy(seq, seq + D, out.begin() + i * D);
        continue;
      }
      for (int64_t d = 0; d < D; ++d) {
        double sum = 0;
        for (int64_t s = first; s < S; ++s) sum += seq[s * D + d];
        out[i * D + d] = static_cast<float>(sum / double(S - first));
      }
    }
    return out;
  });
}

std::vector<float> Embedder::preprocess_file(const std::string& path) const {
  return api_call("preparing an image", [&] {
    const io::PreprocessConfig& p = impl_->preprocess;
    std::vector<float> out(size_t(3) * p.output_height() * p.output_width());
    io::preprocess(io::load_image(path, kMaxImagePixels), p, out.data());
    return out;
  });
}

std::vector<float> Embedder::preprocess(const Image& image) const {
  return api_call("preparing an image", [&] {
    const io::PreprocessConfig& p = impl_->preprocess;
    std::vector<float> out(size_t(3) * p.output_height() * p.output_width());
    io::preprocess(io::checked_image(image), p, out.data());
    return out;
  });
}

double Embedder::forward_flops(int n, int height, int width) const {
  return api_call("counting operations", [&] { return graph::count_flops(impl_->build(n, height, width)); });
}

size_t Embedder::peak_activation_bytes() const { return impl_->executors.held_bytes(); }

std::vector<std::vector<float>> Embedder::embed_files(const std::vector<std::string>& paths, Pooling pooling) const {
  return api_call("extracting features", [&] {
    std::vector<std::vector<float>> out;
    const ModelInfo& info = impl_->info;
    for (const std::string& path : paths) {
      const std::vector<float> px = preprocess_file(path);
      out.push_back(embed(px.data(), 1, info.input_height, info.input_width, pooling));
    }
    return out;
  });
}

}  // namespace visionrt
