// kelvin::mpi under mpirun with any number of ranks (ctest: 1 to 4): every rank
// builds the same global rows from a seed, passes its columns, and checks its
// results against the exact (MPFR) values, the single-process kelvin calls on
// the whole rows, and a direct float64 cross-entropy. Tests use EXPECT (never
// ASSERT) after the first collective call, so that every rank makes the same
// sequence of collective calls whatever fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kelvin/loss.hpp"
#include "kelvin/mpi.hpp"
#include "kelvin/sampling.hpp"
#include "kelvin/softmax.hpp"
#include "tests/support/mpfr_reference.hpp"

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int ranks() {
  int p = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &p);
  return p;
}

// Column boundaries of the P shards of C classes: even, uneven with rank 0
// (or 1) holding none, and everything on the last rank.
std::vector<std::size_t> split(std::size_t c, int p, int pattern) {
  std::vector<std::size_t> b(static_cast<std::size_t>(p) + 1, 0);
  std::vector<std::size_t> w(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) {
    const auto ur = static_cast<std::size_t>(r);
    switch (pattern) {
      case 0:
        w[ur] = 1;
        break;
      case 1:  // rank 1 empty, the others growing
        w[ur] = (p > 1 && r == 1) ? 0 : ur + 1;
        break;
      default:  // only the last rank
        w[ur] = r == p - 1 ? 1 : 0;
        break;
    }
  }
  std::size_t total = 0;
  for (std::size_t v : w) total += v;
  std::size_t acc = 0;
  for (int r = 0; r < p; ++r) {
    acc += w[static_cast<std::size_t>(r)];
    b[static_cast<std::size_t>(r) + 1] = c * acc / total;
  }
  return b;
}
constexpr int kPatterns = 3;

// Distance in ulps of the format T at max(|a|, |b|, floor); equal specials 0.
template <class T>
double ulps(double a, double b, double floor = 0.0) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0.0 : kInf;
  if (a == b) return 0.0;
  if (std::isinf(a) || std::isinf(b)) return kInf;
  const double mag = std::max({std::fabs(a), std::fabs(b), floor});
  const int digits = std::numeric_limits<T>::digits;
  const int e = std::max(std::ilogb(mag), std::numeric_limits<T>::min_exponent - 1);
  return std::fabs(a - b) / std::ldexp(1.0, e - digits + 1);
}

template <class T>
struct global_rows {
  std::size_t rows, cols;
  std::vector<T> x;
  const T* row(std::size_t r) const { return x.data() + r * cols; }
};

template <class T>
global_rows<T> random_rows(std::size_t rows, std::size_t cols, double scale, unsigned seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d(0.0, scale);
  global_rows<T> m{rows, cols, std::vector<T>(rows * cols)};
  for (T& v : m.x) v = static_cast<T>(d(g));
  return m;
}

// This rank's columns [b0, b1) of every row, dense.
template <class T>
std::vector<T> local_cols(const global_rows<T>& m, std::size_t b0, std::size_t b1) {
  std::vector<T> out(m.rows * (b1 - b0));
  for (std::size_t r = 0; r < m.rows; ++r)
    std::copy(m.row(r) + b0, m.row(r) + b1,
              out.begin() + static_cast<std::ptrdiff_t>(r * (b1 - b0)));
  return out;
}

