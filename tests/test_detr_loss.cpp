// DETR's set-prediction loss against transformers (ForObjectDetectionLoss and
// DetrForObjectDetection(labels=...)): tests/fixtures/detr/loss_cases.*,
// written by tools/fixtures/make_eval_fixtures.py.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eval/detr_loss.hpp"
#include "io/safetensors.hpp"
#include "visionrt/status.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using visionrt::StatusCode;
using namespace visionrt::eval;

const fs::path kSourceDir = VISIONRT_SOURCE_DIR;
const fs::path kDetrFixtures = kSourceDir / "tests" / "fixtures" / "detr";

template <typename T>
std::vector<T> tensor_values(const visionrt::io::SafetensorsFile& file, const std::string& name,
                             visionrt::DType dtype) {
  const visionrt::io::TensorEntry* entry = file.find(name);
  if (entry == nullptr) {
    ADD_FAILURE() << "no tensor " << name;
    return {};
  }
  EXPECT_EQ(entry->dtype, dtype) << name;
  const visionrt::Tensor t = file.view(*entry);
  const T* data = t.ptr<T>();
  return std::vector<T>(data, data + t.numel());
}

struct LossCase {
  json info;
  std::vector<float> logits, boxes;
  std::vector<DetrTargets> targets;
  DetrLossConfig config;
};

std::vector<LossCase> read_loss_cases() {
  const auto file =
      visionrt::io::SafetensorsFile::open((kDetrFixtures / "loss_cases.safetensors").string());
  std::ifstream in(kDetrFixtures / "loss_cases.json");
  const json cases = json::parse(in).at("cases");
  std::vector<LossCase> out;
  for (const json& c : cases) {
    LossCase lc;
    lc.info = c;
    const std::string name = c.at("name");
    lc.logits = tensor_values<float>(*file, name + "_logits", visionrt::DType::f32);
    lc.boxes = tensor_values<float>(*file, name + "_pred_boxes", visionrt::DType::f32);
    std::vector<int64_t> labels;
    std::vector<float> target_boxes;
    if (file->find(name + "_target_labels") != nullptr) {
      labels = tensor_values<int64_t>(*file, name + "_target_labels", visionrt::DType::i64);
      target_boxes = tensor_values<float>(*file, name + "_target_boxes", visionrt::DType::f32);
    }
    size_t begin = 0;
    for (size_t count : c.at("targets_per_image").get<std::vector<size_t>>()) {
      DetrTargets t;
      t.class_ids.assign(labels.begin() + begin, labels.begin() + begin + count);
      t.boxes.assign(target_boxes.begin() + 4 * begin, target_boxes.begin() + 4 * (begin + count));
      lc.targets.push_back(std::move(t));
      begin += count;
    }
    EXPECT_EQ(begin, labels.size()) << name;
    const json& w = c.at("config");
    lc.config.class_cost = w.at("class_cost");
    lc.config.bbox_cost = w.at("bbox_cost");
    lc.config.giou_cost = w.at("giou_cost");
    lc.config.eos_coefficient = w.at("eos_coefficient");
    lc.config.bbox_loss_coefficient = w.at("bbox_loss_coefficient");
    lc.config.giou_loss_coefficient = w.at("giou_loss_coefficient");
    out.push_back(std::move(lc));
  }
  return out;
}

