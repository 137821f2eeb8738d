// Fused multi-head attention, flash style: one CTA per (query tile, head,
// batch) streams K/V tiles through shared memory and keeps a running row max
// and row sum (fp32), so scores and probabilities live only in registers.
//
// f16/bf16: 4 warps, 16 query rows each (64 per CTA), 64-key tiles double
// buffered with cp.async; S = Q K^T and O += P V on tensor cores
// (mma.m16n8k16, fp32 accumulation). The S accumulator fragment of two
// adjacent 8-key tiles is exactly the A fragment of a 16-key step, so P goes
// from S to the P V product without touching shared memory.
// f32: one query row per thread (two for heads wider than 64), plain FMA over
// 16-key shared-memory tiles.
//
// Masked keys and keys past the end are loaded as zero K and V rows and get a
// -inf bias, so their weight is exactly 0 and 0 * 0 is added: whatever a
// padded position holds (NaN and Inf included) cannot reach the output.
//
// Each kernel is compiled for a few tile widths HD (16, 32, 64, 80, 128) and
// runs any head_dim that is a multiple of 8 up to 128 on the narrowest that
// holds it: columns from head_dim to HD are loaded as zeros (they add 0 to
// every Q.K product) and never stored, so a head of 8 (small DETRs) or 48
// needs no kernel of its own.
//
// Every other head_dim up to kMaxHeadDim (3, 12, 20, 200, ...) and rows that
// are not 16-byte aligned run on a generic kernel: one warp per query row,
// element-wise loads, fp32 throughout. The launcher picks it from the
// parameters; the semantics (masking, zeros for fully padded rows) are the
// same.
#include <cmath>

#include "kernels/cuda_common.cuh"
#include "kernels/mha_flash_tiled.hpp"
#include "kernels/ptx_primitives.cuh"

