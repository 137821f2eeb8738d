// The model builders on a mutated config.json over fixed, valid weights
// (tests/fixtures): a ViT config is loaded over two small ViT checkpoints
// (F32 and BF16), a DETR config over timm-named, transformers-named and
// dilated DETR checkpoints, and what loads runs one forward pass on the CPU.
// visionrt::Error is the expected refusal; any other exception escapes and
// libFuzzer reports it, and -malloc_limit_mb catches a config that makes it
// allocate without bound.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/backend.hpp"
#include "core/json_text.hpp"
#include "io/model_folder.hpp"
#include "models/detr.hpp"
#include "models/vit.hpp"
#include "runtime/executor.hpp"
#include "visionrt/status.hpp"

namespace {

using namespace visionrt;

// A fixture's folder as ModelFolder::open reads it, weights mapped once.
io::ModelFolder fixture(const std::string& name) {
  return io::ModelFolder::open(std::string(VISIONRT_SOURCE_DIR) + "/tests/fixtures/" + name);
}

// Runs the graph once with every input (pixels, and DETR's pixel mask) all ones.
void forward(const graph::Graph& g) {
  static const std::shared_ptr<Backend> cpu = make_cpu_backend(1);
  std::vector<Tensor> inputs, outputs;
  for (int id : g.inputs()) {
    inputs.push_back(Tensor::empty(g.value(id).dtype, g.value(id).shape));
    float* values = inputs.back().f32();
    std::fill(values, values + inputs.back().numel(), 1.f);
  }
  for (int id : g.outputs()) outputs.push_back(Tensor::empty(g.value(id).dtype, g.value(id).shape));
  graph::Executor(g, cpu).run(inputs, outputs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static io::ModelFolder vit[] = {fixture("vit/p8_gelu_new"), fixture("vit/p8_bf16")};
  static io::ModelFolder detr[] = {fixture("detr/r18_timm"), fixture("detr/r18_hf"), fixture("detr/dc5")};
  const char* text = reinterpret_cast<const char*>(data);
  try {
    // As ModelFolder::open reads config.json, and the Classifier and
    // Detector pick their model.
    const nlohmann::json config = io::parse_json_text(text, text + size, "config.json");
    if (!config.is_object()) return 0;
    const std::string arch = io::architecture(config);
    // Each checkpoint on its own: one refusing does not hide another's failure.
    auto each = [&](auto& folders, auto&& load_and_run) {
      for (io::ModelFolder& folder : folders) {
        folder.config = config;
        try {
          load_and_run(folder);
        } catch (const Error&) {
        }
      }
    };
    if (arch == "ViTForImageClassification") {
      each(vit, [](const io::ModelFolder& folder) {
        const models::VitModel model = models::VitModel::load(folder);
        forward(model.build(1, model.config().image_height, model.config().image_width, false));
      });
    } else if (arch == "DetrForObjectDetection") {
      // The backbone's smallest input, in one direction: a 1x2 feature map.
      each(detr, [](const io::ModelFolder& folder) { forward(models::DetrModel::load(folder).build(1, 32, 64)); });
    }
  } catch (const Error&) {
  }
  return 0;
}
