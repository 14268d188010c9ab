// The kernels' exponential: exhaustively over every float32 in [-104, 0] (the
// domain of float rows: below -103.3 every float output is 0) and against
// MPFR on random double-double arguments over [-746, 0], on every target.
#include <gtest/gtest.h>
#include <mpfr.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "src/kernels/kernels.hpp"
#include "tests/support/long_mode.hpp"
#include "tests/support/mpfr_reference.hpp"
#include "tests/support/targets.hpp"

namespace kelvin {
namespace {

using testing::long_mode;

class exp_kernel : public testing::per_target {};

// Every float in [-104, 0] (bit patterns 0x80000000 .. bits(-104.0f)), or
// every 7th of them on targets other than the best one outside long mode.
TEST_P(exp_kernel, exhaustive_float32_domain) {
  const detail::target& t = *GetParam();
  const bool full = long_mode() || &t == &testing::best_supported_target();
  const std::uint32_t first = 0x80000000u, last = std::bit_cast<std::uint32_t>(-104.0f);
  const std::uint32_t step = full ? 1 : 7;
  const std::size_t chunk = 1 << 16;
  double worst = 0;
  float worst_at = 0;
  std::uint64_t count = 0;
#pragma omp parallel reduction(+ : count)
  {
    std::vector<double> in(chunk), out(chunk);
    double local_worst = 0;
    float local_at = 0;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t c = 0; c < std::int64_t((last - first) / step / chunk + 1); ++c) {
      std::size_t n = 0;
      for (std::uint64_t k = 0; k < chunk; ++k) {
        const std::uint64_t bits = first + (std::uint64_t(c) * chunk + k) * step;
        if (bits > last) break;
        in[n++] = std::bit_cast<float>(static_cast<std::uint32_t>(bits));
      }
      t.f32->exp_neg(in.data(), nullptr, out.data(), nullptr, n);
      for (std::size_t i = 0; i < n; ++i) {
        const double want = std::exp(in[i]);
        const double rel = std::abs(out[i] - want) / want;
        if (!(rel <= local_worst)) {
          local_worst = rel;
          local_at = static_cast<float>(in[i]);
        }
      }
      count += n;
    }
#pragma omp critical
    if (local_worst > worst) {
      worst = local_worst;
      worst_at = local_at;
    }
  }
  std::printf("[exp] %s f32 domain: %llu floats, max relative error %.3g (%.5f float ulp) at %a\n",
              t.name, static_cast<unsigned long long>(count), worst, worst / 0x1p-23,
              static_cast<double>(worst_at));
  // 1.7e-9 relative (the polynomial remainders of ExpNegF32 plus rounding) is 0.014 float ulp:
  // float outputs round as if the exponential were exact.
  EXPECT_LE(worst, 1.7e-9) << "at " << worst_at;
  EXPECT_GT(count, full ? 1'000'000'000u : 100'000'000u);
}

// Double rows: exp(hi + lo) within 1 ulp (subnormal ulp below DBL_MIN), hi
// uniform over [-746, 0], lo up to 2^-53 |hi|; plus -inf and the edges.
TEST_P(exp_kernel, double_double_argument_against_mpfr) {
  const detail::target& t = *GetParam();
  const std::size_t n = long_mode() ? 2'000'000 : 200'000;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> hi_d(-746, 0), lo_d(-1, 1), small(-1, 0);
  std::vector<double> hi(n), lo(n), out(n), out_lo(n);
  for (std::size_t i = 0; i < n; ++i) {
    hi[i] = i % 4 == 0 ? small(rng) : hi_d(rng);
    lo[i] = lo_d(rng) * std::abs(hi[i]) * 0x1p-53;
  }
  hi[0] = 0;
  lo[0] = 0;
  hi[1] = -std::numeric_limits<double>::infinity();
  lo[1] = 0;
  hi[2] = -745.1332191019411;  // smallest subnormal region
  hi[3] = -708.3964185322641;  // near DBL_MIN
  t.f64->exp_neg(hi.data(), lo.data(), out.data(), out_lo.data(), n);
  EXPECT_EQ(out[0], 1.0);
  EXPECT_EQ(out[1], 0.0);
  double worst = 0, worst_dd = 0;
  mpfr_t a, e, f;
  mpfr_inits2(200, a, e, f, static_cast<mpfr_ptr>(nullptr));
  for (std::size_t i = 2; i < n; ++i) {
    mpfr_set_d(a, hi[i], MPFR_RNDN);
    mpfr_add_d(a, a, lo[i], MPFR_RNDN);
    mpfr_exp(e, a, MPFR_RNDN);
    const double want = mpfr_get_d(e, MPFR_RNDN);
    // ulp of the exact value in double, subnormal-aware
    const int ex = want == 0 ? -1074 : std::max(std::ilogb(want) - 52, -1074);
    mpfr_sub_d(f, e, out[i], MPFR_RNDN);
    const double ulps = std::abs(mpfr_get_d(f, MPFR_RNDN)) / std::ldexp(1.0, ex);
    mpfr_sub_d(f, f, out_lo[i], MPFR_RNDN);
    const double ulps_dd = std::abs(mpfr_get_d(f, MPFR_RNDN)) / std::ldexp(1.0, ex);
    worst = std::max(worst, ulps);
    const bool dd_exact = want >= 0x1p-968;  // lo representable: hi above 2^(53-1022)
    if (dd_exact) worst_dd = std::max(worst_dd, ulps_dd);
    ASSERT_LE(ulps, 1.0) << t.name << " exp(" << hi[i] << " + " << lo[i] << ")";
    // hi + lo: the double-double result, where lo is representable.
    if (dd_exact) {
      ASSERT_LE(ulps_dd, 0.25) << t.name << " exp(" << hi[i] << ")";
    }
  }
  mpfr_clears(a, e, f, static_cast<mpfr_ptr>(nullptr));
  std::printf(
      "[exp] %s f64 double-double: max error of hi %.3f ulp, of hi + lo %.3f ulp, "
      "over %zu arguments\n",
      t.name, worst, worst_dd, n);
}

KELVIN_INSTANTIATE_PER_TARGET(exp_kernel);

}  // namespace
}  // namespace kelvin
