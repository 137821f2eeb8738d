// Host half and bfloat16 conversions against independent references: the
// compiler's _Float16 (IEEE round to nearest even) and a bfloat16 rounding
// worked out in double. Every float exponent is covered, with significands
// around every rounding point; three exponents around half's subnormal
// boundary with every significand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.hpp"

namespace visionrt {
namespace {

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

uint16_t half_reference(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}

// The nearer of the two bfloat16 values around f, ties to the even one.
uint16_t bf16_reference(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t lo = static_cast<uint16_t>(x >> 16);
  if (std::isnan(f)) return lo | 0x40u;
  const uint16_t hi = lo + 1;  // next magnitude away from zero
  // Past the largest finite value the next one is infinity, which rounding
  // treats as 2^128: halfway to it rounds up.
  const double hi_value = (hi & 0x7fffu) == 0x7f80u ? std::copysign(std::ldexp(1.0, 128), f) : bf16_to_float(hi);
  const double d_lo = std::abs(double(f) - bf16_to_float(lo)), d_hi = std::abs(hi_value - f);
  if ((x & 0xffffu) == 0) return lo;
  return d_lo < d_hi || (d_lo == d_hi && (lo & 1u) == 0) ? lo : hi;
}

// Significands to try for an exponent: around every bit position (where a
// rounding point falls for some exponent: just below, at and above a half,
// and odd and even neighbours), the extremes, and random ones.
std::vector<uint32_t> significands() {
  std::vector<uint32_t> m = {0, 0x7fffff};
  for (uint32_t k = 0; k < 23; ++k)
    for (uint32_t base : {0u, 1u << k, 3u << k, 0x7fffffu & ~((2u << k) - 1)})
      for (int d : {-1, 0, 1}) m.push_back((base + (1u << k) + d) & 0x7fffffu);
  std::mt19937 rng(3);
  for (int i = 0; i < 4096; ++i) m.push_back(rng() & 0x7fffffu);
  return m;
}

TEST(HalfTest, FloatToHalfMatchesIeeeRoundingForEveryExponent) {
  const std::vector<uint32_t> sig = significands();
  long checked = 0, wrong = 0;
  uint32_t first_wrong = 0;
  for (uint32_t sign : {0u, 1u})
    for (uint32_t e = 0; e < 256; ++e) {
      // Every significand of three exponents: 94, the top of the range
      // where a shift of 32 or more once crept in, and 101 and 102, around
      // 2^-25 where values start rounding to the smallest subnormal.
      const bool every = sign == 0 && (e == 94 || e == 101 || e == 102);
      const uint32_t count = every ? 0x800000u : static_cast<uint32_t>(sig.size());
      for (uint32_t i = 0; i < count; ++i) {
        const uint32_t bits = sign << 31 | e << 23 | (every ? i : sig[i]);
        const float f = from_bits(bits);
        const uint16_t got = float_to_half(f);
        const bool ok = std::isnan(f) ? (got & 0x7c00u) == 0x7c00u && (got & 0x3ffu) != 0
                                      : got == half_reference(f);
        if (!ok && wrong++ == 0) first_wrong = bits;
        ++checked;
      }
    }
  EXPECT_EQ(wrong, 0) << "first wrong float bits 0x" << std::hex << first_wrong;
  std::printf("float_to_half: %ld values, all 256 exponents, 3 of them exhaustively\n", checked);
}

TEST(HalfTest, HalfToFloatIsExactForEveryHalf) {
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    _Float16 h;
    const uint16_t bits = static_cast<uint16_t>(b);
    std::memcpy(&h, &bits, 2);
    const float want = static_cast<float>(h), got = half_to_float(bits);
    if (std::isnan(want))
      ASSERT_TRUE(std::isnan(got)) << b;
    else
      ASSERT_EQ(got, want) << "half bits " << b;
  }
}

TEST(HalfTest, FloatToBf16RoundsToNearestEvenForEveryExponent) {
  const std::vector<uint32_t> sig = significands();
  for (uint32_t sign : {0u, 1u})
    for (uint32_t e = 0; e < 256; ++e)
      for (uint32_t m : sig) {
        const float f = from_bits(sign << 31 | e << 23 | m);
        ASSERT_EQ(float_to_bf16(f), bf16_reference(f)) << "float bits 0x" << std::hex << (sign << 31 | e << 23 | m);
      }
}

}  // namespace
}  // namespace visionrt
