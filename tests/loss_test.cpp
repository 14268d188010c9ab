// Losses and their gradients (kelvin/loss.hpp): the seed's InfoNCE numbers,
// long-double references for the values, central finite differences in
// float64 for every gradient (dL/dT, d/dlog_scale and d/dscale included), the
// limits, threads and errors. PyTorch autograd checks are in
// python/tests/test_losses.py.
#include "kelvin/loss.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kelvin/softmax.hpp"

namespace {

using kelvin::loss_options;
using kelvin::matrix_view;
using kelvin::reduction;
constexpr double kInf = std::numeric_limits<double>::infinity();

using cmat = matrix_view<const double>;
using mat = matrix_view<double>;

std::vector<double> randn(std::size_t n, std::uint32_t seed, double scale = 1.0) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

std::vector<std::int64_t> rand_labels(std::size_t n, std::size_t c, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<std::int64_t> l(n);
  for (auto& x : l) x = static_cast<std::int64_t>(g() % c);
  return l;
}

// Central differences of f at x along every finite coordinate, against g.
// Tolerance relative to the largest gradient entry: the FD error is
// O(h^2 f''') + O(eps f / h).
void expect_fd(const std::function<double(const std::vector<double>&)>& f, std::vector<double> x,
               const std::vector<double>& g, const char* what, double rel_h = 1e-6,
               double tol = 2e-6) {
  ASSERT_EQ(x.size(), g.size());
  double gmax = 0;
  for (double v : g) gmax = std::max(gmax, std::abs(v));
  const double f0 = std::abs(f(x));
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      EXPECT_EQ(g[i], 0.0) << what << " masked entry " << i;
      continue;
    }
    const double h = rel_h * std::max(1.0, std::abs(x[i]));
    const double x0 = x[i];
    x[i] = x0 + h;
    const double fp = f(x);
    x[i] = x0 - h;
    const double fm = f(x);
    x[i] = x0;
    const double fd = (fp - fm) / (2 * h);
    // plus the rounding noise of the difference quotient
    EXPECT_NEAR(g[i], fd, tol * gmax + 16 * 2.2e-16 * f0 / h + 1e-300)
        << what << " entry " << i << " of " << x.size();
  }
}

// Derivative of a scalar function by central differences, step relative.
double fd_scalar(const std::function<double(double)>& f, double t, double rel_h = 1e-6) {
  const double h = rel_h * std::max(std::abs(t), 1e-300);
  return (f(t + h) - f(t - h)) / (2 * h);
}

// The rounding noise of fd_scalar's quotient for a function of size |f|.
double fd_noise(double f, double t, double rel_h = 1e-6) {
  return 16 * 2.2e-16 * std::abs(f) / (rel_h * std::abs(t));
}

// --- references in long double ----------------------------------------------

long double ref_lse(const double* x, std::size_t c, double t) {
  long double m = -INFINITY;
  for (std::size_t j = 0; j < c; ++j) m = std::max<long double>(m, x[j] / (long double)t);
  long double s = 0;
  for (std::size_t j = 0; j < c; ++j) s += std::exp(x[j] / (long double)t - m);
  return m + std::log(s);
}

// PyTorch 1.13 semantics of F.cross_entropy(x / T, labels, ...).
double ref_ce(const std::vector<double>& x, std::size_t n, std::size_t c,
              const std::vector<std::int64_t>& y, double t, reduction red, std::int64_t ignore,
              double eps, std::vector<double>* per_row = nullptr) {
  long double nll = 0, smooth = 0;
  std::size_t valid = 0;
  if (per_row) per_row->assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    if (y[i] == ignore) continue;
    ++valid;
    const double* r = &x[i * c];
    const long double lz = ref_lse(r, c, t);
    long double a = lz - r[y[i]] / (long double)t;
    if (r[y[i]] == *std::max_element(r, r + c)) {
      // target at the max: log1p of the others, no cancellation
      long double o = 0;
      for (std::size_t j = 0; j < c; ++j) {
        if (j != (std::size_t)y[i]) o += std::exp((r[j] - (long double)r[y[i]]) / t);
      }
      a = std::log1p(o);
    }
    long double b = 0;
    for (std::size_t j = 0; j < c; ++j) b += lz - r[j] / (long double)t;
    nll += a;
    smooth += b;
    if (per_row) (*per_row)[i] = (double)((1 - eps) * a + eps / c * b);
  }
  long double l = (1 - eps) * nll + eps / c * smooth;
  if (red == reduction::mean) l /= valid;
  return (double)l;
}

