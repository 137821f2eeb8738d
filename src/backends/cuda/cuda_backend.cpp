// The CUDA backend: device memory, copies and kernels on one stream per
// backend, weights uploaded once in the run's precision, and runs captured
// as CUDA graphs. Built into libvisionrt_cuda with the kernels; the core
// reaches it only through visionrt_cuda_backend_create (cuda_plugin.hpp).
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_context.hpp"
#include "backends/cuda_plugin.hpp"
#include "core/error.hpp"

namespace visionrt::cuda {

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clears a non-sticky error, so that the next call starts clean
  fail(status == cudaErrorMemoryAllocation ? StatusCode::out_of_memory : StatusCode::device_error, what,
       " failed: ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ")");
}

CudaStream::CudaStream() {
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
}

CudaStream::~CudaStream() {
  cudaStreamSynchronize(stream);
  cudaStreamDestroy(stream);
}

std::shared_ptr<const kernels::ConvPlan> ConvPlanCache::get(const kernels::ConvShape& s, size_t max_workspace_bytes,
                                                            void* cudnn_handle) {
  const std::vector<int64_t> key = {static_cast<int64_t>(s.dtype), s.tf32, s.N, s.H, s.W, s.Ci, s.Co, s.kh, s.kw,
                                    s.stride, s.pad, s.dilation, static_cast<int64_t>(s.epilogue.act), s.epilogue.residual,
                                    static_cast<int64_t>(s.epilogue.order), static_cast<int64_t>(max_workspace_bytes)};
  std::lock_guard<std::mutex> lock(mu_);
  if (auto plan = plans_[key].lock()) return plan;
  for (auto it = plans_.begin(); it != plans_.end();)  // shapes no executor uses any more
    it = it->second.expired() && it->first != key ? plans_.erase(it) : std::next(it);
  auto plan = std::make_shared<const kernels::ConvPlan>(kernels::ConvPlan::create(s, max_workspace_bytes, cudnn_handle));
  plans_[key] = plan;
  return plan;
}

namespace {

class CudaGraphWork final : public CapturedWork {
 public:
  CudaGraphWork(cudaGraphExec_t exec, cudaStream_t stream) : exec_(exec), stream_(stream) {}
  ~CudaGraphWork() override { cudaGraphExecDestroy(exec_); }
  void launch() override { check(cudaGraphLaunch(exec_, stream_), "cudaGraphLaunch"); }

 private:
  cudaGraphExec_t exec_;
  cudaStream_t stream_;
};

// Made current first, so that the handles and the stream belong to it.
struct CurrentDevice {
  explicit CurrentDevice(int index) : index(index) { check(cudaSetDevice(index), "cudaSetDevice"); }
  int index;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaBackendConfig& config) : device_(config.device) {
    const PrecisionPolicy& p = config.precision;
    if (!is_float(p.activations) || p.products != p.activations || p.accumulate != DType::f32 ||
        (p.tf32 && p.activations != DType::f32))
      fail(StatusCode::unsupported, "the GPU computes activations and products in one of fp32, fp16 and bf16, "
           "sums in fp32, and tf32 only for fp32");
    context_.precision = p;
    context_.device = config.device;
  }
  // The context's members go in reverse order: the library handles first,
  // then the stream they were bound to (CudaStream waits for it first).
  ~CudaBackend() override { cudaSetDevice(device_.index); }
  const char* name() const override { return "cuda"; }
  void make_current() override { check(cudaSetDevice(device_.index), "cudaSetDevice"); }

  void* allocate(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, bytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_bytes = 0, total = 0;
      cudaMemGetInfo(&free_bytes, &total);
      fail(StatusCode::out_of_memory, "cannot allocate ", bytes >> 20, " MiB on GPU ", device_.index, " (",
           free_bytes >> 20,
           " MiB free of ", total >> 20, "); use a smaller batch or input size");
    }
    check(status, "cudaMalloc");
    return p;
  }
  void release(void* p) noexcept override { cudaFree(p); }
  void copy_to_device(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, context_.stream), "copy to the GPU");
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, context_.stream), "copy from the GPU");
  }
  void synchronize() override { check(cudaStreamSynchronize(context_.stream), "running on the GPU"); }
  void* allocate_staging(size_t bytes) override {
    void* p = nullptr;
    check(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), "allocating pinned host memory");
    return p;
  }
  void release_staging(void* p) noexcept override { cudaFreeHost(p); }

  Tensor prepare_weight(const Tensor& stored, DType dtype) override {
    std::vector<uint8_t> host;
    const void* src = stored.data();
    if (stored.dtype() != dtype) {
      host.resize(static_cast<size_t>(stored.numel()) * dtype_size(dtype));
      convert_floats(stored.data(), stored.dtype(), host.data(), dtype, stored.numel());
      src = host.data();
    }
    const size_t bytes = static_cast<size_t>(stored.numel()) * dtype_size(dtype);
    make_current();
    void* device = allocate(std::max<size_t>(bytes, 1));
    std::shared_ptr<void> keeper(device, [](void* p) { cudaFree(p); });
    // On the backend's own stream, which every kernel reading the weight
    // (a convolution's channel padding included) runs on after it; waited
    // for, since `host` goes when this returns.
    check(cudaMemcpyAsync(device, src, bytes, cudaMemcpyHostToDevice, context_.stream), "uploading a weight");
    check(cudaStreamSynchronize(context_.stream), "uploading a weight");
    return Tensor::view(dtype, stored.shape(), device, std::move(keeper));
  }

  const PrecisionPolicy& precision() const override { return context_.precision; }
  const Kernel* kernel(const NodeSignature& sig) const override { return cuda_kernel(sig); }
  graph::EpilogueFilter epilogue_filter() const override { return cuda_accepts_epilogue; }
  void bind_context(KernelArgs& args) override {
    args.stream = context_.stream;
    args.context = &context_;
  }
  void* context() override { return &context_; }

  std::unique_ptr<CapturedWork> capture(const std::function<void()>& enqueue) override {
    make_current();
    // Thread-local mode: other threads' unrelated CUDA calls do not break
    // this capture, and it cannot break theirs.
    check(cudaStreamBeginCapture(context_.stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    cudaGraph_t graph = nullptr;
    try {
      enqueue();
    } catch (...) {
      cudaStreamEndCapture(context_.stream, &graph);
      if (graph) cudaGraphDestroy(graph);
      cudaGetLastError();
      throw;
    }
    check(cudaStreamEndCapture(context_.stream, &graph), "capturing a CUDA graph");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    check(status, "cudaGraphInstantiate");
    return std::make_unique<CudaGraphWork>(exec, context_.stream);
  }

 private:
  CurrentDevice device_;
  CudaContext context_;
};

}  // namespace
}  // namespace visionrt::cuda

extern "C" __attribute__((visibility("default"))) bool visionrt_cuda_backend_create(
    int abi, const visionrt::CudaBackendConfig* config, std::shared_ptr<visionrt::Backend>* backend,
    std::string* error) {
  using visionrt::str_cat;
  if (abi != visionrt::kCudaPluginAbi) {
    *error = str_cat("the CUDA backend library is of another visionrt version (interface ", visionrt::kCudaPluginAbi,
                     ", the core asks for ", abi, ")");
    return false;
  }
  try {
    *backend = std::make_shared<visionrt::cuda::CudaBackend>(*config);
    return true;
  } catch (const std::exception& e) {
    *error = str_cat("the GPU could not be set up: ", e.what());
    return false;
  }
}
