// The losses over a similarity matrix of L2-normalised features: CLIP's
// symmetric loss and NormFace / CosFace / ArcFace. Formulas in docs/loss.md.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <span>
#include <vector>

#include "kelvin/loss.hpp"
#include "src/loss_blas.hpp"
#include "src/loss_internal.hpp"
#include "src/threads.hpp"

namespace kelvin {
namespace detail {
namespace {

// --- clip --------------------------------------------------------------------

template <class X>
loss_value clip_impl(matrix_view<const X> img, matrix_view<const X> txt, double log_scale,
                     const loss_options& opt, matrix_view<X> gi, matrix_view<X> gt) {
  loss_check_matrix(img, "image_features");
  loss_check_matrix(txt, "text_features");
  loss_check_same_shape(txt, "text_features", img.rows, img.cols, "image_features");
  loss_check_threads(opt.threads);
  if (std::isnan(log_scale) || log_scale == kInf) {
    throw error("log_scale must be finite or -inf (got " + format_double(log_scale) + ")");
  }
  const std::size_t n = img.rows, d = img.cols;
  const bool has_gi = loss_check_output(gi, n, d, "grad_image");
  const bool has_gt = loss_check_output(gt, n, d, "grad_text");
  const bool grad = has_gi || has_gt;
  if (n == 0) return {kNaN, grad ? 0.0 : kNaN};
  if (!all_finite(img) || !all_finite(txt)) {
    if (has_gi) fill_view(gi, kNaN);
    if (has_gt) fill_view(gt, kNaN);
    return {kNaN, kNaN};
  }
  // CLIP clamps the learnt scale at 100; its gradient stops while it holds.
  const double raw = std::exp(log_scale);
  const bool clamped = raw > 100;
  const double s = clamped ? 100.0 : raw;
  std::vector<double> ni, nt;
  const std::vector<X> ih = normalized(img, true, ni);
  const std::vector<X> th = normalized(txt, true, nt);
  const int threads = plan_threads(opt.threads, n, n);
  std::vector<X> sim(n * n);  // cos(image_i, text_j), then dL/dcos
  {
    blas_threads bt(threads);
    gemm(false, true, n, n, d, 1.0, ih.data(), d, th.data(), d, 0.0, sim.data(), n);
  }
  // log-sum-exp of s * cos over each row (image -> text) and column.
  std::vector<double> rlz(n), clz(n);
  parallel_for(n, threads, [&](std::size_t i) {
    const X* r = &sim[i * n];
    double m = -kInf;
    for (std::size_t j = 0; j < n; ++j) m = std::max(m, s * static_cast<double>(r[j]));
    double acc = 0;
    for (std::size_t j = 0; j < n; ++j) acc += std::exp(s * static_cast<double>(r[j]) - m);
    rlz[i] = m + std::log(acc);
  });
  const std::size_t cb = 64, cblocks = (n + cb - 1) / cb;
  parallel_for(cblocks, threads, [&](std::size_t b) {
    const std::size_t j0 = b * cb, j1 = std::min(n, j0 + cb);
    double m[64], acc[64];
    for (std::size_t j = j0; j < j1; ++j) m[j - j0] = -kInf, acc[j - j0] = 0;
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = j0; j < j1; ++j) {
        m[j - j0] = std::max(m[j - j0], s * static_cast<double>(sim[i * n + j]));
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = j0; j < j1; ++j) {
        acc[j - j0] += std::exp(s * static_cast<double>(sim[i * n + j]) - m[j - j0]);
      }
    }
    for (std::size_t j = j0; j < j1; ++j) clz[j] = m[j - j0] + std::log(acc[j - j0]);
  });
  double loss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double z = s * static_cast<double>(sim[i * n + i]);
    loss += (rlz[i] - z) + (clz[i] - z);
  }
  const double w = 1.0 / (2.0 * static_cast<double>(n));
  loss *= w;
  if (!grad) return {loss, kNaN};
  // dL/d(s cos_ij) = w (softmax_row + softmax_col - 2 delta); dL/ds = sum of
  // that times cos; dL/dcos = s times it.
  std::vector<double> ds_rows(n);
  parallel_for(n, threads, [&](std::size_t i) {
    X* r = &sim[i * n];
    double acc = 0;
    for (std::size_t j = 0; j < n; ++j) {
      const double c = static_cast<double>(r[j]);
      const double z = s * c;
      double g = std::exp(z - rlz[i]) + std::exp(z - clz[j]);
      if (i == j) g -= 2;
      g *= w;
      acc += g * c;
      r[j] = static_cast<X>(s * g);
    }
    ds_rows[i] = acc;
  });
  double dscale = 0;
  for (double v : ds_rows) dscale += v;
  std::vector<X> dih(n * d), dth(n * d);
  {
    blas_threads bt(threads);
    gemm(false, false, n, d, n, 1.0, sim.data(), n, th.data(), d, 0.0, dih.data(), d);
    gemm(true, false, n, d, n, 1.0, sim.data(), n, ih.data(), d, 0.0, dth.data(), d);
  }
  std::vector<double> g(d);
  for (std::size_t i = 0; i < n; ++i) {
    if (has_gi) {
      for (std::size_t j = 0; j < d; ++j) g[j] = static_cast<double>(dih[i * d + j]);
      normalize_backward(&ih[i * d], g.data(), d, ni[i], true, gi.row(i));
    }
    if (has_gt) {
      for (std::size_t j = 0; j < d; ++j) g[j] = static_cast<double>(dth[i * d + j]);
      normalize_backward(&th[i * d], g.data(), d, nt[i], true, gt.row(i));
    }
  }
  return {loss, clamped ? 0.0 : s * dscale};
}

// --- cosine_softmax ----------------------------------------------------------

// The target class's cosine after the margin, and its derivative.
struct margin_fn {
  margin_type kind;
  double m, cos_m, sin_m, th, mm;
  explicit margin_fn(margin_type k, double margin)
      : kind(k),
        m(margin),
        cos_m(std::cos(margin)),
        sin_m(std::sin(margin)),
        th(std::cos(std::numbers::pi - margin)),
        mm(std::sin(std::numbers::pi - margin) * margin) {}
  void operator()(double c, double& phi, double& dphi) const {
    switch (kind) {
      case margin_type::none:
        phi = c, dphi = 1;
        return;
      case margin_type::cosface:
        phi = c - m, dphi = 1;
        return;
      case margin_type::arcface:
        if (c > th) {
          // cos(theta + m) = c cos m - sin(theta) sin m, theta = acos(c).
          const double sn = std::sqrt(std::max(0.0, 1 - c * c));
          phi = c * cos_m - sn * sin_m;
          dphi = cos_m + sin_m * c / sn;
        } else {
          // theta + m > pi: cos(theta + m) would rise again; InsightFace's
          // fallback keeps the target logit decreasing in theta.
          phi = c - mm, dphi = 1;
        }
        return;
    }
  }
};

template <class X>
loss_value cosine_impl(matrix_view<const X> f, matrix_view<const X> wts,
                       std::span<const std::int64_t> labels, const loss_options& opt,
                       matrix_view<X> gf, matrix_view<X> gw) {
  loss_check_matrix(f, "features");
  loss_check_matrix(wts, "weights");
  if (wts.cols != f.cols) {
    throw error("weights has " + std::to_string(wts.cols) + " columns but features has " +
                std::to_string(f.cols));
  }
  loss_check_threads(opt.threads);
  const double s = opt.scale;
  if (!(s >= 0) || s == kInf) {
    throw error("scale must be >= 0 and finite (got " + format_double(s) + ")");
  }
  if (!(opt.margin >= 0) || opt.margin == kInf) {
    throw error("margin must be >= 0 and finite (got " + format_double(opt.margin) + ")");
  }
  if (opt.margin_kind != margin_type::none && opt.margin_kind != margin_type::cosface &&
      opt.margin_kind != margin_type::arcface) {
    throw error("margin_type must be none, cosface or arcface (got " +
                std::to_string(static_cast<int>(opt.margin_kind)) + ")");
  }
  const std::size_t n = f.rows, d = f.cols, c = wts.rows;
  if (n != 0 && c == 0) throw error("weights has no classes");
  loss_check_labels(labels, n, c, false, 0);
  const bool has_gf = loss_check_output(gf, n, d, "grad_features");
  const bool has_gw = loss_check_output(gw, c, d, "grad_weights");
  const bool grad = has_gf || has_gw;
  if (n == 0) return {kNaN, grad ? 0.0 : kNaN};
  if (!all_finite(f) || !all_finite(wts)) {
    if (has_gf) fill_view(gf, kNaN);
    if (has_gw) fill_view(gw, kNaN);
    return {kNaN, kNaN};
  }
  std::vector<double> nf, nw;
  const std::vector<X> fh = normalized(f, true, nf);
  const std::vector<X> wh = normalized(wts, true, nw);
  const int threads = plan_threads(opt.threads, n, c);
  std::vector<X> cosm(n * c);  // cos, then dL/dcos
  {
    blas_threads bt(threads);
    gemm(false, true, n, c, d, 1.0, fh.data(), d, wh.data(), d, 0.0, cosm.data(), c);
  }
  const margin_fn mf(opt.margin_kind, opt.margin);
  const double w = 1.0 / static_cast<double>(n);
  std::vector<double> rl(n), rds(n);
  parallel_for(n, threads, [&](std::size_t i) {
    X* row = &cosm[i * c];
    const auto lt = static_cast<std::size_t>(labels[i]);
    double phi = 0, dphi = 1;
    mf(static_cast<double>(row[lt]), phi, dphi);
    X* z = scratch_row<X>(c, 1);
    for (std::size_t j = 0; j < c; ++j) z[j] = static_cast<X>(s * static_cast<double>(row[j]));
    z[lt] = static_cast<X>(s * phi);
    X* p = scratch_row<X>(c, 2);
    const row_loss r = ce_row<X>(z, c, 1.0, {labels[i], nullptr, 0.0}, p, grad ? w : kNaN);
    rl[i] = r.loss;
    if (!grad) return;
    // z = s * u: dL/ds = sum dz_j u_j; dL/dcos_j = s dz_j (times dphi/dcos
    // on the target).
    double ds = 0;
    for (std::size_t j = 0; j < c; ++j) {
      const double u = j == lt ? phi : static_cast<double>(row[j]);
      const double dz = static_cast<double>(p[j]);
      ds += dz * u;
      row[j] = static_cast<X>(s * dz * (j == lt ? dphi : 1.0));
    }
    rds[i] = ds;
  });
  loss_value v{0, 0};
  for (std::size_t i = 0; i < n; ++i) v.loss += rl[i], v.d_temperature += rds[i];
  v.loss *= w;
  if (!grad) return {v.loss, kNaN};
  std::vector<double> g(d);
  if (has_gf) {
    std::vector<X> dfh(n * d);
    {
      blas_threads bt(threads);
      gemm(false, false, n, d, c, 1.0, cosm.data(), c, wh.data(), d, 0.0, dfh.data(), d);
    }
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < d; ++j) g[j] = static_cast<double>(dfh[i * d + j]);
      normalize_backward(&fh[i * d], g.data(), d, nf[i], true, gf.row(i));
    }
  }
  if (has_gw) {
    std::vector<X> dwh(c * d);
    {
      blas_threads bt(threads);
      gemm(true, false, c, d, n, 1.0, cosm.data(), c, fh.data(), d, 0.0, dwh.data(), d);
    }
    for (std::size_t i = 0; i < c; ++i) {
      for (std::size_t j = 0; j < d; ++j) g[j] = static_cast<double>(dwh[i * d + j]);
      normalize_backward(&wh[i * d], g.data(), d, nw[i], true, gw.row(i));
    }
  }
  return v;
}

}  // namespace
}  // namespace detail

loss_value clip(matrix_view<const float> image, matrix_view<const float> text, double log_scale,
                const loss_options& opt, matrix_view<float> grad_image,
                matrix_view<float> grad_text) {
  return detail::clip_impl(image, text, log_scale, opt, grad_image, grad_text);
}
loss_value clip(matrix_view<const double> image, matrix_view<const double> text, double log_scale,
                const loss_options& opt, matrix_view<double> grad_image,
                matrix_view<double> grad_text) {
  return detail::clip_impl(image, text, log_scale, opt, grad_image, grad_text);
}
loss_value cosine_softmax(matrix_view<const float> features, matrix_view<const float> weights,
                          std::span<const std::int64_t> labels, const loss_options& opt,
                          matrix_view<float> grad_features, matrix_view<float> grad_weights) {
  return detail::cosine_impl(features, weights, labels, opt, grad_features, grad_weights);
}
loss_value cosine_softmax(matrix_view<const double> features, matrix_view<const double> weights,
                          std::span<const std::int64_t> labels, const loss_options& opt,
                          matrix_view<double> grad_features, matrix_view<double> grad_weights) {
  return detail::cosine_impl(features, weights, labels, opt, grad_features, grad_weights);
}

}  // namespace kelvin
