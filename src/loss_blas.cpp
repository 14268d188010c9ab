// Dense products for the embedding losses (src/loss_blas.hpp).
#include "src/loss_blas.hpp"

#ifdef KELVIN_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace kelvin::detail {

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

blas_threads::blas_threads(int n) : saved_(openblas_get_num_threads()) {
  openblas_set_num_threads(n);
}
blas_threads::~blas_threads() { openblas_set_num_threads(saved_); }
#else
// Without OpenBLAS: a plain triple loop (correct, slow); CMake says so.
namespace {
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
}  // namespace
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
blas_threads::blas_threads(int) {}
blas_threads::~blas_threads() = default;
#endif

}  // namespace kelvin::detail
