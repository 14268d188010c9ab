// The Python module's stride planner (python/stride_plan.hpp) against direct
// enumeration: on random layouts (permuted, reversed, strided dimensions;
// random reduced axes), every plan it returns must send each x element to the
// y element and the row (temperature) the array's own indices give.
#include "python/stride_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

namespace kelvin::python {
namespace {

using layout = std::vector<dim>;

// Strides of `shape` laid out in `order` (outermost first): dense, or with
// `pad` (a bit per dimension) the strides of a slice [::2] of a larger array.
std::vector<std::ptrdiff_t> strides_of(const std::vector<std::ptrdiff_t>& shape,
                                       const std::vector<std::size_t>& order, unsigned pad = 0) {
  std::vector<std::ptrdiff_t> s(shape.size(), 0);
  std::ptrdiff_t step = 1;
  for (std::size_t k = order.size(); k-- > 0;) {
    s[order[k]] = step * ((pad >> k) & 1 ? 2 : 1);
    step = s[order[k]] * std::max<std::ptrdiff_t>(shape[order[k]], 1);
  }
  return s;
}

struct expected {
  std::ptrdiff_t y;
  std::size_t row;  // C-order index over the kept dimensions
};

// x offset -> (y offset, row) by walking every index tuple of the array.
std::map<std::ptrdiff_t, expected> enumerate(const layout& dims, bool elementwise) {
  std::map<std::ptrdiff_t, expected> out;
  std::size_t total = 1;
  for (const dim& d : dims) total *= static_cast<std::size_t>(d.n);
  std::vector<std::ptrdiff_t> idx(dims.size(), 0);
  for (std::size_t e = 0; e < total; ++e) {
    std::ptrdiff_t x = 0, y = 0;
    std::size_t row = 0;
    for (std::size_t d = 0; d < dims.size(); ++d) {
      x += idx[d] * dims[d].xs;
      if (!dims[d].reduced || elementwise) y += idx[d] * dims[d].ys;
      if (!dims[d].reduced) row = row * static_cast<std::size_t>(dims[d].n) + idx[d];
    }
    out[x] = {y, row};
    for (std::size_t d = dims.size(); d-- > 0;) {
      if (++idx[d] < dims[d].n) break;
      idx[d] = 0;
    }
  }
  return out;
}

// Checks plan p against the enumeration of dims.
void check_plan(const layout& dims, bool elementwise, const plan& p) {
  const auto want = enumerate(dims, elementwise);
  if (p.empty) {
    EXPECT_TRUE(want.empty() || elementwise);
    return;
  }
  std::map<std::ptrdiff_t, expected> got;
  std::map<std::size_t, std::size_t> slice_of_row;
  for (std::size_t o = 0; o < p.outer; ++o) {
    for (std::size_t i = 0; i < p.inner; ++i) {
      const std::size_t slice = o * p.inner + i;
      for (std::size_t a = 0; a < p.axis; ++a) {
        const auto so = static_cast<std::ptrdiff_t>(o), sa = static_cast<std::ptrdiff_t>(a),
                   si = static_cast<std::ptrdiff_t>(i);
        const std::ptrdiff_t x = so * p.x_outer + sa * p.x_axis + si * p.x_inner;
        const std::ptrdiff_t y =
            so * p.y_outer + (elementwise ? sa * p.y_axis : 0) + si * p.y_inner;
        ASSERT_EQ(got.count(x), 0u) << "x offset " << x << " visited twice";
        got[x] = {y, slice};
      }
    }
  }
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [x, w] : want) {
    ASSERT_EQ(got.count(x), 1u) << "x offset " << x << " not visited";
    const expected& g = got.at(x);
    EXPECT_EQ(g.y, w.y) << "x offset " << x;
    // One slice per row of the array, whichever order the plan takes them in.
    const auto [it, fresh] = slice_of_row.emplace(w.row, g.row);
    EXPECT_EQ(it->second, g.row) << "row " << w.row << " split over slices";
    if (p.rows_in_c_order) {
      EXPECT_EQ(g.row, w.row);
    }
  }
}

TEST(stride_plan, random_layouts_map_every_element_to_its_row_and_output) {
  std::mt19937 rng(1234);
  int planned = 0, declined = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const std::size_t rank = 1 + rng() % 4;
    std::vector<std::ptrdiff_t> shape(rank);
    for (auto& n : shape) n = std::vector<std::ptrdiff_t>{1, 2, 3, 5, 4}[rng() % 5];
    if (rng() % 20 == 0) shape[rng() % rank] = 0;
    std::vector<char> reduced(rank);
    for (auto& r : reduced) r = rng() % 3 == 0;
    if (std::none_of(reduced.begin(), reduced.end(), [](char r) { return r; })) {
      reduced[rng() % rank] = 1;
    }
    const bool elementwise = rng() % 2 == 0;
    // x: dimensions in a random memory order, some reversed, some stepped.
    std::vector<std::size_t> order(rank);
    std::iota(order.begin(), order.end(), 0);
    if (rng() % 2) std::shuffle(order.begin(), order.end(), rng);
    auto xs = strides_of(shape, order, rng() % 3 == 0 ? static_cast<unsigned>(rng()) : 0);
    for (auto& s : xs) {
      if (rng() % 4 == 0) s = -s;
    }
    // y: x's shape (elementwise) or the kept dimensions, C order or x's order.
    std::vector<std::ptrdiff_t> yshape;
    std::vector<std::size_t> ydims;
    for (std::size_t d = 0; d < rank; ++d) {
      if (elementwise || !reduced[d]) {
        yshape.push_back(shape[d]);
        ydims.push_back(d);
      }
    }
    std::vector<std::size_t> yorder(ydims.size());
    std::iota(yorder.begin(), yorder.end(), 0);
    if (elementwise && rng() % 2) {
      yorder.clear();
      for (std::size_t d : order) yorder.push_back(d);
    }
    const auto ys = strides_of(yshape, yorder);
    layout dims(rank);
    std::ptrdiff_t ts = 1;
    for (std::size_t d = rank, k = ydims.size(); d-- > 0;) {
      dim& e = dims[d];
      e.n = shape[d];
      e.reduced = reduced[d] != 0;
      e.xs = e.n > 1 ? xs[d] : 0;
      if (elementwise || !e.reduced) {
        --k;
        e.ys = e.n > 1 ? ys[k] : 0;
      }
      if (!e.reduced) {
        e.ts = ts;
        ts *= std::max<std::ptrdiff_t>(e.n, 1);
      }
    }
    const auto p = make_plan(dims, elementwise);
    if (!p) {
      ++declined;
      continue;
    }
    ++planned;
    SCOPED_TRACE("trial " + std::to_string(trial));
    check_plan(dims, elementwise, *p);
    if (HasFatalFailure()) return;
  }
  // Both outcomes occur (the sweep exercises the planner, not only its refusal).
  EXPECT_GT(planned, 1000);
  EXPECT_GT(declined, 50);
}

TEST(stride_plan, c_order_one_axis_always_plans_and_two_apart_do_not) {
  // 4 x 5 x 6, C order: any single axis is an axis view...
  for (std::size_t r = 0; r < 3; ++r) {
    layout dims = {{4, 30, 30, 0, false}, {5, 6, 6, 0, false}, {6, 1, 1, 0, false}};
    dims[r].reduced = true;
    const auto p = make_plan(dims, true);
    ASSERT_TRUE(p.has_value()) << r;
    EXPECT_EQ(p->axis, static_cast<std::size_t>(dims[r].n));
    check_plan(dims, true, *p);
  }
  // ...and axes 0 and 2 together are not one axis in memory.
  layout dims = {{4, 30, 30, 0, true}, {5, 6, 6, 1, false}, {6, 1, 1, 0, true}};
  EXPECT_FALSE(make_plan(dims, true).has_value());
}

}  // namespace
}  // namespace kelvin::python
