// Picks a backend for a device and precision: the CPU's in the core, the
// GPU's from the CUDA backend library, loaded only when a GPU is to be used.
#include "api/registry.hpp"

#include <string>

#include "backends/cuda_plugin.hpp"
#include "core/error.hpp"

namespace visionrt {
namespace {

std::shared_ptr<Backend> make_gpu_backend(Precision precision) {
  CudaBackendConfig config;
  config.compute = precision == Precision::fp16 ? DType::f16 : precision == Precision::bf16 ? DType::bf16 : DType::f32;
  config.tf32 = precision == Precision::tf32;
  return load_cuda_backend(config);
}

}  // namespace

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::fp32: return "fp32";
    case Precision::bf16: return "bf16";
    case Precision::fp16: return "fp16";
    case Precision::tf32: return "tf32";
  }
  return "?";
}

bool cuda_backend_usable() noexcept {
#if VISIONRT_HAVE_CUDA
  return cuda_driver_has_device(nullptr);
#else
  return false;
#endif
}

Device device_of(const Backend& backend) {
  return std::string(backend.name()) == "cuda" ? Device::cuda : Device::cpu;
}

std::shared_ptr<Backend> make_cpu_backend_for(int threads, Precision precision) {
  if (precision == Precision::fp16 || precision == Precision::tf32)
    fail(StatusCode::unsupported, precision_name(precision), " runs on GPUs only; the CPU computes in fp32 or bf16");
  return make_cpu_backend(threads, precision == Precision::bf16 ? DType::bf16 : DType::f32);
}

BackendChoice choose_backend(Device device, int threads, Precision precision) {
  switch (device) {
    case Device::cpu: return {make_cpu_backend_for(threads, precision), ""};
    case Device::cuda: return {make_gpu_backend(precision), ""};
    case Device::automatic: {
#if VISIONRT_HAVE_CUDA
      std::string why;
      if (cuda_driver_has_device(&why)) {
        try {
          return {make_gpu_backend(precision), ""};
        } catch (const Error& e) {
          why = e.what();
        }
      }
#else
      const std::string why = "visionrt was built without CUDA";
#endif
      if (precision == Precision::fp16 || precision == Precision::tf32)
        fail(StatusCode::device_error, precision_name(precision), " needs a GPU, and none is usable: ", why);
      return {make_cpu_backend_for(threads, precision), "no usable GPU: " + why + "; running on the CPU"};
    }
  }
  fail(StatusCode::invalid_argument, "unknown device");
}

}  // namespace visionrt
