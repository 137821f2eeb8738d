// The interface the executor runs a graph through. One implementation per
// device, each owning its kernel table: for every op it can run, the
// function, its scratch needs and per-node state prepared once at plan time
// (oneDNN primitives, cuBLASLt algorithm choices, cuDNN plans).
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <tuple>
#include <map>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "core/precision.hpp"
#include "core/tensor.hpp"
#include "graph/fuse.hpp"
#include "graph/graph.hpp"

namespace visionrt {
class ThreadPool;

// What a kernel receives: its node, input and output tensors (on the
// backend's device), scratch memory planned ahead, its prepared state and
// the backend's context.
struct KernelArgs {
  const graph::Node* node = nullptr;
  const Tensor* in[4] = {nullptr, nullptr, nullptr, nullptr};  // null: optional input absent
  int num_inputs = 0;
  Tensor out;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  void* state = nullptr;       // from the kernel's prepare, or null
  ThreadPool* pool = nullptr;  // CPU
  void* stream = nullptr;      // CUDA: cudaStream_t
  void* context = nullptr;     // the backend's own (CUDA: its library handles)
};

class PreparedWeights;
class Backend;

// What a kernel's workspace rule and prepare see of a node before any
// memory exists: shapes and dtypes of its inputs and output, and for inputs
// that are weights their ids in the model's table (else -1), through which
// prepare may ask for a weight in a layout of its own (PreparedWeights::derived).
struct NodeSignature {
  const graph::Node* node = nullptr;
  std::vector<const Shape*> in_shapes;
  std::vector<DType> in_dtypes;
  std::vector<int> weight_ids;
  Shape out_shape;
  DType out_dtype = DType::f32;
  PreparedWeights* weights = nullptr;
  Backend* backend = nullptr;  // whose kernel is asked for
};

// Work a backend recorded once and can launch again as a whole (a CUDA
// graph): same kernels, same arguments, same memory.
class CapturedWork {
 public:
  virtual ~CapturedWork() = default;
  virtual void launch() = 0;
};

struct Kernel {
  void (*run)(const KernelArgs& args) = nullptr;
  // Scratch bytes for this node; null = none. `threads`: the CPU's workers.
  size_t (*workspace)(const NodeSignature& sig, int threads) = nullptr;
  // Per-node state built once when an executor is planned, freed by
  // release; null = the kernel keeps none.
  void* (*prepare)(const NodeSignature& sig) = nullptr;
  void (*release)(void* state) noexcept = nullptr;
  // Input slots whose weights the kernel reads from its prepared state (a
  // layout of its own), never from its arguments: the executor then binds
  // no plain copy of those weights.
  unsigned weights_in_state = 0;
  // Whether the kernel runs this node (the launcher's own rules, on the
  // node's shapes and attributes), false with the reason in *why; asked
  // when a graph is planned, before prepare, so that an unsupported node is
  // refused when the model loads, never inside a run or a capture. Null:
  // every node of the op and dtypes the table gave it to.
  bool (*can_implement)(const NodeSignature& sig, std::string* why) = nullptr;
};

// A backend's kernel table: at most one kernel per op, looked up by op, so
// that no table depends on the order of graph::Op.
struct OpKernel {
  graph::Op op;
  Kernel kernel;
};

// Header-only: the CUDA backend's library has one too, without the core.
class KernelTable {
 public:
  explicit KernelTable(const std::vector<OpKernel>& entries)
      : by_op_(static_cast<size_t>(graph::Op::count_)), present_(by_op_.size(), 0) {
    for (const OpKernel& e : entries) {
      const size_t i = static_cast<size_t>(e.op);
      VRT_CHECK(i < by_op_.size() && !present_[i], "a kernel table names op ", static_cast<int>(e.op), " twice");
      by_op_[i] = e.kernel;
      present_[i] = 1;
    }
  }
  // The op's kernel, or null where the table has none.
  const Kernel* find(graph::Op op) const {
    const size_t i = static_cast<size_t>(op);
    return i < by_op_.size() && present_[i] ? &by_op_[i] : nullptr;
  }

