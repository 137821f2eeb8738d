// visionrt::Detector: a DETR or real-time DETR checkpoint, its image
// processor's preparation (DETR: resize, normalise, pad bottom-right, pixel
// mask; RT-DETR: resize to a fixed size) and its post-processing.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "api/api_call.hpp"
#include "api/executor_cache.hpp"
#include "api/registry.hpp"
#include "core/error.hpp"
#include "graph/flops.hpp"
#include "io/image.hpp"
#include "io/model_folder.hpp"
#include "models/detection.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt {

namespace {

// A resized, normalised image of a batch, before padding.
struct Prepared {
  int width, height, original_width, original_height;
  std::vector<float> chw;
};

}  // namespace

struct Detector::Impl {
  Impl(models::DetectionModel m, const io::PreprocessConfig& p, const Options& o)
      : preprocess(p),
        model(std::move(m)),
        sample(sample_size(model, preprocess)),
        chosen(choose_backend_for(model.build(1, sample.first, sample.second), o)),
        executors(chosen.choice.backend, model.weights, model.build, kMaxPlannedShapes, o.cuda_graphs),
        device(device_of(executors.backend())) {
    executors.seed({1, sample.first, sample.second}, std::move(chosen.lowered));
  }
  // Any input size has the same ops: the kernels are checked on a small one,
  // or on the fixed size a real-time DETR's processor gives (which has
  // cells enough for its queries, and is the size it runs at).
  static std::pair<int, int> sample_size(const models::DetectionModel& m, const io::PreprocessConfig& p) {
    if (m.takes_pixel_mask || !p.do_resize || p.shortest_edge) return {64, 64};
    return {p.height, p.width};
  }
  ModelInfo info;
  io::PreprocessConfig preprocess;
  models::DetectionModel model;
  std::pair<int, int> sample;
  SampleChoice chosen;
  ExecutorCache executors;
  Device device;

  Prepared prepare(const Image& img) const {
    Prepared p{0, 0, img.width, img.height, {}};
    io::output_size(preprocess, img.width, img.height, &p.width, &p.height);
    p.chw.resize(size_t(3) * p.width * p.height);
    io::preprocess(img, preprocess, p.chw.data());
    return p;
  }
  // Detections of prepared images, as Detector::detect describes.
  std::vector<std::vector<Detection>> detect(std::vector<Prepared> images, float threshold,
                                             const Detector& self) const;
};

