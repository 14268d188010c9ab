// The numeric contract (docs/contract.md), row by row, for float and
// double, on every SIMD target; plus the API's shapes and its errors.
#include "kelvin/softmax.hpp"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kelvin/runtime.hpp"
#include "src/threads.hpp"
#include "tests/support/mpfr_reference.hpp"
#include "tests/support/operations.hpp"
#include "tests/support/targets.hpp"

namespace kelvin {
namespace {

using testing::per_target;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Row lengths around the vector widths (2..8 doubles, 4..16 floats) and the tail.
const std::vector<std::size_t> kLengths = {1, 2, 3, 7, 8, 9, 16, 17, 31, 33, 100};

template <class T>
std::vector<T> as(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
struct results {
  std::vector<T> p, logp;
  T log_z, smax;
};

template <class T>
results<T> run_all(const std::vector<T>& x, double t,
                   empty_row_policy pol = empty_row_policy::nan) {
  results<T> r;
  r.p.resize(x.size());
  r.logp.resize(x.size());
  const options o{.temperature = t, .empty_row = pol};
  softmax(std::span<const T>(x), std::span<T>(r.p), o);
  log_softmax(std::span<const T>(x), std::span<T>(r.logp), o);
  r.log_z = log_partition(std::span<const T>(x), o);
  r.smax = smooth_max(std::span<const T>(x), o);
  return r;
}

// A row of n entries, value `fill` everywhere except at `spots`, where `v` is.
std::vector<double> row_with(std::size_t n, double fill, std::vector<std::size_t> spots, double v) {
  std::vector<double> x(n, fill);
  for (std::size_t s : spots) x[s % n] = v;
  return x;
}

// Expected limit distribution: equal mass on `hit` entries.
template <class T>
void expect_limit(const results<T>& r, const std::vector<T>& x, auto hit, std::size_t k) {
  const T on = static_cast<T>(1.0 / static_cast<double>(k));
  const T log_on = static_cast<T>(0.0 - std::log(static_cast<double>(k)));
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (hit(x[i])) {
      EXPECT_EQ(r.p[i], on) << i;
      EXPECT_EQ(r.logp[i], log_on) << i;
    } else {
      EXPECT_EQ(r.p[i], T(0)) << i;
      EXPECT_EQ(r.logp[i], static_cast<T>(-kInf)) << i;
    }
  }
}

class contract : public per_target {};

template <class T>
void check_bad_temperature() {
  std::vector<T> x{1, 2, 3}, y(3);
  for (double t : {-1.0, -0.0 - 1e-300, kNaN, -kInf}) {
    EXPECT_THROW(softmax(std::span<const T>(x), std::span<T>(y), {.temperature = t}), error) << t;
    EXPECT_THROW(log_softmax(std::span<const T>(x), std::span<T>(y), {.temperature = t}), error);
    EXPECT_THROW(log_partition(std::span<const T>(x), {.temperature = t}), error);
    EXPECT_THROW(smooth_max(std::span<const T>(x), {.temperature = t}), error);
  }
  try {
    softmax(std::span<const T>(x), std::span<T>(y), {.temperature = -2});
    FAIL();
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("temperature"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("-2"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), status::invalid_argument);
  }
  // -0.0 is a valid zero temperature.
  EXPECT_NO_THROW(softmax(std::span<const T>(x), std::span<T>(y), {.temperature = -0.0}));
  EXPECT_EQ(y[2], T(1));
}

TEST_P(contract, negative_or_nan_temperature_is_an_error) {
  check_bad_temperature<float>();
  check_bad_temperature<double>();
}

template <class T>
void check_hardmax() {
  for (std::size_t n : kLengths) {
    // Ties split: the max appears at the first and last position.
    auto xd = row_with(n, 1.0, {}, 0);
    for (std::size_t i = 0; i < n; ++i) xd[i] = std::sin(double(i)) * 3;
    xd[0] = 5;
    xd[n - 1] = 5;
    const auto x = as<T>(xd);
    const std::size_t k = n == 1 ? 1 : 2;
    const auto r = run_all(x, 0.0);
    expect_limit(
        r, x, [](T v) { return v == T(5); }, k);
    EXPECT_EQ(r.log_z, static_cast<T>(kInf));  // max > 0
    EXPECT_EQ(r.smax, T(5));
    // max < 0: log_partition -inf; max == 0: log k.
    auto neg = x;
    for (auto& v : neg) v -= T(10);
    EXPECT_EQ(run_all(neg, 0.0).log_z, static_cast<T>(-kInf));
    auto zero = x;
    for (auto& v : zero) v -= T(5);
    EXPECT_EQ(run_all(zero, 0.0).log_z, static_cast<T>(std::log(double(k))));
    EXPECT_EQ(run_all(zero, 0.0).smax, T(0));
  }
}

TEST_P(contract, zero_temperature_is_exact_hardmax_with_ties_split) {
  check_hardmax<float>();
  check_hardmax<double>();
}

template <class T>
void check_infinite_temperature() {
  for (std::size_t n : kLengths) {
    auto xd = std::vector<double>(n);
    for (std::size_t i = 0; i < n; ++i) xd[i] = (i % 3 == 1) ? -kInf : std::cos(double(i)) * 1e3;
    xd[0] = 7;
    const auto x = as<T>(xd);
    std::size_t live = 0;
    for (T v : x) live += v > -std::numeric_limits<T>::infinity();
    const auto r = run_all(x, kInf);
    expect_limit(
        r, x, [](T v) { return v > -std::numeric_limits<T>::infinity(); }, live);
    EXPECT_EQ(r.log_z, static_cast<T>(std::log(double(live))));
    if (live >= 2) {
      EXPECT_EQ(r.smax, static_cast<T>(kInf));
    } else {
      EXPECT_EQ(r.smax, T(7));
    }
  }
  // One entry above -inf: smooth_max is that entry.
  const auto one = as<T>({-kInf, 4, -kInf});
  EXPECT_EQ(run_all(one, kInf).smax, T(4));
  EXPECT_EQ(run_all(one, kInf).log_z, T(0));
}

TEST_P(contract, infinite_temperature_is_uniform_over_unmasked_entries) {
  check_infinite_temperature<float>();
  check_infinite_temperature<double>();
}

template <class T>
void check_nan_rows() {
  for (std::size_t n : kLengths) {
    for (std::size_t spot : {std::size_t{0}, n / 2, n - 1}) {
      auto xd = std::vector<double>(n);
      for (std::size_t i = 0; i < n; ++i) xd[i] = double(i);
      xd[spot] = kNaN;
      const auto x = as<T>(xd);
      for (double t : {0.0, 0.07, 1.0, kInf}) {
        const auto r = run_all(x, t, empty_row_policy::zero);
        for (std::size_t i = 0; i < n; ++i) {
          EXPECT_TRUE(std::isnan(r.p[i])) << n << " " << spot << " " << t;
          EXPECT_TRUE(std::isnan(r.logp[i]));
        }
        EXPECT_TRUE(std::isnan(r.log_z));
        EXPECT_TRUE(std::isnan(r.smax));
      }
    }
  }
  // NaN wins over +inf and over an otherwise all -inf row.
  const auto x = as<T>({kInf, kNaN, -kInf});
  EXPECT_TRUE(std::isnan(run_all(x, 1.0).p[0]));
  const auto y = as<T>({-kInf, kNaN});
  EXPECT_TRUE(std::isnan(run_all(y, 1.0, empty_row_policy::zero).p[0]));
}

TEST_P(contract, any_nan_makes_the_whole_row_nan) {
  check_nan_rows<float>();
  check_nan_rows<double>();
}

template <class T>
void check_plus_inf() {
  for (std::size_t n : kLengths) {
    auto xd = std::vector<double>(n);
    for (std::size_t i = 0; i < n; ++i) xd[i] = std::sin(double(i)) * 100;
    xd[n / 3] = kInf;
    xd[n - 1] = kInf;
    const auto x = as<T>(xd);
    const std::size_t k = n / 3 == n - 1 ? 1 : 2;
    for (double t : {0.0, 1e-30, 0.07, 1.0, 1e30, kInf}) {
      const auto r = run_all(x, t);
      expect_limit(
          r, x, [](T v) { return v == std::numeric_limits<T>::infinity(); }, k);
      EXPECT_EQ(r.log_z, static_cast<T>(kInf));
      EXPECT_EQ(r.smax, static_cast<T>(kInf));
    }
  }
}

TEST_P(contract, plus_inf_entries_share_the_mass) {
  check_plus_inf<float>();
  check_plus_inf<double>();
}

template <class T>
void check_masks() {
  for (std::size_t n : kLengths) {
    if (n < 2) continue;
    auto xd = std::vector<double>(n);
    for (double t : {1e-3, 0.07, 1.0, 1e3}) {
      // Unmasked entries within a few T of each other, so none underflows.
      for (std::size_t i = 0; i < n; ++i) xd[i] = (i % 2 == 1) ? -kInf : double(i % 5) * t;
      const auto x = as<T>(xd);
      const auto r = run_all(x, t);
      double sum = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (i % 2 == 1) {
          EXPECT_EQ(r.p[i], T(0));
          EXPECT_EQ(r.logp[i], static_cast<T>(-kInf));
        } else {
          EXPECT_GT(r.p[i], T(0));
          EXPECT_TRUE(std::isfinite(r.logp[i]));
        }
        sum += r.p[i];
      }
      EXPECT_NEAR(sum, 1.0, 4 * std::numeric_limits<T>::epsilon());
    }
  }
}

TEST_P(contract, minus_inf_entries_are_masked) {
  check_masks<float>();
  check_masks<double>();
}

template <class T>
void check_empty_rows() {
  for (std::size_t n : kLengths) {
    const std::vector<T> x(n, -std::numeric_limits<T>::infinity());
    for (double t : {0.0, 1.0, kInf}) {
      const auto nan = run_all(x, t, empty_row_policy::nan);
      const auto zero = run_all(x, t, empty_row_policy::zero);
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_TRUE(std::isnan(nan.p[i]));
        EXPECT_TRUE(std::isnan(nan.logp[i]));
        EXPECT_EQ(zero.p[i], T(0));
        EXPECT_EQ(zero.logp[i], static_cast<T>(-kInf));
      }
      EXPECT_EQ(nan.log_z, static_cast<T>(-kInf));
      EXPECT_EQ(zero.log_z, static_cast<T>(-kInf));
      EXPECT_EQ(nan.smax, static_cast<T>(-kInf));
    }
  }
  // An empty row: nothing to write; log_partition -inf.
  const std::vector<T> empty;
  EXPECT_EQ(log_partition(std::span<const T>(empty)), static_cast<T>(-kInf));
  EXPECT_EQ(smooth_max(std::span<const T>(empty)), static_cast<T>(-kInf));
  std::vector<T> none;
  EXPECT_NO_THROW(softmax(std::span<const T>(empty), std::span<T>(none)));
}

