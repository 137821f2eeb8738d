// The config.json and preprocessor_config.json readers on arbitrary bytes,
// parsed as ModelFolder parses them. Each reader runs on its own, so that
// one refusing does not hide another's failure. visionrt::Error is the
// expected refusal; any other exception escapes and libFuzzer reports it.
#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/json_text.hpp"
#include "io/model_folder.hpp"
#include "io/preprocess.hpp"
#include "models/detr.hpp"
#include "models/vit.hpp"
#include "visionrt/status.hpp"

namespace {

template <typename Read>
void refused_or_read(Read&& read) {
  try {
    read();
  } catch (const visionrt::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace visionrt;
  const char* text = reinterpret_cast<const char*>(data);
  nlohmann::json config;
  try {
    config = io::parse_json_text(text, text + size, "config.json");
  } catch (const Error&) {
    return 0;
  }
  io::describe_json(config);
  refused_or_read([&] { io::architecture(config); });
  refused_or_read([&] { io::config_labels(config); });
  refused_or_read([&] { models::VitConfig::from_json(config); });
  refused_or_read([&] { models::DetrConfig::from_json(config); });
  refused_or_read([&] {
    const io::PreprocessConfig preprocess = io::PreprocessConfig::from_json(config);
    // Output sizes for a tiny, a usual and a long thin image.
    const std::pair<int, int> sizes[] = {{1, 1}, {640, 480}, {65535, 1}};
    for (const auto& size : sizes) {
      int width = 0, height = 0;
      refused_or_read([&] { io::output_size(preprocess, size.first, size.second, &width, &height); });
    }
  });
  // Every typed read on every value the file holds.
  if (config.is_object()) {
    for (const auto& item : config.items()) {
      const char* key = item.key().c_str();
      refused_or_read([&] { io::config_int(config, key); });
      refused_or_read([&] { io::config_int(config, key, 0); });
      refused_or_read([&] { io::config_double(config, key, 0.0); });
      refused_or_read([&] { io::config_bool(config, key, false); });
      refused_or_read([&] { io::config_string(config, key, ""); });
    }
  }
  return 0;
}