TEST(DetrLoss, MatchesTransformersOnEveryCase) {
  const std::vector<LossCase> cases = read_loss_cases();
  ASSERT_GE(cases.size(), 9u);
  double worst = 0;
  for (const LossCase& c : cases) {
    const std::string name = c.info.at("name");
    SCOPED_TRACE(name + ": " + c.info.at("note").get<std::string>());
    const int batch = c.info.at("batch"), queries = c.info.at("queries");
    const int classes = c.info.at("num_labels").get<int>() + 1;
    ASSERT_EQ(c.logits.size(), static_cast<size_t>(batch) * queries * classes);
    const DetrLossValues v =
        detr_loss(c.logits.data(), c.boxes.data(), batch, queries, classes, c.targets, c.config);
    // transformers computes in float32 (relative rounding ~1e-7 on values of
    // order 1-10) and visionrt in double; 1e-5 is two orders above that.
    const std::pair<const char*, double> values[] = {{"loss", v.loss},
                                                     {"loss_ce", v.loss_ce},
                                                     {"loss_bbox", v.loss_bbox},
                                                     {"loss_giou", v.loss_giou}};
    for (const auto& [key, value] : values) {
      const double reference = c.info.at(key);
      EXPECT_NEAR(value, reference, 1e-5) << key;
      worst = std::max(worst, std::abs(value - reference));
    }
    if (c.info.contains("cardinality_error")) {  // a float32 mean of whole numbers
      EXPECT_NEAR(v.cardinality_error, c.info.at("cardinality_error").get<double>(), 1e-6);
    }
    // The same assignment as scipy on transformers' float32 cost matrix.
    const json& matches = c.info.at("matches");
    ASSERT_EQ(v.matches.size(), matches.size());
    for (size_t b = 0; b < matches.size(); ++b) {
      EXPECT_EQ(v.matches[b].queries, matches[b].at("queries").get<std::vector<int>>())
          << "image " << b;
      EXPECT_EQ(v.matches[b].targets, matches[b].at("targets").get<std::vector<int>>())
          << "image " << b;
      const DetrMatch single =
          match_queries(c.logits.data() + b * queries * classes, c.boxes.data() + b * queries * 4,
                        queries, classes, c.targets[b], c.config);
      EXPECT_EQ(single.queries, v.matches[b].queries);
      EXPECT_EQ(single.targets, v.matches[b].targets);
    }
  }
  std::printf("detr_loss: %zu transformers cases, largest loss difference %.3g\n", cases.size(),
              worst);
}

// The batch's loss is not the mean of per-image losses: the cross-entropy
// is one weighted mean over all queries, and the box terms are divided by
// the batch's target count. On every fixture batch of several images with
// different target counts, the batch loss and its terms equal transformers'
// (ForObjectDetectionLoss on the whole batch), and so do the per-image
// losses recombined that way. 1e-5 as in MatchesTransformersOnEveryCase:
// transformers computes in float32 (relative rounding ~1e-7 on values of
// order 1-10) and visionrt in double.
TEST(DetrLoss, BatchTermsCombineAsTransformersDoes) {
  int batches = 0;
  for (const LossCase& c : read_loss_cases()) {
    const int batch = c.info.at("batch"), queries = c.info.at("queries");
    const int classes = c.info.at("num_labels").get<int>() + 1;
    const std::vector<size_t> counts = c.info.at("targets_per_image");
    if (batch < 2 || std::equal(counts.begin() + 1, counts.end(), counts.begin())) continue;
    const std::string name = c.info.at("name");
    SCOPED_TRACE(name + ": " + c.info.at("note").get<std::string>() + ", targets per image " +
                 c.info.at("targets_per_image").dump());
    const DetrLossValues whole =
        detr_loss(c.logits.data(), c.boxes.data(), batch, queries, classes, c.targets, c.config);
    double weighted_ce = 0, weight = 0, l1 = 0, giou = 0, targets = 0;
    for (int b = 0; b < batch; ++b) {
      const DetrLossValues one =
          detr_loss(c.logits.data() + b * queries * classes, c.boxes.data() + b * queries * 4, 1,
                    queries, classes, {c.targets[b]}, c.config);
      const double n = static_cast<double>(c.targets[b].class_ids.size());
      ASSERT_LE(n, queries);  // every target is matched, so n queries have weight 1
      const double w = (queries - n) * c.config.eos_coefficient + n;
      weighted_ce += one.loss_ce * w;
      weight += w;
      l1 += one.loss_bbox * n;
      giou += one.loss_giou * n;
      targets += n;
    }
    ASSERT_GT(targets, 0);
    const double ce = weighted_ce / weight, bbox = l1 / targets, giou_mean = giou / targets;
    const double total = ce + c.config.bbox_loss_coefficient * bbox + c.config.giou_loss_coefficient * giou_mean;
    const std::tuple<const char*, double, double> terms[] = {{"loss", whole.loss, total},
                                                             {"loss_ce", whole.loss_ce, ce},
                                                             {"loss_bbox", whole.loss_bbox, bbox},
                                                             {"loss_giou", whole.loss_giou, giou_mean}};
    for (const auto& [key, batch_value, recombined] : terms) {
      const double reference = c.info.at(key);
      EXPECT_NEAR(batch_value, reference, 1e-5) << key << " of the batch";
      EXPECT_NEAR(recombined, reference, 1e-5) << key << " recombined from the images'";
    }
    ++batches;
  }
  EXPECT_GE(batches, 5);  // case_00, 03, 04, 05 and 08 of the fixtures
}

