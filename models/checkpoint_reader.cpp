#include "models/checkpoint_reader.hpp"

#include <cstring>

namespace visionrt::models {
namespace {

DType stacked_dtype(const std::vector<Tensor>& parts) {
  for (const Tensor& p : parts)
    if (p.dtype() != parts[0].dtype()) return DType::f32;
  return parts[0].dtype();
}

}  // namespace

Tensor CheckpointReader::tensor(const std::string& name, const Shape& shape, const std::string& alt) {
  const std::string& use = !alt.empty() && !store_.contains(name) && store_.contains(alt) ? alt : name;
  Tensor t = store_.checked(use, shape);
  used_.add(use);
  parameters_ += t.numel();
  return t;
}

int CheckpointReader::weight(const std::string& name, const Shape& shape, const std::string& alt) {
  return table_.add(name, tensor(name, shape, alt));
}

int CheckpointReader::stacked(const std::string& name, std::vector<Tensor> parts) {
  const DType dtype = stacked_dtype(parts);
  Shape shape = parts[0].shape();
  shape[0] = 0;
  for (const Tensor& p : parts) shape[0] += p.dim(0);
  return table_.add_derived(name, shape, dtype, [parts, dtype, shape] {
    Tensor out = Tensor::empty(dtype, shape);
    char* dst = static_cast<char*>(out.data());
    for (const Tensor& p : parts) {
      const Tensor same = p.dtype() == dtype ? p : to_f32(p);
      std::memcpy(dst, same.data(), same.nbytes());
      dst += same.nbytes();
      p.release_pages();  // only the stacked copy is read from now on
    }
    return out;
  });
}

}  // namespace visionrt::models
