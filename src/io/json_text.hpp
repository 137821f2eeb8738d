// JSON parsing shared by every reader of JSON files (configs, safetensors
// headers, COCO annotations): nlohmann::json, refusing repeated keys.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace visionrt::io {

// Parses JSON text; a key repeated in one object is refused as corrupt_file,
// as is malformed text. `source` names the text in errors.
nlohmann::json parse_json_text(const char* begin, const char* end, const std::string& source);

}  // namespace visionrt::io
