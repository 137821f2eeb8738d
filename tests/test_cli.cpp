// The visionrt command-line tool, run as a separate process the way users run
// it: output formats, per-image error reporting, exit codes, folder expansion.
// VISIONRT_CLI_PATH is only defined when the tool is built (VISIONRT_BUILD_CLI).
#ifdef VISIONRT_CLI_PATH
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scratch_dir.hpp"
#include "visionrt/visionrt.hpp"

namespace {

using visionrt::ScratchDir;

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kSourceDir = VISIONRT_SOURCE_DIR;
const fs::path kDemoModel = kSourceDir / "models" / "demo" / "vit-digits";
const fs::path kDemoImages = kSourceDir / "models" / "demo" / "images" / "digits";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

struct CliRun {
  int exit_code = -1;  // -1 when the tool died from a signal
  std::string out, err;
  std::vector<std::string> out_lines() const { return lines_of(out); }
  std::vector<std::string> err_lines() const { return lines_of(err); }
};

// Runs the built tool with stdout and stderr captured in files of `scratch`.
// `env`: NAME=VALUE settings for the tool's environment.
CliRun run_cli(const std::vector<std::string>& args, const fs::path& scratch, const std::string& env = "") {
  const fs::path out = scratch / "cli.stdout", err = scratch / "cli.stderr";
  std::string command = (env.empty() ? "" : "env " + env + " ") + shell_quote(VISIONRT_CLI_PATH);
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  command += " </dev/null >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
  const int status = std::system(command.c_str());
  CliRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = read_text(out);
  run.err = read_text(err);
  return run;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST(Cli, VersionNamesTheLibraryVersionAndBuiltInParts) {
  ScratchDir scratch;
  const CliRun run = run_cli({"--version"}, scratch.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> lines = run.out_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], std::string("visionrt ") + visionrt::version());
  EXPECT_NE(run.out.find("CUDA:"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("OpenCV"), std::string::npos) << run.out;
  EXPECT_EQ(run.err, "");
}

// The CUDA kernels live in a library of their own: a run without a GPU
// loads no CUDA library at all (the dynamic loader lists every object it
// opens, dlopen included, under LD_DEBUG=files).
TEST(Cli, CpuRunsLoadNoCudaLibrary) {
  ScratchDir scratch;
  std::vector<std::vector<std::string>> calls = {{"--version"}};
  if (visionrt::has_image_io())
    calls.push_back({"classify", "--device", "cpu", "--model", (kSourceDir / "models/demo/vit-digits").string(),
                     (kSourceDir / "models/demo/images/digits/digit_0.png").string()});
  for (const auto& args : calls) {
    const CliRun run = run_cli(args, scratch.path(), "LD_DEBUG=files");
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.err.find("file=libvisionrt.so"), std::string::npos) << "LD_DEBUG listed nothing";
    for (const char* lib : {"libcudart", "libcublas", "libcudnn", "libcuda.so", "libvisionrt_cuda"})
      EXPECT_EQ(run.err.find(lib), std::string::npos) << args[0] << " loaded " << lib;
  }
}

TEST(Cli, HelpListsCommandsAndOptions) {
  ScratchDir scratch;
  const CliRun top = run_cli({"--help"}, scratch.path());
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("classify"), std::string::npos) << top.out;

  const CliRun classify = run_cli({"classify", "--help"}, scratch.path());
  EXPECT_EQ(classify.exit_code, 0);
  for (const char* option : {"--model", "--topk", "--json", "--batch", "--device", "--threads",
                             "--interpolate-pos-encoding"})
    EXPECT_NE(classify.out.find(option), std::string::npos)
        << option << " not in:\n" << classify.out;
}

// Usage errors are found before any model is loaded, so they need no model.
TEST(Cli, UsageErrorsExitWithCode2AndOneLineMessage) {
  ScratchDir scratch;
  const std::string model = (scratch.path() / "model").string();
  const std::vector<std::vector<std::string>> bad_calls = {
      {},
      {"--bogus"},
      {"frobnicate"},
      {"classify", "x.png"},                                     // no --model
      {"classify", "--model", model},                            // no images
      {"classify", "--model", model, "--topk", "0", "x.png"},    // k below 1
      {"classify", "--model", model, "--batch", "abc", "x.png"}, // not a number
      {"classify", "--model", model, "--batch", "4x", "x.png"},  // trailing junk
      {"classify", "--model", model, "--threads", "-1", "x.png"},
      {"classify", "--model", model, "--device", "gpu", "x.png"},
      {"classify", "--model", model, "--unknown", "x.png"},
      {"classify", "--model", model, "x.png", "--topk"},         // value missing
      {"classify", "--json=yes", "--model", model, "x.png"},     // flag given a value
  };
  for (const auto& args : bad_calls) {
    std::string call;
    for (const std::string& arg : args) call += " " + arg;
    SCOPED_TRACE("visionrt" + call);
    const CliRun run = run_cli(args, scratch.path());
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_EQ(run.out, "");
    const std::vector<std::string> lines = run.err_lines();
    ASSERT_EQ(lines.size(), 2u) << run.err;
    EXPECT_TRUE(starts_with(lines[0], "visionrt")) << lines[0];
    EXPECT_TRUE(starts_with(lines[1], "try 'visionrt")) << lines[1];
  }
}

