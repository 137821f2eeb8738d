#include "io/json_text.hpp"

#include <set>
#include <vector>

#include "core/error.hpp"

namespace visionrt::io {

using json = nlohmann::json;

// nlohmann::json silently keeps the last of repeated keys, so a file that
// sets a key twice would be read differently by different tools; refuse it.
json parse_json_text(const char* begin, const char* end, const std::string& source) {
  std::vector<std::set<std::string>> open_objects;
  auto refuse_duplicate_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second)
        fail(StatusCode::corrupt_file, source, ": the key '", key, "' appears twice in one object");
    }
    return true;
  };
  try {
    return json::parse(begin, end, refuse_duplicate_keys);
  } catch (const json::exception& e) {
    // Syntax errors and numbers out of range ("1e999"). nlohmann's text
    // starts with "[json.exception.parse_error.101] "; the rest says where
    // and what.
    std::string message = e.what();
    if (const size_t end = message.find("] "); message.rfind("[json.", 0) == 0 && end != std::string::npos)
      message = message.substr(end + 2);
    fail(StatusCode::corrupt_file, source, ": not valid JSON: ", message);
  }
}

}  // namespace visionrt::io
