// Temperature scaling: the fit of T (a safeguarded Newton method in
// beta = 1 / T over fused passes) and the exact NLL. Metrics are in
// src/calibration_metrics.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "kelvin/calibration.hpp"
#include "kelvin/softmax.hpp"
#include "src/calibration_checks.hpp"
#include "src/kernels/calibration.hpp"
#include "src/kernels/kernels.hpp"
#include "src/threads.hpp"

namespace kelvin {
namespace {

using detail::check_labels;
using detail::format_double;

// Rows per work item: fixed by the shape alone, so that the sums (added per
// block, then over blocks in order) never depend on the thread count.
std::size_t block_rows(std::size_t cols) {
  return std::clamp<std::size_t>((std::size_t{1} << 15) / std::max<std::size_t>(cols, 1), 1, 256);
}

// Sums over rows of the NLL f(beta) = sum_i log Z_i(beta) - beta x_i,y_i and
// its derivatives f' = sum_i E_i[x] - x_i,y_i, f'' = sum_i Var_i[x].
struct nll_sums {
  double f = 0, g = 0, h = 0, k = 0;  // k = f''' = sum_i third cumulant_i
};

// What the first pass keeps per row, and its totals.
struct row_data {
  std::vector<double> max;  // m_i
  std::vector<double> gap;  // m_i - x_i,y_i >= 0
  double g_zero = 0;        // f'(0+) = sum_i mean_i - x_i,y_i
  double gap_sum = 0;       // f'(+inf) = sum_i gap_i
  bool all_constant = true;
};

template <class T>
class fitter {
 public:
  fitter(matrix_view<const T> x, std::span<const std::int64_t> y, int threads)
      : x_(x),
        y_(y),
        block_(block_rows(x.cols)),
        blocks_((x.rows + block_ - 1) / block_),
        threads_(detail::plan_threads(threads, x.rows, x.cols)),
        kernels_(detail::calibration_kernels_for(detail::active_target())),
        scan_(detail::table<T>(detail::active_target()).scan),
        partial_(blocks_) {}

  // Pass one, at beta = 1: each row's max (checked finite), the label's gap,
  // the row mean (for f'(0)), and f, f', f'' at beta = 1.
  nll_sums first_pass(row_data& rows) {
    rows.max.resize(x_.rows);
    rows.gap.resize(x_.rows);
    std::vector<double> g0(blocks_), gaps(blocks_);
    std::vector<unsigned char> constant(blocks_, 1);
    // The first bad row of each block (rows + 1 = none), reported after the join.
    std::vector<std::size_t> bad(blocks_, x_.rows);
    detail::parallel_for(blocks_, threads_, [&](std::size_t b) {
      const std::size_t r0 = b * block_, r1 = std::min(x_.rows, r0 + block_);
      nll_sums s;
      double g0_b = 0, gap_b = 0;
      for (std::size_t r = r0; r < r1; ++r) {
        const T* row = x_.row(r);
        const detail::row_scan sc = scan_(row, x_.cols);
        const double spread = sc.max - sc.low;
        if (sc.has_nan || !std::isfinite(sc.low) || !std::isfinite(sc.max) ||
            !std::isfinite(spread)) {
          bad[b] = r;
          return;
        }
        if (spread > 0) constant[b] = 0;
        const double gap = sc.max - static_cast<double>(row[y_[r]]);
        rows.max[r] = sc.max;
        rows.gap[r] = gap;
        const detail::row_moments mo = moments(row, sc.max, 1.0);
        add_row(s, mo, gap, 1.0);
        g0_b += mo.sd / static_cast<double>(x_.cols) + gap;
        gap_b += gap;
      }
      partial_[b] = s;
      g0[b] = g0_b;
      gaps[b] = gap_b;
    });
    ++passes_;
    for (std::size_t b = 0; b < blocks_; ++b) {
      if (bad[b] < x_.rows) report_bad_row(bad[b]);
    }
    rows.g_zero = ordered_sum(g0);
    rows.gap_sum = ordered_sum(gaps);
    rows.all_constant = std::all_of(constant.begin(), constant.end(), [](auto c) { return c; });
    return total();
  }

