// Resize-then-centre-crop preprocessing against the processors themselves:
// DeiT's and DINOv2's Pillow processors (transformers' rounding of the crop
// offset) and timm's eval transform for a pretrained_cfg (torchvision's).
// The fixtures (tools/fixtures/make_vit_family_fixtures.py) hold each
// processor's uint8 image after resize and crop, for a photo whose sizes
// make the two rounding rules differ, and DINOv2's float pixel_values.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/image.hpp"
#include "io/preprocess.hpp"

namespace visionrt::io {
namespace {

const std::string kDir = std::string(VISIONRT_SOURCE_DIR) + "/tests/fixtures/vitfam/preprocess/";

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f) << "missing " << path;
  return {std::istreambuf_iterator<char>(f), {}};
}

// The processor's float output for its uint8 image: rescale and normalise
// in float32 as both libraries do (their rules give the same floats).
float normalised(uint8_t v, const PreprocessConfig& cfg, int c) {
  return (static_cast<float>(v * cfg.rescale_factor) - cfg.mean[c]) / cfg.std[c];
}

TEST(PreprocessCropTest, MatchesEachProcessorBitExact) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without the OpenCV image front end: cannot decode the sample JPEG";
#else
  const Image photo = load_image(std::string(VISIONRT_SOURCE_DIR) + "/tests/fixtures/frontend/china.jpg", 1 << 26);
  for (const char* name :
       {"deit_small_distilled", "dinov2_small", "timm_vit_small_patch16_224", "timm_vit_small_patch14_reg4_dinov2"}) {
    SCOPED_TRACE(name);
    std::ifstream meta(kDir + name + ".json");
    ASSERT_TRUE(meta) << "missing " << kDir << name << ".json";
    const nlohmann::json j = nlohmann::json::parse(meta);
    const bool timm = j.at("library").get<std::string>() == "timm";
    const PreprocessConfig cfg = timm ? PreprocessConfig::from_timm(j.at("config")) : PreprocessConfig::from_json(j.at("config"));
    const int H = cfg.output_height(), W = cfg.output_width();
    ASSERT_EQ(H, j.at("output_hw")[0].get<int>());
    ASSERT_EQ(W, j.at("output_hw")[1].get<int>());
    std::vector<float> got(size_t(3) * H * W);
    preprocess(photo, cfg, got.data());
    const std::vector<char> want = read_bytes(kDir + j.at("file").get<std::string>());
    const int rows = j.at("height").get<int>(), first = j.at("first_row").get<int>();
    ASSERT_EQ(want.size(), size_t(rows) * W * 3);
    size_t mismatches = 0;
    for (int y = 0; y < rows; ++y)
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < 3; ++c) {
          const float expect = normalised(static_cast<uint8_t>(want[(size_t(y) * W + x) * 3 + c]), cfg, c);
          mismatches += got[(size_t(c) * H + first + y) * W + x] != expect;
        }
    EXPECT_EQ(mismatches, 0u) << "values differing from the processor's";
  }
#endif
}

TEST(PreprocessCropTest, Dinov2PixelValuesMatchTheProcessor) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without the OpenCV image front end: cannot decode the sample JPEG";
#else
  std::ifstream meta(kDir + "dinov2_small.json");
  const nlohmann::json j = nlohmann::json::parse(meta);
  const PreprocessConfig cfg = PreprocessConfig::from_json(j.at("config"));
  const Image photo = load_image(std::string(VISIONRT_SOURCE_DIR) + "/tests/fixtures/frontend/china.jpg", 1 << 26);
  std::vector<float> got(size_t(3) * 224 * 224);
  preprocess(photo, cfg, got.data());
  const std::vector<char> want = read_bytes(kDir + "dinov2_small.f32");
  ASSERT_EQ(want.size(), got.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size()), 0) << "pixel_values differ from BitImageProcessor's";
#endif
}

// The crop offset rounds as each library does: for 383 - 224 = 159 columns,
// transformers takes 79 (floor), torchvision round(79.5) = 80.
TEST(PreprocessCropTest, CropOffsetsFollowEachLibrary) {
  Image wide;
  wide.width = 383;
  wide.height = 224;
  wide.rgb.resize(size_t(383) * 224 * 3);
  for (size_t i = 0; i < wide.rgb.size(); ++i) wide.rgb[i] = static_cast<uint8_t>((i / 3) % 383 % 256);
  PreprocessConfig cfg;
  cfg.do_resize = false;
  cfg.do_normalize = false;
  cfg.do_rescale = false;
  cfg.crop_height = cfg.crop_width = 224;
  std::vector<float> out(size_t(3) * 224 * 224);
  preprocess(wide, cfg, out.data());
  EXPECT_EQ(out[0], 79.f);
  cfg.crop_round_half_even = true;
  preprocess(wide, cfg, out.data());
  EXPECT_EQ(out[0], 80.f);
}

// YolosImageProcessor's sizes: transformers' get_size_with_aspect_ratio_yolos
// for shortest_edge 512, longest_edge 1333 (its values printed by Python).
TEST(PreprocessCropTest, YolosSizesFollowItsProcessor) {
  PreprocessConfig cfg = PreprocessConfig::from_json(
      {{"image_processor_type", "YolosImageProcessor"}, {"size", {{"shortest_edge", 512}, {"longest_edge", 1333}}}});
  const int cases[][4] = {{427, 640, 512, 752},  {640, 427, 752, 512},   {512, 512, 512, 512}, {1000, 300, 1328, 400},
                          {300, 1000, 400, 1328}, {517, 700, 512, 688}, {800, 1333, 512, 848}};
  for (const auto& c : cases) {
    int w = 0, h = 0;
    output_size(cfg, c[1], c[0], &w, &h);
    EXPECT_EQ(h, c[2]) << c[0] << "x" << c[1];
    EXPECT_EQ(w, c[3]) << c[0] << "x" << c[1];
  }
}

}  // namespace
}  // namespace visionrt::io