// Checks the sharded family against the single-process calls on the whole
// rows (special cases: identical; general path: within `tol` ulps) and,
// where the MPFR oracle applies, within the contract's 2 ulps of the exact
// values.
template <class T>
void check_family(const global_rows<T>& m, const kelvin::options& opt, double tol,
                  bool mpfr = true) {
  const int p = ranks(), me = rank();
  for (int pattern = 0; pattern < kPatterns; ++pattern) {
    const std::vector<std::size_t> b = split(m.cols, p, pattern);
    const std::size_t b0 = b[static_cast<std::size_t>(me)],
                      b1 = b[static_cast<std::size_t>(me) + 1];
    const std::size_t lc = b1 - b0;
    const std::vector<T> xl = local_cols(m, b0, b1);
    const kelvin::matrix_view<const T> xv(xl.data(), m.rows, lc);
    std::vector<T> lz(m.rows), y(m.rows * lc), ly(m.rows * lc);
    kelvin::sharded_log_partition(MPI_COMM_WORLD, xv, std::span<T>(lz), opt);
    kelvin::sharded_softmax(MPI_COMM_WORLD, xv, kelvin::matrix_view<T>(y.data(), m.rows, lc), opt);
    kelvin::sharded_log_softmax(MPI_COMM_WORLD, xv, kelvin::matrix_view<T>(ly.data(), m.rows, lc),
                                opt);
    // The single-process results on the whole rows.
    const kelvin::matrix_view<const T> full(m.x.data(), m.rows, m.cols);
    std::vector<T> rz(m.rows), ry(m.rows * m.cols), rly(m.rows * m.cols);
    kelvin::log_partition(full, std::span<T>(rz), opt);
    kelvin::softmax(full, kelvin::matrix_view<T>(ry.data(), m.rows, m.cols), opt);
    kelvin::log_softmax(full, kelvin::matrix_view<T>(rly.data(), m.rows, m.cols), opt);
    const auto fmt = kelvin::testing::format_of<T>();
    double worst = 0.0, worst_exact = 0.0;
    for (std::size_t r = 0; r < m.rows; ++r) {
      SCOPED_TRACE("pattern " + std::to_string(pattern) + " row " + std::to_string(r));
      const double t = opt.temperatures.empty() ? opt.temperature : opt.temperatures[r];
      const double dz = ulps<T>(lz[r], rz[r], 1.0);
      EXPECT_LE(dz, tol) << "log_partition " << lz[r] << " vs " << rz[r];
      worst = std::max(worst, dz);
      for (std::size_t i = 0; i < lc; ++i) {
        const double a = y[r * lc + i], e = ry[r * m.cols + b0 + i];
        const double la = ly[r * lc + i], le = rly[r * m.cols + b0 + i];
        const double d1 = ulps<T>(a, e), d2 = ulps<T>(la, le, 1.0);
        EXPECT_LE(d1, tol) << "softmax[" << b0 + i << "] " << a << " vs " << e;
        EXPECT_LE(d2, tol) << "log_softmax[" << b0 + i << "] " << la << " vs " << le;
        worst = std::max({worst, d1, d2});
      }
      bool ordinary = mpfr && t > 0 && std::isfinite(t);
      double mx = -kInf;
      for (std::size_t i = 0; i < m.cols; ++i) {
        const double v = m.row(r)[i];
        ordinary = ordinary && !std::isnan(v) && v != kInf;
        mx = std::max(mx, v);
      }
      if (!ordinary || mx == -kInf) continue;
      std::vector<double> xd(m.row(r), m.row(r) + m.cols);
      const kelvin::testing::row_reference ref(xd, t, 256);
      const double ez = ref.log_partition_ulps(lz[r], fmt);
      EXPECT_LE(ez, 2.0) << "log_partition vs MPFR";
      worst_exact = std::max(worst_exact, ez);
      for (std::size_t i = 0; i < lc; ++i) {
        const double e1 = ref.softmax_ulps(b0 + i, y[r * lc + i], fmt);
        const double e2 = ref.log_softmax_ulps(b0 + i, ly[r * lc + i], fmt);
        EXPECT_LE(e1, 2.0) << "softmax[" << b0 + i << "] vs MPFR";
        EXPECT_LE(e2, 2.0) << "log_softmax[" << b0 + i << "] vs MPFR";
        worst_exact = std::max({worst_exact, e1, e2});
      }
    }
    double w[2] = {worst, worst_exact};
    MPI_Allreduce(MPI_IN_PLACE, w, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (me == 0 && pattern == 0)
      std::printf("  max ulps: %.3g vs single process, %.3g vs MPFR (%d ranks)\n", w[0], w[1], p);
  }
}

template <class T>
class sharded : public ::testing::Test {};
using element_types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(sharded, element_types);

TYPED_TEST(sharded, random_rows_against_mpfr_and_single_process) {
  using T = TypeParam;
  for (double t : {1.0, 0.07, 0.7, 10.0, 1e-3, 1e3}) {
    SCOPED_TRACE("T = " + std::to_string(t));
    check_family(random_rows<T>(3, 37, 5.0, 11), {.temperature = t}, 3.0);
  }
  // Logits where exp overflows and a wide spread: x in [90, 100], +-1e4.
  check_family(random_rows<T>(2, 29, 1e4, 12), {.temperature = 0.5}, 3.0);
  global_rows<T> hot = random_rows<T>(2, 23, 3.0, 13);
  for (T& v : hot.x) v = static_cast<T>(95.0 + v);
  check_family(hot, {.temperature = 1.0}, 3.0);
}

TYPED_TEST(sharded, per_row_temperatures_and_few_classes) {
  using T = TypeParam;
  const std::vector<double> ts{0.0, 0.3, kInf, 2.0};
  check_family(random_rows<T>(4, 9, 2.0, 14), {.temperatures = ts}, 3.0);
  // Fewer classes than ranks: some ranks hold none in every pattern.
  check_family(random_rows<T>(2, 2, 2.0, 15), {.temperature = 0.5}, 3.0);
  check_family(random_rows<T>(2, 1, 2.0, 16), {.temperature = 0.5}, 3.0);
}

// The contract's special cases, each spread so that every rank holds a part.
template <class T>
global_rows<T> special_rows() {
  const T inf = std::numeric_limits<T>::infinity();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T big = std::numeric_limits<T>::max();
  const std::vector<std::vector<T>> r{
      {3, 1, 3, 2, 3, 0, -1, 3},                         // T == 0 ties on several ranks
      {0, -1, 0, -inf, -2, 0, -3, -inf},                 // max 0: log Z(T = 0) = log 3
      {-5, -1, -7, -1, -2, -inf, -3, -9},                // max < 0
      {-inf, -inf, -inf, -inf, 1, 2, -inf, -inf},        // masks: ranks all masked
      {1, 2, 3, 4, 5, 6, 7, nan},                        // NaN on the last rank only
      {nan, 2, 3, 4, 5, 6, 7, 8},                        // NaN on the first rank only
      {1, inf, 3, 4, inf, 6, 7, inf},                    // +inf entries on several ranks
      {-inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf},  // all masked
      {big, -big, big, 0, -big, 1, big, -big},           // huge values, ties of big
      {-inf, 1, -inf, -inf, -inf, -inf, -inf, 5},        // two survivors, far apart
  };
  global_rows<T> m{r.size(), r[0].size(), {}};
  for (const auto& row : r) m.x.insert(m.x.end(), row.begin(), row.end());
  return m;
}

TYPED_TEST(sharded, special_cases_split_across_ranks) {
  using T = TypeParam;
  const global_rows<T> m = special_rows<T>();
  for (double t : {0.0, -0.0, kInf, 1.0, 0.25, 1e-300, 1e300, std::ldexp(1.0, -1000)}) {
    for (auto policy : {kelvin::empty_row_policy::nan, kelvin::empty_row_policy::zero}) {
      SCOPED_TRACE("T = " + std::to_string(t));
      check_family(m, {.temperature = t, .empty_row = policy}, 3.0);
    }
  }
}

TEST(sharded_double, spread_that_overflows) {
  // x_i - m overflows a double, (x_i - m) / T does not.
  global_rows<double> m{1, 6, {DBL_MAX, -DBL_MAX, 0.5 * DBL_MAX, 1.0, -1.0, DBL_MAX}};
  for (double t : {1e300, 1e306, 1e308}) check_family(m, {.temperature = t}, 3.0);
}

TEST(sharded_log_partition, every_rank_gets_the_same_bits) {
  const global_rows<double> m = random_rows<double>(5, 101, 4.0, 21);
  const int p = ranks(), me = rank();
  const std::vector<std::size_t> b = split(m.cols, p, 1);
  const std::vector<double> xl = local_cols(m, b[me], b[me + 1]);
  std::vector<double> lz(m.rows), all(m.rows * static_cast<std::size_t>(p));
  kelvin::sharded_log_partition(
      MPI_COMM_WORLD, kelvin::matrix_view<const double>(xl.data(), m.rows, b[me + 1] - b[me]),
      std::span<double>(lz), {.temperature = 0.3});
  MPI_Allgather(lz.data(), static_cast<int>(m.rows), MPI_DOUBLE, all.data(),
                static_cast<int>(m.rows), MPI_DOUBLE, MPI_COMM_WORLD);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], lz[i % m.rows]);
}

