// The bundled demo detector (tools/train/train_detr_shapes.py) on shape images it
// was not trained on (tests/fixtures/shapes-eval, generated with another
// seed), the whole pipeline: PNG files -> DETR preparation -> model ->
// post-processing -> COCO AP50.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "eval/coco.hpp"
#include "visionrt/visionrt.hpp"

namespace fs = std::filesystem;

namespace visionrt {
namespace {

TEST(DemoShapesTest, HeldOutAp50AtLeast070) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  const fs::path root(VISIONRT_SOURCE_DIR);
  const Detector det = Detector::load((root / "models/demo/detr-shapes").string(), {Device::cpu});
  const fs::path images = root / "tests/fixtures/shapes-eval";
  const eval::CocoDataset data = eval::read_coco_annotations((images / "annotations.json").string());
  const std::vector<std::string> paths = eval::image_paths(data, images.string());
  ASSERT_GE(paths.size(), 50u);
  std::vector<eval::CocoDetection> found;
  // Threshold 0 keeps every query's best class, as COCO evaluation expects.
  const auto per_image = det.detect_files(paths, 0.0f);
  for (size_t i = 0; i < paths.size(); ++i)
    for (const Detection& d : per_image[i])
      found.push_back({data.images[i].id, d.id, d.score,
                       {d.box.x0, d.box.y0, d.box.x1 - d.box.x0, d.box.y1 - d.box.y0}});
  const eval::CocoMetrics m = eval::evaluate_bbox(data, found);
  std::cout << "  held-out shapes: AP " << m.ap << ", AP50 " << m.ap50 << ", AP75 " << m.ap75 << "\n";
  EXPECT_GE(m.ap50, 0.7);
}

}  // namespace
}  // namespace visionrt
