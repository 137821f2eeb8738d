#include "eval/coco.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "eval/json_reader.hpp"

namespace visionrt::eval {
namespace {

using json = nlohmann::json;

std::string format(double value) {
  std::ostringstream s;
  s << value;
  return s.str();
}

// [x, y, width, height]: finite, with no negative size.
std::array<double, 4> read_bbox(const JsonReader& r, const json& value, const std::string& where) {
  if (!value.is_array() || value.size() != 4)
    r.corrupt(where, "expected [x, y, width, height], found " + JsonReader::describe(value));
  std::array<double, 4> box{};
  for (size_t k = 0; k < 4; ++k) box[k] = r.number(value[k], JsonReader::item(where.c_str(), k));
  if (box[2] < 0 || box[3] < 0)
    r.corrupt(where, "negative width or height (" + format(box[2]) + " x " + format(box[3]) + ")");
  return box;
}

CocoImage read_image(const JsonReader& r, const json& entry, const std::string& where) {
  if (!entry.is_object()) r.corrupt(where, "expected an object");
  CocoImage image;
  image.id = r.integer(r.member(entry, where, "id"), JsonReader::join(where, "id"));
  image.file_name =
      r.string(r.member(entry, where, "file_name"), JsonReader::join(where, "file_name"));
  if (image.file_name.empty()) r.corrupt(JsonReader::join(where, "file_name"), "empty file name");
  const char* const keys[] = {"width", "height"};
  int* const sizes[] = {&image.width, &image.height};
  for (int k = 0; k < 2; ++k) {
    const std::string key_where = JsonReader::join(where, keys[k]);
    const int64_t size = r.integer(r.member(entry, where, keys[k]), key_where);
    if (size <= 0 || size > INT_MAX)
      r.corrupt(key_where, "image size must be positive, found " + std::to_string(size));
    *sizes[k] = static_cast<int>(size);
  }
  return image;
}

CocoAnnotation read_annotation(const JsonReader& r, const json& entry, const std::string& where) {
  if (!entry.is_object()) r.corrupt(where, "expected an object");
  CocoAnnotation a;
  a.id = r.integer(r.member(entry, where, "id"), JsonReader::join(where, "id"));
  a.image_id = r.integer(r.member(entry, where, "image_id"), JsonReader::join(where, "image_id"));
  a.category_id =
      r.integer(r.member(entry, where, "category_id"), JsonReader::join(where, "category_id"));
  a.bbox = read_bbox(r, r.member(entry, where, "bbox"), JsonReader::join(where, "bbox"));
  if (auto it = entry.find("area"); it != entry.end()) {
    a.area = r.number(*it, JsonReader::join(where, "area"));
    if (a.area < 0) r.corrupt(JsonReader::join(where, "area"), "negative area");
  } else {
    a.area = a.bbox[2] * a.bbox[3];
  }
  if (auto it = entry.find("iscrowd"); it != entry.end()) {
    if (it->is_boolean()) {
      a.iscrowd = it->get<bool>();
    } else {
      const int64_t crowd = r.integer(*it, JsonReader::join(where, "iscrowd"));
      if (crowd != 0 && crowd != 1)
        r.corrupt(JsonReader::join(where, "iscrowd"),
                  "expected 0 or 1, found " + std::to_string(crowd));
      a.iscrowd = crowd == 1;
    }
  }
  return a;
}

CocoDataset dataset_from_json(const JsonReader& r, const json& root) {
  if (!root.is_object())
    r.corrupt("", "expected a JSON object with images, annotations and categories");
  CocoDataset dataset;

  std::set<int64_t> image_ids, category_ids, annotation_ids;
  const json& images = r.array_member(root, "", "images");
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string where = JsonReader::item("images", i);
    CocoImage image = read_image(r, images[i], where);
    if (!image_ids.insert(image.id).second)
      r.corrupt(JsonReader::join(where, "id"), "duplicate image id " + std::to_string(image.id));
    dataset.images.push_back(std::move(image));
  }

  const json& categories = r.array_member(root, "", "categories");
  for (size_t i = 0; i < categories.size(); ++i) {
    const std::string where = JsonReader::item("categories", i);
    if (!categories[i].is_object()) r.corrupt(where, "expected an object");
    CocoCategory category;
    category.id = r.integer(r.member(categories[i], where, "id"), JsonReader::join(where, "id"));
    category.name =
        r.string(r.member(categories[i], where, "name"), JsonReader::join(where, "name"));
    if (!category_ids.insert(category.id).second)
      r.corrupt(JsonReader::join(where, "id"),
                "duplicate category id " + std::to_string(category.id));
    dataset.categories.push_back(std::move(category));
  }