  // f, f', f'' at beta: one pass.
  nll_sums pass(const row_data& rows, double beta) {
    detail::parallel_for(blocks_, threads_, [&](std::size_t b) {
      const std::size_t r0 = b * block_, r1 = std::min(x_.rows, r0 + block_);
      nll_sums s;
      for (std::size_t r = r0; r < r1; ++r) {
        add_row(s, moments(x_.row(r), rows.max[r], beta), rows.gap[r], beta);
      }
      partial_[b] = s;
    });
    ++passes_;
    return total();
  }

  int passes() const { return passes_; }
  void count_pass() { ++passes_; }

 private:
  detail::row_moments moments(const T* row, double m, double beta) const {
    if constexpr (sizeof(T) == 4) {
      return kernels_.moments_f32(row, x_.cols, m, beta);
    } else {
      return kernels_.moments_f64(row, x_.cols, m, beta);
    }
  }

  // Row i's terms: log Z - beta x_y = log s0 + beta gap, E - x_y = s1/s0 + gap
  // (no cancellation between m and x_y: gap is exact for float data).
  static void add_row(nll_sums& s, const detail::row_moments& mo, double gap, double beta) {
    const double mean = mo.s1 / mo.s0, m2 = mo.s2 / mo.s0, m3 = mo.s3 / mo.s0;
    s.f += std::log(mo.s0) + beta * gap;
    s.g += mean + gap;
    s.h += std::max(0.0, m2 - mean * mean);
    s.k += m3 - mean * (3 * m2 - 2 * mean * mean);
  }

  static double ordered_sum(const std::vector<double>& v) {
    detail::dd_sum s;
    for (double x : v) s.add(x);
    return s.result().hi;
  }

  nll_sums total() const {
    detail::dd_sum f, g, h, k;
    for (const nll_sums& s : partial_) {
      f.add(s.f);
      g.add(s.g);
      h.add(s.h);
      k.add(s.k);
    }
    return {f.result().hi, g.result().hi, h.result().hi, k.result().hi};
  }

  [[noreturn]] void report_bad_row(std::size_t r) const {
    const T* row = x_.row(r);
    for (std::size_t c = 0; c < x_.cols; ++c) {
      if (!std::isfinite(static_cast<double>(row[c]))) {
        throw error("logits[" + std::to_string(r) + ", " + std::to_string(c) +
                    "] must be finite for fit_temperature (got " +
                    format_double(static_cast<double>(row[c])) + ")");
      }
    }
    throw error("logits row " + std::to_string(r) +
                " spreads over more than the largest double (max - min overflows)");
  }

