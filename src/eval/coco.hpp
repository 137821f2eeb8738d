// COCO-format detection data sets and the COCO bounding-box metrics, computed
// exactly as pycocotools' COCOeval(iouType="bbox") computes them.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace visionrt::eval {

struct CocoImage {
  int64_t id = 0;
  std::string file_name;
  int width = 0, height = 0;
};

struct CocoAnnotation {
  int64_t id = 0, image_id = 0, category_id = 0;
  std::array<double, 4> bbox{};  // x, y, width, height in pixels (top-left corner)
  double area = 0;       // the file's "area" (segment area in COCO); width * height when absent
  bool iscrowd = false;  // crowd regions: detections on them are neither right nor wrong
};

struct CocoCategory {
  int64_t id = 0;
  std::string name;
};

struct CocoDataset {
  std::vector<CocoImage> images;
  std::vector<CocoAnnotation> annotations;
  std::vector<CocoCategory> categories;
};

// Reads a COCO annotation file: {"images": [{"id", "file_name", "width",
// "height"}], "annotations": [{"id", "image_id", "category_id", "bbox":
// [x, y, w, h], "area"?, "iscrowd"?}], "categories": [{"id", "name"}]}.
// Other keys are ignored. Throws not_found / io_error when the file cannot be
// read, and corrupt_file naming the file and the entry (e.g.
// "annotations[3].bbox") for malformed JSON, a missing or mistyped key,
// non-positive image sizes, negative or non-finite boxes, duplicate ids, or
// an annotation whose image or category is not listed.
CocoDataset read_coco_annotations(const std::string& path);
// The same for JSON text; `source` names it in errors.
CocoDataset parse_coco_annotations(const std::string& json_text, const std::string& source);

// The path of each image of the data set inside `images_dir`, in data set
// order. Throws not_found naming the first missing file (and how many are
// missing in all).
std::vector<std::string> image_paths(const CocoDataset& dataset, const std::string& images_dir);

// One detection in the COCO results format.
struct CocoDetection {
  int64_t image_id = 0, category_id = 0;
  double score = 0;
  std::array<double, 4> bbox{};  // x, y, width, height in pixels
};

// Reads a COCO results file: a JSON array of {"image_id", "category_id",
// "bbox", "score"}. Errors as read_coco_annotations.
std::vector<CocoDetection> read_coco_detections(const std::string& path);

// The twelve numbers COCOeval.summarize() prints, in its order. Each is -1
// when nothing could be measured (no ground truth in that area range).
struct CocoMetrics {
  double ap = -1;  // AP at IoU .50:.05:.95, all areas, 100 detections
  double ap50 = -1, ap75 = -1;
  double ap_small = -1, ap_medium = -1, ap_large = -1;  // area < 32^2, 32^2..96^2, > 96^2
  double ar1 = -1, ar10 = -1, ar100 = -1;  // recall with at most 1 / 10 / 100 detections
  double ar_small = -1, ar_medium = -1, ar_large = -1;
};

// The twelve numbers with their pycocotools names ("AP", "AP50", ...,
// "AR_large"), in summarize()'s order.
std::vector<std::pair<const char*, double>> named_metrics(const CocoMetrics& m);

// COCOeval bbox evaluation of `detections` against the data set's ground
// truth, with pycocotools' default parameters: per image and category the
// detections are ranked by score (stable, at most 100 kept); at each IoU
// threshold .50:.05:.95 they are matched greedily to unmatched ground truth,
// preferring ordinary over crowd boxes; crowd boxes and boxes outside the
// area range are ignored (IoU with a crowd box is intersection over the
// detection's area; a crowd box can absorb any number of detections);
// precision is interpolated at 101 recall points on its monotone envelope;
// categories without ground truth are left out of the averages.
// Detections of categories the data set does not list are dropped (as
// pycocotools drops them); one for an image it does not list is an
// invalid_argument error, as are non-finite numbers or negative sizes.
CocoMetrics evaluate_bbox(const CocoDataset& ground_truth,
                          const std::vector<CocoDetection>& detections);

}  // namespace visionrt::eval