TEST_P(contract, all_minus_inf_or_empty_rows_follow_the_policy) {
  check_empty_rows<float>();
  check_empty_rows<double>();
}

template <class T>
void check_huge_values() {
  const double big = std::numeric_limits<T>::max();
  for (std::size_t n : kLengths) {
    if (n < 3) continue;
    auto xd = std::vector<double>(n, -big);
    xd[1] = big;
    xd[n - 1] = big;
    const auto x = as<T>(xd);
    for (double t : {1e-30, 1.0, 1e30}) {
      const auto r = run_all(x, t);
      EXPECT_EQ(r.p[1], T(0.5)) << t;
      EXPECT_EQ(r.p[n - 1], T(0.5));
      EXPECT_EQ(r.p[0], T(0));
      for (std::size_t i = 0; i < n; ++i) EXPECT_FALSE(std::isnan(r.logp[i]));
      EXPECT_EQ(r.logp[1], static_cast<T>(-std::log(2.0)));
      EXPECT_FALSE(std::isnan(r.log_z));
      EXPECT_FALSE(std::isnan(r.smax));
    }
    // log_partition = big / T + log 2: finite at T = 1e30 for float, +inf at T = 1
    // for float (FLT_MAX + log 2 rounds to FLT_MAX, so finite); check against MPFR.
    for (double t : {1.0, 1e30}) {
      const auto r = run_all(x, t);
      testing::row_reference ref(xd, t, 256);
      EXPECT_LE(ref.log_partition_ulps(r.log_z, testing::format_of<T>()), 2.0) << t;
    }
  }
  // Values in [90, 100] where exp(x) overflows float.
  std::vector<double> hot(40);
  for (std::size_t i = 0; i < hot.size(); ++i) hot[i] = 90 + 10 * std::fmod(i * 0.37, 1.0);
  const auto x = as<T>(hot);
  const auto r = run_all(x, 1.0);
  testing::row_reference ref(std::vector<double>(x.begin(), x.end()), 1.0, 256);
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(ref.softmax_ulps(i, r.p[i], testing::format_of<T>()), 2.0);
  }
}

