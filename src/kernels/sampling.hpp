// The sampler's row kernels (src/kernels/sampling.cpp), one table per SIMD
// target, selected with the softmax kernels' active target.
#pragma once

#include <cstddef>
#include <cstdint>

#include "src/kernels/kernels.hpp"

namespace kelvin::detail {

// The relative error bound of exp_weights' w_i at argument a = (x_i - m) s.
// Where m is a float and 2^-100 <= s <= 2^100 (every sampler temperature
// from 1e-30 to 1e30) the weights come from float lanes: (x - m) * s formed
// in float is three roundings, |a| 3 * 2^-24; RN(ln2) in the reduction adds
// |a| 2.8e-9; the polynomial in float 1.5e-7 (FMA Horner; 1.7e-7 without
// FMA), 2e-7 with a margin.
// Elsewhere double lanes: below 2e-9. Within 1e-3 of -104 a weight may be
// either 0 or its value.
constexpr double exp_weight_error(double a) {
  return (a < 0 ? -a : a) * (3 * 0x1p-24 + 2.8e-9) + 2e-7;
}

// exp_weights' guard for entries whose smallest is low: exp_guard_for with
// a margin, so that 0 also promises float-lane arguments >= -104 (float
// rounding moves them by at most 2e-5 there). Then no weight depends on the
// guard, and the entries of a row cut into shards (kelvin::mpi), each with
// its own minimum, weigh what they weigh in the whole row.
inline int exp_weights_guard(double low, double m, double s) {
  const int g = exp_guard_for(low, m, s);
  return g == 0 && (low - m) * s < -103.99 ? 1 : g;
}

struct sampling_kernels {
  // sum_i w_i, w_i = exp((x_i - m) * s) as doubles (relative error within
  // exp_weight_error(a) for a = (x_i - m) * s; exactly 0 where the argument
  // is below -104), written to w[i] when w is not null. Requires x_i <= m or
  // x_i == -inf, no NaN, 0 < s <= 2^960.
  // `guard` is exp_weights_guard(min x, m, s): 0 promises every argument
  // >= -103.99, 1 every argument >= -700. The same call always gives
  // the same weights, so a block recomputed for the inverse-CDF walk matches
  // the sum it was chosen by (up to the order of the additions).
  double (*exp_weights)(const float* x, std::size_t n, double m, double s, int guard, double* w);
  // The first i with !(x_i <= thr) (x_i > thr or NaN), or n.
  std::size_t (*first_above)(const float* x, std::size_t n, float thr);
  // Writes to idx, in increasing order, the i with !(x_i <= thr) (x_i > thr
  // or NaN), scanning from 0 until the end or until the count reaches cap;
  // returns the count (at least cap only when stopped early; the vector that
  // reached cap is written whole) and sets *end to where the scan stopped
  // (every i < *end was tested). idx has room for cap + 128 entries;
  // n < 2^31.
  std::size_t (*collect_above)(const float* x, std::size_t n, float thr, std::uint32_t* idx,
                               std::size_t cap, std::size_t* end);
  // The first index of the row's max (0 when every entry is -inf, or n == 0);
  // *has_nan tells whether any entry is NaN.
  std::size_t (*argmax)(const float* x, std::size_t n, bool* has_nan);
};

const sampling_kernels& sampling_kernels_for(const target& t);

// exp_weights in double lanes (the kernels before float lanes: relative
// error below 2e-9) instead of float lanes, for interleaved A/B timing
// (bench/sampling_ab.cpp). Not for use while another thread samples: a
// plan and its draw must see the same kernel.
void set_sampling_double_weights(bool on);
bool sampling_double_weights();

}  // namespace kelvin::detail