  const json& annotations = r.array_member(root, "", "annotations");
  for (size_t i = 0; i < annotations.size(); ++i) {
    const std::string where = JsonReader::item("annotations", i);
    CocoAnnotation a = read_annotation(r, annotations[i], where);
    if (!annotation_ids.insert(a.id).second)
      r.corrupt(JsonReader::join(where, "id"), "duplicate annotation id " + std::to_string(a.id));
    if (!image_ids.count(a.image_id))
      r.corrupt(JsonReader::join(where, "image_id"),
                "image " + std::to_string(a.image_id) + " is not listed in \"images\"");
    if (!category_ids.count(a.category_id))
      r.corrupt(JsonReader::join(where, "category_id"),
                "category " + std::to_string(a.category_id) + " is not listed in \"categories\"");
    dataset.annotations.push_back(a);
  }
  return dataset;
}

}  // namespace

CocoDataset parse_coco_annotations(const std::string& json_text, const std::string& source) {
  const JsonReader r(source);
  return dataset_from_json(r, r.parse(json_text));
}

CocoDataset read_coco_annotations(const std::string& path) {
  const JsonReader r(path);
  return dataset_from_json(r, r.parse_file());
}

std::vector<std::string> image_paths(const CocoDataset& dataset, const std::string& images_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(images_dir, ec))
    fail(StatusCode::not_found, images_dir, ": no such folder");
  std::vector<std::string> paths;
  std::string first_missing;
  size_t missing = 0;
  for (const CocoImage& image : dataset.images) {
    const std::string path = (std::filesystem::path(images_dir) / image.file_name).string();
    if (!std::filesystem::is_regular_file(path, ec) && missing++ == 0) first_missing = path;
    paths.push_back(path);
  }
  if (missing == 1) fail(StatusCode::not_found, first_missing, ": annotated image not found");
  if (missing > 1)
    fail(StatusCode::not_found, first_missing, ": annotated image not found (", missing, " of ",
         dataset.images.size(), " images are missing)");
  return paths;
}

std::vector<CocoDetection> read_coco_detections(const std::string& path) {
  const JsonReader r(path);
  const json root = r.parse_file();
  if (!root.is_array()) r.corrupt("", "expected a JSON array of detections");
  std::vector<CocoDetection> detections;
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string where = JsonReader::item("", i);
    if (!root[i].is_object()) r.corrupt(where, "expected an object");
    CocoDetection d;
    d.image_id =
        r.integer(r.member(root[i], where, "image_id"), JsonReader::join(where, "image_id"));
    d.category_id =
        r.integer(r.member(root[i], where, "category_id"), JsonReader::join(where, "category_id"));
    d.bbox = read_bbox(r, r.member(root[i], where, "bbox"), JsonReader::join(where, "bbox"));
    d.score = r.number(r.member(root[i], where, "score"), JsonReader::join(where, "score"));
    detections.push_back(d);
  }
  return detections;
}

// ---------------------------------------------------------------------------
// COCOeval, bbox. The structure follows pycocotools' evaluate / evaluateImg /
// accumulate / summarize so that every tie and rounding matches.