// The message every rank got, as rank 0 got it (empty when nothing was thrown).
std::vector<std::string> gather_messages(const std::string& mine) {
  constexpr int kLen = 512;
  std::vector<char> buf(kLen, 0), all(static_cast<std::size_t>(kLen) * ranks(), 0);
  std::copy_n(mine.begin(), std::min<std::size_t>(mine.size(), kLen - 1), buf.begin());
  MPI_Allgather(buf.data(), kLen, MPI_CHAR, all.data(), kLen, MPI_CHAR, MPI_COMM_WORLD);
  std::vector<std::string> out;
  for (int r = 0; r < ranks(); ++r)
    out.emplace_back(all.data() + static_cast<std::size_t>(r) * kLen);
  return out;
}

template <class F>
void expect_same_error_everywhere(F call, const std::string& needle) {
  std::string msg;
  try {
    call();
  } catch (const kelvin::error& e) {
    msg = e.what();
  }
  const std::vector<std::string> all = gather_messages(msg);
  EXPECT_FALSE(msg.empty()) << "no error on rank " << rank();
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  for (const std::string& s : all) EXPECT_EQ(s, all[0]);
}

TEST(sharded_errors, a_bad_rank_fails_every_rank_with_the_same_message) {
  const int p = ranks(), me = rank();
  std::vector<float> x(2 * 3, 1.0f), y(2 * 3);
  const kelvin::matrix_view<const float> xv(x.data(), 2, 3);
  std::vector<float> out(2);
  // The last rank passes a negative temperature.
  expect_same_error_everywhere(
      [&] {
        kelvin::sharded_log_partition(MPI_COMM_WORLD, xv, std::span<float>(out),
                                      {.temperature = me == p - 1 ? -1.0 : 1.0});
      },
      "rank " + std::to_string(p - 1) + ": options.temperature must be >= 0");
  // The last rank's y has the wrong shape.
  expect_same_error_everywhere(
      [&] {
        kelvin::sharded_softmax(MPI_COMM_WORLD, xv,
                                kelvin::matrix_view<float>(y.data(), 2, me == p - 1 ? 2 : 3));
      },
      "but y is 2 x 2");
  if (p > 1) {
    // Ranks disagree on rows, on the temperature, on the entry point.
    expect_same_error_everywhere(
        [&] {
          kelvin::sharded_log_partition(
              MPI_COMM_WORLD, kelvin::matrix_view<const float>(x.data(), me == 1 ? 1 : 2, 3),
              std::span<float>(out.data(), me == 1 ? 1 : 2));
        },
        "rank 1 has 1 rows but rank 0 has 2");
    expect_same_error_everywhere(
        [&] {
          kelvin::sharded_log_partition(MPI_COMM_WORLD, xv, std::span<float>(out),
                                        {.temperature = me == 1 ? 0.5 : 1.0});
        },
        "rank 1's options");
    expect_same_error_everywhere(
        [&] {
          if (me == 1)
            kelvin::sharded_log_softmax(MPI_COMM_WORLD, xv,
                                        kelvin::matrix_view<float>(y.data(), 2, 3));
          else
            kelvin::sharded_softmax(MPI_COMM_WORLD, xv, kelvin::matrix_view<float>(y.data(), 2, 3));
        },
        "rank 1 called kelvin::sharded_log_softmax while rank 0 called kelvin::sharded_softmax");
  }
  // After the errors the communicator still works.
  kelvin::sharded_log_partition(MPI_COMM_WORLD, xv, std::span<float>(out));
  EXPECT_NEAR(out[0], 1.0 + std::log(3.0 * p), 1e-6);  // x == 1 on 3p classes
}