TEST_P(contract, huge_values_never_overflow) {
  check_huge_values<float>();
  check_huge_values<double>();
}

template <class T>
void check_subnormal_outputs() {
  // exp(-x) deep in the subnormal range of T: computed, not flushed.
  const double deep = sizeof(T) == 4 ? 100.0 : 740.0;
  for (std::size_t n : kLengths) {
    std::vector<double> xd(n);
    for (std::size_t i = 0; i < n; ++i) xd[i] = -deep * double(i) / double(n);
    xd[0] = 0;
    if (n > 1) xd[n - 1] = -deep - 2;  // below the smallest normal
    const auto x = as<T>(xd);
    const auto r = run_all(x, 1.0);
    testing::row_reference ref(std::vector<double>(x.begin(), x.end()), 1.0, 256);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_LE(ref.softmax_ulps(i, r.p[i], testing::format_of<T>()), 2.0) << n << " " << i;
    }
    if (n > 1) {
      EXPECT_GT(r.p[n - 1], T(0));
      EXPECT_LT(r.p[n - 1], std::numeric_limits<T>::min());
    }
  }
  // Subnormal inputs with a subnormal temperature.
  const T tiny = std::numeric_limits<T>::denorm_min();
  const std::vector<T> x{0, -tiny, -2 * tiny, tiny};
  const auto r = run_all(x, static_cast<double>(tiny));
  testing::row_reference ref(std::vector<double>(x.begin(), x.end()), double(tiny), 256);
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(ref.softmax_ulps(i, r.p[i], testing::format_of<T>()), 2.0) << i;
    EXPECT_LE(ref.log_softmax_ulps(i, r.logp[i], testing::format_of<T>()), 2.0) << i;
  }
}

