// Multi-scale deformable attention against transformers' own
// implementations (tests/fixtures/deform, written by
// tools/fixtures/make_deform_fixtures.py): RT-DETR's grid_sample-based
// MultiScaleDeformableAttention and RT-DETRv2's points per level with its
// default and discrete samplers, each case run as a one-node graph on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.hpp"
#include "runtime/executor.hpp"

namespace visionrt {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures" / "deform";

// fp32 on both sides, summing at most 4 taps of 12 points per channel in
// another order (and torch computing grid_sample's coordinates as
// ((2 loc - 1 + 1) * w - 1) / 2): a few ulp of outputs of order 1; 1e-5
// leaves margin and still catches a wrong tap, weight or border (O(0.1)).
constexpr double kMaxError = 1e-5;

TEST(DeformReferenceTest, MatchesTransformersOnEveryCase) {
  std::ifstream in(kFixtures / "cases.json");
  ASSERT_TRUE(in) << "missing " << (kFixtures / "cases.json");
  const nlohmann::json cases = nlohmann::json::parse(in).at("cases");
  const auto ref = io::SafetensorsFile::open((kFixtures / "cases.safetensors").string());
  auto tensor = [&](const std::string& name) {
    const io::TensorEntry* e = ref->find(name);
    if (!e) throw Error(StatusCode::not_found, "reference tensor " + name + " missing");
    return to_f32(ref->view(*e));
  };
  int compared = 0;
  for (const auto& [name, c] : cases.items()) {
    SCOPED_TRACE(name);
    graph::Attrs a;
    a.heads = c.at("heads");
    a.dim = a.heads * c.at("head_dim").get<int>();
    a.levels = int(c.at("levels").size());
    a.discrete = c.at("discrete");
    for (int l = 0; l < a.levels; ++l) {
      a.level_h[l] = c.at("levels")[l][0];
      a.level_w[l] = c.at("levels")[l][1];
      a.level_points[l] = c.at("points")[l];
    }
    const Tensor value = tensor(name + ".value");
    const Tensor loc = tensor(name + ".locations");
    const Tensor weights = tensor(name + ".weights");
    const Tensor want = tensor(name + ".output");
    graph::Graph g;
    const int v = g.add_input("value", value.shape()), l = g.add_input("locations", loc.shape()),
              w = g.add_input("weights", weights.shape());
    g.mark_output(g.add(graph::Op::ms_deform_attn, {v, l, w}, a));
    graph::Executor ex(std::move(g), make_cpu_backend(2));
    Tensor got = Tensor::empty(DType::f32, want.shape());
    ex.run({value, loc, weights}, {got});
    double err = 0;
    for (int64_t i = 0; i < got.numel(); ++i) err = std::max(err, double(std::abs(got.f32()[i] - want.f32()[i])));
    EXPECT_LE(err, kMaxError);
    std::printf("%s: max abs error %.3g over %lld outputs\n", name.c_str(), err, static_cast<long long>(got.numel()));
    ++compared;
  }
  EXPECT_EQ(compared, 4);
}

}  // namespace
}  // namespace visionrt