// --- cross-entropy -------------------------------------------------------------

// PyTorch's F.cross_entropy(x / T, y, reduction, ignore_index=-100,
// label_smoothing=eps) of one row, in long double, and its gradient (of the
// row's loss with respect to x).
struct ce_ref {
  double loss;
  std::vector<double> grad;
};
template <class T>
ce_ref cross_entropy_row(const T* x, std::size_t c, std::int64_t y, double t, double eps) {
  long double m = -INFINITY;
  for (std::size_t i = 0; i < c; ++i) m = std::max(m, static_cast<long double>(x[i]));
  long double s = 0, sx = 0;
  for (std::size_t i = 0; i < c; ++i) {
    s += std::exp((static_cast<long double>(x[i]) - m) / t);
    sx += static_cast<long double>(x[i]);
  }
  const long double lse = m / t + std::log(s);
  const long double nll = lse - static_cast<long double>(x[y]) / t;
  const long double smooth = lse - sx / static_cast<long double>(c) / t;  // mean of -log p
  ce_ref r{static_cast<double>((1 - eps) * nll + eps * smooth), std::vector<double>(c)};
  for (std::size_t i = 0; i < c; ++i) {
    const long double p = std::exp((static_cast<long double>(x[i]) - m) / t) / s;
    long double q = eps / static_cast<long double>(c);
    if (static_cast<std::int64_t>(i) == y) q += 1 - eps;
    r.grad[i] = static_cast<double>((p - q) / t);
  }
  return r;
}

