// Temperature scaling and calibration metrics (include/kelvin/calibration.hpp)
// against independent references: the fused kernel against long double sums
// on every target, the fitted T against a golden-section minimisation of the
// NLL in long double, the NLL against a long double log-sum-exp, and every
// metric against a straightforward implementation of its definition.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kelvin/calibration.hpp"
#include "src/kernels/calibration.hpp"
#include "tests/support/targets.hpp"

namespace kelvin {
namespace {

using testing::per_target;
using ld = long double;

// --- data --------------------------------------------------------------------

// Logits of a synthetic classifier: a true class, its logit raised by
// `margin`, everything scaled by `scale` (scale > 1: over-confident, < 1:
// under-confident), and a label that agrees with the true class with
// probability `agree`.
template <class T>
struct dataset {
  std::vector<T> x;
  std::vector<std::int64_t> y;
  std::size_t rows, cols;
  matrix_view<const T> view() const { return {x.data(), rows, cols}; }
};

template <class T>
dataset<T> make_data(std::size_t rows, std::size_t cols, double scale, double margin, double agree,
                     unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<std::int64_t> cls(0, static_cast<std::int64_t>(cols) - 1);
  dataset<T> d{std::vector<T>(rows * cols), std::vector<std::int64_t>(rows), rows, cols};
  for (std::size_t r = 0; r < rows; ++r) {
    const std::int64_t truth = cls(rng);
    for (std::size_t c = 0; c < cols; ++c) {
      double v = g(rng);
      if (static_cast<std::int64_t>(c) == truth) v += margin;
      d.x[r * cols + c] = static_cast<T>(scale * v);
    }
    d.y[r] = u(rng) < agree ? truth : cls(rng);
  }
  return d;
}

// --- references in long double ------------------------------------------------

template <class T>
ld ref_row_nll(const T* x, std::size_t n, std::int64_t y, ld beta) {
  ld m = -std::numeric_limits<ld>::infinity();
  for (std::size_t i = 0; i < n; ++i) m = std::max<ld>(m, x[i]);
  ld s = 0;
  for (std::size_t i = 0; i < n; ++i) s += std::exp(beta * (static_cast<ld>(x[i]) - m));
  return std::log(s) + beta * (m - static_cast<ld>(x[y]));
}

template <class T>
ld ref_nll(const dataset<T>& d, ld beta) {
  ld s = 0;
  for (std::size_t r = 0; r < d.rows; ++r) s += ref_row_nll(&d.x[r * d.cols], d.cols, d.y[r], beta);
  return s / static_cast<ld>(d.rows);
}

// Golden-section search for the minimum of the (convex) NLL over
// u = log beta, bracketed by [lo, hi], in long double: a direct 1-D
// minimisation sharing nothing with the Newton fit.
template <class T>
ld golden_beta(const dataset<T>& d, ld lo, ld hi) {
  const ld r = (std::sqrt(5.0L) - 1) / 2;
  ld a = std::log(lo), b = std::log(hi);
  ld c = b - r * (b - a), e = a + r * (b - a);
  ld fc = ref_nll(d, std::exp(c)), fe = ref_nll(d, std::exp(e));
  while (b - a > 1e-11L) {
    if (fc < fe) {
      b = e, e = c, fe = fc;
      c = b - r * (b - a);
      fc = ref_nll(d, std::exp(c));
    } else {
      a = c, c = e, fc = fe;
      e = a + r * (b - a);
      fe = ref_nll(d, std::exp(e));
    }
  }
  return std::exp((a + b) / 2);
}

// --- the fused kernel, on every target -----------------------------------------

class calibration_kernels : public per_target {};

template <class T>
void check_moments(std::size_t n, double beta, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0, 3);
  std::vector<T> x(n);
  for (T& v : x) v = static_cast<T>(g(rng));
  const double m = static_cast<double>(*std::max_element(x.begin(), x.end()));
  ld s0 = 0, s1 = 0, s2 = 0, s3 = 0, sd = 0;
  for (T v : x) {
    const ld d = static_cast<ld>(v) - m;
    const ld e = std::exp(beta * d);
    s0 += e, s1 += e * d, s2 += e * d * d, s3 += e * d * d * d, sd += d;
  }
  const auto& k = detail::calibration_kernels_for(detail::active_target());
  detail::row_moments r;
  if constexpr (sizeof(T) == 4) {
    r = k.moments_f32(x.data(), n, m, beta);
  } else {
    r = k.moments_f64(x.data(), n, m, beta);
  }
  // The exponential's 1.7e-9; sums of positive terms (s0, s2) keep it, s1 and
  // sd are sums of non-positive terms.
  EXPECT_NEAR(r.s0, static_cast<double>(s0), 2e-9 * static_cast<double>(s0)) << n << " " << beta;
  // Plus the entries whose e (below e^-104, next to s0 >= 1) is dropped.
  const double cut = static_cast<double>(n) * std::exp(-104.0) * (1 + 20 / beta) * (1 + 20 / beta);
  EXPECT_NEAR(r.s1, static_cast<double>(s1), 2e-9 * std::abs(static_cast<double>(s1)) + cut)
      << n << " " << beta;
  EXPECT_NEAR(r.s2, static_cast<double>(s2), 2e-9 * static_cast<double>(s2) + cut)
      << n << " " << beta;
  EXPECT_NEAR(r.s3, static_cast<double>(s3),
              2e-9 * std::abs(static_cast<double>(s3)) + cut * (1 + 20 / beta))
      << n << " " << beta;
  EXPECT_NEAR(r.sd, static_cast<double>(sd), 1e-13 * std::abs(static_cast<double>(sd)) + 1e-300)
      << n << " " << beta;
}

TEST_P(calibration_kernels, moments_match_long_double_sums) {
  // Sizes below, at and above every vector width and the two-vector unroll.
  for (std::size_t n : {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 1000}) {
    for (double beta : {1e-3, 0.3, 1.0, 2.5, 40.0}) {
      check_moments<float>(n, beta, static_cast<unsigned>(n * 7 + 1));
      check_moments<double>(n, beta, static_cast<unsigned>(n * 7 + 2));
    }
  }
}

TEST_P(calibration_kernels, misaligned_rows_and_huge_beta) {
  std::vector<float> buf(40);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<float>(i % 5);
  const auto& k = detail::calibration_kernels_for(detail::active_target());
  // From offset 1: misaligned; beta so large that only the max entries count.
  const detail::row_moments r = k.moments_f32(buf.data() + 1, 33, 4.0, 1e6);
  EXPECT_EQ(r.s0, 6.0);  // entries equal to 4 at offsets 4, 9, .., 29 of buf+1 -> 4 at i%5==4
  EXPECT_EQ(r.s1, 0.0);
  EXPECT_EQ(r.s2, 0.0);
}

KELVIN_INSTANTIATE_PER_TARGET(calibration_kernels);

// --- the fit -------------------------------------------------------------------

template <class T>
void check_fit(const dataset<T>& d, const char* what) {
  const fit_result r = fit_temperature(d.view(), d.y);
  ASSERT_TRUE(r.converged) << what;
  ASSERT_EQ(r.outcome, fit_outcome::optimum) << what;
  const ld beta = golden_beta(d, 1e-3L, 1e3L);
  const double t_ref = static_cast<double>(1 / beta);
  EXPECT_NEAR(r.temperature, t_ref, 1e-6 * t_ref) << what;
  EXPECT_NEAR(r.nll_before, static_cast<double>(ref_nll(d, 1)), 1e-8) << what;
  EXPECT_NEAR(r.nll_after, static_cast<double>(ref_nll(d, beta)), 1e-8) << what;
  EXPECT_LT(r.nll_after, r.nll_before + 1e-12) << what;
  EXPECT_LE(r.passes, r.iterations + 1) << what;  // pass one, then at most one per step
  EXPECT_LE(r.passes, 12) << what;
}

TEST(calibration_fit, matches_golden_section_over_and_under_confident) {
  check_fit(make_data<float>(2000, 10, 4.0, 1.5, 0.8, 1), "float over-confident");
  check_fit(make_data<float>(2000, 10, 0.4, 4.0, 0.95, 2), "float under-confident");
  check_fit(make_data<double>(1500, 37, 3.0, 2.0, 0.7, 3), "double over-confident");
  check_fit(make_data<double>(1500, 37, 0.2, 6.0, 0.97, 4), "double under-confident");
  check_fit(make_data<float>(300, 1000, 2.0, 4.0, 0.6, 5), "float, 1000 classes");
  check_fit(make_data<double>(500, 2, 1.0, 1.0, 0.8, 6), "double, 2 classes");
}

TEST(calibration_fit, extreme_optima_use_the_bracketing_fallback) {
  // T far from the start (1): ~0.01 and ~100.
  check_fit(make_data<double>(800, 5, 0.01, 300.0, 0.9, 7), "T near 0.01");
  check_fit(make_data<double>(800, 5, 60.0, 1.0, 0.6, 8), "T near 100");
}

TEST(calibration_fit, threads_do_not_change_the_result) {
  const auto d = make_data<float>(3000, 50, 3.0, 2.0, 0.8, 9);
  const fit_result a = fit_temperature(d.view(), d.y, {.threads = 1});
  const fit_result b = fit_temperature(d.view(), d.y, {.threads = 2});
  EXPECT_EQ(a.temperature, b.temperature);
  EXPECT_EQ(a.nll_after, b.nll_after);
  EXPECT_EQ(a.passes, b.passes);
}

TEST(calibration_fit, strided_rows) {
  const auto d = make_data<float>(500, 20, 3.0, 2.0, 0.8, 10);
  std::vector<float> wide(500 * 23, std::numeric_limits<float>::quiet_NaN());
  for (std::size_t r = 0; r < 500; ++r) std::copy_n(&d.x[r * 20], 20, &wide[r * 23]);
  const fit_result a = fit_temperature(d.view(), d.y);
  const fit_result b = fit_temperature(matrix_view<const float>(wide.data(), 500, 20, 23), d.y);
  EXPECT_EQ(a.temperature, b.temperature);
}

TEST(calibration_fit, every_label_right_with_a_margin_gives_the_hardmax_limit) {
  dataset<float> d = make_data<float>(100, 6, 1.0, 0.0, 1.0, 11);
  for (std::size_t r = 0; r < d.rows; ++r) {
    d.y[r] = std::max_element(&d.x[r * 6], &d.x[r * 6] + 6) - &d.x[r * 6];
  }
  const fit_result r = fit_temperature(d.view(), d.y);
  EXPECT_EQ(r.outcome, fit_outcome::zero_temperature);
  EXPECT_EQ(r.temperature, 0.0);
  EXPECT_EQ(r.nll_after, 0.0);
  EXPECT_TRUE(r.converged);
  // The NLL does fall monotonically towards 0 as T -> 0.
  double prev = r.nll_before;
  for (double t : {0.5, 0.1, 0.01}) {
    const double v = nll(d.view(), d.y, {.temperature = t});
    EXPECT_LT(v, prev);
    prev = v;
  }
}

TEST(calibration_fit, labels_tied_at_the_max_give_log_k) {
  // Rows (3, 3, 1): the label is one of the two tied maxima.
  const std::vector<double> x{3, 3, 1, 3, 3, 1, 0, 2, 2};
  const std::vector<std::int64_t> y{0, 1, 2};
  const fit_result r = fit_temperature(matrix_view<const double>(x.data(), 3, 3), y);
  EXPECT_EQ(r.outcome, fit_outcome::zero_temperature);
  EXPECT_EQ(r.temperature, 0.0);
  EXPECT_NEAR(r.nll_after, std::log(2.0) * 2 / 3 + std::log(2.0) / 3, 1e-15);
}

TEST(calibration_fit, constant_logits_and_one_class_are_flat) {
  const std::vector<float> x(40, 2.5f);
  const std::vector<std::int64_t> y{0, 1, 2, 3, 0, 1, 2, 3, 0, 1};
  fit_result r = fit_temperature(matrix_view<const float>(x.data(), 10, 4), y);
  EXPECT_EQ(r.outcome, fit_outcome::flat);
  EXPECT_EQ(r.temperature, 1.0);
  EXPECT_NEAR(r.nll_before, std::log(4.0), 1e-12);
  EXPECT_EQ(r.nll_after, r.nll_before);
  EXPECT_TRUE(r.converged);
  const std::vector<std::int64_t> zeros(40, 0);
  r = fit_temperature(matrix_view<const float>(x.data(), 40, 1), zeros);
  EXPECT_EQ(r.outcome, fit_outcome::flat);
  EXPECT_EQ(r.temperature, 1.0);
  EXPECT_EQ(r.nll_after, 0.0);
}

TEST(calibration_fit, labels_below_the_row_mean_give_infinite_temperature) {
  // Every label is its row's smallest logit.
  const std::vector<double> x{0, 1, 2, 5, 1, 3, 2, 9, 4};
  const std::vector<std::int64_t> y{0, 1, 0};
  const fit_result r = fit_temperature(matrix_view<const double>(x.data(), 3, 3), y);
  EXPECT_EQ(r.outcome, fit_outcome::infinite_temperature);
  EXPECT_EQ(r.temperature, HUGE_VAL);
  EXPECT_NEAR(r.nll_after, std::log(3.0), 1e-15);
  EXPECT_NEAR(nll(matrix_view<const double>(x.data(), 3, 3), y, {.temperature = HUGE_VAL}),
              std::log(3.0), 1e-15);
}

TEST(calibration_fit, bad_arguments_throw) {
  std::vector<float> x{1, 2, 3, 4, 5, 6};
  const matrix_view<const float> v(x.data(), 2, 3);
  const std::vector<std::int64_t> ok{0, 2}, out{0, 3}, neg{-1, 0}, short_y{0};
  EXPECT_NO_THROW(fit_temperature(v, ok));
  EXPECT_THROW(fit_temperature(v, out), error);
  EXPECT_THROW(fit_temperature(v, neg), error);
  EXPECT_THROW(fit_temperature(v, short_y), error);
  EXPECT_THROW(fit_temperature(matrix_view<const float>(x.data(), 0, 3), {}), error);
  EXPECT_THROW(fit_temperature(v, ok, {.tolerance = 0}), error);
  EXPECT_THROW(fit_temperature(v, ok, {.max_iterations = 0}), error);
  EXPECT_THROW(fit_temperature(v, ok, {.threads = -1}), error);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), HUGE_VALF, -HUGE_VALF}) {
    x[4] = bad;
    try {
      fit_temperature(v, ok);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const error& e) {
      EXPECT_NE(std::string(e.what()).find("logits[1, 1]"), std::string::npos) << e.what();
    }
  }
  x[4] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(nll(v, ok), error);
  try {
    fit_temperature(matrix_view<const float>(x.data(), 2, 3), out);
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("labels[1]"), std::string::npos) << e.what();
  }
}

