// visionrt embed: image features from a Vision Transformer's encoder
// (DINOv2 above all), one JSON line per image.
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "inputs.hpp"
#include "output.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt_cli {
namespace {

constexpr const char* kUsage =
    R"(usage: visionrt embed --model DIR [OPTIONS] IMAGE_OR_DIR...

Prints the features of each image as one JSON line, as transformers'
pipeline("image-feature-extraction") gives them:
  {"image": PATH, "pooling": P, "shape": [...], "features": [...]}
A folder stands for the image files directly inside it, in name order.

options:
  --model DIR                 model folder: a ViT, DeiT or DINOv2 checkpoint of
                              transformers (with or without its head) or timm  [required]
  --pooling P                 cls: the class token after the last norm (DINOv2's
                              pooler_output; default); mean: the mean of the
                              patch tokens; tokens: every token ([tokens, hidden])
)" VISIONRT_DEVICE_OPTIONS_HELP R"(  --interpolate-pos-encoding  accept input sizes other than the model's image size
  -h, --help                  show this help

Exit status: 0 when every image was embedded; 1 when the model could not be
loaded or some image failed (each such image gets one "visionrt: PATH: reason"
line on stderr, the others are still embedded); 2 for usage errors.
)";

struct EmbedSettings {
  std::string model_dir;
  visionrt::Pooling pooling = visionrt::Pooling::cls;
  std::string pooling_name = "cls";
  visionrt::Options options;
  std::vector<std::string> inputs;
};

std::optional<EmbedSettings> parse_settings(const std::vector<std::string>& args) {
  ArgParser parser({"--help", "--interpolate-pos-encoding"},
                   {"--model", "--pooling", "--device", "--precision", "--threads", "--cuda-graph"});
  parser.parse(args);
  if (parser.has("--help")) return std::nullopt;
  EmbedSettings s;
  s.model_dir = parser.value("--model");
  if (s.model_dir.empty()) throw UsageError("missing --model DIR");
  if (parser.has("--pooling")) {
    s.pooling_name = parser.value("--pooling");
    if (s.pooling_name == "cls") s.pooling = visionrt::Pooling::cls;
    else if (s.pooling_name == "mean") s.pooling = visionrt::Pooling::mean;
    else if (s.pooling_name == "tokens") s.pooling = visionrt::Pooling::tokens;
    else throw UsageError("--pooling must be cls, mean or tokens, got '" + s.pooling_name + "'");
  }
  read_device_options(parser, s.options);
  s.options.interpolate_pos_encoding = parser.has("--interpolate-pos-encoding");
  s.inputs = parser.positionals();
  if (s.inputs.empty()) throw UsageError("no images given");
  return s;
}

void print_features(const std::string& path, const EmbedSettings& s, const visionrt::Embedder& e,
                    const std::vector<float>& features) {
  const visionrt::ModelInfo& info = e.info();
  nlohmann::ordered_json shape = nlohmann::ordered_json::array();
  if (s.pooling == visionrt::Pooling::tokens) shape.push_back(e.num_tokens(info.input_height, info.input_width));
  shape.push_back(e.hidden_size());
  nlohmann::ordered_json values = nlohmann::ordered_json::array();
  for (float v : features) values.push_back(json_number(v));
  nlohmann::ordered_json line = {{"image", path}, {"pooling", s.pooling_name}, {"shape", shape}, {"features", values}};
  std::printf("%s\n", line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

}  // namespace

int run_embed(const std::vector<std::string>& args) {
  const std::optional<EmbedSettings> settings = parse_settings(args);
  if (!settings) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  const ImageInputs inputs = expand_image_inputs(settings->inputs);
  std::optional<visionrt::Embedder> embedder;
  try {
    embedder.emplace(visionrt::Embedder::load(settings->model_dir, settings->options));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "visionrt: cannot load model %s: %s\n", settings->model_dir.c_str(),
                 one_line_reason(e.what(), settings->model_dir).c_str());
    return kExitFailure;
  }
  if (!embedder->device_notice().empty()) std::fprintf(stderr, "visionrt: %s\n", embedder->device_notice().c_str());
  if (!visionrt::has_image_io()) {
    std::fprintf(stderr, "visionrt: this build cannot decode image files (it was built without OpenCV)\n");
    return kExitFailure;
  }
  bool any_failed = !inputs.empty_dirs.empty();
  for (const std::string& dir : inputs.empty_dirs)
    std::fprintf(stderr, "visionrt: %s: no image files (jpg, jpeg, png, bmp, webp, tif, tiff) in this folder\n",
                 dir.c_str());
  for (const std::string& path : inputs.paths) {
    try {
      print_features(path, *settings, *embedder, embedder->embed_files({path}, settings->pooling).at(0));
    } catch (const std::exception& e) {
      any_failed = true;
      std::fprintf(stderr, "visionrt: %s: %s\n", path.c_str(), one_line_reason(e.what(), path).c_str());
    }
    std::fflush(stdout);
  }
  return any_failed ? kExitFailure : kExitOk;
}

}  // namespace visionrt_cli
