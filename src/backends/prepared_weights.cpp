#include "backends/backend.hpp"
#include "core/error.hpp"

namespace visionrt {

PreparedWeights::PreparedWeights(std::shared_ptr<Backend> backend,
                                 std::shared_ptr<const graph::WeightTable> table)
    : backend_(std::move(backend)), table_(std::move(table)) {
  VRT_CHECK(backend_ && table_, "prepared weights need a backend and a table");
}

const Tensor& PreparedWeights::get(int id, DType dtype) {
  const auto key = std::make_pair(id, dtype);
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    const Tensor& stored = table_->tensor(id);
    Tensor t = backend_->prepare_weight(stored, dtype);
    if (t.data() != stored.data()) {
      added_bytes_ += t.nbytes();
      stored.release_pages();
    }
    it = prepared_.emplace(key, std::move(t)).first;
  }
  return it->second;
}

const Tensor& PreparedWeights::derived(int id, DType dtype, const std::string& layout,
                                       const std::function<Tensor(const Tensor&)>& make) {
  const auto key = std::make_tuple(id, dtype, layout);
  auto it = derived_.find(key);
  if (it == derived_.end()) {
    const Tensor& source = get(id, dtype);
    Tensor t = make(source);
    added_bytes_ += t.nbytes();
    source.release_pages();
    it = derived_.emplace(key, std::move(t)).first;
  }
  return it->second;
}

}  // namespace visionrt
