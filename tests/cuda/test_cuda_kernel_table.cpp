// The CUDA backend's kernel table, asked at load time as the library asks it
// (graph::missing_kernel: the fusion pass with the backend's epilogue
// filter, the precision pass, then a kernel for every node), for every
// model the project ships or tests: each ViT and DETR fixture and demo
// model in each GPU precision. The table is plain code in the backend
// library, so this needs no GPU: a model the table refuses would otherwise
// be found only on a GPU machine, or run silently on the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/registry.hpp"
#include "backends/cuda/cuda_context.hpp"
#include "core/error.hpp"
#include "io/model_folder.hpp"
#include "io/preprocess.hpp"
#include "models/detection.hpp"
#include "models/vit.hpp"
#include "runtime/executor.hpp"

namespace visionrt {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot(VISIONRT_SOURCE_DIR);

// The CUDA backend's table and epilogue filter, with nothing of a device:
// only what missing_kernel asks of a backend.
class KernelTableBackend final : public Backend {
 public:
  explicit KernelTableBackend(const PrecisionPolicy& precision) : precision_(precision) {}
  const char* name() const override { return "cuda kernel table"; }
  void* allocate(size_t) override { fail(StatusCode::internal, "no device"); }
  void release(void*) noexcept override {}
  void copy_to_device(void*, const void*, size_t) override { fail(StatusCode::internal, "no device"); }
  void copy_to_host(void*, const void*, size_t) override { fail(StatusCode::internal, "no device"); }
  Tensor prepare_weight(const Tensor&, DType) override { fail(StatusCode::internal, "no device"); }
  void bind_context(KernelArgs&) override {}
  const PrecisionPolicy& precision() const override { return precision_; }
  const Kernel* kernel(const NodeSignature& sig) const override { return cuda::cuda_kernel(sig); }
  graph::EpilogueFilter epilogue_filter() const override { return cuda::cuda_accepts_epilogue; }