// --- NLL ---------------------------------------------------------------------------

TEST(calibration_nll, matches_long_double_log_sum_exp) {
  const auto d = make_data<float>(700, 13, 3.0, 2.0, 0.8, 12);
  const auto e = make_data<double>(700, 13, 3.0, 2.0, 0.8, 13);
  for (double t : {0.01, 0.5, 1.0, 1.7, 100.0}) {
    const double ref = static_cast<double>(ref_nll(d, 1 / static_cast<ld>(t)));
    EXPECT_NEAR(nll(d.view(), d.y, {.temperature = t}), ref, 1e-14 * std::max(1.0, ref)) << t;
    const double ref64 = static_cast<double>(ref_nll(e, 1 / static_cast<ld>(t)));
    EXPECT_NEAR(nll(e.view(), e.y, {.temperature = t}), ref64, 1e-14 * std::max(1.0, ref64)) << t;
  }
  // One temperature per row.
  std::vector<double> ts(700);
  for (std::size_t r = 0; r < ts.size(); ++r) ts[r] = 0.5 + static_cast<double>(r % 7);
  ld s = 0;
  for (std::size_t r = 0; r < 700; ++r)
    s += ref_row_nll(&e.x[r * 13], 13, e.y[r], 1 / static_cast<ld>(ts[r]));
  EXPECT_NEAR(nll(e.view(), e.y, {.temperatures = ts}), static_cast<double>(s / 700), 1e-14);
}

