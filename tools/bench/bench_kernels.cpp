// Times the hand-written CUDA kernels through their production launchers.
//
//   bench_kernels [--csv] [--iters N] [--warmup N] [--filter SUBSTRING]
//
// Each case runs `warmup` times, then `iters` times with CUDA events around
// every run (the L2 cache is overwritten before each one, so inputs come from
// HBM); the median is reported. Attention reports TFLOP/s (4 B H Sq Sk D
// flops), LayerNorm and deformable attention GB/s (bytes read + written). Peaks measured in the same
// run give the share: device-to-device cudaMemcpy bandwidth for GB/s, and a
// 4096^3 cuBLAS GEMM of the same data type for TFLOP/s.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/half.hpp"
#include "kernels/device_buffer.hpp"
#include "kernels/layer_norm.hpp"
#include "kernels/mha_flash_tiled.hpp"
#include "kernels/ms_deform_attn.hpp"

namespace {

using visionrt::DType;
using visionrt::kernels::DeviceBuffer;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "bench_kernels: %s failed: %s\n", what, cudaGetErrorString(status));
    std::exit(1);
  }
}

void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "bench_kernels: %s failed: cuBLAS status %d\n", what, int(status));
    std::exit(1);
  }
}

struct Options {
  bool csv = false;
  int iters = 50;
  int warmup = 10;
  std::string filter;
};

// Uniform values in [lo, hi) stored as `dtype`, from a fixed-seed generator
// (never all zeros).
DeviceBuffer random_buffer(DType dtype, size_t count, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  const size_t esize = visionrt::dtype_size(dtype);
  std::vector<uint8_t> host(count * esize);
  uint64_t state = 0x9E3779B97F4A7C15ull ^ seed;
  for (size_t i = 0; i < count; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const float v = lo + (float(int32_t(state >> 32)) / 2147483648.f + 1.f) * 0.5f * (hi - lo);
    if (dtype == DType::f32) {
      std::memcpy(&host[i * 4], &v, 4);
    } else {
      const uint16_t h =
          dtype == DType::f16 ? visionrt::float_to_half(v) : visionrt::float_to_bf16(v);
      std::memcpy(&host[i * 2], &h, 2);
    }
  }
  DeviceBuffer buffer(host.size());
  buffer.upload(host.data(), host.size());
  return buffer;
}