namespace visionrt::kernels {
namespace {

// Pointers already offset to head 0 of row 0; strides in elements.
struct AttentionArgs {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  const float* key_mask;
  int64_t q_stride, k_stride, v_stride, out_stride;
  int q_len, kv_len;
  int head_dim;      // the real width of a head, <= the kernel's HD
  float scale_log2;  // scale * log2(e): the softmax runs on exp2
};

constexpr float kLog2e = 1.4426950408889634f;

// ---- tensor-core kernel (f16, bf16) ------------------------------------------

constexpr int kMmaWarps = 4;
constexpr int kMmaThreads = 32 * kMmaWarps;
constexpr int kMmaBlockM = 16 * kMmaWarps;  // query rows per CTA
constexpr int kMmaBlockN = 64;              // keys per K/V tile

// Rows padded by 16 bytes: ldmatrix row addresses stay 16-byte aligned and
// the 8 rows of one 8x8 matrix fall in different bank groups (the pitch is an
// odd number of 16-byte chunks for every head_dim that is a multiple of 16).
template <int HD>
constexpr int kMmaPitch = HD + 8;

// The Q tile and two K and two V tiles. Above 48 KiB (head_dim 80 and 128) a
// kernel may only use shared memory that is dynamic and opted into.
template <typename T, int HD>
constexpr int kMmaSharedBytes =
    (kMmaBlockM + 4 * kMmaBlockN) * kMmaPitch<HD>* static_cast<int>(sizeof(T));

template <typename T, int HD>
__global__ void __launch_bounds__(kMmaThreads) attention_mma_kernel(const AttentionArgs a) {
  static_assert(HD % 16 == 0, "head_dim must be a multiple of 16");
  constexpr int kPitch = kMmaPitch<HD>;
  constexpr int kVec = kVec16<T>;         // elements per 16-byte chunk
  constexpr int kChunks = HD / kVec;      // 16-byte chunks per row
  constexpr int kTileElems = kMmaBlockN * kPitch;
  extern __shared__ __align__(16) unsigned char attention_smem[];
  T* const sq = reinterpret_cast<T*>(attention_smem);  // [kMmaBlockM * kPitch]
  T* const sk = sq + kMmaBlockM * kPitch;              // [2][kTileElems]
  T* const sv = sk + 2 * kTileElems;                   // [2][kTileElems]
  __shared__ float skey_bias[2][kMmaBlockN];  // 0 for a real key, -inf for padded or past the end

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;  // fragment row group and column pair
  const int h = blockIdx.y, b = blockIdx.z;
  const int q0 = blockIdx.x * kMmaBlockM;
  const T* qbase = static_cast<const T*>(a.q) + int64_t(b) * a.q_len * a.q_stride + h * a.head_dim;
  const T* kbase = static_cast<const T*>(a.k) + int64_t(b) * a.kv_len * a.k_stride + h * a.head_dim;
  const T* vbase = static_cast<const T*>(a.v) + int64_t(b) * a.kv_len * a.v_stride + h * a.head_dim;
  const float* mask = a.key_mask ? a.key_mask + int64_t(b) * a.kv_len : nullptr;

  auto is_real_key = [&](int key) {
    return key < a.kv_len && (mask == nullptr || mask[key] != 0.f);
  };
  // Rows row0 .. row0+rows-1 of a [len, head_dim] slice into shared memory;
  // rows for which keep(row) is false are not read and become zeros, and so
  // do the columns past head_dim.
  auto load_rows = [&](T* dst, const T* src, int64_t stride, int row0, int rows, auto keep) {
    for (int c = tid; c < rows * kChunks; c += kMmaThreads) {
      const int r = c / kChunks, col = (c % kChunks) * kVec;
      const bool valid = col < a.head_dim && keep(row0 + r);
      const T* from = valid ? src + int64_t(row0 + r) * stride + col : src;
      ptx::cp_async_16(dst + r * kPitch + col, from, valid);
    }
  };
  auto load_kv_tile = [&](int tile, int buf) {
    const int k0 = tile * kMmaBlockN;
    load_rows(sk + buf * kTileElems, kbase, a.k_stride, k0, kMmaBlockN, is_real_key);
    load_rows(sv + buf * kTileElems, vbase, a.v_stride, k0, kMmaBlockN, is_real_key);
    for (int j = tid; j < kMmaBlockN; j += kMmaThreads)
      skey_bias[buf][j] = is_real_key(k0 + j) ? 0.f : -INFINITY;
  };

  // Q tile and K/V tile 0 in one group; the Q tile stays in shared memory
  // and its fragments are re-read per tile, which keeps registers down.
  load_rows(sq, qbase, a.q_stride, q0, kMmaBlockM, [&](int row) { return row < a.q_len; });
  load_kv_tile(0, 0);
  ptx::cp_async_commit();

  float o[HD / 8][4];  // output accumulator: 8-column tiles of rows g and g+8
#pragma unroll
  for (int i = 0; i < HD / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY};  // rows g and g+8, log2 domain
  float row_sum[2] = {0.f, 0.f};              // this thread's columns only, reduced at the end

  const int tiles = (a.kv_len + kMmaBlockN - 1) / kMmaBlockN;
  for (int tile = 0; tile < tiles; ++tile) {
    const int buf = tile & 1;
    // Prefetch the next tile into the other buffer (freed by the barrier that
    // ended the previous iteration); an empty group keeps the count uniform.
    if (tile + 1 < tiles) load_kv_tile(tile + 1, buf ^ 1);
    ptx::cp_async_commit();
    ptx::cp_async_wait<1>();
    __syncthreads();
    const T* ks = sk + buf * kTileElems;
    const T* vs = sv + buf * kTileElems;
    const float* bias = skey_bias[buf];

    // S = Q K^T: 16 rows x 64 keys as eight 8-key n-tiles.
    float s[kMmaBlockN / 8][4];
#pragma unroll
    for (int n = 0; n < kMmaBlockN / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      // A fragment of this warp's 16 query rows, columns 16kk..16kk+15: lanes
      // 0-15 address rows 0-15 at column 16kk, lanes 16-31 at 16kk + 8.
      uint32_t qf[4];
      ptx::ldmatrix_x4(qf, sq + (warp * 16 + lane % 16) * kPitch + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int np = 0; np < kMmaBlockN / 16; ++np) {
        // Matrices: keys 16np+0..7 at dims 16kk+0..7 and +8..15, then keys
        // 16np+8..15 at the same dims: b0 b1 of n-tiles 2np and 2np+1.
        uint32_t kf[4];
        const int key = np * 16 + (lane / 16) * 8 + lane % 8;
        const int dim = kk * 16 + ((lane / 8) % 2) * 8;
        ptx::ldmatrix_x4(kf, ks + key * kPitch + dim);
        ptx::mma_16816<T>(s[2 * np], qf, kf[0], kf[1]);
        ptx::mma_16816<T>(s[2 * np + 1], qf, kf[2], kf[3]);
      }
    }

    // Online softmax. Element i of n-tile n is row g + 8(i/2), key 8n + 2t + i%2.
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kMmaBlockN / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        s[n][i] = s[n][i] * a.scale_log2 + bias[n * 8 + 2 * t + (i & 1)];
        tile_max[i / 2] = fmaxf(tile_max[i / 2], s[n][i]);
      }
    }
    float base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      // The four lanes of a row group hold that row's 64 keys between them.
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
      const float new_max = fmaxf(row_max[r], tile_max[r]);
      // While every key so far is padded the max is -inf; exponentiating
      // against 0 instead gives p = 0 and rescale 0 rather than NaN.
      base[r] = new_max == -INFINITY ? 0.f : new_max;
      const float rescale = exp2f(row_max[r] - base[r]);
      row_max[r] = new_max;
      row_sum[r] *= rescale;
#pragma unroll
      for (int d = 0; d < HD / 8; ++d) {
        o[d][2 * r] *= rescale;
        o[d][2 * r + 1] *= rescale;
      }
    }
#pragma unroll
    for (int n = 0; n < kMmaBlockN / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        s[n][i] = exp2f(s[n][i] - base[i / 2]);
        row_sum[i / 2] += s[n][i];
      }
    }

    // O += P V, 16 keys per step; P's A fragment is n-tiles 2kk and 2kk+1 of S.
