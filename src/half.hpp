// Drivers of bfloat16 and float16 rows (src/half.cpp), called by the public
// overloads in src/softmax.cpp after their argument checks.
#pragma once

#include <cstddef>
#include <type_traits>

#include "kelvin/half.hpp"
#include "kelvin/types.hpp"
#include "src/kernels/kernels.hpp"

namespace kelvin::detail {

template <class H>
concept half_storage = std::is_same_v<H, bfloat16> || std::is_same_v<H, float16>;

// Rows of up to this many entries use a per-thread float buffer (1 MiB, kept
// by each thread that used it; softmax in float lanes keeps its exponentials
// there, the operations off the float lanes the widened row): one exponential per entry. Longer
// rows are widened one kChunk chunk at a time in each pass, and softmax computes their exponentials
// twice (sum, output).
inline constexpr std::size_t kHalfRowBuffer = std::size_t{1} << 18;

// Whether bfloat16 / float16 softmax takes the float-lane path (src/half.cpp;
// on unless switched off). A process-wide switch for tests and the A/B
// benchmark (bench/ab.cpp), which compare it with the float32 path widened.
void set_half_float_lanes(bool on);
bool half_float_lanes();

// Rows of a validated batch: softmax / log_softmax write row r at
// y + r * y_stride, the reductions y[r].
template <half_storage H>
void half_rows(family f, matrix_view<const H> x, H* y, std::size_t y_stride, const options& opt);

// Slices of a validated axis view (y: the reduced output for the reductions).
template <half_storage H>
void half_axis(family f, axis_view<const H> x, axis_view<H> y, const options& opt);

}  // namespace kelvin::detail
