// COCO annotation reading and bbox metrics against pycocotools' COCOeval
// (fixtures: tests/fixtures/detr/coco_eval and coco_eval_cases, both written by
// tools/fixtures/make_eval_fixtures.py).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scratch_dir.hpp"
#include "eval/coco.hpp"
#include "visionrt/visionrt.hpp"
#include "visionrt/status.hpp"

namespace {

using visionrt::ScratchDir;

namespace fs = std::filesystem;
using json = nlohmann::json;
using visionrt::StatusCode;
using namespace visionrt::eval;

const fs::path kDetrFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures" / "detr";

json read_json(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  return json::parse(in);
}

// Every number pycocotools wrote (its twelve stats, read from the fixture,
// not from the code under test) agrees, and the code names no other. The
// computation is the same sequence of double operations except numpy's
// pairwise summation in the final means, so differences stay at rounding
// level; 1e-12 leaves room for that and nothing else.
double expect_metrics(const CocoMetrics& metrics, const json& expected, const std::string& name) {
  std::map<std::string, double> ours;
  for (const auto& [key, value] : named_metrics(metrics)) ours[key] = value;
  double worst = 0;
  int compared = 0;
  for (const auto& [key, reference] : expected.items()) {
    if (!reference.is_number()) continue;  // the fixture's notes
    ++compared;
    const auto it = ours.find(key);
    if (it == ours.end()) {
      ADD_FAILURE() << name << ": pycocotools' " << key << " is not computed";
      continue;
    }
    EXPECT_NEAR(it->second, reference.get<double>(), 1e-12) << name << " " << key;
    worst = std::max(worst, std::abs(it->second - reference.get<double>()));
  }
  EXPECT_EQ(compared, 12) << name << ": COCOeval's stats";
  EXPECT_EQ(ours.size(), size_t(compared)) << name << ": metrics pycocotools does not compute";
  return worst;
}

TEST(CocoEval, MatchesPycocotoolsOnTheDetrFixture) {
  const fs::path dir = kDetrFixtures / "coco_eval";
  const CocoDataset dataset = read_coco_annotations((dir / "annotations.json").string());
  EXPECT_EQ(dataset.images.size(), 5u);
  const std::vector<CocoDetection> detections =
      read_coco_detections((dir / "detections.json").string());
  const CocoMetrics metrics = evaluate_bbox(dataset, detections);
  const double worst =
      expect_metrics(metrics, read_json(dir / "expected_metrics.json"), "coco_eval");
  std::printf("coco_eval: AP %.6f AP50 %.6f AP75 %.6f, largest difference from pycocotools %.3g\n",
              metrics.ap, metrics.ap50, metrics.ap75, worst);
}

TEST(CocoEval, MatchesPycocotoolsOnEveryCase) {
  const fs::path dir = kDetrFixtures / "coco_eval_cases";
  const json expected = read_json(dir / "expected_metrics.json").at("cases");
  ASSERT_GE(expected.size(), 8u);
  double worst = 0;
  for (const auto& [name, stats] : expected.items()) {
    SCOPED_TRACE(name);
    const CocoDataset dataset =
        read_coco_annotations((dir / (name + "_annotations.json")).string());
    const auto detections = read_coco_detections((dir / (name + "_detections.json")).string());
    worst = std::max(worst, expect_metrics(evaluate_bbox(dataset, detections), stats, name));
  }
  std::printf("coco_eval_cases: %zu cases, largest difference from pycocotools %.3g\n",
              expected.size(), worst);
}

CocoDataset one_box_dataset() {
  CocoDataset d;
  d.images = {{1, "a.png", 100, 100}};
  d.categories = {{1, "thing"}, {2, "other"}};
  CocoAnnotation a;
  a.id = 1;
  a.image_id = 1;
  a.category_id = 1;
  a.bbox = {10, 10, 20, 20};
  a.area = 400;
  d.annotations = {a};
  return d;
}

TEST(CocoEval, HandComputedCases) {
  const CocoDataset d = one_box_dataset();
  // IoU 0.79 (a 20 x 15.8 box inside the 20 x 20 one): a hit for the
  // thresholds .50 to .75, a miss for .80 to .95. The category without
  // ground truth is left out of the averages.
  const CocoMetrics m = evaluate_bbox(d, {{1, 1, 0.9, {10, 10, 20, 15.8}}});
  EXPECT_DOUBLE_EQ(m.ap50, 1.0);
  EXPECT_DOUBLE_EQ(m.ap75, 1.0);
  EXPECT_NEAR(m.ap, 6.0 / 10.0, 1e-15);
  EXPECT_NEAR(m.ar100, 6.0 / 10.0, 1e-15);
  EXPECT_NEAR(m.ap_small, 6.0 / 10.0, 1e-15);  // a 400-pixel box is small
  EXPECT_EQ(m.ap_medium, -1);                  // no ground truth of that size
  EXPECT_EQ(m.ap_large, -1);

  // No detections: zero, not "unmeasured".
  const CocoMetrics none = evaluate_bbox(d, {});
  EXPECT_EQ(none.ap, 0);
  EXPECT_EQ(none.ar100, 0);

  // A better-scored false positive before the hit halves the precision at
  // every recall: AP50 = 0.5.
  const CocoMetrics fp_first =
      evaluate_bbox(d, {{1, 1, 0.5, {10, 10, 20, 20}}, {1, 1, 0.6, {60, 60, 20, 20}}});
  EXPECT_NEAR(fp_first.ap50, 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(fp_first.ar100, 1.0);
  EXPECT_DOUBLE_EQ(fp_first.ar1, 0.0);  // with one detection per image only the miss counts
}

TEST(CocoEval, CrowdBoxesAbsorbDetectionsWithoutCounting) {
  CocoDataset d = one_box_dataset();
  CocoAnnotation crowd = d.annotations[0];
  crowd.id = 2;
  crowd.bbox = {50, 50, 40, 40};
  crowd.area = 1600;
  crowd.iscrowd = true;
  d.annotations.push_back(crowd);
  // Two detections inside the crowd region (IoU by detection area = 1), with
  // the highest scores: ignored, so the single hit keeps precision 1.
  const CocoMetrics m = evaluate_bbox(d, {{1, 1, 0.99, {55, 55, 10, 10}},
                                          {1, 1, 0.98, {70, 70, 15, 15}},
                                          {1, 1, 0.5, {10, 10, 20, 20}}});
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
}

TEST(CocoEval, RejectsDetectionsItCannotPlace) {
  const CocoDataset d = one_box_dataset();
  try {
    evaluate_bbox(d, {{7, 1, 0.5, {0, 0, 1, 1}}});
    ADD_FAILURE() << "no error for an unknown image";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("image 7"), std::string::npos) << e.what();
  }
  EXPECT_THROW(evaluate_bbox(d, {{1, 1, std::nan(""), {0, 0, 1, 1}}}), visionrt::Error);
  EXPECT_THROW(evaluate_bbox(d, {{1, 1, 0.5, {0, 0, -1, 1}}}), visionrt::Error);
  // An unlisted category is dropped, as pycocotools drops it.
  EXPECT_EQ(evaluate_bbox(d, {{1, 42, 0.5, {10, 10, 20, 20}}}).ap, 0);
}

// The error raised for `text`, or a failure when there is none.
void expect_corrupt(const std::string& text, const std::string& fragment) {
  try {
    parse_coco_annotations(text, "ann.json");
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "' for " << text;
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::corrupt_file) << e.what();
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("ann.json: ", 0), 0u) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
}