#pragma unroll
    for (int kk = 0; kk < kMmaBlockN / 16; ++kk) {
      const uint32_t pa[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]),
                              pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                              pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < HD / 16; ++dp) {
        // Transposed matrices: keys 16kk+0..7 and +8..15 at dims 16dp+0..7,
        // then the same keys at dims +8..15: b0 b1 of dim tiles 2dp and 2dp+1.
        uint32_t vf[4];
        const int key = kk * 16 + ((lane / 8) % 2) * 8 + lane % 8;
        const int dim = dp * 16 + (lane / 16) * 8;
        ptx::ldmatrix_x4_trans(vf, vs + key * kPitch + dim);
        ptx::mma_16816<T>(o[2 * dp], pa, vf[0], vf[1]);
        ptx::mma_16816<T>(o[2 * dp + 1], pa, vf[2], vf[3]);
      }
    }
    __syncthreads();  // every warp is done with this buffer before it is refilled
  }

  T* obase = static_cast<T*>(a.out) + int64_t(b) * a.q_len * a.out_stride + h * a.head_dim;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float total = row_sum[r];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    const float inv = total > 0.f ? 1.f / total : 0.f;  // all keys padded: zeros
    const int row = q0 + warp * 16 + g + 8 * r;
    if (row < a.q_len) {
      T* orow = obase + int64_t(row) * a.out_stride;
#pragma unroll
      for (int d = 0; d < HD / 8; ++d)
        if (d * 8 < a.head_dim)
          *reinterpret_cast<uint32_t*>(orow + d * 8 + 2 * t) =
              pack2<T>(o[d][2 * r] * inv, o[d][2 * r + 1] * inv);
    }
  }
}

// ---- fp32 kernel ---------------------------------------------------------------

constexpr int kF32Threads = 128;  // one or two threads per query row
constexpr int kF32BlockN = 16;    // keys per shared-memory tile

// Heads wider than 64 split each query row over two adjacent lanes, each with
// half of the dims, so that its q and o (2 * HD / split floats) stay in
// registers. The halves interleave by float4 (lane part p has chunks p, p+2,
// ...), so the two lanes read neighbouring banks rather than one bank twice.
constexpr int f32_row_split(int head_dim) { return head_dim > 64 ? 2 : 1; }

