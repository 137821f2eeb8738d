// Replaces every host allocation function the library's C++ code reaches
// (each form of operator new, and aligned_alloc, which tensors and the CPU
// backend's memory use) with one that can be told to fail. Defined in the
// executable, these win over the C++ and C libraries' for the whole process,
// the shared libvisionrt included. The memory itself comes from malloc and
// posix_memalign, so a sanitizer's allocator still sees and checks it.
#include "allocation_hook.hpp"

#include <stdlib.h>

#include <atomic>
#include <cstddef>
#include <new>

namespace allocation_hook {
namespace {

// Sites are return addresses, kept in an open-addressing set that never
// allocates (the hook must not call what it replaces).
constexpr size_t kSlots = size_t{1} << 16;
std::atomic<uintptr_t> g_sites[kSlots];
std::atomic<bool> g_recording{false};
std::atomic<uintptr_t> g_armed{0};
std::atomic<bool> g_fired{false};

void record(uintptr_t site) {
  size_t slot = (site * 0x9E3779B97F4A7C15ull) >> 48;
  for (size_t probes = 0; probes < kSlots; ++probes, slot = (slot + 1) % kSlots) {
    uintptr_t seen = 0;
    if (g_sites[slot].compare_exchange_strong(seen, site) || seen == site) return;
  }
}

}  // namespace

// True when this allocation is to fail: the first one from the armed site.
bool should_fail(const void* caller) {
  const auto site = reinterpret_cast<uintptr_t>(caller);
  if (g_recording.load(std::memory_order_relaxed)) record(site);
  if (g_armed.load(std::memory_order_relaxed) != site) return false;
  bool expected = false;
  return g_fired.compare_exchange_strong(expected, true);
}

void start_recording() {
  for (auto& s : g_sites) s.store(0);
  g_recording = true;
}

std::vector<uintptr_t> stop_recording() {
  g_recording = false;
  std::vector<uintptr_t> sites;
  for (auto& s : g_sites)
    if (const uintptr_t site = s.load()) sites.push_back(site);
  return sites;
}

void arm(uintptr_t site) {
  g_fired = false;
  g_armed = site;
}

bool disarm() {
  g_armed = 0;
  return g_fired.load();
}

}  // namespace allocation_hook

namespace {

void* allocate(std::size_t size, std::size_t alignment, const void* caller) {
  if (allocation_hook::should_fail(caller)) return nullptr;
  if (size == 0) size = 1;
  if (alignment <= alignof(std::max_align_t)) return malloc(size);
  void* p = nullptr;
  return posix_memalign(&p, alignment, size) == 0 ? p : nullptr;
}

void* allocate_or_throw(std::size_t size, std::size_t alignment, const void* caller) {
  if (void* p = allocate(size, alignment, caller)) return p;
  throw std::bad_alloc();
}

}  // namespace

#define CALLER __builtin_return_address(0)

extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) {
  return allocate(size, alignment < sizeof(void*) ? sizeof(void*) : alignment, CALLER);
}

void* operator new(std::size_t n) { return allocate_or_throw(n, 0, CALLER); }
void* operator new[](std::size_t n) { return allocate_or_throw(n, 0, CALLER); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate_or_throw(n, std::size_t(a), CALLER); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate_or_throw(n, std::size_t(a), CALLER); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0, CALLER); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, 0, CALLER); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, std::size_t(a), CALLER);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate(n, std::size_t(a), CALLER);
}

void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, std::size_t) noexcept { free(p); }
void operator delete[](void* p, std::size_t) noexcept { free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }
