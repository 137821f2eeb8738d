// The graph passes and the executor's guarantees: every fusion pattern
// against the same graph unfused, the precision pass's dtypes and casts,
// executors of several shapes sharing one copy of the weights, the executor
// cache's eviction, and construction failures that leave nothing behind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>

#include "api/executor_cache.hpp"
#include "core/error.hpp"
#include "runtime/executor.hpp"
#include "graph/fuse.hpp"
#include "graph/ops.hpp"
#include "graph/precision.hpp"
#include "io/model_folder.hpp"
#include "models/detr.hpp"
#include "models/vit.hpp"

namespace visionrt {
namespace {

namespace fs = std::filesystem;
using graph::Attrs;
using graph::Op;

const fs::path kFixtures = fs::path(VISIONRT_SOURCE_DIR) / "tests" / "fixtures";

Tensor random_tensor(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  Tensor t = Tensor::empty(DType::f32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = d(rng);
  return t;
}

// One fusion pattern: a producer (linear or conv2d), then consumers.
enum class Step { act_gelu, act_relu, add_residual };
struct Pattern {
  std::string name;
  Op op;
  std::vector<Step> steps;
  int fused_nodes;              // nodes left once fused
  ResidualOrder order;          // of the producer, when it has a residual
};

// Builds x -> producer -> steps..., with the residual an extra input.
graph::Graph pattern_graph(const Pattern& p, std::vector<Tensor>* feeds) {
  graph::Graph g;
  const bool conv = p.op == Op::conv2d;
  const Shape x_shape = conv ? Shape{2, 5, 6, 4} : Shape{2, 7, 12};
  const Shape out_shape = conv ? Shape{2, 5, 6, 8} : Shape{2, 7, 9};
  const int x = g.add_input("x", x_shape);
  const int r = g.add_input("r", out_shape);
  feeds->push_back(random_tensor(x_shape, 1));
  feeds->push_back(random_tensor(out_shape, 2));
  Attrs a;
  if (conv) a.pad = 1;
  const Shape w_shape = conv ? Shape{8, 3, 3, 4} : Shape{9, 12};
  int h = g.add(p.op, {x, g.add_weight("w", random_tensor(w_shape, 3)), g.add_weight("b", random_tensor({w_shape[0]}, 4))}, a);
  for (Step s : p.steps) {
    Attrs act;
    act.epilogue.act = s == Step::act_gelu ? Activation::gelu_erf : Activation::relu;
    h = s == Step::add_residual ? g.add(Op::add, {h, r}) : g.add(Op::activation, {h}, act);
  }
  g.mark_output(h);
  return g;
}

std::vector<float> run(graph::Graph g, bool fuse, const std::vector<Tensor>& feeds, int* nodes = nullptr) {
  graph::ExecutorOptions options;
  options.fuse = fuse;
  graph::Executor ex(std::move(g), make_cpu_backend(1), nullptr, options);
  if (nodes) *nodes = static_cast<int>(ex.graph().nodes().size());
  const graph::Value& out = ex.graph().value(ex.graph().outputs()[0]);
  std::vector<float> got(shape_numel(out.shape), NAN);
  ex.run(feeds, {Tensor::view(DType::f32, out.shape, got.data())});
  return got;
}

TEST(FusionPassTest, EveryPatternMatchesTheUnfusedGraph) {
  using S = Step;
  const ResidualOrder act_res = ResidualOrder::act_then_residual, res_act = ResidualOrder::residual_then_act;
  std::vector<Pattern> patterns;
  for (Op op : {Op::linear, Op::conv2d}) {
    const std::string n = op == Op::linear ? "linear" : "conv2d";
    patterns.push_back({n + "_gelu", op, {S::act_gelu}, 1, act_res});
    patterns.push_back({n + "_add", op, {S::add_residual}, 1, act_res});
    patterns.push_back({n + "_gelu_add", op, {S::act_gelu, S::add_residual}, 1, act_res});
    patterns.push_back({n + "_add_relu", op, {S::add_residual, S::act_relu}, 1, res_act});
    patterns.push_back({n + "_add_gelu", op, {S::add_residual, S::act_gelu}, 1, res_act});
    // A second activation or a second residual stays a node of its own.
    patterns.push_back({n + "_relu_gelu", op, {S::act_relu, S::act_gelu}, 2, act_res});
    patterns.push_back({n + "_add_add", op, {S::add_residual, S::add_residual}, 2, act_res});
    patterns.push_back({n + "_gelu_add_relu", op, {S::act_gelu, S::add_residual, S::act_relu}, 2, act_res});
  }
  for (const Pattern& p : patterns) {
    SCOPED_TRACE(p.name);
    std::vector<Tensor> feeds;
    const graph::Graph g = pattern_graph(p, &feeds);
    int plain_nodes = 0, fused_nodes = 0;
    const std::vector<float> want = run(g, false, feeds, &plain_nodes);
    const std::vector<float> got = run(g, true, feeds, &fused_nodes);
    EXPECT_EQ(plain_nodes, 1 + static_cast<int>(p.steps.size()));
    EXPECT_EQ(fused_nodes, p.fused_nodes);
    // The same float operations in the same order, fused or not; 1e-6
    // relative leaves room for the compiler contracting a*b+c differently.
    double err = 0, scale = 1;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i]));
      err = std::max(err, double(std::abs(got[i] - want[i])));
      scale = std::max(scale, double(std::abs(want[i])));
    }
    EXPECT_LE(err / scale, 1e-6);
    graph::Graph fused = g;
    graph::fuse_epilogues(fused);
    const graph::Node& producer = fused.nodes().front();
    if (producer.inputs.size() == 4) EXPECT_EQ(producer.attrs.epilogue.order, p.order);
  }
}

