// bfloat16 and float16 storage (kelvin/half.hpp): the conversions, exhaustively
// and against a simple reference, on every target's conversion kernels; the
// numeric contract row by row on every target; that softmax (float lanes) is
// within one step of the float path's result rounded, and the other
// operations that result rounded once; accuracy against MPFR in the storage
// type's ulp on every target; and the C ABI.
#include "kelvin/half.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kelvin/kelvin.h"
#include "kelvin/softmax.hpp"
#include "src/half.hpp"
#include "src/kernels/half.hpp"
#include "src/kernels/kernels.hpp"
#include "tests/support/long_mode.hpp"
#include "tests/support/mpfr_reference.hpp"
#include "tests/support/operations.hpp"
#include "tests/support/targets.hpp"

namespace kelvin {
namespace {

using testing::per_target;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kChunk = std::size_t{1} << 16;  // src/row.hpp
// Rows longer than this run chunk by chunk (src/half.hpp).
constexpr std::size_t kLong = detail::kHalfRowBuffer + 77;
// Over 2^17 entries: softmax keeps the exponentials in y as 16-bit codes
// (src/half.cpp), with a tail of 19 entries after the last whole block.
constexpr std::size_t kPacked = (std::size_t{1} << 17) + 1043;

// ---- the formats ----------------------------------------------------------------

template <class H>
struct format;
template <>
struct format<bfloat16> {
  static constexpr int precision = 8, emin = -126, emax = 127;
  static constexpr std::uint16_t max_bits = 0x7f7f, inf_bits = 0x7f80, quiet = 0x0040;
  static constexpr const char* name = "bf16";
};
template <>
struct format<float16> {
  static constexpr int precision = 11, emin = -14, emax = 15;
  static constexpr std::uint16_t max_bits = 0x7bff, inf_bits = 0x7c00, quiet = 0x0200;
  static constexpr const char* name = "f16";
};

template <class H>
constexpr testing::fp_format fp() {
  return {format<H>::precision, format<H>::emin, format<H>::emax};
}

template <class H>
float f(H h) {
  return static_cast<float>(h);
}

template <class H>
bool is_nan_bits(std::uint16_t b) {
  return (b & 0x7fff) > format<H>::inf_bits;
}

// The value of a bit pattern, computed from the format's definition.
template <class H>
double decode(std::uint16_t b) {
  constexpr int p = format<H>::precision, emin = format<H>::emin;
  constexpr int ebits = sizeof(H) * 8 - p;  // exponent field width (8 or 5)
  const int e = (b >> (p - 1)) & ((1 << ebits) - 1);
  const int m = b & ((1 << (p - 1)) - 1);
  const double sign = (b & 0x8000) ? -1.0 : 1.0;
  if (e == (1 << ebits) - 1) return m == 0 ? sign * kInf : kNaN;
  if (e == 0) return sign * std::ldexp(m, emin - (p - 1));
  return sign * std::ldexp(m + (1 << (p - 1)), e + emin - 1 - (p - 1));
}

// Round to nearest even, by the book: v / ulp rounded with nearbyint in double
// (exact: v has 24 significant bits and ulp is a power of two), overflow at
// max + ulp / 2.
template <class H>
double round_ref(double v) {
  constexpr int p = format<H>::precision, emin = format<H>::emin, emax = format<H>::emax;
  if (std::isnan(v)) return v;
  const double a = std::fabs(v);
  const double limit = std::ldexp(2.0 - std::ldexp(1.0, -p), emax);  // max + ulp/2
  if (a >= limit) return std::copysign(kInf, v);
  if (a == 0) return v;
  const int e = std::max(std::ilogb(a), emin);
  const double ulp = std::ldexp(1.0, e - (p - 1));
  return std::copysign(std::nearbyint(a / ulp) * ulp, v);
}

// Every value of the format with its neighbours in float: the value, the
// floats next to it, the midpoint to the next value (a tie) and the floats next
// to that; both signs; float's specials and random bit patterns.
template <class H>
std::vector<float> rounding_inputs() {
  std::vector<float> in;
  for (std::uint32_t b = 0; b <= format<H>::max_bits; ++b) {
    const float v = f(H::from_bits(static_cast<std::uint16_t>(b)));
    const double next = b == format<H>::max_bits ? std::ldexp(2.0, format<H>::emax)
                                                 : decode<H>(static_cast<std::uint16_t>(b + 1));
    const auto mid = static_cast<float>((v + next) / 2);  // exact
    for (float x : {v, mid}) {
      for (float y : {x, std::nextafter(x, -HUGE_VALF), std::nextafter(x, HUGE_VALF)}) {
        in.push_back(y);
        in.push_back(-y);
      }
    }
  }
  for (std::uint32_t u :
       {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u, 0x7fa00000u,
        0x7fbfffffu, 0x7fffffffu, 0x00000001u, 0x807fffffu, 0x7f7fffffu, 0xff7fffffu}) {
    in.push_back(std::bit_cast<float>(u));
  }
  std::mt19937 rng(3);
  for (int i = 0; i < 1 << 20; ++i)
    in.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(rng())));
  return in;
}

