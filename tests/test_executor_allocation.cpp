// A planned executor runs without allocating: every buffer is planned and
// allocated when the executor is built. Counted through the global
// operator new, which every C++ allocation goes through, and aligned_alloc,
// which tensors and the CPU backend's memory use.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <random>

#include "runtime/backend.hpp"
#include "runtime/executor.hpp"
#include "io/model_folder.hpp"
#include "models/detr.hpp"
#include "models/vit.hpp"

namespace {
std::atomic<long> g_allocations{0};
// Allocations made by code inside the oneDNN library, counted apart: its
// primitives allocate inside every execution (their argument maps), which
// no caller can prevent.
std::atomic<long> g_onednn_allocations{0};

bool called_from_onednn(const void* caller) {
  Dl_info info;
  return dladdr(caller, &info) != 0 && info.dli_fname && std::strstr(info.dli_fname, "libdnnl");
}
}  // namespace

void count_allocation(const void* caller) {
  if (called_from_onednn(caller))
    ++g_onednn_allocations;
  else
    ++g_allocations;
}

extern "C" void* __libc_memalign(std::size_t alignment, std::size_t size);

// Replaces the C library's for the whole process (the library's calls
// resolve to the executable's definition first); glibc's own memalign
// does the work.
namespace {
std::atomic<long> g_aligned_allocs{0};  // every aligned_alloc, wherever from
}  // namespace

extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) {
  ++g_aligned_allocs;
  count_allocation(__builtin_return_address(0));
  return __libc_memalign(alignment, size);
}

// Every replaceable form, so that every C++ allocation is counted and each
// delete frees what its new made: all allocate with malloc (or glibc's
// memalign, for over-aligned types) and free with free. One form left to the
// C++ library, or to AddressSanitizer's, which stands in for the library's,
// would go uncounted, and its delete would be another allocator's kind than
// the new it frees (an alloc-dealloc mismatch to the sanitizer). The nothrow
// forms are used too (std::stable_sort's buffer).
namespace {
void* allocate(std::size_t size, std::size_t alignment) noexcept {
  if (size == 0) size = 1;
  return alignment <= alignof(std::max_align_t) ? std::malloc(size) : __libc_memalign(alignment, size);
}
void* allocate_or_throw(std::size_t size, std::size_t alignment) {
  if (void* p = allocate(size, alignment)) return p;
  throw std::bad_alloc();
}
}  // namespace

#define COUNTED(call) (count_allocation(__builtin_return_address(0)), call)
void* operator new(std::size_t n) { return COUNTED(allocate_or_throw(n, 0)); }
void* operator new[](std::size_t n) { return COUNTED(allocate_or_throw(n, 0)); }
void* operator new(std::size_t n, std::align_val_t a) { return COUNTED(allocate_or_throw(n, std::size_t(a))); }
void* operator new[](std::size_t n, std::align_val_t a) { return COUNTED(allocate_or_throw(n, std::size_t(a))); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return COUNTED(allocate(n, 0)); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return COUNTED(allocate(n, 0)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return COUNTED(allocate(n, std::size_t(a)));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return COUNTED(allocate(n, std::size_t(a)));
}
#undef COUNTED
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace visionrt {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot(VISIONRT_SOURCE_DIR);

// Runs `ex` once to warm up, then again, and returns the allocations the
// second run made.
long allocations_of_second_run(graph::Executor& ex, const std::vector<Tensor>& in,
                               const std::vector<Tensor>& out) {
  ex.run(in, out);
  const long before = g_allocations.load(), onednn_before = g_onednn_allocations.load();
  ex.run(in, out);
  const long onednn = g_onednn_allocations.load() - onednn_before;
  if (onednn) std::printf("allocations inside oneDNN (not counted): %ld\n", onednn);
  return g_allocations.load() - before;
}

Tensor view(const std::vector<float>& v, Shape shape) {
  return Tensor::view(DType::f32, std::move(shape), const_cast<float*>(v.data()));
}

std::vector<float> random_values(size_t n) {
  std::mt19937 rng(11);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// The counters see what they are meant to: a tensor's aligned_alloc, made
// inside the library, and a plain new.
TEST(ExecutorAllocationTest, CountersSeeAlignedAllocAndNew) {
  const long aligned = g_aligned_allocs.load(), before = g_allocations.load();
  const Tensor t = Tensor::empty(DType::f32, {1000});
  EXPECT_EQ(g_aligned_allocs.load() - aligned, 1);
  EXPECT_GE(g_allocations.load() - before, 2);  // the aligned data, and the shape's vector
  const long news = g_allocations.load();
  int* volatile p = new int(1);
  delete p;
  EXPECT_EQ(g_allocations.load() - news, 1);
}

TEST(ExecutorAllocationTest, VitRunAllocatesNothing) {
  const io::ModelFolder folder = io::ModelFolder::open((kRoot / "tests/fixtures/vit/p16_d64").string());
  const models::VitModel model = models::VitModel::load(folder);
  graph::Executor ex(model.build(2, 64, 64, false), make_cpu_backend(2));
  const std::vector<float> px = random_values(2 * 3 * 64 * 64);
  std::vector<float> logits(2 * model.config().labels.size());
  EXPECT_EQ(allocations_of_second_run(ex, {view(px, {2, 3, 64, 64})},
                                      {view(logits, {2, int64_t(model.config().labels.size())})}),
            0);
}

TEST(ExecutorAllocationTest, DetrRunAllocatesNothing) {
  const io::ModelFolder folder = io::ModelFolder::open((kRoot / "tests/fixtures/detr/r18_timm").string());
  const models::DetrModel model = models::DetrModel::load(folder);
  graph::Executor ex(model.build(1, 64, 96), make_cpu_backend(2));
  const std::vector<float> px = random_values(3 * 64 * 96), mask(64 * 96, 1.f);
  const auto& c = model.config();
  std::vector<float> logits(c.num_queries * (c.labels.size() + 1)), boxes(c.num_queries * 4);
  const int64_t Q = c.num_queries;
  EXPECT_EQ(allocations_of_second_run(
                ex, {view(px, {1, 3, 64, 96}), view(mask, {1, 64, 96})},
                {view(logits, {1, Q, int64_t(c.labels.size()) + 1}), view(boxes, {1, Q, 4})}),
            0);
}

}  // namespace
}  // namespace visionrt
