// Drivers of the loss family: the cross-entropy row every loss reduces to,
// cross_entropy (labels and probabilities), info_nce, distillation, and the
// backward of softmax and log_softmax. The embedding losses (BLAS products)
// are in src/loss_embeddings.cpp. The formulas and limits are in docs/loss.md.
#include "kelvin/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "src/loss_internal.hpp"
#include "src/threads.hpp"

namespace kelvin {
namespace detail {

void loss_check_threads(int threads) {
  if (threads < 0) {
    throw error("options.threads must be >= 0 (got " + std::to_string(threads) + ")");
  }
}

void loss_check_reduction(reduction r) {
  if (r != reduction::mean && r != reduction::sum && r != reduction::none) {
    throw error("options.reduce must be reduction::mean, ::sum or ::none (got " +
                std::to_string(static_cast<int>(r)) + ")");
  }
}

void loss_check_labels(std::span<const std::int64_t> labels, std::size_t rows, std::size_t classes,
                       bool allow_ignore, std::int64_t ignore_index) {
  if (labels.size() != rows) {
    throw error("labels has " + std::to_string(labels.size()) + " entries but there are " +
                std::to_string(rows) + " rows");
  }
  if (rows != 0 && labels.data() == nullptr) throw error("labels is null");
  for (std::size_t i = 0; i < rows; ++i) {
    const std::int64_t l = labels[i];
    if (allow_ignore && l == ignore_index) continue;
    if (l < 0 || static_cast<std::uint64_t>(l) >= classes) {
      throw error("labels[" + std::to_string(i) + "] = " + std::to_string(l) +
                  " is out of range [0, " + std::to_string(classes) + ")" +
                  (allow_ignore ? " and is not ignore_index " + std::to_string(ignore_index)
                                : std::string()));
    }
  }
}

namespace {

// Where the loss is a limit (T == 0, T == +inf, +inf logits): p is the
// contract's exact softmax limit, so -log p_j is 0, log k or +inf.
template <class X, class Q>
row_loss ce_row_limit(std::size_t c, double t, X* p, double w, double sq, Q&& q) {
  const bool grad = !std::isnan(w);
  double loss = 0;
  for (std::size_t j = 0; j < c; ++j) {
    const double qj = q(j);
    if (qj != 0) loss += qj * -std::log(static_cast<double>(p[j]));
  }
  if (grad) {
    for (std::size_t j = 0; j < c; ++j) {
      const double d = sq * static_cast<double>(p[j]) - q(j);
      double g;
      if (t == kInf) {
        g = 0;  // a finite difference over an infinite temperature
      } else if (t == 0) {
        // (p - q) / T -> 0 where the limit of p is q (it converges
        // exponentially fast), else it diverges.
        g = d == 0 ? 0.0 : std::copysign(kInf, d) * w;
      } else {
        g = w * d / t;  // +inf logits at finite T: p is exactly its limit
      }
      p[j] = static_cast<X>(g);
    }
  }
  // The loss is constant in T at these limits, except a divergent loss at
  // T -> 0, which falls like c / T.
  return {loss, (t == 0 && loss == kInf) ? -kInf : 0.0};
}

template <class X>
void fill_row(X* p, std::size_t c, double v) {
  std::fill(p, p + c, static_cast<X>(v));
}

}  // namespace

namespace {

// The rows the general path does not take: T == 0 or +inf, +inf logits,
// NaN, every class masked. p gets the softmax (the contract's limits).
template <class X>
row_loss ce_row_special(const X* x, std::size_t c, double t, const row_target<X>& tg, X* p,
                        double w) {
  const bool grad = !std::isnan(w);
  double m;
  bool nan;
  scan_row(x, c, m, nan);
  if (nan || c == 0 || m == -kInf) {
    // NaN logits, or every class masked: 0/0.
    if (grad) fill_row(p, c, kNaN);
    return {kNaN, kNaN};
  }
  options so;
  so.temperature = t;
  so.threads = 1;
  softmax(std::span<const X>(x, c), std::span<X>(p, c), so);
  const double eps = tg.smoothing;
  const double eps_c = eps / static_cast<double>(c);
  if (tg.probs == nullptr) {
    const auto lt = static_cast<std::size_t>(tg.label);
    return ce_row_limit(c, t, p, w, 1.0,
                        [&](std::size_t j) { return eps_c + (j == lt ? 1 - eps : 0.0); });
  }
  const double sq = (1 - eps) * row_sum(tg.probs, c) + eps;
  return ce_row_limit(c, t, p, w, sq, [&](std::size_t j) {
    return (1 - eps) * static_cast<double>(tg.probs[j]) + eps_c;
  });
}

}  // namespace

template <class X>
row_loss ce_row(const X* x, std::size_t c, double t, const row_target<X>& tg, X* p, double w) {
  const bool grad = !std::isnan(w);
  const bool labels = tg.probs == nullptr;
  const auto lt = static_cast<std::size_t>(labels ? tg.label : 0);
  // Sums are taken relative to a finite reference logit r (the target's, for
  // labels), so that the row needs no scan of its own before the softmax:
  // the one pass after it finds the max, and any NaN or +inf.
  if (t == 0 || t == kInf || c == 0) return ce_row_special(x, c, t, tg, p, w);
  double ref = static_cast<double>(x[lt]);
  for (std::size_t j = 0; !std::isfinite(ref); ++j) {  // a masked target: any finite logit
    if (j == c) return ce_row_special(x, c, t, tg, p, w);
    ref = static_cast<double>(x[j]);
  }
  options so;
  so.temperature = t;
  so.threads = 1;
  softmax(std::span<const X>(x, c), std::span<X>(p, c), so);

  const double eps = tg.smoothing;
  const double eps_c = eps / static_cast<double>(c);
  const double scale = grad ? w / t : 0.0;
  const double pt = static_cast<double>(p[lt]);
  const double sq = labels ? 1.0 : (1 - eps) * row_sum(tg.probs, c) + eps;
  const row_pass r = labels ? pass_labels(x, p, c, ref, eps_c, scale, grad, eps > 0)
                            : pass_probs(x, p, tg.probs, c, ref, 1 - eps, eps_c, sq, scale, grad);
  if (r.nan || r.xmax == kInf) return ce_row_special(x, c, t, tg, p, w);
  const double m = r.xmax;
  const double log_s = log_s_from(r);
  if (!labels) {
    // sum_j q_j (m - x_j) = (m - r) sq - sum_j q_j (x_j - r)
    const double sqm = (m - ref) * sq - r.sx;
    return {sq * log_s + sqm / t, -(sq * r.sp - r.sx) / (t * t)};
  }
  // The target's loss (m - x_t) / T + log S, exactly log S at the max.
  const double xt = static_cast<double>(x[lt]);
  const double loss_t = xt == m ? log_s : (m - xt) / t + log_s;
  double loss = (1 - eps) * loss_t;
  double sqx = (1 - eps) * (xt - ref);  // sum_j q_j (x_j - r)
  if (eps > 0) {
    loss += eps * log_s + eps_c * (static_cast<double>(c) * (m - ref) - r.sx) / t;
    sqx += eps_c * r.sx;
  }
  if (grad) {
    // p_t - 1 directly loses everything when p_t rounds to 1.
    const double pt_minus_1 = (pt > 0.5 && r.nbig == 1) ? -r.small : pt - 1;
    p[lt] = static_cast<X>((pt_minus_1 + eps - eps_c) * scale);
  }
  return {loss, -(r.sp - sqx) / (t * t)};
}

template row_loss ce_row<float>(const float*, std::size_t, double, const row_target<float>&, float*,
                                double);
template row_loss ce_row<double>(const double*, std::size_t, double, const row_target<double>&,
                                 double*, double);

namespace {

template <class X>
void check_ce_common(matrix_view<const X> x, const loss_options& opt, matrix_view<X> g,
                     std::span<X> losses, bool& has_g) {
  loss_check_matrix(x, "logits");
  check_temperature(opt.temperature, "temperature");
  loss_check_reduction(opt.reduce);
  loss_check_threads(opt.threads);
  if (!(opt.label_smoothing >= 0 && opt.label_smoothing <= 1)) {
    throw error("label_smoothing must be in [0, 1] (got " + format_double(opt.label_smoothing) +
                ")");
  }
  has_g = loss_check_output(g, x.rows, x.cols, "grad");
  if (has_g) loss_check_disjoint(g, x, "grad", "logits");
  if (opt.reduce == reduction::none) {
    if (losses.size() != x.rows) {
      throw error("losses has " + std::to_string(losses.size()) +
                  " entries; reduction none needs one per row (" + std::to_string(x.rows) + ")");
    }
  } else if (!losses.empty()) {
    throw error("losses must be empty unless reduction is none");
  }
  if (x.rows != 0 && x.cols == 0) throw error("logits has rows but no classes");
}

// Rows over threads, then a fixed-order reduction: results never depend on
// the thread count. `row(i, p, w)` returns row i's loss and dL/dT.
template <class X, class Row>
loss_value run_rows(matrix_view<const X> x, matrix_view<X> g, bool has_g, int threads,
                    std::span<X> losses, const std::vector<double>& weight, Row&& row) {
  const std::size_t n = x.rows, c = x.cols;
  std::vector<double> rl(n), rd(n);
  const int nt = plan_threads(threads, n, c);
  parallel_for(n, nt, [&](std::size_t i) {
    X* p = has_g ? g.row(i) : scratch_row<X>(c);
    const row_loss r = row(i, p, has_g ? weight[i] : kNaN);
    rl[i] = r.loss;
    rd[i] = r.d_temperature;
  });
  loss_value v{0, 0};
  for (std::size_t i = 0; i < n; ++i) {
    if (!losses.empty()) losses[i] = static_cast<X>(rl[i]);
    if (weight[i] == 0) continue;  // ignored rows (their gradient is 0)
    v.loss += weight[i] * rl[i];
    v.d_temperature += weight[i] * rd[i];
  }
  if (!has_g) v.d_temperature = kNaN;
  return v;
}

template <class X>
loss_value ce_labels(matrix_view<const X> x, const std::int64_t* labels, const loss_options& opt,
                     matrix_view<X> g, std::span<X> losses) {
  bool has_g;
  check_ce_common(x, opt, g, losses, has_g);
  const std::size_t n = x.rows, c = x.cols;
  std::vector<double> weight(n, 1.0);
  std::size_t valid = n;
  if (labels != nullptr) {
    valid = 0;
    for (std::size_t i = 0; i < n; ++i) valid += labels[i] != opt.ignore_index;
  }
  // PyTorch's mean divides by the non-ignored rows (0/0 = NaN when none is).
  const double w = opt.reduce == reduction::mean ? 1.0 / static_cast<double>(valid) : 1.0;
  for (std::size_t i = 0; i < n; ++i) {
    weight[i] = (labels != nullptr && labels[i] == opt.ignore_index) ? 0.0 : w;
  }
  loss_value v = run_rows<X>(
      x, g, has_g, opt.threads, losses, weight, [&](std::size_t i, X* p, double wi) -> row_loss {
        if (weight[i] == 0) {
          if (has_g) fill_row(p, c, 0.0);
          return {0, 0};
        }
        const std::int64_t l = labels ? labels[i] : 0;
        return ce_row<X>(x.row(i), c, opt.temperature, {l, nullptr, opt.label_smoothing}, p, wi);
      });
  if (opt.reduce == reduction::mean && valid == 0) v.loss = kNaN;
  return v;
}

template <class X>
loss_value ce_probs(matrix_view<const X> x, matrix_view<const X> q, const loss_options& opt,
                    matrix_view<X> g, std::span<X> losses) {
  bool has_g;
  check_ce_common(x, opt, g, losses, has_g);
  loss_check_matrix(q, "targets");
  loss_check_same_shape(q, "targets", x.rows, x.cols, "logits");
  if (has_g) loss_check_disjoint(g, q, "grad", "targets");
  const std::size_t n = x.rows, c = x.cols;
  const double w = opt.reduce == reduction::mean ? 1.0 / static_cast<double>(n) : 1.0;
  std::vector<double> weight(n, w);
  loss_value v =
      run_rows<X>(x, g, has_g, opt.threads, losses, weight, [&](std::size_t i, X* p, double wi) {
        return ce_row<X>(x.row(i), c, opt.temperature, {-1, q.row(i), opt.label_smoothing}, p, wi);
      });
  if (n == 0 && opt.reduce == reduction::mean) v.loss = kNaN;
  return v;
}

template <class X>
double log_s_of(const X* p, std::size_t c) {
  return log_s_from(pass_mass(p, c));
}

template <class X>
loss_value distill(matrix_view<const X> s, matrix_view<const X> u,
                   std::span<const std::int64_t> labels, const loss_options& opt,
                   matrix_view<X> g) {
  loss_check_matrix(s, "student");
  loss_check_matrix(u, "teacher");
  loss_check_same_shape(u, "teacher", s.rows, s.cols, "student");
  loss_check_threads(opt.threads);
  const double t = opt.temperature;
  check_temperature(t, "temperature");
  if (t == 0 || t == kInf) {
    throw error("distillation needs 0 < temperature < inf (got " + format_double(t) +
                "): T^2 * KL has no useful limit there");
  }
  const double alpha = opt.alpha;
  if (!(alpha >= 0 && alpha <= 1)) {
    throw error("alpha must be in [0, 1] (got " + format_double(alpha) + ")");
  }
  const bool with_labels = !labels.empty();
  if (!with_labels && alpha != 0) {
    throw error("distillation without labels needs alpha == 0 (got " + format_double(alpha) + ")");
  }
  const std::size_t n = s.rows, c = s.cols;
  if (n != 0 && c == 0) throw error("student has rows but no classes");
  if (with_labels) loss_check_labels(labels, n, c, false, 0);
  const bool has_g = loss_check_output(g, n, c, "grad");
  if (has_g) loss_check_disjoint(g, s, "grad", "student");
  if (has_g) loss_check_disjoint(g, u, "grad", "teacher");
  const double inv_n = 1.0 / static_cast<double>(n);
  std::vector<double> weight(n, inv_n);
  loss_value v = run_rows<X>(
      s, g, has_g, opt.threads, {}, weight, [&](std::size_t i, X* ps, double wi) -> row_loss {
        const bool grad = !std::isnan(wi);
        const X* sr = s.row(i);
        const X* ur = u.row(i);
        double ms, mu;
        bool nan_s, nan_u;
        scan_row(sr, c, ms, nan_s);
        scan_row(ur, c, mu, nan_u);
        double hard = 0;
        X* hard_g = scratch_row<X>(c, 2);
        if (alpha > 0) {
          const row_loss h =
              ce_row<X>(sr, c, 1.0, {labels[i], nullptr, 0.0}, hard_g, grad ? alpha * wi : kNaN);
          hard = h.loss;
        }
        if (nan_s || nan_u || ms == kInf || mu == kInf || ms == -kInf || mu == -kInf) {
          if (grad) fill_row(ps, c, kNaN);
          return {kNaN, kNaN};
        }
        options so;
        so.temperature = t;
        so.threads = 1;
        X* pu = scratch_row<X>(c, 1);
        softmax(std::span<const X>(sr, c), std::span<X>(ps, c), so);
        softmax(std::span<const X>(ur, c), std::span<X>(pu, c), so);
        // shift = log S_u - log S_s = log sum_j ps_j exp(v_j), v_j = ((u_j - mu) -
        // (s_j - ms)) / T: as log1p(sum ps_j expm1(v_j)) it stays accurate when
        // the two distributions are close (large T), where T^2 * KL magnifies
        // any absolute error. A class the student gives 0 while the teacher
        // does not falls back to the difference of the two log S.
        double shift;
        {
          double acc = 0;
          bool lost = false;
          for (std::size_t j = 0; j < c; ++j) {
            const double psj = static_cast<double>(ps[j]);
            if (psj == 0) {
              lost |= pu[j] != 0;
              continue;
            }
            const double vj =
                ((static_cast<double>(ur[j]) - mu) - (static_cast<double>(sr[j]) - ms)) / t;
            acc += psj * std::expm1(vj);
          }
          shift = lost ? log_s_of(pu, c) - log_s_of(ps, c) : std::log1p(acc);
        }
        // KL = sum_k pu_k D_k with D_k = lpu_k - lps_k; dKL/dT (homogeneity in
        // (s, u) / T) = -(A1 + A2 - KL * A3) / T^2.
        double kl = 0, a1 = 0, a2 = 0, a3 = 0;
        const double gs = (1 - alpha) * t * wi;
        for (std::size_t j = 0; j < c; ++j) {
          const double psj = static_cast<double>(ps[j]);
          const double puj = static_cast<double>(pu[j]);
          const double sj = static_cast<double>(sr[j]) - ms;
          const double uj = static_cast<double>(ur[j]) - mu;
          if (psj != puj) a1 += sj * (psj - puj);
          if (puj != 0) {
            const double d = (uj - sj) / t - shift;
            kl += puj * d;
            a2 += puj * uj * d;
            a3 += puj * uj;
          }
          if (grad) {
            double gj = gs * (psj - puj);
            if (alpha > 0) gj += static_cast<double>(hard_g[j]);
            ps[j] = static_cast<X>(gj);
          }
        }
        const double dkl = -(a1 + a2 - kl * a3) / (t * t);
        const double loss = alpha * hard + (1 - alpha) * t * t * kl;
        return {loss, (1 - alpha) * (2 * t * kl + t * t * dkl)};
      });
  if (n == 0) v.loss = kNaN;
  return v;
}

// Backward of softmax and log_softmax, per row.
template <class X, bool kLog>
void backward(matrix_view<const X> y, matrix_view<const X> dy, matrix_view<X> dx,
              std::span<double> dt, const options& opt) {
  const char* yn = kLog ? "z" : "y";
  const char* dyn = kLog ? "dz" : "dy";
  loss_check_matrix(y, yn);
  loss_check_matrix(dy, dyn);
  loss_check_same_shape(dy, dyn, y.rows, y.cols, yn);
  loss_check_threads(opt.threads);
  if (!loss_check_output(dx, y.rows, y.cols, "dx") && y.rows * y.cols != 0) {
    throw error("dx must be a " + std::to_string(y.rows) + " x " + std::to_string(y.cols) +
                " view");
  }
  if (!dt.empty() && dt.size() != y.rows) {
    throw error("d_temperature has " + std::to_string(dt.size()) +
                " entries; it must be empty or hold one per row (" + std::to_string(y.rows) + ")");
  }
  if (opt.temperatures.empty()) {
    check_temperature(opt.temperature, "temperature");
  } else {
    if (opt.temperatures.size() != y.rows) {
      throw error("options.temperatures has " + std::to_string(opt.temperatures.size()) +
                  " entries; one per row is required (" + std::to_string(y.rows) + ")");
    }
    for (double t : opt.temperatures) check_temperature(t, "options.temperatures[i]");
  }
  const std::size_t n = y.rows, c = y.cols;
  parallel_for(n, plan_threads(opt.threads, n, c), [&](std::size_t i) {
    const double t = opt.temperatures.empty() ? opt.temperature : opt.temperatures[i];
    const X* yr = y.row(i);
    const X* dyr = dy.row(i);
    X* dxr = dx.row(i);
    double s = 0;  // softmax: <y, dy>; log_softmax: sum dz
    for (std::size_t j = 0; j < c; ++j) {
      s += kLog ? static_cast<double>(dyr[j])
                : static_cast<double>(yr[j]) * static_cast<double>(dyr[j]);
    }
    double d_t = 0;
    bool diverges = false;
    for (std::size_t j = 0; j < c; ++j) {
      const double yj = static_cast<double>(yr[j]);
      const double dyj = static_cast<double>(dyr[j]);
      // The gradient with respect to x / T; dx is that over T.
      const double num = kLog ? dyj - std::exp(yj) * s : yj * (dyj - s);
      double g;
      if (t == kInf) {
        g = 0;
      } else if (t == 0) {
        g = num == 0 ? 0.0 : std::copysign(kInf, num);
        diverges |= num != 0;
      } else {
        g = num / t;
      }
      // dL/dT = -(1/T) sum x_j dx_j = -sum log(y_j) dx_j (sum dx = 0).
      if (g != 0) d_t -= (kLog ? yj : std::log(yj)) * g;
      dxr[j] = static_cast<X>(g);
    }
    if (t == kInf) d_t = 0;
    if (t == 0) d_t = diverges ? kNaN : 0.0;
    if (!dt.empty()) dt[i] = d_t;
  });
}

}  // namespace
}  // namespace detail

loss_value cross_entropy(matrix_view<const float> logits, std::span<const std::int64_t> labels,
                         const loss_options& opt, matrix_view<float> grad,
                         std::span<float> losses) {
  detail::loss_check_matrix(logits, "logits");
  detail::loss_check_labels(labels, logits.rows, logits.cols, true, opt.ignore_index);
  return detail::ce_labels(logits, labels.data(), opt, grad, losses);
}
loss_value cross_entropy(matrix_view<const double> logits, std::span<const std::int64_t> labels,
                         const loss_options& opt, matrix_view<double> grad,
                         std::span<double> losses) {
  detail::loss_check_matrix(logits, "logits");
  detail::loss_check_labels(labels, logits.rows, logits.cols, true, opt.ignore_index);
  return detail::ce_labels(logits, labels.data(), opt, grad, losses);
}
loss_value cross_entropy(matrix_view<const float> logits, matrix_view<const float> targets,
                         const loss_options& opt, matrix_view<float> grad,
                         std::span<float> losses) {
  return detail::ce_probs(logits, targets, opt, grad, losses);
}
loss_value cross_entropy(matrix_view<const double> logits, matrix_view<const double> targets,
                         const loss_options& opt, matrix_view<double> grad,
                         std::span<double> losses) {
  return detail::ce_probs(logits, targets, opt, grad, losses);
}

namespace {
template <class X>
loss_value info_nce_impl(matrix_view<const X> logits, const loss_options& opt,
                         matrix_view<X> grad) {
  detail::loss_check_matrix(logits, "logits");
  if (logits.rows != 0 && logits.cols < 1) {
    throw error("info_nce logits need at least 1 column (the positive); got " +
                std::to_string(logits.cols));
  }
  loss_options o = opt;
  o.reduce = reduction::mean;
  o.label_smoothing = 0;
  return detail::ce_labels(logits, nullptr, o, grad, {});
}
}  // namespace

loss_value info_nce(matrix_view<const float> logits, const loss_options& opt,
                    matrix_view<float> grad) {
  return info_nce_impl(logits, opt, grad);
}
loss_value info_nce(matrix_view<const double> logits, const loss_options& opt,
                    matrix_view<double> grad) {
  return info_nce_impl(logits, opt, grad);
}

loss_value distillation(matrix_view<const float> student, matrix_view<const float> teacher,
                        std::span<const std::int64_t> labels, const loss_options& opt,
                        matrix_view<float> grad) {
  return detail::distill(student, teacher, labels, opt, grad);
}
loss_value distillation(matrix_view<const double> student, matrix_view<const double> teacher,
                        std::span<const std::int64_t> labels, const loss_options& opt,
                        matrix_view<double> grad) {
  return detail::distill(student, teacher, labels, opt, grad);
}

void softmax_backward(matrix_view<const float> y, matrix_view<const float> dy,
                      matrix_view<float> dx, std::span<double> d_temperature, const options& opt) {
  detail::backward<float, false>(y, dy, dx, d_temperature, opt);
}
void softmax_backward(matrix_view<const double> y, matrix_view<const double> dy,
                      matrix_view<double> dx, std::span<double> d_temperature, const options& opt) {
  detail::backward<double, false>(y, dy, dx, d_temperature, opt);
}
void log_softmax_backward(matrix_view<const float> z, matrix_view<const float> dz,
                          matrix_view<float> dx, std::span<double> d_temperature,
                          const options& opt) {
  detail::backward<float, true>(z, dz, dx, d_temperature, opt);
}
void log_softmax_backward(matrix_view<const double> z, matrix_view<const double> dz,
                          matrix_view<double> dx, std::span<double> d_temperature,
                          const options& opt) {
  detail::backward<double, true>(z, dz, dx, d_temperature, opt);
}

}  // namespace kelvin
