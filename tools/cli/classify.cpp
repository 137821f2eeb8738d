// visionrt classify: top-k labels for image files, as text or JSON lines.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
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
    R"(usage: visionrt classify --model DIR [OPTIONS] IMAGE_OR_DIR...

Prints the most likely labels of each image. A folder stands for the image
files directly inside it (jpg, jpeg, png, bmp, webp, tif, tiff), in name order.

options:
  --model DIR                 Hugging Face model folder (config.json,
                              preprocessor_config.json, *.safetensors)  [required]
  --topk K                    labels per image (default 5)
  --json                      one JSON object per image and line:
                              {"image": PATH, "predictions":
                               [{"label": NAME, "id": N, "probability": P}, ...]}
  --batch N                   images run through the model together (default 8)
)" VISIONRT_DEVICE_OPTIONS_HELP R"(  --interpolate-pos-encoding  accept input sizes other than the model's image size
  -h, --help                  show this help

Exit status: 0 when every image was classified; 1 when the model could not be
loaded or some image failed (each such image gets one "visionrt: PATH: reason"
line on stderr, the others are still classified); 2 for usage errors.
)";

struct ClassifySettings {
  std::string model_dir;
  int topk = 5;
  int batch = 8;
  bool json = false;
  visionrt::Options options;
  std::vector<std::string> inputs;
};

// Returns nullopt for --help.
std::optional<ClassifySettings> parse_settings(const std::vector<std::string>& args) {
  ArgParser parser({"--help", "--json", "--interpolate-pos-encoding"},
                   {"--model", "--topk", "--batch", "--device", "--precision", "--threads", "--cuda-graph"});
  parser.parse(args);
  if (parser.has("--help")) return std::nullopt;
  ClassifySettings s;
  s.model_dir = parser.value("--model");
  if (s.model_dir.empty()) throw UsageError("missing --model DIR");
  s.topk = parser.int_value("--topk", s.topk, 1, 1'000'000);
  s.batch = parser.int_value("--batch", s.batch, 1, 4096);
  s.json = parser.has("--json");
  read_device_options(parser, s.options);
  s.options.interpolate_pos_encoding = parser.has("--interpolate-pos-encoding");
  s.inputs = parser.positionals();
  if (s.inputs.empty()) throw UsageError("no images given");
  return s;
}

void print_labels(const std::string& path, const std::vector<visionrt::Label>& labels,
                  bool json) {
  if (json) {
    nlohmann::ordered_json predictions = nlohmann::ordered_json::array();
    for (const visionrt::Label& label : labels)
      predictions.push_back({{"label", label.name},
                             {"id", label.id},
                             {"probability", json_number(label.probability)}});
    nlohmann::ordered_json line = {{"image", path}, {"predictions", predictions}};
    // Label names and paths come from files; invalid UTF-8 is replaced, not fatal.
    std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::printf("%s\n", text.c_str());
  } else {
    std::printf("%s\n", terminal_text(path).c_str());
    for (const visionrt::Label& label : labels)
      std::printf("  %.4f  %s (id %d)\n", label.probability, terminal_text(label.name).c_str(), label.id);
  }
}

// What became of one image: its labels, or the reason it has none.
struct Outcome {
  std::vector<visionrt::Label> labels;
  std::string error;
};

// One batch decoded and preprocessed, to the size the classifier prepares
// every image to; images that failed hold their reason in `outcomes`.
struct PreparedBatch {
  std::vector<std::string> paths;
  std::vector<Outcome> outcomes;
  std::vector<float> pixels;
  std::vector<size_t> batched;  // indices into paths, in pixel order
};

PreparedBatch prepare_batch(const visionrt::Classifier& classifier, std::vector<std::string> paths, int threads) {
  PreparedBatch b;
  b.paths = std::move(paths);
  b.outcomes.resize(b.paths.size());
  std::vector<std::vector<float>> images(b.paths.size());
  parallel_for(b.paths.size(), threads, [&](size_t i) {
    try {
      images[i] = classifier.preprocess_file(b.paths[i]);
    } catch (const std::exception& e) {
      b.outcomes[i].error = e.what();
    }
  });
  for (size_t i = 0; i < b.paths.size(); ++i)
    if (b.outcomes[i].error.empty()) {
      b.pixels.insert(b.pixels.end(), images[i].begin(), images[i].end());
      b.batched.push_back(i);
    }
  return b;
}