TEST(CocoAnnotations, ReadsTheFields) {
  const CocoDataset d = parse_coco_annotations(R"({
    "info": {"description": "ignored"},
    "images": [{"id": 3, "file_name": "x.jpg", "width": 640, "height": 480, "license": 1}],
    "annotations": [
      {"id": 9, "image_id": 3, "category_id": 18, "bbox": [1.5, 2, 30, 40.25], "area": 1000.5,
       "iscrowd": 1, "segmentation": []},
      {"id": 10, "image_id": 3, "category_id": 18, "bbox": [0, 0, 4, 5]}],
    "categories": [{"id": 18, "name": "dog", "supercategory": "animal"}]})",
                                               "inline");
  ASSERT_EQ(d.images.size(), 1u);
  EXPECT_EQ(d.images[0].id, 3);
  EXPECT_EQ(d.images[0].file_name, "x.jpg");
  EXPECT_EQ(d.images[0].width, 640);
  EXPECT_EQ(d.images[0].height, 480);
  ASSERT_EQ(d.annotations.size(), 2u);
  EXPECT_EQ(d.annotations[0].bbox, (std::array<double, 4>{1.5, 2, 30, 40.25}));
  EXPECT_EQ(d.annotations[0].area, 1000.5);
  EXPECT_TRUE(d.annotations[0].iscrowd);
  EXPECT_EQ(d.annotations[1].area, 20.0);  // width * height when absent
  EXPECT_FALSE(d.annotations[1].iscrowd);
  ASSERT_EQ(d.categories.size(), 1u);
  EXPECT_EQ(d.categories[0].name, "dog");
}

