// Hostile model folders and image files: out-of-range config numbers,
// checkpoints holding tensors the config does not use, decoder chatter on
// stderr, oversized and non-regular image files. Each is refused with one
// visionrt error naming the file and the key.
#include <algorithm>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/image.hpp"
#include "models/detr.hpp"
#include "models/vit.hpp"
#include "scratch_dir.hpp"
#include "visionrt/visionrt.hpp"

namespace {

using visionrt::ScratchDir;
using visionrt::StatusCode;
namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures";

// A scratch copy of a committed fixture, its config.json edited by `edit`.
std::string hostile_folder(const ScratchDir& scratch, const fs::path& fixture,
                           const std::function<void(json&)>& edit) {
  const fs::path dir = scratch.path() / "model";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(fixture)) fs::copy(e.path(), dir / e.path().filename());
  json config = json::parse(std::ifstream(dir / "config.json"));
  edit(config);
  std::ofstream(dir / "config.json") << config.dump(2);
  return dir.string();
}

template <typename Model>
visionrt::Error load_error(const std::string& dir) {
  try {
    Model::load(dir, {visionrt::Device::cpu});
  } catch (const visionrt::Error& e) {
    return e;
  }
  ADD_FAILURE() << "loading " << dir << " succeeded";
  return visionrt::Error(StatusCode::ok, "");
}

void expect_refused(const visionrt::Error& e, StatusCode code, const std::string& text) {
  EXPECT_EQ(e.code(), code) << e.what();
  EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find("json.exception"), std::string::npos) << e.what();
}

const fs::path kVit = kFixtures / "vit" / "p16_d64";
const fs::path kVit3Layers = kFixtures / "vit" / "p8_gelu_new";
const fs::path kDetrTimm = kFixtures / "detr" / "r18_timm";
const fs::path kDetrHf = kFixtures / "detr" / "r18_hf";

// ---------------------------------------------------------------- 1. numbers

TEST(HostileConfigs, VitImageSizeBeyondIntRangeIsRefusedNotWrapped) {
  ScratchDir scratch;
  // 4294967328 = 2^32 + 32: a bare get<int>() would read 32.
  const auto dir = hostile_folder(scratch, kVit, [](json& c) { c["image_size"] = {4294967328ULL, 4294967328ULL}; });
  expect_refused(load_error<visionrt::Classifier>(dir), StatusCode::corrupt_file,
                 "config.json: key 'image_size[0]' must be an integer from 1 to 16384, got 4294967328");
}

TEST(HostileConfigs, VitNumbersAreRangeChecked) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"image_size", 4294967328ULL}, {"image_size", 100000},     {"patch_size", -16},
      {"hidden_size", "64"},         {"hidden_size", 64.5},      {"num_hidden_layers", 1e300},
      {"num_hidden_layers", 0},      {"num_attention_heads", -1}, {"intermediate_size", 1LL << 40},
      {"num_channels", 0},           {"num_labels", 2000000000}};
  for (const auto& [key, value] : cases) {
    SCOPED_TRACE(key + " = " + value.dump());
    ScratchDir scratch;
    const auto dir = hostile_folder(scratch, kVit, [&](json& c) {
      c[key] = value;
      if (key == "num_labels") c.erase("id2label");
    });
    expect_refused(load_error<visionrt::Classifier>(dir), StatusCode::corrupt_file,
                   "config.json: key '" + key + "' must be an integer from ");
  }
}

TEST(HostileConfigs, VitLayerNormEpsMustBeAFinitePositiveNumber) {
  for (const json& value : {json(0.0), json(-1e-5), json("1e-5"), json(1e300)}) {
    ScratchDir scratch;
    const auto dir = hostile_folder(scratch, kVit, [&](json& c) { c["layer_norm_eps"] = value; });
    expect_refused(load_error<visionrt::Classifier>(dir), StatusCode::corrupt_file, "config.json: key 'layer_norm_eps'");
  }
}

TEST(HostileConfigs, DetrNumbersAreRangeChecked) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"d_model", 4294967552ULL},         {"d_model", 0},           {"encoder_layers", -1},
      {"decoder_layers", 0},              {"encoder_attention_heads", "8"},
      {"decoder_attention_heads", 2.0},   {"encoder_ffn_dim", 1e300}, {"decoder_ffn_dim", 1LL << 33},
      {"num_queries", 1000000000},        {"num_channels", -3}};
  for (const auto& [key, value] : cases) {
    SCOPED_TRACE(key + " = " + value.dump());
    ScratchDir scratch;
    const auto dir = hostile_folder(scratch, kDetrTimm, [&](json& c) { c[key] = value; });
    expect_refused(load_error<visionrt::Detector>(dir), StatusCode::corrupt_file,
                   "config.json: key '" + key + "' must be an integer from ");
  }
}