TEST_P(contract, subnormal_inputs_and_outputs_are_not_flushed) {
  check_subnormal_outputs<float>();
  check_subnormal_outputs<double>();
}

template <class T>
void check_extreme_temperatures() {
  std::vector<double> xd{1, 5, 7, 10, 10 - 1e-6, -3};
  const auto x = as<T>(xd);
  const std::vector<double> xe(x.begin(), x.end());
  for (double t : {1e-300, 1e-30, 1e-7, 1e30, 1e300}) {
    const auto r = run_all(x, t);
    testing::row_reference ref(xe, t, 256);
    for (std::size_t i = 0; i < x.size(); ++i) {
      EXPECT_LE(ref.softmax_ulps(i, r.p[i], testing::format_of<T>()), 2.0) << t << " " << i;
      EXPECT_LE(ref.log_softmax_ulps(i, r.logp[i], testing::format_of<T>()), 2.0) << t << " " << i;
    }
    EXPECT_LE(ref.log_partition_ulps(r.log_z, testing::format_of<T>()), 2.0) << t;
  }
  // The smallest positive temperature (subnormal): 1 / T overflows double.
  const double tmin = std::numeric_limits<double>::denorm_min();
  const auto r = run_all(x, tmin);
  EXPECT_EQ(r.p[3], T(1));
  EXPECT_EQ(r.p[4], T(0));
  EXPECT_EQ(r.logp[3], T(0));
  EXPECT_EQ(r.log_z, static_cast<T>(kInf));
  EXPECT_EQ(r.smax, T(10));
  // Entries a few subnormal steps apart at the smallest temperature (double).
  if constexpr (sizeof(T) == 8) {
    const std::vector<double> z{0, -tmin, -3 * tmin};
    const auto rz = run_all(z, tmin);
    testing::row_reference ref(z, tmin, 256);
    for (std::size_t i = 0; i < z.size(); ++i) {
      EXPECT_LE(ref.softmax_ulps(i, rz.p[i], testing::kF64), 2.0) << i;
    }
  }
}

TEST_P(contract, tiny_and_huge_temperatures) {
  check_extreme_temperatures<float>();
  check_extreme_temperatures<double>();
}

template <class T>
void check_in_place() {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd(0, 3);
  for (std::size_t n : kLengths) {
    std::vector<T> x(n);
    for (auto& v : x) v = static_cast<T>(nd(rng));
    std::vector<T> want(n), y = x;
    softmax(std::span<const T>(x), std::span<T>(want), {.temperature = 0.7});
    softmax(std::span<const T>(y), std::span<T>(y), {.temperature = 0.7});
    EXPECT_EQ(y, want);
    y = x;
    log_softmax(std::span<const T>(x), std::span<T>(want), {.temperature = 0.7});
    log_softmax(std::span<const T>(y), std::span<T>(y), {.temperature = 0.7});
    EXPECT_EQ(y, want);
    // Limits in place too.
    y = x;
    softmax(std::span<const T>(x), std::span<T>(want), {.temperature = 0});
    softmax(std::span<const T>(y), std::span<T>(y), {.temperature = 0});
    EXPECT_EQ(y, want);
  }
}

TEST_P(contract, in_place_equals_out_of_place) {
  check_in_place<float>();
  check_in_place<double>();
}

KELVIN_INSTANTIATE_PER_TARGET(contract);

// ---- batches, per-row temperatures, axes, threads -----------------------------