template <class T>
class sharded_ce : public ::testing::Test {};
TYPED_TEST_SUITE(sharded_ce, element_types);

TYPED_TEST(sharded_ce, matches_a_direct_float64_cross_entropy) {
  using T = TypeParam;
  const int p = ranks(), me = rank();
  const global_rows<T> m = random_rows<T>(6, 41, 3.0, 31);
  std::vector<std::int64_t> labels{3, 40, 0, -100, 17, 25};
  const double tol = 1e-12;
  for (int pattern = 0; pattern < kPatterns; ++pattern) {
    const std::vector<std::size_t> b = split(m.cols, p, pattern);
    const std::size_t b0 = b[static_cast<std::size_t>(me)],
                      b1 = b[static_cast<std::size_t>(me) + 1];
    const std::size_t lc = b1 - b0;
    const std::vector<T> xl = local_cols(m, b0, b1);
    const kelvin::matrix_view<const T> xv(xl.data(), m.rows, lc);
    for (double t : {1.0, 0.3, 4.0}) {
      for (double eps : {0.0, 0.1}) {
        for (auto red :
             {kelvin::reduction::mean, kelvin::reduction::sum, kelvin::reduction::none}) {
          SCOPED_TRACE("pattern " + std::to_string(pattern) + " T " + std::to_string(t) + " eps " +
                       std::to_string(eps) + " reduction " + std::to_string(static_cast<int>(red)));
          const bool none = red == kelvin::reduction::none;
          std::vector<T> losses(none ? m.rows : 0), g(m.rows * lc);
          const kelvin::loss_options o{.temperature = t, .reduce = red, .label_smoothing = eps};
          const kelvin::loss_value v = kelvin::sharded_cross_entropy(
              MPI_COMM_WORLD, xv, labels, b0, o, kelvin::matrix_view<T>(g.data(), m.rows, lc),
              std::span<T>(losses));
          // kelvin::cross_entropy (the loss family) on the whole rows.
          std::vector<T> rg(m.rows * m.cols), rl(none ? m.rows : 0);
          const kelvin::loss_value rv = kelvin::cross_entropy(
              kelvin::matrix_view<const T>(m.x.data(), m.rows, m.cols), labels, o,
              kelvin::matrix_view<T>(rg.data(), m.rows, m.cols), std::span<T>(rl));
          // The long-double reference on the whole rows.
          double total = 0;
          std::size_t valid = 0;
          std::vector<ce_ref> rows;
          for (std::size_t r = 0; r < m.rows; ++r) {
            if (labels[r] == -100) {
              rows.push_back({0.0, std::vector<double>(m.cols, 0.0)});
              continue;
            }
            rows.push_back(cross_entropy_row(m.row(r), m.cols, labels[r], t, eps));
            total += rows.back().loss;
            ++valid;
          }
          const double w = red == kelvin::reduction::mean ? 1.0 / valid : 1.0;
          EXPECT_NEAR(v.loss, total * w, tol * std::fabs(total * w));
          // kelvin::cross_entropy computes float rows from float probabilities.
          const double ktol = sizeof(T) == 4 ? 2e-6 : 1e-12;
          EXPECT_NEAR(v.loss, rv.loss, ktol * std::fabs(rv.loss));
          EXPECT_NEAR(v.d_temperature, rv.d_temperature,
                      ktol * std::fabs(rv.d_temperature) + 1e-12);
          for (std::size_t r = 0; r < m.rows; ++r) {
            if (none) {
              EXPECT_NEAR(losses[r], rows[r].loss,
                          (sizeof(T) == 4 ? 2e-7 : tol) * std::max(1.0, rows[r].loss));
              EXPECT_NEAR(losses[r], rl[r], ktol * std::max(1.0, rows[r].loss));
            }
            for (std::size_t i = 0; i < lc; ++i) {
              const double ref = w * rows[r].grad[b0 + i];
              EXPECT_NEAR(g[r * lc + i], ref,
                          sizeof(T) == 4 ? 1.2e-7 * std::fabs(ref) + 1e-12 : 1e-14 / t);
              EXPECT_NEAR(g[r * lc + i], rg[r * m.cols + b0 + i],
                          sizeof(T) == 4 ? 4e-7 * w / t : 1e-14 / t);
            }
          }
          // dL/dT by central differences of the sharded loss itself.
          const double h = 1e-5 * t;
          auto at = [&](double tt) {
            kelvin::loss_options oo = o;
            oo.temperature = tt;
            oo.reduce = none ? kelvin::reduction::sum : red;  // the same total
            return kelvin::sharded_cross_entropy(MPI_COMM_WORLD, xv, labels, b0, oo).loss;
          };
          const double fd = (at(t + h) - at(t - h)) / (2 * h);
          EXPECT_NEAR(v.d_temperature, fd, 1e-6 * std::max(1.0, std::fabs(fd)));
        }
      }
    }
  }
}