TEST(HostileConfigs, DetrBackboneDepthsAndWidthsAreRangeChecked) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"depths", {0, 1, 1, 1}},  // a stage with no blocks
      {"depths", {1e300, 2, 2, 2}},
      {"depths", {"a", 2, 2, 2}},
      {"depths", {-2, 2, 2, 2}},
      {"hidden_sizes", {8, 16, 32, 4294967360ULL}},
      {"embedding_size", 0},
      {"num_channels", "3"}};
  for (const auto& [key, value] : cases) {
    SCOPED_TRACE(key + " = " + value.dump());
    ScratchDir scratch;
    const auto dir = hostile_folder(scratch, kDetrHf, [&](json& c) { c["backbone_config"][key] = value; });
    expect_refused(load_error<visionrt::Detector>(dir), StatusCode::corrupt_file,
                   "config.json: key 'backbone_config." + key);
  }
  ScratchDir scratch;
  const auto dir = hostile_folder(scratch, kDetrHf, [](json& c) { c["backbone_config"]["depths"] = {"a", 2, 2, 2}; });
  EXPECT_STREQ(load_error<visionrt::Detector>(dir).what(),
               "config.json: key 'backbone_config.depths[0]' must be an integer from 1 to 1024, got \"a\"");
  ScratchDir scratch3;
  const auto three = hostile_folder(scratch3, kDetrHf, [](json& c) { c["backbone_config"]["depths"] = {2, 2, 2}; });
  expect_refused(load_error<visionrt::Detector>(three), StatusCode::corrupt_file,
                 "config.json: key 'backbone_config.depths' must be a list of 4 integers");
}

// ------------------------------------------------------- 2. unused weights

// ------------------------------------------ keys that change the model

// The keys transformers reads for each architecture: the parameters of
// ViTConfig, DetrConfig, ResNetConfig and TimmBackboneConfig in
// transformers 5 (with PretrainedConfig's own), and the keys DetrConfig
// had in transformers 4 (use_timm_backbone, backbone, backbone_kwargs, ...).
const std::vector<std::string> kPretrainedKeys = {
    "transformers_version", "architectures", "output_hidden_states", "return_dict", "dtype",
    "chunk_size_feed_forward", "is_encoder_decoder", "id2label", "label2id", "problem_type",
    "torch_dtype", "output_attentions", "torchscript", "pruned_heads"};
const std::vector<std::string> kVitKeys = {
    "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps", "image_size",
    "patch_size", "num_channels", "qkv_bias", "encoder_stride", "pooler_output_size", "pooler_act", "num_labels"};
const std::vector<std::string> kDetrKeys = {
    "backbone_config", "num_channels", "num_queries", "encoder_layers", "encoder_ffn_dim",
    "encoder_attention_heads", "decoder_layers", "decoder_ffn_dim", "decoder_attention_heads",
    "encoder_layerdrop", "decoder_layerdrop", "activation_function", "d_model", "dropout", "attention_dropout",
    "activation_dropout", "init_std", "init_xavier_std", "auxiliary_loss", "position_embedding_type", "dilation",
    "class_cost", "bbox_cost", "giou_cost", "mask_loss_coefficient", "dice_loss_coefficient",
    "bbox_loss_coefficient", "giou_loss_coefficient", "eos_coefficient", "use_timm_backbone", "backbone",
    "use_pretrained_backbone", "backbone_kwargs", "num_labels",
    // DetrConfig.attribute_map's other names of d_model and encoder_attention_heads.
    "hidden_size", "num_attention_heads"};
const std::vector<std::string> kBackboneKeys = {
    "num_channels", "embedding_size", "hidden_sizes", "depths", "layer_type", "hidden_act",
    "downsample_in_first_stage", "downsample_in_bottleneck", "out_features", "out_indices", "stage_names",
    "backbone", "features_only", "use_pretrained_backbone", "freeze_batch_norm_2d", "output_stride", "model_type"};