 private:
  std::vector<Kernel> by_op_;
  std::vector<char> present_;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // Device memory for activations and scratch.
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  // Copies between host and device memory; on a device with streams they
  // are ordered with the kernels and complete by synchronize().
  virtual void copy_to_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() {}
  // Host memory the device copies from and to asynchronously (CUDA: pinned),
  // for staging a run's inputs and outputs; null where copies need none
  // (the CPU), and then the executor copies in place.
  virtual void* allocate_staging(size_t bytes) { return nullptr; }
  virtual void release_staging(void* p) noexcept {}

  // A model's weight as this backend's kernels read it, made once per
  // weight and dtype (PreparedWeights): converted to `dtype`, moved to the
  // device. The CPU reads an F32 weight in place, memory-mapped.
  virtual Tensor prepare_weight(const Tensor& stored, DType dtype) = 0;

  // What this backend computes in (core/precision.hpp).
  virtual const PrecisionPolicy& precision() const = 0;
  // This backend's kernel for a node, or null when it has none for the
  // node's op and dtypes.
  virtual const Kernel* kernel(const NodeSignature& sig) const = 0;
  // Whether this backend's kernels run a fused epilogue; the fusion pass
  // asks before fusing.
  virtual graph::EpilogueFilter epilogue_filter() const { return nullptr; }
  // Fills the per-device context of a kernel's arguments (thread pool, stream).
  virtual void bind_context(KernelArgs& args) = 0;
  // What this backend's kernels share (CUDA: its stream and library
  // handles), as KernelArgs::context; prepare reaches it through
  // NodeSignature::backend.
  virtual void* context() { return nullptr; }
  // Worker threads the CPU kernels split work over (workspace rules).
  virtual int threads() const { return 1; }
  // Makes this backend's device the calling thread's current one (CUDA
  // keeps it per thread): the executor calls it before planning and before
  // each run, so that a thread last used on another GPU enqueues here.
  virtual void make_current() {}
  // Records the kernels `enqueue` launches (without running them) for
  // launching again whole; null where the backend cannot (the CPU).
  virtual std::unique_ptr<CapturedWork> capture(const std::function<void()>& enqueue) { return nullptr; }
};

// threads <= 0: one per hardware thread. The CPU computes activations in
// F32 and products in F32 or BF16 (fp32 accumulation; BF16 needs AVX-512
// BF16 or AMX): any other policy is refused as unsupported, naming what
// the CPU lacks.
std::shared_ptr<Backend> make_cpu_backend(int threads, const PrecisionPolicy& precision = {});

// A model's weights as one backend reads them: each prepared once, on first
// use, and shared by every executor of the model, whatever its input shape.
// get and derived are virtual so that kernels of a backend in another
// library (the CUDA plugin) reach them through the object, without linking
// the core.
class PreparedWeights {
 public:
  PreparedWeights(std::shared_ptr<Backend> backend, std::shared_ptr<const graph::WeightTable> table);
  virtual ~PreparedWeights() = default;
  // The weight `id` of the table in `dtype`. Callers serialise (the
  // executor cache holds its lock while planning).
  virtual const Tensor& get(int id, DType dtype);
  // A form of the weight a kernel lays out itself (a oneDNN blocked
  // layout, a cuDNN padded one), made once by `make` from get(id, dtype)
  // and shared by every node and shape that asks with the same `layout` key.
  virtual const Tensor& derived(int id, DType dtype, const std::string& layout,
                                const std::function<Tensor(const Tensor&)>& make);
  const graph::WeightTable& table() const { return *table_; }
  int prepared_count() const { return static_cast<int>(prepared_.size()); }
  // Bytes this backend holds for them beyond what is stored in the table
  // (conversions, kernel layouts, derived weights made).
  size_t added_bytes() const { return added_bytes_; }
  // Weights held: plain forms and kernel layouts.
  int held_count() const { return static_cast<int>(prepared_.size() + derived_.size()); }

 private:
  std::shared_ptr<Backend> backend_;
  std::shared_ptr<const graph::WeightTable> table_;
  std::map<std::pair<int, DType>, Tensor> prepared_;
  std::map<std::tuple<int, DType, std::string>, Tensor> derived_;
  size_t added_bytes_ = 0;
};

}  // namespace visionrt
