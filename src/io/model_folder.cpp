#include "io/model_folder.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>
#include <vector>

#include "core/error.hpp"
#include "core/json_text.hpp"

namespace visionrt::io {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The value of `key`, or null when the config lacks it or sets it to null
// (Hugging Face configs write null for "use the default").
const json* find_key(const json& config, const char* key) {
  if (!config.is_object()) return nullptr;
  const auto it = config.find(key);
  return it == config.end() || it->is_null() ? nullptr : &*it;
}

int as_int(const json& value, const char* key) {
  if (!value.is_number_integer())
    fail(StatusCode::corrupt_file, "config.json: key '", key, "' must be an integer");
  const bool in_range = value.is_number_unsigned()
                            ? value.get<uint64_t>() <= static_cast<uint64_t>(INT_MAX)
                            : value.get<int64_t>() >= INT_MIN && value.get<int64_t>() <= INT_MAX;
  if (!in_range)
    fail(StatusCode::corrupt_file, "config.json: key '", key, "' = ", describe_json(value),
         " is out of range for an integer");
  return value.get<int>();
}

}  // namespace

json read_json_file(const std::string& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (status.type() == fs::file_type::not_found)
    fail(StatusCode::not_found, path, ": file does not exist");
  if (error) fail(StatusCode::io_error, path, ": ", error.message());
  if (fs::is_directory(status)) fail(StatusCode::io_error, path, ": is a folder, not a file");
  // Checked before opening: opening a FIFO for reading would wait for a writer.
  if (!fs::is_regular_file(status)) fail(StatusCode::io_error, path, ": not a regular file");
  auto check_size = [&](uint64_t size) {
    if (size > kMaxJsonFileBytes)
      fail(StatusCode::corrupt_file, path, ": file is ", size, " bytes, over the limit of ", kMaxJsonFileBytes,
           " bytes for a JSON file");
  };
  // O_NONBLOCK, and the checks again on what was opened, in case the file
  // was replaced between the checks and the open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(StatusCode::io_error, path, ": cannot open for reading: ", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) fail(StatusCode::io_error, path, ": cannot stat: ", std::strerror(errno));
  if (!S_ISREG(info.st_mode)) fail(StatusCode::io_error, path, ": not a regular file");
  check_size(static_cast<uint64_t>(info.st_size));
  // Read at most one byte over the limit, should the file grow meanwhile.
  std::string text(static_cast<size_t>(info.st_size) + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, &text[got], text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(StatusCode::io_error, path, ": read failed: ", std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  check_size(got);
  return parse_json_text(text.data(), text.data() + got, path);
}

ModelFolder ModelFolder::open(const std::string& dir) {
  std::error_code error;
  const fs::file_status status = fs::status(dir, error);
  if (status.type() == fs::file_type::not_found)
    fail(StatusCode::not_found, "model folder '", dir, "' does not exist");
  if (error) fail(StatusCode::io_error, "model folder '", dir, "': ", error.message());
  if (!fs::is_directory(status)) fail(StatusCode::not_found, "model folder '", dir, "' is not a folder");

  ModelFolder folder;
  folder.dir = dir;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path, error))
    fail(StatusCode::not_found, "model folder '", dir, "' has no config.json");
  folder.config = read_json_file(config_path);
  if (!folder.config.is_object())
    fail(StatusCode::corrupt_file, config_path, ": must hold a JSON object");

  const std::string preprocess_path = (fs::path(dir) / "preprocessor_config.json").string();
  if (fs::exists(preprocess_path, error)) {
    const json preprocess = read_json_file(preprocess_path);
    if (!preprocess.is_object())
      fail(StatusCode::corrupt_file, preprocess_path, ": must hold a JSON object");
    try {
      folder.preprocess = PreprocessConfig::from_json(preprocess);
    } catch (const Error& e) {
      // The reader names the file but not its folder: the full path replaces its name.
      std::string what = e.what();
      const std::string name = "preprocessor_config.json: ";
      if (what.compare(0, name.size(), name) == 0) what.erase(0, name.size());
      fail(e.code(), preprocess_path, ": ", what);
    }
  } else if (const auto pc = folder.config.find("pretrained_cfg");
             pc != folder.config.end() && folder.config.contains("architecture")) {
    // A timm checkpoint: its preprocessing is config.json's pretrained_cfg.
    try {
      folder.preprocess = PreprocessConfig::from_timm(*pc);
    } catch (const Error& e) {
      std::string what = e.what();
      const std::string name = "preprocessor_config.json: ";
      if (what.compare(0, name.size(), name) == 0) what.erase(0, name.size());
      fail(e.code(), config_path, ": ", what);
    }
  }
  folder.weights = WeightStore::open_folder(dir);
  return folder;
}