namespace {

constexpr int kNumIouThresholds = 10;
constexpr int kNumRecallThresholds = 101;
constexpr int kMaxDets[] = {1, 10, 100};
constexpr int kNumMaxDets = 3;
constexpr int kNumAreas = 4;
// all, small, medium, large; bounds inclusive on both ends, as pycocotools.
constexpr double kAreaRanges[kNumAreas][2] = {
    {0.0, 1e10}, {0.0, 32.0 * 32.0}, {32.0 * 32.0, 96.0 * 96.0}, {96.0 * 96.0, 1e10}};

// numpy.linspace(start, stop, num): k * step + start, the last one exactly stop.
std::vector<double> linspace(double start, double stop, int num) {
  std::vector<double> values(num);
  const double step = (stop - start) / (num - 1);
  for (int k = 0; k < num; ++k) values[k] = k * step + start;
  values[num - 1] = stop;
  return values;
}

const std::vector<double>& iou_thresholds() {
  static const std::vector<double> values = linspace(0.5, 0.95, kNumIouThresholds);
  return values;
}
const std::vector<double>& recall_thresholds() {
  static const std::vector<double> values = linspace(0.0, 1.0, kNumRecallThresholds);
  return values;
}

struct GroundTruthBox {
  int64_t id;
  std::array<double, 4> bbox;
  double area;
  bool iscrowd;
};

struct DetectionBox {
  int64_t id;  // position in the results list + 1, as COCO.loadRes numbers them
  std::array<double, 4> bbox;
  double area;  // width * height
  double score;
};

// maskUtils.iou for boxes (bbIou in maskApi.c), operations in its order.
double box_iou(const std::array<double, 4>& d, const std::array<double, 4>& g, bool crowd) {
  const double w = std::fmin(d[2] + d[0], g[2] + g[0]) - std::fmax(d[0], g[0]);
  if (w <= 0) return 0;
  const double h = std::fmin(d[3] + d[1], g[3] + g[1]) - std::fmax(d[1], g[1]);
  if (h <= 0) return 0;
  const double intersection = w * h;
  const double det_area = d[2] * d[3], gt_area = g[2] * g[3];
  return intersection / (crowd ? det_area : det_area + gt_area - intersection);
}

// One image's boxes of one category, with detections ranked by score.
struct ImageCategory {
  std::vector<GroundTruthBox> gts;  // file order
  std::vector<DetectionBox> dts;    // stable by descending score, at most 100
  std::vector<double> ious;         // dts x gts
};

// evaluateImg: the matches of one image and category in one area range.
struct ImageResult {
  std::vector<double> scores;       // of the detections, ranked
  std::vector<int64_t> matched_gt;  // T x D: id of the matched ground truth, 0 for none
  std::vector<char> det_ignored;    // T x D
  std::vector<char> gt_ignored;     // G
};

ImageResult evaluate_image(const ImageCategory& ic, const double area_range[2]) {
  const auto& thresholds = iou_thresholds();
  const size_t G = ic.gts.size(), D = ic.dts.size(), T = thresholds.size();
  // Ground truth ordered ignored-last (stable), as gtind.
  std::vector<size_t> gt_order;
  std::vector<char> ignore(G);
  for (size_t g = 0; g < G; ++g) {
    const GroundTruthBox& gt = ic.gts[g];
    ignore[g] = gt.iscrowd || gt.area < area_range[0] || gt.area > area_range[1];
  }
  for (int pass = 0; pass < 2; ++pass)
    for (size_t g = 0; g < G; ++g)
      if (ignore[g] == pass) gt_order.push_back(g);

  ImageResult result;
  result.scores.resize(D);
  for (size_t d = 0; d < D; ++d) result.scores[d] = ic.dts[d].score;
  result.gt_ignored.resize(G);
  for (size_t k = 0; k < G; ++k) result.gt_ignored[k] = ignore[gt_order[k]];
  result.matched_gt.assign(T * D, 0);
  result.det_ignored.assign(T * D, 0);
  std::vector<int64_t> gt_matched_det(T * G, 0);

  if (D > 0 && G > 0) {
    for (size_t t = 0; t < T; ++t) {
      for (size_t d = 0; d < D; ++d) {
        double best_iou = std::min(thresholds[t], 1 - 1e-10);
        long m = -1;
        for (size_t k = 0; k < G; ++k) {
          const GroundTruthBox& gt = ic.gts[gt_order[k]];
          // A matched box is taken, unless it is a crowd (which absorbs any number).
          if (gt_matched_det[t * G + k] > 0 && !gt.iscrowd) continue;
          // Once matched to a regular box, stop at the ignored ones (sorted last).
          if (m > -1 && !result.gt_ignored[m] && result.gt_ignored[k]) break;
          const double iou = ic.ious[d * G + gt_order[k]];
          if (iou < best_iou) continue;
          best_iou = iou;
          m = static_cast<long>(k);
        }
        if (m == -1) continue;
        result.det_ignored[t * D + d] = result.gt_ignored[m];
        result.matched_gt[t * D + d] = ic.gts[gt_order[m]].id;
        gt_matched_det[t * G + m] = ic.dts[d].id;
      }
    }
  }
  // Unmatched detections outside the area range are ignored. pycocotools
  // tells "unmatched" by a matched ground-truth id of 0, so a match to a box
  // whose id is 0 counts as unmatched there too; kept for equal numbers.
  for (size_t d = 0; d < D; ++d) {
    const bool outside = ic.dts[d].area < area_range[0] || ic.dts[d].area > area_range[1];
    for (size_t t = 0; t < T; ++t)
      if (result.matched_gt[t * D + d] == 0 && outside) result.det_ignored[t * D + d] = 1;
  }
  return result;
}

// accumulate for one category, area range and detection limit: fills
// precision (T x R) and recall (T), or leaves them at -1 when the images hold
// no ground truth that counts.
void accumulate(const std::vector<ImageResult>& results, int max_det, double* precision,
                double* recall) {
  const auto& recall_points = recall_thresholds();
  const size_t T = iou_thresholds().size(), R = recall_points.size();
  std::vector<double> scores;
  std::vector<size_t> owner, position;  // image result and index within it
  size_t num_gt = 0;
  for (size_t e = 0; e < results.size(); ++e) {
    const ImageResult& r = results[e];
    const size_t keep = std::min(r.scores.size(), static_cast<size_t>(max_det));
    for (size_t d = 0; d < keep; ++d) {
      scores.push_back(r.scores[d]);
      owner.push_back(e);
      position.push_back(d);
    }
    num_gt += std::count(r.gt_ignored.begin(), r.gt_ignored.end(), 0);
  }
  if (num_gt == 0) return;
  std::vector<size_t> order(scores.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });

  const size_t nd = order.size();
  const double eps = 2.220446049250313e-16;  // np.spacing(1)
  std::vector<double> rc(nd), pr(nd);
  for (size_t t = 0; t < T; ++t) {
    double tp = 0, fp = 0;
    for (size_t k = 0; k < nd; ++k) {
      const ImageResult& r = results[owner[order[k]]];
      const size_t D = r.scores.size(), d = position[order[k]];
      const bool matched = r.matched_gt[t * D + d] != 0, ignored = r.det_ignored[t * D + d] != 0;
      if (!ignored) (matched ? tp : fp) += 1;
      rc[k] = tp / static_cast<double>(num_gt);
      pr[k] = tp / (fp + tp + eps);
    }
    recall[t] = nd > 0 ? rc[nd - 1] : 0;
    // The precision envelope: best precision at this recall or any higher one.
    for (size_t k = nd; k-- > 1;)
      if (pr[k] > pr[k - 1]) pr[k - 1] = pr[k];
    for (size_t ri = 0; ri < R; ++ri) {
      // np.searchsorted(rc, threshold, side="left"); recall points beyond
      // the last detection get precision 0.
      const size_t k = std::lower_bound(rc.begin(), rc.end(), recall_points[ri]) - rc.begin();
      precision[t * R + ri] = k < nd ? pr[k] : 0;
    }
  }
}

double mean_of_measured(const std::vector<double>& values) {
  double sum = 0;
  size_t count = 0;
  for (double v : values)
    if (v > -1) {
      sum += v;
      ++count;
    }
  return count == 0 ? -1 : sum / static_cast<double>(count);
}

}  // namespace

