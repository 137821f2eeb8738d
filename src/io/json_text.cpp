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
  auto refuse_duplicate_keys = [&](int depth, json::parse_event_t event, json& parsed) {
    // `depth` counts the containers around the one starting here.
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      fail(StatusCode::corrupt_file, source, ": JSON nests deeper than ", kMaxJsonDepth, " levels");
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

namespace {

constexpr size_t kDescribeChars = 60;
constexpr int kDescribeDepth = 4;

// Appends compact JSON text for `value` to `out`, stopping once `out` is
// longer than kDescribeChars; returns false when it stopped early.
bool describe_into(const json& value, int depth, std::string& out) {
  if (out.size() > kDescribeChars) return false;
  auto quoted = [&](const std::string& text) {
    // Cut long strings before quoting; a cut UTF-8 sequence is replaced.
    const bool cut = text.size() > kDescribeChars;
    out += json(cut ? text.substr(0, kDescribeChars) : text).dump(-1, ' ', false, json::error_handler_t::replace);
    return !cut && out.size() <= kDescribeChars;
  };
  switch (value.type()) {
    case json::value_t::string: return quoted(value.get_ref<const std::string&>());
    case json::value_t::array:
    case json::value_t::object: {
      const bool is_array = value.is_array();
      if (value.empty()) {
        out += is_array ? "[]" : "{}";
        return true;
      }
      if (depth >= kDescribeDepth) return false;
      out += is_array ? '[' : '{';
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out += ',';
        first = false;
        if (!is_array) {
          if (!quoted(it.key())) return false;
          out += ':';
        }
        if (!describe_into(*it, depth + 1, out) || out.size() > kDescribeChars) return false;
      }
      out += is_array ? ']' : '}';
      return out.size() <= kDescribeChars;
    }
    case json::value_t::binary: out += "<binary>"; return true;
    case json::value_t::discarded: out += "<discarded>"; return true;
    default: out += value.dump(); return out.size() <= kDescribeChars;  // null, bool, number
  }
}

}  // namespace

std::string describe_json(const json& value) {
  std::string out;
  if (describe_into(value, 0, out)) return out;
  if (out.size() > kDescribeChars) {
    size_t keep = kDescribeChars;  // not inside a UTF-8 sequence
    while (keep > 0 && (static_cast<unsigned char>(out[keep]) & 0xC0) == 0x80) --keep;
    out.resize(keep);
  }
  std::string type = value.type_name();
  if (value.is_array() || value.is_object()) type += str_cat(" of ", value.size(), value.is_array() ? " element" : " key",
                    value.size() == 1 ? "" : "s");
  return str_cat(out, "... (", type, ")");
}

}  // namespace visionrt::io
