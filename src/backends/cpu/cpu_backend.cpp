#include <cstdlib>
#include <cstring>

#include "backends/backend.hpp"
#include "core/error.hpp"
#include "core/thread_pool.hpp"

namespace visionrt {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : pool_(threads) {}
  const char* name() const override { return "cpu"; }

  void* allocate(size_t bytes) override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p && bytes) fail(StatusCode::out_of_memory, "cannot allocate ", bytes, " bytes on the host");
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  void copy_to_device(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  Tensor adopt_weight(const Tensor& host) override { return host; }

  graph::OpFn function(const graph::OpDef& def) const override { return def.cpu; }
  size_t workspace_bytes(const graph::OpDef& def, const std::vector<const Shape*>& in,
                         const graph::Attrs& attrs) const override {
    return def.cpu_workspace ? def.cpu_workspace(in, attrs, pool_.size()) : 0;
  }
  void bind_context(graph::OpArgs& args) override { args.pool = &pool_; }

 private:
  mutable ThreadPool pool_;
};

}  // namespace

std::shared_ptr<Backend> make_cpu_backend(int threads) { return std::make_shared<CpuBackend>(threads); }

}  // namespace visionrt
