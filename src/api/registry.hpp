#pragma once
#include <memory>
#include <string>

#include "runtime/backend.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt {

// True when a GPU backend can run graphs on this machine.
bool cuda_backend_usable() noexcept;

struct BackendChoice {
  std::shared_ptr<Backend> backend;
  // Why Device::automatic settled on the CPU; empty otherwise.
  std::string notice;
};

// The backend for `device` computing in `precision`; automatic picks the GPU
// when one is usable, else the CPU with a notice saying why. Throws
// device_error when the device asked for cannot be used, unsupported when it
// cannot compute in `precision`.
BackendChoice choose_backend(Device device, int threads, Precision precision);

// The one place a public precision becomes a policy, per device (cpu or
// cuda): what "bf16" means on each. Throws unsupported for a precision the
// device has no path for (fp16 and tf32 on the CPU).
PrecisionPolicy precision_policy(Precision precision, Device device);

// The CPU backend for `precision` (fp32 or bf16).
std::shared_ptr<Backend> make_cpu_backend_for(int threads, Precision precision);

// The device a backend runs on (cpu or cuda, never automatic).
Device device_of(const Backend& backend);

}  // namespace visionrt
