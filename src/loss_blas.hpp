// Dense products and feature normalisation for the embedding losses
// (src/loss_embeddings.cpp, src/loss_similarity.cpp): OpenBLAS's CBLAS when
// CMake found it (KELVIN_HAVE_OPENBLAS), else a plain loop.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "kelvin/types.hpp"

namespace kelvin::detail {

// F.normalize's floor on the norm.
inline constexpr double kNormEps = 1e-12;

// C (m x n, row-major, ldc) = alpha * A * op(B) + beta * C, A m x k (lda);
// B is n x k (ldb) when trans_b, else k x n.
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, double beta, float* c,
          std::size_t ldc);
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta,
          double* c, std::size_t ldc);

// OpenBLAS runs on `n` threads while this lives: 1 inside kelvin's own
// parallel regions (no oversubscription), the caller's thread count for one
// big product. Restores the previous setting (process-wide, as OpenBLAS is).
class blas_threads {
 public:
  explicit blas_threads(int n);
  ~blas_threads();
  blas_threads(const blas_threads&) = delete;
  blas_threads& operator=(const blas_threads&) = delete;

 private:
  int saved_ = 0;
};

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

}  // namespace kelvin::detail