template <class H>
void check_scalar_conversions() {
  // Widening: exact, NaN quieted with its sign and payload; narrowing it back
  // gives the same bits (the quieted ones for NaN).
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const float v = f(H::from_bits(bits));
    const std::uint16_t back = H(v).bits;
    if (is_nan_bits<H>(bits)) {
      ASSERT_TRUE(std::isnan(v)) << b;
      ASSERT_EQ(std::signbit(v), (b & 0x8000) != 0) << b;
      ASSERT_EQ(back, bits | format<H>::quiet) << b;
    } else {
      ASSERT_EQ(static_cast<double>(v), decode<H>(bits)) << b;
      ASSERT_EQ(std::signbit(v), (b & 0x8000) != 0) << b;
      ASSERT_EQ(back, bits) << b;
    }
  }
  if constexpr (std::is_same_v<H, bfloat16>) {
    for (std::uint32_t b = 0; b < 0x10000; ++b) {  // bfloat16 is float's top half
      const float v = f(bfloat16::from_bits(static_cast<std::uint16_t>(b)));
      if (!std::isnan(v)) {
        ASSERT_EQ(std::bit_cast<std::uint32_t>(v), b << 16);
      }
    }
  }
  // Narrowing against the reference.
  for (float x : rounding_inputs<H>()) {
    const H h(x);
    if (std::isnan(x)) {
      ASSERT_TRUE(is_nan_bits<H>(h.bits)) << x;
      ASSERT_NE(h.bits & format<H>::quiet, 0) << x;
      ASSERT_EQ((h.bits & 0x8000) != 0, std::signbit(x)) << x;
      continue;
    }
    const double want = round_ref<H>(x);
    ASSERT_EQ(static_cast<double>(f(h)), want) << std::hexfloat << x;
    ASSERT_EQ(std::signbit(f(h)), std::signbit(x)) << std::hexfloat << x;
  }
}

TEST(half_conversions, bfloat16_exhaustive_and_rounding) { check_scalar_conversions<bfloat16>(); }
TEST(half_conversions, float16_exhaustive_and_rounding) { check_scalar_conversions<float16>(); }

TEST(half_conversions, examples) {
  static_assert(bfloat16(1.0f).bits == 0x3f80);
  static_assert(float16(1.0f).bits == 0x3c00);
  static_assert(static_cast<float>(float16::from_bits(0x0001)) == 0x1p-24f);
  static_assert(float16(65504.0f).bits == 0x7bff);
  static_assert(float16(65519.99f).bits == 0x7bff);
  static_assert(float16(65520.0f).bits == 0x7c00);  // tie to even: infinity
  static_assert(float16(0x1p-25f).bits == 0x0000);  // tie to even: zero
  static_assert(float16(0x1.000002p-25f).bits == 0x0001);
  static_assert(float16(0x3p-25f).bits == 0x0002);    // 1.5 * 2^-24: tie to even 2
  static_assert(bfloat16(0x1.01p0f).bits == 0x3f80);  // tie to even (down)
  static_assert(bfloat16(0x1.03p0f).bits == 0x3f82);  // tie to even (up)
  static_assert(bfloat16(FLT_MAX).bits == 0x7f80);    // overflows
  static_assert(bfloat16(-0.0f).bits == 0x8000);
  static_assert(std::is_trivially_copyable_v<bfloat16> && sizeof(bfloat16) == 2);
  static_assert(std::is_trivially_copyable_v<float16> && sizeof(float16) == 2);
  EXPECT_EQ(bfloat16(0.1f).bits, 0x3dcd);
  EXPECT_EQ(f(bfloat16(0.1f)), 0.10009765625f);
}

// Every target's conversion kernels give the scalar conversions' bits, at
// misaligned starts and lengths around the vector width.
class half_kernels : public per_target {};

template <class H>
void check_kernels(const detail::half_kernels& k) {
  std::vector<H> all(0x10000 + 1);
  for (std::uint32_t b = 0; b < 0x10000; ++b)
    all[b + 1] = H::from_bits(static_cast<std::uint16_t>(b));
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{8},
        std::size_t{15}, std::size_t{16}, std::size_t{17}, std::size_t{33}, std::size_t{0x10000}}) {
    std::vector<float> out(n + 1, -1.0f);
    detail::to_float(k, all.data() + 1, out.data() + 1, n);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::bit_cast<std::uint32_t>(out[i + 1]),
                std::bit_cast<std::uint32_t>(f(all[i + 1])))
          << format<H>::name << " bits " << i << " n " << n;
    }
  }
  std::vector<float> in = rounding_inputs<H>();
  in.insert(in.begin(), 0.0f);
  for (std::size_t n : {std::size_t{5}, std::size_t{16}, std::size_t{31}, in.size() - 1}) {
    std::vector<H> out(n + 1, H::from_bits(0x1234));
    detail::from_float(k, in.data() + 1, out.data() + 1, n);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(out[i + 1].bits, H(in[i + 1]).bits)
          << format<H>::name << " " << std::hexfloat << in[i + 1] << " n " << n;
    }
  }
}

TEST_P(half_kernels, match_the_scalar_conversions) {
  const auto& k = detail::half_kernels_for(*GetParam());
  check_kernels<bfloat16>(k);
  check_kernels<float16>(k);
}

KELVIN_INSTANTIATE_PER_TARGET(half_kernels);

// ---- the contract ---------------------------------------------------------------

const std::vector<std::size_t> kLengths = {1, 2, 3, 7, 8, 9, 16, 17, 31, 33, 100};

template <class H>
std::vector<H> as(const std::vector<double>& v) {
  std::vector<H> h(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) h[i] = H(static_cast<float>(v[i]));
  return h;
}

template <class H>
struct results {
  std::vector<H> p, logp;
  H log_z, smax;
};

template <class H>
results<H> run_all(const std::vector<H>& x, double t, empty_row_policy pol = empty_row_policy::nan,
                   int threads = 0) {
  results<H> r;
  r.p.resize(x.size());
  r.logp.resize(x.size());
  const options o{.temperature = t, .empty_row = pol, .threads = threads};
  softmax(std::span<const H>(x), std::span<H>(r.p), o);
  log_softmax(std::span<const H>(x), std::span<H>(r.logp), o);
  r.log_z = log_partition(std::span<const H>(x), o);
  r.smax = smooth_max(std::span<const H>(x), o);
  return r;
}

