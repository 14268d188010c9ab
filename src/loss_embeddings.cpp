// InfoNCE from embeddings: [q.k, q.queue^T] / T tile by tile through
// OpenBLAS, with an online (log Z, E[l], E[queue row]) per row. Formulas and
// the memory bound in docs/loss.md.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "kelvin/loss.hpp"
#include "src/loss_blas.hpp"
#include "src/loss_internal.hpp"
#include "src/threads.hpp"

namespace kelvin {
namespace detail {
namespace {

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
  check_temperature(t, "temperature");
  if (t == 0 || t == kInf) {
    throw error("info_nce_embeddings needs 0 < temperature < inf (got " + format_double(t) +
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

  // Work items: (row tile, column chunk) pairs, a fixed split whatever the
  // thread count (at least kInfoNceMinItems items when the queue allows), each
  // leaving a partial (log Z, E[l], E[queue row]) per row over its columns;
  // the partials are merged in column order, so results never depend on the
  // threads.
  const std::size_t tr = kInfoNceTileRows, tc = kInfoNceTileCols;
  const std::size_t row_tiles = (n + tr - 1) / tr;
  const std::size_t col_tiles = (kq + tc - 1) / tc;
  std::size_t per = col_tiles;  // column tiles per chunk
  if (col_tiles > 0) {
    const std::size_t want = (kInfoNceMinItems + row_tiles - 1) / row_tiles;
    per = (col_tiles + std::min(want, col_tiles) - 1) / std::min(want, col_tiles);
  }
  const std::size_t chunks = col_tiles == 0 ? 1 : (col_tiles + per - 1) / per;
  std::vector<double> plz(chunks * n, -kInf), pel(chunks * n, 0.0);
  std::vector<double> pg(grad ? chunks * n * d : 0, 0.0);
  const double inv_t = 1.0 / t;
  {
    blas_threads bt(1);
    const int nt = plan_threads(opt.threads, row_tiles * chunks, tr * per * tc * d / 8);
    parallel_for(row_tiles * chunks, nt, [&](std::size_t item) {
      const std::size_t tile = item / chunks, ch = item % chunks;
      const std::size_t r0 = tile * tr, rn = std::min(tr, n - r0);
      // Per thread: a tile of logits, one of probabilities, and the tile's
      // P * queue.
      thread_local std::vector<X> logits, probs, pq;
      logits.resize(tr * tc);
      probs.resize(tr * tc);
      pq.resize(tr * d);
      double* lz = &plz[ch * n + r0];
      double* el = &pel[ch * n + r0];
      double* gacc = grad ? &pg[(ch * n + r0) * d] : nullptr;
      const X* qt = &qh[r0 * d];
      options so;
      so.temperature = t;
      so.threads = 1;
      const std::size_t c_end = std::min(kq, (ch + 1) * per * tc);
      for (std::size_t c0 = ch * per * tc; c0 < c_end; c0 += tc) {
        const std::size_t cn = std::min(tc, c_end - c0);
        gemm(false, true, rn, cn, d, 1.0, qt, d, qu + c0 * ldq, ldq, 0.0, logits.data(), cn);
        double tile_lz[kInfoNceTileRows];
        double tile_el[kInfoNceTileRows];
        for (std::size_t r = 0; r < rn; ++r) {
          // A tile of p beside the tile of l: E[l] needs both, the P * queue
          // product the first. The pass finds the row's max (inputs are finite).
          const X* row = &logits[r * cn];
          X* prow = &probs[r * cn];
          softmax(std::span<const X>(row, cn), std::span<X>(prow, cn), so);
          const double ref = static_cast<double>(row[0]);
          const row_pass rp = pass_labels(row, prow, cn, ref, 0.0, 0.0, false, false);
          tile_lz[r] = rp.xmax * inv_t + log_s_from(rp);
          tile_el[r] = rp.sp + ref;
        }
        if (grad) {
          gemm(false, false, rn, d, cn, 1.0, probs.data(), cn, qu + c0 * ldq, ldq, 0.0, pq.data(),
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
    });
  }
  std::vector<double> row_loss_v(n), row_dt(n);
  parallel_for(
      row_tiles, plan_threads(opt.threads, row_tiles, tr * chunks * d), [&](std::size_t tile) {
        const std::size_t r0 = tile * tr, rn = std::min(tr, n - r0);
        std::vector<double> g(d), gkv(d), gneg(d);
        for (std::size_t r = 0; r < rn; ++r) {
          const std::size_t i = r0 + r;
          // Fold the chunks' partials in column order.
          double lz = -kInf, el = 0;
          std::fill(gneg.begin(), gneg.end(), 0.0);
          for (std::size_t ch = 0; ch < chunks; ++ch) {
            const double cz = plz[ch * n + i];
            const double z = log_add_exp(lz, cz);
            if (z == -kInf) continue;
            const double a = std::exp(lz - z), b = std::exp(cz - z);
            lz = z;
            el = a * el + b * pel[ch * n + i];
            if (grad) {
              const double* pc = &pg[(ch * n + i) * d];
              for (std::size_t j = 0; j < d; ++j) gneg[j] = a * gneg[j] + b * pc[j];
            }
          }
          const X* qi = &qh[i * d];
          const X* ki = &kh[i * d];
          double l0 = 0;
          for (std::size_t j = 0; j < d; ++j) l0 += static_cast<double>(qi[j]) * ki[j];
          // loss = log(1 + exp(lz_neg - l0/T)), stable both ways.
          const double delta = lz - l0 * inv_t;
          const double loss =
              delta < 0 ? std::log1p(std::exp(delta)) : delta + std::log1p(std::exp(-delta));
          const double pneg =
              delta < 0 ? std::exp(delta) / (1 + std::exp(delta)) : 1 / (1 + std::exp(-delta));
          row_loss_v[i] = loss;
          row_dt[i] = kq == 0 ? 0.0 : -pneg * (el - l0) * inv_t * inv_t;
          if (!grad) continue;
          // dL/dq_hat = pneg / (N T) (E_neg[queue row] - k_hat), dL/dk_hat = -pneg / (N T) q_hat.
          const double f = pneg * inv_t / static_cast<double>(n);
          for (std::size_t j = 0; j < d; ++j) {
            g[j] = f * (gneg[j] - static_cast<double>(ki[j]));
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

}  // namespace kelvin