// Runs a prepared batch's images through the model together.
void classify_batch(const visionrt::Classifier& classifier, PreparedBatch& b, int topk) {
  if (b.batched.empty()) return;
  const visionrt::ModelInfo& info = classifier.info();
  try {
    std::vector<std::vector<visionrt::Label>> results = classifier.classify(
        b.pixels.data(), static_cast<int>(b.batched.size()), info.input_height, info.input_width, topk);
    for (size_t i = 0; i < b.batched.size(); ++i) b.outcomes[b.batched[i]].labels = results.at(i);
  } catch (const std::exception& e) {
    for (size_t index : b.batched) b.outcomes[index].error = e.what();
  }
}

int classify_all(const visionrt::Classifier& classifier, const ClassifySettings& settings,
                 const std::vector<std::string>& paths) {
  const int num_labels = classifier.info().num_labels;
  const int topk = num_labels > 0 ? std::min(settings.topk, num_labels) : settings.topk;
  bool any_failed = false;
  ProgressBar progress(paths.size());
  progress.update(0);
  // Batch k + 1 is decoded and preprocessed on the front end's threads
  // while batch k runs through the model.
  const int threads = front_end_threads(settings.options.num_threads);
  auto batch_at = [&](size_t begin) {
    return std::vector<std::string>(paths.begin() + begin,
                                    paths.begin() + std::min(paths.size(), begin + settings.batch));
  };
  std::future<PreparedBatch> next;
  if (!paths.empty()) next = std::async(std::launch::async, prepare_batch, std::cref(classifier), batch_at(0), threads);
  for (size_t begin = 0; begin < paths.size(); begin += settings.batch) {
    PreparedBatch batch = next.get();
    if (begin + settings.batch < paths.size())
      next = std::async(std::launch::async, prepare_batch, std::cref(classifier), batch_at(begin + settings.batch),
                        threads);
    classify_batch(classifier, batch, topk);
    progress.clear();
    for (size_t i = 0; i < batch.paths.size(); ++i) {
      if (batch.outcomes[i].error.empty()) {
        print_labels(batch.paths[i], batch.outcomes[i].labels, settings.json);
      } else {
        any_failed = true;
        progress.error_line(batch.paths[i] + ": " + one_line_reason(batch.outcomes[i].error, batch.paths[i]));
      }
    }
    std::fflush(stdout);
    progress.update(begin + batch.paths.size());
  }
  return any_failed ? kExitFailure : kExitOk;
}

}  // namespace

int run_classify(const std::vector<std::string>& args) {
  const std::optional<ClassifySettings> settings = parse_settings(args);
  if (!settings) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  const ImageInputs inputs = expand_image_inputs(settings->inputs);

  std::optional<visionrt::Classifier> classifier;
  try {
    classifier.emplace(visionrt::Classifier::load(settings->model_dir, settings->options));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "visionrt: cannot load model %s: %s\n", settings->model_dir.c_str(),
                 one_line_reason(e.what(), settings->model_dir).c_str());
    return kExitFailure;
  }
  if (!classifier->device_notice().empty())
    std::fprintf(stderr, "visionrt: %s\n", classifier->device_notice().c_str());
  if (!visionrt::has_image_io()) {
    std::fprintf(stderr,
                 "visionrt: this build cannot decode image files (it was built without OpenCV)\n");
    return kExitFailure;
  }

  for (const std::string& dir : inputs.empty_dirs)
    std::fprintf(stderr,
                 "visionrt: %s: no image files (jpg, jpeg, png, bmp, webp, tif, tiff) in this "
                 "folder\n",
                 dir.c_str());
  const int status = classify_all(*classifier, *settings, inputs.paths);
  return inputs.empty_dirs.empty() ? status : kExitFailure;
}

}  // namespace visionrt_cli
