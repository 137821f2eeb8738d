// The preprocessing against Pillow and transformers, with the reference data
// written by tools/fixtures/make_frontend_fixtures.py into tests/fixtures/frontend/.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/image.hpp"
#include "io/preprocess.hpp"
#include "visionrt/status.hpp"

namespace visionrt::io {
namespace {

const std::string kFixtures = std::string(VISIONRT_SOURCE_DIR) + "/tests/fixtures/frontend/";

// The fixture manifest and its raw little-endian arrays.
class Fixtures {
 public:
  Fixtures() {
    std::ifstream file(kFixtures + "manifest.json");
    if (!file) throw std::runtime_error("missing " + kFixtures + "manifest.json");
    manifest_ = nlohmann::json::parse(file);
  }
  const nlohmann::json& operator[](const char* key) const { return manifest_.at(key); }

  std::vector<int64_t> shape(const std::string& name) const {
    return manifest_.at("arrays").at(name).at("shape").get<std::vector<int64_t>>();
  }

  template <typename T>
  std::vector<T> array(const std::string& name) const {
    const auto& entry = manifest_.at("arrays").at(name);
    const std::string dtype = entry.at("dtype");
    if (dtype != (sizeof(T) == 1 ? "uint8" : "float32"))
      throw std::runtime_error(name + " has dtype " + dtype);
    size_t count = 1;
    for (int64_t d : shape(name)) count *= static_cast<size_t>(d);
    std::vector<T> data(count);
    std::ifstream file(kFixtures + entry.at("file").get<std::string>(), std::ios::binary);
    file.seekg(entry.at("offset").get<std::streamoff>());
    file.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(count * sizeof(T)));
    if (!file) throw std::runtime_error("cannot read " + name);
    return data;  // the fixtures are little-endian, as is every supported host
  }

  Image image(const std::string& name) const {
    const std::vector<int64_t> s = shape(name);  // height, width, 3
    Image image;
    image.height = static_cast<int>(s.at(0));
    image.width = static_cast<int>(s.at(1));
    image.rgb = array<uint8_t>(name);
    return image;
  }

 private:
  nlohmann::json manifest_;
};

const Fixtures& fixtures() {
  static const Fixtures f;
  return f;
}

StatusCode code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return StatusCode::ok;
}

TEST(PreprocessTest, ResizeMatchesPillowBitExactForEveryFilter) {
  int cases = 0;
  for (const auto& c : fixtures()["resize_cases"]) {
    const Image input = fixtures().image(c.at("input"));
    const Image expected = fixtures().image(c.at("expected"));
    const Image out = resize_pil(input, c.at("width"), c.at("height"),
                                     static_cast<Resample>(c.at("filter").get<int>()));
    ASSERT_EQ(out.width, expected.width);
    ASSERT_EQ(out.height, expected.height);
    int max_diff = 0;
    for (size_t i = 0; i < out.rgb.size(); ++i)
      max_diff = std::max(max_diff, std::abs(int{out.rgb[i]} - int{expected.rgb[i]}));
    EXPECT_EQ(max_diff, 0) << c.at("expected").get<std::string>();
    ++cases;
  }
  EXPECT_EQ(cases, 48);  // 6 filters x 8 sizes
}

TEST(PreprocessTest, OutputSizeFollowsTransformersRounding) {
  for (const auto& c : fixtures()["output_size_cases"]) {
    PreprocessConfig cfg = PreprocessConfig::from_json({{"size", c.at("size")}});
    int w = 0, h = 0;
    const int expected_h = c.at("output")[0], expected_w = c.at("output")[1];
    if (expected_h < 1 || expected_w < 1 || expected_h > 32768 || expected_w > 32768) {
      // An empty size (PIL then fails) or a side over visionrt's 32768 limit.
      EXPECT_EQ(code_of([&] { output_size(cfg, c.at("input")[1], c.at("input")[0], &w, &h); }),
                StatusCode::invalid_argument)
          << c.dump();
      continue;
    }
    output_size(cfg, c.at("input")[1], c.at("input")[0], &w, &h);
    EXPECT_EQ(h, c.at("output")[0].get<int>()) << c.dump();
    EXPECT_EQ(w, c.at("output")[1].get<int>()) << c.dump();
  }
}

