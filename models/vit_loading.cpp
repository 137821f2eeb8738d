#include "models/vit_loading.hpp"

#include <cstring>

#include "core/error.hpp"

namespace visionrt::models {
namespace {

int64_t row_width(const Tensor& t) { return t.shape().size() > 1 ? t.numel() / t.dim(0) : 1; }

}  // namespace

bool is_timm_config(const nlohmann::json& config) {
  if (!config.is_object()) return false;
  const auto arch = config.find("architecture");
  return arch != config.end() && arch->is_string() && !config.contains("architectures") &&
         !config.contains("model_type");
}

int prefix_weight(CheckpointReader& r, const std::string& name, const std::vector<Tensor>& tokens,
                  int positioned, const Tensor& pos) {
  const int64_t D = pos.dim(2);
  int64_t rows = 0;
  for (const Tensor& t : tokens) rows += t.dim(1);
  return r.derived(name, {1, rows, D}, DType::f32, [tokens, positioned, pos, rows, D] {
    Tensor out = Tensor::empty(DType::f32, {1, rows, D});
    float* dst = out.f32();
    for (const Tensor& t : tokens) {
      const Tensor f = to_f32(t);
      std::memcpy(dst, f.f32(), f.nbytes());
      dst += f.numel();
    }
    const Tensor p = to_f32(pos);
    for (int64_t i = 0; i < int64_t(positioned) * D; ++i) out.f32()[i] += p.f32()[i];
    return out;
  });
}

int position_rows(CheckpointReader& r, const std::string& name, const Tensor& pos, int64_t first, int64_t count) {
  const int64_t D = pos.dim(2);
  return r.derived(name, {1, count, D}, DType::f32, [pos, first, count, D] {
    Tensor out = Tensor::empty(DType::f32, {1, count, D});
    const Tensor p = to_f32(pos);
    std::memcpy(out.f32(), p.f32() + first * D, out.nbytes());
    pos.release_pages();
    return out;
  });
}

int table_rows(CheckpointReader& r, const std::string& name, const Tensor& table, int64_t first, int64_t count,
                const Tensor* tokens) {
  const int64_t D = table.dim(-1);
  const bool add = tokens != nullptr;
  const Tensor extra = add ? *tokens : table;
  return r.derived(name, {count, D}, DType::f32, [table, first, count, D, add, extra] {
    Tensor out = Tensor::empty(DType::f32, {count, D});
    const Tensor t = to_f32(table);
    std::memcpy(out.f32(), t.f32() + first * D, out.nbytes());
    if (add) {
      const Tensor e = to_f32(extra);
      for (int64_t i = 0; i < count * D; ++i) out.f32()[i] += e.f32()[i];
    }
    return out;
  });
}

int scaled_rows(CheckpointReader& r, const std::string& name, const Tensor& w, const Tensor& scale) {
  return r.derived(name, w.shape(), DType::f32, [w, scale] {
    Tensor out = to_f32(w);
    const Tensor s = to_f32(scale);
    const int64_t k = row_width(w);
    for (int64_t i = 0; i < out.numel(); ++i) out.f32()[i] *= s.f32()[i / k];
    w.release_pages();
    return out;
  });
}

int residual_projection(CheckpointReader& r, const std::string& name, const Tensor& t, const Tensor* scale) {
  return scale ? scaled_rows(r, name + "*layer_scale", t, *scale) : r.add(name, t);
}

int row_slice(CheckpointReader& r, const std::string& name, const Tensor& w, int64_t first, int64_t count) {
  Shape shape = w.shape();
  shape[0] = count;
  return r.derived(name, shape, DType::f32, [w, first, count, shape] {
    Tensor out = Tensor::empty(DType::f32, shape);
    const int64_t k = row_width(w);
    const Tensor f = to_f32(w);
    std::memcpy(out.f32(), f.f32() + first * k, size_t(count * k) * sizeof(float));
    return out;
  });
}

Tensor zero_vector(int64_t n) {
  Tensor t = Tensor::empty(DType::f32, {n});
  std::memset(t.data(), 0, t.nbytes());
  return t;
}

}  // namespace visionrt::models
