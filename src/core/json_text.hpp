// JSON parsing shared by every reader of JSON files (configs, safetensors
// headers, COCO annotations): nlohmann::json, refusing repeated keys.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace visionrt::io {

// Arrays and objects nested deeper than this are refused while parsing, so
// no later recursive walk (dump(), comparison, a reader) can exhaust the stack.
constexpr int kMaxJsonDepth = 64;

// Parses JSON text; a key repeated in one object is refused as corrupt_file,
// as is malformed text, nesting deeper than kMaxJsonDepth levels and, when
// the text is an object, more than `max_root_keys` keys in it (counted while
// parsing, so an oversized document is refused before it is built).
// `source` names the text in errors, `root_keys_name` what the keys are.
nlohmann::json parse_json_text(const char* begin, const char* end, const std::string& source,
                               size_t max_root_keys = SIZE_MAX, const char* root_keys_name = "keys");

// A short description of a value for error messages: its compact JSON text,
// cut after about 60 characters and 4 levels of nesting (then "..." and the
// value's type), so that a message never serialises unbounded input.
std::string describe_json(const nlohmann::json& value);

}  // namespace visionrt::io
