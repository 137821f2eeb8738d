// The bundled demo detectors (tools/train/train_detr_shapes.py,
// train_rtdetr_shapes.py, train_dfine_shapes.py) on shape images they were not trained on
// (tests/fixtures/shapes-eval, generated with another seed), the whole
// pipeline: PNG files -> preparation -> model -> post-processing -> COCO AP50.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include "eval/coco.hpp"
#include "visionrt/visionrt.hpp"

namespace fs = std::filesystem;

namespace visionrt {
namespace {

const fs::path kRoot(VISIONRT_SOURCE_DIR);

std::vector<std::string> held_out_paths(eval::CocoDataset* data) {
  const fs::path images = kRoot / "tests/fixtures/shapes-eval";
  *data = eval::read_coco_annotations((images / "annotations.json").string());
  return eval::image_paths(*data, images.string());
}

eval::CocoMetrics held_out_metrics(const Detector& det) {
  eval::CocoDataset data;
  const std::vector<std::string> paths = held_out_paths(&data);
  EXPECT_GE(paths.size(), 50u);
  std::vector<eval::CocoDetection> found;
  // Threshold 0 keeps every detection the post-processing gives, as COCO
  // evaluation expects.
  const auto per_image = det.detect_files(paths, 0.0f);
  for (size_t i = 0; i < paths.size(); ++i)
    for (const Detection& d : per_image[i])
      found.push_back({data.images[i].id, d.id, d.score,
                       {d.box.x0, d.box.y0, d.box.x1 - d.box.x0, d.box.y1 - d.box.y0}});
  const eval::CocoMetrics m = eval::evaluate_bbox(data, found);
  std::cout << "  held-out shapes: AP " << m.ap << ", AP50 " << m.ap50 << ", AP75 " << m.ap75 << "\n";
  return m;
}

TEST(DemoShapesTest, HeldOutAp50AtLeast070) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  EXPECT_GE(held_out_metrics(Detector::load((kRoot / "models/demo/detr-shapes").string(), {Device::cpu})).ap50, 0.7);
}

TEST(DemoShapesTest, RtDetrHeldOutAp50AtLeast090) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  EXPECT_GE(held_out_metrics(Detector::load((kRoot / "models/demo/rtdetr-shapes").string(), {Device::cpu})).ap50, 0.9);
}

TEST(DemoShapesTest, DFineHeldOutAp50AtLeast090) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  EXPECT_GE(held_out_metrics(Detector::load((kRoot / "models/demo/dfine-shapes").string(), {Device::cpu})).ap50, 0.9);
}

// bf16 products on the CPU find the same objects above the pipeline's 0.5
// threshold: the same labels in the same order, boxes within 2 pixels of
// fp32's (128-pixel images; bf16's 8 bits move a box by a fraction of one).
void expect_bf16_finds_the_same_objects(const char* demo) {
  Options bf16;
  bf16.device = Device::cpu;
  bf16.precision = Precision::bf16;
  std::optional<Detector> reduced;
  try {
    reduced.emplace(Detector::load((kRoot / "models/demo" / demo).string(), bf16));
  } catch (const Error& e) {
    GTEST_SKIP() << "no BF16 on this CPU: " << e.what();
  }
  const Detector full = Detector::load((kRoot / "models/demo" / demo).string(), {Device::cpu});
  eval::CocoDataset data;
  const std::vector<std::string> paths = held_out_paths(&data);
  const auto want = full.detect_files(paths, 0.5f), got = reduced->detect_files(paths, 0.5f);
  size_t objects = 0;
  double worst = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << paths[i];
    for (size_t k = 0; k < got[i].size(); ++k) {
      EXPECT_EQ(got[i][k].id, want[i][k].id) << paths[i];
      for (const auto& [a, b] : {std::pair{got[i][k].box.x0, want[i][k].box.x0}, {got[i][k].box.y0, want[i][k].box.y0},
                                 {got[i][k].box.x1, want[i][k].box.x1}, {got[i][k].box.y1, want[i][k].box.y1}})
        worst = std::max(worst, double(std::abs(a - b)));
      ++objects;
    }
  }
  std::cout << "  " << demo << " bf16: " << objects << " detections above 0.5 on " << paths.size()
            << " images, as fp32's; boxes within " << worst << " px\n";
  EXPECT_LE(worst, 2.0);
}

TEST(DemoShapesTest, RtDetrBf16FindsTheSameObjects) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  expect_bf16_finds_the_same_objects("rtdetr-shapes");
}

TEST(DemoShapesTest, DFineBf16FindsTheSameObjects) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  expect_bf16_finds_the_same_objects("dfine-shapes");
}

}  // namespace
}  // namespace visionrt