template <class T>
void check_batches() {
  const std::size_t rows = 37, cols = 45, xs = 50, ys = 47;
  std::vector<T> x(rows * xs, T(-99)), y(rows * ys, T(-7));
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> ud(-10, 10);
  for (auto& v : x) v = static_cast<T>(ud(rng));
  std::vector<double> temps(rows);
  for (std::size_t r = 0; r < rows; ++r)
    temps[r] = r == 3 ? 0.0 : (r == 4 ? kInf : 0.05 * double(r + 1));
  for (int threads : {1, 2}) {
    softmax(matrix_view<const T>(x.data(), rows, cols, xs),
            matrix_view<T>(y.data(), rows, cols, ys), {.temperatures = temps, .threads = threads});
    std::vector<T> lz(rows);
    log_partition(matrix_view<const T>(x.data(), rows, cols, xs), std::span<T>(lz),
                  {.temperatures = temps, .threads = threads});
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<T> row(x.begin() + r * xs, x.begin() + r * xs + cols), want(cols);
      softmax(std::span<const T>(row), std::span<T>(want), {.temperature = temps[r]});
      for (std::size_t c = 0; c < cols; ++c) ASSERT_EQ(y[r * ys + c], want[c]) << r << " " << c;
      for (std::size_t c = cols; c < ys && r * ys + c < y.size(); ++c)
        ASSERT_EQ(y[r * ys + c], T(-7));
      EXPECT_EQ(lz[r], log_partition(std::span<const T>(row), {.temperature = temps[r]}));
    }
  }
}

TEST(batches, per_row_temperatures_and_strides_match_single_rows) {
  check_batches<float>();
  check_batches<double>();
}

template <class T>
void check_axes() {
  // A 4 x 5 x 6 array, softmax over each axis, against gathering by hand.
  const std::size_t d0 = 4, d1 = 5, d2 = 6;
  std::vector<T> x(d0 * d1 * d2);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(std::sin(double(i) * 1.7) * 4);
  const std::size_t dims[3] = {d0, d1, d2};
  for (int axis = 0; axis < 3; ++axis) {
    std::size_t outer = 1, inner = 1;
    for (int k = 0; k < axis; ++k) outer *= dims[k];
    for (int k = axis + 1; k < 3; ++k) inner *= dims[k];
    const std::size_t n = dims[axis];
    std::vector<T> y(x.size()), lz(outer * inner);
    std::vector<double> temps(outer * inner);
    for (std::size_t s = 0; s < temps.size(); ++s) temps[s] = 0.3 + 0.1 * double(s % 7);
    const auto xv = axis_view<const T>::contiguous(x.data(), outer, n, inner);
    softmax(xv, axis_view<T>::contiguous(y.data(), outer, n, inner), {.temperatures = temps});
    log_partition(xv, axis_view<T>::contiguous(lz.data(), outer, 1, inner),
                  {.temperatures = temps});
    for (std::size_t o = 0; o < outer; ++o) {
      for (std::size_t i = 0; i < inner; ++i) {
        std::vector<T> row(n), want(n);
        for (std::size_t a = 0; a < n; ++a) row[a] = x[(o * n + a) * inner + i];
        const double t = temps[o * inner + i];
        softmax(std::span<const T>(row), std::span<T>(want), {.temperature = t});
        for (std::size_t a = 0; a < n; ++a) ASSERT_EQ(y[(o * n + a) * inner + i], want[a]);
        EXPECT_EQ(lz[o * inner + i], log_partition(std::span<const T>(row), {.temperature = t}));
      }
    }
    // In place over the axis.
    std::vector<T> z = x;
    const auto zv = axis_view<T>::contiguous(z.data(), outer, n, inner);
    softmax(zv, zv, {.temperatures = temps});
    EXPECT_EQ(z, y);
  }
  // Negative strides: the last axis reversed.
  std::vector<T> y(d2), want(d2);
  axis_view<const T> rev{x.data() + d2 - 1, 1, d2, 1, 0, -1, 1};
  softmax(rev, axis_view<T>::contiguous(y.data(), 1, d2, 1));
  std::vector<T> row(x.rbegin() + static_cast<std::ptrdiff_t>(x.size() - d2), x.rend());
  softmax(std::span<const T>(row), std::span<T>(want));
  EXPECT_EQ(y, want);
}

TEST(axes, softmax_over_any_axis_matches_gathered_rows) {
  check_axes<float>();
  check_axes<double>();
}