// Equal bits, or both NaN.
template <class H>
::testing::AssertionResult same(H a, H b) {
  if (a.bits == b.bits || (std::isnan(f(a)) && std::isnan(f(b)))) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << f(a) << " (0x" << std::hex << a.bits << ") vs " << f(b) << " (0x" << b.bits << ")";
}

template <class H>
void expect_limit(const results<H>& r, const std::vector<H>& x, auto hit, std::size_t k) {
  const H on(static_cast<float>(1.0 / static_cast<double>(k)));
  const H log_on(static_cast<float>(0.0 - std::log(static_cast<double>(k))));
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (hit(f(x[i]))) {
      EXPECT_TRUE(same(r.p[i], on)) << i;
      EXPECT_TRUE(same(r.logp[i], log_on)) << i;
    } else {
      EXPECT_EQ(f(r.p[i]), 0.0f) << i;
      EXPECT_EQ(f(r.logp[i]), -HUGE_VALF) << i;
    }
  }
}

class half_contract : public per_target {};

template <class H>
void check_limits() {
  for (std::size_t n : kLengths) {
    // T == 0: ties split.
    std::vector<double> xd(n);
    for (std::size_t i = 0; i < n; ++i) xd[i] = std::sin(double(i)) * 3;
    xd[0] = xd[n - 1] = 5;
    const auto x = as<H>(xd);
    const std::size_t k = n == 1 ? 1 : 2;
    auto r = run_all(x, 0.0);
    expect_limit(
        r, x, [](float v) { return v == 5.0f; }, k);
    EXPECT_EQ(f(r.log_z), HUGE_VALF);
    EXPECT_EQ(f(r.smax), 5.0f);
    // T == inf: uniform over the entries > -inf.
    std::vector<double> yd(n);
    for (std::size_t i = 0; i < n; ++i) yd[i] = (i % 3 == 1) ? -kInf : std::cos(double(i)) * 100;
    yd[0] = 7;
    const auto y = as<H>(yd);
    std::size_t live = 0;
    for (H v : y) live += f(v) > -HUGE_VALF;
    r = run_all(y, kInf);
    expect_limit(
        r, y, [](float v) { return v > -HUGE_VALF; }, live);
    EXPECT_TRUE(same(r.log_z, H(static_cast<float>(std::log(double(live))))));
    EXPECT_EQ(f(r.smax), live >= 2 ? HUGE_VALF : 7.0f);
    // +inf entries share the mass, whatever T.
    std::vector<double> zd(n);
    for (std::size_t i = 0; i < n; ++i) zd[i] = std::sin(double(i)) * 100;
    zd[n / 3] = zd[n - 1] = kInf;
    const auto z = as<H>(zd);
    for (double t : {0.0, 1e-30, 0.07, 1.0, 1e30, kInf}) {
      r = run_all(z, t);
      expect_limit(
          r, z, [](float v) { return v == HUGE_VALF; }, n / 3 == n - 1 ? 1 : 2);
      EXPECT_EQ(f(r.log_z), HUGE_VALF);
      EXPECT_EQ(f(r.smax), HUGE_VALF);
    }
  }
}

TEST_P(half_contract, zero_infinite_temperature_and_plus_inf_limits) {
  check_limits<bfloat16>();
  check_limits<float16>();
}

template <class H>
void check_nan_masks_and_empty_rows() {
  for (std::size_t n : kLengths) {
    // Any NaN: the whole row NaN.
    std::vector<double> xd(n);
    for (std::size_t i = 0; i < n; ++i) xd[i] = double(i);
    xd[n / 2] = kNaN;
    for (double t : {0.0, 0.07, 1.0, kInf}) {
      const auto r = run_all(as<H>(xd), t, empty_row_policy::zero);
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_TRUE(std::isnan(f(r.p[i])) && std::isnan(f(r.logp[i]))) << n << " " << t;
      }
      EXPECT_TRUE(std::isnan(f(r.log_z)) && std::isnan(f(r.smax)));
    }
    // NaNs of either sign, next to the infinities' bits or not (the 16-bit
    // scan finds them by their bits), also among -inf masks and in the
    // vector part of a row.
    constexpr std::uint16_t inf = format<H>::inf_bits;
    for (std::uint16_t nan_bits :
         {std::uint16_t(inf + 1), std::uint16_t(inf | format<H>::quiet),
          std::uint16_t(0x8000u | (inf + 1u)), std::uint16_t(0xffff), std::uint16_t(0x7fff)}) {
      for (std::size_t at : {n / 2, n - 1}) {
        std::vector<H> x = as<H>(xd);
        for (std::size_t i = 0; i + 1 < n; i += 3) x[i] = H(-HUGE_VALF);
        x[at] = H::from_bits(nan_bits);
        const auto r = run_all(x, 1.0, empty_row_policy::zero);
        for (std::size_t i = 0; i < n; ++i) {
          ASSERT_TRUE(std::isnan(f(r.p[i])) && std::isnan(f(r.logp[i])))
              << format<H>::name << " " << n << " " << nan_bits;
        }
        EXPECT_TRUE(std::isnan(f(r.log_z)));
      }
    }
    // -inf entries are masked.
    if (n >= 2) {
      for (double t : {1e-3, 0.07, 1.0, 1e3}) {
        for (std::size_t i = 0; i < n; ++i) xd[i] = (i % 2 == 1) ? -kInf : double(i % 5) * t;
        const auto r = run_all(as<H>(xd), t);
        double sum = 0;
        for (std::size_t i = 0; i < n; ++i) {
          if (i % 2 == 1) {
            EXPECT_EQ(f(r.p[i]), 0.0f);
            EXPECT_EQ(f(r.logp[i]), -HUGE_VALF);
          } else {
            EXPECT_GT(f(r.p[i]), 0.0f);
            EXPECT_TRUE(std::isfinite(f(r.logp[i])));
          }
          sum += f(r.p[i]);
        }
        EXPECT_NEAR(sum, 1.0, std::ldexp(1.0, 2 - format<H>::precision)) << n << " " << t;
      }
    }
    // All -inf: by policy.
    const std::vector<H> masked(n, H(-HUGE_VALF));
    for (double t : {0.0, 1.0, kInf}) {
      const auto nan = run_all(masked, t, empty_row_policy::nan);
      const auto zero = run_all(masked, t, empty_row_policy::zero);
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_TRUE(std::isnan(f(nan.p[i])) && std::isnan(f(nan.logp[i])));
        EXPECT_EQ(zero.p[i].bits, 0);
        EXPECT_EQ(f(zero.logp[i]), -HUGE_VALF);
      }
      EXPECT_EQ(f(nan.log_z), -HUGE_VALF);
      EXPECT_EQ(f(zero.log_z), -HUGE_VALF);
      EXPECT_EQ(f(nan.smax), -HUGE_VALF);
    }
  }
  const std::vector<H> empty;
  EXPECT_EQ(f(log_partition(std::span<const H>(empty))), -HUGE_VALF);
  std::vector<H> none;
  EXPECT_NO_THROW(softmax(std::span<const H>(empty), std::span<H>(none)));
}

