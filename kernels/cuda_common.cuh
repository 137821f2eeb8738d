// Pieces shared by the kernel sources (CUDA only, never included by plain C++):
// runtime error checks that raise visionrt::Error, element conversions, 16-byte
// vector access and warp reductions.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "kernels/kernel_types.hpp"

namespace visionrt::kernels {

// ---- host side -------------------------------------------------------------

// A failed call also leaves its error as the thread's last error, where the
// next launch's check_launch would report it again: it is cleared first (a
// sticky error, one that broke the context, stays whatever is done here).
inline void check_cuda(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();
  fail(status == cudaErrorMemoryAllocation ? StatusCode::out_of_memory : StatusCode::device_error,
         what, " failed: ", cudaGetErrorName(status), " (", cudaGetErrorString(status), ")");
}

// A launch reports configuration errors only through cudaGetLastError.
inline void check_launch(const char* kernel) { check_cuda(cudaGetLastError(), kernel); }

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

inline bool is_aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Whether two byte ranges share a byte (launchers refuse outputs that
// overlap their inputs where the kernel reads after it writes).
inline bool overlaps(const void* a, uint64_t a_bytes, const void* b, uint64_t b_bytes) {
  const auto x = reinterpret_cast<uintptr_t>(a), y = reinterpret_cast<uintptr_t>(b);
  return x < y + b_bytes && y < x + a_bytes;
}

inline bool is_aligned(const void* p, uintptr_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

// CTAs for a grid-stride loop over `items`: enough to fill any current GPU,
// the kernel loops over the rest.
inline unsigned grid_stride_blocks(int64_t items, int threads) {
  return unsigned(std::min<int64_t>((items + threads - 1) / threads, 8192));
}

// Records the first failed condition in *why; returns whether all held so far.
struct Requirements {
  std::string* why;
  bool ok = true;
  template <typename... Args>
  void require(bool cond, Args&&... message) {
    if (ok && !cond) {
      ok = false;
      if (why) *why = str_cat(std::forward<Args>(message)...);
    }
  }
};

// A planned call's scratch: where it needs any, at least `need` bytes,
// `alignment`-aligned.
inline void require_workspace(Requirements& req, const void* workspace, size_t have, size_t need,
                              uintptr_t alignment) {
  if (need == 0) return;
  req.require(workspace && have >= need, "workspace of ", have, " bytes, ", need, " needed");
  req.require(is_aligned(workspace, alignment), "workspace must be ", alignment, "-byte aligned");
}

// Throws unsupported with the reason can_implement gives, so that no kernel
// ever runs on parameters it was not written for.
template <typename Params>
void require_implementable(const Params& p, const char* op) {
  std::string why;
  if (!can_implement(p, &why)) fail(StatusCode::unsupported, op, ": ", why);
}

// ---- device side -------------------------------------------------------------

template <typename T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Rounds v to T and back, as storing it and reading it again would.
template <typename T>
__device__ __forceinline__ float round_to(float v) { return to_float(from_float<T>(v)); }

// Elements of T in one 16-byte vector.
template <typename T>
constexpr int kVec16 = 16 / static_cast<int>(sizeof(T));

// 16-byte loads and stores; p must be 16-byte aligned.
template <typename T>
__device__ __forceinline__ void load_vec16(const T* p, float (&out)[kVec16<T>]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int j = 0; j < kVec16<T>; ++j) out[j] = to_float(e[j]);
}

template <typename T>
__device__ __forceinline__ void store_vec16(T* p, const float (&in)[kVec16<T>]) {
  uint4 raw;
  T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int j = 0; j < kVec16<T>; ++j) e[j] = from_float<T>(in[j]);
  *reinterpret_cast<uint4*>(p) = raw;
}

// E values from p: one element, or a 16-byte vector of kVec16<T> of them.
template <typename T, int E>
__device__ __forceinline__ void load_items(const T* p, float (&v)[E]) {
  if constexpr (E == 1) {
    v[0] = to_float(p[0]);
  } else {
    load_vec16(p, v);
  }
}

template <typename T, int E>
__device__ __forceinline__ void store_items(T* p, const float (&v)[E]) {
  if constexpr (E == 1) {
    p[0] = from_float<T>(v[0]);
  } else {
    store_vec16(p, v);
  }
}

// Two floats rounded to T and packed into 32 bits, the first in the low half
// (the lower column index of an mma fragment pair).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  const __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024);
// every thread gets the total. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // an earlier call may still be reading scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return warp_sum(lane < warps ? scratch[lane] : 0.f);
}

// Calls fn(T{}) with T the CUDA element type of `dtype`.
template <typename Fn>
void dispatch_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::f16: fn(__half{}); return;
    case DType::bf16: fn(__nv_bfloat16{}); return;
    default: break;
  }
  fail(StatusCode::internal, "unknown kernel data type ", static_cast<int>(dtype));
}

}  // namespace visionrt::kernels
