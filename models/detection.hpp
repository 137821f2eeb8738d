// The detection models behind visionrt::Detector, as one description: DETR,
// YOLOS and the real-time DETRs differ in their inputs (DETR reads a padding
// mask) and in their scores (DETR: a softmax with "no object" last; the
// real-time DETRs: a sigmoid per class, the best queries x classes kept).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "io/model_folder.hpp"

namespace visionrt::models {

struct DetectionModel {
  std::string architecture;
  // The graph for a batch: inputs "pixel_values" (and "pixel_mask" where
  // takes_pixel_mask), outputs logits [N, queries, classes] and boxes
  // [N, queries, 4] (cx, cy, w, h relative to the image).
  std::function<graph::Graph(int batch, int height, int width)> build;
  std::shared_ptr<const graph::WeightTable> weights;
  std::vector<std::string> labels;
  int queries = 0, classes = 0;
  bool takes_pixel_mask = true;
  bool sigmoid_scores = false;
  int64_t parameters = 0;
};

// The architectures Detector loads, for its messages.
const char* detection_architectures();

// Loads the folder's model by its config's architecture; throws unsupported
// for any other.
DetectionModel load_detection_model(const io::ModelFolder& folder, const std::string& where);

}  // namespace visionrt::models