TEST_P(half_contract, nan_rows_masks_and_empty_rows) {
  check_nan_masks_and_empty_rows<bfloat16>();
  check_nan_masks_and_empty_rows<float16>();
}

// Steps of H between two results of one sign (equal NaNs: 0).
template <class H>
int ulp_steps(H a, H b) {
  if (std::isnan(f(a)) && std::isnan(f(b))) return 0;
  if ((a.bits ^ b.bits) & 0x8000)
    return a.bits == (b.bits ^ 0x8000) && (a.bits & 0x7fff) == 0 ? 0 : 1 << 20;
  return std::abs(int(a.bits) - int(b.bits));
}

// |a - want| in ulp of H at max(|want|, 1), as the contract measures the log
// families (both NaN: 0).
template <class H>
double log_ulps(H a, float want) {
  const double got = f(a);
  if (got == want || (std::isnan(got) && std::isnan(want))) return 0;
  // Beyond H's range (float16: 65504) the right result is the rounded one, an infinity.
  if (!std::isfinite(got) || !std::isfinite(want)) return same(a, H(want)) ? 0.0 : kInf;
  const int e = std::max(std::ilogb(std::max(std::abs(double(want)), 1.0)), format<H>::emin);
  return std::abs(got - want) / std::ldexp(1.0, e - (format<H>::precision - 1));
}

// smooth_max is the float path's result for the widened input, rounded once
// to H: same bits (NaN: both NaN). softmax, log_softmax and log_partition
// take float lanes (docs/contract.md: 2 ulp of H): softmax within 1 step of H
// of the rounded float result, the log families within 1 ulp of H (at
// max(|r|, 1)) of the float result, the same bits on one thread and two, and
// with the float lanes switched off, the rounded float result's bits. Covers rows longer than a
// chunk, which half.cpp runs chunk by chunk, on one and two threads (same bits either way).
template <class H>
void check_equals_rounded_float(std::size_t n, double t, std::uint64_t seed, int threads) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0, 8);
  std::vector<H> x(n);
  for (auto& v : x) v = H(static_cast<float>(nd(rng)));
  if (n > 4 && seed % 3 == 0) x[rng() % n] = H(-HUGE_VALF);
  std::vector<float> xf(n), pf(n), lf(n);
  for (std::size_t i = 0; i < n; ++i) xf[i] = f(x[i]);
  const options o{.temperature = t, .threads = threads};
  softmax(std::span<const float>(xf), std::span<float>(pf), o);
  log_softmax(std::span<const float>(xf), std::span<float>(lf), o);
  const auto r = run_all(x, t, empty_row_policy::nan, threads);
  const auto one = run_all(x, t, empty_row_policy::nan, 1);
  detail::set_half_float_lanes(false);
  const auto widened = run_all(x, t, empty_row_policy::nan, threads);
  detail::set_half_float_lanes(true);
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_LE(ulp_steps(r.p[i], H(pf[i])), 1)
        << format<H>::name << " n=" << n << " T=" << t << " " << i;
    ASSERT_TRUE(same(r.p[i], one.p[i])) << format<H>::name << " n=" << n << " T=" << t << " " << i;
    ASSERT_TRUE(same(widened.p[i], H(pf[i])))
        << format<H>::name << " n=" << n << " T=" << t << " " << i;
    ASSERT_LE(log_ulps(r.logp[i], lf[i]), 1.0)
        << format<H>::name << " n=" << n << " T=" << t << " " << i;
    ASSERT_TRUE(same(r.logp[i], one.logp[i]))
        << format<H>::name << " n=" << n << " T=" << t << " " << i;
    ASSERT_TRUE(same(widened.logp[i], H(lf[i])))
        << format<H>::name << " n=" << n << " T=" << t << " " << i;
  }
  const float lz = log_partition(std::span<const float>(xf), o);
  EXPECT_LE(log_ulps(r.log_z, lz), 1.0) << format<H>::name << " n=" << n << " T=" << t;
  EXPECT_TRUE(same(r.log_z, one.log_z)) << format<H>::name << " n=" << n << " T=" << t;
  EXPECT_TRUE(same(widened.log_z, H(lz))) << format<H>::name << " n=" << n << " T=" << t;
  EXPECT_TRUE(same(r.smax, H(smooth_max(std::span<const float>(xf), o))));
}

