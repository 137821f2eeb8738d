#include "core/tensor.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <new>

#include "core/error.hpp"

namespace visionrt {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

Tensor Tensor::empty(DType dtype, Shape shape) {
  for (int64_t d : shape)
    if (d < 0) fail(StatusCode::invalid_argument, "negative dimension in shape ", shape_str(shape));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  // 64-byte alignment keeps vector loads aligned on every CPU.
  const size_t bytes = (t.nbytes() + 63) / 64 * 64;
  void* p = bytes ? std::aligned_alloc(64, bytes) : nullptr;
  if (bytes && !p) fail(StatusCode::out_of_memory, "cannot allocate ", bytes, " bytes on the host");
  t.data_ = p;
  t.keeper_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  return t;
}

Tensor Tensor::view(DType dtype, Shape shape, void* data, std::shared_ptr<void> keeper) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  t.keeper_ = std::move(keeper);
  return t;
}

Tensor Tensor::mapped(DType dtype, Shape shape, void* data, std::shared_ptr<void> keeper) {
  Tensor t = view(dtype, std::move(shape), data, std::move(keeper));
  t.mapped_ = true;
  return t;
}

void Tensor::release_pages() const {
  if (!mapped_ || !data_) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data_) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data_) + nbytes()) / page * page;
  // Only whole pages inside the tensor: neighbours keep theirs. Unmodified
  // pages of a private file mapping are reread from the file when touched.
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

float* Tensor::f32() const {
  VRT_CHECK(dtype_ == DType::f32, "tensor is ", dtype_name(dtype_), ", not F32");
  return static_cast<float*>(data_);
}

Tensor Tensor::reshaped(Shape shape) const {
  VRT_CHECK(shape_numel(shape) == numel(), "cannot reshape ", shape_str(shape_), " to ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor to_f32(const Tensor& t) {
  Tensor out = Tensor::empty(DType::f32, t.shape());
  convert_floats(t.data(), t.dtype(), out.data(), DType::f32, t.numel());
  return out;
}

}  // namespace visionrt
