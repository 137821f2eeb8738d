#include "eval/json_reader.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.hpp"
#include "core/json_text.hpp"

namespace visionrt::eval {

using json = nlohmann::json;

json JsonReader::parse_file() const {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(source_, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    fail(StatusCode::not_found, source_, ": no such file");
  if (ec) fail(StatusCode::io_error, source_, ": ", ec.message());
  if (std::filesystem::is_directory(status))
    fail(StatusCode::io_error, source_, ": is a folder, not a JSON file");
  std::ifstream in(source_, std::ios::binary);
  if (!in) fail(StatusCode::io_error, source_, ": cannot open: ", std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(StatusCode::io_error, source_, ": read error");
  return parse(text.str());
}

json JsonReader::parse(const std::string& text) const {
  return io::parse_json_text(text.data(), text.data() + text.size(), source_);
}

void JsonReader::corrupt(const std::string& where, const std::string& what) const {
  fail(StatusCode::corrupt_file, source_, ": ", where.empty() ? "" : where + ": ", what);
}

const json& JsonReader::member(const json& object, const std::string& where,
                               const char* key) const {
  auto it = object.find(key);
  if (it == object.end()) corrupt(where, std::string("missing key \"") + key + "\"");
  return *it;
}

const json& JsonReader::array_member(const json& object, const std::string& where,
                                     const char* key) const {
  const json& value = member(object, where, key);
  if (!value.is_array()) corrupt(join(where, key), "expected an array, found " + describe(value));
  return value;
}

int64_t JsonReader::integer(const json& value, const std::string& where) const {
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      corrupt(where, "integer too large");
    return value.get<int64_t>();
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9e15)
      return static_cast<int64_t>(d);
  }
  corrupt(where, "expected a whole number, found " + describe(value));
}

double JsonReader::number(const json& value, const std::string& where) const {
  if (!value.is_number()) corrupt(where, "expected a number, found " + describe(value));
  const double d = value.get<double>();
  if (!std::isfinite(d)) corrupt(where, "expected a finite number");
  return d;
}

std::string JsonReader::string(const json& value, const std::string& where) const {
  if (!value.is_string()) corrupt(where, "expected a string, found " + describe(value));
  return value.get<std::string>();
}

std::string JsonReader::describe(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(value.type_name()) + " " + text;
}

std::string JsonReader::join(const std::string& where, const char* key) {
  return where.empty() ? std::string(key) : where + "." + key;
}

std::string JsonReader::item(const char* array, size_t index) {
  return std::string(array) + "[" + std::to_string(index) + "]";
}

}  // namespace visionrt::eval