// --- the seed ------------------------------------------------------------------

TEST(loss, seed_info_nce_numbers) {
  // K = 1024 negatives at -1, the positive at +1.
  const std::size_t k = 1024, n = 3;
  std::vector<double> x(n * (k + 1), -1.0);
  for (std::size_t i = 0; i < n; ++i) x[i * (k + 1)] = 1.0;
  std::vector<float> xf(x.begin(), x.end());
  const double ts[] = {1.0, 0.5, 0.07};
  const double expected[] = {4.938661770836239, 2.983417467746032, 3.998399531439e-10};
  for (int i = 0; i < 3; ++i) {
    // The independent form: log1p(K exp(-2/T)) in long double.
    const long double ref = std::log1p(1024.0L * std::exp(-2.0L / ts[i]));
    EXPECT_NEAR((double)ref, expected[i], 1e-12 * expected[i]);
    const auto v = kelvin::info_nce(cmat(x.data(), n, k + 1), {.temperature = ts[i]});
    EXPECT_NEAR(v.loss, expected[i], 1e-12 * expected[i]) << "T = " << ts[i];
    const auto vf =
        kelvin::info_nce(matrix_view<const float>(xf.data(), n, k + 1), {.temperature = ts[i]});
    EXPECT_NEAR(vf.loss, expected[i], 1e-6 * expected[i]) << "float, T = " << ts[i];
  }
}

// --- cross-entropy values ------------------------------------------------------

TEST(loss, cross_entropy_matches_long_double_reference) {
  const std::size_t n = 9, c = 13;
  auto x = randn(n * c, 1, 3.0);
  auto y = rand_labels(n, c, 2);
  y[3] = -100;
  y[7] = 5;
  for (double t : {0.07, 1.0, 3.0}) {
    for (double eps : {0.0, 0.1}) {
      for (auto red : {reduction::mean, reduction::sum, reduction::none}) {
        std::vector<double> per_row, losses(red == reduction::none ? n : 0);
        const double ref = ref_ce(x, n, c, y, t, red, -100, eps, &per_row);
        const auto v = kelvin::cross_entropy(
            cmat(x.data(), n, c), y, {.temperature = t, .reduce = red, .label_smoothing = eps}, {},
            losses);
        if (red == reduction::none) {
          double s = 0;
          for (std::size_t i = 0; i < n; ++i) {
            EXPECT_NEAR(losses[i], per_row[i], 1e-13 * std::abs(per_row[i]) + 1e-300);
            s += per_row[i];
          }
          EXPECT_NEAR(v.loss, s, 1e-13 * s);
        } else {
          EXPECT_NEAR(v.loss, ref, 1e-13 * std::abs(ref)) << t << " " << eps;
        }
      }
    }
  }
}

TEST(loss, cross_entropy_probability_targets_reference) {
  const std::size_t n = 6, c = 11;
  auto x = randn(n * c, 3, 2.0);
  auto q = randn(n * c, 4);
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::size_t j = 0; j < c; ++j) s += (q[i * c + j] = std::exp(q[i * c + j]));
    for (std::size_t j = 0; j < c; ++j) q[i * c + j] /= s;
  }
  for (double eps : {0.0, 0.2}) {
    long double ref = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const long double lz = ref_lse(&x[i * c], c, 0.5);
      for (std::size_t j = 0; j < c; ++j) {
        const long double qj = (1 - eps) * q[i * c + j] + eps / c;
        ref += qj * (lz - x[i * c + j] / 0.5L);
      }
    }
    ref /= n;
    const auto v = kelvin::cross_entropy(cmat(x.data(), n, c), cmat(q.data(), n, c),
                                         {.temperature = 0.5, .label_smoothing = eps});
    EXPECT_NEAR(v.loss, (double)ref, 1e-13 * (double)ref);
  }
}

// --- cross-entropy gradients by finite differences ----------------------------

struct ce_case {
  double t;
  double scale;  // logits ~ N(0, scale)
  bool mask;
  double eps;
  reduction red;
};