// Softmax over a non-last axis with one temperature runs vectorised across the
// inner positions (lanes are rows); it must agree with gathering each row, to
// within the rounding of a differently ordered sum, including rows the lanes
// kernel hands back (NaN, all -inf, +inf) and inner extents that are not a
// multiple of the vector width.
template <class T>
void check_axis_lanes() {
  const std::size_t outer = 3, n = 50, inner = 37;
  std::vector<T> x(outer * n * inner);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(std::sin(double(i) * 0.37) * 20);
  const auto put = [&](std::size_t o, std::size_t a, std::size_t i, T v) {
    x[(o * n + a) * inner + i] = v;
  };
  constexpr T kInfT = std::numeric_limits<T>::infinity();
  put(0, 7, 3, std::numeric_limits<T>::quiet_NaN());
  for (std::size_t a = 0; a < n; ++a) put(1, a, 20, -kInfT);
  put(2, 49, 9, kInfT);
  put(2, 10, 30, -kInfT);  // a mask inside an ordinary row
  const auto xv = axis_view<const T>::contiguous(x.data(), outer, n, inner);
  for (double t : {0.07, 1.0, 250.0}) {
    for (const testing::operation& op : testing::kOperations) {
      const bool reduce = op.reduces;
      std::vector<T> y(reduce ? outer * inner : x.size());
      const options o{.temperature = t, .empty_row = empty_row_policy::zero};
      const auto yv = axis_view<T>::contiguous(y.data(), outer, reduce ? 1 : n, inner);
      op.on<T>().axis(xv, yv, o);
      for (std::size_t oo = 0; oo < outer; ++oo) {
        for (std::size_t i = 0; i < inner; ++i) {
          std::vector<T> row(n), want(n);
          for (std::size_t a = 0; a < n; ++a) row[a] = x[(oo * n + a) * inner + i];
          op.on<T>().row(std::span<const T>(row), std::span<T>(want.data(), reduce ? 1 : n), o);
          const T want_r = want[0];
          const auto close = [](T got, T exp) {
            if (std::isnan(exp)) return std::isnan(got);
            if (std::isinf(exp) || exp == 0) return got == exp;
            return std::abs(got - exp) <=
                   2 * std::numeric_limits<T>::epsilon() * std::max<T>(std::abs(exp), 1);
          };
          if (reduce) {
            ASSERT_TRUE(close(y[oo * inner + i], want_r))
                << t << " " << op.name << " " << oo << " " << i;
          } else {
            for (std::size_t a = 0; a < n; ++a) {
              ASSERT_TRUE(close(y[(oo * n + a) * inner + i], want[a]))
                  << t << " " << op.name << " " << oo << " " << a << " " << i << ": "
                  << y[(oo * n + a) * inner + i] << " vs " << want[a];
            }
          }
        }
      }
    }
  }
  // In place.
  std::vector<T> z = x, want(x.size());
  softmax(xv, axis_view<T>::contiguous(want.data(), outer, n, inner), {.temperature = 0.5});
  const auto zv = axis_view<T>::contiguous(z.data(), outer, n, inner);
  softmax(zv, zv, {.temperature = 0.5});
  for (std::size_t i = 0; i < z.size(); ++i) {
    ASSERT_TRUE(z[i] == want[i] || (std::isnan(z[i]) && std::isnan(want[i]))) << i;
  }
}

class axis_lanes : public per_target {};

TEST_P(axis_lanes, vectorised_axis_matches_gathered_rows) {
  check_axis_lanes<float>();
  check_axis_lanes<double>();
}

// float64 lanes hold the row path's 2-ulp bounds against MPFR, for positions
// the lanes kernel takes (masks, wide spreads, subnormal results) and ones it
// hands back (x - m overflowing at T > 1; T below 2^-960).
TEST_P(axis_lanes, float64_lanes_are_within_two_ulps_of_mpfr) {
  const std::size_t outer = 2, n = 40, inner = 19;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd(0, 30);
  std::vector<double> x(outer * n * inner);
  for (double& v : x) v = nd(rng);
  const auto put = [&](std::size_t o, std::size_t a, std::size_t i, double v) {
    x[(o * n + a) * inner + i] = v;
  };
  for (std::size_t a = 0; a < n; a += 3) put(0, a, 2, -HUGE_VAL);  // masked entries
  put(0, 5, 11, 1e300);                                            // x - m overflows
  put(0, 6, 11, -1e300);
  put(1, 0, 4, 800);  // the other entries' results are subnormal or 0 at T = 1
  const auto xv = axis_view<const double>::contiguous(x.data(), outer, n, inner);
  for (double t : {0.07, 1.0, 250.0, 0x1p-1000}) {
    std::vector<double> p(x.size()), lp(x.size()), lz(outer * inner);
    const options o{.temperature = t};
    softmax(xv, axis_view<double>::contiguous(p.data(), outer, n, inner), o);
    log_softmax(xv, axis_view<double>::contiguous(lp.data(), outer, n, inner), o);
    log_partition(xv, axis_view<double>::contiguous(lz.data(), outer, 1, inner), o);
    for (std::size_t oo = 0; oo < outer; ++oo) {
      for (std::size_t i = 0; i < inner; ++i) {
        std::vector<double> row(n);
        for (std::size_t a = 0; a < n; ++a) row[a] = x[(oo * n + a) * inner + i];
        const testing::row_reference ref(row, t, 200);
        for (std::size_t a = 0; a < n; ++a) {
          const std::size_t k = (oo * n + a) * inner + i;
          ASSERT_LE(ref.softmax_ulps(a, p[k], testing::kF64), 2.0) << t << " " << oo << " " << i;
          ASSERT_LE(ref.log_softmax_ulps(a, lp[k], testing::kF64), 2.0)
              << t << " " << oo << " " << i;
        }
        ASSERT_LE(ref.log_partition_ulps(lz[oo * inner + i], testing::kF64), 2.0) << t << " " << i;
      }
    }
  }
}