TEST_P(half_contract, results_are_the_float_results_rounded_once) {
  std::uint64_t seed = 1;
  for (std::size_t n : {std::size_t{1}, std::size_t{5}, std::size_t{17}, std::size_t{100},
                        std::size_t{4097}, kChunk, kChunk + 1, 3 * kChunk + 77, kPacked,
                        detail::kHalfRowBuffer, kLong, std::size_t{1025}}) {
    for (double t : {0.0, 1e-3, 0.07, 1.0, 1e3, kInf}) {
      const int threads = n > kChunk && t == 0.07 ? 2 : 1;
      check_equals_rounded_float<bfloat16>(n, t, seed++, threads);
      check_equals_rounded_float<float16>(n, t, seed++, threads);
    }
  }
}

template <class H>
void check_long_rows() {
  const std::size_t n = kLong;
  const std::size_t late = n - 40;  // in the last chunk
  std::vector<H> x(n);
  for (std::size_t i = 0; i < n; ++i)
    x[i] = H(static_cast<float>(std::sin(double(i) * 0.001) * 30));
  x[70000] = H(-HUGE_VALF);
  std::vector<H> y1(n), y2(n);
  softmax(std::span<const H>(x), std::span<H>(y1), {.temperature = 0.3, .threads = 1});
  softmax(std::span<const H>(x), std::span<H>(y2), {.temperature = 0.3, .threads = 2});
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(y1[i].bits, y2[i].bits) << i;
  EXPECT_EQ(y1[70000].bits, 0);
  // A NaN in a later chunk makes the whole row NaN; +inf in another chunk wins.
  x[late] = H(NAN);
  softmax(std::span<const H>(x), std::span<H>(y1), {.threads = 2});
  EXPECT_TRUE(std::isnan(f(y1[0])));
  EXPECT_TRUE(std::isnan(f(log_partition(std::span<const H>(x)))));
  x[late] = H(HUGE_VALF);
  softmax(std::span<const H>(x), std::span<H>(y1), {.threads = 2});
  EXPECT_EQ(f(y1[late]), 1.0f);
  EXPECT_EQ(f(y1[0]), 0.0f);
  // In place.
  x[late] = H(1.0f);
  softmax(std::span<const H>(x), std::span<H>(y1), {.temperature = 2});
  y2 = x;
  softmax(std::span<const H>(y2), std::span<H>(y2), {.temperature = 2});
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(y1[i].bits, y2[i].bits) << i;
  log_softmax(std::span<const H>(x), std::span<H>(y1), {.temperature = 2});
  y2 = x;
  log_softmax(std::span<const H>(y2), std::span<H>(y2), {.temperature = 2});
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(y1[i].bits, y2[i].bits) << i;
}

TEST_P(half_contract, long_rows_threads_specials_and_in_place) {
  check_long_rows<bfloat16>();
  check_long_rows<float16>();
}

template <class H>
void check_in_place() {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd(0, 3);
  std::vector<std::size_t> lengths = kLengths;
  lengths.push_back(kPacked);
  for (std::size_t n : lengths) {
    std::vector<H> x(n);
    for (auto& v : x) v = H(static_cast<float>(nd(rng)));
    for (double t : {0.0, 0.7}) {
      std::vector<H> want(n), y = x;
      softmax(std::span<const H>(x), std::span<H>(want), {.temperature = t});
      softmax(std::span<const H>(y), std::span<H>(y), {.temperature = t});
      for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(y[i].bits, want[i].bits);
      y = x;
      log_softmax(std::span<const H>(x), std::span<H>(want), {.temperature = t});
      log_softmax(std::span<const H>(y), std::span<H>(y), {.temperature = t});
      for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(y[i].bits, want[i].bits);
    }
  }
}

TEST_P(half_contract, in_place_equals_out_of_place) {
  check_in_place<bfloat16>();
  check_in_place<float16>();
}

template <class H>
void check_batches() {
  const std::size_t rows = 37, cols = 45, xs = 50, ys = 47;
  std::vector<H> x(rows * xs, H(-99.0f)), y(rows * ys, H(-7.0f));
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> ud(-10, 10);
  for (auto& v : x) v = H(static_cast<float>(ud(rng)));
  std::vector<double> temps(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    temps[r] = r == 3 ? 0.0 : (r == 4 ? kInf : 0.05 * double(r + 1));
  }
  for (int threads : {1, 2}) {
    softmax(matrix_view<const H>(x.data(), rows, cols, xs),
            matrix_view<H>(y.data(), rows, cols, ys), {.temperatures = temps, .threads = threads});
    std::vector<H> lz(rows);
    log_partition(matrix_view<const H>(x.data(), rows, cols, xs), std::span<H>(lz),
                  {.temperatures = temps, .threads = threads});
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<H> row(x.begin() + r * xs, x.begin() + r * xs + cols), want(cols);
      softmax(std::span<const H>(row), std::span<H>(want), {.temperature = temps[r]});
      for (std::size_t c = 0; c < cols; ++c) ASSERT_EQ(y[r * ys + c].bits, want[c].bits) << r;
      for (std::size_t c = cols; c < ys && r * ys + c < y.size(); ++c) {
        ASSERT_EQ(f(y[r * ys + c]), -7.0f);
      }
      EXPECT_EQ(lz[r].bits, log_partition(std::span<const H>(row), {.temperature = temps[r]}).bits);
    }
  }
}