 private:
  PrecisionPolicy precision_;
};

struct ModelDir {
  fs::path path;
  bool detector;
};

// Every folder with a config.json under the fixtures and the demo models.
std::vector<ModelDir> model_dirs() {
  std::vector<ModelDir> dirs;
  for (const fs::path& root : {kRoot / "tests/fixtures/vit", kRoot / "tests/fixtures/vitfam", kRoot / "tests/fixtures/detr",
                               kRoot / "tests/fixtures/rtdetr", kRoot / "tests/fixtures/dfine", kRoot / "models/demo"})
    for (const auto& e : fs::directory_iterator(root)) {
      if (!fs::exists(e.path() / "config.json")) continue;
      std::ifstream in(e.path() / "config.json");
      const std::string type = nlohmann::json::parse(in).value("model_type", "");
      dirs.push_back({e.path(), type == "detr" || type == "rt_detr" || type == "rt_detr_v2" || type == "d_fine" ||
                                    type == "yolos"});
    }
  std::sort(dirs.begin(), dirs.end(), [](const ModelDir& a, const ModelDir& b) { return a.path < b.path; });
  return dirs;
}

// The graph the library asks about when it loads the model (classifier.cpp,
// embedder.cpp, detector.cpp): one image at the size it is prepared to (the
// features of a base model without a head), DETR's at a small one, the
// real-time DETRs' at their processor's fixed size.
graph::Graph sample_graph(const ModelDir& m) {
  const io::ModelFolder folder = io::ModelFolder::open(m.path.string());
  if (m.detector) {
    const models::DetectionModel d = models::load_detection_model(folder, m.path.string());
    return d.takes_pixel_mask ? d.build(1, 64, 96) : d.build(1, folder.preprocess.height, folder.preprocess.width);
  }
  const models::VitModel vit = models::VitModel::load(folder);
  const models::VitConfig& c = vit.config();
  const io::PreprocessConfig p = io::classifier_preprocess(folder.preprocess, c.image_height, c.image_width,
                                                           c.resample_always);
  return vit.build(1, p.output_height(), p.output_width(), false,
                   c.labels.empty() ? models::VitOutput::hidden_states : models::VitOutput::logits);
}

TEST(CudaKernelTable, AcceptsEveryShippedModelInEveryPrecision) {
  const std::vector<ModelDir> dirs = model_dirs();
  ASSERT_GE(dirs.size(), 20u) << "fixtures and demo models found";
  const Precision precisions[] = {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16};
  int accepted = 0, asked = 0;
  for (const ModelDir& m : dirs) {
    const graph::Graph g = sample_graph(m);
    for (const Precision p : precisions) {
      const char* name = precision_name(p);
      KernelTableBackend backend(precision_policy(p, Device::cuda));
      const std::string missing = graph::missing_kernel(g, backend);
      const std::string model = fs::relative(m.path, kRoot).string();
      ++asked;
      if (missing.empty()) ++accepted;
      std::cout << (missing.empty() ? "  accepted " : "  refused  ") << model << " " << name
                << (missing.empty() ? "" : ": no " + missing) << "\n";
      EXPECT_EQ(missing, "") << model << " in " << name;
    }
  }
  std::cout << "the CUDA kernel table accepts " << accepted << " of " << asked << " (model, precision) pairs\n";
}

// A linear node's epilogue as the CUDA kernel runs it, cuBLASLt's part then
// the element-wise kernel's, evaluated on numbers: it must be the node's
// own act(xW+b)+r or act(xW+b+r) for every activation, with and without a
// residual, in either order.
double activate(Activation a, double x) {
  switch (a) {
    case Activation::none: return x;
    case Activation::gelu_erf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::gelu_tanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::relu: return std::max(x, 0.0);
    case Activation::sigmoid: return 1 / (1 + std::exp(-x));
    case Activation::silu: return x / (1 + std::exp(-x));
  }
  return NAN;
}

// Two levels (3x3 and 1x3, 12 cells) of two points for two heads of 16
// channels: the deformable attention of the graphs below.
graph::Attrs deform_attrs() {
  graph::Attrs a;
  a.heads = 2;
  a.dim = 32;
  a.levels = 2;
  a.level_h[0] = 3;
  a.level_w[0] = 3;
  a.level_h[1] = 1;
  a.level_w[1] = 3;
  a.level_points[0] = a.level_points[1] = 2;
  return a;
}

// Every op the real-time DETRs add, in one graph, is planned on the GPU in
// each of its precisions: each launcher accepts its node's parameters (the
// top-k gather's with the workspace its rule asks for).
TEST(CudaKernelTable, AcceptsTheRealTimeDetrOps) {
  graph::Graph g;
  using graph::Op;
  graph::Attrs a;
  const int image = g.add_input("image", {1, 8, 6, 16});
  a.kernel = 2;
  a.stride = 2;
  const int pooled = g.add(Op::avg_pool, {image}, a);  // [1, 4, 3, 16]
  a = {};
  a.stride = 2;
  const int up = g.add(Op::upsample_nearest, {pooled}, a);  // [1, 8, 6, 16]
  a = {};
  a.axis = 3;
  g.mark_output(g.add(Op::concat, {image, up}, a));
  const int seq = g.add_input("seq", {1, 12, 32});
  a = deform_attrs();
  a.out_h = 3;
  a.out_w = 4;
  const int pos = g.add(Op::grid_sincos_position, {seq}, a);
  const int anchors = g.add(Op::anchor_boxes, {seq}, a);  // [1, 12, 4]
  const int masked = g.add(Op::mask_invalid_anchors, {pos, anchors});
  a.count = 4;
  const int top = g.add(Op::gather_top_k, {masked, g.add_input("scores", {1, 12, 5})}, a);  // [1, 4, 32]
  g.mark_output(g.add(Op::inverse_sigmoid, {top}));
  const int offsets = g.add_input("offsets", {1, 4, 16}), logits = g.add_input("logits", {1, 4, 8});
  const int boxes = g.add_input("boxes", {1, 4, 4});
  g.mark_output(g.add(Op::ms_deform_attn, {seq, offsets, logits, boxes}, a));
  for (const Precision p : {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16}) {
    KernelTableBackend backend(precision_policy(p, Device::cuda));
    EXPECT_EQ(graph::missing_kernel(g, backend), "") << precision_name(p);
  }
}

// D-FINE's backbone ops are planned on the GPU in each of its precisions:
// the stem's uneven pad, a depthwise convolution with ReLU and a residual
// (not cuDNN's: its own kernel), the affine clamp.
TEST(CudaKernelTable, AcceptsTheHgnetOps) {
  graph::Graph g;
  using graph::Op;
  graph::Attrs a;
  const int image = g.add_input("image", {1, 8, 6, 24});
  a.pad_end = 1;
  const int padded = g.add(Op::pad_spatial, {image}, a);  // [1, 9, 7, 24]
  a = {};
  a.groups = 24;
  a.stride = 2;
  a.pad = 2;
  a.epilogue.act = Activation::relu;
  a.epilogue.order = ResidualOrder::residual_then_act;
  const int w = g.add_weight("w", Tensor::empty(DType::f32, {24, 5, 5, 1}));
  const int b = g.add_weight("b", Tensor::empty(DType::f32, {24}));
  const int conv = g.add(Op::conv2d, {padded, w, b, g.add_input("residual", {1, 5, 4, 24})}, a);
  a = {};
  a.scale = 0.5f;
  a.shift = 0.25f;
  a.lo = -1.f;
  g.mark_output(g.add(Op::affine, {conv}, a));
  for (const Precision p : {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16}) {
    KernelTableBackend backend(precision_policy(p, Device::cuda));
    EXPECT_EQ(graph::missing_kernel(g, backend), "") << precision_name(p);
  }
}

// D-FINE's decoder's ops, in one graph, are planned on the GPU in each of
// its precisions.
TEST(CudaKernelTable, AcceptsTheDFineDecoderOps) {
  graph::Graph g;
  using graph::Op;
  graph::Attrs a;
  const int x = g.add_input("x", {2, 7, 64}), y = g.add_input("y", {2, 7, 64});
  a.offset = 16;
  a.width = 24;
  g.mark_output(g.add(Op::slice_last, {g.add(Op::mul, {x, y})}, a));
  a = {};
  a.bins = 32;
  a.count = 4;
  const int corners = g.add_input("corners", {2, 7, 132});
  g.mark_output(g.add(Op::fdr_boxes, {corners, g.add_input("boxes", {2, 7, 4})}, a));
  g.mark_output(g.add(Op::lqe_stat, {corners}, a));
  for (const Precision p : {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16}) {
    KernelTableBackend backend(precision_policy(p, Device::cuda));
    EXPECT_EQ(graph::missing_kernel(g, backend), "") << precision_name(p);
  }
}

// A node a launcher cannot run is refused when the graph is planned, with
// the launcher's own reason: attention over heads 300 wide (the kernel holds
// up to 256), a LayerNorm with eps 0, deformable attention from boxes
// with a NaN offset scale, sine-cosine positions at temperature 0.
TEST(CudaKernelTable, RefusesAtPlanTimeWhatALauncherCannotRun) {
  KernelTableBackend backend(precision_policy(Precision::fp16, Device::cuda));
  struct Case {
    const char* name;
    std::function<graph::Graph()> build;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"attention",
       [] {
         graph::Graph g;
         const int x = g.add_input("x", {1, 5, 600});
         graph::Attrs a;
         a.heads = 2;
         a.dim = 600;
         g.mark_output(g.add(graph::Op::attention, {x, x, x}, a));
         return g;
       },
       "head_dim 300"},
      {"layer_norm",
       [] {
         graph::Graph g;
         const int x = g.add_input("x", {2, 16});
         const int gamma = g.add_input("g", {16}), beta = g.add_input("b", {16});
         graph::Attrs a;
         a.eps = 0.f;
         g.mark_output(g.add(graph::Op::layer_norm, {x, gamma, beta}, a));
         return g;
       },
       "eps"},
      // Graph-valid attributes the launchers refuse.
      {"ms_deform_attn",
       [] {
         graph::Graph g;
         graph::Attrs a = deform_attrs();
         a.offset_scale = NAN;
         const int value = g.add_input("value", {1, 12, 32});
         const int offsets = g.add_input("offsets", {1, 4, 16}), logits = g.add_input("logits", {1, 4, 8});
         const int boxes = g.add_input("boxes", {1, 4, 4});
         g.mark_output(g.add(graph::Op::ms_deform_attn, {value, offsets, logits, boxes}, a));
         return g;
       },
       "offset_scale"},
      {"grid_sincos_position",
       [] {
         graph::Graph g;
         graph::Attrs a;
         a.out_h = 3;
         a.out_w = 4;
         a.temperature = 0.f;
         g.mark_output(g.add(graph::Op::grid_sincos_position, {g.add_input("x", {1, 12, 32})}, a));
         return g;
       },
       "temperature"},
      // Grouped, not depthwise: neither cuDNN's dense plan nor the depthwise kernel.
      {"conv2d",
       [] {
         graph::Graph g;
         graph::Attrs a;
         a.groups = 2;
         const int w = g.add_weight("w", Tensor::empty(DType::f32, {8, 3, 3, 4}));
         const int b = g.add_weight("b", Tensor::empty(DType::f32, {8}));
         g.mark_output(g.add(graph::Op::conv2d, {g.add_input("x", {1, 6, 6, 8}), w, b}, a));
         return g;
       },
       "depthwise (groups == Ci == Co) only"},
  };
  for (const Case& c : cases) {
    const std::string missing = graph::missing_kernel(c.build(), backend);
    EXPECT_NE(missing.find(std::string("'") + c.name + "' kernel for this node"), std::string::npos) << missing;
    EXPECT_NE(missing.find(c.reason), std::string::npos) << missing;
  }
}

