#include "eval/detr_loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "eval/hungarian.hpp"
#include "eval/json_reader.hpp"

namespace visionrt::eval {
namespace {

struct Corners {
  double x0, y0, x1, y1;
};

// center_to_corners_format, in double.
Corners corners(const float* cxcywh) {
  const double cx = cxcywh[0], cy = cxcywh[1], w = cxcywh[2], h = cxcywh[3];
  return {cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h};
}

// Generalized IoU of two corner boxes (DETR's box_ops.generalized_box_iou):
// IoU minus the share of the enclosing box that neither covers. NaN when
// both boxes are the same single point, as there.
double generalized_iou(const Corners& a, const Corners& b) {
  const double area_a = (a.x1 - a.x0) * (a.y1 - a.y0), area_b = (b.x1 - b.x0) * (b.y1 - b.y0);
  const double inter_w = std::max(0.0, std::min(a.x1, b.x1) - std::max(a.x0, b.x0));
  const double inter_h = std::max(0.0, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
  const double inter = inter_w * inter_h;
  const double union_area = area_a + area_b - inter;
  const double iou = inter / union_area;
  const double hull_w = std::max(0.0, std::max(a.x1, b.x1) - std::min(a.x0, b.x0));
  const double hull_h = std::max(0.0, std::max(a.y1, b.y1) - std::min(a.y0, b.y0));
  const double hull = hull_w * hull_h;
  return iou - (hull - union_area) / hull;
}

// log(sum(exp(row))) computed stably.
double log_sum_exp(const float* row, int n) {
  const double top = *std::max_element(row, row + n);
  double sum = 0;
  for (int k = 0; k < n; ++k) sum += std::exp(row[k] - top);
  return top + std::log(sum);
}

void check_boxes(const float* boxes, size_t count, const char* what, int image) {
  for (size_t k = 0; k < count; ++k) {
    const float* b = boxes + 4 * k;
    if (!std::isfinite(b[0]) || !std::isfinite(b[1]) || !std::isfinite(b[2]) ||
        !std::isfinite(b[3]))
      fail(StatusCode::invalid_argument, "detr_loss: image ", image, ": ", what, " box ", k,
           " is not finite");
    if (b[2] < 0 || b[3] < 0)
      fail(StatusCode::invalid_argument, "detr_loss: image ", image, ": ", what, " box ", k,
           " has a negative width or height (", b[2], " x ", b[3], ")");
  }
}

void check_targets(const DetrTargets& t, int classes, int image) {
  if (t.boxes.size() != 4 * t.class_ids.size())
    fail(StatusCode::invalid_argument, "detr_loss: image ", image, ": ", t.class_ids.size(),
         " target classes but ", t.boxes.size(), " box values (expected 4 per target)");
  for (size_t k = 0; k < t.class_ids.size(); ++k)
    if (t.class_ids[k] < 0 || t.class_ids[k] >= classes - 1)
      fail(StatusCode::invalid_argument, "detr_loss: image ", image, ": target ", k, " has class ",
           t.class_ids[k], "; the model's classes are 0 to ", classes - 2);
  check_boxes(t.boxes.data(), t.class_ids.size(), "target", image);
}

void check_predictions(const float* logits, const float* boxes, int queries, int classes,
                       int image) {
  for (size_t k = 0; k < static_cast<size_t>(queries) * classes; ++k)
    if (!std::isfinite(logits[k]))
      fail(StatusCode::invalid_argument, "detr_loss: image ", image, ": logit of query ",
           k / classes, ", class ", k % classes, " is not finite");
  check_boxes(boxes, queries, "predicted", image);
}

DetrMatch match_checked(const float* logits, const float* boxes, int queries, int classes,
                        const DetrTargets& targets, const DetrLossConfig& config) {
  const int num_targets = static_cast<int>(targets.class_ids.size());
  std::vector<double> cost(static_cast<size_t>(queries) * num_targets);
  std::vector<double> probability(classes);
  for (int q = 0; q < queries; ++q) {
    const float* row = logits + static_cast<size_t>(q) * classes;
    const double lse = log_sum_exp(row, classes);
    for (int c = 0; c < classes; ++c) probability[c] = std::exp(row[c] - lse);
    const float* pred = boxes + 4 * static_cast<size_t>(q);
    const Corners pred_corners = corners(pred);
    for (int t = 0; t < num_targets; ++t) {
      const float* target = targets.boxes.data() + 4 * static_cast<size_t>(t);
      double l1 = 0;
      for (int k = 0; k < 4; ++k) l1 += std::abs(static_cast<double>(pred[k]) - target[k]);
      double c = config.bbox_cost * l1 - config.class_cost * probability[targets.class_ids[t]] -
                 config.giou_cost * generalized_iou(pred_corners, corners(target));
      if (!std::isfinite(c)) c = std::numeric_limits<float>::max();
      cost[static_cast<size_t>(q) * num_targets + t] = c;
    }
  }
  const Assignment assignment = linear_sum_assignment(cost, queries, num_targets);
  return {assignment.rows, assignment.cols};
}

// A loss weight from config.json; absent or null keeps the default.
double weight_value(const JsonReader& r, const nlohmann::json& config, const char* key,
                    double fallback) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  const double value = r.number(*it, key);
  if (value < 0) r.corrupt(key, "a loss weight must not be negative, found " + it->dump());
  return value;
}

}  // namespace

DetrLossConfig read_detr_loss_config(const std::string& config_json_path) {
  const JsonReader r(config_json_path);
  const nlohmann::json config = r.parse_file();
  if (!config.is_object()) r.corrupt("", "expected a JSON object");
  DetrLossConfig c;
  c.class_cost = weight_value(r, config, "class_cost", c.class_cost);
  c.bbox_cost = weight_value(r, config, "bbox_cost", c.bbox_cost);
  c.giou_cost = weight_value(r, config, "giou_cost", c.giou_cost);
  c.eos_coefficient = weight_value(r, config, "eos_coefficient", c.eos_coefficient);
  c.bbox_loss_coefficient =
      weight_value(r, config, "bbox_loss_coefficient", c.bbox_loss_coefficient);
  c.giou_loss_coefficient =
      weight_value(r, config, "giou_loss_coefficient", c.giou_loss_coefficient);
  return c;
}

DetrMatch match_queries(const float* logits, const float* boxes, int queries, int classes,
                        const DetrTargets& targets, const DetrLossConfig& config) {
  if (queries < 0 || classes < 2)
    fail(StatusCode::invalid_argument, "detr_loss: ", queries, " queries and ", classes,
         " classes (at least one label plus \"no object\" needed)");
  if (queries > 0 && (logits == nullptr || boxes == nullptr))
    fail(StatusCode::invalid_argument, "detr_loss: null logits or boxes");
  check_targets(targets, classes, 0);
  check_predictions(logits, boxes, queries, classes, 0);
  return match_checked(logits, boxes, queries, classes, targets, config);
}

DetrLossValues detr_loss(const float* logits, const float* boxes, int batch, int queries,
                         int classes, const std::vector<DetrTargets>& targets,
                         const DetrLossConfig& config) {
  if (batch < 0 || queries < 0 || classes < 2)
    fail(StatusCode::invalid_argument, "detr_loss: batch ", batch, ", ", queries, " queries and ",
         classes, " classes (at least one label plus \"no object\" needed)");
  if (targets.size() != static_cast<size_t>(batch))
    fail(StatusCode::invalid_argument, "detr_loss: ", targets.size(),
         " target sets for a batch of ", batch, " images");
  if (static_cast<int64_t>(batch) * queries > 0 && (logits == nullptr || boxes == nullptr))
    fail(StatusCode::invalid_argument, "detr_loss: null logits or boxes");

  const size_t logits_per_image = static_cast<size_t>(queries) * classes;
  const size_t boxes_per_image = static_cast<size_t>(queries) * 4;
  const int no_object = classes - 1;
  size_t num_targets = 0;
  for (int b = 0; b < batch; ++b) {
    check_targets(targets[b], classes, b);
    check_predictions(logits + b * logits_per_image, boxes + b * boxes_per_image, queries, classes,
                      b);
    num_targets += targets[b].class_ids.size();
  }
  // The box losses are normalised by the batch's target count, not by the
  // matches: with more targets than queries the unmatched ones still count.
  const double num_boxes = std::max<double>(1.0, static_cast<double>(num_targets));

  DetrLossValues out;
  double weighted_ce = 0, weight_sum = 0, l1_sum = 0, giou_sum = 0, cardinality_sum = 0;
  std::vector<int> target_class(queries);
  for (int b = 0; b < batch; ++b) {
    const float* image_logits = logits + b * logits_per_image;
    const float* image_boxes = boxes + b * boxes_per_image;
    const DetrTargets& t = targets[b];
    DetrMatch match = match_checked(image_logits, image_boxes, queries, classes, t, config);

    std::fill(target_class.begin(), target_class.end(), no_object);
    for (size_t k = 0; k < match.queries.size(); ++k) {
      const int q = match.queries[k], j = match.targets[k];
      target_class[q] = t.class_ids[j];
      const float* pred = image_boxes + 4 * static_cast<size_t>(q);
      const float* target = t.boxes.data() + 4 * static_cast<size_t>(j);
      for (int c = 0; c < 4; ++c) l1_sum += std::abs(static_cast<double>(pred[c]) - target[c]);
      giou_sum += 1 - generalized_iou(corners(pred), corners(target));
    }
    int predicted_objects = 0;
    for (int q = 0; q < queries; ++q) {
      const float* row = image_logits + static_cast<size_t>(q) * classes;
      const double weight = target_class[q] == no_object ? config.eos_coefficient : 1.0;
      weighted_ce += weight * (log_sum_exp(row, classes) - row[target_class[q]]);
      weight_sum += weight;
      // argmax takes the first of equal maxima, as torch does on the CPU.
      predicted_objects += std::max_element(row, row + classes) - row != no_object;
    }
    cardinality_sum += std::abs(predicted_objects - static_cast<double>(t.class_ids.size()));
    out.matches.push_back(std::move(match));
  }
  // An empty batch, or eos_coefficient 0 with nothing matched, has nothing
  // to weigh; torch gives NaN there, 0 says "no classification loss".
  out.loss_ce = weight_sum > 0 ? weighted_ce / weight_sum : 0;
  out.loss_bbox = l1_sum / num_boxes;
  out.loss_giou = giou_sum / num_boxes;
  out.loss = out.loss_ce + config.bbox_loss_coefficient * out.loss_bbox +
             config.giou_loss_coefficient * out.loss_giou;
  out.cardinality_error = batch > 0 ? cardinality_sum / batch : 0;
  return out;
}

DetrLossValues detr_loss(const DetrOutputs& outputs, const std::vector<DetrTargets>& targets,
                         const DetrLossConfig& config) {
  const size_t rows =
      static_cast<size_t>(std::max(0, outputs.batch)) * std::max(0, outputs.queries);
  if (outputs.logits.size() != rows * std::max(0, outputs.classes) ||
      outputs.boxes.size() != rows * 4)
    fail(StatusCode::shape_mismatch, "detr_loss: outputs of batch ", outputs.batch, ", ",
         outputs.queries, " queries and ", outputs.classes, " classes should hold ",
         rows * std::max(0, outputs.classes), " logits and ", rows * 4, " box values, found ",
         outputs.logits.size(), " and ", outputs.boxes.size());
  return detr_loss(outputs.logits.data(), outputs.boxes.data(), outputs.batch, outputs.queries,
                   outputs.classes, targets, config);
}

}  // namespace visionrt::eval
