// Calibration metrics over probabilities: accuracy, Brier score, reliability
// bins and the calibration errors built on them (docs/calibration.md).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "kelvin/calibration.hpp"
#include "src/calibration_checks.hpp"
#include "src/kernels/kernels.hpp"
#include "src/threads.hpp"

namespace kelvin {
namespace {

using detail::format_double;

void check_bin_options(const bin_options& opt) {
  if (opt.bins < 1) {
    throw error("bins must be >= 1 (got " + std::to_string(opt.bins) + ")");
  }
  if (opt.strategy != binning::uniform && opt.strategy != binning::quantile) {
    throw error("bin_options.strategy must be binning::uniform or binning::quantile (got " +
                std::to_string(static_cast<int>(opt.strategy)) + ")");
  }
}

template <class T>
void check_probs(matrix_view<const T> p, std::span<const std::int64_t> y) {
  detail::check_matrix(p, "probs");
  if (p.rows == 0 || p.cols == 0) {
    throw error("probs must have at least one row and one column (got " + std::to_string(p.rows) +
                " x " + std::to_string(p.cols) + ")");
  }
  detail::check_labels(y, p.rows, p.cols);
}

// Each row's confidence (its largest probability) and whether its prediction
// (the first index holding it) is the label; every entry checked in [0, 1].
struct predictions {
  std::vector<double> confidence;
  std::vector<unsigned char> correct;
};

template <class T>
predictions predict(matrix_view<const T> p, std::span<const std::int64_t> y) {
  check_probs(p, y);
  predictions out;
  out.confidence.resize(p.rows);
  out.correct.resize(p.rows);
  constexpr std::size_t kBlock = 256;
  const std::size_t blocks = (p.rows + kBlock - 1) / kBlock;
  std::vector<std::size_t> bad(blocks, p.rows);
  detail::parallel_for(blocks, detail::plan_threads(0, p.rows, p.cols), [&](std::size_t b) {
    for (std::size_t r = b * kBlock; r < std::min(p.rows, (b + 1) * kBlock); ++r) {
      const T* row = p.row(r);
      std::size_t arg = 0;
      bool ok = true;
      for (std::size_t c = 0; c < p.cols; ++c) {
        ok &= row[c] >= 0 && row[c] <= 1;  // false for NaN
        if (row[c] > row[arg]) arg = c;
      }
      if (!ok) {
        bad[b] = r;
        return;
      }
      out.confidence[r] = static_cast<double>(row[arg]);
      out.correct[r] = static_cast<std::int64_t>(arg) == y[r];
    }
  });
  for (std::size_t r : bad) {
    if (r == p.rows) continue;
    for (std::size_t c = 0; c < p.cols; ++c) {
      const double v = static_cast<double>(p.row(r)[c]);
      if (!(v >= 0 && v <= 1)) {
        throw error("probs[" + std::to_string(r) + ", " + std::to_string(c) +
                    "] must be in [0, 1] (got " + format_double(v) + ")");
      }
    }
  }
  return out;
}

// The bin of v among B equal-width bins (k/B, (k+1)/B], bin 0 also holding
// [.., 0]: the first b with v <= (b+1)/B, edges k/B rounded to double.
int uniform_bin(double v, int bins) {
  const double b_real = std::ceil(v * bins) - 1;
  int b = static_cast<int>(std::clamp(b_real, 0.0, static_cast<double>(bins - 1)));
  // v * bins rounds: settle against the edges themselves.
  while (b > 0 && v <= static_cast<double>(b) / bins) --b;
  while (b < bins - 1 && v > static_cast<double>(b + 1) / bins) ++b;
  return b;
}

// Bins of values v_i with outcomes hit_i, by opt.strategy.
std::vector<reliability_bin> make_bins(std::span<const double> v,
                                       std::span<const unsigned char> hit, const bin_options& opt) {
  const std::size_t n = v.size();
  const int bins = opt.bins;
  std::vector<reliability_bin> out(static_cast<std::size_t>(bins));
  std::vector<detail::dd_sum> conf(out.size());
  std::vector<std::size_t> hits(out.size());
  const auto add = [&](std::size_t b, std::size_t i) {
    ++out[b].count;
    conf[b].add(v[i]);
    hits[b] += hit[i];
  };
  if (opt.strategy == binning::uniform) {
    for (int b = 0; b < bins; ++b) {
      out[static_cast<std::size_t>(b)].lower = static_cast<double>(b) / bins;
      out[static_cast<std::size_t>(b)].upper = static_cast<double>(b + 1) / bins;
    }
    for (std::size_t i = 0; i < n; ++i) add(static_cast<std::size_t>(uniform_bin(v[i], bins)), i);
  } else {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
    for (std::size_t b = 0; b < out.size(); ++b) {
      const std::size_t begin = b * n / out.size(), end = (b + 1) * n / out.size();
      for (std::size_t k = begin; k < end; ++k) add(b, order[k]);
      if (end > begin) {
        out[b].lower = v[order[begin]];
        out[b].upper = v[order[end - 1]];
      }
    }
  }
  for (std::size_t b = 0; b < out.size(); ++b) {
    if (out[b].count == 0) continue;
    const double c = static_cast<double>(out[b].count);
    out[b].confidence = conf[b].result().hi / c;
    out[b].accuracy = static_cast<double>(hits[b]) / c;
  }
  return out;
}

double ece_of(const std::vector<reliability_bin>& bins, std::size_t n) {
  detail::dd_sum s;
  for (const reliability_bin& b : bins) {
    if (b.count == 0) continue;
    s.add(static_cast<double>(b.count) / static_cast<double>(n) *
          std::abs(b.accuracy - b.confidence));
  }
  return s.result().hi;
}

template <class T>
std::vector<reliability_bin> reliability_impl(matrix_view<const T> p,
                                              std::span<const std::int64_t> y,
                                              const bin_options& opt) {
  check_bin_options(opt);
  const predictions pr = predict(p, y);
  return make_bins(pr.confidence, pr.correct, opt);
}

template <class T>
double accuracy_impl(matrix_view<const T> p, std::span<const std::int64_t> y) {
  const predictions pr = predict(p, y);
  const std::size_t right = std::accumulate(pr.correct.begin(), pr.correct.end(), std::size_t{0});
  return static_cast<double>(right) / static_cast<double>(p.rows);
}

template <class T>
double brier_impl(matrix_view<const T> p, std::span<const std::int64_t> y) {
  predict(p, y);  // the checks
  detail::dd_sum s;
  for (std::size_t r = 0; r < p.rows; ++r) {
    const T* row = p.row(r);
    double sr = 0;
    for (std::size_t c = 0; c < p.cols; ++c) {
      const double d = static_cast<double>(row[c]) - (static_cast<std::int64_t>(c) == y[r] ? 1 : 0);
      sr += d * d;
    }
    s.add(sr);
  }
  return s.result().hi / static_cast<double>(p.rows);
}

template <class T>
double ece_impl(matrix_view<const T> p, std::span<const std::int64_t> y, const bin_options& opt) {
  return ece_of(reliability_impl(p, y, opt), p.rows);
}

template <class T>
double mce_impl(matrix_view<const T> p, std::span<const std::int64_t> y, const bin_options& opt) {
  double m = 0;
  for (const reliability_bin& b : reliability_impl(p, y, opt)) {
    if (b.count > 0) m = std::max(m, std::abs(b.accuracy - b.confidence));
  }
  return m;
}

template <class T>
double classwise_impl(matrix_view<const T> p, std::span<const std::int64_t> y,
                      const bin_options& opt) {
  check_bin_options(opt);
  predict(p, y);  // the checks
  std::vector<double> v(p.rows);
  std::vector<unsigned char> hit(p.rows);
  detail::dd_sum total;
  for (std::size_t c = 0; c < p.cols; ++c) {
    for (std::size_t r = 0; r < p.rows; ++r) {
      v[r] = static_cast<double>(p.row(r)[c]);
      hit[r] = static_cast<std::size_t>(y[r]) == c;
    }
    total.add(ece_of(make_bins(v, hit, opt), p.rows));
  }
  return total.result().hi / static_cast<double>(p.cols);
}

}  // namespace

std::vector<reliability_bin> reliability(matrix_view<const float> probs,
                                         std::span<const std::int64_t> labels,
                                         const bin_options& opt) {
  return reliability_impl(probs, labels, opt);
}
std::vector<reliability_bin> reliability(matrix_view<const double> probs,
                                         std::span<const std::int64_t> labels,
                                         const bin_options& opt) {
  return reliability_impl(probs, labels, opt);
}
double accuracy(matrix_view<const float> probs, std::span<const std::int64_t> labels) {
  return accuracy_impl(probs, labels);
}
double accuracy(matrix_view<const double> probs, std::span<const std::int64_t> labels) {
  return accuracy_impl(probs, labels);
}
double brier_score(matrix_view<const float> probs, std::span<const std::int64_t> labels) {
  return brier_impl(probs, labels);
}
double brier_score(matrix_view<const double> probs, std::span<const std::int64_t> labels) {
  return brier_impl(probs, labels);
}
double expected_calibration_error(matrix_view<const float> probs,
                                  std::span<const std::int64_t> labels, const bin_options& opt) {
  return ece_impl(probs, labels, opt);
}
double expected_calibration_error(matrix_view<const double> probs,
                                  std::span<const std::int64_t> labels, const bin_options& opt) {
  return ece_impl(probs, labels, opt);
}
double maximum_calibration_error(matrix_view<const float> probs,
                                 std::span<const std::int64_t> labels, const bin_options& opt) {
  return mce_impl(probs, labels, opt);
}
double maximum_calibration_error(matrix_view<const double> probs,
                                 std::span<const std::int64_t> labels, const bin_options& opt) {
  return mce_impl(probs, labels, opt);
}
double classwise_calibration_error(matrix_view<const float> probs,
                                   std::span<const std::int64_t> labels, const bin_options& opt) {
  return classwise_impl(probs, labels, opt);
}
double classwise_calibration_error(matrix_view<const double> probs,
                                   std::span<const std::int64_t> labels, const bin_options& opt) {
  return classwise_impl(probs, labels, opt);
}

}  // namespace kelvin
