// The interface the executor runs a graph through. One implementation per
// device; ops reach a backend only through the op table's function columns.
#pragma once
#include <cstddef>
#include <memory>

#include "graph/ops.hpp"

namespace visionrt {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // Device memory for activations and scratch, planned once per input shape.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  virtual void copy_to_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;

  // A weight as the device's ops read it (the CPU reads host memory as is).
  virtual Tensor adopt_weight(const Tensor& host) = 0;

  // This backend's function for an op, or null when it lacks one.
  virtual graph::OpFn function(const graph::OpDef& def) const = 0;
  // Scratch bytes an op needs here for these shapes.
  virtual size_t workspace_bytes(const graph::OpDef& def, const std::vector<const Shape*>& in,
                                 const graph::Attrs& attrs) const = 0;
  // Fills the per-device context of an op's arguments (thread pool, stream).
  virtual void bind_context(graph::OpArgs& args) = 0;
  virtual void synchronize() {}
};

// threads <= 0: one per hardware thread.
std::shared_ptr<Backend> make_cpu_backend(int threads);

}  // namespace visionrt