template <int HD>
__global__ void __launch_bounds__(kF32Threads) attention_f32_kernel(const AttentionArgs a) {
  constexpr int kSplit = f32_row_split(HD);
  constexpr int kDims = HD / kSplit;  // dims per thread
  static_assert(kDims % 4 == 0, "each thread's dims must be whole float4s");
  constexpr int kRows = kF32Threads / kSplit;
  __shared__ __align__(16) float sk[kF32BlockN][HD];
  __shared__ __align__(16) float sv[kF32BlockN][HD];
  __shared__ float skey_bias[kF32BlockN];

  const int tid = threadIdx.x, h = blockIdx.y, b = blockIdx.z;
  const int row = blockIdx.x * kRows + tid / kSplit;
  const int part = tid % kSplit;
  // First of the four dims of this thread's i-th float4.
  auto dim_of = [&](int i) { return (i * kSplit + part) * 4; };
  const bool active = row < a.q_len;  // inactive threads still help load tiles
  const float* kbase = static_cast<const float*>(a.k) + int64_t(b) * a.kv_len * a.k_stride + h * a.head_dim;
  const float* vbase = static_cast<const float*>(a.v) + int64_t(b) * a.kv_len * a.v_stride + h * a.head_dim;
  const float* mask = a.key_mask ? a.key_mask + int64_t(b) * a.kv_len : nullptr;

  float q[kDims], o[kDims];
  const float* qrow = static_cast<const float*>(a.q) +
                      (int64_t(b) * a.q_len + (active ? row : 0)) * a.q_stride + h * a.head_dim;
#pragma unroll
  for (int d = 0; d < kDims; d += 4) {
    const float4 v = active && dim_of(d / 4) < a.head_dim
                         ? *reinterpret_cast<const float4*>(qrow + dim_of(d / 4))
                         : make_float4(0, 0, 0, 0);
    q[d] = v.x * a.scale_log2;
    q[d + 1] = v.y * a.scale_log2;
    q[d + 2] = v.z * a.scale_log2;
    q[d + 3] = v.w * a.scale_log2;
    o[d] = o[d + 1] = o[d + 2] = o[d + 3] = 0.f;
  }
  float row_max = -INFINITY, row_sum = 0.f;

  for (int k0 = 0; k0 < a.kv_len; k0 += kF32BlockN) {
    __syncthreads();  // the previous tile is fully consumed
    auto is_real_key = [&](int key) {
      return key < a.kv_len && (mask == nullptr || mask[key] != 0.f);
    };
    for (int c = tid; c < kF32BlockN * HD / 4; c += kF32Threads) {
      const int r = c / (HD / 4), col = (c % (HD / 4)) * 4;
      const int key = k0 + r;
      float4 kv = make_float4(0, 0, 0, 0), vv = kv;
      if (col < a.head_dim && is_real_key(key)) {
        kv = *reinterpret_cast<const float4*>(kbase + int64_t(key) * a.k_stride + col);
        vv = *reinterpret_cast<const float4*>(vbase + int64_t(key) * a.v_stride + col);
      }
      *reinterpret_cast<float4*>(&sk[r][col]) = kv;
      *reinterpret_cast<float4*>(&sv[r][col]) = vv;
    }
    for (int j = tid; j < kF32BlockN; j += kF32Threads)
      skey_bias[j] = is_real_key(k0 + j) ? 0.f : -INFINITY;
    __syncthreads();

    float s[kF32BlockN];
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kF32BlockN; ++j) {
      float acc = 0.f;
#pragma unroll
      for (int d = 0; d < kDims; d += 4) {
        const float4 kv = *reinterpret_cast<const float4*>(&sk[j][dim_of(d / 4)]);
        acc = fmaf(q[d], kv.x, acc);
        acc = fmaf(q[d + 1], kv.y, acc);
        acc = fmaf(q[d + 2], kv.z, acc);
        acc = fmaf(q[d + 3], kv.w, acc);
      }
      // Both lanes of a row add the same two halves (in swapped order, which
      // rounds the same), so they keep identical softmax statistics.
      if (kSplit == 2) acc += __shfl_xor_sync(0xffffffffu, acc, 1);
      s[j] = acc + skey_bias[j];
      tile_max = fmaxf(tile_max, s[j]);
    }
    const float new_max = fmaxf(row_max, tile_max);
    const float base = new_max == -INFINITY ? 0.f : new_max;  // see the mma kernel
    const float rescale = exp2f(row_max - base);
    row_max = new_max;
    row_sum *= rescale;
#pragma unroll
    for (int d = 0; d < kDims; ++d) o[d] *= rescale;
#pragma unroll
    for (int j = 0; j < kF32BlockN; ++j) {
      const float p = exp2f(s[j] - base);
      row_sum += p;
#pragma unroll
      for (int d = 0; d < kDims; d += 4) {
        const float4 vv = *reinterpret_cast<const float4*>(&sv[j][dim_of(d / 4)]);
        o[d] = fmaf(p, vv.x, o[d]);
        o[d + 1] = fmaf(p, vv.y, o[d + 1]);
        o[d + 2] = fmaf(p, vv.z, o[d + 2]);
        o[d + 3] = fmaf(p, vv.w, o[d + 3]);
      }
    }
  }

  if (active) {
    const float inv = row_sum > 0.f ? 1.f / row_sum : 0.f;
    float* orow = static_cast<float*>(a.out) + (int64_t(b) * a.q_len + row) * a.out_stride + h * a.head_dim;
#pragma unroll
    for (int d = 0; d < kDims; d += 4)
      if (dim_of(d / 4) < a.head_dim)
        *reinterpret_cast<float4*>(orow + dim_of(d / 4)) =
            make_float4(o[d] * inv, o[d + 1] * inv, o[d + 2] * inv, o[d + 3] * inv);
  }
}

