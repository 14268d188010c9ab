// Internals shared by the loss drivers (src/loss.cpp, src/loss_embeddings.cpp):
// argument checks and the one softmax cross-entropy row every loss reduces to.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "kelvin/loss.hpp"
#include "kelvin/softmax.hpp"

namespace kelvin::detail {

std::string loss_format(double v);
void loss_check_temperature(double t, const char* name);
void loss_check_threads(int threads);
void loss_check_reduction(reduction r);

template <class T>
void loss_check_matrix(const matrix_view<T>& m, const char* name) {
  if (m.rows != 0 && m.cols != 0 && m.data == nullptr) {
    throw error(std::string(name) + " is null but has " + std::to_string(m.rows) + " x " +
                std::to_string(m.cols) + " elements");
  }
  if (m.rows > 1 && m.row_stride < m.cols) {
    throw error(std::string(name) + " row stride " + std::to_string(m.row_stride) +
                " is less than its number of columns " + std::to_string(m.cols));
  }
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