TEST(Cli, ModelThatCannotLoadIsOneLineAndExitCode1) {
  ScratchDir scratch;
  const std::string model = (scratch.path() / "no-such-model").string();
  const CliRun run = run_cli({"classify", "--model", model, "x.png"}, scratch.path());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, "");
  const std::vector<std::string> lines = run.err_lines();
  ASSERT_EQ(lines.size(), 1u) << run.err;
  EXPECT_TRUE(starts_with(lines[0], "visionrt: cannot load model " + model + ": ")) << lines[0];
}

// Tests on the bundled demo model and its example images.
class CliDemoModel : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::is_regular_file(kDemoModel / "config.json")) << "no demo model at " << kDemoModel;
    if (!visionrt::has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
    for (const auto& entry : fs::directory_iterator(kDemoImages))
      if (entry.path().extension() == ".png") images_.push_back(entry.path().string());
    std::sort(images_.begin(), images_.end());
    ASSERT_GE(images_.size(), 3u) << "too few example images in " << kDemoImages;
    const json config = json::parse(std::ifstream(kDemoModel / "config.json"));
    num_labels_ = config.contains("id2label") ? config.at("id2label").size()
                                               : config.at("num_labels").get<size_t>();
    ASSERT_GE(num_labels_, 3u);
  }

  // On the CPU, so that no device notice joins stderr.
  std::vector<std::string> classify(std::vector<std::string> args) const {
    args.insert(args.begin(), {"classify", "--device", "cpu", "--model", kDemoModel.string()});
    return args;
  }

  ScratchDir scratch_;
  std::vector<std::string> images_;  // sorted full paths
  size_t num_labels_ = 0;
};

// Checks one --json line and returns it parsed.
json parse_json_line(const std::string& line, size_t topk, size_t num_labels) {
  const json object = json::parse(line);  // throws (and fails the test) on invalid JSON
  EXPECT_TRUE(object.is_object());
  EXPECT_EQ(object.size(), 2u) << line;
  EXPECT_TRUE(object.at("image").is_string()) << line;
  const json& predictions = object.at("predictions");
  EXPECT_EQ(predictions.size(), topk) << line;
  double previous = 1.0, total = 0.0;
  std::set<int> ids;
  for (const json& p : predictions) {
    EXPECT_TRUE(p.at("label").is_string()) << line;
    EXPECT_FALSE(p.at("label").get<std::string>().empty()) << line;
    const int id = p.at("id").get<int>();
    EXPECT_GE(id, 0);
    EXPECT_LT(static_cast<size_t>(id), num_labels);
    ids.insert(id);
    const double probability = p.at("probability").get<double>();
    EXPECT_GE(probability, 0.0);
    EXPECT_LE(probability, previous) << "predictions not in descending order: " << line;
    previous = probability;
    total += probability;
  }
  EXPECT_EQ(ids.size(), predictions.size()) << "repeated label id: " << line;
  // Probabilities are a softmax in float32: the top k sum to at most 1 (+ rounding).
  EXPECT_LE(total, 1.0 + 1e-5) << line;
  return object;
}

