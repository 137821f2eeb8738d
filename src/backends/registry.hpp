#pragma once
#include <memory>

#include "backends/backend.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt {

// True when a GPU backend can run graphs on this machine.
bool cuda_backend_usable() noexcept;

// The backend for `device`; automatic picks CUDA when usable, else the CPU.
// Throws device_error when the device asked for cannot be used, unsupported
// when it cannot compute in `precision`.
std::shared_ptr<Backend> make_backend(Device device, int threads, Precision precision = Precision::fp32);

// The device a backend runs on (cpu or cuda, never automatic).
Device device_of(const Backend& backend);

}  // namespace visionrt