void expect_every_key_listed(const std::vector<visionrt::models::ConfigKey>& table,
                             std::vector<std::string> keys, bool with_pretrained) {
  if (with_pretrained) keys.insert(keys.end(), kPretrainedKeys.begin(), kPretrainedKeys.end());
  for (const std::string& key : keys)
    EXPECT_TRUE(std::any_of(table.begin(), table.end(), [&](const auto& k) { return key == k.key; }))
        << key << " is neither honoured nor refused";
}

TEST(HostileConfigs, EveryKeyTransformersReadsIsHonouredOrRefused) {
  expect_every_key_listed(visionrt::models::vit_config_keys(), kVitKeys, true);
  expect_every_key_listed(visionrt::models::detr_config_keys(), kDetrKeys, true);
  std::vector<std::string> backbone = kPretrainedKeys;
  backbone.erase(std::remove(backbone.begin(), backbone.end(), "pruned_heads"), backbone.end());
  expect_every_key_listed(visionrt::models::resnet_backbone_config_keys(), kBackboneKeys, false);
  expect_every_key_listed(visionrt::models::resnet_backbone_config_keys(), backbone, false);
}

TEST(HostileConfigs, BackboneActivationOtherThanReluIsRefused) {
  // transformers builds every activation of the ResNet with hidden_act;
  // visionrt's backbone has ReLUs only (it loaded, and answered as ReLU).
  for (const json& value : {json("gelu"), json(nullptr), json(5), json::object(), json("64")}) {
    SCOPED_TRACE(value.dump());
    ScratchDir scratch;
    const auto dir = hostile_folder(scratch, kDetrHf, [&](json& c) { c["backbone_config"]["hidden_act"] = value; });
    expect_refused(load_error<visionrt::Detector>(dir), StatusCode::unsupported,
                   "config.json: key 'backbone_config.hidden_act' is " + value.dump() +
                       "; visionrt implements only \"relu\"");
  }
  ScratchDir scratch;
  const auto relu = hostile_folder(scratch, kDetrHf, [&](json& c) { c["backbone_config"]["hidden_act"] = "relu"; });
  EXPECT_NO_THROW(visionrt::Detector::load(relu, {visionrt::Device::cpu}));
}

// DETR's other names of d_model and encoder_attention_heads, as
// transformers reads them: the same model under either name, and both names
// with different values refused.
TEST(HostileConfigs, DetrAliasKeysNameTheSameSettings) {
  ScratchDir scratch;
  const auto renamed = hostile_folder(scratch, kDetrHf, [&](json& c) {
    c["hidden_size"] = c.at("d_model");
    c.erase("d_model");
    c["num_attention_heads"] = c.at("encoder_attention_heads");
    c.erase("encoder_attention_heads");
  });
  const visionrt::Detector a = visionrt::Detector::load(kDetrHf.string(), {visionrt::Device::cpu});
  const visionrt::Detector b = visionrt::Detector::load(renamed, {visionrt::Device::cpu});
  std::vector<float> px(3 * 64 * 96);
  for (size_t i = 0; i < px.size(); ++i) px[i] = std::sin(0.1 * double(i));
  EXPECT_EQ(a.forward(px.data(), nullptr, 1, 64, 96).logits, b.forward(px.data(), nullptr, 1, 64, 96).logits);
  for (const char* alias : {"hidden_size", "num_attention_heads"}) {
    SCOPED_TRACE(alias);
    ScratchDir s2;
    const auto both = hostile_folder(s2, kDetrHf, [&](json& c) { c[alias] = 8; });
    expect_refused(load_error<visionrt::Detector>(both), StatusCode::corrupt_file,
                   std::string("config.json: '") + alias + "' (8) and '");  // the fixture's are not 8
  }
}

