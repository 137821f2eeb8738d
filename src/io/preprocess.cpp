// Hugging Face image preprocessing, reproduced bit for bit.
//
// The resampling is a port of Pillow's libImaging/Resample.c (the two-pass
// separable convolution with fixed-point 8-bit accumulation) and of the
// nearest-neighbour scale in libImaging/Geometry.c, because Hugging Face's
// PIL-based processors resize uint8 images through PIL.Image.resize. The
// arithmetic follows Pillow's operation by operation (double for the filter
// weights, 32-bit integers for the accumulation) so the results are
// identical, which needs multiply-adds left unfused as Pillow's x86-64 builds
// compute them: GCC does not fuse in ISO C++ mode (-std=c++17, as the build
// uses), and Clang is told not to below. The two passes' integer inner
// loops are built per instruction set (backends/cpu/isa/resample.inc).
#include "io/preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/isa/isa_kernels.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace visionrt::io {
namespace {

// ---------------------------------------------------------------------------
// Filters (Resample.c). Each has a support radius in source pixels at scale 1.

struct Filter {
  double (*weight)(double x);
  double support;
};

double box_weight(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double bilinear_weight(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_weight(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  // Pillow writes these constants as floats (0.54f, 0.46f); keep their
  // float values so the weights round the same way.
  return std::sin(x) / x * (static_cast<double>(0.54f) + static_cast<double>(0.46f) * std::cos(x));
}

double bicubic_weight(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos_weight(double x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

Filter filter_for(Resample resample) {
  switch (resample) {
    case Resample::box: return {box_weight, 0.5};
    case Resample::bilinear: return {bilinear_weight, 1.0};
    case Resample::hamming: return {hamming_weight, 1.0};
    case Resample::bicubic: return {bicubic_weight, 2.0};
    case Resample::lanczos: return {lanczos_weight, 3.0};
    case Resample::nearest: break;
  }
  fail(StatusCode::invalid_argument, "resize: no convolution filter for resample code ",
       static_cast<int>(resample));
}

// ---------------------------------------------------------------------------
// Coefficients (precompute_coeffs + normalize_coeffs_8bpc).

using cpu::kResampleBits;

struct Coefficients {
  int ksize = 0;                // coefficients per output pixel (padded with zeros)
  std::vector<int> first;       // first source index per output pixel
  std::vector<int> count;       // number of source pixels used
  std::vector<int32_t> fixed;   // out_size x ksize fixed-point weights
};

Coefficients precompute_coeffs(int in_size, int out_size, const Filter& filter) {
  // Pillow passes the box as floats; with the full image as the box these
  // are exact, but keep the same types so the arithmetic matches.
  const float in0 = 0.f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  // Shrinking widens the filter by the scale factor: that is PIL's antialiasing.
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.fixed.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // Pillow rounds with (int)(v + 0.5), which truncates toward zero.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter.weight((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    int32_t* fixed = &c.fixed[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      // Rounded half away from zero, as normalize_coeffs_8bpc does.
      fixed[x] = k[x] < 0 ? static_cast<int32_t>(-0.5 + k[x] * (1 << kResampleBits))
                          : static_cast<int32_t>(0.5 + k[x] * (1 << kResampleBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

// Swaps the rows and columns of an RGB image: out[x][y] = in[y][x].
void transpose_pixels(const uint8_t* in, int width, int height, uint8_t* out) {
  constexpr int kBlock = 32;  // pixels a side: both blocks stay in cache
  for (int y0 = 0; y0 < height; y0 += kBlock)
    for (int x0 = 0; x0 < width; x0 += kBlock)
      for (int x = x0; x < std::min(x0 + kBlock, width); ++x)
        for (int y = y0; y < std::min(y0 + kBlock, height); ++y)
          std::memcpy(out + (static_cast<size_t>(x) * height + y) * 3,
                      in + (static_cast<size_t>(y) * width + x) * 3, 3);
}

// ImagingResampleHorizontal_8bpc for 3 bands: output rows are source rows
// [row_offset, row_offset + out.height). Run as the vertical pass on the
// transposed rows, so that whole columns of bytes go through the vector
// kernel together: the same integer sums, so the same bytes. Bands of rows
// are transposed in turn, so that only a band, not a copy of the image, is
// held (an 81-megapixel image would need 243 MB more).
void resample_horizontal(const Image& in, int row_offset, const Coefficients& c,
                         Image& out) {
  constexpr int kBand = 256;
  const int band_rows = std::min(kBand, out.height);
  std::vector<uint8_t> columns(static_cast<size_t>(in.width) * band_rows * 3);
  std::vector<uint8_t> resampled(static_cast<size_t>(out.width) * band_rows * 3);
  const auto row_kernel = cpu::isa_kernels().resample_vertical_row;
  for (int band = 0; band < out.height; band += kBand) {
    const int rows = std::min(kBand, out.height - band);
    transpose_pixels(&in.rgb[static_cast<size_t>(row_offset + band) * in.width * 3], in.width, rows,
                     columns.data());
    const size_t column = static_cast<size_t>(rows) * 3;
    for (int xx = 0; xx < out.width; ++xx)
      row_kernel(&columns[c.first[xx] * column], column, &c.fixed[static_cast<size_t>(xx) * c.ksize], c.count[xx],
                 &resampled[xx * column], column);
    transpose_pixels(resampled.data(), rows, out.width, &out.rgb[static_cast<size_t>(band) * out.width * 3]);
  }
}

// ImagingResampleVertical_8bpc for 3 bands; `first` indices are rows of `in`.
void resample_vertical(const Image& in, const Coefficients& c, const std::vector<int>& first,
                       Image& out) {
  const size_t row = static_cast<size_t>(in.width) * 3;
  const auto row_kernel = cpu::isa_kernels().resample_vertical_row;
  for (int yy = 0; yy < out.height; ++yy)
    row_kernel(&in.rgb[static_cast<size_t>(first[yy]) * row], row, &c.fixed[static_cast<size_t>(yy) * c.ksize],
               c.count[yy], &out.rgb[static_cast<size_t>(yy) * row], row);
}

Image blank(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.assign(static_cast<size_t>(width) * height * 3, 0);
  return image;
}

// PIL's NEAREST resize is an affine nearest-neighbour scale
// (ImagingScaleAffine): the source coordinate of output pixel i is
// (i + 0.5) * in/out, accumulated by repeated addition as Pillow does.
Image resize_nearest(const Image& src, int out_width, int out_height) {
  auto source_indices = [](int in_size, int out_size) {
    const double step = static_cast<double>(static_cast<float>(in_size)) / out_size;
    std::vector<int> index(out_size);
    double pos = step * 0.5;
    for (int i = 0; i < out_size; ++i) {
      const int v = pos < 0.0 ? -1 : static_cast<int>(pos);
      index[i] = (v >= 0 && v < in_size) ? v : -1;  // -1: outside, filled with 0
      pos += step;
    }
    return index;
  };
  const std::vector<int> xs = source_indices(src.width, out_width);
  const std::vector<int> ys = source_indices(src.height, out_height);
  Image out = blank(out_width, out_height);
  for (int y = 0; y < out_height; ++y) {
    if (ys[y] < 0) continue;
    const uint8_t* in_row = &src.rgb[static_cast<size_t>(ys[y]) * src.width * 3];
    uint8_t* out_row = &out.rgb[static_cast<size_t>(y) * out_width * 3];
    for (int x = 0; x < out_width; ++x) {
      if (xs[x] < 0) continue;
      std::copy_n(in_row + static_cast<size_t>(xs[x]) * 3, 3, out_row + static_cast<size_t>(x) * 3);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// preprocessor_config.json parsing.

constexpr int kMaxSide = kMaxResizeSide;

[[noreturn]] void bad_config(const std::string& what) {
  fail(StatusCode::corrupt_file, "preprocessor_config.json: ", what);
}

// A key that is present and not null (Hugging Face treats null as "use the default").
const nlohmann::json* field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

void read_bool(const nlohmann::json& j, const char* key, bool* out) {
  if (const auto* v = field(j, key)) {
    if (!v->is_boolean()) bad_config(str_cat("\"", key, "\" must be true or false, found ", describe_json(*v)));
    *out = v->get<bool>();
  }
}

// An integer in [1, kMaxPreprocessSide]. Unsigned values are compared as
// unsigned and signed as signed, so nothing wraps (4294967328 is refused).
int read_side(const nlohmann::json& v, const std::string& key) {
  const bool in_range =
      v.is_number_unsigned()  ? v.get<uint64_t>() >= 1 && v.get<uint64_t>() <= static_cast<uint64_t>(kMaxPreprocessSide)
      : v.is_number_integer() ? v.get<int64_t>() >= 1 && v.get<int64_t>() <= kMaxPreprocessSide
                              : false;
  if (!in_range)
    bad_config(str_cat("\"", key, "\" must be an integer in [1, ", kMaxPreprocessSide, "], found ", describe_json(v)));
  return static_cast<int>(v.get<int64_t>());
}

// A number whose magnitude is within [min_abs, max_abs] (min_abs 0: zero allowed),
// positive when `positive`; NaN and infinities never are.
double read_bounded(const nlohmann::json& v, const std::string& key, double min_abs, double max_abs,
                    bool positive) {
  const double x = v.is_number() ? v.get<double>() : std::nan("");
  const bool ok = std::isfinite(x) && std::fabs(x) <= max_abs && std::fabs(x) >= min_abs && (!positive || x > 0);
  if (!ok) {
    if (positive)
      bad_config(str_cat("\"", key, "\" must be a number in [", min_abs, ", ", max_abs, "], found ", describe_json(v)));
    bad_config(str_cat("\"", key, "\" must be a finite number in [-", max_abs, ", ", max_abs, "], found ",
                       describe_json(v)));
  }
  return x;
}

// image_mean / image_std: three numbers, or one number for all channels,
// each checked by read_bounded.
void read_triple(const nlohmann::json& j, const char* key, float* out, double min_abs, double max_abs,
                 bool positive) {
  const auto* v = field(j, key);
  if (!v) return;
  if (v->is_number()) {
    const double x = read_bounded(*v, key, min_abs, max_abs, positive);
    out[0] = out[1] = out[2] = static_cast<float>(x);
    return;
  }
  if (!v->is_array() || v->size() != 3)
    bad_config(str_cat("\"", key, "\" must be 3 numbers (one per RGB channel), found ", describe_json(*v)));
  for (int c = 0; c < 3; ++c)
    out[c] = static_cast<float>(read_bounded((*v)[c], str_cat(key, "[", c, "]"), min_abs, max_abs, positive));
}

// A fixed output size: its pixel count, not just each side, is bounded.
void check_pixels(int height, int width) {
  if (int64_t{height} * width > kMaxPreprocessPixels)
    bad_config(str_cat("\"size\" ", height, "x", width, " has ", int64_t{height} * width,
                       " pixels, over the limit of ", kMaxPreprocessPixels));
}

void read_size(const nlohmann::json& j, PreprocessConfig& cfg) {
  const auto* size = field(j, "size");
  if (!size) return;
  if (size->is_number_integer()) {
    const int side = read_side(*size, "size");
    // A bare integer is a square for most processors, but DETR's (and its
    // legacy "max_size" key) read it as the shortest edge, with the longest
    // capped at max_size (1333 by default), as transformers does.
    const auto* max_size = field(j, "max_size");
    const auto* type = field(j, "image_processor_type");
    const bool detr = type && type->is_string() && (type->get<std::string>().rfind("Detr", 0) == 0 ||
                                                    type->get<std::string>().rfind("Yolos", 0) == 0);
    if (max_size || detr) {
      cfg.shortest_edge = side;
      cfg.longest_edge = max_size ? read_side(*max_size, "max_size") : 1333;
    } else {
      cfg.height = cfg.width = side;
      check_pixels(cfg.height, cfg.width);
    }
    return;
  }
  if (size->is_array() && size->size() == 2) {
    cfg.height = read_side((*size)[0], "size[0]");
    cfg.width = read_side((*size)[1], "size[1]");
    check_pixels(cfg.height, cfg.width);
    return;
  }
  if (!size->is_object())
    bad_config(str_cat("\"size\" must be an integer, [height, width] or an object, found ", describe_json(*size)));
  if (field(*size, "max_height") || field(*size, "max_width"))
    fail(StatusCode::unsupported,
         "preprocessor_config.json: size with max_height/max_width is not supported");
  const auto* h = field(*size, "height");
  const auto* w = field(*size, "width");
  const auto* shortest = field(*size, "shortest_edge");
  const auto* longest = field(*size, "longest_edge");
  if (h && w && !shortest && !longest) {
    cfg.height = read_side(*h, "size.height");
    cfg.width = read_side(*w, "size.width");
    check_pixels(cfg.height, cfg.width);
    cfg.shortest_edge = cfg.longest_edge = 0;
  } else if (shortest && !h && !w) {
    cfg.shortest_edge = read_side(*shortest, "size.shortest_edge");
    cfg.longest_edge = longest ? read_side(*longest, "size.longest_edge") : 0;
  } else {
    bad_config(str_cat("\"size\" must hold height and width, or shortest_edge (and longest_edge), found ",
                       describe_json(*size)));
  }
}

// The shorter side's target under get_size_with_aspect_ratio's cap: `size`,
// or round(raw) where the longer side would pass max_size, raw kept for
// the longer side's arithmetic (Python's float division, round() half to
// even, int() truncation).
struct CappedSize {
  int size;
  double raw = 0.0;
  bool capped = false;
};

CappedSize capped_size(int height, int width, int size, int max_size) {
  const double min_original = std::min(height, width);
  const double max_original = std::max(height, width);
  CappedSize c{size};
  if (max_original / min_original * size > max_size) {
    c.raw = max_size * min_original / max_original;
    c.size = static_cast<int>(std::nearbyint(c.raw));
    c.capped = true;
  }
  return c;
}

// The longer side for a shorter side of c.size.
int longer_side(const CappedSize& c, int longer, int shorter) {
  return c.capped ? static_cast<int>(c.raw * longer / shorter)
                  : static_cast<int>(static_cast<double>(int64_t{c.size} * longer) / shorter);
}

// transformers' get_size_with_aspect_ratio (image_transforms.py).
void size_with_aspect_ratio(int height, int width, int size, int max_size, int* out_h, int* out_w) {
  const CappedSize c = capped_size(height, width, size, max_size);
  if ((height <= width && height == c.size) || (width <= height && width == c.size)) {
    *out_h = height;
    *out_w = width;
  } else if (width < height) {
    *out_w = c.size;
    *out_h = longer_side(c, height, width);
  } else {
    *out_h = c.size;
    *out_w = longer_side(c, width, height);
  }
}

// YolosImageProcessor's get_size_with_aspect_ratio_yolos: the same, but the
// longer side follows the aspect ratio before the "already that size" case
// is looked at, and both sides are floored to a multiple of 16.
void size_with_aspect_ratio_yolos(int height, int width, int size, int max_size, int* out_h, int* out_w) {
  const CappedSize c = capped_size(height, width, size, max_size);
  int oh = height, ow = width;
  if (width < height) {
    ow = c.size;
    oh = longer_side(c, height, width);
  } else if (!((height <= width && height == c.size) || (width <= height && width == c.size))) {
    oh = c.size;
    ow = longer_side(c, width, height);
  }
  *out_h = oh - oh % 16;
  *out_w = ow - ow % 16;
}

// transformers' get_resize_output_image_size with default_to_square=False
// and no max_size: the shorter side becomes `size`, the longer one follows
// the aspect ratio, truncated.
void size_for_shortest_edge(int height, int width, int size, int* out_h, int* out_w) {
  const int shorter = std::min(height, width), longer = std::max(height, width);
  const int new_long = static_cast<int>(static_cast<double>(int64_t{size} * longer) / shorter);
  if (width <= height) {
    *out_h = new_long;
    *out_w = size;
  } else {
    *out_h = size;
    *out_w = new_long;
  }
}

// The crop must fit inside every resized image: transformers would pad
// around a smaller one, which visionrt does not.
void check_crop(const PreprocessConfig& cfg) {
  if (cfg.crop_height <= 0) return;
  const bool fits = !cfg.do_resize ? true
                    : cfg.shortest_edge > 0
                        ? cfg.crop_height <= cfg.shortest_edge && cfg.crop_width <= cfg.shortest_edge
                        : cfg.crop_height <= cfg.height && cfg.crop_width <= cfg.width;
  if (!fits)
    fail(StatusCode::unsupported, "preprocessor_config.json: a crop_size of ", cfg.crop_width, "x", cfg.crop_height,
         " larger than the resized image is not supported (it would be padded)");
}

void check_image(const Image& image, const char* where) {
  if (image.width < 1 || image.height < 1 ||
      image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3)
    fail(StatusCode::invalid_argument, where, ": image of ", image.width, "x", image.height,
         " must be non-empty with width*height*3 bytes, has ", image.rgb.size());
}

}  // namespace

const Image& checked_image(const Image& image) {
  if (image.width <= 0 || image.height <= 0 || image.rgb.size() != size_t(image.width) * image.height * 3)
    fail(StatusCode::invalid_argument, "image of ", image.width, "x", image.height, " holds ", image.rgb.size(),
         " bytes, not width x height x 3");
  return image;
}

PreprocessConfig PreprocessConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) bad_config(str_cat("expected a JSON object, found ", j.type_name()));
  PreprocessConfig cfg;
  read_bool(j, "do_resize", &cfg.do_resize);
  read_size(j, cfg);
  const auto* type = field(j, "image_processor_type");
  cfg.yolos_sizes = type && type->is_string() && type->get<std::string>().rfind("Yolos", 0) == 0;
  if (const auto* v = field(j, "resample")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > 5)
      bad_config(str_cat("\"resample\" must be a PIL filter code 0..5, found ", describe_json(*v)));
    cfg.resample = static_cast<Resample>(v->get<int>());
  }
  read_bool(j, "do_rescale", &cfg.do_rescale);
  if (const auto* v = field(j, "rescale_factor"))
    cfg.rescale_factor = read_bounded(*v, "rescale_factor", kMinRescaleFactor, kMaxRescaleFactor, true);
  read_bool(j, "do_normalize", &cfg.do_normalize);
  read_triple(j, "image_mean", cfg.mean, 0.0, kMaxImageMean, false);
  read_triple(j, "image_std", cfg.std, kMinImageStd, kMaxImageStd, true);
  read_bool(j, "do_pad", &cfg.do_pad);
  bool do_center_crop = false;
  read_bool(j, "do_center_crop", &do_center_crop);
  if (do_center_crop) {
    const auto* crop = field(j, "crop_size");
    if (!crop) bad_config("do_center_crop needs \"crop_size\"");
    if (crop->is_number_integer()) {
      cfg.crop_height = cfg.crop_width = read_side(*crop, "crop_size");
    } else if (crop->is_object() && field(*crop, "height") && field(*crop, "width")) {
      cfg.crop_height = read_side(*field(*crop, "height"), "crop_size.height");
      cfg.crop_width = read_side(*field(*crop, "width"), "crop_size.width");
    } else {
      bad_config(str_cat("\"crop_size\" must be an integer or hold height and width, found ", describe_json(*crop)));
    }
    check_crop(cfg);
  }
  return cfg;
}

PreprocessConfig PreprocessConfig::from_timm(const nlohmann::json& pc) {
  if (!pc.is_object()) bad_config("pretrained_cfg must be an object");
  PreprocessConfig cfg;
  int h = 224, w = 224;
  if (const auto* size = field(pc, "input_size")) {
    if (!size->is_array() || size->size() != 3) bad_config("pretrained_cfg.input_size must be [channels, height, width]");
    h = read_side((*size)[1], "pretrained_cfg.input_size[1]");
    w = read_side((*size)[2], "pretrained_cfg.input_size[2]");
  }
  cfg.resample = Resample::bilinear;
  if (const auto* interp = field(pc, "interpolation")) {
    const std::string name = interp->is_string() ? interp->get<std::string>() : "";
    if (name == "bicubic") cfg.resample = Resample::bicubic;
    else if (name == "bilinear") cfg.resample = Resample::bilinear;
    else if (name == "nearest") cfg.resample = Resample::nearest;
    else if (name == "lanczos") cfg.resample = Resample::lanczos;
    else if (name == "box") cfg.resample = Resample::box;
    else if (name == "hamming") cfg.resample = Resample::hamming;
    else bad_config(str_cat("pretrained_cfg.interpolation must name a PIL filter, found ", describe_json(*interp)));
  }
  double crop_pct = 0.875;  // timm's DEFAULT_CROP_PCT
  if (const auto* v = field(pc, "crop_pct")) crop_pct = read_bounded(*v, "pretrained_cfg.crop_pct", 0.01, 1.0, true);
  std::string mode = "center";
  if (const auto* v = field(pc, "crop_mode")) mode = v->is_string() ? v->get<std::string>() : "";
  if (mode != "center" && mode != "squash")
    fail(StatusCode::unsupported, "pretrained_cfg.crop_mode '", mode, "' is not supported (supported: center, squash)");
  // math.floor(size / crop_pct), per side.
  const int sh = static_cast<int>(std::floor(h / crop_pct)), sw = static_cast<int>(std::floor(w / crop_pct));
  check_pixels(sh, sw);
  if (mode == "squash" || sh != sw) {
    cfg.height = sh;
    cfg.width = sw;
  } else {
    cfg.shortest_edge = sh;
  }
  cfg.crop_height = h;
  cfg.crop_width = w;
  cfg.crop_round_half_even = true;
  // ToTensor divides by 255 in float32, which equals transformers' float64
  // product rounded to float32 for every byte value.
  cfg.mean[0] = 0.485f, cfg.mean[1] = 0.456f, cfg.mean[2] = 0.406f;
  cfg.std[0] = 0.229f, cfg.std[1] = 0.224f, cfg.std[2] = 0.225f;
  read_triple(pc, "mean", cfg.mean, 0.0, kMaxImageMean, false);
  read_triple(pc, "std", cfg.std, kMinImageStd, kMaxImageStd, true);
  check_crop(cfg);
  return cfg;
}

int PreprocessConfig::output_height() const {
  if (crop_height > 0) return crop_height;
  return do_resize && shortest_edge == 0 ? height : 0;
}

int PreprocessConfig::output_width() const {
  if (crop_width > 0) return crop_width;
  return do_resize && shortest_edge == 0 ? width : 0;
}

PreprocessConfig classifier_preprocess(const PreprocessConfig& processor, int height, int width, bool resizable) {
  PreprocessConfig pp = processor;
  pp.do_resize = true;
  // Batches need one input size: the processor's own when it gives every
  // image one size that the model takes (its own, or any when the position
  // grid follows the input), else the model's, by a plain resize.
  const bool fixed = pp.output_height() > 0;
  const bool fits = pp.output_height() == height && pp.output_width() == width;
  if (!fixed || (!resizable && !fits)) {
    pp.shortest_edge = pp.longest_edge = 0;
    pp.crop_height = pp.crop_width = 0;
    pp.height = height;
    pp.width = width;
  }
  return pp;
}

Image resize_pil(const Image& src, int out_width, int out_height, Resample filter) {
  check_image(src, "resize");
  if (out_width < 1 || out_height < 1 || out_width > kMaxSide || out_height > kMaxSide)
    fail(StatusCode::invalid_argument, "resize: output size ", out_width, "x", out_height,
         " must be within 1..", kMaxSide);
  if (out_width == src.width && out_height == src.height) return src;
  if (filter == Resample::nearest) return resize_nearest(src, out_width, out_height);

  // ImagingResampleInner. Pillow (13.0, which the reference data comes from)
  // runs the vertical pass first when it shrinks the height by more than twice
  // what the horizontal pass removes from the width, and the horizontal pass
  // first otherwise; each pass rounds to uint8, so the order changes results.
  // In horizontal-first order only the source rows the vertical pass reads
  // are resampled.
  const Filter f = filter_for(filter);
  const bool need_horizontal = out_width != src.width;
  const bool need_vertical = out_height != src.height;
  const Coefficients vert = precompute_coeffs(src.height, out_height, f);
  if (!need_horizontal) {
    Image out = blank(src.width, out_height);
    resample_vertical(src, vert, vert.first, out);
    return out;
  }
  const Coefficients horiz = precompute_coeffs(src.width, out_width, f);
  if (!need_vertical) {
    Image out = blank(out_width, src.height);
    resample_horizontal(src, 0, horiz, out);
    return out;
  }
  const int height_removed = src.height - out_height, width_removed = src.width - out_width;
  if (height_removed > 0 && height_removed > 2 * width_removed) {
    Image rows = blank(src.width, out_height);
    resample_vertical(src, vert, vert.first, rows);
    Image out = blank(out_width, out_height);
    resample_horizontal(rows, 0, horiz, out);
    return out;
  }
  const int ybox_first = vert.first.front();
  const int ybox_last = vert.first.back() + vert.count.back();
  std::vector<int> vert_first = vert.first;
  for (int& first : vert_first) first -= ybox_first;
  Image columns = blank(out_width, ybox_last - ybox_first);
  resample_horizontal(src, ybox_first, horiz, columns);
  Image out = blank(out_width, out_height);
  resample_vertical(columns, vert, vert_first, out);
  return out;
}

void output_size(const PreprocessConfig& cfg, int in_width, int in_height, int* out_width,
                 int* out_height) {
  if (in_width < 1 || in_height < 1)
    fail(StatusCode::invalid_argument, "output_size: input size ", in_width, "x", in_height,
         " must be positive");
  int h = in_height, w = in_width;
  if (!cfg.do_resize) {
    // Unchanged.
  } else if (cfg.shortest_edge > 0 && cfg.longest_edge > 0 && cfg.yolos_sizes) {
    size_with_aspect_ratio_yolos(in_height, in_width, cfg.shortest_edge, cfg.longest_edge, &h, &w);
  } else if (cfg.shortest_edge > 0 && cfg.longest_edge > 0) {
    size_with_aspect_ratio(in_height, in_width, cfg.shortest_edge, cfg.longest_edge, &h, &w);
  } else if (cfg.shortest_edge > 0) {
    size_for_shortest_edge(in_height, in_width, cfg.shortest_edge, &h, &w);
  } else {
    h = cfg.height;
    w = cfg.width;
  }
  if (h < 1 || w < 1 || h > kMaxSide || w > kMaxSide)
    fail(StatusCode::invalid_argument, "output_size: resizing ", in_width, "x", in_height,
         " gives ", w, "x", h, ", outside 1..", kMaxSide);
  if (int64_t{h} * w > kMaxPreprocessPixels)
    fail(StatusCode::invalid_argument, "output_size: resizing ", in_width, "x", in_height,
         " gives ", w, "x", h, ", over the limit of ", kMaxPreprocessPixels, " pixels");
  *out_width = w;
  *out_height = h;
}

namespace {

// The offset of a centred window: (in - crop) / 2, rounded down, or as
// Python's round() (to the nearest, ties to even).
int crop_offset(int in, int crop, bool half_even) {
  const int twice = in - crop;
  if (!half_even || twice % 2 == 0) return twice / 2;
  const int down = twice / 2;  // twice >= 0
  return down % 2 == 0 ? down : down + 1;
}

Image center_crop(const Image& src, int width, int height, bool half_even) {
  if (width > src.width || height > src.height)
    fail(StatusCode::invalid_argument, "center crop of ", width, "x", height, " is larger than the ", src.width, "x",
         src.height, " image");
  const int top = crop_offset(src.height, height, half_even), left = crop_offset(src.width, width, half_even);
  Image out;
  out.width = width;
  out.height = height;
  out.rgb.resize(size_t(width) * height * 3);
  for (int y = 0; y < height; ++y)
    std::memcpy(out.rgb.data() + size_t(y) * width * 3, src.rgb.data() + (size_t(y + top) * src.width + left) * 3,
                size_t(width) * 3);
  return out;
}

}  // namespace

void preprocess(const Image& image, const PreprocessConfig& cfg, float* out) {
  check_image(image, "preprocess");
  int width = 0, height = 0;
  output_size(cfg, image.width, image.height, &width, &height);
  Image resized;
  const Image* src = &image;
  if (width != image.width || height != image.height) {
    resized = resize_pil(image, width, height, cfg.resample);
    src = &resized;
  }
  Image cropped;
  if (cfg.crop_height > 0) {
    cropped = center_crop(*src, cfg.crop_width, cfg.crop_height, cfg.crop_round_half_even);
    src = &cropped;
    width = cfg.crop_width;
    height = cfg.crop_height;
  }
  // transformers rescales in float64 (uint8 * scale) and rounds to float32,
  // then normalises in float32: (x - mean) / std with float32 mean and std.
  // do_pad only pads a batch to its largest image, so one image is unchanged.
  const size_t plane = static_cast<size_t>(width) * height;
  const double scale = cfg.rescale_factor;
  for (int c = 0; c < 3; ++c) {
    float* dst = out + c * plane;
    const uint8_t* p = src->rgb.data() + c;
    for (size_t i = 0; i < plane; ++i) {
      float v = cfg.do_rescale ? static_cast<float>(p[i * 3] * scale) : static_cast<float>(p[i * 3]);
      if (cfg.do_normalize) v = (v - cfg.mean[c]) / cfg.std[c];
      dst[i] = v;
    }
  }
}

}  // namespace visionrt::io