CocoMetrics evaluate_bbox(const CocoDataset& ground_truth,
                          const std::vector<CocoDetection>& detections) {
  std::set<int64_t> image_ids, category_ids;
  for (const CocoImage& image : ground_truth.images) image_ids.insert(image.id);
  for (const CocoCategory& category : ground_truth.categories) category_ids.insert(category.id);

  // (category, image) -> boxes; std::map keeps both in ascending id order,
  // the order pycocotools evaluates and concatenates them in.
  std::map<int64_t, std::map<int64_t, ImageCategory>> by_category;
  for (const CocoAnnotation& a : ground_truth.annotations) {
    if (!image_ids.count(a.image_id) || !category_ids.count(a.category_id)) continue;
    by_category[a.category_id][a.image_id].gts.push_back({a.id, a.bbox, a.area, a.iscrowd});
  }
  for (size_t i = 0; i < detections.size(); ++i) {
    const CocoDetection& d = detections[i];
    if (!image_ids.count(d.image_id))
      fail(StatusCode::invalid_argument, "detection ", i, " is for image ", d.image_id,
           ", which the annotations do not list");
    if (!std::isfinite(d.score) || !std::isfinite(d.bbox[0]) || !std::isfinite(d.bbox[1]) ||
        !std::isfinite(d.bbox[2]) || !std::isfinite(d.bbox[3]) || d.bbox[2] < 0 || d.bbox[3] < 0)
      fail(StatusCode::invalid_argument, "detection ", i,
           " has a non-finite score or box, or a negative box size");
    if (!category_ids.count(d.category_id)) continue;
    by_category[d.category_id][d.image_id].dts.push_back(
        {static_cast<int64_t>(i) + 1, d.bbox, d.bbox[2] * d.bbox[3], d.score});
  }

  const size_t T = kNumIouThresholds, R = kNumRecallThresholds, K = category_ids.size();
  const size_t A = kNumAreas, M = kNumMaxDets;
  // precision[t][r][k][a][m] and recall[t][k][a][m], as COCOeval.eval.
  std::vector<double> precision(T * R * K * A * M, -1.0), recall(T * K * A * M, -1.0);
  size_t k = 0;
  for (int64_t category : category_ids) {
    auto found = by_category.find(category);
    if (found == by_category.end()) {
      ++k;
      continue;
    }
    std::map<int64_t, ImageCategory>& images = found->second;
    for (auto& [image_id, ic] : images) {
      std::stable_sort(
          ic.dts.begin(), ic.dts.end(),
          [](const DetectionBox& a, const DetectionBox& b) { return a.score > b.score; });
      if (ic.dts.size() > static_cast<size_t>(kMaxDets[M - 1])) ic.dts.resize(kMaxDets[M - 1]);
      ic.ious.resize(ic.dts.size() * ic.gts.size());
      for (size_t d = 0; d < ic.dts.size(); ++d)
        for (size_t g = 0; g < ic.gts.size(); ++g)
          ic.ious[d * ic.gts.size() + g] =
              box_iou(ic.dts[d].bbox, ic.gts[g].bbox, ic.gts[g].iscrowd);
    }
    for (size_t a = 0; a < A; ++a) {
      std::vector<ImageResult> results;
      results.reserve(images.size());
      for (const auto& [image_id, ic] : images)
        results.push_back(evaluate_image(ic, kAreaRanges[a]));
      for (size_t m = 0; m < M; ++m) {
        std::vector<double> p(T * R), r(T);
        std::fill(p.begin(), p.end(), -1.0);
        std::fill(r.begin(), r.end(), -1.0);
        accumulate(results, kMaxDets[m], p.data(), r.data());
        for (size_t t = 0; t < T; ++t) {
          for (size_t ri = 0; ri < R; ++ri)
            precision[(((t * R + ri) * K + k) * A + a) * M + m] = p[t * R + ri];
          recall[((t * K + k) * A + a) * M + m] = r[t];
        }
      }
    }
    ++k;
  }

  // summarize(): means over the measured entries (> -1) of a slice.
  auto average_precision = [&](int iou_index, size_t a, size_t m) {
    std::vector<double> values;
    for (size_t t = 0; t < T; ++t) {
      if (iou_index >= 0 && t != static_cast<size_t>(iou_index)) continue;
      for (size_t ri = 0; ri < R; ++ri)
        for (size_t kk = 0; kk < K; ++kk)
          values.push_back(precision[(((t * R + ri) * K + kk) * A + a) * M + m]);
    }
    return mean_of_measured(values);
  };
  auto average_recall = [&](size_t a, size_t m) {
    std::vector<double> values;
    for (size_t t = 0; t < T; ++t)
      for (size_t kk = 0; kk < K; ++kk) values.push_back(recall[((t * K + kk) * A + a) * M + m]);
    return mean_of_measured(values);
  };
  // Index 5 of .50:.05:.95 is exactly 0.75 (pycocotools selects it by equality).
  const int kIou50 = 0, kIou75 = 5, kAll = -1;
  CocoMetrics metrics;
  metrics.ap = average_precision(kAll, 0, 2);
  metrics.ap50 = average_precision(kIou50, 0, 2);
  metrics.ap75 = average_precision(kIou75, 0, 2);
  metrics.ap_small = average_precision(kAll, 1, 2);
  metrics.ap_medium = average_precision(kAll, 2, 2);
  metrics.ap_large = average_precision(kAll, 3, 2);
  metrics.ar1 = average_recall(0, 0);
  metrics.ar10 = average_recall(0, 1);
  metrics.ar100 = average_recall(0, 2);
  metrics.ar_small = average_recall(1, 2);
  metrics.ar_medium = average_recall(2, 2);
  metrics.ar_large = average_recall(3, 2);
  return metrics;
}

std::vector<std::pair<const char*, double>> named_metrics(const CocoMetrics& m) {
  return {{"AP", m.ap},           {"AP50", m.ap50},           {"AP75", m.ap75},
          {"AP_small", m.ap_small}, {"AP_medium", m.ap_medium}, {"AP_large", m.ap_large},
          {"AR1", m.ar1},           {"AR10", m.ar10},           {"AR100", m.ar100},
          {"AR_small", m.ar_small}, {"AR_medium", m.ar_medium}, {"AR_large", m.ar_large}};
}

}  // namespace visionrt::eval
