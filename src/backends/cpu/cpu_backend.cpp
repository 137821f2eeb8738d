// The CPU backend and its kernel table: fp32 kernels for every op, and
// conversions between F32, F16 and BF16. Weights stored in F32 are read in
// place from the memory-mapped checkpoint.
#include <cpuid.h>

#include <cstdlib>
#include <cstring>

#include "runtime/backend.hpp"
#include "backends/cpu/cpu_ops.hpp"
#if VISIONRT_HAVE_ONEDNN
#include "backends/cpu/cpu_onednn.hpp"
#endif
#include "core/error.hpp"
#include "core/thread_pool.hpp"

namespace visionrt {
namespace {

using graph::Op;

// linear and conv2d: oneDNN primitives prepared per node where oneDNN is
// built in, else the built-in GEMM. The one place that asks.
// With BF16 operands they are oneDNN's too, or not available.
// Every one of them is a dense convolution: a conv2d with groups != 1 gets
// the depthwise kernel (kernel() below), and they refuse one at plan time
// should it reach them.
#if VISIONRT_HAVE_ONEDNN
// Their weights (slot 1) live in the primitives' own layouts.
constexpr Kernel kLinear{cpu::onednn_run, cpu::onednn_workspace, cpu::onednn_prepare, cpu::onednn_release, 1u << 1};
constexpr Kernel kConv2d{cpu::onednn_run, cpu::onednn_workspace, cpu::onednn_prepare, cpu::onednn_release, 1u << 1,
                         cpu::dense_conv2d_can_implement};
constexpr Kernel kProductBf16{cpu::onednn_run, cpu::onednn_workspace_bf16, cpu::onednn_prepare_bf16,
                              cpu::onednn_release, 1u << 1, cpu::dense_conv2d_can_implement};
constexpr bool kHaveBf16Products = true;
#else
constexpr Kernel kLinear{cpu::linear};
constexpr Kernel kConv2d{cpu::conv2d, cpu::conv2d_workspace, nullptr, nullptr, 0, cpu::dense_conv2d_can_implement};
constexpr Kernel kProductBf16{};
constexpr bool kHaveBf16Products = false;
#endif
// conv2d with groups != 1: depthwise only (its can_implement names the
// rest), in fp32 also under BF16 products.
constexpr Kernel kDepthwiseConv2d{cpu::depthwise_conv2d, cpu::depthwise_conv2d_workspace, nullptr, nullptr, 0,
                                  cpu::depthwise_conv2d_can_implement};

const KernelTable kCpuKernels({
    {Op::patch_embed, {cpu::patch_embed, cpu::patch_embed_workspace}},
    {Op::embed_tokens, {cpu::embed_tokens}},
    {Op::layer_norm, {cpu::layer_norm}},
    {Op::linear, kLinear},
    {Op::attention, {cpu::attention, cpu::attention_workspace}},
    {Op::activation, {cpu::activation}},
    {Op::add, {cpu::add}},
    {Op::select_token, {cpu::select_token}},
    {Op::nchw_to_nhwc, {cpu::nchw_to_nhwc}},
    {Op::flatten_spatial, {cpu::copy}},  // the same elements
    {Op::conv2d, kConv2d},
    {Op::max_pool, {cpu::max_pool}},
    {Op::mask_resize, {cpu::mask_resize}},
    {Op::sine_position, {cpu::sine_position, cpu::sine_position_workspace}},
    {Op::cast, {cpu::cast}},
    {Op::expand, {cpu::expand}},
    {Op::zeros_like, {cpu::zeros_like}},
    {Op::resample_position, {cpu::resample_position, cpu::resample_position_workspace}},
    {Op::ms_deform_attn, {cpu::ms_deform_attn}},
    {Op::avg_pool, {cpu::avg_pool}},
    {Op::upsample_nearest, {cpu::upsample_nearest}},
    {Op::concat, {cpu::concat}},
    {Op::grid_sincos_position, {cpu::grid_sincos_position}},
    {Op::anchor_boxes, {cpu::anchor_boxes}},
    {Op::mask_invalid_anchors, {cpu::mask_invalid_anchors}},
    {Op::gather_top_k, {cpu::gather_top_k, cpu::gather_top_k_workspace}},
    {Op::inverse_sigmoid, {cpu::inverse_sigmoid}},
    {Op::unflatten_spatial, {cpu::copy}},  // the same elements
    {Op::pad_spatial, {cpu::pad_spatial}},
    {Op::affine, {cpu::affine}},
    {Op::mul, {cpu::mul}},
    {Op::slice_last, {cpu::slice_last}},
    {Op::mean_tokens, {cpu::mean_tokens}},
    {Op::slice_tokens, {cpu::slice_tokens}},
    {Op::fdr_boxes, {cpu::fdr_boxes}},
    {Op::lqe_stat, {cpu::lqe_stat}},
});

// AVX-512 BF16 or AMX-BF16, with the operating system saving their state,
// as GCC's __builtin_cpu_supports("avx512bf16") and ("amx-bf16") say; read
// from CPUID and XCR0 here because clang before 16 knows neither name.
bool cpu_has_bf16_products() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
    return false;
  const unsigned max_subleaf = a, amx_bf16 = d >> 22 & 1;
  unsigned xcr0 = 0, xcr0_high = 0;
  __asm__("xgetbv" : "=a"(xcr0), "=d"(xcr0_high) : "c"(0));
  constexpr unsigned kTileState = 0x60000;  // XTILECFG and XTILEDATA
  if (amx_bf16 && (xcr0 & kTileState) == kTileState) return true;
  // avx512f is asked of the builtin, which also checks the ZMM state.
  return max_subleaf >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1) &&
         __builtin_cpu_supports("avx512f");
}

