// Image preprocessing exactly as Hugging Face image processors do it:
// resize (PIL's resampling filters, antialiased when shrinking), rescale,
// normalise, and lay out as CHW floats. No OpenCV here: decoding lives in image.hpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "visionrt/image.hpp"

namespace visionrt::io {

// PIL's resampling filter codes, as preprocessor_config.json's "resample".
enum class Resample : int { nearest = 0, lanczos = 1, bilinear = 2, bicubic = 3, box = 4, hamming = 5 };

// `image` when it holds width x height x 3 bytes of a positive size; else
// throws invalid_argument saying what it holds (an image a caller built).
const Image& checked_image(const Image& image);

// Limits on what preprocessor_config.json may ask for, checked when it is
// read, before anything is allocated:
//  - each side of "size" (a bare integer, [height, width], height, width,
//    shortest_edge, longest_edge, max_size) is an integer in [1, kMaxPreprocessSide];
//  - a fixed height x width, and any size output_size computes, holds at most
//    kMaxPreprocessPixels pixels; output_size also keeps each side within kMaxResizeSide;
//  - image_mean values are finite with |mean| <= kMaxImageMean; image_std
//    values lie in [kMinImageStd, kMaxImageStd]; rescale_factor lies in
//    [kMinRescaleFactor, kMaxRescaleFactor]. Together these keep every
//    normalised value finite in float32.
constexpr int kMaxResizeSide = 1 << 15;
constexpr int kMaxPreprocessSide = 1 << 13;  // 8192
constexpr int64_t kMaxPreprocessPixels = int64_t{1} << 26;  // 8192 x 8192
constexpr double kMaxImageMean = 1e6;
constexpr double kMinImageStd = 1e-6, kMaxImageStd = 1e6;
constexpr double kMinRescaleFactor = 1e-12, kMaxRescaleFactor = 1e6;

struct PreprocessConfig {
  bool do_resize = true;
  // Fixed output size (ViTImageProcessor: {"height": 224, "width": 224}) ...
  int height = 224, width = 224;
  // ... or an aspect-preserving one (DetrImageProcessor: shortest_edge/longest_edge).
  int shortest_edge = 0, longest_edge = 0;
  Resample resample = Resample::bilinear;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  float mean[3] = {0.5f, 0.5f, 0.5f};
  float std[3] = {0.5f, 0.5f, 0.5f};
  bool do_pad = false;
  // A centre crop after the resize (0: none), at offsets (in - crop) / 2
  // rounded down as transformers' center_crop does, or to the nearest even
  // as torchvision's CenterCrop (Python's round) does.
  int crop_height = 0, crop_width = 0;
  bool crop_round_half_even = false;
  // YolosImageProcessor's rounding of the aspect-preserving size (both
  // sides then floored to a multiple of 16).
  bool yolos_sizes = false;

  // The pixel_values size every image gets (the crop, or the fixed resize),
  // or 0 where it follows each image's aspect ratio.
  int output_height() const;
  int output_width() const;

  // Reads a preprocessor_config.json object; absent keys keep the defaults
  // above (ViTImageProcessor's). Invalid values throw corrupt_file.
  static PreprocessConfig from_json(const nlohmann::json& j);
  // timm's eval transform for a checkpoint's pretrained_cfg, as
  // resolve_data_config + create_transform build it: resize to
  // floor(input_size / crop_pct) (the shorter side when square), centre
  // crop to input_size, ToTensor, Normalize(mean, std).
  static PreprocessConfig from_timm(const nlohmann::json& pretrained_cfg);
};

// The preprocessing a classifier or embedder of height x width runs: the
// processor's own when every image comes out at one size the model takes
// (its own, or any when it resizes its position grid: `resizable`), else a
// plain resize to the model's size.
PreprocessConfig classifier_preprocess(const PreprocessConfig& processor, int height, int width, bool resizable);

// PIL's Image.resize(size, resample) for 8-bit RGB, bit-exact: the same
// filter support scaling, coefficient normalisation, fixed-point rounding
// and pass order as Pillow's Resample.c.
Image resize_pil(const Image& src, int out_width, int out_height, Resample filter);

// The output size the config asks for, given the input size.
void output_size(const PreprocessConfig& cfg, int in_width, int in_height, int* out_width,
                 int* out_height);

// Resize (if asked), rescale and normalise into `out`, which holds
// 3 x out_height x out_width floats (CHW), as the reference processor's pixel_values.
void preprocess(const Image& image, const PreprocessConfig& cfg, float* out);

}  // namespace visionrt::io