TEST(sharded_ce_limits, temperature_zero_inf_masks_and_nan) {
  const int p = ranks(), me = rank();
  constexpr double inf = kInf;
  // Rows: max 5 twice (label at a max: log 2; label below: inf), a masked
  // label (inf), a NaN (NaN), every class masked but the label.
  const global_rows<double> m{5, 8, {5,    1,    2,    5, 0,    -1,   3,    4,  //
                                     5,    1,    2,    5, 0,    -1,   3,    4,  //
                                     1,    -inf, 2,    3, -inf, 0,    1,    2,  //
                                     1,    2,    3,    4, 5,    6,    kNaN, 8,  //
                                     -inf, -inf, -inf, 7, -inf, -inf, -inf, -inf}};
  const std::vector<std::int64_t> labels{3, 6, 1, 0, 3};
  const std::vector<std::size_t> b = split(m.cols, p, 1);
  const std::size_t b0 = b[static_cast<std::size_t>(me)],
                    lc = b[static_cast<std::size_t>(me) + 1] - b0;
  const std::vector<double> xl = local_cols(m, b0, b0 + lc);
  const kelvin::matrix_view<const double> xv(xl.data(), m.rows, lc);
  // Against kelvin::cross_entropy on the whole rows at T = 0 and +inf (loss,
  // per-row losses, gradients and dL/dT), with and without smoothing.
  for (double t : {0.0, inf, 1.0}) {
    for (double eps : {0.0, 0.1}) {
      SCOPED_TRACE("T " + std::to_string(t) + " eps " + std::to_string(eps));
      const kelvin::loss_options o{
          .temperature = t, .reduce = kelvin::reduction::none, .label_smoothing = eps};
      std::vector<double> l(m.rows), g(m.rows * lc), rl(m.rows), rg(m.rows * m.cols);
      const kelvin::loss_value v = kelvin::sharded_cross_entropy(
          MPI_COMM_WORLD, xv, labels, b0, o, kelvin::matrix_view<double>(g.data(), m.rows, lc),
          std::span<double>(l));
      const kelvin::loss_value rv = kelvin::cross_entropy(
          kelvin::matrix_view<const double>(m.x.data(), m.rows, m.cols), labels, o,
          kelvin::matrix_view<double>(rg.data(), m.rows, m.cols), std::span<double>(rl));
      EXPECT_EQ(ulps<double>(v.loss, rv.loss, 1.0) <= 2, true) << v.loss << " vs " << rv.loss;
      EXPECT_EQ(ulps<double>(v.d_temperature, rv.d_temperature, 1.0) <= 2, true)
          << v.d_temperature << " vs " << rv.d_temperature;
      for (std::size_t r = 0; r < m.rows; ++r) {
        EXPECT_LE(ulps<double>(l[r], rl[r], 1.0), 2.0) << "row " << r;
        for (std::size_t i = 0; i < lc; ++i)
          EXPECT_LE(ulps<double>(g[r * lc + i], rg[r * m.cols + b0 + i], 1.0), 2.0)
              << "grad[" << r << "][" << b0 + i << "]";
      }
      if (t == 0.0 && eps == 0.0) {
        EXPECT_DOUBLE_EQ(l[0], std::log(2.0));
        EXPECT_EQ(l[1], inf);
        EXPECT_EQ(l[2], inf);
        EXPECT_TRUE(std::isnan(l[3]));
        EXPECT_EQ(l[4], 0.0);
      }
      if (std::isinf(t) && eps == 0.0) {
        EXPECT_DOUBLE_EQ(l[0], std::log(8.0));  // uniform over the 8 unmasked classes
        EXPECT_EQ(l[2], inf);                   // the label is masked
        EXPECT_DOUBLE_EQ(l[4], 0.0);
      }
      if (t == 1.0 && eps > 0.0) {
        EXPECT_TRUE(std::isfinite(l[0]));
        EXPECT_EQ(l[2], inf);  // smoothing puts mass on masked classes, as PyTorch's
      }
    }
  }
}

