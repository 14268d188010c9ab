// End-to-end accuracy against MPFR (docs/contract.md) on random rows and
// on inputs that break naive code, on every SIMD target; and the
// differential test of every SIMD target against the scalar reference.
//
// Budget: KELVIN_TEST_LONG=1 in the environment runs the long sweep (more
// rows, the 10^6 rows on every target).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "kelvin/softmax.hpp"
#include "src/kernels/kernels.hpp"
#include "tests/support/long_mode.hpp"
#include "tests/support/mpfr_reference.hpp"
#include "tests/support/targets.hpp"

namespace kelvin {
namespace {

using testing::long_mode;

struct case_spec {
  std::size_t n;
  double scale;
  double temperature;
};

// The worst errors seen, printed at the end for the closing note / docs.
struct worst {
  double softmax = 0, log_softmax = 0, log_partition = 0, sum = 0;

  template <class T>
  void print(const char* target, const char* sweep) const {
    std::printf(
        "[accuracy] %s %s %s: softmax %.3f ulp, log_softmax %.3f, log_partition %.3f, "
        "|sum-1| %.3f eps\n",
        target, sizeof(T) == 4 ? "f32" : "f64", sweep, softmax, log_softmax, log_partition, sum);
  }
};

template <class T>
std::vector<T> random_row(std::size_t n, double scale, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ud(-1, 1);
  std::vector<T> x(n);
  for (auto& v : x) v = static_cast<T>(ud(rng) * scale);
  return x;
}

// Checks one row on the active target against the MPFR oracle.
template <class T>
void check_row(const std::vector<T>& x, double t, const testing::row_reference& ref, worst& w,
               const char* what) {
  const auto f = testing::format_of<T>();
  const std::size_t n = x.size();
  std::vector<T> p(n), lp(n);
  softmax(std::span<const T>(x), std::span<T>(p), {.temperature = t, .threads = 1});
  log_softmax(std::span<const T>(x), std::span<T>(lp), {.temperature = t, .threads = 1});
  const T lz = log_partition(std::span<const T>(x), {.temperature = t});
  double es = 0, el = 0;
  for (std::size_t i = 0; i < n; ++i) {
    es = std::max(es, ref.softmax_ulps(i, p[i], f));
    el = std::max(el, ref.log_softmax_ulps(i, lp[i], f));
  }
  const double ez = ref.log_partition_ulps(lz, f);
  const double sum = testing::sum_minus_one(std::vector<double>(p.begin(), p.end()));
  EXPECT_LE(es, 2.0) << what << " n=" << n << " T=" << t;
  EXPECT_LE(el, 2.0) << what << " n=" << n << " T=" << t;
  EXPECT_LE(ez, 2.0) << what << " n=" << n << " T=" << t;
  const double eps = std::numeric_limits<T>::epsilon();  // 2^-23 or 2^-52
  EXPECT_LE(sum, 3 * eps) << what << " n=" << n << " T=" << t;
  w.softmax = std::max(w.softmax, es);
  w.log_softmax = std::max(w.log_softmax, el);
  w.log_partition = std::max(w.log_partition, ez);
  w.sum = std::max(w.sum, sum / eps);
}

template <class T>
std::vector<case_spec> random_cases() {
  std::vector<case_spec> cases;
  const std::vector<std::size_t> sizes =
      long_mode() ? std::vector<std::size_t>{1, 2, 5, 16, 17, 100, 1000, 4097, 32000, 100000}
                  : std::vector<std::size_t>{1, 2, 5, 17, 100, 1000, 4097};
  const std::vector<double> temps{1e-3, 0.07, 1, 10, 1e3};
  const std::vector<double> scales{1, 10, 1e3};
  for (std::size_t n : sizes) {
    for (double s : scales) {
      for (double t : temps) cases.push_back({n, s, t});
    }
  }
  return cases;
}

template <class T>
void random_sweep(const char* target) {
  worst w;
  std::uint64_t seed = 1;
  for (const case_spec& c : random_cases<T>()) {
    const auto x = random_row<T>(c.n, c.scale, seed++);
    testing::row_reference ref(std::vector<double>(x.begin(), x.end()), c.temperature,
                               sizeof(T) == 4 ? 128 : 256);
    check_row(x, c.temperature, ref, w, "random");
  }
  w.print<T>(target, "random");
}

// Inputs that break naive code.
template <class T>
void hard_sweep(const char* target) {
  worst w;
  const double big = std::numeric_limits<T>::max();
  struct hard {
    std::vector<double> x;
    double t;
  };
  std::vector<hard> cases;
  // values in [90, 100] (exp overflows float)
  for (double t : {0.07, 1.0, 3.0}) {
    std::vector<double> v(64);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = 90 + std::fmod(double(i) * 0.618, 1.0) * 10;
    cases.push_back({v, t});
  }
  // near +-max
  for (double t : {1.0, 1e30, 1e300}) {
    cases.push_back({{big, big * 0.999, -big, big * (1 - 1e-7), 0}, t});
  }
  // tiny and huge T
  for (double t : {1e-30, 1e-300, 1e30}) {
    cases.push_back({{1, 5, 7, 10, 10 - 1e-5, 10 - 1e-4}, t});
    cases.push_back({{1e-35, 2e-35, 3e-36, 0}, t});
  }
  // outputs deep in the subnormal range
  {
    const double deep = sizeof(T) == 4 ? 103.0 : 744.0;
    std::vector<double> v(33);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = -deep * double(i) / 32.0;
    cases.push_back({v, 1.0});
    cases.push_back({v, 1.01});
  }
  // masks mixed in
  {
    std::vector<double> v(50);
    for (std::size_t i = 0; i < v.size(); ++i) {
      v[i] = i % 3 == 0 ? -std::numeric_limits<double>::infinity() : std::sin(double(i)) * 50;
    }
    cases.push_back({v, 0.07});
  }
  // the seed's vector
  for (double t : {0.1, 1.0, 10.0, 100.0, 10000.0}) cases.push_back({{1, 5, 7, 10}, t});
  // a long row near the sum bound
  cases.push_back({std::vector<double>(1000000, 0.5), 1.0});
  {
    std::vector<double> v(1000000);
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> ud(-1, 1);
    for (auto& e : v) e = static_cast<T>(ud(rng) * 5);
    cases.push_back({v, 0.5});
  }
  for (const hard& c : cases) {
    const std::vector<T> x(c.x.begin(), c.x.end());
    // Skip the 10^6 rows on all but the best target outside long mode.
    if (x.size() >= 1000000 && !long_mode() &&
        &detail::active_target() != &detail::compiled_targets()[0] &&
        std::string(target) != "SCALAR") {
      continue;
    }
    testing::row_reference ref(std::vector<double>(x.begin(), x.end()), c.t,
                               sizeof(T) == 4 ? 128 : 256);
    check_row(x, c.t, ref, w, "hard");
  }
  w.print<T>(target, "hard");
}

class accuracy : public testing::per_target {};

TEST_P(accuracy, random_rows_f32) { random_sweep<float>(GetParam()->name); }
TEST_P(accuracy, random_rows_f64) { random_sweep<double>(GetParam()->name); }
TEST_P(accuracy, hard_rows_f32) { hard_sweep<float>(GetParam()->name); }
TEST_P(accuracy, hard_rows_f64) { hard_sweep<double>(GetParam()->name); }

// Every SIMD target against the scalar reference on random shapes, strides and
// temperatures (they differ only in the exponential's last bits).
template <class T>
void differential(const detail::target& simd) {
  std::mt19937_64 rng(11);
  const int iterations = long_mode() ? 2000 : 200;
  for (int it = 0; it < iterations; ++it) {
    // Few or many rows (the batched kernels group 8 and transpose 64 short
    // rows at a time), short or long, with specials in some rows.
    const std::size_t rows = it % 3 == 0 ? 1 + rng() % 150 : 1 + rng() % 5;
    const std::size_t cols = it % 2 == 0 ? 1 + rng() % 16 : 1 + rng() % 300;
    const std::size_t xs = cols + rng() % 4;
    const double t = std::pow(10.0, std::uniform_real_distribution<double>(-3, 3)(rng));
    std::vector<T> x(rows * xs);
    std::normal_distribution<double> nd(0, std::pow(10.0, double(rng() % 4)));
    for (auto& v : x) v = static_cast<T>(nd(rng));
    if (rng() % 4 == 0) x[rng() % x.size()] = -std::numeric_limits<T>::infinity();
    if (rng() % 4 == 0) x[rng() % x.size()] = std::numeric_limits<T>::quiet_NaN();
    if (rng() % 4 == 0) x[rng() % x.size()] = std::numeric_limits<T>::infinity();
    std::vector<T> a(rows * xs), b(rows * xs), la(rows * xs), lb(rows * xs);
    std::vector<T> pa(rows), pb(rows), ma(rows), mb(rows);
    const matrix_view<const T> xm(x.data(), rows, cols, xs);
    detail::select_target(simd);
    softmax(xm, matrix_view<T>(a.data(), rows, cols, xs), {.temperature = t});
    log_softmax(xm, matrix_view<T>(la.data(), rows, cols, xs), {.temperature = t});
    log_partition(xm, std::span<T>(pa), {.temperature = t});
    smooth_max(xm, std::span<T>(ma), {.temperature = t});
    detail::select_target(detail::reference_target());
    softmax(xm, matrix_view<T>(b.data(), rows, cols, xs), {.temperature = t});
    log_softmax(xm, matrix_view<T>(lb.data(), rows, cols, xs), {.temperature = t});
    log_partition(xm, std::span<T>(pb), {.temperature = t});
    smooth_max(xm, std::span<T>(mb), {.temperature = t});
    for (std::size_t r = 0; r < rows; ++r) {
      // The reductions are one rounding of a result accurate to ~2^-50.
      for (const auto& [got, want] : {std::pair{pa[r], pb[r]}, std::pair{ma[r], mb[r]}}) {
        if (std::isnan(want) || std::isinf(want)) {
          ASSERT_TRUE(got == want || (std::isnan(got) && std::isnan(want)))
              << simd.name << " it " << it << " row " << r;
        } else {
          ASSERT_LE(std::abs(got - want),
                    std::max<T>(std::abs(want), 1) * std::numeric_limits<T>::epsilon())
              << simd.name << " it " << it << " row " << r;
        }
      }
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i % xs >= cols) continue;  // between rows: untouched
      // Both round twice to T (float softmax stores exp, then scales), each
      // within 1.5 ulp of exact: hold them to 2 ulp of each other. A row that
      // is all -inf or holds a NaN is NaN in both (the default policy).
      if (std::isnan(b[i])) {
        ASSERT_TRUE(std::isnan(a[i]) && std::isnan(la[i]) && std::isnan(lb[i]))
            << simd.name << " it " << it << " i " << i;
        continue;
      }
      const T tol = std::max(2 * std::abs(b[i]) * std::numeric_limits<T>::epsilon(),
                             2 * std::numeric_limits<T>::denorm_min());
      ASSERT_LE(std::abs(a[i] - b[i]), tol) << simd.name << " it " << it << " i " << i;
      const T ltol = std::max<T>(std::abs(lb[i]), 1) * std::numeric_limits<T>::epsilon();
      if (std::isinf(lb[i])) {
        ASSERT_EQ(la[i], lb[i]);
      } else {
        ASSERT_LE(std::abs(la[i] - lb[i]), ltol) << simd.name << " it " << it << " i " << i;
      }
    }
  }
}

class differential_test : public testing::per_target {};

TEST_P(differential_test, matches_scalar_reference) {
  differential<float>(*GetParam());
  differential<double>(*GetParam());
}

KELVIN_INSTANTIATE_PER_TARGET(accuracy);
KELVIN_INSTANTIATE_PER_TARGET(differential_test);

}  // namespace
}  // namespace kelvin
