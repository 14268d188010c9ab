// The sampler's row kernels (src/kernels/sampling.cpp), one table per SIMD
// target, selected with the softmax kernels' active target.
#pragma once

#include <cstddef>

#include "src/kernels/kernels.hpp"

namespace kelvin::detail {

struct sampling_kernels {
  // sum_i w_i in double, w_i = exp((x_i - m) * s) rounded to float (exactly 0
  // where the argument is below -104), written to w[i] when w is not null.
  // Requires x_i <= m or x_i == -inf, no NaN, 0 <= s <= 2^960.
  // The sum adds the float weights themselves, so that an inverse-CDF walk
  // over stored weights and the sum agree to double rounding.
  double (*exp_weights)(const float* x, std::size_t n, double m, double s, float* w);
  // The first i with !(x_i <= thr) (x_i > thr or NaN), or n.
  std::size_t (*first_above)(const float* x, std::size_t n, float thr);
};

const sampling_kernels& sampling_kernels_for(const target& t);

}  // namespace kelvin::detail