TEST(FusionPassTest, BackendCanDeclineAnEpilogue) {
  std::vector<Tensor> feeds;
  graph::Graph g = pattern_graph({"linear_add_relu", Op::linear, {Step::add_residual, Step::act_relu}, 1, {}}, &feeds);
  // Declines a residual: only the activation could fuse, and it follows the add.
  graph::fuse_epilogues(g, [](graph::Op, const Epilogue& e) { return !e.residual; });
  EXPECT_EQ(g.nodes().size(), 3u);
  graph::Graph h = pattern_graph({"linear_gelu_add", Op::linear, {Step::act_gelu, Step::add_residual}, 1, {}}, &feeds);
  graph::fuse_epilogues(h, [](graph::Op, const Epilogue& e) { return !e.residual; });
  ASSERT_EQ(h.nodes().size(), 2u);
  EXPECT_EQ(h.nodes()[0].attrs.epilogue.act, Activation::gelu_erf);
}

models::VitModel load_vit(const std::string& name) {
  return models::VitModel::load(io::ModelFolder::open((kFixtures / "vit" / name).string()));
}

TEST(PrecisionPassTest, HalfActivationsWithF32BoundariesAndMasks) {
  for (DType t : {DType::f16, DType::bf16}) {
    SCOPED_TRACE(dtype_name(t));
    const models::VitModel vit = load_vit("p16_d64");
    const graph::Graph g = graph::apply_precision(vit.build(2, 64, 64, false), {t, t});
    for (int v : g.inputs()) EXPECT_EQ(g.value(v).dtype, DType::f32);
    for (int v : g.outputs()) EXPECT_EQ(g.value(v).dtype, DType::f32);
    int casts = 0;
    for (const graph::Node& n : g.nodes()) {
      if (n.op == Op::cast) {
        ++casts;
        continue;
      }
      EXPECT_EQ(g.value(n.output).dtype, t) << graph::op_def(n.op).name;
      for (int v : n.inputs) EXPECT_EQ(g.value(v).dtype, t) << graph::op_def(n.op).name;
    }
    EXPECT_EQ(casts, 2);  // pixels in, logits out

    const models::DetrModel detr =
        models::DetrModel::load(io::ModelFolder::open((kFixtures / "detr" / "r18_timm").string()));
    const graph::Graph d = graph::apply_precision(detr.build(1, 64, 96), {t, t});
    for (const graph::Node& n : d.nodes()) {
      const DType out = d.value(n.output).dtype;
      if (n.op == Op::mask_resize) EXPECT_EQ(out, DType::f32);
      if (n.op == Op::sine_position) EXPECT_EQ(out, t);
      if (n.op == Op::attention && n.inputs.size() == 4) EXPECT_EQ(d.value(n.inputs[3]).dtype, DType::f32);
      if (n.op == Op::linear || n.op == Op::conv2d) EXPECT_EQ(out, t);
    }
    for (int v : d.outputs()) EXPECT_EQ(d.value(v).dtype, DType::f32);
  }
}

// Fusion and precision run once per graph: a lowered graph is planned as
// it is (the executor's graph is the very one given), and lowering it again
// is refused rather than fusing twice.
TEST(PrecisionPassTest, TheGraphPassesRunOncePerGraph) {
  const models::VitModel vit = load_vit("p16_d64");
  const auto cpu = make_cpu_backend(1);
  const graph::Graph raw = vit.build(1, 64, 64, false);
  EXPECT_FALSE(raw.lowered());
  const graph::Graph lowered = graph::lower(raw, *cpu);
  EXPECT_TRUE(lowered.lowered());
  EXPECT_LT(lowered.nodes().size(), raw.nodes().size()) << "the fusion pass ran";
  EXPECT_THROW(graph::lower(lowered, *cpu), Error);
  EXPECT_EQ(graph::missing_kernel(lowered, *cpu), "");
  graph::Executor ex(lowered, cpu);
  ASSERT_EQ(ex.graph().nodes().size(), lowered.nodes().size());
  for (size_t i = 0; i < lowered.nodes().size(); ++i) {
    EXPECT_EQ(ex.graph().nodes()[i].op, lowered.nodes()[i].op);
    EXPECT_EQ(ex.graph().nodes()[i].inputs, lowered.nodes()[i].inputs);
  }
}