TEST(loss, cross_entropy_gradients_finite_differences) {
  const std::size_t n = 4, c = 7;
  const ce_case cases[] = {
      {1.0, 2.0, false, 0.0, reduction::mean},   {0.07, 0.3, false, 0.0, reduction::sum},
      {3.0, 2.0, true, 0.0, reduction::mean},    {1.0, 2.0, false, 0.1, reduction::none},
      {1e-3, 1e-3, false, 0.0, reduction::mean}, {1e3, 1e3, false, 0.2, reduction::mean},
      {1.0, 1e4, false, 0.0, reduction::mean},   {1e-3, 1e4, false, 0.0, reduction::sum},
      {1e3, 1e4, true, 0.0, reduction::mean},
  };
  int k = 0;
  for (const auto& cs : cases) {
    SCOPED_TRACE(k++);
    auto x = randn(n * c, 10 + k, cs.scale);
    auto y = rand_labels(n, c, 20 + k);
    if (cs.mask) {
      // mask two non-target classes per row
      for (std::size_t i = 0; i < n; ++i) {
        x[i * c + (y[i] + 1) % c] = -kInf;
        x[i * c + (y[i] + 3) % c] = -kInf;
      }
    }
    y[1] = -100;
    std::vector<double> g(n * c), losses(cs.red == reduction::none ? n : 0);
    const loss_options o{.temperature = cs.t, .reduce = cs.red, .label_smoothing = cs.eps};
    const auto v = kelvin::cross_entropy(cmat(x.data(), n, c), y, o, mat(g.data(), n, c), losses);
    auto f = [&](const std::vector<double>& xx) {
      std::vector<double> l(losses.size());
      return kelvin::cross_entropy(cmat(xx.data(), n, c), y, o, {}, l).loss;
    };
    expect_fd(f, x, g, "dL/dx");
    for (std::size_t j = 0; j < c; ++j) EXPECT_EQ(g[1 * c + j], 0.0) << "ignored row";
    auto ft = [&](double t) {
      loss_options oo = o;
      oo.temperature = t;
      std::vector<double> l(losses.size());
      return kelvin::cross_entropy(cmat(x.data(), n, c), y, oo, {}, l).loss;
    };
    const double fd = fd_scalar(ft, cs.t);
    EXPECT_NEAR(v.d_temperature, fd, 1e-6 * std::abs(fd) + fd_noise(v.loss, cs.t)) << "dL/dT";
  }
}

TEST(loss, cross_entropy_probability_gradients_finite_differences) {
  const std::size_t n = 3, c = 6;
  for (double t : {1e-3, 0.5, 1e3}) {
    auto x = randn(n * c, 31, t < 1 ? 1e-2 : 1.0);
    auto q = randn(n * c, 32);
    for (auto& v : q) v = std::abs(v);
    x[2] = -kInf;
    q[2] = 0;  // masked class with no target mass
    std::vector<double> g(n * c);
    const loss_options o{.temperature = t, .label_smoothing = 0.0};
    const auto v =
        kelvin::cross_entropy(cmat(x.data(), n, c), cmat(q.data(), n, c), o, mat(g.data(), n, c));
    EXPECT_TRUE(std::isfinite(v.loss));
    auto f = [&](const std::vector<double>& xx) {
      return kelvin::cross_entropy(cmat(xx.data(), n, c), cmat(q.data(), n, c), o).loss;
    };
    expect_fd(f, x, g, "dL/dx");
    auto ft = [&](double tt) {
      return kelvin::cross_entropy(cmat(x.data(), n, c), cmat(q.data(), n, c), {.temperature = tt})
          .loss;
    };
    const double fd = fd_scalar(ft, t);
    EXPECT_NEAR(v.d_temperature, fd, 1e-6 * std::abs(fd) + fd_noise(v.loss, t)) << "T = " << t;
  }
}

TEST(loss, cross_entropy_float_agrees_with_double) {
  const std::size_t n = 16, c = 300;
  auto x = randn(n * c, 5, 4.0);
  auto y = rand_labels(n, c, 6);
  std::vector<float> xf(x.begin(), x.end());
  std::vector<double> xd(xf.begin(), xf.end());  // the same values
  std::vector<float> gf(n * c);
  std::vector<double> gd(n * c);
  for (double t : {0.05, 1.0, 20.0}) {
    const auto vd =
        kelvin::cross_entropy(cmat(xd.data(), n, c), y, {.temperature = t}, mat(gd.data(), n, c));
    const auto vf = kelvin::cross_entropy(matrix_view<const float>(xf.data(), n, c), y,
                                          {.temperature = t}, matrix_view<float>(gf.data(), n, c));
    EXPECT_NEAR(vf.loss, vd.loss, 1e-6 * std::abs(vd.loss));
    EXPECT_NEAR(vf.d_temperature, vd.d_temperature, 1e-5 * std::abs(vd.d_temperature) + 1e-7);
    double gmax = 0;
    for (double v : gd) gmax = std::max(gmax, std::abs(v));
    for (std::size_t i = 0; i < n * c; ++i) EXPECT_NEAR(gf[i], gd[i], 1e-6 * gmax);
  }
}