TEST(HostileConfigs, ModelChangingKeysAwayFromTheirDefaultAreRefused) {
  struct Case {
    fs::path fixture;
    std::function<void(json&)> edit;
    StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {kVit, [](json& c) { c["pruned_heads"] = {{"0", {1}}}; }, StatusCode::unsupported, "key 'pruned_heads' is"},
      {kDetrTimm, [](json& c) { c["pruned_heads"] = {{"0", {1}}}; }, StatusCode::unsupported, "key 'pruned_heads'"},
      {kVit, [](json& c) { c["hidden_act"] = nullptr; }, StatusCode::corrupt_file,
       "key 'hidden_act' must be a string, got null"},
      {kDetrTimm, [](json& c) { c["activation_function"] = nullptr; }, StatusCode::corrupt_file,
       "key 'activation_function' must be a string"},
      {kDetrHf, [](json& c) { c["backbone_config"]["layer_type"] = "preactivation"; }, StatusCode::unsupported,
       "key 'backbone_config.layer_type' is 'preactivation'"},
      {kDetrHf, [](json& c) { c["backbone_config"]["out_indices"] = {2, 3}; }, StatusCode::unsupported,
       "key 'backbone_config.out_indices' is [2,3]"},
      {kDetrTimm, [](json& c) { c["backbone_kwargs"] = {{"output_stride", 8}}; }, StatusCode::unsupported,
       "key 'backbone_kwargs.output_stride' is 8"},
      {kDetrTimm, [](json& c) { c["backbone_kwargs"] = {{"act_layer", "gelu"}}; }, StatusCode::unsupported,
       "key 'backbone_kwargs.act_layer' is not implemented"},
      {kDetrTimm, [](json& c) { c["backbone_kwargs"] = {{"out_indices", {1, 2}}}; }, StatusCode::unsupported,
       "key 'backbone_kwargs.out_indices' is [1,2]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    ScratchDir scratch;
    const auto dir = hostile_folder(scratch, c.fixture, c.edit);
    const visionrt::Error e = c.fixture == kVit ? load_error<visionrt::Classifier>(dir) : load_error<visionrt::Detector>(dir);
    expect_refused(e, c.code, c.message);
  }
}

TEST(HostileConfigs, KeysWithoutEffectOnInferenceAndHonouredKeysStillLoad) {
  ScratchDir scratch;
  const auto vit = hostile_folder(scratch, kVit, [](json& c) {
    c["hidden_dropout_prob"] = 0.5;
    c["pooler_act"] = "relu";
    c["pruned_heads"] = json::object();
  });
  EXPECT_NO_THROW(visionrt::Classifier::load(vit, {visionrt::Device::cpu}));
  ScratchDir scratch2;
  const auto detr = hostile_folder(scratch2, kDetrTimm, [](json& c) {
    c["dropout"] = 0.3;
    c["decoder_layerdrop"] = 0.2;
    c["backbone_kwargs"] = {{"out_indices", {1, 2, 3, 4}}, {"in_chans", 3}, {"output_stride", 32}};
  });
  EXPECT_NO_THROW(visionrt::Detector::load(detr, {visionrt::Device::cpu}));
}

TEST(HostileConfigs, FewerVitLayersThanTheCheckpointIsRefused) {
  ScratchDir scratch;
  const auto dir = hostile_folder(scratch, kVit3Layers, [](json& c) { c["num_hidden_layers"] = 1; });
  const visionrt::Error e = load_error<visionrt::Classifier>(dir);
  expect_refused(e, StatusCode::corrupt_file,
                 "model.safetensors holds 32 tensors the config does not use (num_hidden_layers 1?): "
                 "vit.encoder.layer.1.");
  EXPECT_NE(std::string(e.what()).find(", ..."), std::string::npos) << e.what();
}

TEST(HostileConfigs, FewerDetrLayersThanTheCheckpointIsRefused) {
  ScratchDir scratch;
  // The fixture has one encoder layer; a config of none leaves it unused.
  const auto dir = hostile_folder(scratch, kDetrTimm, [](json& c) { c["encoder_layers"] = 0; });
  const visionrt::Error e = load_error<visionrt::Detector>(dir);
  expect_refused(e, StatusCode::corrupt_file, "tensors the config does not use (encoder_layers 0?): model.encoder.layers.0.");
}

TEST(HostileConfigs, ShallowerBackboneThanTheCheckpointIsRefused) {
  ScratchDir scratch;
  // The checkpoint has two blocks in the first stage; the config says one.
  const auto dir = hostile_folder(scratch, kDetrHf, [](json& c) {
    c["backbone_config"]["depths"] = {1, 2, 2, 2};
  });
  expect_refused(load_error<visionrt::Detector>(dir), StatusCode::corrupt_file,
                 "tensors the config does not use (the backbone's depths?): "
                 "model.backbone.conv_encoder.model.encoder.stages.0.layers.1.");
}

// Appends F32 tensors of shape [1] to a folder's model.safetensors.
void add_tensors(const fs::path& file, const std::vector<std::string>& names) {
  std::ifstream in(file, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  std::stringstream rest;
  rest << in.rdbuf();
  std::string data = rest.str();
  json h = json::parse(header);
  for (const std::string& name : names) {
    h[name] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {data.size(), data.size() + 4}}};
    data.append(4, '\0');
  }
  header = h.dump();
  n = header.size();
  in.close();
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << data;
}

