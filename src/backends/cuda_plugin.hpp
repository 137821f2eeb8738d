// The CUDA backend lives in a library of its own, libvisionrt_cuda.so, with
// the CUDA kernels, cuBLAS(Lt) and the CUDA runtime: the core never links
// them, and loads the library only when a model is to run on a GPU. This
// header is the contract between the two: the one entry point the plugin
// exports, and what the core passes it.
#pragma once
#include <memory>
#include <string>

#include "runtime/backend.hpp"

namespace visionrt {

// Bumped whenever Backend, KernelArgs, NodeSignature or the config change
// layout: a plugin of another version is refused, not run.
constexpr int kCudaPluginAbi = 3;

struct CudaBackendConfig {
  // Activations, weights and products in one dtype (f32, f16 or bf16);
  // tf32 for f32 products on tensor cores.
  PrecisionPolicy precision;
  int device = 0;  // CUDA device index
};

// The plugin's entry point, exported unmangled as kCudaPluginEntry. Returns
// false with *error set instead of throwing: nothing crosses the boundary
// but the backend.
using CudaPluginEntry = bool (*)(int abi, const CudaBackendConfig* config, std::shared_ptr<Backend>* backend,
                                 std::string* error);
constexpr const char* kCudaPluginEntry = "visionrt_cuda_backend_create";

// Core side. Whether a GPU is usable, asked of the NVIDIA driver itself
// (libcuda.so.1), never of the CUDA runtime: where there is no driver,
// nothing of CUDA is loaded. False with the reason in *why.
bool cuda_driver_has_device(std::string* why);

// Loads libvisionrt_cuda (beside the core library, else by the loader's
// search path; VISIONRT_CUDA_PLUGIN names another file) and makes a backend.
// Throws device_error naming what failed: no plugin, a plugin of another
// version, no device, or the device failing to start.
std::shared_ptr<Backend> load_cuda_backend(const CudaBackendConfig& config);

}  // namespace visionrt
