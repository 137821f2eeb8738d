// The bundled demo model (tools/train/train_vit_digits.py) on held-out digits, the
// whole pipeline: PNG files -> decode -> preprocess -> ViT -> labels.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include "visionrt/visionrt.hpp"

namespace fs = std::filesystem;

namespace visionrt {
namespace {

TEST(DemoDigitsTest, HeldOutAccuracyAtLeast95Percent) {
  if (!has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  const fs::path root(VISIONRT_SOURCE_DIR);
  const Classifier c = Classifier::load((root / "models/demo/vit-digits").string(), {Device::cpu});
  std::vector<std::string> files;
  std::vector<int> truth;
  for (const auto& e : fs::directory_iterator(root / "tests/fixtures/digits-heldout")) {
    if (e.path().extension() != ".png") continue;
    files.push_back(e.path().string());
    truth.push_back(std::stoi(e.path().filename().string().substr(0, 1)));  // "<label>_<index>.png"
  }
  ASSERT_GE(files.size(), 300u);
  int correct = 0;
  for (size_t i = 0; i < files.size(); i += 64) {
    const std::vector<std::string> batch(files.begin() + i, files.begin() + std::min(files.size(), i + 64));
    const auto labels = c.classify_files(batch, 1);
    for (size_t j = 0; j < batch.size(); ++j) correct += labels[j][0].id == truth[i + j];
  }
  const double accuracy = double(correct) / files.size();
  std::cout << "  held-out accuracy: " << correct << "/" << files.size() << " = " << accuracy << "\n";
  EXPECT_GE(accuracy, 0.95);
}

}  // namespace
}  // namespace visionrt