TEST(CocoAnnotations, MalformedFilesNameTheEntry) {
  const std::string image = R"({"id": 1, "file_name": "a.png", "width": 10, "height": 10})";
  const std::string category = R"({"id": 1, "name": "c"})";
  auto file = [&](const std::string& images, const std::string& annotations) {
    return R"({"images": [)" + images + R"(], "annotations": [)" + annotations +
           R"(], "categories": [)" + category + "]}";
  };
  auto annotation = [](const std::string& fields) {
    return R"({"id": 5, "image_id": 1, "category_id": 1, )" + fields + "}";
  };
  expect_corrupt("{\"images\": [", "not valid JSON");
  expect_corrupt(R"({"images": [], "annotations": [], "categories": [], "x": 1e999})",
                 "not valid JSON");
  expect_corrupt("[]", "expected a JSON object");
  expect_corrupt(R"({"images": [{"id": 1, "id": 2}], "annotations": [], "categories": []})",
                 "the key 'id' appears twice in one object");
  expect_corrupt(R"({"images": [], "categories": []})", "missing key \"annotations\"");
  expect_corrupt(R"({"images": {}, "annotations": [], "categories": []})",
                 "images: expected an array");
  expect_corrupt(file(R"({"id": 1, "width": 10, "height": 10})", ""),
                 "images[0]: missing key \"file_name\"");
  expect_corrupt(file(R"({"id": 1, "file_name": "a.png", "width": -4, "height": 10})", ""),
                 "images[0].width: image size must be positive, found -4");
  expect_corrupt(file(R"({"id": 1, "file_name": "a.png", "width": 10, "height": 0})", ""),
                 "images[0].height");
  expect_corrupt(file(R"({"id": "1", "file_name": "a.png", "width": 10, "height": 10})", ""),
                 "images[0].id: expected a whole number, found string");
  expect_corrupt(file(image + "," + image, ""), "images[1].id: duplicate image id 1");
  expect_corrupt(file(image, annotation(R"("bbox": [1, 2, 3])")),
                 "annotations[0].bbox: expected [x, y, width, height]");
  expect_corrupt(file(image, annotation(R"("bbox": [1, 2, -3, 4])")),
                 "annotations[0].bbox: negative width");
  expect_corrupt(file(image, annotation(R"("bbox": [1, "2", 3, 4])")),
                 "annotations[0].bbox[1]: expected a number");
  expect_corrupt(file(image, annotation(R"("bbox": [1, 2, 3, 4], "area": -1)")),
                 "annotations[0].area: negative");
  expect_corrupt(file(image, annotation(R"("bbox": [1, 2, 3, 4], "iscrowd": 2)")),
                 "annotations[0].iscrowd");
  expect_corrupt(file(image, R"({"id": 5, "image_id": 1, "bbox": [1, 2, 3, 4]})"),
                 "annotations[0]: missing key \"category_id\"");
  expect_corrupt(file(image, R"({"id": 5, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4]})"),
                 "annotations[0].image_id: image 2 is not listed");
  expect_corrupt(file(image, R"({"id": 5, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]})"),
                 "annotations[0].category_id: category 3 is not listed");
  expect_corrupt(file(image, annotation(R"("bbox": [1, 2, 3, 4])") + "," +
                                 annotation(R"("bbox": [1, 2, 3, 4])")),
                 "annotations[1].id: duplicate annotation id 5");
}

TEST(CocoAnnotations, FileErrors) {
  ScratchDir scratch;
  try {
    read_coco_annotations((scratch.path() / "missing.json").string());
    ADD_FAILURE() << "no error for a missing file";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::not_found);
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos);
  }
  try {
    read_coco_annotations(scratch.path().string());
    ADD_FAILURE() << "no error for a folder";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::io_error);
  }
  const fs::path bad = scratch.path() / "bad.json";
  std::ofstream(bad) << R"([{"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1]}])";
  try {
    read_coco_detections(bad.string());
    ADD_FAILURE() << "no error for a detection without a score";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::corrupt_file);
    EXPECT_NE(std::string(e.what()).find("[0]: missing key \"score\""), std::string::npos)
        << e.what();
  }
}

