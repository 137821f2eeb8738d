// A Hugging Face model folder: config.json, preprocessor_config.json and weights.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json_text.hpp"
#include "io/preprocess.hpp"
#include "io/safetensors.hpp"

namespace visionrt::io {

// JSON files (config.json, preprocessor_config.json, a safetensors index)
// larger than this are refused before they are read.
constexpr uint64_t kMaxJsonFileBytes = uint64_t{16} << 20;  // 16 MiB

// config_labels refuses more labels than this (num_labels or id2label).
constexpr int kMaxLabels = 1'000'000;

// Parses a JSON file. Throws not_found / io_error / corrupt_file naming the
// file; anything but a regular file is refused (io_error) before it is
// opened, as is a file over kMaxJsonFileBytes (corrupt_file); duplicate keys
// in an object and nesting deeper than kMaxJsonDepth are refused as corrupt.
nlohmann::json read_json_file(const std::string& path);

struct ModelFolder {
  std::string dir;
  nlohmann::json config;   // config.json
  PreprocessConfig preprocess;  // preprocessor_config.json (defaults when absent)
  WeightStore weights;

  // Throws not_found when `dir` is not a folder or config.json is missing.
  static ModelFolder open(const std::string& dir);
};

// The model class a config.json describes: architectures[0], else timm's
// architecture, else model_type.
std::string architecture(const nlohmann::json& config);

// Label names by class id from config.json: id2label (keys "0".."n-1"), its
// size the label count; without id2label, num_labels (default 2) names
// "LABEL_<id>", as transformers does. A num_labels that disagrees with
// id2label, or an id outside 0..n-1, is corrupt_file.
std::vector<std::string> config_labels(const nlohmann::json& config);

// Typed reads from config.json with errors that name the file and the key.
int config_int(const nlohmann::json& config, const char* key);
int config_int(const nlohmann::json& config, const char* key, int fallback);
double config_double(const nlohmann::json& config, const char* key, double fallback);
bool config_bool(const nlohmann::json& config, const char* key, bool fallback);
std::string config_string(const nlohmann::json& config, const char* key, const std::string& fallback);

}  // namespace visionrt::io
