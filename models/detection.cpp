#include "models/detection.hpp"

#include "core/error.hpp"
#include "models/detr.hpp"
#include "models/rt_detr.hpp"
#include "models/vit.hpp"

namespace visionrt::models {

const char* detection_architectures() {
  return "DetrForObjectDetection, RTDetrForObjectDetection, RTDetrV2ForObjectDetection, DFineForObjectDetection, "
         "YolosForObjectDetection";
}

DetectionModel load_detection_model(const io::ModelFolder& folder, const std::string& where) {
  DetectionModel d;
  d.architecture = io::architecture(folder.config);
  if (d.architecture == "DetrForObjectDetection") {
    auto m = std::make_shared<const DetrModel>(DetrModel::load(folder));
    d.build = [m](int n, int h, int w) { return m->build(n, h, w); };
    d.weights = m->weights();
    d.labels = m->config().labels;
    d.queries = m->config().num_queries;
    d.classes = static_cast<int>(d.labels.size()) + 1;
    d.parameters = m->num_parameters();
    return d;
  }
  if (d.architecture == "RTDetrForObjectDetection" || d.architecture == "RTDetrV2ForObjectDetection" ||
      d.architecture == "DFineForObjectDetection") {
    auto m = std::make_shared<const RtDetrModel>(RtDetrModel::load(folder));
    d.build = [m](int n, int h, int w) { return m->build(n, h, w); };
    d.weights = m->weights();
    d.labels = m->config().labels;
    d.queries = m->config().num_queries;
    d.classes = static_cast<int>(d.labels.size());
    d.takes_pixel_mask = false;
    d.sigmoid_scores = true;
    d.parameters = m->num_parameters();
    return d;
  }
  if (d.architecture == "YolosForObjectDetection") {
    // A ViT whose detection tokens DETR's heads read: DETR's scores, no mask.
    auto m = std::make_shared<const VitModel>(VitModel::load(folder));
    d.build = [m](int n, int h, int w) { return m->build(n, h, w, false, VitOutput::detection); };
    d.weights = m->weights();
    d.labels = m->config().labels;
    d.queries = m->config().detection_tokens;
    d.classes = static_cast<int>(d.labels.size()) + 1;
    d.takes_pixel_mask = false;
    d.parameters = m->num_parameters();
    return d;
  }
  fail(StatusCode::unsupported, where, ": architecture '", d.architecture.empty() ? "(none)" : d.architecture,
       "' is not supported for detection (supported: ", detection_architectures(), ")");
}

}  // namespace visionrt::models