TEST(calibration_nll, zero_temperature_is_the_hardmax_limit) {
  const std::vector<double> x{1, 5, 5, 2, 0, 1};
  EXPECT_EQ(nll(matrix_view<const double>(x.data(), 2, 3), std::vector<std::int64_t>{1, 0},
                {.temperature = 0}),
            std::log(2.0) / 2);
  EXPECT_EQ(nll(matrix_view<const double>(x.data(), 2, 3), std::vector<std::int64_t>{0, 1},
                {.temperature = 0}),
            HUGE_VAL);
}

// --- metrics against straightforward implementations ---------------------------------

struct naive_bins {
  std::vector<double> n, conf, acc;
};

// Bins by the written convention, one comparison chain per row, no tricks:
// the first b with c <= (b+1)/B.
naive_bins naive_uniform(const std::vector<double>& c, const std::vector<int>& hit, int bins) {
  naive_bins out{std::vector<double>(bins), std::vector<double>(bins), std::vector<double>(bins)};
  for (std::size_t i = 0; i < c.size(); ++i) {
    int b = 0;
    while (b < bins - 1 && !(c[i] <= static_cast<double>(b + 1) / bins)) ++b;
    out.n[b] += 1;
    out.conf[b] += c[i];
    out.acc[b] += hit[i];
  }
  return out;
}

