// Internals shared by the loss drivers (src/loss.cpp, src/loss_embeddings.cpp):
// argument checks and the one softmax cross-entropy row every loss reduces to.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kelvin/loss.hpp"
#include "kelvin/softmax.hpp"
#include "src/checks.hpp"

namespace kelvin::detail {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void loss_check_threads(int threads);
void loss_check_reduction(reduction r);

// check_matrix, except that a single row's stride is never read, so the
// losses accept any there.
template <class T>
void loss_check_matrix(const matrix_view<T>& m, const char* name) {
  check_matrix(m.rows > 1 ? m : matrix_view<T>(m.data, m.rows, m.cols), name);
}

// An optional output view: empty (data == nullptr and no extent) or exactly
// rows x cols.
template <class T>
bool loss_check_output(const matrix_view<T>& g, std::size_t rows, std::size_t cols,
                       const char* name) {
  if (g.data == nullptr && g.rows == 0 && g.cols == 0) return false;
  if (g.rows != rows || g.cols != cols) {
    throw error(std::string(name) + " is " + std::to_string(g.rows) + " x " +
                std::to_string(g.cols) + " but must be " + std::to_string(rows) + " x " +
                std::to_string(cols));
  }
  loss_check_matrix(g, name);
  return rows * cols != 0;
}

// A gradient written over its own input would be read after it is
// overwritten: any overlap of the two views is an error.
template <class T, class U>
void loss_check_disjoint(const matrix_view<T>& out, const matrix_view<U>& in, const char* on,
                         const char* inn) {
  if (out.rows * out.cols == 0 || in.rows * in.cols == 0) return;
  auto extent = [](const auto& v) {
    const auto* b = reinterpret_cast<const char*>(v.data);
    return std::pair{b, b + ((v.rows - 1) * v.row_stride + v.cols) * sizeof(*v.data)};
  };
  const auto [ob, oe] = extent(out);
  const auto [ib, ie] = extent(in);
  if (ob < ie && ib < oe) {
    throw error(std::string(on) + " overlaps " + inn + "; the gradient needs its own memory");
  }
}

template <class T>
void loss_check_same_shape(const matrix_view<T>& a, const char* an, std::size_t rows,
                           std::size_t cols, const char* bn) {
  if (a.rows != rows || a.cols != cols) {
    throw error(std::string(an) + " is " + std::to_string(a.rows) + " x " + std::to_string(a.cols) +
                " but " + bn + " is " + std::to_string(rows) + " x " + std::to_string(cols));
  }
}

void loss_check_labels(std::span<const std::int64_t> labels, std::size_t rows, std::size_t classes,
                       bool allow_ignore, std::int64_t ignore_index);

// What one pass over a row of logits x and probabilities p gathers
// (src/loss_passes.cpp): small = sum of p_j <= 1/2, nbig = entries above
// 1/2, pmax, sp = sum p_j (x_j - r), sx = sum (x_j - r) (labels with
// smoothing) or sum q_j (x_j - r) (probabilities), for a reference logit r
// (the passes' `m` argument).
struct row_pass {
  double small = 0, sp = 0, sx = 0, pmax = 0;
  int nbig = 0;
  double xmax = 0;  // pass_labels / pass_probs: the row's max and NaN flag
  bool nan = false;
};

// Row max and NaN flag.
void scan_row(const float* x, std::size_t c, double& m, bool& nan);
void scan_row(const double* x, std::size_t c, double& m, bool& nan);
// Labels: writes (p_j - eps_c) * scale over p when grad.
row_pass pass_labels(const float* x, float* p, std::size_t c, double m, double eps_c, double scale,
                     bool grad, bool smooth);
row_pass pass_labels(const double* x, double* p, std::size_t c, double m, double eps_c,
                     double scale, bool grad, bool smooth);
// Probabilities q (smoothed: keep * q_j + eps_c, summing to sq): writes
// (sq * p_j - q_j) * scale over p when grad.
row_pass pass_probs(const float* x, float* p, const float* q, std::size_t c, double m, double keep,
                    double eps_c, double sq, double scale, bool grad);
row_pass pass_probs(const double* x, double* p, const double* q, std::size_t c, double m,
                    double keep, double eps_c, double sq, double scale, bool grad);
// small, nbig and pmax of a row of probabilities.
row_pass pass_mass(const float* p, std::size_t c);
row_pass pass_mass(const double* p, std::size_t c);
double row_sum(const float* v, std::size_t c);
double row_sum(const double* v, std::size_t c);

// log S for S = sum_j exp((x_j - m) / T) from the probabilities: S = 1 / p_max
// exactly, and when one entry holds more than half the mass the others' sum
// `small` gives log S = log1p(small / p_max) without cancellation (MoCo's
// T = 0.07 example has S - 1 = 4e-10).
inline double log_s_from(const row_pass& r) {
  return r.nbig == 1 ? std::log1p(r.small / r.pmax) : -std::log(r.pmax);
}

// One row's contribution: its loss and d(loss)/dT, both unweighted.
struct row_loss {
  double loss = 0;
  double d_temperature = 0;
};

// What a cross-entropy row is measured against: a label (with PyTorch's label
// smoothing) or a row of class probabilities (smoothed the same way).
template <class X>
struct row_target {
  std::int64_t label = -1;
  const X* probs = nullptr;
  double smoothing = 0;
};

// Per-thread row buffer for the probabilities when no gradient is written;
// one row, never the whole batch.
template <class X>
X* scratch_row(std::size_t n, int slot = 0) {
  thread_local std::vector<X> buf[3];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

// F.cross_entropy(x / T, target) for one row of C logits. `p` (C entries)
// receives softmax(x / T) and, when w is not NaN, is overwritten by the
// gradient w * dL/dx. See docs/loss.md for the special rows.
template <class X>
row_loss ce_row(const X* x, std::size_t c, double t, const row_target<X>& tg, X* p, double w);

extern template row_loss ce_row<float>(const float*, std::size_t, double, const row_target<float>&,
                                       float*, double);
extern template row_loss ce_row<double>(const double*, std::size_t, double,
                                        const row_target<double>&, double*, double);

// log(exp(a) + exp(b)) without overflow, -inf aware.
inline double log_add_exp(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == -std::numeric_limits<double>::infinity()) return a;
  return a + std::log1p(std::exp(b - a));
}

}  // namespace kelvin::detail