KELVIN_INSTANTIATE_PER_TARGET(axis_lanes);

TEST(threads, plan_follows_the_request_the_default_and_the_grain) {
  constexpr std::size_t g = detail::kGrainElements;
  // Less than two grains of work: one thread, whatever was asked.
  for (const int requested : {0, 1, 2, 64}) {
    EXPECT_EQ(detail::plan_threads(requested, 1, 1000), 1) << requested;
    EXPECT_EQ(detail::plan_threads(requested, 1, 2 * g), 1) << requested;  // one item
    EXPECT_EQ(detail::plan_threads(requested, 100, (2 * g - 1) / 100), 1) << requested;
    EXPECT_EQ(detail::plan_threads(requested, 0, 0), 1) << requested;
  }
  // More: the request, capped by the items and by the work in grains.
  EXPECT_EQ(detail::plan_threads(8, 100, 2 * g), 8);
  EXPECT_EQ(detail::plan_threads(8, 3, 2 * g), 3);
  EXPECT_EQ(detail::plan_threads(8, 100, (5 * g + 99) / 100), 5);
  // No request: the default, read at every call that has work for more threads
  // (the tests run with the default unset, 0, as this leaves it).
  detail::set_default_threads(3);
  EXPECT_EQ(detail::plan_threads(0, 100, 2 * g), 3);
  detail::set_default_threads(5);
  EXPECT_EQ(detail::plan_threads(0, 100, 2 * g), 5);
  EXPECT_EQ(detail::plan_threads(0, 100, 1), 1);
  detail::set_default_threads(0);
  EXPECT_GE(detail::default_threads(), 1);
  EXPECT_EQ(detail::plan_threads(0, 1000, 1000 * g), detail::default_threads());
}

TEST(threads, results_do_not_depend_on_the_thread_count) {
  // Every shape is above the grain, so that threads = 2 really runs two
  // threads: rows of the batched kernel whose work items differ with the
  // thread count (100 x 700: 50 rows per item on two threads, 64 on one),
  // two rows of one item each, and short rows transposed 64 at a time (with a
  // partial last group), with a NaN row and a +inf entry among them.
  for (const auto& [rows, cols] : {std::pair<std::size_t, std::size_t>{64, 3000},
                                   {100, 700},
                                   {2, 40000},
                                   {8000, 10},
                                   {4100, 16}}) {
    ASSERT_EQ(detail::plan_threads(2, rows, cols), 2) << rows << "x" << cols;
    std::vector<float> x(rows * cols), y1(x.size()), y2(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::cos(double(i)) * 20);
    if (rows > 90) {
      x[70 * cols + 1] = NAN;
      x[90 * cols] = INFINITY;
    }
    const matrix_view<const float> xv(x.data(), rows, cols);
    for (const testing::operation& op : testing::kOperations) {
      const std::size_t out_cols = op.reduces ? 1 : cols;
      op.f32.rows(xv, matrix_view<float>(y1.data(), rows, out_cols),
                  {.temperature = 0.07, .threads = 1});
      op.f32.rows(xv, matrix_view<float>(y2.data(), rows, out_cols),
                  {.temperature = 0.07, .threads = 2});
      for (std::size_t i = 0; i < rows * out_cols; ++i) {
        ASSERT_TRUE(y1[i] == y2[i] || (std::isnan(y1[i]) && std::isnan(y2[i])))
            << rows << "x" << cols << " " << op.name << " at " << i;
      }
    }
  }
}

