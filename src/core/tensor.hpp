// A dense, row-major tensor: a dtype, a shape and a pointer into storage that
// the tensor may share (weights memory-mapped from a file, an executor arena).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.hpp"

namespace visionrt {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[1, 197, 768]"

class Tensor {
 public:
  Tensor() = default;
  // A new, owned, uninitialised tensor on the host.
  static Tensor empty(DType dtype, Shape shape);
  // A view of memory owned elsewhere; `keeper` (may be null) keeps it alive.
  static Tensor view(DType dtype, Shape shape, void* data,
                     std::shared_ptr<void> keeper = nullptr);
  // A view of a read-only file mapping (a checkpoint's weights): its pages
  // can be dropped from memory and are read back from the file on use.
  static Tensor mapped(DType dtype, Shape shape, void* data, std::shared_ptr<void> keeper);

  // For a mapped tensor, hands its whole pages back to the system (they
  // stay readable, faulted in again from the file); for any other, nothing.
  // Called once a weight has been converted or laid out anew, so that
  // loading holds about one copy of the model.
  void release_pages() const;

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i < 0 ? shape_.size() + i : i]; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool defined() const { return data_ != nullptr || numel() == 0; }

  void* data() const { return data_; }
  float* f32() const;  // checks the dtype
  template <typename T>
  T* ptr() const { return static_cast<T*>(data_); }

  // Same storage, another shape of the same element count.
  Tensor reshaped(Shape shape) const;

 private:
  DType dtype_ = DType::f32;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> keeper_;
  bool mapped_ = false;
};

// Converts F32/F16/BF16 data to a new f32 tensor of the same shape.
Tensor to_f32(const Tensor& t);

}  // namespace visionrt
