// The C API: thin wrappers that turn visionrt::Error into status codes and a
// per-thread message. No exception crosses this boundary.
#include <cstring>
#include <string>

#include "visionrt/visionrt.h"
#include "visionrt/visionrt.hpp"

struct vrt_classifier {
  visionrt::Classifier classifier;
};

namespace {

thread_local std::string g_last_error;

template <typename Fn>
vrt_status guarded(Fn&& fn) {
  try {
    fn();
    g_last_error.clear();
    return VRT_OK;
  } catch (const visionrt::Error& e) {
    g_last_error = e.what();
    return static_cast<vrt_status>(e.code());
  } catch (const std::bad_alloc&) {
    g_last_error = "out of memory";
    return VRT_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    g_last_error = e.what();
    return VRT_INTERNAL;
  } catch (...) {
    g_last_error = "unknown error";
    return VRT_INTERNAL;
  }
}

vrt_status invalid(const char* what) {
  g_last_error = what;
  return VRT_INVALID_ARGUMENT;
}

}  // namespace

extern "C" {

const char* vrt_version(void) { return visionrt::version(); }
const char* vrt_last_error(void) { return g_last_error.c_str(); }

void vrt_options_default(vrt_options* options) {
  if (!options) return;
  options->device = VRT_DEVICE_AUTO;
  options->num_threads = 0;
  options->interpolate_pos_encoding = 0;
}

vrt_status vrt_classifier_load(const char* model_dir, const vrt_options* options, vrt_classifier** out) {
  if (!model_dir || !out) return invalid("vrt_classifier_load: model_dir and out must not be NULL");
  *out = nullptr;
  return guarded([&] {
    visionrt::Options o;
    if (options) {
      switch (options->device) {
        case VRT_DEVICE_CPU: o.device = visionrt::Device::cpu; break;
        case VRT_DEVICE_CUDA: o.device = visionrt::Device::cuda; break;
        case VRT_DEVICE_AUTO: o.device = visionrt::Device::automatic; break;
        default:
          throw visionrt::Error(visionrt::StatusCode::invalid_argument, "unknown vrt_device value");
      }
      o.num_threads = options->num_threads;
      o.interpolate_pos_encoding = options->interpolate_pos_encoding != 0;
    }
    *out = new vrt_classifier{visionrt::Classifier::load(model_dir, o)};
  });
}

void vrt_classifier_free(vrt_classifier* classifier) { delete classifier; }

int vrt_classifier_num_labels(const vrt_classifier* classifier) {
  return classifier ? classifier->classifier.info().num_labels : 0;
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
  return guarded([&] {
    const auto labels = classifier->classifier.classify_files({path}, topk)[0];
    const auto& names = classifier->classifier.label_names();
    for (const visionrt::Label& l : labels) out[(*count)++] = {l.id, l.probability, names[l.id].c_str()};
  });
}

}  // extern "C"
