// kelvin: softmax, log-softmax, log-partition and smooth-max with a temperature.
//
//   softmax(x, T)_i     = exp(x_i / T) / sum_j exp(x_j / T)
//   log_softmax(x, T)_i = x_i / T - log_partition(x, T)
//   log_partition(x, T) = log sum_j exp(x_j / T)
//   smooth_max(x, T)    = T * log_partition(x, T)
//
// Every call follows the numeric contract of docs/contract.md (T == 0 is
// the exact hardmax with ties split, T == +inf the uniform limit, -inf entries
// are masked, a NaN makes the whole row NaN, huge values never overflow) and
// is accurate to 2 ulp end to end, for float and double, in place (x == y) or
// not. Bad arguments throw kelvin::error.
//
// bfloat16 and float16 (kelvin/half.hpp) have the same overloads: their
// values are widened exactly to float, computed by the float path and each
// result rounded once to the storage type (within 2 of its ulp).
//
//   std::vector<float> x{1, 5, 7, 10}, p(4);
//   kelvin::softmax(x, p, {.temperature = 0.1});
//   float lz = kelvin::log_partition(x, {.temperature = 10});
#pragma once

#include <span>

#include "kelvin/export.h"
#include "kelvin/half.hpp"
#include "kelvin/types.hpp"

namespace kelvin {

// --- one row -----------------------------------------------------------------
KELVIN_API void softmax(std::span<const float> x, std::span<float> y, const options& opt = {});
KELVIN_API void softmax(std::span<const double> x, std::span<double> y, const options& opt = {});
KELVIN_API void softmax(std::span<const bfloat16> x, std::span<bfloat16> y,
                        const options& opt = {});
KELVIN_API void softmax(std::span<const float16> x, std::span<float16> y, const options& opt = {});
KELVIN_API void log_softmax(std::span<const float> x, std::span<float> y, const options& opt = {});
KELVIN_API void log_softmax(std::span<const double> x, std::span<double> y,
                            const options& opt = {});
KELVIN_API void log_softmax(std::span<const bfloat16> x, std::span<bfloat16> y,
                            const options& opt = {});
KELVIN_API void log_softmax(std::span<const float16> x, std::span<float16> y,
                            const options& opt = {});
KELVIN_API float log_partition(std::span<const float> x, const options& opt = {});
KELVIN_API double log_partition(std::span<const double> x, const options& opt = {});
KELVIN_API bfloat16 log_partition(std::span<const bfloat16> x, const options& opt = {});
KELVIN_API float16 log_partition(std::span<const float16> x, const options& opt = {});
KELVIN_API float smooth_max(std::span<const float> x, const options& opt = {});
KELVIN_API double smooth_max(std::span<const double> x, const options& opt = {});
KELVIN_API bfloat16 smooth_max(std::span<const bfloat16> x, const options& opt = {});
KELVIN_API float16 smooth_max(std::span<const float16> x, const options& opt = {});

// --- a batch of rows (opt.temperatures: one temperature per row) -------------
KELVIN_API void softmax(matrix_view<const float> x, matrix_view<float> y, const options& opt = {});
KELVIN_API void softmax(matrix_view<const double> x, matrix_view<double> y,
                        const options& opt = {});
KELVIN_API void softmax(matrix_view<const bfloat16> x, matrix_view<bfloat16> y,
                        const options& opt = {});
KELVIN_API void softmax(matrix_view<const float16> x, matrix_view<float16> y,
                        const options& opt = {});
KELVIN_API void log_softmax(matrix_view<const float> x, matrix_view<float> y,
                            const options& opt = {});
KELVIN_API void log_softmax(matrix_view<const double> x, matrix_view<double> y,
                            const options& opt = {});
KELVIN_API void log_softmax(matrix_view<const bfloat16> x, matrix_view<bfloat16> y,
                            const options& opt = {});
KELVIN_API void log_softmax(matrix_view<const float16> x, matrix_view<float16> y,
                            const options& opt = {});
// out.size() == x.rows.
KELVIN_API void log_partition(matrix_view<const float> x, std::span<float> out,
                              const options& opt = {});
KELVIN_API void log_partition(matrix_view<const double> x, std::span<double> out,
                              const options& opt = {});
KELVIN_API void log_partition(matrix_view<const bfloat16> x, std::span<bfloat16> out,
                              const options& opt = {});
KELVIN_API void log_partition(matrix_view<const float16> x, std::span<float16> out,
                              const options& opt = {});
KELVIN_API void smooth_max(matrix_view<const float> x, std::span<float> out,
                           const options& opt = {});
KELVIN_API void smooth_max(matrix_view<const double> x, std::span<double> out,
                           const options& opt = {});
KELVIN_API void smooth_max(matrix_view<const bfloat16> x, std::span<bfloat16> out,
                           const options& opt = {});
KELVIN_API void smooth_max(matrix_view<const float16> x, std::span<float16> out,
                           const options& opt = {});

// --- over one axis of an N-d array (opt.temperatures: one per outer*inner
// slice, in (outer, inner) row-major order) ----------------------------------
// y has the same outer/axis/inner extents as x (strides may differ).
KELVIN_API void softmax(axis_view<const float> x, axis_view<float> y, const options& opt = {});
KELVIN_API void softmax(axis_view<const double> x, axis_view<double> y, const options& opt = {});
KELVIN_API void softmax(axis_view<const bfloat16> x, axis_view<bfloat16> y,
                        const options& opt = {});
KELVIN_API void softmax(axis_view<const float16> x, axis_view<float16> y, const options& opt = {});
KELVIN_API void log_softmax(axis_view<const float> x, axis_view<float> y, const options& opt = {});
KELVIN_API void log_softmax(axis_view<const double> x, axis_view<double> y,
                            const options& opt = {});
KELVIN_API void log_softmax(axis_view<const bfloat16> x, axis_view<bfloat16> y,
                            const options& opt = {});
KELVIN_API void log_softmax(axis_view<const float16> x, axis_view<float16> y,
                            const options& opt = {});
// The reduced output: out.outer == x.outer, out.inner == x.inner, out.axis == 1
// (its axis_stride is ignored).
KELVIN_API void log_partition(axis_view<const float> x, axis_view<float> out,
                              const options& opt = {});
KELVIN_API void log_partition(axis_view<const double> x, axis_view<double> out,
                              const options& opt = {});
KELVIN_API void log_partition(axis_view<const bfloat16> x, axis_view<bfloat16> out,
                              const options& opt = {});
KELVIN_API void log_partition(axis_view<const float16> x, axis_view<float16> out,
                              const options& opt = {});
KELVIN_API void smooth_max(axis_view<const float> x, axis_view<float> out, const options& opt = {});
KELVIN_API void smooth_max(axis_view<const double> x, axis_view<double> out,
                           const options& opt = {});
KELVIN_API void smooth_max(axis_view<const bfloat16> x, axis_view<bfloat16> out,
                           const options& opt = {});
KELVIN_API void smooth_max(axis_view<const float16> x, axis_view<float16> out,
                           const options& opt = {});

}  // namespace kelvin
