#include "models/config_checks.hpp"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <sstream>
#include <utility>

#include "core/error.hpp"
#include "core/json_text.hpp"

namespace visionrt::models {
namespace {

using json = nlohmann::json;

std::string key_name(const std::string& where, const char* key) {
  return where.empty() ? std::string(key) : where + "." + key;
}

// Null for "use the default", as Hugging Face configs write it.
const json* find_key(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

// Read as int64 first: integers only, in [lo, hi], before any narrowing.
int checked_int(const json& value, const std::string& name, int lo, int hi) {
  bool ok = false;
  int64_t v = 0;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    ok = u <= static_cast<uint64_t>(hi);
    v = static_cast<int64_t>(ok ? u : 0);
  } else if (value.is_number_integer()) {
    v = value.get<int64_t>();
    ok = true;
  }
  if (!ok || v < lo || v > hi)
    fail(StatusCode::corrupt_file, "config.json: key '", name, "' must be an integer from ", lo, " to ", hi,
         ", got ", value.dump());
  return static_cast<int>(v);
}

}  // namespace

int config_int_in(const json& object, const std::string& where, const char* key, int fallback, int lo, int hi) {
  const json* value = find_key(object, key);
  return value ? checked_int(*value, key_name(where, key), lo, hi) : fallback;
}

std::vector<int> config_ints_in(const json& object, const std::string& where, const char* key,
                                const std::vector<int>& fallback, size_t count, int lo, int hi) {
  const json* value = find_key(object, key);
  if (!value) return fallback;
  const std::string name = key_name(where, key);
  if (!value->is_array() || value->size() != count)
    fail(StatusCode::corrupt_file, "config.json: key '", name, "' must be a list of ", count,
         " integers, got ", value->dump());
  std::vector<int> out;
  for (size_t i = 0; i < count; ++i)
    out.push_back(checked_int((*value)[i], name + "[" + std::to_string(i) + "]", lo, hi));
  return out;
}

double config_positive_double(const json& object, const char* key, double fallback) {
  const json* value = find_key(object, key);
  if (!value) return fallback;
  if (!value->is_number() || !std::isfinite(value->get<double>()) || !(value->get<double>() > 0) ||
      value->get<double>() > 1.0)
    fail(StatusCode::corrupt_file, "config.json: key '", key, "' must be a number above 0 and at most 1, got ",
         value->dump());
  return value->get<double>();
}

double config_number_in(const json& object, const char* key, double fallback, double lo, double hi) {
  const json* value = find_key(object, key);
  if (!value) return fallback;
  if (!value->is_number() || !std::isfinite(value->get<double>()) || !(value->get<double>() > lo) ||
      value->get<double>() > hi)
    fail(StatusCode::corrupt_file, "config.json: key '", key, "' must be a number above ", lo, " and at most ", hi,
         ", got ", value->dump());
  return value->get<double>();
}

json with_d_model_aliases(const json& config) {
  if (!config.is_object()) return config;
  json c = config;
  for (const auto& [alias, key] : {std::pair<const char*, const char*>{"hidden_size", "d_model"},
                                   {"num_attention_heads", "encoder_attention_heads"}}) {
    const auto it = config.find(alias);
    if (it == config.end()) continue;
    const auto named = config.find(key);
    if (named != config.end() && *named != *it)
      fail(StatusCode::corrupt_file, "config.json: '", alias, "' (", io::describe_json(*it), ") and '", key, "' (",
           io::describe_json(*named), ") name the same setting with different values");
    c[key] = *it;
    c.erase(alias);
  }
  return c;
}

void refuse_unimplemented_keys(const json& object, const std::string& where, const std::vector<ConfigKey>& keys) {
  if (!object.is_object()) return;
  for (const ConfigKey& k : keys) {
    if (k.use != KeyUse::default_only) continue;
    const auto it = object.find(k.key);
    if (it == object.end() || *it == json::parse(k.fixed)) continue;
    fail(StatusCode::unsupported, "config.json: key '", key_name(where, k.key), "' is ", io::describe_json(*it),
         "; visionrt implements only ", k.fixed, ", and transformers would build a different model");
  }
}

std::string config_name(const json& object, const std::string& where, const char* key, const std::string& fallback) {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_string())
    fail(StatusCode::corrupt_file, "config.json: key '", key_name(where, key), "' must be a string, got ",
         io::describe_json(*it));
  return it->get<std::string>();
}

