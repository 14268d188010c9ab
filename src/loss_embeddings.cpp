// The losses computed from embeddings through dense products (OpenBLAS):
// info_nce_embeddings (tiled, online log-sum-exp per row), clip and
// cosine_softmax (NormFace / CosFace / ArcFace). Formulas in docs/loss.md.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "kelvin/loss.hpp"
#include "src/loss_internal.hpp"
#include "src/threads.hpp"

#ifdef KELVIN_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace kelvin {
namespace detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// F.normalize's floor on the norm.
constexpr double kNormEps = 1e-12;

// C (m x n, row-major, ldc) = alpha * A * op(B) + beta * C, A m x k (lda);
// B is n x k (ldb) when trans_b, else k x n.
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, double beta, float* c,
          std::size_t ldc);
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta,
          double* c, std::size_t ldc);

#ifdef KELVIN_HAVE_OPENBLAS
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, double beta, float* c,
          std::size_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), static_cast<float>(alpha), a, static_cast<int>(lda), b,
              static_cast<int>(ldb), static_cast<float>(beta), c, static_cast<int>(ldc));
}
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta,
          double* c, std::size_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

// OpenBLAS runs on `n` threads while this lives: 1 inside our own parallel
// regions (no oversubscription), the caller's thread count for one big
// product. Restores the previous setting (process-wide, as OpenBLAS is).
class blas_threads {
 public:
  explicit blas_threads(int n) : saved_(openblas_get_num_threads()) { openblas_set_num_threads(n); }
  ~blas_threads() { openblas_set_num_threads(saved_); }
  blas_threads(const blas_threads&) = delete;
  blas_threads& operator=(const blas_threads&) = delete;

