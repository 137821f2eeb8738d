// A Hugging Face model folder: config.json, preprocessor_config.json and weights.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "io/preprocess.hpp"
#include "io/safetensors.hpp"

namespace visionrt::io {

// Parses JSON text; duplicate keys in an object are refused as corrupt.
// `source` names the text in errors.
nlohmann::json parse_json_text(const char* begin, const char* end, const std::string& source);

// Parses a JSON file. Throws not_found / io_error / corrupt_file naming the
// file; duplicate keys in an object are refused as corrupt.
nlohmann::json read_json_file(const std::string& path);

struct ModelFolder {
  std::string dir;
  nlohmann::json config;   // config.json
  PreprocessConfig preprocess;  // preprocessor_config.json (defaults when absent)
  WeightStore weights;

  // Throws not_found when `dir` is not a folder or config.json is missing.
  static ModelFolder open(const std::string& dir);
};

// The model class a config.json describes: architectures[0], else model_type.
std::string architecture(const nlohmann::json& config);

// Typed reads from config.json with errors that name the file and the key.
int config_int(const nlohmann::json& config, const char* key);
int config_int(const nlohmann::json& config, const char* key, int fallback);
double config_double(const nlohmann::json& config, const char* key, double fallback);
bool config_bool(const nlohmann::json& config, const char* key, bool fallback);
std::string config_string(const nlohmann::json& config, const char* key, const std::string& fallback);

}  // namespace visionrt::io