TEST(sharded_ce_errors, bad_labels_offsets_and_shapes) {
  const int p = ranks(), me = rank();
  const global_rows<float> m = random_rows<float>(2, 6, 1.0, 41);
  const std::vector<std::size_t> b = split(m.cols, p, 0);
  const std::size_t b0 = b[static_cast<std::size_t>(me)],
                    lc = b[static_cast<std::size_t>(me) + 1] - b0;
  const std::vector<float> xl = local_cols(m, b0, b0 + lc);
  const kelvin::matrix_view<const float> xv(xl.data(), m.rows, lc);
  const std::vector<std::int64_t> bad{1, 6};
  expect_same_error_everywhere([&] { kelvin::sharded_cross_entropy(MPI_COMM_WORLD, xv, bad, b0); },
                               "labels[1] = 6 is outside [0, 6)");
  const std::vector<std::int64_t> labels{1, 5};
  if (p > 1 && lc > 0) {
    expect_same_error_everywhere(
        [&] { kelvin::sharded_cross_entropy(MPI_COMM_WORLD, xv, labels, me == p - 1 ? 0 : b0); },
        "do not tile [0, 6)");
  }
  std::vector<float> g(m.rows * lc);
  expect_same_error_everywhere(
      [&] {
        kelvin::sharded_cross_entropy(
            MPI_COMM_WORLD, xv, labels, b0, {},
            kelvin::matrix_view<float>(g.data(), m.rows, me == p - 1 ? lc + 1 : lc));
      },
      "rank " + std::to_string(p - 1) + ": grad is 2 x");
  expect_same_error_everywhere(
      [&] {
        kelvin::sharded_cross_entropy(MPI_COMM_WORLD, xv, labels, b0,
                                      {.label_smoothing = me == 0 ? 1.5 : 0.0});
      },
      "rank 0: label_smoothing must be in [0, 1]");
}

// --- sampling ------------------------------------------------------------------