TEST(PrecisionPassTest, CpuRefusesHalfKernelsNamingOpAndDtypes) {
  const models::VitModel vit = load_vit("p16_d64");
  graph::ExecutorOptions options;
  options.precision = PrecisionPolicy{DType::f16, DType::f16};
  try {
    graph::Executor ex(vit.build(1, 64, 64, false), make_cpu_backend(1), nullptr, options);
    FAIL() << "expected unsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::unsupported);
    EXPECT_NE(std::string(e.what()).find("'patch_embed' kernel for F16"), std::string::npos) << e.what();
  }
}

TEST(PrecisionPassTest, CastsRoundTripOnTheCpu) {
  for (DType t : {DType::f16, DType::bf16}) {
    graph::Graph g;
    const int x = g.add_input("x", {3, 50});
    Attrs to, back;
    to.dtype = t;
    const int y = g.add(Op::cast, {g.add(Op::cast, {x}, to)}, back);
    g.mark_output(y);
    graph::Executor ex(std::move(g), make_cpu_backend(2));
    const Tensor in = random_tensor({3, 50}, 9);
    std::vector<float> out(150);
    ex.run({in}, {Tensor::view(DType::f32, {3, 50}, out.data())});
    // Rounding to nearest keeps half a unit in the last place: 2^-11
    // relative for F16's 11-bit significand, 2^-8 for BF16's 8 bits.
    const double ulp = t == DType::f16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
    for (int i = 0; i < 150; ++i) EXPECT_LE(std::abs(out[i] - in.f32()[i]), ulp * std::abs(in.f32()[i]) + 1e-7);
  }
}

TEST(PreparedWeightsTest, ExecutorsOfSeveralShapesHoldTheWeightsOnce) {
  for (const char* name : {"p16_d64", "p8_f16"}) {
    SCOPED_TRACE(name);
    const models::VitModel vit = load_vit(name);
    auto backend = make_cpu_backend(1);
    auto weights = std::make_shared<PreparedWeights>(backend, vit.weights());
    const int h = vit.config().image_height, w = vit.config().image_width;
    std::vector<std::unique_ptr<graph::Executor>> executors;
    size_t after_first = 0;
    int held_after_first = 0;
    for (auto [n, height, width] : {std::tuple{1, h, w}, {3, h, w}, {2, h + 16, w - 8}}) {
      executors.push_back(std::make_unique<graph::Executor>(vit.build(n, height, width, true), backend, weights));
      if (executors.size() == 1) {
        after_first = weights->added_bytes();
        held_after_first = weights->held_count();
      }
    }
    // Every weight value of every executor is bound to the one prepared copy
    // (or, where a kernel keeps the weight in its own layout, to none).
    std::map<int, const void*> data;
    for (const auto& ex : executors)
      for (size_t v = 0; v < ex->graph().values().size(); ++v) {
        const graph::Value& val = ex->graph().value(static_cast<int>(v));
        if (val.kind != graph::ValueKind::weight) continue;
        auto [it, added] = data.emplace(val.weight, ex->bound(static_cast<int>(v)).data());
        EXPECT_EQ(it->second, ex->bound(static_cast<int>(v)).data()) << val.name;
      }
    // Conversions (F16 to F32), derived weights and kernel layouts (oneDNN's
    // blocked weights) are made for the first shape; the others add nothing.
    EXPECT_EQ(weights->held_count(), held_after_first);
    EXPECT_EQ(weights->added_bytes(), after_first);
    const size_t stored = vit.weights()->bytes();
    std::printf("%s: %d weights in the table (%zu bytes), %d held for the CPU (%zu bytes added), 3 shapes\n",
                name, vit.weights()->size(), stored, weights->held_count(), weights->added_bytes());
  }
}

TEST(ExecutorCacheTest, EvictsTheLeastRecentlyUsedShapeAndShrinks) {
  const models::VitModel vit = load_vit("p16_d64");
  const int h = vit.config().image_height, w = vit.config().image_width;
  ExecutorCache cache(make_cpu_backend(1), vit.weights(),
                      [&](int n, int hh, int ww) { return vit.build(n, hh, ww, false); }, 2);
  const int64_t labels = static_cast<int64_t>(vit.config().labels.size());
  auto run = [&](int n) {
    const Tensor px = random_tensor({n, 3, h, w}, 5);
    std::vector<float> out(n * labels);
    cache.run({n, h, w}, {px}, {Tensor::view(DType::f32, {n, labels}, out.data())});
    return cache.held_bytes();
  };
  const size_t one = run(1), eight = run(8);
  EXPECT_GT(eight, one);
  EXPECT_EQ(run(2), eight);  // drops 1
  EXPECT_EQ(cache.shapes(), 2u);
  EXPECT_EQ(run(8), eight);  // 8 is now the most recently used
  EXPECT_EQ(run(1), eight);  // drops 2
  EXPECT_LT(run(2), eight);  // drops 8: the block shrinks to what 1 and 2 need
  EXPECT_EQ(cache.shapes(), 2u);
}