// ---- generic kernel (any head_dim, any alignment) ----------------------------

constexpr int kGenericWarps = 4;  // query rows per CTA
constexpr int kGenericThreads = 32 * kGenericWarps;
constexpr int kGenericDimsPerLane = kMaxHeadDim / 32;

// One warp per (batch, head, query row), for heads the tiled kernels do not
// hold (head_dim not a multiple of 8) or rows that are not 16-byte aligned.
// Keys go 32 at a time, one per lane: each lane forms its key's logit from
// the query row (kept in shared memory as fp32, scaled) and the key's K row
// read element by element. After an online-softmax update of the warp's
// running max and sum, the lanes switch to the head's channels (lane, lane +
// 32, ...) and add p_j * V[j] for the chunk's real keys, p_j broadcast by
// shuffle. Everything is fp32; padded keys get a -inf logit and their K and V
// rows are never read.
template <typename T>
__global__ void __launch_bounds__(kGenericThreads) attention_generic_kernel(const AttentionArgs a) {
  __shared__ float sq[kGenericWarps][kMaxHeadDim];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int h = blockIdx.y, b = blockIdx.z;
  const int row = blockIdx.x * kGenericWarps + warp;
  if (row >= a.q_len) return;  // whole warps only: no block-wide barrier below
  const T* krows = static_cast<const T*>(a.k) + int64_t(b) * a.kv_len * a.k_stride + h * a.head_dim;
  const T* vrows = static_cast<const T*>(a.v) + int64_t(b) * a.kv_len * a.v_stride + h * a.head_dim;
  const float* mask = a.key_mask ? a.key_mask + int64_t(b) * a.kv_len : nullptr;
  const T* qrow = static_cast<const T*>(a.q) + (int64_t(b) * a.q_len + row) * a.q_stride + h * a.head_dim;
  float* q = sq[warp];
  for (int d = lane; d < a.head_dim; d += 32) q[d] = to_float(qrow[d]) * a.scale_log2;
  __syncwarp();

  float o[kGenericDimsPerLane];
#pragma unroll
  for (int c = 0; c < kGenericDimsPerLane; ++c) o[c] = 0.f;
  float row_max = -INFINITY, row_sum = 0.f;  // log2 domain; the sum is the warp's

  for (int k0 = 0; k0 < a.kv_len; k0 += 32) {
    const int key = k0 + lane;
    const bool real = key < a.kv_len && (mask == nullptr || mask[key] != 0.f);
    float s = -INFINITY;
    if (real) {
      const T* krow = krows + int64_t(key) * a.k_stride;
      float acc = 0.f;
      for (int d = 0; d < a.head_dim; ++d) acc = fmaf(q[d], to_float(krow[d]), acc);
      s = acc;
    }
    const float new_max = fmaxf(row_max, warp_max(s));
    // While every key so far is padded the max is -inf; exponentiating
    // against 0 instead gives p = 0 and rescale 0 rather than NaN.
    const float base = new_max == -INFINITY ? 0.f : new_max;
    const float rescale = exp2f(row_max - base);
    row_max = new_max;
    const float p = exp2f(s - base);  // 0 for padded keys
    row_sum = row_sum * rescale + warp_sum(p);
#pragma unroll
    for (int c = 0; c < kGenericDimsPerLane; ++c) o[c] *= rescale;

    unsigned real_keys = __ballot_sync(0xffffffffu, real);
    while (real_keys != 0u) {  // the same on every lane
      const int j = __ffs(real_keys) - 1;
      real_keys &= real_keys - 1u;
      const float pj = __shfl_sync(0xffffffffu, p, j);
      const T* vrow = vrows + int64_t(k0 + j) * a.v_stride;
#pragma unroll
      for (int c = 0; c < kGenericDimsPerLane; ++c) {
        const int d = lane + 32 * c;
        if (d < a.head_dim) o[c] = fmaf(pj, to_float(vrow[d]), o[c]);
      }
    }
  }

  const float inv = row_sum > 0.f ? 1.f / row_sum : 0.f;  // all keys padded: zeros
  T* orow = static_cast<T*>(a.out) + (int64_t(b) * a.q_len + row) * a.out_stride + h * a.head_dim;
#pragma unroll
  for (int c = 0; c < kGenericDimsPerLane; ++c) {
    const int d = lane + 32 * c;
    if (d < a.head_dim) orow[d] = from_float<T>(o[c] * inv);
  }
}

