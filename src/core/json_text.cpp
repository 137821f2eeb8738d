#include "core/json_text.hpp"

#include <utility>
#include <vector>

#include "core/error.hpp"

namespace visionrt::io {

using json = nlohmann::json;

namespace {

// nlohmann::json silently keeps the last of repeated keys, so a file that
// sets a key twice would be read differently by different tools; refuse it.
// The document is built by this SAX handler rather than by json::parse with
// a callback: the callback parser scans the whole parent object each time a
// nested object ends, quadratic in the number of keys (a safetensors header
// of 300,000 entries took minutes). Repeated keys are found in the object
// being built, at no extra cost.
class StrictDomBuilder {
 public:
  StrictDomBuilder(const std::string& source, size_t max_root_keys, const char* root_keys_name)
      : source_(source), max_root_keys_(max_root_keys), root_keys_name_(root_keys_name) {}
  json take() { return std::move(root_); }

  bool null() { return put(nullptr); }
  bool boolean(bool v) { return put(v); }
  bool number_integer(json::number_integer_t v) { return put(v); }
  bool number_unsigned(json::number_unsigned_t v) { return put(v); }
  bool number_float(json::number_float_t v, const std::string&) { return put(v); }
  bool string(std::string& v) { return put(std::move(v)); }
  bool binary(json::binary_t& v) { return put(std::move(v)); }

  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& key) {
    auto& object = open_.back()->get_ref<json::object_t&>();
    if (open_.size() == 1 && object.size() >= max_root_keys_)
      fail(StatusCode::corrupt_file, source_, ": more than ", max_root_keys_, " ", root_keys_name_, " (the limit)");
    auto [it, added] = object.try_emplace(key);
    if (!added) fail(StatusCode::corrupt_file, source_, ": the key '", key, "' appears twice in one object");
    slot_ = &it->second;
    return true;
  }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& e) {
    throw e;
  }

 private:
  // Where the next value goes: the root, the end of the open array, or the
  // object member whose key was read last.
  json* place() {
    if (open_.empty()) return &root_;
    if (open_.back()->is_array()) {
      auto& array = open_.back()->get_ref<json::array_t&>();
      array.emplace_back();
      return &array.back();
    }
    return slot_;
  }
  template <class T>
  bool put(T&& value) {
    *place() = json(std::forward<T>(value));
    return true;
  }
  // An array's elements may move as it grows, but not while one of them is
  // open: the array gains no element until that one is closed.
  bool open(json::value_t type) {
    // open_.size() counts the containers around the one starting here.
    if (open_.size() >= static_cast<size_t>(kMaxJsonDepth))
      fail(StatusCode::corrupt_file, source_, ": JSON nests deeper than ", kMaxJsonDepth, " levels");
    json* at = place();
    *at = json(type);
    open_.push_back(at);
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  const std::string& source_;
  const size_t max_root_keys_;
  const char* root_keys_name_;
  json root_;
  std::vector<json*> open_;
  json* slot_ = nullptr;
};

}  // namespace

json parse_json_text(const char* begin, const char* end, const std::string& source, size_t max_root_keys,
                     const char* root_keys_name) {
  try {
    StrictDomBuilder builder(source, max_root_keys, root_keys_name);
    json::sax_parse(begin, end, &builder);
    return builder.take();
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