naive_bins naive_quantile(const std::vector<double>& c, const std::vector<int>& hit, int bins) {
  std::vector<std::size_t> idx(c.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](auto a, auto b) { return c[a] < c[b]; });
  naive_bins out{std::vector<double>(bins), std::vector<double>(bins), std::vector<double>(bins)};
  const std::size_t n = c.size();
  for (std::size_t k = 0; k < n; ++k) {
    int b = 0;  // the bin whose range [floor(bN/B), floor((b+1)N/B)) holds k
    while (!(k < (b + 1) * n / static_cast<std::size_t>(bins))) ++b;
    out.n[b] += 1;
    out.conf[b] += c[idx[k]];
    out.acc[b] += hit[idx[k]];
  }
  return out;
}

double naive_ece(const naive_bins& b, std::size_t n, bool max_instead = false) {
  double s = 0;
  for (std::size_t k = 0; k < b.n.size(); ++k) {
    if (b.n[k] == 0) continue;
    const double gap = std::abs(b.acc[k] / b.n[k] - b.conf[k] / b.n[k]);
    s = max_instead ? std::max(s, gap) : s + b.n[k] / static_cast<double>(n) * gap;
  }
  return s;
}

// Probabilities whose confidences sit exactly on bin edges k/B (and at 1.0)
// for B = 5, 10, 15 and 20 (multiples of 1/60 that are representable
// exactly: k/20 and k/10 and k/5 are not all exact in binary, which is the
// point: the edge is the double nearest k/B and so is the confidence), plus
// random rows.
struct prob_data {
  std::vector<double> p;
  std::vector<std::int64_t> y;
  std::size_t rows, cols;
};

