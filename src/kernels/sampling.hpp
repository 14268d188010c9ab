// The sampler's row kernels (src/kernels/sampling.cpp), one table per SIMD
// target, selected with the softmax kernels' active target.
#pragma once

#include <cstddef>

#include "src/kernels/kernels.hpp"

namespace kelvin::detail {

struct sampling_kernels {
  // sum_i w_i, w_i = exp((x_i - m) * s) in double (relative error below
  // 2e-9; exactly 0 where the argument is below -104), written to w[i] when w
  // is not null. Requires x_i <= m or x_i == -inf, no NaN, 0 < s <= 2^960.
  // `guard` is exp_guard_for(min x, m, s) (kernels.hpp): 0 promises every
  // argument >= -104, 1 every argument >= -700. The same call always gives
  // the same weights, so a block recomputed for the inverse-CDF walk matches
  // the sum it was chosen by (up to the order of the additions).
  double (*exp_weights)(const float* x, std::size_t n, double m, double s, int guard, double* w);
  // The first i with !(x_i <= thr) (x_i > thr or NaN), or n.
  std::size_t (*first_above)(const float* x, std::size_t n, float thr);
  // The first index of the row's max (0 when every entry is -inf, or n == 0);
  // *has_nan tells whether any entry is NaN.
  std::size_t (*argmax)(const float* x, std::size_t n, bool* has_nan);
};

const sampling_kernels& sampling_kernels_for(const target& t);

}  // namespace kelvin::detail