TEST(DetrLoss, HandComputedValues) {
  // Two queries, one label: query 1 sits exactly on the target, query 0 far away.
  const std::vector<float> logits = {0.0f, 2.0f,             // query 0: "no object" favoured
                                     3.0f, -1.0f};           // query 1: the label favoured
  const std::vector<float> boxes = {0.8f, 0.8f, 0.1f, 0.1f,  //
                                    0.3f, 0.4f, 0.2f, 0.4f};
  DetrTargets t;
  t.class_ids = {0};
  t.boxes = {0.3f, 0.4f, 0.2f, 0.4f};
  const DetrLossValues v = detr_loss(logits.data(), boxes.data(), 1, 2, 2, {t});
  ASSERT_EQ(v.matches.size(), 1u);
  EXPECT_EQ(v.matches[0].queries, std::vector<int>{1});
  EXPECT_EQ(v.matches[0].targets, std::vector<int>{0});
  EXPECT_NEAR(v.loss_bbox, 0.0, 1e-12);
  EXPECT_NEAR(v.loss_giou, 0.0, 1e-12);
  // ce of query 0 (target "no object", weight 0.1) and query 1 (target 0, weight 1).
  const double ce0 = std::log(1 + std::exp(-2.0)), ce1 = std::log(1 + std::exp(-4.0));
  EXPECT_NEAR(v.loss_ce, (0.1 * ce0 + ce1) / 1.1, 1e-12);
  EXPECT_NEAR(v.loss, v.loss_ce, 1e-12);
  EXPECT_EQ(v.cardinality_error, 0.0);

  // Disjoint boxes: GIoU = -(hull - union) / hull. Target [0, 0.2] x [0, 0.2]
  // and prediction [0.6, 0.8] x [0.6, 0.8]: union 0.08, hull 0.64.
  DetrTargets far;
  far.class_ids = {0};
  far.boxes = {0.1f, 0.1f, 0.2f, 0.2f};
  const std::vector<float> one_logit = {0.0f, 0.0f};
  const std::vector<float> one_box = {0.7f, 0.7f, 0.2f, 0.2f};
  const DetrLossValues d = detr_loss(one_logit.data(), one_box.data(), 1, 1, 2, {far});
  EXPECT_NEAR(d.loss_giou, 1 + (0.64 - 0.08) / 0.64, 1e-6);  // float inputs: 1e-6
  EXPECT_NEAR(d.loss_bbox, 0.6 + 0.6, 1e-6);
  EXPECT_NEAR(d.loss, std::log(2.0) + 5 * 1.2 + 2 * (1 + 0.875), 1e-5);
}

TEST(DetrLoss, ReadsWeightsFromConfigJson) {
  const DetrLossConfig r18 =
      read_detr_loss_config((kDetrFixtures / "r18_hf" / "config.json").string());
  EXPECT_EQ(r18.class_cost, 1);
  EXPECT_EQ(r18.bbox_cost, 5);
  EXPECT_EQ(r18.giou_cost, 2);
  EXPECT_DOUBLE_EQ(r18.eos_coefficient, 0.1);
  EXPECT_EQ(r18.bbox_loss_coefficient, 5);
  EXPECT_EQ(r18.giou_loss_coefficient, 2);

  const fs::path dir = fs::temp_directory_path() /
                       ("visionrt_loss_config_" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  std::ofstream(dir / "custom.json")
      << R"({"class_cost": 2, "eos_coefficient": 0.25, "giou_cost": null})";
  const DetrLossConfig custom = read_detr_loss_config((dir / "custom.json").string());
  EXPECT_EQ(custom.class_cost, 2);
  EXPECT_EQ(custom.eos_coefficient, 0.25);
  EXPECT_EQ(custom.giou_cost, 2);  // null keeps the default
  EXPECT_EQ(custom.bbox_cost, 5);
  std::ofstream(dir / "bad.json") << R"({"bbox_cost": "five"})";
  try {
    read_detr_loss_config((dir / "bad.json").string());
    ADD_FAILURE() << "no error for a string weight";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::corrupt_file);
    EXPECT_NE(std::string(e.what()).find("bad.json: bbox_cost: expected a number"),
              std::string::npos)
        << e.what();
  }
  std::ofstream(dir / "negative.json") << R"({"eos_coefficient": -0.1})";
  EXPECT_THROW(read_detr_loss_config((dir / "negative.json").string()), visionrt::Error);
  std::ofstream(dir / "broken.json") << "{";
  EXPECT_THROW(read_detr_loss_config((dir / "broken.json").string()), visionrt::Error);
  try {
    read_detr_loss_config((dir / "missing.json").string());
    ADD_FAILURE() << "no error for a missing file";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::not_found);
  }
  fs::remove_all(dir);
}

