// DETR's set-prediction loss: each target is matched to one query by a
// minimum-cost assignment, then classification and box losses are taken over
// the matches, as transformers' DetrForObjectDetection (HungarianMatcher +
// ImageLoss) and the original DETR compute them.
#pragma once
#include <string>
#include <vector>

#include "visionrt/visionrt.hpp"

namespace visionrt::eval {

// The weights, with DetrConfig's names and defaults.
struct DetrLossConfig {
  // Matching cost: -class_cost * p(target class) + bbox_cost * L1 - giou_cost * GIoU.
  double class_cost = 1, bbox_cost = 5, giou_cost = 2;
  // Relative weight of the "no object" class in the classification loss.
  double eos_coefficient = 0.1;
  // loss = loss_ce + bbox_loss_coefficient * loss_bbox + giou_loss_coefficient * loss_giou.
  double bbox_loss_coefficient = 5, giou_loss_coefficient = 2;
};

// The weights a model's config.json gives (keys absent there keep the
// defaults). Throws not_found / io_error / corrupt_file naming the file, and
// corrupt_file naming the key for a non-numeric or negative weight.
DetrLossConfig read_detr_loss_config(const std::string& config_json_path);

// One image's ground truth.
struct DetrTargets {
  std::vector<int> class_ids;  // in [0, labels): the model's class ids
  std::vector<float> boxes;    // class_ids.size() x 4: cx, cy, w, h relative to the image size
};

// The matched pairs of one image, ordered by query: query queries[k] is
// assigned to target targets[k]. min(queries, targets) pairs.
struct DetrMatch {
  std::vector<int> queries, targets;
};

struct DetrLossValues {
  // Weighted cross-entropy over every query of every image: matched queries
  // target their object's class, the others "no object" with weight
  // eos_coefficient; sum(weight * ce) / sum(weight).
  double loss_ce = 0;
  // Sums over the matched pairs divided by num_boxes, the number of targets
  // in the batch (at least 1): L1 distance of (cx, cy, w, h), and 1 - GIoU.
  double loss_bbox = 0, loss_giou = 0;
  // loss_ce + bbox_loss_coefficient * loss_bbox + giou_loss_coefficient * loss_giou: the
  // loss of the final decoder layer's outputs. For a model configured with
  // auxiliary_loss, transformers' total also adds the same terms for every
  // intermediate decoder layer, which these outputs do not include.
  double loss = 0;
  // Mean over images of |predicted objects - targets|, counting queries whose
  // best class is not "no object" (for logging, as transformers reports it).
  double cardinality_error = 0;
  std::vector<DetrMatch> matches;  // per image
};

// The matching for one image. logits: queries x classes (classes = labels +
// 1, "no object" last); boxes: queries x 4 (cx, cy, w, h). Costs computed in
// double; non-finite costs (possible only for degenerate boxes) are replaced
// by the largest float, as transformers does, so such pairs are matched last.
DetrMatch match_queries(const float* logits, const float* boxes, int queries, int classes,
                        const DetrTargets& targets, const DetrLossConfig& config);

// The loss of a batch: logits batch x queries x classes, boxes batch x
// queries x 4, one DetrTargets per image. Throws invalid_argument for
// mismatched sizes, class ids outside [0, classes - 1), negative box sizes or
// non-finite values; shape_mismatch when the buffers do not hold batch x
// queries x classes (x 4) values.
DetrLossValues detr_loss(const float* logits, const float* boxes, int batch, int queries,
                         int classes, const std::vector<DetrTargets>& targets,
                         const DetrLossConfig& config = {});
DetrLossValues detr_loss(const DetrOutputs& outputs, const std::vector<DetrTargets>& targets,
                         const DetrLossConfig& config = {});

}  // namespace visionrt::eval