// The default device is the GPU where one is usable; elsewhere the CPU,
// with one line on stderr saying why. --device cuda there is an error.
TEST_F(CliDemoModel, AutoDeviceFallsBackToTheCpuWithOneNotice) {
  const CliRun run = run_cli({"classify", "--model", kDemoModel.string(), images_[0]}, scratch_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  if (visionrt::cuda_available()) {
    EXPECT_EQ(run.err, "");
  } else {
    EXPECT_EQ(run.err.rfind("visionrt: no usable GPU: ", 0), 0u) << run.err;
    EXPECT_NE(run.err.find("; running on the CPU\n"), std::string::npos) << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  }
  const CliRun cuda =
      run_cli({"classify", "--device", "cuda", "--model", kDemoModel.string(), images_[0]}, scratch_.path());
  if (visionrt::cuda_available()) {
    EXPECT_EQ(cuda.exit_code, 0) << cuda.err;
  } else {
    EXPECT_EQ(cuda.exit_code, 1);
    EXPECT_NE(cuda.err.find("no usable GPU"), std::string::npos) << cuda.err;
    EXPECT_TRUE(cuda.out.empty()) << cuda.out;
  }
}

TEST_F(CliDemoModel, JsonGivesOneObjectPerImageLine) {
  const CliRun run =
      run_cli(classify({"--json", "--topk", "3", kDemoImages.string()}), scratch_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  const std::vector<std::string> lines = run.out_lines();
  ASSERT_EQ(lines.size(), images_.size()) << run.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    const json object = parse_json_line(lines[i], 3, num_labels_);
    EXPECT_EQ(object.at("image").get<std::string>(), images_[i]);
  }
}

TEST_F(CliDemoModel, TopkLargerThanLabelCountGivesEveryLabel) {
  const std::string topk = std::to_string(num_labels_ + 5);
  const CliRun run = run_cli(classify({"--json", "--topk", topk, images_[0]}), scratch_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> lines = run.out_lines();
  ASSERT_EQ(lines.size(), 1u);
  const json object = parse_json_line(lines[0], num_labels_, num_labels_);
  double total = 0.0;
  for (const json& p : object.at("predictions")) total += p.at("probability").get<double>();
  // All the float32 softmax outputs, each rounded to float: sum within 1e-5 of 1.
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST_F(CliDemoModel, TextOutputShowsPathThenTopkLinesMatchingJson) {
  const std::vector<std::string> two(images_.begin(), images_.begin() + 2);
  std::vector<std::string> text_args = {"--topk", "2"}, json_args = {"--topk", "2", "--json"};
  text_args.insert(text_args.end(), two.begin(), two.end());
  json_args.insert(json_args.end(), two.begin(), two.end());
  const CliRun text = run_cli(classify(text_args), scratch_.path());
  const CliRun as_json = run_cli(classify(json_args), scratch_.path());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;

  const std::vector<std::string> lines = text.out_lines(), json_lines = as_json.out_lines();
  ASSERT_EQ(lines.size(), 6u) << text.out;
  ASSERT_EQ(json_lines.size(), 2u) << as_json.out;
  const std::regex label_line(R"(  (\d\.\d{4})  (.+) \(id (\d+)\))");
  for (size_t image = 0; image < 2; ++image) {
    EXPECT_EQ(lines[image * 3], two[image]);
    const json predictions = json::parse(json_lines[image]).at("predictions");
    for (size_t k = 0; k < 2; ++k) {
      const std::string& line = lines[image * 3 + 1 + k];
      std::smatch match;
      ASSERT_TRUE(std::regex_match(line, match, label_line)) << line;
      EXPECT_EQ(match[2].str(), predictions[k].at("label").get<std::string>());
      EXPECT_EQ(std::stoi(match[3].str()), predictions[k].at("id").get<int>());
      // Text shows 4 decimals: within half a unit of the last digit (+ float slack).
      EXPECT_NEAR(std::stod(match[1].str()), predictions[k].at("probability").get<double>(),
                  0.5e-4 + 1e-7);
    }
  }
}

// Labels come from config.json: in text output their control characters
// (an escape sequence that would recolour the terminal, a line break that
// would print a fake result line, a NUL that would cut the line short) are
// written as \xNN and a backslash doubled; --json escapes them as JSON.
TEST_F(CliDemoModel, TextOutputEscapesControlCharactersInLabels) {
  const fs::path model = scratch_.path() / "model";
  fs::create_directories(model);
  for (const auto& entry : fs::directory_iterator(kDemoModel)) fs::copy(entry.path(), model / entry.path().filename());
  json config = json::parse(std::ifstream(model / "config.json"));
  const std::vector<std::string> hostile = {std::string("red\x1b[31m"), std::string("a\n  1.0000  fake (id 0)"),
                                            std::string("cut\0here", 8), std::string("back\\slash \xc2\x9b csi"),
                                            std::string("caf\xc3\xa9")};
  json id2label = json::object();
  for (size_t i = 0; i < num_labels_; ++i)
    id2label[std::to_string(i)] = i < hostile.size() ? hostile[i] : "digit " + std::to_string(i);
  config["id2label"] = id2label;
  config.erase("label2id");
  write_text(model / "config.json", config.dump());
  const std::string topk = std::to_string(num_labels_);
  const CliRun run = run_cli({"classify", "--device", "cpu", "--model", model.string(), "--topk", topk, images_[0]},
                             scratch_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out_lines().size(), 1 + num_labels_) << run.out;
  EXPECT_EQ(run.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(run.out.find('\0'), std::string::npos);
  for (const char* shown : {" red\\x1b[31m (id 0)", " a\\x0a  1.0000  fake (id 0) (id 1)", " cut\\x00here (id 2)",
                            " back\\\\slash \\xc2\\x9b csi (id 3)", " caf\xc3\xa9 (id 4)"})
    EXPECT_NE(run.out.find(shown), std::string::npos) << shown << " not in:\n" << run.out;
}

TEST_F(CliDemoModel, BatchSizeDoesNotChangeResults) {
  // Batch 3 over the example images leaves a partly filled last batch unless
  // their count is a multiple of 3; batch 1 is the reference.
  const CliRun single =
      run_cli(classify({"--json", "--batch", "1", kDemoImages.string()}), scratch_.path());
  const CliRun batched =
      run_cli(classify({"--json", "--batch", "3", kDemoImages.string()}), scratch_.path());
  ASSERT_EQ(single.exit_code, 0) << single.err;
  ASSERT_EQ(batched.exit_code, 0) << batched.err;
  const std::vector<std::string> a = single.out_lines(), b = batched.out_lines();
  ASSERT_EQ(a.size(), images_.size());
  ASSERT_EQ(b.size(), images_.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const json x = json::parse(a[i]), y = json::parse(b[i]);
    EXPECT_EQ(x.at("image"), y.at("image"));
    const json &px = x.at("predictions"), &py = y.at("predictions");
    ASSERT_EQ(px.size(), py.size());
    // Each image goes through the same float32 computation whatever the batch;
    // only the summation order inside batched matrix products may change,
    // which moves probabilities by ~1e-6. 1e-4 keeps margin, while images
    // swapped within a batch would differ far more (and in their top labels).
    EXPECT_EQ(px[0].at("id"), py[0].at("id")) << a[i] << "\n" << b[i];
    for (size_t k = 0; k < px.size(); ++k) {
      const json* match = nullptr;
      for (const json& p : py)
        if (p.at("id") == px[k].at("id")) match = &p;
      if (match == nullptr) continue;  // near-tied last places may swap in and out
      EXPECT_NEAR(px[k].at("probability").get<double>(), match->at("probability").get<double>(),
                  1e-4);
    }
  }
}

TEST_F(CliDemoModel, BadFilesGetOneErrorLineEachAndTheRestAreClassified) {
  const std::string text_file = (scratch_.path() / "x.png").string();
  const std::string empty_file = (scratch_.path() / "empty.png").string();
  const std::string missing = (scratch_.path() / "missing.png").string();
  write_text(text_file, "this is not an image\n");
  write_text(empty_file, "");
  const std::vector<std::string> bad = {text_file, empty_file, missing};
  const std::vector<std::string> good = {images_[0], images_[1], images_[2]};

  for (const bool as_json : {true, false}) {
    SCOPED_TRACE(as_json ? "--json" : "text");
    // Batches of 2 put good and bad images in the same batch.
    std::vector<std::string> args = {"--batch", "2", "--topk", "1",   good[0], text_file,
                                     good[1],   empty_file, missing, good[2]};
    if (as_json) args.insert(args.begin(), "--json");
    const CliRun run = run_cli(classify(args), scratch_.path());
    EXPECT_EQ(run.exit_code, 1);

    std::vector<std::string> classified;
    for (const std::string& line : run.out_lines()) {
      if (as_json)
        classified.push_back(parse_json_line(line, 1, num_labels_).at("image").get<std::string>());
      else if (!starts_with(line, " "))
        classified.push_back(line);
    }
    EXPECT_EQ(classified, good) << run.out;

    const std::vector<std::string> errors = run.err_lines();
    ASSERT_EQ(errors.size(), bad.size()) << run.err;
    for (size_t i = 0; i < bad.size(); ++i) {
      const std::string prefix = "visionrt: " + bad[i] + ": ";
      EXPECT_TRUE(starts_with(errors[i], prefix)) << errors[i];
      EXPECT_GT(errors[i].size(), prefix.size()) << "no reason given: " << errors[i];
    }
  }
}

TEST_F(CliDemoModel, FolderExpandsToItsImageFilesSortedByName) {
  const fs::path folder = scratch_.path() / "images";
  fs::create_directories(folder / "nested");
  fs::copy_file(images_[0], folder / "c.png");
  fs::copy_file(images_[1], folder / "a.PNG");  // extensions match in any letter case
  fs::copy_file(images_[2], folder / "b.png");
  fs::copy_file(images_[0], folder / "nested" / "d.png");  // not searched: non-recursive
  write_text(folder / "notes.txt", "not an image, and not picked up\n");

  const CliRun run = run_cli(classify({"--json", "--topk", "1", folder.string()}), scratch_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  std::vector<std::string> classified;
  for (const std::string& line : run.out_lines())
    classified.push_back(parse_json_line(line, 1, num_labels_).at("image").get<std::string>());
  const std::vector<std::string> expected = {(folder / "a.PNG").string(),
                                             (folder / "b.png").string(),
                                             (folder / "c.png").string()};
  EXPECT_EQ(classified, expected);
}

TEST_F(CliDemoModel, FolderWithoutImagesIsReportedAndExitCode1) {
  const fs::path folder = scratch_.path() / "no-images";
  fs::create_directories(folder);
  write_text(folder / "notes.txt", "text\n");
  const CliRun run =
      run_cli(classify({"--json", folder.string(), images_[0]}), scratch_.path());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out_lines().size(), 1u) << run.out;
  const std::vector<std::string> errors = run.err_lines();
  ASSERT_EQ(errors.size(), 1u) << run.err;
  EXPECT_TRUE(starts_with(errors[0], "visionrt: " + folder.string() + ": ")) << errors[0];
}

// visionrt detect on a small DETR fixture (random weights, so threshold 0
// keeps every query) and generated shape images.
class CliDetect : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!visionrt::has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
    for (int i = 0; i < 3; ++i)
      images_.push_back((kSourceDir / "tests/fixtures/shapes-eval" / ("shapes_0000" + std::to_string(i) + ".png")).string());
  }
  std::vector<std::string> detect(std::vector<std::string> args) const {
    args.insert(args.begin(),
                {"detect", "--device", "cpu", "--model", (kSourceDir / "tests/fixtures/detr/r18_timm").string()});
    return args;
  }
  ScratchDir scratch_;
  std::vector<std::string> images_;
};

// With --interpolate-pos-encoding every image is prepared to the
// preprocessor's size (48x64 here, the model's is 32x32), whatever its own
// size, so images of mixed sizes share batches; batching changes nothing.
TEST(Cli, InterpolatedClassifyBatchesMixedSizesAlike) {
  if (!visionrt::has_image_io()) GTEST_SKIP() << "built without the OpenCV image front end";
  ScratchDir scratch;
  const std::vector<std::string> images = {
      (kSourceDir / "models/demo/images/digits/digit_0.png").string(),              // 8x8
      (kSourceDir / "tests/fixtures/frontend/flower.jpg").string(),                 // a photo
      (kSourceDir / "tests/fixtures/shapes-eval/shapes_00000.png").string(),        // 128x128
      (kSourceDir / "tests/fixtures/frontend/decode/orientation_5.jpg").string()};  // EXIF-rotated
  auto classify = [&](const char* batch) {
    std::vector<std::string> args = {"classify", "--json", "--interpolate-pos-encoding", "--batch", batch,
                                     "--model", (kSourceDir / "tests/fixtures/vit/p16_interp").string()};
    args.insert(args.end(), images.begin(), images.end());
    return run_cli(args, scratch.path());
  };
  const CliRun single = classify("1"), batched = classify("4");
  ASSERT_EQ(single.exit_code, 0) << single.err;
  ASSERT_EQ(batched.exit_code, 0) << batched.err;
  const std::vector<std::string> a = single.out_lines(), b = batched.out_lines();
  ASSERT_EQ(a.size(), images.size());
  ASSERT_EQ(b.size(), images.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const json x = json::parse(a[i]), y = json::parse(b[i]);
    EXPECT_EQ(x.at("image"), images[i]);
    EXPECT_EQ(y.at("image"), images[i]);
    // As in BatchSizeDoesNotChangeResults: only summation order may differ.
    for (size_t k = 0; k < x.at("predictions").size(); ++k) {
      EXPECT_EQ(x["predictions"][k].at("id"), y["predictions"][k].at("id")) << a[i] << "\n" << b[i];
      EXPECT_NEAR(x["predictions"][k].at("probability").get<double>(),
                  y["predictions"][k].at("probability").get<double>(), 1e-4);
    }
  }
}

TEST_F(CliDetect, BatchSizeDoesNotChangeDetections) {
  auto run = [&](const char* batch) {
    return run_cli(detect({"--json", "--threshold", "0.2", "--batch", batch, images_[0], images_[1], images_[2]}),
                   scratch_.path());
  };
  const CliRun single = run("1"), batched = run("3");
  ASSERT_EQ(single.exit_code, 0) << single.err;
  ASSERT_EQ(batched.exit_code, 0) << batched.err;
  const std::vector<std::string> a = single.out_lines(), b = batched.out_lines();
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const json x = json::parse(a[i]).at("detections"), y = json::parse(b[i]).at("detections");
    ASSERT_EQ(x.size(), y.size()) << a[i] << "\n" << b[i];
    // Scores within 1e-5 and boxes within 1e-3 px, as DetectorTest bounds
    // an image alone against the same image in a batch.
    for (size_t k = 0; k < x.size(); ++k) {
      EXPECT_EQ(x[k].at("id"), y[k].at("id"));
      EXPECT_NEAR(x[k].at("score").get<double>(), y[k].at("score").get<double>(), 1e-5);
      for (int c = 0; c < 4; ++c)
        EXPECT_NEAR(x[k]["box"][c].get<double>(), y[k]["box"][c].get<double>(), 1e-3);
    }
  }
}

TEST_F(CliDetect, JsonGivesOneObjectPerImageLineWithBoxes) {
  const CliRun run = run_cli(detect({"--json", "--threshold", "0", images_[0], images_[1], images_[2]}), scratch_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> lines = run.out_lines();
  ASSERT_EQ(lines.size(), images_.size()) << run.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const json object = json::parse(lines[i]);
    EXPECT_EQ(object.at("image").get<std::string>(), images_[i]);
    const json& dets = object.at("detections");
    EXPECT_EQ(dets.size(), 10u) << "one detection per query at threshold 0";
    double previous = 1.0;
    for (const json& d : dets) {
      EXPECT_TRUE(d.at("label").is_string());
      const double score = d.at("score").get<double>();
      EXPECT_LE(score, previous);
      previous = score;
      ASSERT_EQ(d.at("box").size(), 4u);
      EXPECT_LE(d.at("box")[0].get<double>(), d.at("box")[2].get<double>());
      EXPECT_LE(d.at("box")[1].get<double>(), d.at("box")[3].get<double>());
    }
  }
}

// The annotated copy differs from its image exactly where the detections
// printed for it are drawn, as src/io/image_draw.cpp draws them: each box's
// outline (a line of `thickness` pixels on its rounded corners) and its
// caption ("label 0.42" on a filled rectangle above the box's top-left
// corner, or just inside it when there is no room above). Every printed box
// has its outline drawn; nothing else changed.
TEST_F(CliDetect, DrawWritesAnAnnotatedCopyPerImage) {
  const fs::path out = scratch_.path() / "drawn";
  const CliRun run = run_cli(
      detect({"--json", "--threshold", "0.1", "--draw", out.string(), images_[0], images_[1]}), scratch_.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> lines = run.out_lines();
  ASSERT_EQ(lines.size(), 2u) << run.out;
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(images_[i]);
    const json dets = json::parse(lines[i]).at("detections");
    ASSERT_GT(dets.size(), 0u) << "nothing detected, so nothing drawn: the test needs detections";
    const fs::path drawn = out / fs::path(images_[i]).filename();
    ASSERT_TRUE(fs::exists(drawn)) << drawn;
    const visionrt::Image before = visionrt::load_image(images_[i]);
    const visionrt::Image after = visionrt::load_image(drawn.string());  // PNG: lossless
    ASSERT_EQ(after.width, before.width);
    ASSERT_EQ(after.height, before.height);
    const int W = before.width, H = before.height;
    std::vector<char> changed(static_cast<size_t>(W) * H), allowed(changed.size());
    size_t changed_count = 0;
    for (size_t p = 0; p < changed.size(); ++p) {
      changed[p] = !std::equal(&before.rgb[3 * p], &before.rgb[3 * p] + 3, &after.rgb[3 * p]);
      changed_count += changed[p];
    }
    auto at = [&](int x, int y) { return static_cast<size_t>(y) * W + x; };
    auto allow = [&](int x0, int y0, int x1, int y1) {
      for (int y = std::max(y0, 0); y <= std::min(y1, H - 1); ++y)
        for (int x = std::max(x0, 0); x <= std::min(x1, W - 1); ++x) allowed[at(x, y)] = 1;
    };
    // image_draw.cpp's sizes: line width and font scale follow the image.
    const double scale = std::max(0.4, std::min(W, H) / 800.0);
    const int thickness = std::max(1, static_cast<int>(std::lround(2 * scale)));
    const double font = 0.5 * scale;
    // Half the line on either side of the edge, and a pixel for the box's
    // printed (rounded) coordinates.
    const int band = thickness / 2 + 1;
    // FONT_HERSHEY_SIMPLEX glyphs are under 32 units wide and, with the
    // baseline, 40 units high at font scale 1.
    const int caption_height = static_cast<int>(std::ceil(40 * font)) + 1;
    struct Outline {
      int x0, y0, x1, y1;
    };
    std::vector<Outline> outlines;
    for (const json& d : dets) {
      const json& box = d.at("box");
      auto corner = [&](int k) { return static_cast<int>(std::lround(box.at(k).get<double>())); };
      const Outline o{corner(0), corner(1), corner(2), corner(3)};
      outlines.push_back(o);
      allow(o.x0 - band, o.y0 - band, o.x1 + band, o.y0 + band);  // the four sides
      allow(o.x0 - band, o.y1 - band, o.x1 + band, o.y1 + band);
      allow(o.x0 - band, o.y0 - band, o.x0 + band, o.y1 + band);
      allow(o.x1 - band, o.y0 - band, o.x1 + band, o.y1 + band);
      const size_t caption_chars = d.at("label").get<std::string>().size() + 5;  // " 0.42"
      const int caption_width = static_cast<int>(std::ceil(32 * font * caption_chars)) + 1;
      allow(o.x0 - band, o.y0 - caption_height - band, o.x0 + caption_width, o.y0 + caption_height + band);
    }
    size_t stray = 0;
    int stray_x = -1, stray_y = -1;
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        if (changed[at(x, y)] && !allowed[at(x, y)] && stray++ == 0) stray_x = x, stray_y = y;
    EXPECT_EQ(stray, 0u) << "pixels changed away from every printed box and caption, the first at (" << stray_x
                         << ", " << stray_y << ")";
    // Each printed box is drawn: along every side of it inside the image, a
    // changed pixel within `band` of the side at (nearly) every position. A
    // pixel the palette colour happens to equal stays unchanged, hence 95%.
    size_t largest = 0;
    for (size_t k = 0; k < outlines.size(); ++k) {
      const Outline& o = outlines[k];
      size_t length = 0, covered = 0;
      auto near = [&](int x, int y, bool vertical) {
        for (int e = -band; e <= band; ++e) {
          const int px = vertical ? x + e : x, py = vertical ? y : y + e;
          if (px >= 0 && px < W && py >= 0 && py < H && changed[at(px, py)]) return true;
        }
        return false;
      };
      for (int y : {o.y0, o.y1})
        if (y >= 0 && y < H)
          for (int x = std::max(o.x0, 0); x <= std::min(o.x1, W - 1); ++x) ++length, covered += near(x, y, false);
      for (int x : {o.x0, o.x1})
        if (x >= 0 && x < W)
          for (int y = std::max(o.y0, 0); y <= std::min(o.y1, H - 1); ++y) ++length, covered += near(x, y, true);
      ASSERT_GT(length, 0u) << "box " << k << " lies outside the image: " << dets[k].dump();
      EXPECT_GE(covered, length * 95 / 100) << "box " << k << " " << dets[k].at("box").dump() << ": " << covered
                                           << " of its " << length << " outline positions drawn";
      largest = std::max(largest, length);
    }
    // Boxes overlap, so their outlines share pixels; at least the largest
    // box's perimeter changed.
    EXPECT_GE(changed_count, largest) << dets.size() << " detections";
  }
}

TEST_F(CliDetect, BadFilesGetOneErrorLineEachAndTheRestAreDetected) {
  const std::string text_file = (scratch_.path() / "x.png").string();
  write_text(text_file, "not an image");
  const CliRun run = run_cli(detect({"--json", images_[0], text_file, images_[1]}), scratch_.path());
  EXPECT_EQ(run.exit_code, 1);
  ASSERT_EQ(run.out_lines().size(), 2u) << run.out;
  ASSERT_EQ(run.err_lines().size(), 1u) << run.err;
  EXPECT_TRUE(starts_with(run.err_lines()[0], "visionrt: " + text_file + ": ")) << run.err;
}

TEST_F(CliDetect, ClassifierFolderIsRefusedWithOneLine) {
  const CliRun run = run_cli({"detect", "--model", kDemoModel.string(), images_[0]}, scratch_.path());
  EXPECT_EQ(run.exit_code, 1);
  ASSERT_EQ(run.err_lines().size(), 1u) << run.err;
  EXPECT_NE(run.err.find("DetrForObjectDetection"), std::string::npos) << run.err;
}

}  // namespace