// The largest |a - b| over the compared values.
float max_abs_error(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// The expected region of a case: the whole CHW array, a crop window or a
// strided sample of it (DETR's outputs are too large to keep whole).
std::vector<float> region_of(const nlohmann::json& c, const std::vector<float>& chw, int h, int w) {
  const std::string region = c.at("region");
  if (region == "full") return chw;
  int y0 = 0, x0 = 0, rh = h, rw = w, step = 1;
  if (region == "crop") {
    const auto& crop = c.at("crop");
    y0 = crop.at("y"), x0 = crop.at("x"), rh = crop.at("height"), rw = crop.at("width");
  } else {
    step = c.at("stride");
  }
  std::vector<float> out;
  for (int ch = 0; ch < 3; ++ch)
    for (int y = y0; y < y0 + rh; y += step)
      for (int x = x0; x < x0 + rw; x += step) out.push_back(chw[(static_cast<size_t>(ch) * h + y) * w + x]);
  return out;
}

// Runs one preprocess case and returns the max error against the processor.
float run_case(const nlohmann::json& c, const Image& image) {
  const PreprocessConfig cfg = PreprocessConfig::from_json(c.at("config"));
  int w = 0, h = 0;
  output_size(cfg, image.width, image.height, &w, &h);
  EXPECT_EQ(h, c.at("output_size")[0].get<int>()) << c.at("name");
  EXPECT_EQ(w, c.at("output_size")[1].get<int>()) << c.at("name");
  std::vector<float> out(static_cast<size_t>(3) * h * w);
  preprocess(image, cfg, out.data());
  const std::vector<float> expected = fixtures().array<float>(c.at("expected"));
  const std::vector<float> got = region_of(c, out, h, w);
  EXPECT_EQ(got.size(), expected.size()) << c.at("name");
  return max_abs_error(got, expected);
}

// The resize is bit-exact, the rescale multiplies by the JSON's double as
// transformers does, and the normalisation is the same float32 arithmetic:
// the pixel values agree exactly.
constexpr float kFloatTolerance = 0.f;

TEST(PreprocessTest, PixelValuesMatchProcessorsOnRandomImage) {
  int cases = 0;
  for (const auto& c : fixtures()["preprocess_cases"]) {
    if (c.at("name").get<std::string>().rfind("random/", 0) != 0) continue;
    const float err = run_case(c, fixtures().image(c.at("image")));
    EXPECT_LE(err, kFloatTolerance) << c.at("name");
    std::printf("  %-36s max abs error %.3g\n", c.at("name").get<std::string>().c_str(), err);
    ++cases;
  }
  EXPECT_EQ(cases, 7);
}

TEST(PreprocessTest, PixelValuesMatchProcessorsOnSamplePhotos) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without the OpenCV image front end: cannot decode the sample JPEGs";
#else
  // OpenCV's libjpeg and PIL's libjpeg-turbo use the same integer IDCT and
  // upsampling, and decode these photos to identical pixels (measured), so
  // the values agree exactly here too. Another JPEG library could differ by
  // a level or two (~0.035 after normalising), which this test would report.
  int cases = 0;
  for (const auto& c : fixtures()["preprocess_cases"]) {
    if (c.at("name").get<std::string>().rfind("random/", 0) == 0) continue;
    const Image image = load_image(kFixtures + c.at("image").get<std::string>(), 1 << 26);
    const float err = run_case(c, image);
    EXPECT_LE(err, kFloatTolerance) << c.at("name");
    std::printf("  %-36s (%s) max abs error %.3g\n", c.at("name").get<std::string>().c_str(),
                c.at("region").get<std::string>().c_str(), err);
    ++cases;
  }
  EXPECT_EQ(cases, 8);
#endif
}