TEST(HostileConfigs, TensorsTransformersIgnoresAreTolerated) {
  ScratchDir scratch;
  const auto dir = hostile_folder(scratch, kVit, [](json&) {});
  add_tensors(fs::path(dir) / "model.safetensors",
              {"vit.pooler.dense.weight", "vit.pooler.dense.bias", "vit.embeddings.mask_token"});
  EXPECT_NO_THROW(visionrt::Classifier::load(dir, {visionrt::Device::cpu}));

  ScratchDir scratch2;
  const auto detr = hostile_folder(scratch2, kDetrTimm, [](json&) {});
  add_tensors(fs::path(detr) / "model.safetensors", {"model.backbone.conv_encoder.model.bn1.num_batches_tracked"});
  EXPECT_NO_THROW(visionrt::Detector::load(detr, {visionrt::Device::cpu}));
}

TEST(HostileConfigs, AnUnknownExtraTensorIsRefused) {
  ScratchDir scratch;
  const auto dir = hostile_folder(scratch, kVit, [](json&) {});
  add_tensors(fs::path(dir) / "model.safetensors", {"vit.surprise.weight"});
  const visionrt::Error e = load_error<visionrt::Classifier>(dir);
  expect_refused(e, StatusCode::corrupt_file, "model.safetensors holds 1 tensor the config does not use: vit.surprise.weight");
}

// ------------------------------------------------------ 3. decoder chatter

