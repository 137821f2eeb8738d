// The C API, library-wide calls and the classifier: thin wrappers that turn
// visionrt::Error into status codes and a per-thread message.
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "api/c_api_common.hpp"

namespace visionrt::capi {

Options to_options(const vrt_options* options) {
  Options o;
  if (!options) return o;
  // A caller compiled with an older header has a shorter struct: fields past
  // its end keep their defaults.
  const size_t size = options->struct_size;
  if (size < offsetof(vrt_options, precision))
    throw Error(StatusCode::invalid_argument, "vrt_options.struct_size is " + std::to_string(size) +
                                                  ": fill the options with vrt_options_default first");
  const auto has = [size](size_t offset, size_t field) { return offset + field <= size; };
  // Read as int: a C caller may store any value in an enum field, and
  // loading one outside the C++ enum's values would be undefined.
  static_assert(sizeof(vrt_device) == sizeof(int) && sizeof(vrt_precision) == sizeof(int), "C enums are ints");
  int device = 0, precision = 0;
  std::memcpy(&device, &options->device, sizeof device);
  switch (device) {
    case VRT_DEVICE_CPU: o.device = Device::cpu; break;
    case VRT_DEVICE_CUDA: o.device = Device::cuda; break;
    case VRT_DEVICE_AUTO: o.device = Device::automatic; break;
    default: throw Error(StatusCode::invalid_argument, "unknown vrt_device value");
  }
  o.num_threads = options->num_threads;
  o.interpolate_pos_encoding = options->interpolate_pos_encoding != 0;
  if (has(offsetof(vrt_options, precision), sizeof options->precision)) {
    std::memcpy(&precision, &options->precision, sizeof precision);
    switch (precision) {
      case VRT_PRECISION_FP32: o.precision = Precision::fp32; break;
      case VRT_PRECISION_BF16: o.precision = Precision::bf16; break;
      case VRT_PRECISION_FP16: o.precision = Precision::fp16; break;
      case VRT_PRECISION_TF32: o.precision = Precision::tf32; break;
      default: throw Error(StatusCode::invalid_argument, "unknown vrt_precision value");
    }
  }
  if (has(offsetof(vrt_options, cuda_graphs), sizeof options->cuda_graphs))
    o.cuda_graphs = options->cuda_graphs != 0;
  return o;
}

namespace {

// Per-image messages of this thread's last vrt_classify_files call.
thread_local std::vector<std::string> g_batch_errors;

void copy_labels(const vrt_classifier* c, const std::vector<Label>& labels, vrt_label* out, int* count) {
  const auto& names = c->classifier.label_names();
  for (const Label& l : labels) out[(*count)++] = {l.id, l.probability, names[l.id].c_str()};
}

}  // namespace

}  // namespace visionrt::capi

using namespace visionrt::capi;

