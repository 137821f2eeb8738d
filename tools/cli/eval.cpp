// visionrt eval: COCO box metrics, and DETR's set-prediction loss, of a model
// on a COCO-format annotated image set.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "coco.hpp"
#include "detr_loss.hpp"
#include "output.hpp"
#include "progress.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt_cli {
namespace {

using visionrt::eval::CocoDataset;
using visionrt::eval::CocoDetection;
using visionrt::eval::CocoImage;

constexpr const char* kUsage =
    R"(usage: visionrt eval --model DIR --annotations FILE --images DIR [OPTIONS]

Runs a detection model (DETR, RT-DETR, RT-DETRv2, D-FINE) on every image of a
COCO-format annotation file and prints the COCO box metrics (AP at IoU
.50:.05:.95, AP50, AP75, by object size, and recall; computed as pycocotools
computes them) and, for DETR, its set-prediction loss (the loss transformers'
DetrForObjectDetection returns for these labels, weights from the model's
config.json), averaged over the images. For a model trained with
auxiliary_loss, transformers' total loss also adds the intermediate decoder
layers' losses; the loss here is the final layer's.

Category ids must be the model's class ids (the keys of config.json's
id2label): DETR's COCO checkpoints use COCO's category ids as class ids, so a
COCO annotation file works as it is. For the loss, crowd annotations are left
out and boxes are clipped to the image, as DETR's training data is prepared.
At most the 100 best-scoring detections of an image count.

options:
  --model DIR             Hugging Face DETR folder (config.json,
                          preprocessor_config.json, *.safetensors)  [required]
  --annotations FILE      COCO annotation JSON (images, annotations,
                          categories)  [required]
  --images DIR            folder holding the images; each image's file_name is
                          relative to it  [required]
  --threshold T           count detections scoring above T (default 0: every
                          query, as COCO evaluation of DETR does)
  --json                  print one JSON object instead of a table:
                          {"images": N, "objects": N, "detections": N,
                           "metrics": {"AP": .., "AP50": .., ...},
                           "loss": {"loss": .., "loss_ce": .., "loss_bbox": ..,
                                    "loss_giou": ..}}
                          (a metric is -1 when there is nothing to measure)
  --batch N               images of the same prepared size run together
                          (default 8)
  --device cpu|cuda|auto  where to run (default auto: CUDA when usable)
  --threads N             CPU worker threads (default 0: all cores)
  -h, --help              show this help

Exit status: 0 when every image was evaluated; 1 when the model, the
annotation file or an image cannot be used (one "visionrt: ..." line on
stderr, no results); 2 for usage errors.
)";

// COCO evaluation keeps this many detections per image (maxDets).
constexpr size_t kMaxDetectionsPerImage = 100;

struct EvalSettings {
  std::string model_dir, annotations, images_dir;
  float threshold = 0.f;
  int batch = 8;
  bool json = false;
  visionrt::Options options;
};

std::optional<EvalSettings> parse_settings(const std::vector<std::string>& args) {
  ArgParser parser({"--help", "--json"}, {"--model", "--annotations", "--images", "--threshold",
                                          "--batch", "--device", "--threads"});
  parser.parse(args);
  if (parser.has("--help")) return std::nullopt;
  if (!parser.positionals().empty())
    throw UsageError("unexpected argument '" + parser.positionals()[0] + "'");
  EvalSettings s;
  s.model_dir = parser.value("--model");
  s.annotations = parser.value("--annotations");
  s.images_dir = parser.value("--images");
  if (s.model_dir.empty()) throw UsageError("missing --model DIR");
  if (s.annotations.empty()) throw UsageError("missing --annotations FILE");
  if (s.images_dir.empty()) throw UsageError("missing --images DIR");
  if (parser.has("--threshold")) s.threshold = parse_threshold(parser.value("--threshold"));
  s.batch = parser.int_value("--batch", s.batch, 1, 4096);
  s.json = parser.has("--json");
  s.options.device = parse_device(parser.value("--device", "auto"));
  s.options.num_threads = parser.int_value("--threads", 0, 0, 4096);
  return s;
}

