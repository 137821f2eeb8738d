// Checked reads of the numbers in a model's config.json and of which
// checkpoint tensors a model uses, shared by the model loaders.
#pragma once
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/epilogue.hpp"

#include "io/model_folder.hpp"

namespace visionrt::models {

// The value of `key` in `object` (config.json, or an object inside it that
// `where` names, e.g. "backbone_config"), or `fallback` when absent or null.
// It must be a JSON integer from `lo` to `hi`; anything else (a string, a
// fraction, 1e300, a negative or absurd value) throws corrupt_file:
//   config.json: key 'image_size' must be an integer from 1 to 16384, got 4294967328
int config_int_in(const nlohmann::json& object, const std::string& where, const char* key, int fallback,
                  int lo, int hi);

// The same for a list of exactly `count` integers.
std::vector<int> config_ints_in(const nlohmann::json& object, const std::string& where, const char* key,
                                const std::vector<int>& fallback, size_t count, int lo, int hi);

// A finite double greater than zero (e.g. layer_norm_eps); throws corrupt_file otherwise.
double config_positive_double(const nlohmann::json& object, const char* key, double fallback);

// A number above `lo` and at most `hi` (a temperature, a width factor);
// throws corrupt_file otherwise.
double config_number_in(const nlohmann::json& object, const char* key, double fallback, double lo, double hi);

// config.json with transformers' attribute_map of the DETR family applied:
// `hidden_size` read as d_model and `num_attention_heads` as
// encoder_attention_heads. Both names with different values are ambiguous
// and throw corrupt_file.
nlohmann::json with_d_model_aliases(const nlohmann::json& config);

// Checks num_labels (when given) against io::kMaxLabels before io::config_labels
// sizes anything from it, then returns the labels.
std::vector<std::string> checked_labels(const nlohmann::json& config);

// Documented limits of config values.
constexpr int kMaxImageSide = 16384;    // image_size, per side
constexpr int kMaxWidth = 65536;        // hidden_size, d_model, channel widths
constexpr int kMaxFfn = 262144;         // intermediate_size, *_ffn_dim
constexpr int kMaxLayers = 1024;        // layer counts, blocks per ResNet stage
constexpr int kMaxHeads = 4096;         // attention heads
constexpr int kMaxChannels = 1024;      // num_channels (input planes)
constexpr int kMaxQueries = 100000;     // DETR num_queries

// What a model does with a config.json key that transformers reads when it
// builds the architecture. Every such key is listed beside the builder that
// reads the config (vit.cpp, detr.cpp, resnet.cpp):
//   honoured:     read, range-checked and applied by the builder (or by the
//                 Classifier / Detector / evaluation built on it);
//   no_effect:    changes training, initialisation or the output format
//                 only, so inference is the same for any value;
//   default_only: changes the model in a way visionrt does not implement:
//                 refused unless absent or equal to `fixed`, transformers'
//                 default (JSON text).
// Keys transformers does not read (a training script's notes) are ignored,
// as transformers ignores them.
enum class KeyUse { honoured, no_effect, default_only };
struct ConfigKey {
  const char* key;
  KeyUse use;
  const char* fixed = nullptr;  // default_only: the one accepted value
};

// Throws unsupported naming the first default_only key of `keys` that
// `object` (config.json, or the object inside it that `where` names) sets
// to anything but its default, null included.
void refuse_unimplemented_keys(const nlohmann::json& object, const std::string& where,
                               const std::vector<ConfigKey>& keys);

// The string value of `key` (an activation's name, say), or `fallback` when
// absent. Unlike io::config_string, null is refused: transformers looks the
// value up as given, and None names no activation.
std::string config_name(const nlohmann::json& object, const std::string& where, const char* key,
                        const std::string& fallback);

// backbone_config's hidden_act (relu when absent): relu, silu/swish or gelu.
Activation backbone_hidden_act(const nlohmann::json& backbone);

// A backbone_config's output stages, 0-based: out_features ("stage2"...)
// or out_indices (stage_names' positions, 0 being the stem, which is
// refused), as BackboneConfigMixin aligns them; `default_indices` when
// neither is given.
std::vector<int> backbone_output_stages(const nlohmann::json& backbone, int stages,
                                        const std::vector<int>& default_indices);

// Names a model took from its checkpoint. After loading, refuse_unused
// throws corrupt_file when the checkpoint holds tensors the model does not
// use (a config that describes fewer layers than were trained, say), naming
// the first few and the count. Names transformers itself ignores are
// tolerated: BatchNorm num_batches_tracked, and `ignored_prefixes`.
struct UsedWeights {
  std::set<std::string> names;
  void add(const std::string& name) { names.insert(name); }
};

// `hint(name)` may return a config key to suggest for an unused tensor
// (e.g. "num_hidden_layers 2"), or "".
void refuse_unused(const io::ModelFolder& folder, const UsedWeights& used,
                   const std::vector<std::string>& ignored_prefixes,
                   const std::function<std::string(const std::string&)>& hint);

}  // namespace visionrt::models