prob_data make_probs(unsigned seed) {
  const std::size_t cols = 4;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<std::int64_t> cls(0, 3);
  prob_data d{{}, {}, 0, cols};
  const auto add_row = [&](double top) {
    // top on a random class, the rest spread evenly below it.
    const std::int64_t at = cls(rng);
    for (std::size_t c = 0; c < cols; ++c) {
      d.p.push_back(static_cast<std::int64_t>(c) == at ? top : (1 - top) / 3);
    }
    d.y.push_back(u(rng) < top ? at : cls(rng));
    ++d.rows;
  };
  for (int bins : {5, 10, 15, 20}) {
    for (int k = 0; k <= bins; ++k) {
      const double edge = static_cast<double>(k) / bins;
      if (edge < 0.25) continue;  // the confidence is >= 1/4 with 4 classes
      for (int rep = 0; rep < 3; ++rep) add_row(edge);
    }
  }
  for (int rep = 0; rep < 5; ++rep) add_row(1.0);
  for (int i = 0; i < 400; ++i) add_row(0.25 + 0.75 * u(rng));
  return d;
}

TEST(calibration_metrics, match_straightforward_definitions_with_edges_and_ties) {
  const prob_data d = make_probs(14);
  const matrix_view<const double> v(d.p.data(), d.rows, d.cols);
  std::vector<float> pf(d.p.begin(), d.p.end());
  const matrix_view<const float> vf(pf.data(), d.rows, d.cols);
  std::vector<double> conf(d.rows), conf_f(d.rows);
  std::vector<int> hit(d.rows), hit_f(d.rows);
  double brier = 0, brier_f = 0;
  for (std::size_t r = 0; r < d.rows; ++r) {
    const double* row = &d.p[r * d.cols];
    const std::size_t arg = std::max_element(row, row + d.cols) - row;  // the first max
    conf[r] = row[arg];
    hit[r] = static_cast<std::int64_t>(arg) == d.y[r];
    const float* rowf = &pf[r * d.cols];
    const std::size_t argf = std::max_element(rowf, rowf + d.cols) - rowf;
    conf_f[r] = rowf[argf];
    hit_f[r] = static_cast<std::int64_t>(argf) == d.y[r];
    for (std::size_t c = 0; c < d.cols; ++c) {
      const double one = static_cast<std::int64_t>(c) == d.y[r] ? 1 : 0;
      brier += (row[c] - one) * (row[c] - one);
      brier_f += (static_cast<double>(rowf[c]) - one) * (static_cast<double>(rowf[c]) - one);
    }
  }
  const double n = static_cast<double>(d.rows);
  EXPECT_NEAR(brier_score(v, d.y), brier / n, 1e-14);
  EXPECT_NEAR(brier_score(vf, d.y), brier_f / n, 1e-14);
  EXPECT_EQ(accuracy(v, d.y), std::accumulate(hit.begin(), hit.end(), 0) / n);
  for (int bins : {1, 5, 10, 15, 20, 1000}) {
    const naive_bins nb = naive_uniform(conf, hit, bins);
    EXPECT_NEAR(expected_calibration_error(v, d.y, {.bins = bins}), naive_ece(nb, d.rows), 1e-14)
        << bins;
    EXPECT_NEAR(maximum_calibration_error(v, d.y, {.bins = bins}), naive_ece(nb, d.rows, true),
                1e-14)
        << bins;
    const naive_bins nf = naive_uniform(conf_f, hit_f, bins);
    EXPECT_NEAR(expected_calibration_error(vf, d.y, {.bins = bins}), naive_ece(nf, d.rows), 1e-14)
        << bins;
    const auto rel = reliability(v, d.y, {.bins = bins});
    ASSERT_EQ(rel.size(), static_cast<std::size_t>(bins));
    for (int b = 0; b < bins; ++b) {
      EXPECT_EQ(static_cast<double>(rel[b].count), nb.n[b]) << bins << " " << b;
      if (nb.n[b] > 0) {
        EXPECT_NEAR(rel[b].confidence, nb.conf[b] / nb.n[b], 1e-15);
        EXPECT_NEAR(rel[b].accuracy, nb.acc[b] / nb.n[b], 1e-15);
      }
    }
    const naive_bins nq = naive_quantile(conf, hit, bins);
    EXPECT_NEAR(expected_calibration_error(v, d.y, {.bins = bins, .strategy = binning::quantile}),
                naive_ece(nq, d.rows), 1e-14)
        << bins;
    const auto relq = reliability(v, d.y, {.bins = bins, .strategy = binning::quantile});
    for (int b = 0; b < bins; ++b) EXPECT_EQ(static_cast<double>(relq[b].count), nq.n[b]);
  }
  // The conventions, spelled out: 1.0 is in the last bin, an edge in the bin below it.
  const auto rel5 = reliability(v, d.y, {.bins = 5});
  std::size_t ones = 0, at_04 = 0;
  for (std::size_t r = 0; r < d.rows; ++r) {
    ones += conf[r] == 1.0;
    at_04 += conf[r] > 0.2 && conf[r] <= 0.4;
  }
  EXPECT_GE(rel5[4].count, ones);
  EXPECT_EQ(rel5[1].count, at_04);
  EXPECT_EQ(rel5[0].count, 0u);
}

