// Picks a backend for a device. The one place that asks whether CUDA was built in.
#include "backends/registry.hpp"

#include <string>

#include "core/error.hpp"

namespace visionrt {

bool cuda_backend_usable() noexcept {
  // The CUDA backend joins the executor in its own step; until then every
  // graph runs on the CPU.
  return false;
}

Device device_of(const Backend& backend) {
  return std::string(backend.name()) == "cuda" ? Device::cuda : Device::cpu;
}

std::shared_ptr<Backend> make_backend(Device device, int threads, Precision precision) {
  switch (device) {
    case Device::cpu:
    case Device::automatic:
      if (precision == Precision::fp16)
        fail(StatusCode::unsupported, "fp16 runs on GPUs only; the CPU computes in fp32 or bf16");
      return make_cpu_backend(threads, precision == Precision::bf16 ? DType::bf16 : DType::f32);
    case Device::cuda:
#if VISIONRT_HAVE_CUDA
      fail(StatusCode::device_error, "the CUDA backend cannot run models yet; use the cpu device");
#else
      fail(StatusCode::device_error, "visionrt was built without CUDA; use the cpu device");
#endif
  }
  fail(StatusCode::invalid_argument, "unknown device");
}

}  // namespace visionrt