TEST(sharded_sample, the_same_token_as_kelvin_sample_on_the_whole_row) {
  const int p = ranks(), me = rank();
  // Rows of 2500 classes (several of the sampler's 1024-entry blocks): random,
  // masked, ties at the max across ranks, +inf entries, one dominant logit.
  global_rows<float> m = random_rows<float>(6, 2500, 3.0, 51);
  float* r1 = m.x.data() + 1 * m.cols;
  for (std::size_t i = 0; i < m.cols; i += 3) r1[i] = -INFINITY;
  float* r2 = m.x.data() + 2 * m.cols;
  r2[10] = r2[1300] = r2[2490] = 50.0f;  // a three-way tie for the max
  float* r3 = m.x.data() + 3 * m.cols;
  r3[5] = r3[2000] = INFINITY;
  float* r4 = m.x.data() + 4 * m.cols;
  r4[777] = 40.0f;
  float* r5 = m.x.data() + 5 * m.cols;
  for (std::size_t i = 0; i < m.cols; ++i) r5[i] = static_cast<float>(i % 7);  // many ties
  std::vector<kelvin::sampling_options> configs{
      {.temperature = 0.8},
      {.temperature = 1.0},
      {.temperature = 3.0},
      {.temperature = 0.0},
      {.temperature = INFINITY},
      {.temperature = 0.8, .top_k = 5},
      {.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05},
      {.temperature = 0.8,
       .top_k = 40,
       .top_p = 0.95,
       .min_p = 0.05,
       .order = kelvin::sampling_order::temperature_first},
      {.temperature = 1.0, .top_p = 0.9},
      {.temperature = 0.7, .min_p = 0.05},
      {.temperature = 0.7, .min_p = 0.9, .min_keep = 3},
      {.temperature = 1.5, .typical_p = 0.8},
      {.temperature = INFINITY, .top_k = 7},
      {.temperature = 0.5, .top_k = 3000},  // top_k >= C: no truncation
  };
  const std::vector<std::uint64_t> ids{0, 7, 1u << 20, 3, 99, 12};
  for (int pattern = 0; pattern < kPatterns; ++pattern) {
    const std::vector<std::size_t> b = split(m.cols, p, pattern);
    const std::size_t b0 = b[static_cast<std::size_t>(me)],
                      b1 = b[static_cast<std::size_t>(me) + 1];
    const std::vector<float> xl = local_cols(m, b0, b1);
    const kelvin::matrix_view<const float> xv(xl.data(), m.rows, b1 - b0);
    for (std::size_t ci = 0; ci < configs.size(); ++ci) {
      for (std::uint64_t seed : {0ull, 42ull}) {
        for (std::uint64_t step : {0ull, 1ull, 17ull}) {
          kelvin::sampling_options c = configs[ci];
          c.seed = seed;
          std::vector<std::int64_t> tok(m.rows), ref(m.rows);
          kelvin::sharded_sample(MPI_COMM_WORLD, xv, tok, c, {.step = step, .row_ids = ids});
          kelvin::sample(kelvin::matrix_view<const float>(m.x.data(), m.rows, m.cols), ref, {&c, 1},
                         {.step = step, .row_ids = ids});
          for (std::size_t r = 0; r < m.rows; ++r)
            EXPECT_EQ(tok[r], ref[r]) << "pattern " << pattern << " config " << ci << " seed "
                                      << seed << " step " << step << " row " << r;
        }
      }
    }
  }
}

TEST(sharded_sample, errors_are_collective) {
  const int p = ranks(), me = rank();
  global_rows<float> m = random_rows<float>(2, 12, 1.0, 61);
  m.x[12 + 11] = NAN;  // row 1, last rank
  const std::vector<std::size_t> b = split(m.cols, p, 0);
  const std::size_t b0 = b[static_cast<std::size_t>(me)], b1 = b[static_cast<std::size_t>(me) + 1];
  const std::vector<float> xl = local_cols(m, b0, b1);
  const kelvin::matrix_view<const float> xv(xl.data(), m.rows, b1 - b0);
  std::vector<std::int64_t> tok(m.rows);
  expect_same_error_everywhere([&] { kelvin::sharded_sample(MPI_COMM_WORLD, xv, tok); },
                               "logits row 1 holds a NaN");
  expect_same_error_everywhere(
      [&] { kelvin::sharded_sample(MPI_COMM_WORLD, xv, tok, {.top_p = me == p - 1 ? 1.5 : 0.9}); },
      "rank " + std::to_string(p - 1) + ": kelvin::sample: config.top_p must be in (0, 1]");
  if (p > 1)
    expect_same_error_everywhere(
        [&] { kelvin::sharded_sample(MPI_COMM_WORLD, xv, tok, {.seed = me == 1 ? 1u : 0u}); },
        "rank 1's options");
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  // Rank 0 prints the usual report; the others print only their failures.
  if (rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    struct failures : ::testing::EmptyTestEventListener {
      void OnTestPartResult(const ::testing::TestPartResult& r) override {
        if (r.failed())
          std::printf("[rank %d] %s:%d: %s\n", rank(), r.file_name() ? r.file_name() : "?",
                      r.line_number(), r.summary());
      }
    };
    listeners.Append(new failures);
  }
  int rc = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  // tests/support/run_mpi.cmake looks for this line.
  if (rc == 0 && rank() == 0) std::printf("kelvin-mpi: every rank passed\n");
  std::fflush(stdout);
  MPI_Finalize();
  return rc;
}