int config_int(const nlohmann::json& config, const char* key) {
  const json* value = find_key(config, key);
  if (!value) fail(StatusCode::corrupt_file, "config.json: required key '", key, "' is missing");
  return as_int(*value, key);
}

int config_int(const nlohmann::json& config, const char* key, int fallback) {
  const json* value = find_key(config, key);
  return value ? as_int(*value, key) : fallback;
}

double config_double(const nlohmann::json& config, const char* key, double fallback) {
  const json* value = find_key(config, key);
  if (!value) return fallback;
  if (!value->is_number())
    fail(StatusCode::corrupt_file, "config.json: key '", key, "' must be a number");
  return value->get<double>();
}

bool config_bool(const nlohmann::json& config, const char* key, bool fallback) {
  const json* value = find_key(config, key);
  if (!value) return fallback;
  if (!value->is_boolean())
    fail(StatusCode::corrupt_file, "config.json: key '", key, "' must be true or false");
  return value->get<bool>();
}

std::string config_string(const nlohmann::json& config, const char* key,
                          const std::string& fallback) {
  const json* value = find_key(config, key);
  if (!value) return fallback;
  if (!value->is_string())
    fail(StatusCode::corrupt_file, "config.json: key '", key, "' must be a string");
  return value->get<std::string>();
}

std::string architecture(const nlohmann::json& config) {
  const auto it = config.find("architectures");
  if (it != config.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    return (*it)[0].get<std::string>();
  // timm's hub configs name their model in "architecture".
  const auto timm = config.find("architecture");
  if (!config.contains("model_type") && timm != config.end() && timm->is_string()) return timm->get<std::string>();
  return config_string(config, "model_type", "");
}

std::vector<std::string> config_labels(const nlohmann::json& config) {
  const json* map = find_key(config, "id2label");
  if (map && !map->is_object()) fail(StatusCode::corrupt_file, "config.json: id2label must be an object");
  const int given = config_int(config, "num_labels", -1);
  if (given > kMaxLabels)
    fail(StatusCode::corrupt_file, "config.json: num_labels (", given, ") is over the limit of ", kMaxLabels,
         " labels");
  if (map && map->size() > static_cast<size_t>(kMaxLabels))
    fail(StatusCode::corrupt_file, "config.json: id2label names ", map->size(), " labels, over the limit of ",
         kMaxLabels);
  const int n = map ? static_cast<int>(map->size()) : (given >= 0 ? given : 2);
  if (map && given >= 0 && given != n)
    fail(StatusCode::corrupt_file, "config.json: num_labels (", given, ") disagrees with id2label (", n, " names)");
  if (n <= 0) fail(StatusCode::corrupt_file, "config.json: the model needs at least one label");
  std::vector<std::string> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = "LABEL_" + std::to_string(i);
  if (!map) return labels;
  std::vector<bool> seen(n, false);
  for (const auto& [key, name] : map->items()) {
    // Decimal digits only (no sign, space or overflow), at most n - 1.
    long id = key.empty() || key.size() > 9 ? -1 : 0;
    for (const char c : key) {
      if (c < '0' || c > '9') {
        id = -1;
        break;
      }
      if (id >= 0) id = id * 10 + (c - '0');
    }
    if (id < 0 || id >= n || seen[id] || !name.is_string())
      fail(StatusCode::corrupt_file, "config.json: id2label must name each id 0..", n - 1,
           " once with a string; found ", describe_json(json(key)));
    seen[id] = true;
    labels[id] = name.get<std::string>();
  }
  return labels;
}

}  // namespace visionrt::io