Detector::Detector(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Detector Detector::load(const std::string& model_dir, const Options& options) {
  return api_call("loading a detector", [&] {
    io::ModelFolder folder = io::ModelFolder::open(model_dir);
    if (options.num_threads < 0)
      fail(StatusCode::invalid_argument, "num_threads must be 0 (all cores) or positive");
    auto impl = std::make_shared<Impl>(models::load_detection_model(folder, model_dir), folder.preprocess, options);
    const models::DetectionModel& m = impl->model;
    impl->info.architecture = m.architecture;
    impl->info.num_labels = static_cast<int>(m.labels.size());
    impl->info.num_parameters = m.parameters;
    impl->info.num_queries = m.queries;
    // A processor that resizes to one fixed size (the real-time DETRs')
    // gives every image the same input.
    const io::PreprocessConfig& pre = folder.preprocess;
    if (pre.do_resize && pre.shortest_edge == 0 && pre.longest_edge == 0) {
      impl->info.input_height = pre.height;
      impl->info.input_width = pre.width;
    }
    return Detector(std::move(impl));
  });
}

const ModelInfo& Detector::info() const { return impl_->info; }
Device Detector::device() const { return impl_->device; }
const std::string& Detector::device_notice() const { return impl_->chosen.choice.notice; }
const std::vector<std::string>& Detector::label_names() const { return impl_->model.labels; }

DetrOutputs Detector::forward(const float* pixel_values, const float* pixel_mask, int n, int height,
                              int width) const {
  return api_call("running the detector", [&] {
    if (!pixel_values) fail(StatusCode::invalid_argument, "pixel_values is null");
    if (n <= 0 || height <= 0 || width <= 0)
      fail(StatusCode::invalid_argument, "batch ", n, "x", height, "x", width, " must be positive");
    std::vector<float> ones;
    if (!pixel_mask) {
      ones.assign(size_t(n) * height * width, 1.f);
      pixel_mask = ones.data();
    }
    const models::DetectionModel& m = impl_->model;
    DetrOutputs out;
    out.batch = n;
    out.queries = m.queries;
    out.classes = m.classes;
    out.sigmoid_scores = m.sigmoid_scores;
    out.logits.resize(size_t(n) * out.queries * out.classes);
    out.boxes.resize(size_t(n) * out.queries * 4);
    const Tensor px = Tensor::view(DType::f32, {n, 3, height, width}, const_cast<float*>(pixel_values));
    const Tensor mask = Tensor::view(DType::f32, {n, height, width}, const_cast<float*>(pixel_mask));
    const Tensor logits = Tensor::view(DType::f32, {n, out.queries, out.classes}, out.logits.data());
    const Tensor boxes = Tensor::view(DType::f32, {n, out.queries, 4}, out.boxes.data());
    if (m.takes_pixel_mask)
      impl_->executors.run({n, height, width}, {px, mask}, {logits, boxes});
    else  // the real-time DETRs read no mask (transformers' neither)
      impl_->executors.run({n, height, width}, {px}, {logits, boxes});
    // Finite weights can still overflow (or the pixels hold NaN): NaN
    // scores or boxes must not be reported as detections.
    for (const auto& [name, t] : {std::pair<const char*, const Tensor&>{"logits", logits}, {"pred_boxes", boxes}})
      if (const int64_t at = io::first_non_finite(t); at >= 0)
        fail(StatusCode::unsupported, "output '", name, "' of image ", at / (t.numel() / n),
             " holds a non-finite value (NaN or infinity): the forward pass overflowed");
    return out;
  });
}

DetrOutputs Detector::forward(const DetrBatch& b) const {
  return api_call("running the detector", [&] {
    if (b.pixel_values.size() != size_t(b.n) * 3 * b.height * b.width ||
        b.pixel_mask.size() != size_t(b.n) * b.height * b.width)
      fail(StatusCode::invalid_argument, "DetrBatch sizes disagree with n x height x width");
    return forward(b.pixel_values.data(), b.pixel_mask.data(), b.n, b.height, b.width);
  });
}

std::vector<Detection> Detector::post_process(const DetrOutputs& o, int index, int image_width,
                                              int image_height, float threshold) const {
  return api_call("post-processing detections", [&] {
    if (index < 0 || index >= o.batch) fail(StatusCode::invalid_argument, "image index ", index, " outside the batch");
    const auto& names = label_names();
    const int labels = static_cast<int>(names.size());
    if (o.classes != (o.sigmoid_scores ? labels : labels + 1) || o.logits.size() != size_t(o.batch) * o.queries * o.classes ||
        o.boxes.size() != size_t(o.batch) * o.queries * 4)
      fail(StatusCode::invalid_argument, "outputs of ", o.batch, "x", o.queries, "x", o.classes,
           " do not fit this model's ", labels, " labels");
    const float* logits = o.logits.data() + size_t(index) * o.queries * o.classes;
    auto detection = [&](int q, int id, float score) {
      const float* b = o.boxes.data() + (size_t(index) * o.queries + q) * 4;
      Detection d;
      d.id = id;
      d.query = q;
      d.name = names[id];
      d.score = score;
      d.box = {(b[0] - 0.5f * b[2]) * image_width, (b[1] - 0.5f * b[3]) * image_height,
               (b[0] + 0.5f * b[2]) * image_width, (b[1] + 0.5f * b[3]) * image_height};
      return d;
    };
    std::vector<Detection> dets;
    if (o.sigmoid_scores) {
      // RTDetrImageProcessor: the `queries` best of every query's
      // per-class sigmoid scores (a query may come out under two labels).
      const size_t total = size_t(o.queries) * o.classes;
      std::vector<std::pair<float, size_t>> scored;
      for (size_t i = 0; i < total; ++i)
        scored.push_back({static_cast<float>(1.0 / (1.0 + std::exp(-double(logits[i])))), i});
      const size_t keep = std::min<size_t>(o.queries, total);
      std::partial_sort(scored.begin(), scored.begin() + keep, scored.end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      });
      for (size_t k = 0; k < keep; ++k)
        if (scored[k].first > threshold)
          dets.push_back(detection(static_cast<int>(scored[k].second / o.classes),
                                   static_cast<int>(scored[k].second % o.classes), scored[k].first));
      return dets;
    }
    for (int q = 0; q < o.queries; ++q) {
      const float* l = logits + size_t(q) * o.classes;
      const float mx = *std::max_element(l, l + o.classes);
      double sum = 0;
      for (int k = 0; k < o.classes; ++k) sum += std::exp(double(l[k]) - mx);
      // The best real class; "no object" (the last column) only dilutes it.
      const int best = static_cast<int>(std::max_element(l, l + o.classes - 1) - l);
      const float score = static_cast<float>(std::exp(double(l[best]) - mx) / sum);
      if (score > threshold) dets.push_back(detection(q, best, score));
    }
    std::stable_sort(dets.begin(), dets.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
    return dets;
  });
}

namespace {

DetrBatch pad_batch(std::vector<Prepared>& images) {
  DetrBatch b;
  b.n = static_cast<int>(images.size());
  for (const auto& p : images) {
    b.height = std::max(b.height, p.height);
    b.width = std::max(b.width, p.width);
  }
  const size_t plane = size_t(b.height) * b.width;
  b.pixel_values.assign(size_t(b.n) * 3 * plane, 0.f);  // padding is zero, as the reference's
  b.pixel_mask.assign(size_t(b.n) * plane, 0.f);
  for (int i = 0; i < b.n; ++i) {
    const auto& p = images[i];
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < p.height; ++y)
        std::copy_n(p.chw.data() + (size_t(c) * p.height + y) * p.width, p.width,
                    b.pixel_values.data() + ((size_t(i) * 3 + c) * b.height + y) * b.width);
    for (int y = 0; y < p.height; ++y)
      std::fill_n(b.pixel_mask.data() + (size_t(i) * b.height + y) * b.width, p.width, 1.f);
    b.original_width.push_back(p.original_width);
    b.original_height.push_back(p.original_height);
  }
  return b;
}

}  // namespace