TEST(CocoAnnotations, ImagePathsReportMissingFiles) {
  ScratchDir scratch;
  CocoDataset d;
  d.images = {{1, "a.png", 4, 4}, {2, "b.png", 4, 4}, {3, "c.png", 4, 4}};
  std::ofstream(scratch.path() / "a.png") << "x";
  try {
    image_paths(d, scratch.path().string());
    ADD_FAILURE() << "no error for missing images";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::not_found);
    const std::string message = e.what();
    EXPECT_NE(message.find("b.png: annotated image not found (2 of 3 images are missing)"),
              std::string::npos)
        << message;
  }
  std::ofstream(scratch.path() / "b.png") << "x";
  std::ofstream(scratch.path() / "c.png") << "x";
  const std::vector<std::string> paths = image_paths(d, scratch.path().string());
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[2], (scratch.path() / "c.png").string());
  EXPECT_THROW(image_paths(d, (scratch.path() / "nowhere").string()), visionrt::Error);
}

#ifdef VISIONRT_CLI_PATH
// `visionrt eval`, run as a separate process.

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

CliRun run_eval_cli(const std::vector<std::string>& args, const fs::path& scratch) {
  auto quote = [](const std::string& text) {
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
  };
  std::string command = quote(VISIONRT_CLI_PATH) + " eval";
  for (const std::string& arg : args) command += " " + quote(arg);
  const fs::path out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  command += " >" + quote(out.string()) + " 2>" + quote(err.string());
  const int status = std::system(command.c_str());
  CliRun run;
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  std::ifstream out_file(out), err_file(err);
  run.out.assign(std::istreambuf_iterator<char>(out_file), std::istreambuf_iterator<char>());
  run.err.assign(std::istreambuf_iterator<char>(err_file), std::istreambuf_iterator<char>());
  return run;
}

const fs::path kCliCase = kDetrFixtures / "eval_cli";
const fs::path kCliModel = kDetrFixtures / "r18_hf";

// The tool decodes the annotated images, which needs the OpenCV front end.
class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!visionrt::has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  }
};