TEST(loss, results_do_not_depend_on_the_thread_count) {
  const std::size_t n = 64, c = 4096;
  auto x = randn(n * c, 7);
  auto y = rand_labels(n, c, 8);
  std::vector<double> g1(n * c), g2(n * c);
  const auto v1 = kelvin::cross_entropy(cmat(x.data(), n, c), y, {.temperature = 0.3, .threads = 1},
                                        mat(g1.data(), n, c));
  const auto v2 = kelvin::cross_entropy(cmat(x.data(), n, c), y, {.temperature = 0.3, .threads = 2},
                                        mat(g2.data(), n, c));
  EXPECT_EQ(v1.loss, v2.loss);
  EXPECT_EQ(v1.d_temperature, v2.d_temperature);
  EXPECT_EQ(g1, g2);
}

// --- limits and special rows ---------------------------------------------------

TEST(loss, cross_entropy_limits) {
  // Row 0: target at the unique max; row 1: target below the max; row 2:
  // target tied with one other at the max.
  const std::size_t n = 3, c = 4;
  std::vector<double> x = {3, 1, 0, -2, 3, 1, 0, -2, 5, 5, 1, 0};
  std::vector<std::int64_t> y = {0, 1, 1};
  std::vector<double> l(n), g(n * c);
  auto v =
      kelvin::cross_entropy(cmat(x.data(), n, c), y, {.temperature = 0, .reduce = reduction::none},
                            mat(g.data(), n, c), l);
  EXPECT_EQ(l[0], 0.0);
  EXPECT_EQ(l[1], kInf);
  EXPECT_DOUBLE_EQ(l[2], std::log(2.0));
  EXPECT_EQ(v.d_temperature, -kInf);
  for (std::size_t j = 0; j < c; ++j) EXPECT_EQ(g[j], 0.0);  // converged row
  EXPECT_EQ(g[2 * c + 0], kInf);                             // tie: 1/2 - 0 over 0
  EXPECT_EQ(g[2 * c + 1], -kInf);
  // T = +inf: uniform, log C for every row, zero gradients.
  v = kelvin::cross_entropy(cmat(x.data(), n, c), y,
                            {.temperature = kInf, .reduce = reduction::none}, mat(g.data(), n, c),
                            l);
  for (double li : l) EXPECT_DOUBLE_EQ(li, std::log(4.0));
  for (double gi : g) EXPECT_EQ(gi, 0.0);
  EXPECT_EQ(v.d_temperature, 0.0);
  // NaN logits: NaN row; every class masked: NaN; +inf logits: the limit.
  std::vector<double> z = {NAN, 1, 2, 3, -kInf, -kInf, -kInf, -kInf, kInf, 1, kInf, 0};
  v = kelvin::cross_entropy(cmat(z.data(), n, c), std::vector<std::int64_t>{0, 0, 2},
                            {.temperature = 1, .reduce = reduction::none}, mat(g.data(), n, c), l);
  EXPECT_TRUE(std::isnan(l[0]));
  EXPECT_TRUE(std::isnan(l[1]));
  EXPECT_DOUBLE_EQ(l[2], std::log(2.0));
  EXPECT_DOUBLE_EQ(g[2 * c + 0], 0.5);
  EXPECT_DOUBLE_EQ(g[2 * c + 2], -0.5);
  // Masked target: infinite loss, finite gradient.
  std::vector<double> m = {1, -kInf, 0};
  v = kelvin::cross_entropy(cmat(m.data(), 1, 3), std::vector<std::int64_t>{1}, {},
                            mat(g.data(), 1, 3));
  EXPECT_EQ(v.loss, kInf);
  EXPECT_DOUBLE_EQ(g[1], -1.0);
  // Every row ignored: 0/0 as in PyTorch.
  v = kelvin::cross_entropy(cmat(x.data(), n, c), std::vector<std::int64_t>{-100, -100, -100});
  EXPECT_TRUE(std::isnan(v.loss));
}

// --- errors --------------------------------------------------------------------

