// Helpers for the CUDA kernel tests: device detection (tests skip without a
// device), random inputs rounded to a data type, device round trips and a
// max-error comparison against a reference with per-element tolerances.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda_plugin.hpp"
#include "core/half.hpp"
#include "kernels/device_buffer.hpp"
#include "kernels/kernel_types.hpp"

namespace visionrt::kernels::testing {

// Short names the tests' case tables use.
constexpr auto f32 = DType::f32;
constexpr auto f16 = DType::f16;
constexpr auto bf16 = DType::bf16;

// Whether a device is present, asked once per process. A test skips only
// where the NVIDIA driver itself sees no GPU; a GPU the driver reports but
// the CUDA runtime cannot use (a driver older than the runtime, say) is a
// failure, never a skip.
struct DeviceState {
  bool driver_has_device = false;
  std::string why;  // the driver's reason, or the runtime's failure
};

inline const DeviceState& device_state() {
  static const DeviceState state = [] {
    DeviceState s;
    s.driver_has_device = cuda_driver_has_device(&s.why);
    if (s.driver_has_device && cuda_device_count(&s.why) > 0) s.why.clear();
    return s;
  }();
  return state;
}

#define VRT_REQUIRE_CUDA()                                                                         \
  do {                                                                                             \
    const ::visionrt::kernels::testing::DeviceState& vrt_device = ::visionrt::kernels::testing::device_state(); \
    if (!vrt_device.driver_has_device) GTEST_SKIP() << "no CUDA device: " << vrt_device.why;       \
    if (!vrt_device.why.empty())                                                                   \
      FAIL() << "the NVIDIA driver reports a GPU the CUDA runtime cannot use: " << vrt_device.why; \
  } while (0)

// Unit roundoff of a data type: half the distance from 1 to the next value.
inline double unit_roundoff(DType t) {
  switch (t) {
    case DType::f32: return std::ldexp(1.0, -24);
    case DType::f16: return std::ldexp(1.0, -11);
    case DType::bf16: return std::ldexp(1.0, -8);
    default: break;
  }
  return 1.0;
}

// Largest error of rounding v to t: relative u, or half the smallest
// subnormal step for values that underflow (2^-25 in f16).
inline double rounding_error(DType t, double v) {
  const int smallest_subnormal_exponent = t == DType::f16 ? -24 : -149;
  return unit_roundoff(t) * std::abs(v) + std::ldexp(1.0, smallest_subnormal_exponent - 1);
}

// Values in [lo, hi) from a fixed seed.
inline std::vector<float> random_floats(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Host bytes of `values` stored as `t` (round to nearest even).
inline std::vector<uint8_t> encode(DType t, const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * dtype_size(t));
  for (size_t i = 0; i < values.size(); ++i) {
    if (t == DType::f32) {
      std::memcpy(&bytes[i * 4], &values[i], 4);
    } else {
      const uint16_t h = t == DType::f16 ? float_to_half(values[i]) : float_to_bf16(values[i]);
      std::memcpy(&bytes[i * 2], &h, 2);
    }
  }
  return bytes;
}

inline std::vector<double> decode(DType t, const std::vector<uint8_t>& bytes) {
  const size_t n = bytes.size() / dtype_size(t);
  std::vector<double> values(n);
  for (size_t i = 0; i < n; ++i) {
    if (t == DType::f32) {
      float f;
      std::memcpy(&f, &bytes[i * 4], 4);
      values[i] = f;
    } else {
      uint16_t h;
      std::memcpy(&h, &bytes[i * 2], 2);
      values[i] = t == DType::f16 ? half_to_float(h) : bf16_to_float(h);
    }
  }
  return values;
}

// A float rounded to t, as a double.
inline double round_to(DType t, double v) {
  return decode(t, encode(t, {static_cast<float>(v)}))[0];
}

// A device tensor with the exact values (as doubles) the device holds.
struct DeviceTensor {
  DType dtype = DType::f32;
  std::vector<double> values;
  DeviceBuffer buffer;
};

inline DeviceTensor upload(DType t, const std::vector<float>& values) {
  DeviceTensor d;
  d.dtype = t;
  const std::vector<uint8_t> bytes = encode(t, values);
  d.values = decode(t, bytes);
  d.buffer = DeviceBuffer(bytes.size());
  d.buffer.upload(bytes.data(), bytes.size());
  return d;
}

// An output buffer of n elements, every byte 0xff: NaN in f32, f16 and bf16,
// so anything the kernel fails to write shows up as NaN.
inline DeviceBuffer poisoned(DType t, size_t n) {
  DeviceBuffer b(n * dtype_size(t));
  b.fill_bytes(0xff);
  return b;
}

inline std::vector<double> download(DType t, const DeviceBuffer& b, size_t n) {
  device_synchronize();
  std::vector<uint8_t> bytes(n * dtype_size(t));
  b.download(bytes.data(), bytes.size());
  return decode(t, bytes);
}

// Passes when every got[i] is finite and |got[i] - ref[i]| <= tol[i]; the
// message names the worst element (by error / tolerance) and the NaN count.
inline ::testing::AssertionResult all_close(const std::string& what, const std::vector<double>& got,
                                            const std::vector<double>& ref,
                                            const std::vector<double>& tol) {
  if (got.size() != ref.size() || tol.size() != ref.size())
    return ::testing::AssertionFailure() << what << ": size mismatch";
  size_t bad = 0, nonfinite = 0, worst = 0;
  double worst_ratio = -1.0, max_err = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) {
      if (nonfinite++ == 0) {
        worst = i;
        worst_ratio = INFINITY;
      }
      ++bad;
      continue;
    }
    const double err = std::abs(got[i] - ref[i]);
    max_err = std::max(max_err, err);
    const double ratio = tol[i] > 0 ? err / tol[i] : (err > 0 ? INFINITY : 0.0);
    if (err > tol[i]) ++bad;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  std::ostringstream s;
  s << what << ": " << got.size() << " values, max error " << max_err << ", " << nonfinite
    << " NaN/Inf, " << bad << " outside tolerance; worst [" << worst << "] got " << got[worst]
    << " want " << ref[worst] << " (tolerance " << tol[worst] << ")";
  if (bad == 0) return ::testing::AssertionSuccess() << s.str();
  return ::testing::AssertionFailure() << s.str();
}

inline std::vector<double> constant(size_t n, double v) { return std::vector<double>(n, v); }

inline double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// Calls launch(p) on the default stream, or with p.stream set to a stream of
// its own inside graph capture (the graph is run and waited for). Before a
// capture the launch runs once directly, so that the kernel's module is
// loaded (CUDA loads kernels lazily, on first launch) outside the capture,
// as the executor's first node-by-node run does; `out` is then poisoned
// again, so that only the graph's own run can have written it.
template <typename Params, typename Launch>
void launch_maybe_in_graph(Params& p, bool in_graph, DeviceBuffer& out, Launch launch) {
  if (!in_graph) return launch(p);
  DeviceStream stream;
  p.stream = stream.get();
  launch(p);
  device_synchronize();
  out.fill_bytes(0xff);
  run_as_graph(stream, [&] { launch(p); });
}

}  // namespace visionrt::kernels::testing