extern "C" {

const char* vrt_version(void) { return visionrt::version(); }
const char* vrt_last_error(void) { return g_last_error.c_str(); }

const char* vrt_status_name(vrt_status status) {
  if (status == VRT_BUFFER_TOO_SMALL) return "buffer too small";
  return visionrt::status_name(static_cast<visionrt::StatusCode>(status));
}

int vrt_has_image_io(void) { return visionrt::has_image_io(); }
int vrt_has_cuda_backend(void) { return visionrt::has_cuda_backend(); }
int vrt_cuda_available(void) { return visionrt::cuda_available(); }

vrt_status vrt_classifier_load(const char* model_dir, const vrt_options* options, vrt_classifier** out) {
  if (!model_dir || !out) return invalid("vrt_classifier_load: model_dir and out must not be NULL");
  *out = nullptr;
  return guarded([&] { *out = new vrt_classifier{visionrt::Classifier::load(model_dir, to_options(options))}; });
}

void vrt_classifier_free(vrt_classifier* classifier) { delete classifier; }

int vrt_classifier_num_labels(const vrt_classifier* classifier) {
  return classifier ? classifier->classifier.info().num_labels : 0;
}

vrt_status vrt_classifier_input_size(const vrt_classifier* classifier, int* height, int* width) {
  if (!classifier || !height || !width) return invalid("vrt_classifier_input_size: NULL argument");
  *height = classifier->classifier.info().input_height;
  *width = classifier->classifier.info().input_width;
  g_last_error.clear();
  return VRT_OK;
}

vrt_status vrt_classifier_preprocess_file(const vrt_classifier* classifier, const char* path, float* out) {
  if (!classifier || !path || !out) return invalid("vrt_classifier_preprocess_file: NULL argument");
  return guarded([&] {
    const std::vector<float> px = classifier->classifier.preprocess_file(path);
    std::memcpy(out, px.data(), px.size() * sizeof(float));
  });
}

vrt_status vrt_classifier_logits(const vrt_classifier* classifier, const float* pixel_values, int n,
                                 int height, int width, float* out) {
  if (!classifier || !pixel_values || !out) return invalid("vrt_classifier_logits: NULL argument");
  return guarded([&] {
    const std::vector<float> l = classifier->classifier.logits(pixel_values, n, height, width);
    std::memcpy(out, l.data(), l.size() * sizeof(float));
  });
}

vrt_status vrt_classify_file(const vrt_classifier* classifier, const char* path, int topk,
                             vrt_label* out, int* count) {
  if (!classifier || !path || !out || !count) return invalid("vrt_classify_file: NULL argument");
  *count = 0;
  return guarded([&] { copy_labels(classifier, classifier->classifier.classify_files({path}, topk)[0], out, count); });
}

vrt_status vrt_classify_encoded(const vrt_classifier* classifier, const uint8_t* data, size_t size, int topk,
                                vrt_label* out, int* count) {
  if (!classifier || !data || !out || !count) return invalid("vrt_classify_encoded: NULL argument");
  *count = 0;
  return guarded(
      [&] { copy_labels(classifier, classifier->classifier.classify_encoded(data, size, topk), out, count); });
}

vrt_status vrt_classify_files(const vrt_classifier* classifier, const char* const* paths, int n, int topk,
                              vrt_label* out, int* counts, vrt_status* statuses) {
  g_batch_errors.clear();
  if (!classifier || !paths || !out || !counts || !statuses)
    return invalid("vrt_classify_files: NULL argument");
  if (n < 0 || topk <= 0) return invalid("vrt_classify_files: n must not be negative, topk must be positive");
  return guarded([&] {
    const visionrt::Classifier& c = classifier->classifier;
    g_batch_errors.assign(n, std::string());
    // Each image is prepared on its own, so one that fails leaves the
    // others; those prepared run as one batch.
    std::vector<int> ok;
    std::vector<float> batch;
    for (int i = 0; i < n; ++i) {
      counts[i] = 0;
      statuses[i] = catch_status(
          [&] {
            if (!paths[i]) throw visionrt::Error(visionrt::StatusCode::invalid_argument, "path is NULL");
            const std::vector<float> px = c.preprocess_file(paths[i]);
            batch.insert(batch.end(), px.begin(), px.end());
          },
          &g_batch_errors[i]);
      if (statuses[i] == VRT_OK) ok.push_back(i);
    }
    if (ok.empty()) return;
    std::vector<std::vector<visionrt::Label>> labels;
    std::string message;
    const vrt_status s = catch_status(
        [&] { labels = c.classify(batch.data(), static_cast<int>(ok.size()), c.info().input_height,
                                  c.info().input_width, topk); },
        &message);
    if (s != VRT_OK) {
      for (int i : ok) {
        statuses[i] = s;
        g_batch_errors[i] = message;
      }
      throw visionrt::Error(static_cast<visionrt::StatusCode>(s), message);
    }
    for (size_t k = 0; k < ok.size(); ++k)
      copy_labels(classifier, labels[k], out + size_t(ok[k]) * topk, &counts[ok[k]]);
  });
}

const char* vrt_batch_error(int index) {
  return index >= 0 && size_t(index) < g_batch_errors.size() ? g_batch_errors[index].c_str() : "";
}

}  // extern "C"