 private:
  int saved_;
};
#else
// Without OpenBLAS: a plain triple loop (correct, slow); CMake says so.
template <class X>
void naive_gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
                double alpha, const X* a, std::size_t lda, const X* b, std::size_t ldb, double beta,
                X* c, std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::size_t l = 0; l < k; ++l) {
        const double av = trans_a ? a[l * lda + i] : a[i * lda + l];
        const double bv = trans_b ? b[j * ldb + l] : b[l * ldb + j];
        s += av * bv;
      }
      X& out = c[i * ldc + j];
      out = static_cast<X>(alpha * s + (beta == 0 ? 0.0 : beta * static_cast<double>(out)));
    }
  }
}
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, double beta, float* c,
          std::size_t ldc) {
  naive_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta,
          double* c, std::size_t ldc) {
  naive_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
class blas_threads {
 public:
  explicit blas_threads(int) {}
};
#endif

template <class X>
bool all_finite(matrix_view<const X> v) {
  for (std::size_t i = 0; i < v.rows; ++i) {
    const X* r = v.row(i);
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (std::size_t j = 0; j < v.cols; ++j) bad |= static_cast<int>(!std::isfinite(r[j]));
    if (bad) return false;
  }
  return true;
}

// Rows of v divided by max(|row|, 1e-12) (F.normalize), dense, plus the norms.
template <class X>
std::vector<X> normalized(matrix_view<const X> v, bool normalize, std::vector<double>& norms) {
  std::vector<X> out(v.rows * v.cols);
  norms.assign(v.rows, 1.0);
  for (std::size_t i = 0; i < v.rows; ++i) {
    const X* r = v.row(i);
    double s = 0;
    for (std::size_t j = 0; j < v.cols; ++j) s += static_cast<double>(r[j]) * r[j];
    const double nrm = normalize ? std::max(std::sqrt(s), kNormEps) : 1.0;
    norms[i] = nrm;
    for (std::size_t j = 0; j < v.cols; ++j) {
      out[i * v.cols + j] = static_cast<X>(static_cast<double>(r[j]) / nrm);
    }
  }
  return out;
}

// Gradient through v_hat = v / max(|v|, eps): (g - v_hat <v_hat, g>) / |v|,
// or g / eps where the floor holds.
template <class X>
void normalize_backward(const X* vhat, const double* g, std::size_t d, double nrm, bool normalize,
                        X* out) {
  if (!normalize) {
    for (std::size_t j = 0; j < d; ++j) out[j] = static_cast<X>(g[j]);
    return;
  }
  double dot = 0;
  if (nrm > kNormEps) {
    for (std::size_t j = 0; j < d; ++j) dot += static_cast<double>(vhat[j]) * g[j];
  }
  for (std::size_t j = 0; j < d; ++j) {
    out[j] = static_cast<X>((g[j] - static_cast<double>(vhat[j]) * dot) / nrm);
  }
}

template <class X>
void fill_view(matrix_view<X> v, double value) {
  for (std::size_t i = 0; i < v.rows; ++i) {
    std::fill(v.row(i), v.row(i) + v.cols, static_cast<X>(value));
  }
}

// --- info_nce_embeddings -----------------------------------------------------

template <class X>
loss_value info_nce_emb(matrix_view<const X> q, matrix_view<const X> k, matrix_view<const X> queue,
                        const loss_options& opt, matrix_view<X> gq, matrix_view<X> gk) {
  loss_check_matrix(q, "q");
  loss_check_matrix(k, "k");
  loss_check_matrix(queue, "queue");
  loss_check_same_shape(k, "k", q.rows, q.cols, "q");
  if (queue.cols != q.cols && queue.rows != 0) {
    throw error("queue has " + std::to_string(queue.cols) + " columns but q has " +
                std::to_string(q.cols) + " (both are embeddings of one dimension)");
  }
  loss_check_threads(opt.threads);
  const double t = opt.temperature;
  loss_check_temperature(t, "temperature");
  if (t == 0 || t == kInf) {
    throw error("info_nce_embeddings needs 0 < temperature < inf (got " + loss_format(t) +
                "); info_nce on materialised logits has the limits");
  }
  const std::size_t n = q.rows, d = q.cols, kq = queue.rows;
  const bool has_gq = loss_check_output(gq, n, d, "grad_q");
  const bool has_gk = loss_check_output(gk, n, d, "grad_k");
  const bool grad = has_gq || has_gk;
  if (n == 0) return {kNaN, grad ? 0.0 : kNaN};
  if (!all_finite(q) || !all_finite(k) || !all_finite(queue)) {
    if (has_gq) fill_view(gq, kNaN);
    if (has_gk) fill_view(gk, kNaN);
    return {kNaN, grad ? kNaN : kNaN};
  }
  std::vector<double> nq, nk;
  const std::vector<X> qh = normalized(q, opt.normalize, nq);
  const std::vector<X> kh = normalized(k, opt.normalize, nk);
  // queue as one dense block when it is not already.
  std::vector<X> queue_dense;
  const X* qu = queue.data;
  std::size_t ldq = queue.row_stride;
  if (kq > 1 && queue.row_stride != d) {
    queue_dense.resize(kq * d);
    for (std::size_t i = 0; i < kq; ++i)
      std::copy(queue.row(i), queue.row(i) + d, &queue_dense[i * d]);
    qu = queue_dense.data();
    ldq = d;
  }
  if (kq <= 1) ldq = std::max<std::size_t>(d, 1);

  const std::size_t tr = kInfoNceTileRows, tc = kInfoNceTileCols;
  const std::size_t tiles = (n + tr - 1) / tr;
  std::vector<double> row_loss_v(n), row_dt(n);
  const int nt = plan_threads(opt.threads, tiles, tr * std::max<std::size_t>(kq, 1) * d / 8);
  const double inv_t = 1.0 / t;
  blas_threads bt(1);
  parallel_for(tiles, nt, [&](std::size_t tile) {
    const std::size_t r0 = tile * tr, rn = std::min(tr, n - r0);
    // Per thread: one tile of logits, the tile's P * queue, and the running
    // sums (log Z over negatives, E[l] under them, G = E[queue row]).
    thread_local std::vector<X> logits, pq;
    thread_local std::vector<double> lz, el, gacc;
    logits.resize(tr * tc);
    pq.resize(tr * d);
    lz.assign(rn, -kInf);
    el.assign(rn, 0.0);
    gacc.assign(grad ? rn * d : 0, 0.0);
    const X* qt = &qh[r0 * d];
    options so;
    so.temperature = t;
    so.threads = 1;
    for (std::size_t c0 = 0; c0 < kq; c0 += tc) {
      const std::size_t cn = std::min(tc, kq - c0);
      gemm(false, true, rn, cn, d, 1.0, qt, d, qu + c0 * ldq, ldq, 0.0, logits.data(), cn);
      double tile_lz[kInfoNceTileRows];
      double tile_el[kInfoNceTileRows];
      for (std::size_t r = 0; r < rn; ++r) {
        X* row = &logits[r * cn];
        X mx = -std::numeric_limits<X>::infinity();
#pragma omp simd reduction(max : mx)
        for (std::size_t j = 0; j < cn; ++j) mx = row[j] > mx ? row[j] : mx;
        const double m = static_cast<double>(mx);
        // p goes to a scratch row so that l is still there for E[l]; p then
        // replaces l in the tile for the P * queue product.
        double sl = 0;
        X* prow = scratch_row<X>(cn, 0);
        softmax(std::span<const X>(row, cn), std::span<X>(prow, cn), so);
        double small = 0;
        X pmax = 0;
        int nbig = 0;
#pragma omp simd reduction(+ : small, sl, nbig) reduction(max : pmax)
        for (std::size_t j = 0; j < cn; ++j) {
          const double pj = static_cast<double>(prow[j]);
          small += pj <= 0.5 ? pj : 0.0;
          nbig += static_cast<int>(pj > 0.5);
          pmax = prow[j] > pmax ? prow[j] : pmax;
          sl += pj * (static_cast<double>(row[j]) - m);
          row[j] = prow[j];
        }
        const double log_s = nbig == 1 ? std::log1p(small / static_cast<double>(pmax))
                                       : -std::log(static_cast<double>(pmax));
        tile_lz[r] = m * inv_t + log_s;
        tile_el[r] = sl + m;
      }
      if (grad) {
        gemm(false, false, rn, d, cn, 1.0, logits.data(), cn, qu + c0 * ldq, ldq, 0.0, pq.data(),
             d);
      }
      for (std::size_t r = 0; r < rn; ++r) {
        const double z = log_add_exp(lz[r], tile_lz[r]);
        const double a = std::exp(lz[r] - z), b = std::exp(tile_lz[r] - z);
        lz[r] = z;
        el[r] = a * el[r] + b * tile_el[r];
        if (grad) {
          for (std::size_t j = 0; j < d; ++j) {
            gacc[r * d + j] = a * gacc[r * d + j] + b * static_cast<double>(pq[r * d + j]);
          }
        }
      }
    }
    std::vector<double> g(d), gkv(d);
    for (std::size_t r = 0; r < rn; ++r) {
      const std::size_t i = r0 + r;
      const X* qi = &qh[i * d];
      const X* ki = &kh[i * d];
      double l0 = 0;
      for (std::size_t j = 0; j < d; ++j) l0 += static_cast<double>(qi[j]) * ki[j];
      // loss = log(1 + exp(lz_neg - l0/T)), stable both ways.
      const double delta = lz[r] - l0 * inv_t;
      const double loss =
          delta < 0 ? std::log1p(std::exp(delta)) : delta + std::log1p(std::exp(-delta));
      const double pneg =
          delta < 0 ? std::exp(delta) / (1 + std::exp(delta)) : 1 / (1 + std::exp(-delta));
      row_loss_v[i] = loss;
      row_dt[i] = kq == 0 ? 0.0 : -pneg * (el[r] - l0) * inv_t * inv_t;
      if (!grad) continue;
      // dL/dq_hat = pneg / (N T) (E_neg[queue row] - k_hat), dL/dk_hat = -pneg / (N T) q_hat.
      const double f = pneg * inv_t / static_cast<double>(n);
      for (std::size_t j = 0; j < d; ++j) {
        const double gneg = kq == 0 ? 0.0 : gacc[r * d + j];
        g[j] = f * (gneg - static_cast<double>(ki[j]));
        gkv[j] = -f * static_cast<double>(qi[j]);
      }
      if (has_gq) normalize_backward(qi, g.data(), d, nq[i], opt.normalize, gq.row(i));
      if (has_gk) normalize_backward(ki, gkv.data(), d, nk[i], opt.normalize, gk.row(i));
    }
  });
  loss_value v{0, 0};
  for (std::size_t i = 0; i < n; ++i) {
    v.loss += row_loss_v[i];
    v.d_temperature += row_dt[i];
  }
  v.loss /= static_cast<double>(n);
  v.d_temperature = grad ? v.d_temperature / static_cast<double>(n) : kNaN;
  return v;
}

// --- clip --------------------------------------------------------------------

template <class X>
loss_value clip_impl(matrix_view<const X> img, matrix_view<const X> txt, double log_scale,
                     const loss_options& opt, matrix_view<X> gi, matrix_view<X> gt) {
  loss_check_matrix(img, "image_features");
  loss_check_matrix(txt, "text_features");
  loss_check_same_shape(txt, "text_features", img.rows, img.cols, "image_features");
  loss_check_threads(opt.threads);
  if (std::isnan(log_scale) || log_scale == kInf) {
    throw error("log_scale must be finite or -inf (got " + loss_format(log_scale) + ")");
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
    throw error("scale must be >= 0 and finite (got " + loss_format(s) + ")");
  }
  if (!(opt.margin >= 0) || opt.margin == kInf) {
    throw error("margin must be >= 0 and finite (got " + loss_format(opt.margin) + ")");
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

loss_value info_nce_embeddings(matrix_view<const float> q, matrix_view<const float> k,
                               matrix_view<const float> queue, const loss_options& opt,
                               matrix_view<float> grad_q, matrix_view<float> grad_k) {
  return detail::info_nce_emb(q, k, queue, opt, grad_q, grad_k);
}
loss_value info_nce_embeddings(matrix_view<const double> q, matrix_view<const double> k,
                               matrix_view<const double> queue, const loss_options& opt,
                               matrix_view<double> grad_q, matrix_view<double> grad_k) {
  return detail::info_nce_emb(q, k, queue, opt, grad_q, grad_k);
}
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
