// The CPU backend and its kernel table: fp32 kernels for every op, and
// conversions between F32, F16 and BF16. Weights stored in F32 are read in
// place from the memory-mapped checkpoint.
#include <cstdlib>
#include <cstring>

#include "backends/backend.hpp"
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
#if VISIONRT_HAVE_ONEDNN
constexpr Kernel kLinear{cpu::onednn_run, cpu::onednn_workspace, cpu::onednn_prepare, cpu::onednn_release};
constexpr Kernel kConv2d = kLinear;
#else
constexpr Kernel kLinear{cpu::linear};
constexpr Kernel kConv2d{cpu::conv2d, cpu::conv2d_workspace};
#endif

// One entry per op, in Op's order.
const Kernel kCpuKernels[] = {
    {cpu::patch_embed, cpu::patch_embed_workspace},
    {cpu::embed_tokens},
    {cpu::layer_norm},
    kLinear,
    {cpu::attention, cpu::attention_workspace},
    {cpu::activation},
    {cpu::add},
    {cpu::select_token},
    {cpu::nchw_to_nhwc},
    {cpu::copy},  // flatten_spatial: the same elements
    kConv2d,
    {cpu::max_pool},
    {cpu::mask_resize},
    {cpu::sine_position, cpu::sine_position_workspace},
    {cpu::cast},
    {cpu::expand},
    {cpu::zeros_like},
    {cpu::resample_position},
};
static_assert(sizeof(kCpuKernels) / sizeof(kCpuKernels[0]) == static_cast<size_t>(Op::count_),
              "one CPU kernel per op");

bool is_float(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : pool_(threads) {}
  const char* name() const override { return "cpu"; }

  void* allocate(size_t bytes) override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p && bytes) fail(StatusCode::out_of_memory, "cannot allocate ", bytes, " bytes on the host");
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  void copy_to_device(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }

  Tensor prepare_weight(const Tensor& stored, DType dtype) override {
    if (stored.dtype() == dtype) return stored;
    if (!is_float(stored.dtype()) || !is_float(dtype))
      fail(StatusCode::unsupported, "cannot convert a ", dtype_name(stored.dtype()), " weight to ",
           dtype_name(dtype));
    Tensor out = Tensor::empty(dtype, stored.shape());
    cpu::convert(stored.data(), stored.dtype(), out.data(), dtype, stored.numel());
    return out;
  }

  const Kernel* kernel(const NodeSignature& sig) const override {
    const Op op = sig.node->op;
    // Every kernel computes in F32; cast converts between the float types.
    if (op == Op::cast) return is_float(sig.in_dtypes[0]) && is_float(sig.out_dtype) ? &kCpuKernels[int(op)] : nullptr;
    for (DType t : sig.in_dtypes)
      if (t != DType::f32) return nullptr;
    return sig.out_dtype == DType::f32 ? &kCpuKernels[int(op)] : nullptr;
  }
  void bind_context(KernelArgs& args) override { args.pool = &pool_; }
  int threads() const override { return pool_.size(); }

 private:
  mutable ThreadPool pool_;
};

}  // namespace

std::shared_ptr<Backend> make_cpu_backend(int threads) { return std::make_shared<CpuBackend>(threads); }

}  // namespace visionrt