TEST(threads, one_long_row_split_over_threads_gives_the_same_results) {
  // Long enough for several chunks, with a tail chunk and specials mid-row.
  const std::size_t n = 3 * 65536 + 77;
  std::vector<float> x(n), y1(n), y2(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::sin(double(i) * 0.001) * 30);
  x[70000] = -std::numeric_limits<float>::infinity();
  for (auto f : {0, 1}) {
    for (int threads : {1, 2}) {
      auto& y = threads == 1 ? y1 : y2;
      const options o{.temperature = 0.3, .threads = threads};
      if (f == 0) {
        softmax(std::span<const float>(x), std::span<float>(y), o);
      } else {
        log_softmax(std::span<const float>(x), std::span<float>(y), o);
      }
    }
    EXPECT_EQ(y1, y2);
  }
  EXPECT_EQ(log_partition(std::span<const float>(x), {.temperature = 0.3, .threads = 1}),
            log_partition(std::span<const float>(x), {.temperature = 0.3, .threads = 2}));
  // A NaN in a later chunk still makes the whole row NaN; +inf in another chunk wins.
  x[150000] = std::numeric_limits<float>::quiet_NaN();
  softmax(std::span<const float>(x), std::span<float>(y1), {.threads = 2});
  EXPECT_TRUE(std::isnan(y1[0]));
  x[150000] = std::numeric_limits<float>::infinity();
  softmax(std::span<const float>(x), std::span<float>(y1), {.threads = 2});
  EXPECT_EQ(y1[150000], 1.0f);
  EXPECT_EQ(y1[0], 0.0f);
}

// ---- argument errors ---------------------------------------------------------

template <class T>
void check_argument_errors() {
  std::vector<T> x(12, T(1)), y(12);
  const std::vector<double> bad_temps{1, -1, 1};
  const std::vector<double> nan_temps{1, kNaN, 1};
  const std::vector<double> short_temps{1, 1};
  const matrix_view<const T> xm(x.data(), 3, 4);
  const matrix_view<T> ym(y.data(), 3, 4);
  EXPECT_THROW(softmax(xm, ym, {.temperatures = bad_temps}), error);
  EXPECT_THROW(softmax(xm, ym, {.temperatures = nan_temps}), error);
  EXPECT_THROW(softmax(xm, ym, {.temperatures = short_temps}), error);
  try {
    log_softmax(xm, ym, {.temperatures = bad_temps});
    FAIL();
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("temperatures[1]"), std::string::npos) << e.what();
  }
  // Null pointers with a nonzero size.
  EXPECT_THROW(softmax(matrix_view<const T>(nullptr, 3, 4), ym), error);
  EXPECT_THROW(softmax(xm, matrix_view<T>(nullptr, 3, 4)), error);
  // Stride below the row length.
  EXPECT_THROW(softmax(matrix_view<const T>(x.data(), 3, 4, 3), ym), error);
  EXPECT_THROW(softmax(xm, matrix_view<T>(y.data(), 3, 4, 2)), error);
  EXPECT_THROW(softmax(matrix_view<const T>(x.data(), 1, 4, 3), matrix_view<T>(y.data(), 1, 4)),
               error);
  // Shape mismatch, partial overlap.
  EXPECT_THROW(softmax(xm, matrix_view<T>(y.data(), 3, 3)), error);
  EXPECT_THROW(softmax(std::span<const T>(x.data(), 4), std::span<T>(y.data(), 5)), error);
  EXPECT_THROW(softmax(matrix_view<const T>(x.data(), 2, 4), matrix_view<T>(x.data() + 2, 2, 4)),
               error);
  std::vector<T> out(2);
  EXPECT_THROW(log_partition(xm, std::span<T>(out)), error);
  // Bad options.
  EXPECT_THROW(softmax(xm, ym, {.threads = -1}), error);
  EXPECT_THROW(softmax(xm, ym, {.empty_row = static_cast<empty_row_policy>(7)}), error);
  // Axis views.
  EXPECT_THROW(softmax(axis_view<const T>::contiguous(nullptr, 2, 3, 2),
                       axis_view<T>::contiguous(y.data(), 2, 3, 2)),
               error);
  EXPECT_THROW(softmax(axis_view<const T>::contiguous(x.data(), 2, 3, 2),
                       axis_view<T>::contiguous(y.data(), 2, 2, 3)),
               error);
  EXPECT_THROW(log_partition(axis_view<const T>::contiguous(x.data(), 2, 3, 2),
                             axis_view<T>::contiguous(y.data(), 2, 3, 2)),
               error);
  // Nothing was written by the failed calls above into y beyond its initial zeros.
  for (T v : y) EXPECT_EQ(v, T(0));
}

TEST(errors, bad_arguments_throw_and_write_nothing) {
  check_argument_errors<float>();
  check_argument_errors<double>();
}

}  // namespace
}  // namespace kelvin