// What this CPU lacks for BF16 products, or null when it has it.
const char* bf16_missing() {
  if (!kHaveBf16Products) return "visionrt was built without oneDNN, which runs them";
  if (!cpu_has_bf16_products())
    return "this CPU has neither AVX-512 BF16 nor AMX";
  return nullptr;
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(int threads, const PrecisionPolicy& precision) : pool_(threads), precision_(precision) {
    if (precision_.activations != DType::f32 || precision_.accumulate != DType::f32 || precision_.tf32)
      fail(StatusCode::unsupported, "the CPU keeps activations and sums in fp32, without tf32");
    if (precision_.products == DType::bf16) {
      if (const char* why = bf16_missing())
        fail(StatusCode::unsupported, "bf16 on the CPU needs AVX-512 BF16 or AMX: ", why, "; use fp32");
    } else if (precision_.products != DType::f32) {
      fail(StatusCode::unsupported, "the CPU computes matrix products in fp32 or bf16, not ",
           dtype_name(precision_.products));
    }
  }
  const char* name() const override { return "cpu"; }

  void* allocate(size_t bytes) override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p && bytes) fail(StatusCode::out_of_memory, "cannot allocate ", bytes, " bytes on the host");
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  const PrecisionPolicy& precision() const override { return precision_; }
  void copy_to_device(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }

  Tensor prepare_weight(const Tensor& stored, DType dtype) override {
    if (stored.dtype() == dtype) return stored;
    Tensor out = Tensor::empty(dtype, stored.shape());
    convert_floats(stored.data(), stored.dtype(), out.data(), dtype, stored.numel());
    return out;
  }

  const Kernel* kernel(const NodeSignature& sig) const override {
    const Op op = sig.node->op;
    // Every kernel computes in F32; cast converts between the float types.
    if (op == Op::cast) return is_float(sig.in_dtypes[0]) && is_float(sig.out_dtype) ? kCpuKernels.find(op) : nullptr;
    for (DType t : sig.in_dtypes)
      if (t != DType::f32) return nullptr;
    if (sig.out_dtype != DType::f32) return nullptr;
    if (op == Op::conv2d && sig.node->attrs.groups != 1) return &kDepthwiseConv2d;
    if (precision_.products == DType::bf16 && (op == Op::linear || op == Op::conv2d)) return &kProductBf16;
    return kCpuKernels.find(op);
  }
  void bind_context(KernelArgs& args) override { args.pool = &pool_; }
  int threads() const override { return pool_.size(); }

 private:
  mutable ThreadPool pool_;
  PrecisionPolicy precision_;
};

}  // namespace

std::shared_ptr<Backend> make_cpu_backend(int threads, const PrecisionPolicy& precision) {
  return std::make_shared<CpuBackend>(threads, precision);
}

}  // namespace visionrt