TEST(calibration_metrics, classwise_ece_matches_its_definition) {
  const prob_data d = make_probs(15);
  const matrix_view<const double> v(d.p.data(), d.rows, d.cols);
  for (int bins : {5, 15}) {
    for (binning s : {binning::uniform, binning::quantile}) {
      double total = 0;
      for (std::size_t c = 0; c < d.cols; ++c) {
        std::vector<double> pc(d.rows);
        std::vector<int> hc(d.rows);
        for (std::size_t r = 0; r < d.rows; ++r) {
          pc[r] = d.p[r * d.cols + c];
          hc[r] = d.y[r] == static_cast<std::int64_t>(c);
        }
        total += naive_ece(
            s == binning::uniform ? naive_uniform(pc, hc, bins) : naive_quantile(pc, hc, bins),
            d.rows);
      }
      EXPECT_NEAR(classwise_calibration_error(v, d.y, {.bins = bins, .strategy = s}),
                  total / static_cast<double>(d.cols), 1e-14);
    }
  }
}

TEST(calibration_metrics, perfect_and_bad_arguments) {
  // One-hot right predictions: ECE 0, Brier 0, accuracy 1.
  const std::vector<double> p{1, 0, 0, 0, 1, 0};
  const std::vector<std::int64_t> y{0, 1};
  const matrix_view<const double> v(p.data(), 2, 3);
  EXPECT_EQ(expected_calibration_error(v, y), 0.0);
  EXPECT_EQ(brier_score(v, y), 0.0);
  EXPECT_EQ(accuracy(v, y), 1.0);
  EXPECT_THROW(expected_calibration_error(v, y, {.bins = 0}), error);
  EXPECT_THROW(expected_calibration_error(v, std::vector<std::int64_t>{0, 3}), error);
  std::vector<double> bad = p;
  bad[4] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(brier_score(matrix_view<const double>(bad.data(), 2, 3), y), error);
  bad[4] = 1.5;
  try {
    expected_calibration_error(matrix_view<const double>(bad.data(), 2, 3), y);
    ADD_FAILURE();
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("probs[1, 1]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kelvin