// A problem with the inputs that ends the run: one stderr line, exit 1.
class EvalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// DETR's targets for one image, prepared as DetrImageProcessor prepares COCO
// annotations for training: crowd regions dropped, boxes clipped to the
// image and dropped when nothing is left, then (cx, cy, w, h) relative to
// the image size.
visionrt::eval::DetrTargets targets_of(const CocoDataset& dataset,
                                       const std::vector<size_t>& indices, const CocoImage& image) {
  visionrt::eval::DetrTargets t;
  const double width = image.width, height = image.height;
  for (size_t index : indices) {
    const visionrt::eval::CocoAnnotation& a = dataset.annotations[index];
    if (a.iscrowd) continue;
    const double x0 = std::clamp(a.bbox[0], 0.0, width),
                 x1 = std::clamp(a.bbox[0] + a.bbox[2], 0.0, width);
    const double y0 = std::clamp(a.bbox[1], 0.0, height),
                 y1 = std::clamp(a.bbox[1] + a.bbox[3], 0.0, height);
    if (!(x1 > x0 && y1 > y0)) continue;
    t.class_ids.push_back(static_cast<int>(a.category_id));
    for (double v :
         {(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height})
      t.boxes.push_back(static_cast<float>(v));
  }
  return t;
}

// Everything measured so far.
struct Totals {
  std::vector<CocoDetection> detections;
  double loss = 0, loss_ce = 0, loss_bbox = 0, loss_giou = 0;
  // DETR's loss scores a softmax with "no object": the real-time DETRs
  // (sigmoid scores, trained with a varifocal loss) get none.
  bool has_loss = true;
  size_t images = 0;
};

// One annotated image, decoded and prepared alone (so without padding).
struct PreparedImage {
  const CocoImage* image;
  std::string path;
  visionrt::DetrBatch prepared;
  visionrt::eval::DetrTargets targets;
};

// Runs images of one prepared size through the model together and adds
// their detections and losses to the totals.
void evaluate_group(const visionrt::Detector& detector, const std::vector<PreparedImage*>& group,
                    const EvalSettings& settings, const visionrt::eval::DetrLossConfig& loss_config,
                    Totals& totals) {
  visionrt::DetrBatch batch;
  batch.n = static_cast<int>(group.size());
  batch.height = group[0]->prepared.height;
  batch.width = group[0]->prepared.width;
  for (const PreparedImage* p : group) {
    const visionrt::DetrBatch& one = p->prepared;
    batch.pixel_values.insert(batch.pixel_values.end(), one.pixel_values.begin(),
                              one.pixel_values.end());
    batch.pixel_mask.insert(batch.pixel_mask.end(), one.pixel_mask.begin(), one.pixel_mask.end());
    batch.original_width.push_back(one.original_width.at(0));
    batch.original_height.push_back(one.original_height.at(0));
  }
  const visionrt::DetrOutputs outputs = detector.forward(batch);
  const size_t logits_per_image = static_cast<size_t>(outputs.queries) * outputs.classes;
  const size_t boxes_per_image = static_cast<size_t>(outputs.queries) * 4;
  for (size_t k = 0; k < group.size(); ++k) {
    const PreparedImage& p = *group[k];
    std::vector<visionrt::Detection> dets = detector.post_process(
        outputs, static_cast<int>(k), p.image->width, p.image->height, settings.threshold);
    if (dets.size() > kMaxDetectionsPerImage)
      dets.resize(kMaxDetectionsPerImage);  // sorted by score
    // Width and height in double, as a results file written from the same
    // float corners would give them.
    for (const visionrt::Detection& d : dets) {
      const double x0 = d.box.x0, y0 = d.box.y0, x1 = d.box.x1, y1 = d.box.y1;
      totals.detections.push_back({p.image->id, d.id, d.score, {x0, y0, x1 - x0, y1 - y0}});
    }
    ++totals.images;
    if (outputs.sigmoid_scores) {
      totals.has_loss = false;
      continue;
    }
    // Each image's loss as a batch of one, so the mean over images does not
    // depend on how they were grouped.
    const visionrt::eval::DetrLossValues loss = visionrt::eval::detr_loss(
        outputs.logits.data() + k * logits_per_image, outputs.boxes.data() + k * boxes_per_image, 1,
        outputs.queries, outputs.classes, {p.targets}, loss_config);
    totals.loss += loss.loss;
    totals.loss_ce += loss.loss_ce;
    totals.loss_bbox += loss.loss_bbox;
    totals.loss_giou += loss.loss_giou;
  }
}

// Checks that every category used is a class of the model.
void check_categories(const CocoDataset& dataset, const visionrt::Detector& detector,
                      const std::string& annotations_path) {
  const int64_t num_labels = static_cast<int64_t>(detector.label_names().size());
  for (const visionrt::eval::CocoAnnotation& a : dataset.annotations)
    if (a.category_id < 0 || a.category_id >= num_labels)
      throw EvalError(
          annotations_path + ": annotation " + std::to_string(a.id) + " has category " +
          std::to_string(a.category_id) + ", which is not a class id of the model (0 to " +
          std::to_string(num_labels - 1) + "); category ids must be the model's class ids");
}

Totals evaluate_all(const visionrt::Detector& detector, const CocoDataset& dataset,
                    const std::vector<std::string>& paths, const EvalSettings& settings,
                    const visionrt::eval::DetrLossConfig& loss_config) {
  std::map<int64_t, std::vector<size_t>> annotations_by_image;
  for (size_t i = 0; i < dataset.annotations.size(); ++i)
    annotations_by_image[dataset.annotations[i].image_id].push_back(i);

  Totals totals;
  ProgressBar progress(dataset.images.size());
  progress.update(0);
  for (size_t begin = 0; begin < dataset.images.size(); begin += settings.batch) {
    const size_t end = std::min(dataset.images.size(), begin + settings.batch);
    std::vector<PreparedImage> chunk;
    for (size_t i = begin; i < end; ++i) {
      const CocoImage& image = dataset.images[i];
      PreparedImage p{&image, paths[i], {}, {}};
      try {
        p.prepared = detector.prepare_files({p.path});
      } catch (const std::exception& e) {
        throw EvalError(p.path + ": " + one_line_reason(e.what(), p.path));
      }
      if (p.prepared.original_width.at(0) != image.width ||
          p.prepared.original_height.at(0) != image.height)
        throw EvalError(p.path + ": the image is " + std::to_string(p.prepared.original_width[0]) +
                        "x" + std::to_string(p.prepared.original_height[0]) +
                        " pixels, the annotations say " + std::to_string(image.width) + "x" +
                        std::to_string(image.height));
      p.targets = targets_of(dataset, annotations_by_image[image.id], image);
      chunk.push_back(std::move(p));
    }
    // Images of the same prepared size share a forward pass; no padding is
    // needed, so each image's outputs are those it gets alone.
    std::vector<bool> done(chunk.size(), false);
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (done[i]) continue;
      std::vector<PreparedImage*> group;
      for (size_t j = i; j < chunk.size(); ++j)
        if (!done[j] && chunk[j].prepared.width == chunk[i].prepared.width &&
            chunk[j].prepared.height == chunk[i].prepared.height) {
          group.push_back(&chunk[j]);
          done[j] = true;
        }
      evaluate_group(detector, group, settings, loss_config, totals);
    }
    progress.update(end);
  }
  progress.clear();
  return totals;
}

