// The Python module's stride planner: how one kelvin::axis_view call (outer x
// axis x inner, signed element strides) covers an N-d array whose dimensions
// are reduced or kept, without copying. Pure C++ (no Python), so that
// tests/stride_plan_test.cpp checks it directly.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace kelvin::python {

// One dimension of the problem: its length, x's and y's strides in elements,
// and for a kept (not reduced) dimension its stride in the C-contiguous
// temperature array.
struct dim {
  std::ptrdiff_t n = 1;
  std::ptrdiff_t xs = 0;
  std::ptrdiff_t ys = 0;
  std::ptrdiff_t ts = 0;
  bool reduced = false;
};

// How one kelvin::axis_view call covers the whole array.
struct plan {
  std::size_t outer = 1, axis = 1, inner = 1;
  std::ptrdiff_t x_outer = 0, x_axis = 1, x_inner = 0;
  std::ptrdiff_t y_outer = 0, y_axis = 1, y_inner = 0;
  std::vector<dim> rows;  // kept dimensions in (outer, inner) order, outermost first
  bool rows_in_c_order = true;
  bool empty = false;  // no output to compute
};

// The plan for dimensions `all` (in the array's order), or nullopt when the
// reduced dimensions do not address memory as one axis (in x, and in y for
// an elementwise call) or the kept ones not as at most two: the caller then
// copies into a layout that does. elementwise: y has x's shape (softmax,
// log_softmax); else y has the kept dimensions only.
std::optional<plan> make_plan(const std::vector<dim>& all, bool elementwise);

}  // namespace kelvin::python
