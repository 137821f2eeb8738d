// Picks a backend for a device and precision: the CPU's in the core, the
// GPU's from the CUDA backend library, loaded only when a GPU is to be used.
#include "api/registry.hpp"

#include <string>
#include <utility>

#include "backends/cuda_plugin.hpp"
#include "core/error.hpp"

namespace visionrt {
namespace {

std::shared_ptr<Backend> make_gpu_backend(Precision precision) {
  CudaBackendConfig config;
  config.precision = precision_policy(precision, Device::cuda);
  return load_cuda_backend(config);
}

}  // namespace

namespace {

constexpr std::pair<Device, const char*> kDeviceNames[] = {
    {Device::cpu, "cpu"}, {Device::cuda, "cuda"}, {Device::automatic, "auto"}};
constexpr std::pair<Precision, const char*> kPrecisionNames[] = {
    {Precision::fp32, "fp32"}, {Precision::bf16, "bf16"}, {Precision::fp16, "fp16"}, {Precision::tf32, "tf32"}};

template <typename T, size_t N>
const char* name_of(const std::pair<T, const char*> (&names)[N], T value) {
  for (const auto& [v, name] : names)
    if (v == value) return name;
  return "?";
}

template <typename T, size_t N>
bool parse(const std::pair<T, const char*> (&names)[N], const std::string& text, T* value) {
  for (const auto& [v, name] : names)
    if (text == name) {
      *value = v;
      return true;
    }
  return false;
}

}  // namespace

const char* device_name(Device device) noexcept { return name_of(kDeviceNames, device); }
bool parse_device(const std::string& text, Device* device) noexcept { return parse(kDeviceNames, text, device); }
const char* precision_name(Precision precision) noexcept { return name_of(kPrecisionNames, precision); }
bool parse_precision(const std::string& text, Precision* precision) noexcept {
  return parse(kPrecisionNames, text, precision);
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

PrecisionPolicy precision_policy(Precision precision, Device device) {
  PrecisionPolicy p;
  if (device == Device::cuda) {
    // The GPU keeps activations, weights and products in one dtype.
    if (precision == Precision::fp16) p.activations = p.products = DType::f16;
    if (precision == Precision::bf16) p.activations = p.products = DType::bf16;
    p.tf32 = precision == Precision::tf32;
    return p;
  }
  // The CPU keeps activations in F32: bf16 means BF16 operands for matrix
  // products and convolutions, which AVX-512 BF16 and AMX run at twice the
  // rate, with F32 sums; there is no fast fp16 or tf32 path on a CPU.
  if (precision == Precision::fp16 || precision == Precision::tf32)
    fail(StatusCode::unsupported, precision_name(precision), " runs on GPUs only; the CPU computes in fp32 or bf16");
  if (precision == Precision::bf16) p.products = DType::bf16;
  return p;
}

std::shared_ptr<Backend> make_cpu_backend_for(int threads, Precision precision) {
  return make_cpu_backend(threads, precision_policy(precision, Device::cpu));
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
