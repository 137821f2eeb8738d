// Finding a GPU and loading the CUDA backend's library at run time.
#include "backends/cuda_plugin.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace visionrt {
namespace {

// The driver API's own types, so that no CUDA header is needed here.
using CuInit = int (*)(unsigned flags);
using CuDeviceGetCount = int (*)(int* count);

std::string plugin_name() { return "libvisionrt_cuda.so." VISIONRT_SOVERSION; }

// The folder the core library was loaded from ("" when it cannot tell).
std::string own_folder() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&cuda_driver_has_device), &info) == 0 || !info.dli_fname) return "";
  const std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

}  // namespace

bool cuda_driver_has_device(std::string* why) {
  // Asked once: the driver's answer does not change while the process runs.
  static std::once_flag once;
  static std::string reason;
  std::call_once(once, [] {
    void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!driver) {
      reason = "no NVIDIA driver (libcuda.so.1 not found)";
      return;
    }
    const auto init = reinterpret_cast<CuInit>(dlsym(driver, "cuInit"));
    const auto count = reinterpret_cast<CuDeviceGetCount>(dlsym(driver, "cuDeviceGetCount"));
    int devices = 0;
    int status = -1;
    if (!init || !count)
      reason = "the NVIDIA driver library lacks cuInit";
    else if ((status = init(0)) != 0)
      reason = str_cat("the NVIDIA driver failed to start (CUresult ", status, ")");
    else if ((status = count(&devices)) != 0 || devices == 0)
      reason = "the NVIDIA driver sees no CUDA device";
    // Kept loaded when there is a device: the CUDA runtime loads it anyway.
    if (!reason.empty()) dlclose(driver);
  });
  if (why) *why = reason;
  return reason.empty();
}

std::shared_ptr<Backend> load_cuda_backend(const CudaBackendConfig& config) {
#if !VISIONRT_HAVE_CUDA
  // Worded as the CUDA build's refusal below, "no usable GPU: <why>".
  fail(StatusCode::device_error, "no usable GPU: visionrt was built without CUDA; use the cpu device");
#else
  std::string why;
  if (!cuda_driver_has_device(&why)) fail(StatusCode::device_error, "no usable GPU: ", why);
  // Loaded once and never unloaded: backends made by it may live as long
  // as the process.
  static std::mutex mu;
  static void* library = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (!library) {
    std::vector<std::string> candidates;
    if (const char* path = std::getenv("VISIONRT_CUDA_PLUGIN"))
      candidates = {path};
    else
      candidates = {own_folder() + plugin_name(), plugin_name()};
    std::string tried;
    for (const std::string& path : candidates) {
      library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (library) break;
      const char* err = dlerror();
      tried += str_cat(tried.empty() ? "" : "; ", err ? err : path);
    }
    if (!library)
      fail(StatusCode::device_error, "the CUDA backend library could not be loaded (", tried,
           "); reinstall visionrt with CUDA, or use the cpu device");
  }
  const auto entry = reinterpret_cast<CudaPluginEntry>(dlsym(library, kCudaPluginEntry));
  if (!entry)
    fail(StatusCode::device_error, "the CUDA backend library has no ", kCudaPluginEntry,
         ": it is not visionrt's, or of another version");
  std::shared_ptr<Backend> backend;
  if (!entry(kCudaPluginAbi, &config, &backend, &why)) fail(StatusCode::device_error, why);
  return backend;
#endif
}

}  // namespace visionrt