TEST_F(EvalCli, MatchesTransformersAndPycocotools) {
  ScratchDir scratch;
  const CliRun run = run_eval_cli(
      {"--model", kCliModel.string(), "--annotations", (kCliCase / "annotations.json").string(),
       "--images", kCliCase.string(), "--json", "--threads", "2"},
      scratch.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  const json result = json::parse(run.out);
  const json expected = read_json(kCliCase / "expected.json");
  EXPECT_EQ(result.at("images"), expected.at("images"));
  EXPECT_EQ(result.at("objects"), expected.at("objects"));
  EXPECT_EQ(result.at("detections"), expected.at("detections"));
  // The model's outputs differ from transformers' by float32 rounding only.
  // The fixture keeps every IoU 0.005 away from the thresholds and the scores
  // 8e-5 apart, so the matches and the ranking are the same and the metrics
  // equal up to summation order.
  double worst_metric = 0, worst_loss = 0;
  for (const auto& [key, value] : expected.at("metrics").items()) {
    EXPECT_NEAR(result.at("metrics").at(key).get<double>(), value.get<double>(), 1e-9) << key;
    worst_metric = std::max(worst_metric,
                            std::abs(result["metrics"][key].get<double>() - value.get<double>()));
  }
  // The loss follows the outputs' float32 differences (about 1e-6 here).
  for (const auto& [key, value] : expected.at("loss").items()) {
    EXPECT_NEAR(result.at("loss").at(key).get<double>(), value.get<double>(), 5e-5) << key;
    worst_loss =
        std::max(worst_loss, std::abs(result["loss"][key].get<double>() - value.get<double>()));
  }
  EXPECT_GT(expected.at("metrics").at("AP50").get<double>(), 0.05);  // the case measures something
  std::printf("visionrt eval: AP %.6f, loss %.6f; differences: metrics %.3g, loss %.3g\n",
              result["metrics"]["AP"].get<double>(), result["loss"]["loss"].get<double>(),
              worst_metric, worst_loss);
}

// The RT-DETR demo through `visionrt eval`: the COCO metrics its training
// script measured with transformers and pycocotools on the same held-out
// images (eval_metrics.json), and no DETR set loss (it scores sigmoids).
// Float32 summation order moves scores by ~1e-6 against gaps far wider
// here, so the metrics agree to 1e-6.
TEST_F(EvalCli, RtDetrDemoGivesItsPycocotoolsMetrics) {
  ScratchDir scratch;
  const fs::path root(VISIONRT_SOURCE_DIR);
  const fs::path demo = root / "models/demo/rtdetr-shapes", images = root / "tests/fixtures/shapes-eval";
  const CliRun run = run_eval_cli({"--model", demo.string(), "--annotations", (images / "annotations.json").string(),
                                   "--images", images.string(), "--json", "--threads", "2"},
                                  scratch.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  const json result = json::parse(run.out);
  const json expected = read_json(demo / "eval_metrics.json").at("saved_checkpoint");
  for (const char* key : {"AP", "AP50", "AP75"})
    EXPECT_NEAR(result.at("metrics").at(key).get<double>(), expected.at(key).get<double>(), 1e-6) << key;
  EXPECT_TRUE(result.at("loss").is_null());
  std::printf("visionrt eval, RT-DETR demo: AP %.4f, AP50 %.4f, AP75 %.4f\n", result["metrics"]["AP"].get<double>(),
              result["metrics"]["AP50"].get<double>(), result["metrics"]["AP75"].get<double>());
}

TEST_F(EvalCli, PrintsATable) {
  ScratchDir scratch;
  const CliRun run = run_eval_cli(
      {"--model", kCliModel.string(), "--annotations", (kCliCase / "annotations.json").string(),
       "--images", kCliCase.string(), "--batch", "2"},
      scratch.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json expected = read_json(kCliCase / "expected.json");
  char ap_line[64];
  std::snprintf(ap_line, sizeof ap_line, "AP  IoU .50:.95        %.4f",
                expected["metrics"]["AP"].get<double>());
  EXPECT_NE(run.out.find("5 images, 18 objects, 70 detections"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(ap_line), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("AP  large                 n/a"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("loss_giou"), std::string::npos) << run.out;
}

TEST_F(EvalCli, BadInputsEndWithOneLineAndExitCode1) {
  ScratchDir scratch;
  const json annotations = read_json(kCliCase / "annotations.json");
  auto expect_failure = [&](const json& file, const fs::path& images, const std::string& fragment) {
    const fs::path path = scratch.path() / "annotations.json";
    std::ofstream(path) << file.dump();
    const CliRun run = run_eval_cli({"--model", kCliModel.string(), "--annotations", path.string(),
                                     "--images", images.string()},
                                    scratch.path());
    EXPECT_EQ(run.exit_code, 1) << fragment;
    EXPECT_EQ(run.out, "") << fragment;
    EXPECT_EQ(run.err.rfind("visionrt: ", 0), 0u) << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
    EXPECT_NE(run.err.find(fragment), std::string::npos) << run.err;
  };
  json missing_image = annotations;
  missing_image["images"][3]["file_name"] = "not_there.png";
  expect_failure(missing_image, kCliCase, "not_there.png: annotated image not found");
  json bad_box = annotations;
  bad_box["annotations"][2]["bbox"] = {1, 2, 3};
  expect_failure(bad_box, kCliCase, "annotations[2].bbox");
  json unknown_class = annotations;
  unknown_class["categories"].push_back({{"id", 40}, {"name", "elsewhere"}});
  unknown_class["annotations"][0]["category_id"] = 40;
  expect_failure(unknown_class, kCliCase, "category 40, which is not a class id of the model");
  json wrong_size = annotations;
  wrong_size["images"][0]["width"] = 65;
  expect_failure(wrong_size, kCliCase, "the annotations say 65x64");
  std::ofstream(scratch.path() / "broken.json") << "{\"images\": [";
  const CliRun broken =
      run_eval_cli({"--model", kCliModel.string(), "--annotations",
                    (scratch.path() / "broken.json").string(), "--images", kCliCase.string()},
                   scratch.path());
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.err.find("broken.json: not valid JSON"), std::string::npos) << broken.err;

  const CliRun usage = run_eval_cli(
      {"--model", kCliModel.string(), "--annotations", (kCliCase / "annotations.json").string()},
      scratch.path());
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("missing --images DIR"), std::string::npos) << usage.err;
}
#endif  // VISIONRT_CLI_PATH

}  // namespace
