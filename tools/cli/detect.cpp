// visionrt detect: objects in image files (DETR), as text or JSON lines, and
// optionally annotated copies of the images.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "inputs.hpp"
#include "output.hpp"
#include "parallel.hpp"
#include "progress.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt_cli {
namespace {

constexpr const char* kUsage =
    R"(usage: visionrt detect --model DIR [OPTIONS] IMAGE_OR_DIR...

Prints the objects found in each image: label, score and box corners in the
image's pixels. A folder stands for the image files directly inside it (jpg,
jpeg, png, bmp, webp, tif, tiff), in name order.

options:
  --model DIR             Hugging Face DETR folder (config.json,
                          preprocessor_config.json, *.safetensors)  [required]
  --threshold T           keep detections scoring above T (default 0.7)
  --json                  one JSON object per image and line:
                          {"image": PATH, "detections": [{"label": NAME, "id": N,
                           "score": S, "box": [x0, y0, x1, y1]}, ...]}
  --draw OUT_DIR          write a copy of each image with its detections drawn
                          to OUT_DIR/<name>.png
  --batch N               images decoded and run together; those of the same
                          prepared size share one forward pass (default 8)
)" VISIONRT_DEVICE_OPTIONS_HELP R"(  -h, --help              show this help

Exit status: 0 when every image was processed; 1 when the model could not be
loaded or some image failed (each such image gets one "visionrt: PATH: reason"
line on stderr, the others are still processed); 2 for usage errors.
)";

struct DetectSettings {
  std::string model_dir, draw_dir;
  float threshold = 0.7f;
  int batch = 8;
  bool json = false;
  visionrt::Options options;
  std::vector<std::string> inputs;
};

std::optional<DetectSettings> parse_settings(const std::vector<std::string>& args) {
  ArgParser parser({"--help", "--json"}, {"--model", "--threshold", "--draw", "--batch", "--device", "--precision", "--threads", "--cuda-graph"});
  parser.parse(args);
  if (parser.has("--help")) return std::nullopt;
  DetectSettings s;
  s.model_dir = parser.value("--model");
  if (s.model_dir.empty()) throw UsageError("missing --model DIR");
  if (parser.has("--threshold")) s.threshold = parse_threshold(parser.value("--threshold"));
  s.json = parser.has("--json");
  s.batch = parser.int_value("--batch", s.batch, 1, 4096);
  s.draw_dir = parser.value("--draw");
  if (parser.has("--draw") && s.draw_dir.empty()) throw UsageError("--draw needs a folder");
  read_device_options(parser, s.options);
  s.inputs = parser.positionals();
  if (s.inputs.empty()) throw UsageError("no images given");
  return s;
}

void print_detections(const std::string& path, const std::vector<visionrt::Detection>& dets, bool json) {
  if (json) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const visionrt::Detection& d : dets)
      list.push_back({{"label", d.name},
                      {"id", d.id},
                      {"score", json_number(d.score)},
                      {"box", {json_number(d.box.x0), json_number(d.box.y0), json_number(d.box.x1),
                               json_number(d.box.y1)}}});
    nlohmann::ordered_json line = {{"image", path}, {"detections", list}};
    std::printf("%s\n", line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
  } else {
    std::printf("%s: %zu detection%s\n", terminal_text(path).c_str(), dets.size(), dets.size() == 1 ? "" : "s");
    for (const visionrt::Detection& d : dets)
      std::printf("  %.3f  %-20s [%.1f, %.1f, %.1f, %.1f]\n", d.score, terminal_text(d.name).c_str(), d.box.x0, d.box.y0,
                  d.box.x1, d.box.y1);
  }
}

// One batch's images decoded on the front end's threads; a bad file costs
// only itself (its reason in errors).
struct DecodedBatch {
  size_t begin = 0, end = 0;
  std::vector<std::string> errors;
  std::vector<visionrt::Image> images;
  std::vector<size_t> decoded;  // path indices of images, in order
};

