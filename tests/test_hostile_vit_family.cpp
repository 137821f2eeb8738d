// Hostile ViT-family folders: timm model_args and architectures visionrt
// does not build, DINOv2 and DeiT configs that disagree with their
// checkpoints, tensors the config does not use. Each is refused with one
// error naming the key, the architecture or the tensor; keys without effect
// still load.
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scratch_dir.hpp"
#include "visionrt/visionrt.hpp"

namespace {

using visionrt::ScratchDir;
using visionrt::StatusCode;
namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures" / "vitfam";

std::string edited_copy(const ScratchDir& scratch, const std::string& fixture, const std::function<void(json&)>& edit) {
  const fs::path dir = scratch.path() / "model";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kFixtures / fixture)) fs::copy(e.path(), dir / e.path().filename());
  json config = json::parse(std::ifstream(dir / "config.json"));
  edit(config);
  std::ofstream(dir / "config.json") << config.dump(2);
  return dir.string();
}

visionrt::Error load_error(const std::string& dir) {
  try {
    visionrt::Classifier::load(dir, {visionrt::Device::cpu});
  } catch (const visionrt::Error& e) {
    return e;
  }
  ADD_FAILURE() << "loading " << dir << " succeeded";
  return visionrt::Error(StatusCode::ok, "");
}

struct Case {
  std::string fixture;
  std::function<void(json&)> edit;
  StatusCode code;
  std::string message;
};

TEST(HostileVitFamily, ConfigsVisionrtCannotRunAreRefusedByName) {
  const std::vector<Case> cases = {
      {"timm_vit_small_narrow", [](json& c) { c["model_args"]["qk_norm"] = true; }, StatusCode::unsupported,
       "key 'model_args.qk_norm' is true"},
      {"timm_vit_small_narrow", [](json& c) { c["model_args"]["global_pool"] = "map"; }, StatusCode::unsupported,
       "model_args.global_pool 'map' is not supported"},
      {"timm_vit_small_narrow", [](json& c) { c["model_args"]["act_layer"] = "gelu_tanh"; },
       StatusCode::unsupported, "key 'model_args.act_layer'"},
      {"timm_vit_small_narrow", [](json& c) { c["architecture"] = "vit_so400m_patch14_siglip_224"; },
       StatusCode::unsupported, "timm architecture 'vit_so400m_patch14_siglip_224' is not supported"},
      {"timm_vit_small_narrow", [](json& c) { c["model_args"] = "token"; }, StatusCode::corrupt_file,
       "key 'model_args' must be an object"},
      {"timm_vit_small_narrow", [](json& c) { c["model_args"]["num_heads"] = 3; }, StatusCode::corrupt_file,
       "not a multiple of num_heads"},
      // A checkpoint with layer scale read as one without: its gammas are unused.
      {"timm_vit_reg4_dinov2_narrow", [](json& c) { c["model_args"]["init_values"] = nullptr; },
       StatusCode::corrupt_file, "ls1.gamma"},
      {"dinov2_narrow", [](json& c) { c["pruned_heads"] = {{"0", {1}}}; }, StatusCode::unsupported,
       "key 'pruned_heads'"},
      {"dinov2_narrow", [](json& c) { c["use_swiglu_ffn"] = true; }, StatusCode::not_found, "mlp.gate_proj.weight"},
      {"dinov2_reg_narrow", [](json& c) { c["num_register_tokens"] = 2; }, StatusCode::shape_mismatch,
       "register_tokens"},
      {"dinov2_narrow", [](json& c) { c["mlp_ratio"] = 1e9; }, StatusCode::corrupt_file, "mlp_ratio"},
      {"timm_vit_small_narrow", [](json& c) { c["model_args"]["embed_dim"] = 65536; c["model_args"]["mlp_ratio"] = 60; },
       StatusCode::corrupt_file, "model_args.mlp_ratio gives a feed-forward width of 3932160"},
      // The teacher's two heads read as the one-head model.
      {"deit_distilled_narrow", [](json& c) { c["architectures"] = {"DeiTForImageClassification"}; },
       StatusCode::not_found, "missing tensor 'classifier.weight'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fixture + ": " + c.message);
    ScratchDir scratch;
    const visionrt::Error e = load_error(edited_copy(scratch, c.fixture, c.edit));
    EXPECT_EQ(e.code(), c.code) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
  }
}

TEST(HostileVitFamily, KeysWithoutEffectStillLoadAndDynamicSizesRun) {
  ScratchDir scratch;
  const auto timm = edited_copy(scratch, "timm_vit_small_narrow", [](json& c) {
    c["model_args"]["drop_path_rate"] = 0.3;
    c["model_args"]["dynamic_img_size"] = true;
    c["label_names"] = {"a", "b", "c", "d", "e"};
  });
  const visionrt::Classifier classifier = visionrt::Classifier::load(timm, {visionrt::Device::cpu});
  EXPECT_EQ(classifier.label_names().at(2), "c");
  // dynamic_img_size: any size runs, the positions resized (timm's antialiased bicubic).
  std::vector<float> px(size_t(3) * 96 * 80);
  for (size_t i = 0; i < px.size(); ++i) px[i] = float(i % 97) / 50.f - 1.f;
  EXPECT_EQ(classifier.logits(px.data(), 1, 96, 80).size(), 5u);
  ScratchDir scratch2;
  const auto dinov2 = edited_copy(scratch2, "dinov2_narrow", [](json& c) {
    c["drop_path_rate"] = 0.2;
    c["layerscale_value"] = 1e-5;
    c["out_features"] = {"stage1"};
  });
  EXPECT_NO_THROW(visionrt::Classifier::load(dinov2, {visionrt::Device::cpu}));
}

TEST(HostileVitFamily, BaseModelsGiveFeaturesNotLabels) {
  const std::string dir = (kFixtures / "dinov2_base_model_narrow").string();
  const visionrt::Error e = load_error(dir);
  EXPECT_EQ(e.code(), StatusCode::unsupported) << e.what();
  EXPECT_NE(std::string(e.what()).find("Dinov2Model"), std::string::npos) << e.what();
  EXPECT_NO_THROW(visionrt::Embedder::load(dir, {visionrt::Device::cpu}));
  // A detector is neither.
  try {
    visionrt::Embedder::load((kFixtures / "yolos_narrow").string(), {visionrt::Device::cpu});
    ADD_FAILURE() << "YOLOS loaded as an embedder";
  } catch (const visionrt::Error& err) {
    EXPECT_EQ(err.code(), StatusCode::unsupported) << err.what();
  }
}

}  // namespace