TEST(loss, errors_name_the_argument) {
  std::vector<double> x(6, 0.0), g(6);
  std::vector<std::int64_t> y = {0, 1};
  auto expect_error = [](auto&& f, const char* needle) {
    try {
      f();
      ADD_FAILURE() << "no error for " << needle;
    } catch (const kelvin::error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_EQ(e.code(), kelvin::status::invalid_argument);
    }
  };
  const cmat xv(x.data(), 2, 3);
  expect_error([&] { kelvin::cross_entropy(xv, y, {.temperature = -1}); }, "temperature");
  expect_error([&] { kelvin::cross_entropy(xv, y, {.temperature = NAN}); }, "temperature");
  expect_error(
      [&] {
        kelvin::cross_entropy(xv, std::vector<std::int64_t>{0, 3});
      },
      "labels[1] = 3");
  expect_error([&] { kelvin::cross_entropy(xv, std::vector<std::int64_t>{0}); }, "labels has 1");
  expect_error([&] { kelvin::cross_entropy(xv, y, {.label_smoothing = 1.5}); }, "label_smoothing");
  expect_error([&] { kelvin::cross_entropy(xv, y, {}, mat(g.data(), 3, 2)); }, "grad is 3 x 2");
  expect_error([&] { kelvin::cross_entropy(xv, y, {.reduce = reduction::none}); }, "losses");
  expect_error([&] { kelvin::cross_entropy(xv, cmat(x.data(), 3, 2)); }, "targets is 3 x 2");
  expect_error([&] { kelvin::distillation(xv, xv, {}, {.alpha = 0.5}); }, "alpha == 0");
  expect_error([&] { kelvin::distillation(xv, xv, y, {.temperature = 0}); }, "0 < temperature");
  expect_error([&] { kelvin::info_nce_embeddings(xv, xv, cmat(x.data(), 3, 2)); }, "queue has 2");
  expect_error([&] { kelvin::clip(xv, cmat(x.data(), 3, 2), 0.0); }, "text_features is 3 x 2");
  expect_error([&] { kelvin::clip(xv, xv, NAN); }, "log_scale");
  expect_error(
      [&] {
        kelvin::cosine_softmax(xv, xv, std::vector<std::int64_t>{0, 2});
      },
      "labels[1] = 2");
  expect_error([&] { kelvin::cosine_softmax(xv, xv, y, {.scale = -1}); }, "scale");
  expect_error([&] { kelvin::softmax_backward(xv, cmat(x.data(), 3, 2), mat(g.data(), 2, 3)); },
               "dy is 3 x 2");
  expect_error([&] { kelvin::info_nce(xv, {.threads = -1}); }, "threads");
}

// --- distillation --------------------------------------------------------------

TEST(loss, distillation_reference_and_gradients) {
  const std::size_t n = 4, c = 6;
  auto s = randn(n * c, 40, 2.0);
  auto u = randn(n * c, 41, 2.0);
  auto y = rand_labels(n, c, 42);
  for (double t : {0.5, 4.0, 1e3}) {
    for (double alpha : {0.0, 0.3}) {
      // reference: alpha CE(s, y) + (1 - alpha) T^2 KL(pu || ps), batchmean
      long double ref = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double* sr = &s[i * c];
        const double* ur = &u[i * c];
        const long double ls = ref_lse(sr, c, t), lu = ref_lse(ur, c, t);
        long double kl = 0;
        for (std::size_t j = 0; j < c; ++j) {
          const long double lpu = ur[j] / (long double)t - lu, lps = sr[j] / (long double)t - ls;
          kl += std::exp(lpu) * (lpu - lps);
        }
        ref += alpha * (ref_lse(sr, c, 1) - sr[y[i]]) + (1 - alpha) * (long double)t * t * kl;
      }
      ref /= n;
      std::vector<double> g(n * c);
      const loss_options o{.temperature = t, .alpha = alpha};
      const auto v = kelvin::distillation(cmat(s.data(), n, c), cmat(u.data(), n, c), y, o,
                                          mat(g.data(), n, c));
      EXPECT_NEAR(v.loss, (double)ref, 1e-12 * std::abs((double)ref) + 1e-15) << t << " " << alpha;
      auto f = [&](const std::vector<double>& ss) {
        return kelvin::distillation(cmat(ss.data(), n, c), cmat(u.data(), n, c), y, o).loss;
      };
      expect_fd(f, s, g, "dL/dstudent");
      auto ft = [&](double tt) {
        loss_options oo = o;
        oo.temperature = tt;
        return kelvin::distillation(cmat(s.data(), n, c), cmat(u.data(), n, c), y, oo).loss;
      };
      // A wider step: T^2 * KL magnifies the loss's rounding at large T.
      const double fd = fd_scalar(ft, t, 1e-4);
      EXPECT_NEAR(v.d_temperature, fd, 1e-6 * std::abs(fd) + fd_noise(v.loss, t, 1e-4))
          << "dL/dT at " << t;
    }
  }
  // No labels: alpha 0.
  const auto v = kelvin::distillation(cmat(s.data(), n, c), cmat(u.data(), n, c), {},
                                      {.temperature = 2, .alpha = 0});
  EXPECT_GT(v.loss, 0);
}