template <typename T, int HD>
void launch_attention(const AttentionArgs& a, int batch, int heads, cudaStream_t stream) {
  if constexpr (std::is_same<T, float>::value) {
    constexpr int rows = kF32Threads / f32_row_split(HD);
    const dim3 grid((a.q_len + rows - 1) / rows, heads, batch);
    attention_f32_kernel<HD><<<grid, kF32Threads, 0, stream>>>(a);
  } else {
    constexpr int smem = kMmaSharedBytes<T, HD>;
    // A function attribute, not a stream operation: allowed during graph
    // capture. Set on every launch because it is per device.
    check_cuda(cudaFuncSetAttribute(attention_mma_kernel<T, HD>,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
               "cudaFuncSetAttribute (mha_flash_tiled shared memory)");
    const dim3 grid((a.q_len + kMmaBlockM - 1) / kMmaBlockM, heads, batch);
    attention_mma_kernel<T, HD><<<grid, kMmaThreads, smem, stream>>>(a);
  }
}

// The narrowest tile width both tiled kernels are instantiated for that
// holds head_dim, or 0 where none does.
int tile_width(int head_dim) {
  if (head_dim < 8 || head_dim % 8 != 0) return 0;
  for (int hd : {16, 32, 64, 80, 128})
    if (head_dim <= hd) return hd;
  return 0;
}

template <typename T>
void launch_generic(const AttentionArgs& a, int batch, int heads, cudaStream_t stream) {
  const dim3 grid((a.q_len + kGenericWarps - 1) / kGenericWarps, heads, batch);
  attention_generic_kernel<T><<<grid, kGenericThreads, 0, stream>>>(a);
}

// Whether the tiled kernels run p (already accepted by can_implement): a
// head width they are instantiated for, and every operand's rows 16-byte
// aligned (they load whole 16-byte chunks). Anything else takes the generic
// kernel.
bool tiled_kernels_hold(const AttentionParams& p) {
  if (tile_width(p.head_dim) == 0) return false;
  const int64_t width = int64_t(p.heads) * p.head_dim;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  auto aligned = [&](const void* base, int64_t stride, int64_t offset) {
    if (stride == 0) stride = width;
    return (stride * esize) % 16 == 0 && (offset * esize) % 16 == 0 &&
           is_aligned16(static_cast<const char*>(base) + offset * esize);
  };
  return aligned(p.q, p.q_row_stride, p.q_col_offset) &&
         aligned(p.k, p.k_row_stride, p.k_col_offset) &&
         aligned(p.v, p.v_row_stride, p.v_col_offset) && aligned(p.out, p.out_row_stride, 0);
}

}  // namespace