TEST(DetrLoss, RejectsInvalidInputs) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> unit(0.05f, 0.95f);
  const int queries = 3, classes = 4;
  std::vector<float> logits(queries * classes), boxes(queries * 4);
  for (float& v : logits) v = unit(rng) * 4 - 2;
  for (float& v : boxes) v = unit(rng);
  DetrTargets good;
  good.class_ids = {2};
  good.boxes = {0.5f, 0.5f, 0.2f, 0.3f};

  auto expect_error = [&](const std::vector<DetrTargets>& targets, const std::vector<float>& l,
                          const std::vector<float>& b, int batch, StatusCode code,
                          const std::string& fragment) {
    try {
      detr_loss(l.data(), b.data(), batch, queries, classes, targets);
      ADD_FAILURE() << "no error; expected " << fragment;
    } catch (const visionrt::Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  DetrTargets bad_class = good;
  bad_class.class_ids = {3};  // 3 is "no object" for 4 classes
  expect_error({bad_class}, logits, boxes, 1, StatusCode::invalid_argument, "has class 3");
  DetrTargets negative = good;
  negative.boxes[2] = -0.1f;
  expect_error({negative}, logits, boxes, 1, StatusCode::invalid_argument, "negative width");
  DetrTargets short_boxes = good;
  short_boxes.boxes.pop_back();
  expect_error({short_boxes}, logits, boxes, 1, StatusCode::invalid_argument, "box values");
  expect_error({good, good}, logits, boxes, 1, StatusCode::invalid_argument,
               "2 target sets for a batch of 1");
  std::vector<float> nan_logits = logits;
  nan_logits[5] = std::numeric_limits<float>::quiet_NaN();
  expect_error({good}, nan_logits, boxes, 1, StatusCode::invalid_argument, "query 1, class 1");
  std::vector<float> inf_boxes = boxes;
  inf_boxes[4] = std::numeric_limits<float>::infinity();
  expect_error({good}, logits, inf_boxes, 1, StatusCode::invalid_argument, "predicted box 1");

  visionrt::DetrOutputs outputs;
  outputs.batch = 1;
  outputs.queries = queries;
  outputs.classes = classes;
  outputs.logits = logits;
  outputs.boxes = std::vector<float>(boxes.begin(), boxes.end() - 1);
  try {
    detr_loss(outputs, {good});
    ADD_FAILURE() << "no error for short outputs";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::shape_mismatch);
  }
  outputs.boxes = boxes;
  EXPECT_NO_THROW(detr_loss(outputs, {good}));
}

TEST(DetrLoss, EmptyBatchAndImagesWithoutTargets) {
  const DetrLossValues empty = detr_loss(nullptr, nullptr, 0, 5, 3, {});
  EXPECT_EQ(empty.loss, 0);
  EXPECT_TRUE(empty.matches.empty());

  const std::vector<float> logits = {1.0f, -1.0f, 0.5f};
  const std::vector<float> boxes = {0.5f, 0.5f, 0.3f, 0.3f};
  const DetrLossValues none = detr_loss(logits.data(), boxes.data(), 1, 1, 3, {DetrTargets{}});
  EXPECT_TRUE(none.matches.at(0).queries.empty());
  EXPECT_EQ(none.loss_bbox, 0);
  EXPECT_EQ(none.loss_giou, 0);
  const double lse = std::log(std::exp(1.0) + std::exp(-1.0) + std::exp(0.5));
  EXPECT_NEAR(none.loss_ce, lse - 0.5, 1e-12);  // the only query targets "no object"
  EXPECT_EQ(none.cardinality_error, 1.0);       // it predicts class 0: one object too many
}

}  // namespace