// Runs `body` with fd 2 pointing at a file; returns what was written there.
std::string stderr_of(const ScratchDir& scratch, const std::function<void()>& body) {
  const std::string path = scratch.file("stderr.txt");
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(fd, 2);
  ::close(fd);
  body();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

uint32_t crc_of(const std::string& bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string chunk(const std::string& type, const std::string& data) {
  return be32(static_cast<uint32_t>(data.size())) + type + data + be32(crc_of(type + data));
}

// A 64x64 RGB PNG whose IDAT holds `idat` (stored, i.e. a valid zlib
// stream, unless a test breaks it) and valid CRCs throughout.
std::string png_with_idat(const std::string& idat) {
  const std::string ihdr = be32(64) + be32(64) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1A\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", "");
}

// zlib's header and the first bytes of a stored block, cut short: the
// chunk structure is intact, the compressed data ends early.
std::string truncated_zlib() {
  const size_t raw = 64 * (1 + 64 * 3);  // 12352 bytes of filtered rows
  std::string z = "\x78\x01";
  z += '\x01';  // final stored block
  z += char(raw & 0xFF);
  z += char(raw >> 8);
  z += char(~raw & 0xFF);
  z += char((~raw >> 8) & 0xFF);
  z += std::string(100, '\0');  // far fewer than `raw` bytes
  return z;
}

TEST(HostileImages, TruncatedPngDataGivesOneErrorAndNothingOnStderr) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without OpenCV";
#endif
  ScratchDir scratch;
  struct Case {
    std::string what, bytes, message;
  };
  const std::string whole = png_with_idat(truncated_zlib());
  std::string bad_crc = whole;
  bad_crc[bad_crc.size() - 20] ^= 0x5A;  // inside the IDAT data: its CRC no longer matches
  const std::vector<Case> cases = {
      {"short zlib stream", whole, "image.png: cannot decode image (PNG with compressed image data that ends early)"},
      {"bad crc", bad_crc, "image.png: cannot decode image (PNG with a chunk whose CRC does not match its data)"},
      {"cut file", whole.substr(0, whole.size() / 2),
       "image.png: malformed or truncated PNG file (cannot read its header, or its data ends early)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string message;
    const std::string chatter = stderr_of(scratch, [&] {
      try {
        visionrt::io::decode_image(reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size(), "image.png",
                                   1 << 20);
      } catch (const visionrt::Error& e) {
        message = e.what();
        EXPECT_EQ(e.code(), StatusCode::corrupt_file);
      }
    });
    EXPECT_EQ(message, c.message);
    EXPECT_EQ(chatter, "");
  }
}

TEST(HostileImages, DamagedButDecodableJpegsDecodeWithNothingOnStderr) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without OpenCV";
#endif
  // libjpeg warns on each ("Corrupt JPEG data: ..."); PIL decodes them, and
  // tests/test_image_decode.cpp checks the pixels against PIL's.
  ScratchDir scratch;
  for (const char* name : {"extraneous_bytes.jpg", "cut_scan.jpg", "cut_scan_progressive.jpg"}) {
    SCOPED_TRACE(name);
    const std::string chatter = stderr_of(scratch, [&] {
      const auto image = visionrt::io::load_image((kFixtures / "frontend" / "decode" / name).string(), 1 << 20);
      EXPECT_GT(image.width, 0);
    });
    EXPECT_EQ(chatter, "");
  }
}

std::string le16(uint16_t v) { return {char(v & 0xFF), char(v >> 8)}; }
std::string le32(uint32_t v) { return le16(static_cast<uint16_t>(v)) + le16(static_cast<uint16_t>(v >> 16)); }

// A grey TIFF with one strip of one byte; `tags` (tag, value: SHORT below
// 65536, LONG above), sorted here.
std::string tiff_with(const std::vector<std::pair<uint16_t, uint32_t>>& tags) {
  std::string ifd = le16(static_cast<uint16_t>(tags.size() + 2));
  const uint32_t data_at = static_cast<uint32_t>(8 + 2 + (tags.size() + 2) * 12 + 4);
  std::vector<std::pair<uint16_t, uint32_t>> all(tags.begin(), tags.end());
  all.emplace_back(273, data_at);  // StripOffsets
  all.emplace_back(279, 1);        // StripByteCounts
  std::sort(all.begin(), all.end());
  for (const auto& [tag, value] : all)
    ifd += le16(tag) + le16(tag == 273 || tag == 279 || value > 0xFFFF ? 4 : 3) + le32(1) + le32(value);
  return std::string("II*\0", 4) + le32(8) + ifd + le32(0) + std::string(1, '\x80');
}

// Inputs the image decoder's fuzzer found (kept as its seeds): a PNG whose
// last row's filter byte ended the pass table (a read past it), a TIFF of
// height 0 (a division by zero). The PNG decodes, the TIFF gives one error
// naming its problem, neither prints; the sanitizer runs check the memory.
TEST(HostileImages, FuzzerFindingsGiveOneErrorAndNothingOnStderr) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without OpenCV";
#endif
  ScratchDir scratch;
  const fs::path seeds = fs::path(VISIONRT_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_image_decode";
  const std::pair<const char*, const char*> cases[] = {
      {"png_16bit_last_row_filter.png", "decoded"},  // a whole 4x2 image: only the check read past
      {"tiff_zero_height.tif", "tiff_zero_height.tif: cannot decode image (TIFF with a side of 0 pixels)"},
  };
  for (const auto& [file, want] : cases) {
    SCOPED_TRACE(file);
    std::ifstream in(seeds / file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(bytes.empty());
    std::string message = "decoded";
    const std::string chatter = stderr_of(scratch, [&] {
      try {
        visionrt::io::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), file, 1 << 20);
      } catch (const visionrt::Error& e) {
        message = e.what();
      }
    });
    EXPECT_EQ(message, want);
    EXPECT_EQ(chatter, "");
  }
}