// --- InfoNCE -------------------------------------------------------------------

TEST(loss, info_nce_gradients_finite_differences) {
  const std::size_t n = 3, c = 9;
  for (double t : {1e-3, 0.07, 1.0, 1e3}) {
    auto x = randn(n * c, 50, t < 0.01 ? 1e-3 : 1.0);
    x[4] = -kInf;
    std::vector<double> g(n * c);
    const auto v = kelvin::info_nce(cmat(x.data(), n, c), {.temperature = t}, mat(g.data(), n, c));
    // = cross-entropy with label 0
    std::vector<std::int64_t> zero(n, 0);
    EXPECT_DOUBLE_EQ(v.loss,
                     kelvin::cross_entropy(cmat(x.data(), n, c), zero, {.temperature = t}).loss);
    auto f = [&](const std::vector<double>& xx) {
      return kelvin::info_nce(cmat(xx.data(), n, c), {.temperature = t}).loss;
    };
    expect_fd(f, x, g, "dL/dlogits");
    const double fd = fd_scalar(
        [&](double tt) { return kelvin::info_nce(cmat(x.data(), n, c), {.temperature = tt}).loss; },
        t);
    EXPECT_NEAR(v.d_temperature, fd, 1e-6 * std::abs(fd) + fd_noise(v.loss, t));
  }
}

// logits = [q.k, q.queue^T] materialised, normalised like the embeddings call.
std::vector<double> moco_logits(const std::vector<double>& q, const std::vector<double>& k,
                                const std::vector<double>& queue, std::size_t n, std::size_t kq,
                                std::size_t d, bool normalize) {
  auto norm = [&](const double* v) {
    double s = 0;
    for (std::size_t j = 0; j < d; ++j) s += v[j] * v[j];
    return normalize ? std::max(std::sqrt(s), 1e-12) : 1.0;
  };
  std::vector<double> l(n * (kq + 1));
  for (std::size_t i = 0; i < n; ++i) {
    const double nq = norm(&q[i * d]), nk = norm(&k[i * d]);
    double s = 0;
    for (std::size_t j = 0; j < d; ++j) s += q[i * d + j] * k[i * d + j];
    l[i * (kq + 1)] = s / (nq * nk);
    for (std::size_t m = 0; m < kq; ++m) {
      double sm = 0;
      for (std::size_t j = 0; j < d; ++j) sm += q[i * d + j] * queue[m * d + j];
      l[i * (kq + 1) + 1 + m] = sm / nq;
    }
  }
  return l;
}

TEST(loss, info_nce_embeddings_matches_materialised_logits) {
  const std::size_t n = 70, kq = 5000, d = 16;  // more than one tile each way
  auto q = randn(n * d, 60), k = randn(n * d, 61), queue = randn(kq * d, 62);
  for (std::size_t m = 0; m < kq; ++m) {  // a queue of unit keys, as MoCo keeps
    double s = 0;
    for (std::size_t j = 0; j < d; ++j) s += queue[m * d + j] * queue[m * d + j];
    for (std::size_t j = 0; j < d; ++j) queue[m * d + j] /= std::sqrt(s);
  }
  for (double t : {0.07, 1.0}) {
    const auto l = moco_logits(q, k, queue, n, kq, d, true);
    const auto ref = kelvin::info_nce(cmat(l.data(), n, kq + 1), {.temperature = t});
    std::vector<double> gq(n * d), gk(n * d);
    const auto v = kelvin::info_nce_embeddings(cmat(q.data(), n, d), cmat(k.data(), n, d),
                                               cmat(queue.data(), kq, d), {.temperature = t},
                                               mat(gq.data(), n, d), mat(gk.data(), n, d));
    EXPECT_NEAR(v.loss, ref.loss, 1e-12 * ref.loss) << t;
    std::vector<float> qf(q.begin(), q.end()), kf(k.begin(), k.end()),
        uf(queue.begin(), queue.end());
    const auto vf = kelvin::info_nce_embeddings(
        matrix_view<const float>(qf.data(), n, d), matrix_view<const float>(kf.data(), n, d),
        matrix_view<const float>(uf.data(), kq, d), {.temperature = t});
    EXPECT_NEAR(vf.loss, ref.loss, 2e-5 * ref.loss) << "float " << t;
  }
}