// One value through an epilogue: bias already in xwb, then the residual
// and the activation in the epilogue's order.
double run_epilogue(const Epilogue& e, double xwb, double r) {
  const double rr = e.residual ? r : 0;
  return e.residual_first() ? activate(e.act, xwb + rr) : activate(e.act, xwb) + rr;
}

double run_split(const cuda::LinearEpilogue& e, double xwb, double r) {
  const double v = run_epilogue(e.gemm, xwb, r);
  return e.elementwise ? run_epilogue(e.after, v, r) : v;
}

TEST(CudaKernelTable, LinearEpiloguesComputeTheNodesFormula) {
  int checked = 0;
  for (Activation act : {Activation::none, Activation::gelu_erf, Activation::gelu_tanh, Activation::relu,
                         Activation::sigmoid, Activation::silu})
    for (bool residual : {false, true})
      for (ResidualOrder order : {ResidualOrder::act_then_residual, ResidualOrder::residual_then_act}) {
        const Epilogue node{act, residual, order};
        const cuda::LinearEpilogue e = cuda::split_linear_epilogue(node);
        EXPECT_FALSE(e.gemm.residual && e.elementwise && e.after.residual) << "the residual added twice";
        EXPECT_TRUE(kernels::can_implement(kernels::GemmShape{DType::f32, false, 8, 8, 8, true, e.gemm}, nullptr))
            << "cuBLASLt given an epilogue it cannot run";
        for (double xwb : {-2.5, -0.3, 0.7, 1.9})
          for (double r : {-1.25, 0.5}) {
            const double rr = residual ? r : 0;
            const double want =
                order == ResidualOrder::residual_then_act ? activate(act, xwb + rr) : activate(act, xwb) + rr;
            EXPECT_NEAR(run_split(e, xwb, r), want, 1e-12)
                << "act " << int(act) << " residual " << residual << " order " << int(order) << " at " << xwb;
            ++checked;
          }
      }
  EXPECT_EQ(checked, 6 * 2 * 2 * 8);
}

}  // namespace
}  // namespace visionrt