class Bench {
 public:
  explicit Bench(const Options& options) : options_(options), flush_(kFlushBytes) {
    check(cudaEventCreate(&start_), "cudaEventCreate");
    check(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~Bench() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }

  // Median milliseconds of fn() over options.iters timed runs.
  double median_ms(const std::function<void()>& fn) {
    for (int i = 0; i < options_.warmup; ++i) fn();
    check(cudaGetLastError(), "warm-up");
    std::vector<float> times(options_.iters);
    for (float& t : times) {
      check(cudaMemsetAsync(flush_.data(), 0, kFlushBytes), "L2 flush");
      check(cudaEventRecord(start_), "cudaEventRecord");
      fn();
      check(cudaEventRecord(stop_), "cudaEventRecord");
      check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
      check(cudaEventElapsedTime(&t, start_, stop_), "cudaEventElapsedTime");
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }

 private:
  static constexpr size_t kFlushBytes = size_t(256) << 20;  // over any L2 today
  Options options_;
  DeviceBuffer flush_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

struct Result {
  std::string name;
  double ms;
  double achieved;
  const char* unit;
  double peak;
  std::string peak_name;
};

const char* dtype_tag(DType t) { return visionrt::dtype_name(t); }

// Device-to-device copy bandwidth, counting bytes read and written.
double measure_copy_gbps(Bench& bench) {
  const size_t bytes = size_t(512) << 20;
  DeviceBuffer a = random_buffer(DType::f32, bytes / 4, 1), b(bytes);
  const double ms = bench.median_ms(
      [&] { check(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice), "copy"); });
  return 2.0 * bytes / (ms * 1e-3) / 1e9;
}

// TFLOP/s of a square cuBLAS GEMM in `dtype` with fp32 accumulation.
double measure_gemm_tflops(Bench& bench, cublasHandle_t blas, DType dtype) {
  const int n = 4096;
  const cudaDataType_t type =
      dtype == DType::f32 ? CUDA_R_32F : dtype == DType::f16 ? CUDA_R_16F : CUDA_R_16BF;
  DeviceBuffer a = random_buffer(dtype, size_t(n) * n, 2), b = random_buffer(dtype, size_t(n) * n, 3);
  DeviceBuffer c = random_buffer(dtype, size_t(n) * n, 4);
  const float alpha = 1.f, beta = 0.f;
  const double ms = bench.median_ms([&] {
    check_blas(cublasGemmEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.data(), type, n,
                            b.data(), type, n, &beta, c.data(), type, n, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
  });
  return 2.0 * n * n * double(n) / (ms * 1e-3) / 1e12;
}

struct AttentionCase {
  const char* name;
  DType dtype;
  int batch, heads, q_len, kv_len, head_dim;
  bool fused_qkv;  // read Q, K, V from one [B, S, 3D] projection output
};

Result run_attention(Bench& bench, const AttentionCase& c, double gemm_peak) {
  const int64_t width = int64_t(c.heads) * c.head_dim;
  visionrt::kernels::AttentionParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.heads = c.heads;
  p.head_dim = c.head_dim;
  p.q_len = c.q_len;
  p.kv_len = c.kv_len;
  DeviceBuffer qkv, q, k, v;
  if (c.fused_qkv) {
    qkv = random_buffer(c.dtype, size_t(c.batch) * c.q_len * 3 * width, 10);
    p.q = p.k = p.v = qkv.data();
    p.q_row_stride = p.k_row_stride = p.v_row_stride = 3 * width;
    p.k_col_offset = width;
    p.v_col_offset = 2 * width;
  } else {
    q = random_buffer(c.dtype, size_t(c.batch) * c.q_len * width, 11);
    k = random_buffer(c.dtype, size_t(c.batch) * c.kv_len * width, 12);
    v = random_buffer(c.dtype, size_t(c.batch) * c.kv_len * width, 13);
    p.q = q.data();
    p.k = k.data();
    p.v = v.data();
  }
  DeviceBuffer out(size_t(c.batch) * c.q_len * width * visionrt::dtype_size(c.dtype));
  p.out = out.data();
  const double ms = bench.median_ms([&] { visionrt::kernels::mha_flash_tiled(p); });
  const double flops = 4.0 * c.batch * c.heads * double(c.q_len) * c.kv_len * c.head_dim;
  return {c.name, ms, flops / (ms * 1e-3) / 1e12, "TFLOP/s", gemm_peak,
          std::string("cublas_gemm_") + dtype_tag(c.dtype)};
}

struct LayerNormCase {
  const char* name;
  DType dtype;
  int64_t rows, cols;
};

Result run_layer_norm(Bench& bench, const LayerNormCase& c, double copy_peak) {
  const size_t n = size_t(c.rows * c.cols), esize = visionrt::dtype_size(c.dtype);
  DeviceBuffer x = random_buffer(c.dtype, n, 20);
  DeviceBuffer gamma = random_buffer(c.dtype, size_t(c.cols), 22);
  DeviceBuffer beta = random_buffer(c.dtype, size_t(c.cols), 23);
  DeviceBuffer y(n * esize);
  visionrt::kernels::LayerNormParams p;
  p.dtype = c.dtype;
  p.rows = c.rows;
  p.cols = c.cols;
  p.input = x.data();
  p.gamma = gamma.data();
  p.beta = beta.data();
  p.output = y.data();
  const double ms = bench.median_ms([&] { visionrt::kernels::layer_norm(p); });
  const double bytes = (2.0 * n + 2.0 * c.cols) * esize;  // x read, y written, gamma and beta
  return {c.name, ms, bytes / (ms * 1e-3) / 1e9, "GB/s", copy_peak, "memcpy_d2d"};
}

// RT-DETR's decoder: 300 queries, 8 heads of 32, 4 points in each of the
// 80x80, 40x40 and 20x20 maps of a 640x640 input.
struct DeformCase {
  const char* name;
  DType dtype;
  int64_t batch, queries;
  int heads, head_dim;
};

Result run_deform(Bench& bench, const DeformCase& c, double copy_peak) {
  const int h[3] = {80, 40, 20}, points = 4 * 3;
  const int64_t cells = 80 * 80 + 40 * 40 + 20 * 20, D = int64_t(c.heads) * c.head_dim;
  const size_t esize = visionrt::dtype_size(c.dtype);
  DeviceBuffer value = random_buffer(c.dtype, size_t(c.batch * cells * D), 30);
  DeviceBuffer loc = random_buffer(c.dtype, size_t(c.batch * c.queries * c.heads * points * 2), 31, 0.f, 1.f);
  DeviceBuffer weights = random_buffer(c.dtype, size_t(c.batch * c.queries * c.heads * points), 32, 0.f, 1.f);
  DeviceBuffer out(size_t(c.batch * c.queries * D) * esize);
  visionrt::kernels::MsDeformAttnParams p;
  p.dtype = c.dtype;
  p.batch = c.batch;
  p.queries = c.queries;
  p.heads = c.heads;
  p.head_dim = c.head_dim;
  p.levels = 3;
  for (int l = 0; l < 3; ++l) {
    p.level_h[l] = p.level_w[l] = h[l];
    p.level_points[l] = 4;
  }
  p.value = value.data();
  p.locations = loc.data();
  p.weights = weights.data();
  p.output = out.data();
  const double ms = bench.median_ms([&] { visionrt::kernels::ms_deform_attn(p); });
  // What the op must move: four taps of a head's row per point, the
  // locations and weights, the output.
  const double per_point = 4.0 * c.head_dim + 3.0;
  const double bytes = (double(c.batch * c.queries * c.heads) * points * per_point + double(c.batch * c.queries * D)) * esize;
  return {c.name, ms, bytes / (ms * 1e-3) / 1e9, "GB/s", copy_peak, "memcpy_d2d"};
}

void print(const std::vector<Result>& results, bool csv) {
  if (csv) {
    std::printf("case,ms,achieved,unit,peak_pct,peak_name,peak\n");
    for (const Result& r : results)
      std::printf("%s,%.5f,%.2f,%s,%.1f,%s,%.1f\n", r.name.c_str(), r.ms, r.achieved, r.unit,
                  100.0 * r.achieved / r.peak, r.peak_name.c_str(), r.peak);
    return;
  }
  std::printf("%-28s %10s %12s %-8s %8s  %s\n", "case", "ms", "achieved", "unit", "% peak",
              "peak (measured)");
  for (const Result& r : results)
    std::printf("%-28s %10.4f %12.1f %-8s %7.1f%%  %s %.1f\n", r.name.c_str(), r.ms, r.achieved,
                r.unit, 100.0 * r.achieved / r.peak, r.peak_name.c_str(), r.peak);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_kernels: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--csv") {
      o.csv = true;
    } else if (arg == "--iters") {
      o.iters = std::max(1, std::atoi(next()));
    } else if (arg == "--warmup") {
      o.warmup = std::max(0, std::atoi(next()));
    } else if (arg == "--filter") {
      o.filter = next();
    } else {
      std::fprintf(stderr,
                   "usage: bench_kernels [--csv] [--iters N] [--warmup N] [--filter SUBSTRING]\n");
      std::exit(2);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  std::string why;
  if (visionrt::kernels::cuda_device_count(&why) == 0) {
    std::fprintf(stderr, "bench_kernels: no CUDA device: %s\n", why.c_str());
    return 1;
  }
  try {
    cudaDeviceProp prop;
    check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    if (!options.csv) std::printf("device: %s\n", prop.name);
    Bench bench(options);
    cublasHandle_t blas = nullptr;
    check_blas(cublasCreate(&blas), "cublasCreate");
    const double copy_peak = measure_copy_gbps(bench);
    std::map<DType, double> gemm_peak;
    for (DType t : {DType::f16, DType::bf16, DType::f32})
      gemm_peak[t] = measure_gemm_tflops(bench, blas, t);
    cublasDestroy(blas);

    const AttentionCase attention[] = {
        {"mha_f16_vit_b64", DType::f16, 64, 12, 197, 197, 64, true},
        {"mha_f16_detr_b8_s1050", DType::f16, 8, 8, 1050, 1050, 32, false},
        {"mha_bf16_vit_b64", DType::bf16, 64, 12, 197, 197, 64, true},
        {"mha_bf16_detr_b8_s1050", DType::bf16, 8, 8, 1050, 1050, 32, false},
        {"mha_f32_vit_b64", DType::f32, 64, 12, 197, 197, 64, true},
        {"mha_f32_detr_b8_s1050", DType::f32, 8, 8, 1050, 1050, 32, false},
    };
    const LayerNormCase layer_norms[] = {
        {"layernorm_f16_12608x768", DType::f16, 12608, 768},
        {"layernorm_f32_12608x768", DType::f32, 12608, 768},
    };
    const DeformCase deforms[] = {
        {"msda_f16_rtdetr_b1", DType::f16, 1, 300, 8, 32},
        {"msda_f16_rtdetr_b32", DType::f16, 32, 300, 8, 32},
        {"msda_f32_rtdetr_b32", DType::f32, 32, 300, 8, 32},
    };
    auto selected = [&](const char* name) {
      return options.filter.empty() || std::strstr(name, options.filter.c_str()) != nullptr;
    };
    std::vector<Result> results;
    for (const AttentionCase& c : attention)
      if (selected(c.name)) results.push_back(run_attention(bench, c, gemm_peak[c.dtype]));
    for (const LayerNormCase& c : layer_norms)
      if (selected(c.name)) results.push_back(run_layer_norm(bench, c, copy_peak));
    for (const DeformCase& c : deforms)
      if (selected(c.name)) results.push_back(run_deform(bench, c, copy_peak));
    print(results, options.csv);
  } catch (const visionrt::Error& e) {
    std::fprintf(stderr, "bench_kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}