TEST(loss, info_nce_embeddings_gradients_finite_differences) {
  const std::size_t n = 3, kq = 7, d = 4;
  auto q = randn(n * d, 70), k = randn(n * d, 71), queue = randn(kq * d, 72, 0.5);
  for (bool normalize : {true, false}) {
    for (double t : {0.07, 1.0, 1e3}) {
      const loss_options o{.temperature = t, .normalize = normalize};
      std::vector<double> gq(n * d), gk(n * d);
      const auto v = kelvin::info_nce_embeddings(cmat(q.data(), n, d), cmat(k.data(), n, d),
                                                 cmat(queue.data(), kq, d), o, mat(gq.data(), n, d),
                                                 mat(gk.data(), n, d));
      const auto l = moco_logits(q, k, queue, n, kq, d, normalize);
      EXPECT_NEAR(v.loss, kelvin::info_nce(cmat(l.data(), n, kq + 1), o).loss, 1e-12 * v.loss);
      auto fq = [&](const std::vector<double>& qq) {
        return kelvin::info_nce_embeddings(cmat(qq.data(), n, d), cmat(k.data(), n, d),
                                           cmat(queue.data(), kq, d), o)
            .loss;
      };
      auto fk = [&](const std::vector<double>& kk) {
        return kelvin::info_nce_embeddings(cmat(q.data(), n, d), cmat(kk.data(), n, d),
                                           cmat(queue.data(), kq, d), o)
            .loss;
      };
      expect_fd(fq, q, gq, "dL/dq");
      expect_fd(fk, k, gk, "dL/dk");
      const double fd = fd_scalar(
          [&](double tt) {
            loss_options oo = o;
            oo.temperature = tt;
            return kelvin::info_nce_embeddings(cmat(q.data(), n, d), cmat(k.data(), n, d),
                                               cmat(queue.data(), kq, d), oo)
                .loss;
          },
          t);
      EXPECT_NEAR(v.d_temperature, fd, 1e-6 * std::abs(fd) + fd_noise(v.loss, t));
    }
  }
}

// --- CLIP ----------------------------------------------------------------------

TEST(loss, clip_reference_and_gradients) {
  const std::size_t n = 5, d = 3;
  auto a = randn(n * d, 80), b = randn(n * d, 81);
  for (double ls : {std::log(1 / 0.07), 0.0, -3.0, 5.0}) {
    std::vector<double> ga(n * d), gb(n * d);
    const auto v = kelvin::clip(cmat(a.data(), n, d), cmat(b.data(), n, d), ls, {},
                                mat(ga.data(), n, d), mat(gb.data(), n, d));
    // reference: both cross-entropies over the materialised similarities
    const double s = std::min(std::exp(ls), 100.0);
    std::vector<double> sim(n * n), simt(n * n);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        double dot = 0, na = 0, nb = 0;
        for (std::size_t m = 0; m < d; ++m) {
          dot += a[i * d + m] * b[j * d + m];
          na += a[i * d + m] * a[i * d + m];
          nb += b[j * d + m] * b[j * d + m];
        }
        sim[i * n + j] = simt[j * n + i] = s * dot / std::sqrt(na * nb);
      }
    }
    std::vector<std::int64_t> diag(n);
    std::iota(diag.begin(), diag.end(), 0);
    const double ref = 0.5 * (kelvin::cross_entropy(cmat(sim.data(), n, n), diag).loss +
                              kelvin::cross_entropy(cmat(simt.data(), n, n), diag).loss);
    EXPECT_NEAR(v.loss, ref, 1e-13 * ref);
    expect_fd(
        [&](const std::vector<double>& aa) {
          return kelvin::clip(cmat(aa.data(), n, d), cmat(b.data(), n, d), ls).loss;
        },
        a, ga, "dL/dimage");
    expect_fd(
        [&](const std::vector<double>& bb) {
          return kelvin::clip(cmat(a.data(), n, d), cmat(bb.data(), n, d), ls).loss;
        },
        b, gb, "dL/dtext");
    if (ls == 5.0) {
      EXPECT_EQ(v.d_temperature, 0.0);  // exp(5) > 100: the clamp holds
    } else {
      const double fd = (kelvin::clip(cmat(a.data(), n, d), cmat(b.data(), n, d), ls + 1e-6).loss -
                         kelvin::clip(cmat(a.data(), n, d), cmat(b.data(), n, d), ls - 1e-6).loss) /
                        2e-6;
      EXPECT_NEAR(v.d_temperature, fd, 1e-6 * std::abs(fd) + 1e-9) << "d/dlog_scale";
    }
  }
}