TEST(HostileImages, HeadersOpenCvWouldPrintAboutAreRefusedFirst) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without OpenCV";
#endif
  ScratchDir scratch;
  // An 8-bit BMP whose 256-entry palette is missing (its one pixel row is there).
  std::string bmp = "BM" + le32(62) + le32(0) + le32(54) + le32(40) + le32(1) + le32(1) + le16(1) + le16(8) +
                    le32(0) + le32(4) + le32(0) + le32(0) + le32(0) + le32(0) + std::string(4, '\0');
  struct Case {
    std::string what, bytes, name, message;
    StatusCode code;
  };
  const std::vector<Case> cases = {
      {"bmp palette cut", bmp, "image.bmp",
       "image.bmp: malformed or truncated BMP file (cannot read its header, or its data ends early)",
       StatusCode::corrupt_file},
      {"tiff 7 bits", tiff_with({{256, 1}, {257, 1}, {258, 7}, {259, 1}, {262, 1}, {277, 1}}), "image.tif",
       "image.tif: TIFF with 7 bits per sample is not supported", StatusCode::unsupported},
      {"tiff without photometric", tiff_with({{256, 1}, {257, 1}, {258, 8}, {259, 1}, {277, 1}}), "image.tif",
       "image.tif: TIFF without a PhotometricInterpretation tag is not supported", StatusCode::unsupported},
      {"tiff 5 samples", tiff_with({{256, 1}, {257, 1}, {258, 8}, {259, 1}, {262, 1}, {277, 5}}), "image.tif",
       "image.tif: TIFF with 5 samples per pixel is not supported", StatusCode::unsupported},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::string message;
    const std::string chatter = stderr_of(scratch, [&] {
      try {
        visionrt::io::decode_image(reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size(), c.name, 1 << 20);
      } catch (const visionrt::Error& e) {
        message = e.what();
        EXPECT_EQ(e.code(), c.code);
      }
    });
    EXPECT_EQ(message, c.message);
    EXPECT_EQ(chatter, "");
  }
  // OpenCV would allocate a strip of RowsPerStrip rows, here 16 million
  // (about 4 GB of RGBA for 60 pixels), where libtiff clamps it to the image.
  const std::string tall_strip =
      tiff_with({{256, 60}, {257, 1}, {258, 8}, {259, 1}, {262, 1}, {277, 1}, {278, 16000000}});
  try {
    visionrt::io::decode_image(reinterpret_cast<const uint8_t*>(tall_strip.data()), tall_strip.size(), "image.tif",
                               1 << 20);
    ADD_FAILURE() << "a TIFF strip of 16 million rows for a 1-row image was accepted";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
    EXPECT_STREQ(e.what(), "image.tif: TIFF strips of 60x16000000 pixels for a 60x1 image are not supported");
  }
  // The same TIFF with 8 bits and a PhotometricInterpretation decodes.
  const std::string good = tiff_with({{256, 1}, {257, 1}, {258, 8}, {259, 1}, {262, 1}, {277, 1}});
  const auto image = visionrt::io::decode_image(reinterpret_cast<const uint8_t*>(good.data()), good.size(), "good.tif", 1 << 20);
  EXPECT_EQ(image.rgb, std::vector<uint8_t>(3, 0x80));
}

// A fuzzer finding: "FF 00" between segments, which libjpeg skips as junk,
// was read here as a marker with a length, so that the header parser and
// libjpeg framed the file differently. The parser saw an 8x8 frame; libjpeg
// a 40000x40000 one hidden in the skipped bytes, and 4.8 GB were allocated.
// Both now read the 40000x40000 frame, which the pixel limit refuses.
TEST(HostileImages, AJpegFrameHiddenFromTheHeaderCheckIsRefused) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without OpenCV";
#endif
  try {
    visionrt::io::load_image((kFixtures / "frontend" / "hostile" / "jpeg_ff00_desync.jpg").string(), 100000000);
    ADD_FAILURE() << "a 40000x40000 JPEG frame was decoded";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("JPEG image of 40000x40000 pixels is over the limit of 100000000 pixels"),
              std::string::npos)
        << e.what();
  }
}

// ------------------------------------------------------------ 4. file bytes

TEST(HostileImages, AHugeFileIsRefusedBeforeItIsRead) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without OpenCV";
#endif
  ScratchDir scratch;
  const std::string path = scratch.file("huge.png");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string("\x89PNG\r\n\x1A\n", 8);
  }
  // 3 GiB, sparse: nothing is written, and nothing may be read.
  ASSERT_EQ(::truncate(path.c_str(), 3LL << 30), 0);
  try {
    visionrt::io::load_image(path, 1 << 20);
    ADD_FAILURE() << "a 3 GiB image file was accepted";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::invalid_argument);
    EXPECT_EQ(std::string(e.what()),
              path + ": image file of 3221225472 bytes is over the limit of 1073741824 bytes");
  }
}

TEST(HostileImages, AFifoIsRefusedWithoutBlocking) {
#if !VISIONRT_HAVE_OPENCV
  GTEST_SKIP() << "built without OpenCV";
#endif
  ScratchDir scratch;
  const std::string path = scratch.file("fifo.png");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  try {
    visionrt::io::load_image(path, 1 << 20);  // would block forever if opened
    ADD_FAILURE() << "a FIFO was accepted";
  } catch (const visionrt::Error& e) {
    EXPECT_EQ(e.code(), StatusCode::io_error);
    EXPECT_EQ(std::string(e.what()), path + ": is not a regular file");
  }
}

}  // namespace