TEST_P(half_contract, batches_with_per_row_temperatures_and_strides) {
  check_batches<bfloat16>();
  check_batches<float16>();
}

// Softmax family over the axes listed of a d0 x d1 x d2 array, against
// gathering each row by hand.
template <class H>
void check_axes(std::size_t d0, std::size_t d1, std::size_t d2, std::vector<int> axes) {
  std::vector<H> x(d0 * d1 * d2);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = H(static_cast<float>(std::sin(double(i) * 1.7) * 4));
  }
  x[x.size() / 2] = H(-HUGE_VALF);
  const std::size_t dims[3] = {d0, d1, d2};
  for (int axis : axes) {
    std::size_t outer = 1, inner = 1;
    for (int k = 0; k < axis; ++k) outer *= dims[k];
    for (int k = axis + 1; k < 3; ++k) inner *= dims[k];
    const std::size_t n = dims[axis];
    std::vector<double> temps(outer * inner);
    for (std::size_t s = 0; s < temps.size(); ++s)
      temps[s] = s % 5 == 4 ? 0.0 : 0.3 + 0.1 * double(s % 7);
    for (const testing::operation& op : testing::kOperations) {
      const bool reduce = op.reduces;
      std::vector<H> y(reduce ? outer * inner : x.size());
      const auto xv = axis_view<const H>::contiguous(x.data(), outer, n, inner);
      const auto yv = axis_view<H>::contiguous(y.data(), outer, reduce ? 1 : n, inner);
      const options o{.temperatures = temps};
      op.on<H>().axis(xv, yv, o);
      for (std::size_t oo = 0; oo < outer; ++oo) {
        for (std::size_t i = 0; i < inner; ++i) {
          std::vector<H> row(n), want(n + 1);
          for (std::size_t a = 0; a < n; ++a) row[a] = x[(oo * n + a) * inner + i];
          const options ro{.temperature = temps[oo * inner + i]};
          op.on<H>().row(std::span<const H>(row), std::span<H>(want.data(), reduce ? 1 : n), ro);
          if (reduce) {
            ASSERT_EQ(y[oo * inner + i].bits, want[0].bits) << op.name;
            continue;
          }
          for (std::size_t a = 0; a < n; ++a) {
            ASSERT_EQ(y[(oo * n + a) * inner + i].bits, want[a].bits)
                << op.name << " " << axis << " " << a;
          }
        }
      }
      if (std::string_view(op.name) == "softmax") {  // in place over the axis
        std::vector<H> z = x;
        const auto zv = axis_view<H>::contiguous(z.data(), outer, n, inner);
        softmax(zv, zv, o);
        for (std::size_t k = 0; k < z.size(); ++k) ASSERT_EQ(z[k].bits, y[k].bits) << k;
      }
    }
  }
  // Negative strides: the last axis reversed.
  std::vector<H> y(d2), want(d2);
  axis_view<const H> rev{x.data() + d2 - 1, 1, d2, 1, 0, -1, 1};
  softmax(rev, axis_view<H>::contiguous(y.data(), 1, d2, 1));
  std::vector<H> row(x.rend() - static_cast<std::ptrdiff_t>(d2), x.rend());
  softmax(std::span<const H>(row), std::span<H>(want));
  for (std::size_t k = 0; k < d2; ++k) EXPECT_EQ(y[k].bits, want[k].bits);
}

TEST_P(half_contract, axis_views_match_gathered_rows) {
  check_axes<bfloat16>(4, 5, 6, {0, 1, 2});
  check_axes<float16>(4, 5, 6, {0, 1, 2});
  // Slices longer than a chunk, and than the row buffer: strided, then contiguous.
  check_axes<bfloat16>(1, kChunk + 9, 2, {1});
  check_axes<float16>(1, kLong, 2, {1});
  check_axes<bfloat16>(2, kLong, 1, {1});
}

KELVIN_INSTANTIATE_PER_TARGET(half_contract);

TEST(half_errors, bad_arguments_throw_and_write_nothing) {
  std::vector<bfloat16> x(12, bfloat16(1.0f)), y(12, bfloat16(0.0f));
  const matrix_view<const bfloat16> xm(x.data(), 3, 4);
  const matrix_view<bfloat16> ym(y.data(), 3, 4);
  EXPECT_THROW(softmax(xm, ym, {.temperature = -1}), error);
  EXPECT_THROW(softmax(xm, ym, {.temperature = kNaN}), error);
  EXPECT_THROW(softmax(matrix_view<const bfloat16>(nullptr, 3, 4), ym), error);
  EXPECT_THROW(softmax(xm, matrix_view<bfloat16>(y.data(), 3, 4, 2)), error);
  EXPECT_THROW(softmax(matrix_view<const bfloat16>(x.data(), 2, 4),
                       matrix_view<bfloat16>(x.data() + 2, 2, 4)),
               error);
  const std::vector<double> two{1, 1};
  EXPECT_THROW(log_softmax(xm, ym, {.temperatures = two}), error);
  std::vector<float16> h(4);
  EXPECT_THROW(log_partition(std::span<const float16>(h), {.temperature = -2}), error);
  for (bfloat16 v : y) EXPECT_EQ(v.bits, 0);
}

// ---- accuracy against MPFR ----------------------------------------------------------

struct worst {
  double softmax = 0, log_softmax = 0, log_partition = 0, smooth_max = 0;
};