void print_results(const visionrt::eval::CocoMetrics& m, const Totals& totals, size_t objects,
                   bool json) {
  const double n = static_cast<double>(std::max<size_t>(1, totals.images));
  const auto metrics = visionrt::eval::named_metrics(m);
  const std::pair<const char*, double> losses[] = {{"loss", totals.loss / n},
                                                   {"loss_ce", totals.loss_ce / n},
                                                   {"loss_bbox", totals.loss_bbox / n},
                                                   {"loss_giou", totals.loss_giou / n}};
  if (json) {
    nlohmann::ordered_json out = {
        {"images", totals.images}, {"objects", objects}, {"detections", totals.detections.size()}};
    for (const auto& [name, value] : metrics) out["metrics"][name] = value;
    if (!totals.has_loss) out["loss"] = nullptr;
    for (const auto& [name, value] : losses)
      if (totals.has_loss) out["loss"][name] = value;
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  const char* const labels[] = {"AP  IoU .50:.95", "AP  IoU .50",       "AP  IoU .75",
                                "AP  small",       "AP  medium",        "AP  large",
                                "AR  1 detection", "AR  10 detections", "AR  100 detections",
                                "AR  small",       "AR  medium",        "AR  large"};
  std::printf("%zu images, %zu objects, %zu detections\n\n", totals.images, objects,
              totals.detections.size());
  std::printf("COCO box metrics\n");
  for (size_t k = 0; k < metrics.size(); ++k) {
    if (metrics[k].second < 0)
      std::printf("  %-20s %8s   (no objects of this size)\n", labels[k], "n/a");
    else
      std::printf("  %-20s %8.4f\n", labels[k], metrics[k].second);
  }
  if (!totals.has_loss) {
    std::printf("\nset-prediction loss: DETR's only (this model scores classes by sigmoids)\n");
    return;
  }
  std::printf("\nset-prediction loss (mean over images)\n");
  for (const auto& [name, value] : losses) std::printf("  %-20s %8.4f\n", name, value);
}

}  // namespace

int run_eval(const std::vector<std::string>& args) {
  const std::optional<EvalSettings> settings = parse_settings(args);
  if (!settings) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  try {
    const CocoDataset dataset = visionrt::eval::read_coco_annotations(settings->annotations);
    const std::vector<std::string> paths =
        visionrt::eval::image_paths(dataset, settings->images_dir);
    std::optional<visionrt::Detector> detector;
    try {
      detector.emplace(visionrt::Detector::load(settings->model_dir, settings->options));
    } catch (const std::exception& e) {
      throw EvalError("cannot load model " + settings->model_dir + ": " +
                      one_line_reason(e.what(), settings->model_dir));
    }
    if (!visionrt::has_image_io())
      throw EvalError("this build cannot decode image files (it was built without OpenCV)");
    check_categories(dataset, *detector, settings->annotations);
    const visionrt::eval::DetrLossConfig loss_config =
        visionrt::eval::read_detr_loss_config(settings->model_dir + "/config.json");

    const Totals totals = evaluate_all(*detector, dataset, paths, *settings, loss_config);
    const visionrt::eval::CocoMetrics metrics =
        visionrt::eval::evaluate_bbox(dataset, totals.detections);
    print_results(metrics, totals, dataset.annotations.size(), settings->json);
    return kExitOk;
  } catch (const std::exception& e) {
    // Library messages start with the file they are about; EvalError's too.
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    std::fprintf(stderr, "visionrt: %s\n", message.c_str());
    return kExitFailure;
  }
}

}  // namespace visionrt_cli