DecodedBatch decode_batch(const std::vector<std::string>& paths, size_t begin, size_t end, int threads) {
  DecodedBatch b;
  b.begin = begin;
  b.end = end;
  b.errors.resize(end - begin);
  std::vector<visionrt::Image> all(end - begin);
  parallel_for(end - begin, threads, [&](size_t k) {
    try {
      all[k] = visionrt::load_image(paths[begin + k]);
    } catch (const std::exception& e) {
      b.errors[k] = e.what();
    }
  });
  for (size_t k = 0; k < all.size(); ++k)
    if (b.errors[k].empty()) {
      b.images.push_back(std::move(all[k]));
      b.decoded.push_back(begin + k);
    }
  return b;
}

}  // namespace

int run_detect(const std::vector<std::string>& args) {
  const std::optional<DetectSettings> settings = parse_settings(args);
  if (!settings) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  const ImageInputs inputs = expand_image_inputs(settings->inputs);
  std::optional<visionrt::Detector> detector;
  try {
    detector.emplace(visionrt::Detector::load(settings->model_dir, settings->options));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "visionrt: cannot load model %s: %s\n", settings->model_dir.c_str(),
                 one_line_reason(e.what(), settings->model_dir).c_str());
    return kExitFailure;
  }
  if (!detector->device_notice().empty()) std::fprintf(stderr, "visionrt: %s\n", detector->device_notice().c_str());
  if (!visionrt::has_image_io()) {
    std::fprintf(stderr, "visionrt: this build cannot decode image files (it was built without OpenCV)\n");
    return kExitFailure;
  }
  if (!settings->draw_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(settings->draw_dir, ec);
    if (ec) {
      std::fprintf(stderr, "visionrt: %s: cannot create folder: %s\n", settings->draw_dir.c_str(),
                   ec.message().c_str());
      return kExitFailure;
    }
  }
  bool failed = !inputs.empty_dirs.empty();
  for (const std::string& dir : inputs.empty_dirs)
    std::fprintf(stderr, "visionrt: %s: no image files in this folder\n", dir.c_str());
  ProgressBar progress(inputs.paths.size());
  progress.update(0);
  const std::vector<std::string>& paths = inputs.paths;
  // Batch k + 1 is decoded on the front end's threads while batch k runs.
  const int threads = front_end_threads(settings->options.num_threads);
  auto decode_from = [&](size_t begin) {
    return std::async(std::launch::async, decode_batch, std::cref(paths), begin,
                      std::min(paths.size(), begin + settings->batch), threads);
  };
  std::future<DecodedBatch> next;
  if (!paths.empty()) next = decode_from(0);
  for (size_t begin = 0; begin < paths.size(); begin += settings->batch) {
    DecodedBatch batch = next.get();
    if (batch.end < paths.size()) next = decode_from(batch.end);
    const size_t end = batch.end;
    std::vector<std::string>& errors = batch.errors;
    const std::vector<visionrt::Image>& images = batch.images;
    const std::vector<size_t>& decoded = batch.decoded;
    std::vector<std::vector<visionrt::Detection>> dets(end - begin);
    try {
      const auto found = detector->detect(images, settings->threshold);
      for (size_t k = 0; k < decoded.size(); ++k) dets[decoded[k] - begin] = found[k];
    } catch (const std::exception& e) {
      for (size_t i : decoded) errors[i - begin] = e.what();
    }
    if (!settings->draw_dir.empty())
      for (size_t k = 0; k < decoded.size(); ++k) {
        const size_t i = decoded[k];
        if (!errors[i - begin].empty()) continue;
        const std::string out = (std::filesystem::path(settings->draw_dir) /
                                 std::filesystem::path(paths[i]).stem()).string() + ".png";
        try {
          detector->draw(images[k], dets[i - begin], out);
        } catch (const std::exception& e) {
          errors[i - begin] = e.what();
        }
      }
    progress.clear();
    for (size_t i = begin; i < end; ++i) {
      if (errors[i - begin].empty()) {
        print_detections(paths[i], dets[i - begin], settings->json);
      } else {
        failed = true;
        progress.error_line(paths[i] + ": " + one_line_reason(errors[i - begin], paths[i]));
      }
    }
    std::fflush(stdout);
    progress.update(end);
  }
  return failed ? kExitFailure : kExitOk;
}

}  // namespace visionrt_cli