  matrix_view<const T> x_;
  std::span<const std::int64_t> y_;
  std::size_t block_, blocks_;
  int threads_;
  const detail::calibration_kernels& kernels_;
  detail::row_scan (*scan_)(const T*, std::size_t);
  std::vector<nll_sums> partial_;
  int passes_ = 0;
};

void check_fit_options(const fit_options& opt) {
  if (!(opt.tolerance > 0) || !std::isfinite(opt.tolerance)) {
    throw error("fit_options.tolerance must be finite and > 0 (got " +
                format_double(opt.tolerance) + ")");
  }
  if (opt.max_iterations < 1) {
    throw error("fit_options.max_iterations must be >= 1 (got " +
                std::to_string(opt.max_iterations) + ")");
  }
  if (opt.threads < 0) {
    throw error("fit_options.threads must be >= 0 (got " + std::to_string(opt.threads) + ")");
  }
}

template <class T>
fit_result fit(matrix_view<const T> x, std::span<const std::int64_t> y, const fit_options& opt) {
  check_fit_options(opt);
  detail::check_matrix(x, "logits");
  if (x.rows == 0 || x.cols == 0) {
    throw error("logits must have at least one row and one column (got " + std::to_string(x.rows) +
                " x " + std::to_string(x.cols) + ")");
  }
  check_labels(y, x.rows, x.cols);

  fitter<T> fit(x, y, opt.threads);
  row_data rows;
  const double n = static_cast<double>(x.rows);
  nll_sums s = fit.first_pass(rows);
  fit_result r;
  r.nll_before = s.f / n;
  r.converged = true;
  if (rows.all_constant) {
    r.outcome = fit_outcome::flat;
    r.nll_after = r.nll_before;
    r.passes = fit.passes();
    return r;
  }
  if (rows.gap_sum == 0) {  // every label is its row's max
    r.outcome = fit_outcome::zero_temperature;
    r.temperature = 0;
    r.nll_after = nll(x, y, {.temperature = 0, .threads = opt.threads});
    fit.count_pass();
    r.passes = fit.passes();
    return r;
  }
  if (rows.g_zero >= 0) {  // f'(0+) >= 0 and f convex: f increases in beta
    r.outcome = fit_outcome::infinite_temperature;
    r.temperature = HUGE_VAL;
    r.nll_after = std::log(static_cast<double>(x.cols));
    r.passes = fit.passes();
    return r;
  }

  // f' < 0 as beta -> 0+ and f' > 0 as beta -> inf: one root, kept in the
  // bracket (lo, hi) with f'(lo) < 0 < f'(hi). Each step solves for the root
  // in u = log beta, where f' is far closer to linear than in beta (the
  // tempered distributions sharpen exponentially in beta): Newton's step in
  // u with Halley's correction from the third derivative (cubic
  // convergence), the plain Newton step in u when the correction is
  // unusable. A step that is not finite or leaves the bracket is replaced:
  // an open bracket grows or shrinks by 4, a closed one is cut at its
  // geometric (then arithmetic) middle.
  double beta = 1, lo = 0, hi = HUGE_VAL;
  r.converged = false;
  for (int it = 0; it < opt.max_iterations; ++it) {
    if (s.g == 0) {
      r.converged = true;
      r.nll_after = s.f / n;
      break;
    }
    (s.g < 0 ? lo : hi) = beta;
    // G(u) = beta f'(beta) at beta = e^u and its u-derivatives: G vanishes
    // where f' does.
    const double b = beta;
    const double g0 = b * s.g;
    const double g1 = b * s.g + b * b * s.h;
    const double g2 = b * s.g + 3 * b * b * s.h + b * b * b * s.k;
    const double halley_den = 2 * g1 * g1 - g0 * g2;
    double du = halley_den > 0 ? -2 * g0 * g1 / halley_den : -g0 / g1;
    if (!(g1 > 0)) du = std::numeric_limits<double>::quiet_NaN();
    double next = std::abs(du) < 700 ? beta * std::exp(du) : HUGE_VAL;
    ++r.iterations;
    if (std::isfinite(next) && std::abs(next - beta) <= opt.tolerance * beta) {
      // Converged: the step is taken, and the NLL there follows from the
      // Taylor expansion at beta (the step is below the tolerance).
      const double step = next - beta;
      r.nll_after = (s.f + step * (s.g + 0.5 * step * s.h)) / n;
      beta = next;
      r.converged = true;
      break;
    }
    if (!(std::isfinite(next) && next > lo && next < hi)) {
      next = hi == HUGE_VAL ? 4 * beta
             : lo == 0      ? beta / 4
             : hi > 4 * lo  ? std::sqrt(lo * hi)
                            : 0.5 * (lo + hi);
    }
    if (hi - lo <= opt.tolerance * lo) {  // a bracket this tight is the answer
      beta = 0.5 * (lo + hi);
      s = fit.pass(rows, beta);
      r.nll_after = s.f / n;
      r.converged = true;
      break;
    }
    beta = next;
    s = fit.pass(rows, beta);
    r.nll_after = s.f / n;
  }
  r.temperature = 1 / beta;
  r.passes = fit.passes();
  return r;
}

template <class T>
double nll_impl(matrix_view<const T> x, std::span<const std::int64_t> y, const options& opt) {
  detail::check_matrix(x, "logits");
  if (x.rows == 0 || x.cols == 0) {
    throw error("logits must have at least one row and one column (got " + std::to_string(x.rows) +
                " x " + std::to_string(x.cols) + ")");
  }
  check_labels(y, x.rows, x.cols);
  detail::check_options(opt, x.rows);
  // kelvin's exact log_softmax in double, a block of rows at a time (float
  // rows widened exactly first): the float path would round each log p to float.
  const std::size_t block = block_rows(x.cols);
  const std::size_t blocks = (x.rows + block - 1) / block;
  const int threads = detail::plan_threads(opt.threads, x.rows, x.cols);
  std::vector<double> partial(blocks);
  std::vector<std::size_t> nan_row(blocks, x.rows);
  std::vector<std::string> failure(blocks);
  detail::parallel_for(blocks, threads, [&](std::size_t b) {
    const std::size_t r0 = b * block, rows = std::min(x.rows, r0 + block) - r0;
    thread_local std::vector<double> in, out;
    out.resize(rows * x.cols);
    matrix_view<const double> xd;
    if constexpr (sizeof(T) == 4) {
      in.resize(rows * x.cols);
      for (std::size_t r = 0; r < rows; ++r) {
        std::copy_n(x.row(r0 + r), x.cols, in.data() + r * x.cols);
      }
      xd = matrix_view<const double>(in.data(), rows, x.cols);
    } else {
      xd = matrix_view<const double>(x.row(r0), rows, x.cols, x.row_stride);
    }
    options o = opt;
    o.threads = 1;
    if (!opt.temperatures.empty()) o.temperatures = opt.temperatures.subspan(r0, rows);
    try {
      log_softmax(xd, matrix_view<double>(out.data(), rows, x.cols), o);
    } catch (const error& e) {  // bad temperatures: reported after the join
      failure[b] = e.what();
      return;
    }
    double s = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const double lp = out[r * x.cols + static_cast<std::size_t>(y[r0 + r])];
      if (std::isnan(lp)) {  // a NaN anywhere makes the whole row NaN
        nan_row[b] = r0 + r;
        return;
      }
      s -= lp;
    }
    partial[b] = s;
  });
  for (std::size_t b = 0; b < blocks; ++b) {
    if (!failure[b].empty()) throw error(failure[b]);
    if (nan_row[b] < x.rows) {
      throw error("logits row " + std::to_string(nan_row[b]) + " contains NaN");
    }
  }
  const double n = static_cast<double>(x.rows);
  double plain = 0;
  for (double p : partial) plain += p;
  if (!std::isfinite(plain)) return plain / n;  // a label at probability 0 (T == 0)
  detail::dd_sum s;
  for (double p : partial) s.add(p);
  return s.result().hi / n;
}

}  // namespace

fit_result fit_temperature(matrix_view<const float> logits, std::span<const std::int64_t> labels,
                           const fit_options& opt) {
  return fit(logits, labels, opt);
}
fit_result fit_temperature(matrix_view<const double> logits, std::span<const std::int64_t> labels,
                           const fit_options& opt) {
  return fit(logits, labels, opt);
}

double nll(matrix_view<const float> logits, std::span<const std::int64_t> labels,
           const options& opt) {
  return nll_impl(logits, labels, opt);
}
double nll(matrix_view<const double> logits, std::span<const std::int64_t> labels,
           const options& opt) {
  return nll_impl(logits, labels, opt);
}

}  // namespace kelvin
