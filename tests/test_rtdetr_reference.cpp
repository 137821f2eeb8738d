// RT-DETR, RT-DETRv2 and D-FINE end to end against transformers on
// randomly initialised checkpoints (tools/fixtures/make_rtdetr_fixtures.py,
// make_dfine_fixtures.py): the images prepared by visionrt's own front end,
// run as a batch and alone.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include <fstream>

#include "api/registry.hpp"
#include "io/model_folder.hpp"
#include "io/preprocess.hpp"
#include "io/safetensors.hpp"
#include "models/rt_detr.hpp"
#include "rtdetr_matching.hpp"
#include "runtime/executor.hpp"
#include "scratch_dir.hpp"
#include "visionrt/visionrt.hpp"

namespace fs = std::filesystem;

namespace visionrt {
namespace {

const fs::path kFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures" / "rtdetr";
const fs::path kDfineFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures" / "dfine";
const std::vector<std::string> kDfineNames = {"hgnetv2_b0_narrow", "hgnetv2_b5_narrow"};

// fp32 on both sides, differing in summation order (GEMM blocking,
// BatchNorm and RepVGG branches folded into single convolutions), and in
// the front end by nothing (Pillow-exact): the promised bound on logits
// and boxes. A wrong op errs by 1e-2 or more.
constexpr double kMaxError = 1e-4;

struct Outputs {
  Tensor logits, boxes;
};

Outputs run(const models::RtDetrModel& m, const Tensor& pixels, Precision precision) {
  const int n = static_cast<int>(pixels.dim(0)), h = static_cast<int>(pixels.dim(2)), w = static_cast<int>(pixels.dim(3));
  graph::Executor ex(m.build(n, h, w), choose_backend(Device::cpu, 2, precision).backend);
  const int64_t Q = m.config().num_queries, L = static_cast<int64_t>(m.config().labels.size());
  Outputs o{Tensor::empty(DType::f32, {n, Q, L}), Tensor::empty(DType::f32, {n, Q, 4})};
  ex.run({pixels}, {o.logits, o.boxes});
  return o;
}

// Matched as rtdetr_matching.hpp says.
std::pair<double, double> matched_errors(const Outputs& got, const Tensor& logits, const Tensor& boxes) {
  return testing::matched_errors(got.logits.f32(), got.boxes.f32(), logits.f32(), boxes.f32(), logits.dim(0),
                                 logits.dim(1), logits.dim(2));
}

// Image i of the fixture, prepared as the model's processor prepares it.
Tensor prepared(const io::SafetensorsFile& ref, const io::PreprocessConfig& cfg, int i) {
  const Tensor raw = ref.view(*ref.find("image_" + std::to_string(i)));
  Image img{static_cast<int>(raw.dim(1)), static_cast<int>(raw.dim(0)),
            std::vector<uint8_t>(raw.ptr<const uint8_t>(), raw.ptr<const uint8_t>() + raw.numel())};
  int w = 0, h = 0;
  io::output_size(cfg, img.width, img.height, &w, &h);
  Tensor px = Tensor::empty(DType::f32, {1, 3, h, w});
  io::preprocess(img, cfg, px.f32());
  return px;
}

// Each fixture under `root` against its reference, images prepared by
// visionrt's front end, as a batch and alone; returns how many were checked.
int check_fixtures(const fs::path& root, const std::vector<std::string>& names) {
  int checked = 0;
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const fs::path dir = root / name;
    const io::ModelFolder folder = io::ModelFolder::open(dir.string());
    const models::RtDetrModel m = models::RtDetrModel::load(folder);
    const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
    const Tensor want_logits = to_f32(ref->view(*ref->find("logits"))), want_boxes = to_f32(ref->view(*ref->find("pred_boxes")));
    const int n = static_cast<int>(want_logits.dim(0));
    std::vector<Tensor> images;
    for (int i = 0; i < n; ++i) images.push_back(prepared(*ref, folder.preprocess, i));
    Tensor batch = Tensor::empty(DType::f32, {n, 3, images[0].dim(2), images[0].dim(3)});
    for (int i = 0; i < n; ++i) std::copy_n(images[i].f32(), images[i].numel(), batch.f32() + i * images[i].numel());
    const Outputs b = run(m, batch, Precision::fp32);
    const auto [el, eb] = matched_errors(b, want_logits, want_boxes);
    std::cout << "  " << name << " batch of " << n << ": logits " << el << ", boxes " << eb << "\n";
    if (ref->find("logits_f64")) {
      // The published depths: ours and PyTorch's float32 both against the
      // float64 truth; the bound is 1e-4 or twice PyTorch's own error.
      const Tensor tl = to_f32(ref->view(*ref->find("logits_f64"))), tb = to_f32(ref->view(*ref->find("pred_boxes_f64")));
      const auto [tel, teb] = matched_errors(b, tl, tb);
      const auto [pel, peb] = matched_errors({want_logits, want_boxes}, tl, tb);
      std::cout << "    from float64: logits " << tel << ", boxes " << teb << " (PyTorch float32: " << pel << ", "
                << peb << ")\n";
      EXPECT_LE(tel, std::max(kMaxError, 2 * pel));
      EXPECT_LE(teb, std::max(kMaxError, 2 * peb));
    } else {
      EXPECT_LE(el, kMaxError);
      EXPECT_LE(eb, kMaxError);
    }
    for (int i = 0; i < n && n > 1; ++i) {
      const Outputs s = run(m, images[i], Precision::fp32);
      const Tensor sl = to_f32(ref->view(*ref->find("single_" + std::to_string(i) + "_logits")));
      const Tensor sb = to_f32(ref->view(*ref->find("single_" + std::to_string(i) + "_pred_boxes")));
      const auto [sel, seb] = matched_errors(s, sl, sb);
      std::cout << "  " << name << " image " << i << " alone: logits " << sel << ", boxes " << seb << "\n";
      const std::string single = "single_" + std::to_string(i) + "_";
      if (ref->find(single + "logits_f64")) {
        // As for the batch: both float32 engines against the float64 truth.
        const Tensor tl = to_f32(ref->view(*ref->find(single + "logits_f64")));
        const Tensor tb = to_f32(ref->view(*ref->find(single + "pred_boxes_f64")));
        const auto [tel, teb] = matched_errors(s, tl, tb);
        const auto [pel, peb] = matched_errors({sl, sb}, tl, tb);
        std::cout << "    from float64: logits " << tel << ", boxes " << teb << " (PyTorch float32: " << pel << ", "
                  << peb << ")\n";
        EXPECT_LE(tel, std::max(kMaxError, 2 * pel));
        EXPECT_LE(teb, std::max(kMaxError, 2 * peb));
      } else {
        EXPECT_LE(sel, kMaxError);
        EXPECT_LE(seb, kMaxError);
      }
    }
    ++checked;
  }
  return checked;
}

TEST(RtDetrReferenceTest, CommittedConfigurationsMatchTransformers) {
  EXPECT_EQ(check_fixtures(kFixtures, {"r18vd_narrow", "r50vd_narrow", "v2_r18vd_discrete_narrow"}), 3);
}

TEST(RtDetrReferenceTest, DFineMatchesTransformers) {
  EXPECT_EQ(check_fixtures(kDfineFixtures, kDfineNames), static_cast<int>(kDfineNames.size()));
}

// ustc-community/dfine-small-coco's exact architecture, made on demand by
// `python tools/fixtures/make_dfine_fixtures.py --large tests/fixtures/dfine/large`.
TEST(RtDetrReferenceTest, PublishedDFineWhenPresent) {
  const fs::path large = kDfineFixtures / "large";
  if (!fs::exists(large / "dfine_small" / "reference.safetensors"))
    GTEST_SKIP() << "not generated: run tools/fixtures/make_dfine_fixtures.py --large " << large;
  EXPECT_EQ(check_fixtures(large, {"dfine_small"}), 1);
}

// PekingU/rtdetr_r18vd's, rtdetr_r50vd's and rtdetr_v2_r18vd's exact
// architectures at 640x640, made on demand by
// `python tools/fixtures/make_rtdetr_fixtures.py --large tests/fixtures/rtdetr/large`
// (80-170 MB each, so not committed).
TEST(RtDetrReferenceTest, PublishedArchitecturesWhenPresent) {
  const fs::path large = kFixtures / "large";
  if (!fs::exists(large / "rtdetr_r50vd" / "reference.safetensors"))
    GTEST_SKIP() << "not generated: run tools/fixtures/make_rtdetr_fixtures.py --large " << large;
  EXPECT_EQ(check_fixtures(large, {"rtdetr_r18vd", "rtdetr_r50vd", "rtdetr_v2_r18vd"}), 3);
}

// The public Detector on the raw images: RTDetrImageProcessor's
// post_process_object_detection at threshold 0.3 (the best num_queries of
// queries x classes by sigmoid score), boxes in the original pixels. Scores
// within the logits' bound (a sigmoid's slope is at most 1/4), boxes within
// it times the image side.
TEST(RtDetrReferenceTest, DetectorMatchesPostProcessing) {
  std::vector<std::pair<fs::path, std::string>> fixtures = {
      {kFixtures / "r18vd_narrow", "RTDetrForObjectDetection"},
      {kFixtures / "r50vd_narrow", "RTDetrForObjectDetection"},
      {kFixtures / "v2_r18vd_discrete_narrow", "RTDetrV2ForObjectDetection"}};
  // hgnetv2_b5_narrow's float32 logits carry ~1e-3 of rounding (PyTorch's
  // as much as ours): it is held to the float64 truth in DFineMatchesTransformers.
  fixtures.push_back({kDfineFixtures / kDfineNames[0], "DFineForObjectDetection"});
  for (const auto& [dir, architecture] : fixtures) {
    const std::string name = dir.filename().string();
    SCOPED_TRACE(name);
    const Detector det = Detector::load(dir.string(), {Device::cpu});
    EXPECT_EQ(det.info().architecture, architecture);
    const auto ref = io::SafetensorsFile::open((dir / "reference.safetensors").string());
    std::ifstream in(dir / "reference.json");
    const nlohmann::json info = nlohmann::json::parse(in);
    for (size_t i = 0; i < info["images"].size(); ++i) {
      const Tensor raw = ref->view(*ref->find("image_" + std::to_string(i)));
      const Image img{static_cast<int>(raw.dim(1)), static_cast<int>(raw.dim(0)),
                      std::vector<uint8_t>(raw.ptr<const uint8_t>(), raw.ptr<const uint8_t>() + raw.numel())};
      const std::vector<Detection> got = det.detect({img}, 0.3f)[0];
      const nlohmann::json& want = info["images"][i]["post_process"];
      ASSERT_EQ(got.size(), want["scores"].size()) << "image " << i;
      double score_err = 0, box_err = 0;
      for (size_t k = 0; k < got.size(); ++k) {
        EXPECT_EQ(got[k].id, want["labels"][k].get<int>()) << "detection " << k;
        score_err = std::max(score_err, std::abs(got[k].score - want["scores"][k].get<double>()));
        const float box[4] = {got[k].box.x0, got[k].box.y0, got[k].box.x1, got[k].box.y1};
        for (int c = 0; c < 4; ++c) box_err = std::max(box_err, std::abs(box[c] - want["boxes_xyxy"][k][c].get<double>()));
      }
      std::cout << "  " << name << " image " << i << ": " << got.size() << " detections, scores within " << score_err
                << ", boxes within " << box_err << " px\n";
      EXPECT_LE(score_err, kMaxError / 4);
      EXPECT_LE(box_err, kMaxError * std::max(img.width, img.height));
    }
  }
}

// A config key set to what visionrt does not implement, or to nonsense, is
// refused when the model loads, with the key's name in the one message.
TEST(RtDetrReferenceTest, ConfigsItCannotHonourAreRefusedByName) {
  struct Case {
    const char* fixture;
    const char* key;
    nlohmann::json value;
  };
  const std::string d0 = "../dfine/" + kDfineNames[0];
  const Case cases[] = {
      {d0.c_str(), "eval_idx", 0},
      {d0.c_str(), "max_num_bins", 31},
      {d0.c_str(), "reg_scale", 2.5},
      {d0.c_str(), "decoder_n_points", nlohmann::json::array({2, 2})},
      {d0.c_str(), "top_prob_values", 0},
      {d0.c_str(), "depth_mult", "deep"},
      {d0.c_str(), "backbone_config.stage_light_block", nlohmann::json::array({1, 0, 1, 1})},
      {d0.c_str(), "backbone_config.stem_channels", nlohmann::json::array({4, 8, 8})},
      {d0.c_str(), "backbone_config.hidden_act", "mish"},
      {d0.c_str(), "backbone_config.stage_in_channels", nlohmann::json::array({8, 16, 64, 128})},
      {d0.c_str(), "backbone_config.hidden_sizes", nlohmann::json::array({64, 48, 128, 256})},
      {"v2_r18vd_discrete_narrow", "decoder_method", "nearest"},
      {"v2_r18vd_discrete_narrow", "decoder_n_levels", 4},
      {"r18vd_narrow", "activation_function", "mish"},
      {"r18vd_narrow", "use_timm_backbone", true},
      {"r18vd_narrow", "num_feature_levels", 9},
      {"r18vd_narrow", "feat_strides", nlohmann::json::array({8, 16})},
      {"r18vd_narrow", "decoder_in_channels", nlohmann::json::array({16, 16, 16})},
      {"r18vd_narrow", "hidden_expansion", "wide"},
      {"r18vd_narrow", "positional_encoding_temperature", -1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    ScratchDir scratch;
    const fs::path from = kFixtures / c.fixture;
    for (const char* file : {"model.safetensors", "preprocessor_config.json"})
      fs::copy_file(from / file, scratch.path() / file);
    std::ifstream in(from / "config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    // "a.b" names key b of the object a.
    const std::string key = c.key;
    const size_t dot = key.find('.');
    if (dot == std::string::npos)
      config[key] = c.value;
    else
      config[key.substr(0, dot)][key.substr(dot + 1)] = c.value;
    std::ofstream(scratch.path() / "config.json") << config.dump();
    try {
      Detector::load(scratch.path().string(), {Device::cpu});
      ADD_FAILURE() << "loaded with " << c.key << " = " << c.value.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.key), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace visionrt
