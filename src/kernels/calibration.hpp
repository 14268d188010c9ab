// The fused pass of temperature scaling (src/calibration.cpp), one table per
// SIMD target (src/kernels/calibration.cpp).
#pragma once

#include <cstddef>

#include "src/kernels/kernels.hpp"

namespace kelvin::detail {

// Sums over one row of d_i = x_i - m (m the row max, so d_i <= 0) and
// e_i = exp(beta d_i): s0 = sum e_i, s1 = sum e_i d_i, s2 = sum e_i d_i^2,
// s3 = sum e_i d_i^3, sd = sum d_i. log Z(beta) = beta m + log s0,
// E_p[x] = m + s1 / s0, Var_p[x] = s2 / s0 - (s1 / s0)^2, and the third
// cumulant from s3 / s0 (the derivatives of log Z in beta, in order).
struct row_moments {
  double s0 = 0;
  double s1 = 0;
  double s2 = 0;
  double s3 = 0;
  double sd = 0;
};

struct calibration_kernels {
  // Requires n >= 1, every x_i finite, m = max x_i, x_i - m finite, and
  // 0 < beta < inf. e_i has a relative error below 1.7e-9 (the exponential of
  // the float softmax path); e_i is 0 where beta d_i < -104 (e^-104 < 2^-150).
  row_moments (*moments_f32)(const float* x, std::size_t n, double m, double beta);
  row_moments (*moments_f64)(const double* x, std::size_t n, double m, double beta);
};

// The kernels of target t (scalar std::exp ones for kelvin's scalar reference).
const calibration_kernels& calibration_kernels_for(const target& t);

}  // namespace kelvin::detail