namespace visionrt {
namespace {

TEST(CliBench, TimesTheModelOnceForEachBatchSize) {
  ScratchDir scratch;
  const CliRun run = run_cli({"bench", "--model", kDemoModel.string(), "--device", "cpu", "--batch", "1,3",
                              "--iterations", "2", "--warmup", "1", "--json"},
                             scratch.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> lines = run.out_lines();
  ASSERT_EQ(lines.size(), 2u) << run.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const json j = json::parse(lines[i]);
    EXPECT_EQ(j.at("batch").get<int>(), i == 0 ? 1 : 3);
    EXPECT_EQ(j.at("device").get<std::string>(), "cpu");
    EXPECT_GT(j.at("images_per_s").get<double>(), 0);
    EXPECT_GT(j.at("gflop_per_pass").get<double>(), 0);
    EXPECT_GT(j.at("latency_ms").at("p50").get<double>(), 0);
  }
}

// A real-time DETR is timed at its processor's fixed size when no --size is
// given (D-FINE's fixture: 448x448), not at DETR's 800x1066, which its
// encoder cannot take.
TEST(CliBench, RealTimeDetrsRunAtTheirProcessorsSize) {
  ScratchDir scratch;
  const CliRun run = run_cli({"bench", "--model", (kSourceDir / "tests/fixtures/dfine/hgnetv2_b0_narrow").string(),
                              "--device", "cpu", "--iterations", "1", "--warmup", "0", "--json"},
                             scratch.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json j = json::parse(run.out_lines().at(0));
  EXPECT_EQ(j.at("height").get<int>(), 448) << run.out;
  EXPECT_EQ(j.at("width").get<int>(), 448) << run.out;
}

// A classifier refused for its precision is not reported as a detector
// refused for its architecture: both reasons are said.
TEST(CliBench, SaysWhyTheModelWasRefusedAsEitherKind) {
  ScratchDir scratch;
  const CliRun run =
      run_cli({"bench", "--model", kDemoModel.string(), "--device", "cpu", "--precision", "fp16"}, scratch.path());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(run.out.empty()) << run.out;
  EXPECT_NE(run.err.find("as a classifier: fp16 runs on GPUs only"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("as a detector: "), std::string::npos) << run.err;
  EXPECT_EQ(run.err_lines().size(), 1u) << run.err;
}

// --end-to-end times decode, preprocess, forward and post-process on the
// files, and the overlapped pipeline; decoding needs the image front end.
TEST(CliBench, EndToEndTimesEachStageOnImageFiles) {
  ScratchDir scratch;
  const CliRun run = run_cli({"bench", "--model", kDemoModel.string(), "--device", "cpu", "--end-to-end", "--batch",
                              "4", "--iterations", "3", "--warmup", "1", "--json", kDemoImages.string()},
                             scratch.path());
  if (!has_image_io()) {
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_NE(run.err.find("without OpenCV"), std::string::npos) << run.err;
    return;
  }
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json j = json::parse(run.out_lines().at(0));
  EXPECT_EQ(j.at("batch").get<int>(), 4);
  EXPECT_GT(j.at("per_image_ms").at("decode").get<double>(), 0);
  EXPECT_GT(j.at("per_image_ms").at("preprocess").get<double>(), 0);
  EXPECT_GT(j.at("forward_ms_per_batch").get<double>(), 0);
  EXPECT_GT(j.at("pipeline_images_per_s").get<double>(), 0);
  EXPECT_GT(j.at("model_images_per_s").get<double>(), 0);
  const CliRun no_files =
      run_cli({"bench", "--model", kDemoModel.string(), "--device", "cpu", "--end-to-end"}, scratch.path());
  EXPECT_EQ(no_files.exit_code, 2) << no_files.err;
}

// The float32 array `name` of the front-end fixtures (manifest.json's
// "arrays": a file, an offset and a shape; little-endian, as every
// supported host is).
std::vector<float> frontend_floats(const fs::path& dir, const json& manifest, const std::string& name) {
  const json& entry = manifest.at("arrays").at(name);
  EXPECT_EQ(entry.at("dtype").get<std::string>(), "float32") << name;
  size_t count = 1;
  for (const json& d : entry.at("shape")) count *= d.get<size_t>();
  std::vector<float> values(count);
  std::ifstream in(dir / entry.at("file").get<std::string>(), std::ios::binary);
  in.seekg(entry.at("offset").get<std::streamoff>());
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(count * sizeof(float)));
  EXPECT_TRUE(in) << "cannot read " << name;
  return values;
}

// Classifier::preprocess (of a decoded image) and preprocess_file give
// transformers' pixel_values: ViTImageProcessor's output for the colour
// sample photos (640x427 and 427x640 JPEGs) resized to sizes of their own,
// 224x224 bilinear and 160x128 bicubic, which
// tools/fixtures/make_frontend_fixtures.py wrote to tests/fixtures/frontend/.
// The classifier is the demo checkpoint given each case's processor config
// as its preprocessor_config.json; with interpolate_pos_encoding it prepares
// images to that size rather than the checkpoint's 32x32.
//
// Exact equality, as PreprocessTest.PixelValuesMatchProcessorsOnSamplePhotos
// requires of the same photos: the decode is identical to Pillow's (the same
// libjpeg IDCT and upsampling, measured), the resize is Pillow's bit-exact
// fixed-point arithmetic, and the rescale and normalisation are the same
// float32 operations in the same order. A half-pixel slip in the resize or
// swapped channels moves values by whole levels (~0.008 and more).
TEST(ClassifierApi, PreprocessGivesTransformersPixelValues) {
  if (!has_image_io()) GTEST_SKIP() << "built without the image front end (OpenCV)";
  const fs::path frontend = kSourceDir / "tests" / "fixtures" / "frontend";
  const json manifest = json::parse(read_text(frontend / "manifest.json"));
  ScratchDir scratch;
  const fs::path model = scratch.path() / "vit-digits";
  fs::create_directories(model);
  for (const char* file : {"config.json", "model.safetensors"}) fs::copy_file(kDemoModel / file, model / file);
  Options options;
  options.device = Device::cpu;
  options.interpolate_pos_encoding = true;
  int cases = 0;
  for (const json& c : manifest.at("preprocess_cases")) {
    const std::string image_file = c.at("image");
    const bool vit = c.at("config").at("image_processor_type") == "ViTImageProcessor";
    if (!vit || image_file.find(".jpg") == std::string::npos) continue;
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    ASSERT_EQ(c.at("region").get<std::string>(), "full");
    write_text(model / "preprocessor_config.json", c.at("config").dump());
    const Classifier classifier = Classifier::load(model.string(), options);
    const int height = c.at("output_size")[0], width = c.at("output_size")[1];
    ASSERT_EQ(classifier.info().input_height, height);
    ASSERT_EQ(classifier.info().input_width, width);
    const std::string path = (frontend / image_file).string();
    const Image image = load_image(path);
    ASSERT_EQ(image.rgb.size(), static_cast<size_t>(3) * image.width * image.height);
    // A real resize, of a photo in colour.
    EXPECT_NE(image.width * height, image.height * width) << "the aspect ratio changes";
    size_t coloured = 0;
    for (size_t i = 0; i < image.rgb.size(); i += 3) coloured += image.rgb[i] != image.rgb[i + 2];
    EXPECT_GT(coloured, image.rgb.size() / 6) << "most pixels have red and blue apart";
    const std::vector<float> expected = frontend_floats(frontend, manifest, c.at("expected"));
    ASSERT_EQ(expected.size(), static_cast<size_t>(3) * height * width);
    const std::pair<const char*, std::vector<float>> results[] = {
        {"preprocess(load_image(path))", classifier.preprocess(image)},
        {"preprocess_file(path)", classifier.preprocess_file(path)}};
    for (const auto& [what, got] : results) {
      ASSERT_EQ(got.size(), expected.size()) << what;
      size_t differing = 0, first = 0;
      float worst = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        const float diff = std::fabs(got[i] - expected[i]);
        if (diff > 0 && differing++ == 0) first = i;
        worst = std::max(worst, diff);
      }
      EXPECT_EQ(differing, 0u) << what << ": " << differing << " of " << got.size()
                               << " values differ from transformers', by up to " << worst << "; the first at "
                               << first << " (channel " << first / (height * width) << "): " << got[first]
                               << " for " << expected[first];
    }
    ++cases;
  }
  EXPECT_EQ(cases, 4);  // china.jpg and flower.jpg, each at 224x224 bilinear and 160x128 bicubic
}

}  // namespace
}  // namespace visionrt

#endif  // VISIONRT_CLI_PATH
