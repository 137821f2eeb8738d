#include "runtime/backend.hpp"
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
    const Tensor stored = table_->materialize(id);
    Tensor t = backend_->prepare_weight(stored, dtype);
    if (t.data() != stored.data()) stored.release_pages();
    // Bytes beyond what the table holds: a conversion, or a derived weight made now.
    if (t.data() != stored.data() || table_->is_derived(id)) added_bytes_ += t.nbytes();
    it = prepared_.emplace(key, std::move(t)).first;
  }
  return it->second;
}

const Tensor& PreparedWeights::derived(int id, DType dtype, const std::string& layout,
                                       const std::function<Tensor(const Tensor&)>& make) {
  const auto key = std::make_tuple(id, dtype, layout);
  auto it = derived_.find(key);
  if (it == derived_.end()) {
    // The plain form only for the making, unless a kernel also reads it.
    const auto plain = prepared_.find(std::make_pair(id, dtype));
    Tensor stored, source;
    if (plain != prepared_.end()) {
      source = plain->second;
    } else {
      stored = table_->materialize(id);
      source = backend_->prepare_weight(stored, dtype);
    }
    Tensor t = make(source);
    added_bytes_ += t.nbytes();
    source.release_pages();
    stored.release_pages();
    it = derived_.emplace(key, std::move(t)).first;
  }
  return it->second;
}

}  // namespace visionrt