// Distance of a 16-bit smooth_max from the exact T log Z (T times MPFR's log Z rounded to
// double: relative error 2^-52, 2^-44 of a float16 ulp) in ulp of H at the exact value (the
// subnormal ulp below the normal range). Beyond H's rounding overflow threshold the right result
// is the infinity of that sign.
template <class H>
double smooth_max_ulps(double computed, double exact) {
  const double limit = std::ldexp(2.0 - std::ldexp(1.0, -format<H>::precision), format<H>::emax);
  if (std::abs(exact) >= limit) return computed == std::copysign(kInf, exact) ? 0.0 : kInf;
  if (exact == 0) return computed == 0 ? 0.0 : kInf;
  const int e = std::max(std::ilogb(exact), format<H>::emin);
  return std::abs(computed - exact) / std::ldexp(1.0, e - (format<H>::precision - 1));
}

// One row on every supported target against one MPFR reference.
template <class H>
void check_accuracy(const std::vector<H>& x, double t, worst& w, const char* what) {
  std::vector<double> xd(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xd[i] = f(x[i]);
  const testing::row_reference ref(xd, t, 128);
  const auto* before = &detail::active_target();
  for (const detail::target* tg : testing::supported_targets()) {
    // Rows beyond 10^4 on the best target and the scalar reference only.
    if (x.size() > 10000 && tg != testing::supported_targets().front() &&
        tg != &detail::reference_target() && !testing::long_mode()) {
      continue;
    }
    detail::select_target(*tg);
    const auto r = run_all(x, t, empty_row_policy::nan, 1);
    double es = 0, el = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      es = std::max(es, ref.softmax_ulps(i, f(r.p[i]), fp<H>()));
      el = std::max(el, ref.log_softmax_ulps(i, f(r.logp[i]), fp<H>()));
    }
    const double ez = ref.log_partition_ulps(f(r.log_z), fp<H>());
    const double em = smooth_max_ulps<H>(f(r.smax), t * ref.log_partition());
    EXPECT_LE(es, 2.0) << format<H>::name << " " << what << " " << tg->name << " n=" << x.size()
                       << " T=" << t;
    EXPECT_LE(el, 2.0) << format<H>::name << " " << what << " " << tg->name << " n=" << x.size()
                       << " T=" << t;
    EXPECT_LE(ez, 2.0) << format<H>::name << " " << what << " " << tg->name << " n=" << x.size()
                       << " T=" << t;
    EXPECT_LE(em, 2.0) << format<H>::name << " smooth_max " << what << " " << tg->name
                       << " n=" << x.size() << " T=" << t << ": " << f(r.smax) << " vs "
                       << t * ref.log_partition();
    w.softmax = std::max(w.softmax, es);
    w.log_softmax = std::max(w.log_softmax, el);
    w.log_partition = std::max(w.log_partition, ez);
    w.smooth_max = std::max(w.smooth_max, em);
  }
  detail::select_target(*before);
}

template <class H>
void accuracy_sweep() {
  worst w;
  std::uint64_t seed = 1;
  std::vector<std::size_t> sizes{1, 2, 5, 17, 33, 100, 1000, 1025, 4097, 70000, kPacked};
  if (testing::long_mode()) sizes.push_back(300000);
  for (std::size_t n : sizes) {
    for (double scale : {1.0, 10.0, 1e3}) {
      for (double t : {1e-3, 0.07, 1.0, 10.0, 1e3}) {
        if (n >= 70000 && scale != 10.0) continue;
        std::mt19937_64 rng(seed++);
        std::uniform_real_distribution<double> ud(-1, 1);
        std::vector<H> x(n);
        for (auto& v : x) v = H(static_cast<float>(ud(rng) * scale));
        check_accuracy(x, t, w, "random");
      }
    }
  }
  // Outputs down in the subnormal range of H (float16: below 2^-14; bfloat16
  // and float share theirs), never flushed.
  {
    const double deep = std::is_same_v<H, float16> ? 17.0 : 100.0;
    std::vector<double> v(33);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = -deep * double(i) / 32.0;
    for (double t : {1.0, 1.01}) {
      const auto x = as<H>(v);
      check_accuracy(x, t, w, "subnormal");
      const auto r = run_all(x, t);
      const std::size_t probe = std::is_same_v<H, float16> ? 24 : 29;  // exact: in the range
      EXPECT_GT(f(r.p[probe]), 0.0f);
      EXPECT_LT(f(r.p[probe]), std::ldexp(1.0f, format<H>::emin));
    }
    // The same with masks and entries below the clamps (-60, -104 for
    // bfloat16's scaled path), at T where the FMA argument applies and not.
    v.push_back(-kInf);
    v.push_back(-deep * 1.6);
    v.push_back(-deep * 1.1);
    for (double t : {1.0, 0.5, 3.0}) check_accuracy(as<H>(v), t, w, "subnormal+mask");
  }
  // Values where exp overflows, near the format's max, tiny and huge T.
  {
    std::vector<double> hot(40);
    for (std::size_t i = 0; i < hot.size(); ++i)
      hot[i] = 90 + 10 * std::fmod(double(i) * 0.37, 1.0);
    check_accuracy(as<H>(hot), 1.0, w, "hot");
    const double big = decode<H>(format<H>::max_bits);
    // Spreads beyond float's range (bfloat16), also hidden behind a -inf mask.
    for (double t : {1.0, 1e30}) {
      check_accuracy(as<H>({big, -big, big / 2, 0}), t, w, "max");
      check_accuracy(as<H>({big, -big, -kInf, 0}), t, w, "max+mask");
      check_accuracy(as<H>({big, big / 2, -kInf, 1}), t, w, "max+mask");
    }
    for (double t : {1e-30, 1e-7, 1e7, 1e30})
      check_accuracy(as<H>({1, 5, 7, 10, 9.5, -3}), t, w, "T");
  }
  std::printf(
      "[accuracy] %s: softmax %.4f ulp, log_softmax %.4f, log_partition %.4f, smooth_max %.4f\n",
      format<H>::name, w.softmax, w.log_softmax, w.log_partition, w.smooth_max);
}