// --- NormFace / CosFace / ArcFace ----------------------------------------------

TEST(loss, cosine_softmax_gradients_finite_differences) {
  const std::size_t n = 6, d = 4, c = 5;
  auto f = randn(n * d, 90), w = randn(c * d, 91);
  auto y = rand_labels(n, c, 92);
  struct mcase {
    kelvin::margin_type kind;
    double margin, scale;
  };
  // margin 2.8 puts some targets past theta + m > pi (the fallback branch).
  const mcase cases[] = {{kelvin::margin_type::none, 0.0, 30.0},
                         {kelvin::margin_type::cosface, 0.35, 30.0},
                         {kelvin::margin_type::arcface, 0.5, 64.0},
                         {kelvin::margin_type::arcface, 2.8, 10.0},
                         {kelvin::margin_type::none, 0.0, 1e-3}};
  for (const auto& cs : cases) {
    const loss_options o{.scale = cs.scale, .margin = cs.margin, .margin_kind = cs.kind};
    std::vector<double> gf(n * d), gw(c * d);
    const auto v = kelvin::cosine_softmax(cmat(f.data(), n, d), cmat(w.data(), c, d), y, o,
                                          mat(gf.data(), n, d), mat(gw.data(), c, d));
    EXPECT_TRUE(std::isfinite(v.loss));
    expect_fd(
        [&](const std::vector<double>& ff) {
          return kelvin::cosine_softmax(cmat(ff.data(), n, d), cmat(w.data(), c, d), y, o).loss;
        },
        f, gf, "dL/dfeatures");
    expect_fd(
        [&](const std::vector<double>& ww) {
          return kelvin::cosine_softmax(cmat(f.data(), n, d), cmat(ww.data(), c, d), y, o).loss;
        },
        w, gw, "dL/dweights");
    const double fd = fd_scalar(
        [&](double s) {
          loss_options oo = o;
          oo.scale = s;
          return kelvin::cosine_softmax(cmat(f.data(), n, d), cmat(w.data(), c, d), y, oo).loss;
        },
        cs.scale);
    EXPECT_NEAR(v.d_temperature, fd, 1e-6 * std::abs(fd) + fd_noise(v.loss, cs.scale))
        << "d/dscale";
  }
}

// --- backward of the core ------------------------------------------------------

TEST(loss, softmax_and_log_softmax_backward_finite_differences) {
  const std::size_t n = 3, c = 8;
  auto a = randn(n * c, 100);  // L = sum a_ij y_ij
  for (bool log : {false, true}) {
    for (double t : {1e-3, 0.3, 1.0, 1e3}) {
      auto x = randn(n * c, 101, t < 0.01 ? 1e-3 : 1.0);
      if (!log) x[5] = -kInf;
      auto fwd = [&](const std::vector<double>& xx, double tt, std::vector<double>& y) {
        y.resize(n * c);
        if (log) {
          kelvin::log_softmax(cmat(xx.data(), n, c), mat(y.data(), n, c), {.temperature = tt});
        } else {
          kelvin::softmax(cmat(xx.data(), n, c), mat(y.data(), n, c), {.temperature = tt});
        }
      };
      auto f = [&](const std::vector<double>& xx, double tt) {
        std::vector<double> y;
        fwd(xx, tt, y);
        double s = 0;
        for (std::size_t i = 0; i < n * c; ++i) {
          if (std::isfinite(y[i])) s += a[i] * y[i];
        }
        return s;
      };
      std::vector<double> y, dx(n * c), dt(n);
      fwd(x, t, y);
      if (log) {
        kelvin::log_softmax_backward(cmat(y.data(), n, c), cmat(a.data(), n, c),
                                     mat(dx.data(), n, c), dt, {.temperature = t});
      } else {
        kelvin::softmax_backward(cmat(y.data(), n, c), cmat(a.data(), n, c), mat(dx.data(), n, c),
                                 dt, {.temperature = t});
      }
      expect_fd([&](const std::vector<double>& xx) { return f(xx, t); }, x, dx, "dx", 1e-6, 5e-6);
      const double fd = fd_scalar([&](double tt) { return f(x, tt); }, t);
      EXPECT_NEAR(dt[0] + dt[1] + dt[2], fd, 1e-6 * std::abs(fd) + 1e-10) << "dT at " << t;
    }
  }
}

}  // namespace