TEST(PreprocessTest, ConfigFromJsonReadsHuggingFaceKeys) {
  const PreprocessConfig defaults = PreprocessConfig::from_json(nlohmann::json::object());
  EXPECT_TRUE(defaults.do_resize);
  EXPECT_EQ(defaults.height, 224);
  EXPECT_EQ(defaults.width, 224);
  EXPECT_EQ(defaults.resample, Resample::bilinear);

  const auto detr = PreprocessConfig::from_json(nlohmann::json::parse(R"({
    "do_pad": true, "size": {"longest_edge": 1333, "shortest_edge": 800}, "resample": 3,
    "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,
    "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
    "image_processor_type": "DetrImageProcessor", "format": "coco_detection"})"));
  EXPECT_EQ(detr.shortest_edge, 800);
  EXPECT_EQ(detr.longest_edge, 1333);
  EXPECT_EQ(detr.resample, Resample::bicubic);
  EXPECT_TRUE(detr.do_pad);
  EXPECT_FLOAT_EQ(detr.mean[1], 0.456f);
  EXPECT_FLOAT_EQ(detr.std[2], 0.225f);

  const auto square = PreprocessConfig::from_json({{"size", 384}, {"image_mean", 0.5}, {"image_std", nullptr}});
  EXPECT_EQ(square.height, 384);
  EXPECT_EQ(square.width, 384);
  EXPECT_EQ(square.shortest_edge, 0);
  EXPECT_FLOAT_EQ(square.mean[2], 0.5f);
  EXPECT_FLOAT_EQ(square.std[0], 0.5f);  // null keeps the default

  const auto legacy = PreprocessConfig::from_json({{"size", 800}, {"max_size", 1333}});
  EXPECT_EQ(legacy.shortest_edge, 800);
  EXPECT_EQ(legacy.longest_edge, 1333);

  const auto pair = PreprocessConfig::from_json({{"size", {200, 300}}, {"do_resize", false}});
  EXPECT_EQ(pair.height, 200);
  EXPECT_EQ(pair.width, 300);
  EXPECT_FALSE(pair.do_resize);
}

TEST(PreprocessTest, ConfigFromJsonRejectsInvalidValues) {
  const char* corrupt[] = {
      R"([1, 2])",
      R"({"do_resize": "yes"})",
      R"({"size": {"height": 0, "width": 10}})",
      R"({"size": {"height": 10}})",
      R"({"size": {"height": 10, "width": 10, "shortest_edge": 5}})",
      R"({"size": -3})",
      R"({"size": "224"})",
      R"({"size": {"height": 1e9, "width": 10}})",
      R"({"resample": 6})",
      R"({"resample": 2.5})",
      R"({"rescale_factor": 0})",
      R"({"rescale_factor": "1/255"})",
      R"({"image_mean": [0.5, 0.5]})",
      R"({"image_std": [0.5, 0.0, 0.5]})",
      R"({"image_std": ["a", 1, 1]})",
  };
  for (const char* text : corrupt) {
    EXPECT_EQ(code_of([&] { PreprocessConfig::from_json(nlohmann::json::parse(text)); }),
              StatusCode::corrupt_file)
        << text;
  }
  try {
    PreprocessConfig::from_json({{"resample", 9}});
    ADD_FAILURE() << "resample 9 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("preprocessor_config.json: \"resample\""), std::string::npos)
        << e.what();
  }
  // A crop without its size, and one larger than every resized image
  // (transformers would pad around it).
  EXPECT_EQ(code_of([] { PreprocessConfig::from_json({{"do_center_crop", true}}); }), StatusCode::corrupt_file);
  EXPECT_EQ(code_of([] {
              PreprocessConfig::from_json(
                  {{"do_center_crop", true}, {"size", {{"shortest_edge", 100}}}, {"crop_size", 224}});
            }),
            StatusCode::unsupported);
  EXPECT_EQ(code_of([] {
              PreprocessConfig::from_json({{"size", {{"max_height", 10}, {"max_width", 10}}}});
            }),
            StatusCode::unsupported);
}

TEST(PreprocessTest, RejectsUnusableImages) {
  const PreprocessConfig cfg;
  std::vector<float> out(3 * 224 * 224);
  Image empty;
  EXPECT_EQ(code_of([&] { preprocess(empty, cfg, out.data()); }), StatusCode::invalid_argument);
  Image short_buffer;
  short_buffer.width = 4;
  short_buffer.height = 4;
  short_buffer.rgb.assign(10, 7);
  EXPECT_EQ(code_of([&] { preprocess(short_buffer, cfg, out.data()); }), StatusCode::invalid_argument);
  const Image input = fixtures().image("resize/input");
  EXPECT_EQ(code_of([&] { resize_pil(input, 0, 10, Resample::bilinear); }), StatusCode::invalid_argument);
  EXPECT_EQ(code_of([&] { resize_pil(input, 10, 1 << 20, Resample::bilinear); }),
            StatusCode::invalid_argument);
}

TEST(PreprocessTest, SameSizeResizeIsACopy) {
  const Image input = fixtures().image("resize/input");
  for (int f = 0; f <= 5; ++f) {
    const Image out = resize_pil(input, input.width, input.height, static_cast<Resample>(f));
    EXPECT_EQ(out.rgb, input.rgb) << "filter " << f;
  }
}

}  // namespace
}  // namespace visionrt::io