TEST(half_accuracy, bfloat16_against_mpfr) { accuracy_sweep<bfloat16>(); }
TEST(half_accuracy, float16_against_mpfr) { accuracy_sweep<float16>(); }

// ---- the C ABI ---------------------------------------------------------------------

template <class H, class Fn, class LogFn, class ZFn>
void check_c_api(Fn softmax_c, LogFn log_softmax_c, ZFn log_partition_c) {
  const std::vector<double> xd{1, 5, 7, 10, 2, 3, -1, 0};
  const auto x = as<H>(xd);
  std::vector<std::uint16_t> xb(8), yb(8), lz(2);
  for (std::size_t i = 0; i < 8; ++i) xb[i] = x[i].bits;
  std::vector<H> want(4);
  ASSERT_EQ(softmax_c(xb.data(), yb.data(), 2, 4, 4, 4, 0.1), KELVIN_OK);
  softmax(std::span<const H>(x.data() + 4, 4), std::span<H>(want), {.temperature = 0.1});
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(yb[4 + i], want[i].bits);
  ASSERT_EQ(log_softmax_c(xb.data(), yb.data(), 2, 4, 4, 4, 2.0), KELVIN_OK);
  log_softmax(std::span<const H>(x.data(), 4), std::span<H>(want), {.temperature = 2.0});
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(yb[i], want[i].bits);
  ASSERT_EQ(log_partition_c(xb.data(), lz.data(), 2, 4, 4, 1.0), KELVIN_OK);
  EXPECT_EQ(lz[1], log_partition(std::span<const H>(x.data() + 4, 4)).bits);
  EXPECT_STREQ(kelvin_last_error(), "");
  // In place.
  std::vector<std::uint16_t> z = xb;
  ASSERT_EQ(softmax_c(z.data(), z.data(), 2, 4, 4, 4, 0.1), KELVIN_OK);
  ASSERT_EQ(softmax_c(xb.data(), yb.data(), 2, 4, 4, 4, 0.1), KELVIN_OK);
  EXPECT_EQ(z, yb);
  // Errors: a status, a message, nothing written.
  std::vector<std::uint16_t> untouched(8, 0);
  EXPECT_EQ(softmax_c(xb.data(), untouched.data(), 2, 4, 4, 4, -1.0), KELVIN_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kelvin_last_error()).find("temperature"), std::string::npos);
  EXPECT_EQ(log_softmax_c(nullptr, untouched.data(), 2, 4, 4, 4, 1.0), KELVIN_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kelvin_last_error()).find("null"), std::string::npos);
  EXPECT_EQ(log_partition_c(xb.data(), untouched.data(), 2, 4, 3, 1.0), KELVIN_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kelvin_last_error()).find("stride"), std::string::npos);
  for (std::uint16_t v : untouched) EXPECT_EQ(v, 0);
}

TEST(half_c_api, results_match_cpp_and_errors_report) {
  check_c_api<bfloat16>(kelvin_softmax_bf16, kelvin_log_softmax_bf16, kelvin_log_partition_bf16);
  check_c_api<float16>(kelvin_softmax_f16, kelvin_log_softmax_f16, kelvin_log_partition_f16);
}

TEST(half_c_api, extended_forms_and_smooth_max) {
  const std::uint16_t ninf = bfloat16(-HUGE_VALF).bits;
  const std::vector<std::uint16_t> x{bfloat16(1.0f).bits, bfloat16(2.0f).bits, ninf, ninf};
  const double temps[2] = {0.0, 1.0};
  std::vector<std::uint16_t> y(4);
  ASSERT_EQ(
      kelvin_softmax_ex_bf16(x.data(), y.data(), 2, 2, 2, 2, 1.0, temps, KELVIN_EMPTY_ROW_ZERO),
      KELVIN_OK);
  EXPECT_EQ(y, (std::vector<std::uint16_t>{0, bfloat16(1.0f).bits, 0, 0}));
  ASSERT_EQ(kelvin_log_softmax_ex_bf16(x.data(), y.data(), 2, 2, 2, 2, 1.0, nullptr,
                                       KELVIN_EMPTY_ROW_NAN),
            KELVIN_OK);
  EXPECT_TRUE(std::isnan(f(bfloat16::from_bits(y[2]))));
  const std::vector<std::uint16_t> h{float16(1.0f).bits, float16(3.0f).bits};
  std::uint16_t out = 0;
  ASSERT_EQ(kelvin_smooth_max_f16(h.data(), &out, 1, 2, 2, 0.0), KELVIN_OK);
  EXPECT_EQ(out, float16(3.0f).bits);
  ASSERT_EQ(kelvin_smooth_max_bf16(x.data(), &out, 1, 2, 2, 0.0), KELVIN_OK);
  EXPECT_EQ(out, bfloat16(2.0f).bits);
  std::vector<std::uint16_t> yh(2);
  EXPECT_EQ(kelvin_softmax_ex_f16(h.data(), yh.data(), 1, 2, 2, 2, 1.0, nullptr, 5),
            KELVIN_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kelvin_last_error()).find("empty_row"), std::string::npos);
  EXPECT_EQ(kelvin_log_softmax_ex_f16(h.data(), yh.data(), 1, 2, 2, 2, 1.0, nullptr, 0), KELVIN_OK);
}

}  // namespace
}  // namespace kelvin