// A backend over the CPU one that counts what it hands out and fails on
// request: the Nth allocation, or the Nth kernel state prepared.
struct Counts {
  int allocations = 0, states = 0;
  int fail_allocation_at = -1, fail_prepare_at = -1;
  int allocation_calls = 0, prepare_calls = 0;
};
Counts g_counts;

class FailingBackend final : public Backend {
 public:
  FailingBackend() : cpu_(make_cpu_backend(1)) {}
  const char* name() const override { return "failing"; }
  const PrecisionPolicy& precision() const override { return cpu_->precision(); }
  void* allocate(size_t bytes) override {
    if (g_counts.allocation_calls++ == g_counts.fail_allocation_at)
      fail(StatusCode::out_of_memory, "injected allocation failure");
    ++g_counts.allocations;
    return cpu_->allocate(bytes);
  }
  void release(void* p) noexcept override {
    if (p) --g_counts.allocations;
    cpu_->release(p);
  }
  void copy_to_device(void* d, const void* s, size_t n) override { cpu_->copy_to_device(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n) override { cpu_->copy_to_host(d, s, n); }
  Tensor prepare_weight(const Tensor& stored, DType dtype) override { return cpu_->prepare_weight(stored, dtype); }
  const Kernel* kernel(const NodeSignature& sig) const override {
    const Kernel* k = cpu_->kernel(sig);
    if (!k) return nullptr;
    Kernel& entry = kernels_[static_cast<int>(sig.node->op)];
    entry = *k;
    entry.prepare = [](const NodeSignature&) -> void* {
      if (g_counts.prepare_calls++ == g_counts.fail_prepare_at)
        fail(StatusCode::device_error, "injected prepare failure");
      ++g_counts.states;
      return new int(0);
    };
    entry.release = [](void* s) noexcept {
      --g_counts.states;
      delete static_cast<int*>(s);
    };
    return &entry;
  }
  void bind_context(KernelArgs& args) override { cpu_->bind_context(args); }

 private:
  std::shared_ptr<Backend> cpu_;
  mutable Kernel kernels_[static_cast<int>(Op::count_)];
};

TEST(ExecutorFailureTest, NothingLeaksWhenConstructionFails) {
  const models::VitModel vit = load_vit("p16_d64");
  auto backend = std::make_shared<FailingBackend>();
  g_counts = {};
  const int nodes = [&] {
    graph::Executor ex(vit.build(1, 64, 64, false), backend);
    EXPECT_EQ(g_counts.allocations, 1);
    return g_counts.states;
  }();
  ASSERT_GT(nodes, 5);
  EXPECT_EQ(g_counts.allocations, 0);
  EXPECT_EQ(g_counts.states, 0);
  // Fail at every prepare in turn (midway through the states), then at the memory.
  for (int at = 0; at <= nodes; ++at) {
    g_counts = {};
    if (at < nodes)
      g_counts.fail_prepare_at = at;
    else
      g_counts.fail_allocation_at = 0;
    EXPECT_THROW(graph::Executor(vit.build(1, 64, 64, false), backend), Error) << "failure at " << at;
    EXPECT_EQ(g_counts.allocations, 0) << "failure at " << at;
    EXPECT_EQ(g_counts.states, 0) << "failure at " << at;
  }
}

}  // namespace
}  // namespace visionrt

namespace visionrt::graph {
namespace {

// A window that overshoots the padded input gives no output position, even
// where integer division would round the overshoot to zero.
TEST(ShapeRuleTest, ConvolutionAndPoolWithNoWindowThatFitsAreRefused) {
  Attrs a;
  a.stride = 2;
  EXPECT_EQ(conv_out_size(4, 5, a), 0);  // (4 - 5) / 2 + 1 would be 1
  EXPECT_EQ(conv_out_size(5, 5, a), 1);
  EXPECT_EQ(conv_out_size(7, 5, a), 2);
  Graph g(std::make_shared<WeightTable>());
  const int x = g.add_input("x", {1, 4, 4, 8});
  Attrs pool;
  pool.kernel = 5;
  pool.stride = 2;
  EXPECT_THROW(g.add(Op::max_pool, {x}, pool), Error);
}

}  // namespace
}  // namespace visionrt::graph