DetrBatch Detector::prepare_files(const std::vector<std::string>& paths) const {
  return api_call("preparing images", [&] {
    if (paths.empty()) fail(StatusCode::invalid_argument, "no images given");
    std::vector<Prepared> images;
    for (const std::string& path : paths) images.push_back(impl_->prepare(io::load_image(path, kMaxImagePixels)));
    return pad_batch(images);
  });
}

DetrBatch Detector::prepare(const std::vector<Image>& images) const {
  return api_call("preparing images", [&] {
    if (images.empty()) fail(StatusCode::invalid_argument, "no images given");
    std::vector<Prepared> prepared;
    for (const Image& img : images) prepared.push_back(impl_->prepare(io::checked_image(img)));
    return pad_batch(prepared);
  });
}

std::vector<std::vector<Detection>> Detector::Impl::detect(std::vector<Prepared> images, float threshold,
                                                           const Detector& self) const {
  // Images run together only with images of the same prepared size. Padding
  // would change an image's backbone features near its border (convolutions
  // see the padding), and so its detections; grouping keeps every image's
  // detections equal to those it gets alone. forward() still takes padded
  // batches, as DetrImageProcessor makes them.
  std::vector<std::vector<Detection>> out(images.size());
  std::vector<bool> done(images.size(), false);
  for (size_t i = 0; i < images.size(); ++i) {
    if (done[i]) continue;
    std::vector<size_t> group;
    std::vector<Prepared> same;
    for (size_t j = i; j < images.size(); ++j)
      if (!done[j] && images[j].width == images[i].width && images[j].height == images[i].height) {
        group.push_back(j);
        same.push_back(std::move(images[j]));
        done[j] = true;
      }
    const DetrBatch b = pad_batch(same);
    const DetrOutputs o = self.forward(b);
    for (size_t k = 0; k < group.size(); ++k)
      out[group[k]] = self.post_process(o, static_cast<int>(k), b.original_width[k], b.original_height[k], threshold);
  }
  return out;
}

std::vector<std::vector<Detection>> Detector::detect_files(const std::vector<std::string>& paths,
                                                           float threshold) const {
  return api_call("detecting", [&] {
    std::vector<Prepared> images;
    for (const std::string& path : paths) images.push_back(impl_->prepare(io::load_image(path, kMaxImagePixels)));
    return impl_->detect(std::move(images), threshold, *this);
  });
}

std::vector<std::vector<Detection>> Detector::detect(const std::vector<Image>& images, float threshold) const {
  return api_call("detecting", [&] {
    std::vector<Prepared> prepared;
    for (const Image& img : images) prepared.push_back(impl_->prepare(io::checked_image(img)));
    return impl_->detect(std::move(prepared), threshold, *this);
  });
}

std::vector<Detection> Detector::detect_encoded(const uint8_t* data, size_t size, float threshold) const {
  return api_call("detecting", [&] {
    std::vector<Prepared> images{impl_->prepare(io::decode_image(data, size, "<memory>", kMaxImagePixels))};
    return impl_->detect(std::move(images), threshold, *this)[0];
  });
}

void Detector::draw(const Image& image, const std::vector<Detection>& detections,
                    const std::string& out_path) const {
  return api_call("drawing detections", [&] {
    std::vector<io::DrawBox> boxes;
    for (const Detection& d : detections) {
      char score[16];
      std::snprintf(score, sizeof score, " %.2f", d.score);
      boxes.push_back({d.box.x0, d.box.y0, d.box.x1, d.box.y1, d.name + score, d.id});
    }
    io::write_annotated(io::checked_image(image), boxes, out_path);
  });
}

double Detector::forward_flops(int n, int height, int width) const {
  return api_call("counting operations", [&] {
    return graph::count_flops(impl_->model.build(n, height, width));
  });
}

size_t Detector::peak_activation_bytes() const { return impl_->executors.held_bytes(); }

}  // namespace visionrt