bool supports_head_dim(int head_dim) { return head_dim >= 1 && head_dim <= kMaxHeadDim; }

bool can_implement(const AttentionParams& p, std::string* why) {
  Requirements req{why};
  req.require(is_float(p.dtype), "not a float data type");
  req.require(supports_head_dim(p.head_dim), "head_dim ", p.head_dim,
              " is not supported (1 to ", kMaxHeadDim, ")");
  req.require(p.batch >= 1 && p.batch <= 65535, "batch ", p.batch, " outside 1..65535");
  req.require(p.heads >= 1 && p.heads <= 65535, "heads ", p.heads, " outside 1..65535");
  req.require(p.q_len >= 1 && p.kv_len >= 1, "empty sequence: q_len ", p.q_len, ", kv_len ",
              p.kv_len);
  req.require(p.q && p.k && p.v && p.out, "null Q, K, V or output pointer");
  req.require(std::isfinite(p.scale) && p.scale >= 0.f, "scale ", p.scale,
              " must be finite and >= 0");
  if (!req.ok) return false;

  const int64_t width = int64_t(p.heads) * p.head_dim;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  struct Operand {
    const char* name;
    const void* base;
    int64_t stride, offset;
  };
  const Operand operands[] = {{"Q", p.q, p.q_row_stride, p.q_col_offset},
                              {"K", p.k, p.k_row_stride, p.k_col_offset},
                              {"V", p.v, p.v_row_stride, p.v_col_offset},
                              {"output", p.out, p.out_row_stride, 0}};
  for (const Operand& op : operands) {
    const int64_t stride = op.stride == 0 ? width : op.stride;
    req.require(op.offset >= 0 && op.offset + width <= stride, op.name, " heads (columns ",
                op.offset, "..", op.offset + width, ") do not fit a row stride of ", stride);
    // Rows that are not 16-byte aligned run on the generic kernel, which
    // reads element by element: only the elements themselves must be aligned.
    req.require(is_aligned(op.base, uintptr_t(esize)), op.name, " data is not aligned to its ",
                esize, "-byte elements");
  }
  return req.ok;
}

void mha_flash_tiled(const AttentionParams& p) {
  require_implementable(p, "mha_flash_tiled");
  const int64_t width = int64_t(p.heads) * p.head_dim;
  const int64_t esize = int64_t(dtype_size(p.dtype));
  AttentionArgs a;
  a.q = static_cast<const char*>(p.q) + p.q_col_offset * esize;
  a.k = static_cast<const char*>(p.k) + p.k_col_offset * esize;
  a.v = static_cast<const char*>(p.v) + p.v_col_offset * esize;
  a.out = p.out;
  a.key_mask = p.key_mask;
  a.q_stride = p.q_row_stride ? p.q_row_stride : width;
  a.k_stride = p.k_row_stride ? p.k_row_stride : width;
  a.v_stride = p.v_row_stride ? p.v_row_stride : width;
  a.out_stride = p.out_row_stride ? p.out_row_stride : width;
  a.q_len = p.q_len;
  a.kv_len = p.kv_len;
  a.head_dim = p.head_dim;
  const float scale = p.scale > 0.f ? p.scale : 1.f / std::sqrt(float(p.head_dim));
  a.scale_log2 = scale * kLog2e;

  const cudaStream_t stream = as_stream(p.stream);
  const bool tiled = tiled_kernels_hold(p);
  dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (!tiled) return launch_generic<T>(a, p.batch, p.heads, stream);
    switch (tile_width(p.head_dim)) {
      case 16:
        return launch_attention<T, 16>(a, p.batch, p.heads, stream);
      case 32:
        return launch_attention<T, 32>(a, p.batch, p.heads, stream);
      case 64:
        return launch_attention<T, 64>(a, p.batch, p.heads, stream);
      case 80:
        return launch_attention<T, 80>(a, p.batch, p.heads, stream);
      case 128:
        return launch_attention<T, 128>(a, p.batch, p.heads, stream);
    }
    fail(StatusCode::internal, "mha_flash_tiled: no kernel for head_dim ", p.head_dim);
  });
  check_launch("mha_flash_tiled kernel launch");
}

}  // namespace visionrt::kernels