std::vector<std::string> checked_labels(const json& config) {
  config_int_in(config, "", "num_labels", 0, 1, io::kMaxLabels);
  return io::config_labels(config);
}

void refuse_unused(const io::ModelFolder& folder, const UsedWeights& used,
                   const std::vector<std::string>& ignored_prefixes,
                   const std::function<std::string(const std::string&)>& hint) {
  auto tolerated = [&](const std::string& name) {
    static const std::string kTracked = ".num_batches_tracked";
    if (name.size() >= kTracked.size() && name.compare(name.size() - kTracked.size(), kTracked.size(), kTracked) == 0)
      return true;
    for (const std::string& p : ignored_prefixes)
      if (name.rfind(p, 0) == 0) return true;
    return false;
  };
  std::vector<std::string> unused;
  for (const std::string& name : folder.weights.names())
    if (!used.names.count(name) && !tolerated(name)) unused.push_back(name);
  if (unused.empty()) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path single = fs::path(folder.dir) / "model.safetensors";
  const std::string file =
      fs::exists(single, ec) ? single.string() : (fs::path(folder.dir) / "model.safetensors.index.json").string();
  std::string why;
  for (const std::string& name : unused)
    if (!(why = hint(name)).empty()) break;
  std::ostringstream list;
  for (size_t i = 0; i < unused.size() && i < 3; ++i) list << (i ? ", " : "") << unused[i];
  if (unused.size() > 3) list << ", ...";
  fail(StatusCode::corrupt_file, file, " holds ", unused.size(), unused.size() == 1 ? " tensor" : " tensors",
       " the config does not use", why.empty() ? "" : " (" + why + "?)", ": ", list.str());
}

Activation backbone_hidden_act(const nlohmann::json& bb) {
  const std::string act = config_name(bb, "backbone_config", "hidden_act", "relu");
  if (act == "relu") return Activation::relu;
  if (act == "silu" || act == "swish") return Activation::silu;
  if (act == "gelu") return Activation::gelu_erf;
  fail(StatusCode::unsupported, "config.json: key 'backbone_config.hidden_act' is '", act,
       "' (supported: relu, silu, gelu)");
}

std::vector<int> backbone_output_stages(const nlohmann::json& bb, int stages, const std::vector<int>& default_indices) {
  std::vector<int> out;
  const auto features = bb.find("out_features");
  if (features != bb.end() && !features->is_null()) {
    if (!features->is_array()) fail(StatusCode::corrupt_file, "config.json: 'backbone_config.out_features' must be a list");
    for (const auto& f : *features) {
      const std::string name = f.is_string() ? f.get<std::string>() : "";
      const int k = name.size() == 6 && name.rfind("stage", 0) == 0 ? name[5] - '0' : 0;
      if (k < 1 || k > stages)
        fail(StatusCode::unsupported, "config.json: 'backbone_config.out_features' names ", io::describe_json(f),
             " (supported: stage1 to stage", stages, ")");
      out.push_back(k - 1);
    }
  } else {
    const auto it = bb.find("out_indices");
    const size_t count = it != bb.end() && it->is_array() ? it->size() : default_indices.size();
    for (int i : config_ints_in(bb, "backbone_config", "out_indices", default_indices, count, 1, stages))
      out.push_back(i - 1);
  }
  for (size_t i = 1; i < out.size(); ++i)
    if (out[i] <= out[i - 1])
      fail(StatusCode::corrupt_file, "config.json: the backbone's output stages must be in increasing order");
  if (out.empty()) fail(StatusCode::corrupt_file, "config.json: the backbone has no output stage");
  return out;
}

}  // namespace visionrt::models
