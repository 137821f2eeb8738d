// Reading the JSON input files of the evaluation code (annotations, results,
// model configs) with errors that name the file and the entry.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace visionrt::eval {

// Checked access to the JSON of one file or text. Every error is
// visionrt::Error with corrupt_file, naming the source and the entry, e.g.
// "ann.json: annotations[3].bbox[2]: expected a number, found string "4"".
class JsonReader {
 public:
  explicit JsonReader(std::string source) : source_(std::move(source)) {}

  // Reads the file named by the source: not_found / io_error when it cannot
  // be read, corrupt_file for malformed JSON or a key repeated in an object.
  nlohmann::json parse_file() const;
  nlohmann::json parse(const std::string& text) const;

  [[noreturn]] void corrupt(const std::string& where, const std::string& what) const;

  // object[key], or an error naming the missing key.
  const nlohmann::json& member(const nlohmann::json& object, const std::string& where,
                               const char* key) const;
  const nlohmann::json& array_member(const nlohmann::json& object, const std::string& where,
                                     const char* key) const;
  // A whole number; integral floats such as 3.0 count, as some JSON writers
  // produce them.
  int64_t integer(const nlohmann::json& value, const std::string& where) const;
  double number(const nlohmann::json& value, const std::string& where) const;  // finite
  std::string string(const nlohmann::json& value, const std::string& where) const;

  // The value's type and (shortened) text, for messages.
  static std::string describe(const nlohmann::json& value);
  // "where.key" and "array[index]", the entry paths of messages.
  static std::string join(const std::string& where, const char* key);
  static std::string item(const char* array, size_t index);

 private:
  std::string source_;
};

}  // namespace visionrt::eval
