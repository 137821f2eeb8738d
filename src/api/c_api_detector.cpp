// The C API's detector: wrappers over visionrt::Detector, as c_api.cpp's
// over the classifier.
#include <cstring>
#include <string>
#include <vector>

#include "api/c_api_common.hpp"

using namespace visionrt::capi;

namespace {

// Copies the best of dets that fit; more found than fit is the caller's to
// know, as VRT_BUFFER_TOO_SMALL.
vrt_status copy_detections(const vrt_detector* d, const std::vector<visionrt::Detection>& dets,
                           vrt_detection* out, int capacity, int* count) {
  const auto& names = d->detector.label_names();
  const int found = static_cast<int>(dets.size());
  for (int i = 0; i < found && i < capacity; ++i) {
    const visionrt::Detection& x = dets[i];
    out[i] = {x.id, x.score, x.box.x0, x.box.y0, x.box.x1, x.box.y1, names[x.id].c_str()};
  }
  *count = found;
  if (found <= capacity) return VRT_OK;
  g_last_error = std::to_string(found) + " detections found, capacity " + std::to_string(capacity) +
                 ": out holds the " + std::to_string(capacity) + " best";
  return VRT_BUFFER_TOO_SMALL;
}

// VRT_OK, or VRT_INVALID_ARGUMENT saying which of a vrt_detect_* call's
// arguments is unusable.
vrt_status check_detect_arguments(const char* call, const vrt_detector* d, const void* input,
                                  const vrt_detection* out, int capacity, const int* count) {
  if (!d || !input || !count)
    return invalid((std::string(call) + ": detector, image and count must not be NULL").c_str());
  if (capacity < 0 || (!out && capacity > 0))
    return invalid((std::string(call) + ": capacity must not be negative, out NULL only with capacity 0").c_str());
  return VRT_OK;
}

}  // namespace

extern "C" {

vrt_status vrt_detector_load(const char* model_dir, const vrt_options* options, vrt_detector** out) {
  if (!model_dir || !out) return invalid("vrt_detector_load: model_dir and out must not be NULL");
  *out = nullptr;
  return guarded([&] { *out = new vrt_detector{visionrt::Detector::load(model_dir, to_options(options))}; });
}

void vrt_detector_free(vrt_detector* detector) { delete detector; }

int vrt_detector_num_labels(const vrt_detector* detector) {
  return detector ? detector->detector.info().num_labels : 0;
}

const char* vrt_detector_label_name(const vrt_detector* detector, int id) {
  if (!detector || id < 0 || id >= detector->detector.info().num_labels) return nullptr;
  return detector->detector.label_names()[id].c_str();
}

int vrt_detector_num_queries(const vrt_detector* detector) {
  return detector ? detector->detector.info().num_queries : 0;
}

vrt_status vrt_detect_file(const vrt_detector* detector, const char* path, float threshold, vrt_detection* out,
                           int capacity, int* count) {
  if (check_detect_arguments("vrt_detect_file", detector, path, out, capacity, count) != VRT_OK)
    return VRT_INVALID_ARGUMENT;
  *count = 0;
  std::vector<visionrt::Detection> dets;
  const vrt_status s = guarded([&] { dets = detector->detector.detect_files({path}, threshold)[0]; });
  return s == VRT_OK ? copy_detections(detector, dets, out, capacity, count) : s;
}

vrt_status vrt_detect_encoded(const vrt_detector* detector, const uint8_t* data, size_t size, float threshold,
                              vrt_detection* out, int capacity, int* count) {
  if (check_detect_arguments("vrt_detect_encoded", detector, data, out, capacity, count) != VRT_OK)
    return VRT_INVALID_ARGUMENT;
  *count = 0;
  std::vector<visionrt::Detection> dets;
  const vrt_status s = guarded([&] { dets = detector->detector.detect_encoded(data, size, threshold); });
  return s == VRT_OK ? copy_detections(detector, dets, out, capacity, count) : s;
}

vrt_status vrt_detector_forward(const vrt_detector* detector, const float* pixel_values, const float* pixel_mask,
                                int n, int height, int width, float* logits, float* boxes) {
  if (!detector || !pixel_values || !logits || !boxes)
    return invalid("vrt_detector_forward: detector, pixel_values, logits and boxes must not be NULL");
  return guarded([&] {
    const visionrt::DetrOutputs o = detector->detector.forward(pixel_values, pixel_mask, n, height, width);
    std::memcpy(logits, o.logits.data(), o.logits.size() * sizeof(float));
    std::memcpy(boxes, o.boxes.data(), o.boxes.size() * sizeof(float));
  });
}

}  // extern "C"
