// The Python module's stride planner (python/stride_plan.hpp).
#include "stride_plan.hpp"

#include <algorithm>
#include <cstdlib>

namespace kelvin::python {
namespace {

// Sorts outermost (largest |x stride|) first; stable, so ties keep their order.
void sort_outer_first(std::vector<dim>& ds) {
  std::stable_sort(ds.begin(), ds.end(),
                   [](const dim& a, const dim& b) { return std::abs(a.xs) > std::abs(b.xs); });
}

// Splits dimensions (sorted outer first) into runs that address memory as one
// dimension, in x and, when check_y, in y.
std::vector<std::vector<dim>> runs(const std::vector<dim>& ds, bool check_y) {
  std::vector<std::vector<dim>> out;
  for (const dim& d : ds) {
    if (!out.empty()) {
      const dim& p = out.back().back();
      if (p.xs == d.xs * d.n && (!check_y || p.ys == d.ys * d.n)) {
        out.back().push_back(d);
        continue;
      }
    }
    out.push_back({d});
  }
  return out;
}

}  // namespace

std::optional<plan> make_plan(const std::vector<dim>& all, bool elementwise) {
  plan p;
  std::vector<dim> red, kept;
  bool red_empty = false;
  for (const dim& d : all) {
    if (d.n == 0) {
      if (!d.reduced || elementwise) {
        p.empty = true;
        return p;
      }
      red_empty = true;
    }
    if (d.n > 1) (d.reduced ? red : kept).push_back(d);
  }
  if (red_empty) {
    p.axis = 0;
  } else if (!red.empty()) {
    sort_outer_first(red);
    const auto r = runs(red, elementwise);
    if (r.size() != 1) return std::nullopt;
    std::size_t n = 1;
    for (const dim& d : red) n *= static_cast<std::size_t>(d.n);
    p.axis = n;
    p.x_axis = red.back().xs;
    p.y_axis = elementwise ? red.back().ys : 1;
  }
  std::vector<dim> sorted = kept;
  sort_outer_first(sorted);
  const auto k = runs(sorted, true);
  if (k.size() > 2) return std::nullopt;
  const auto extent = [](const std::vector<dim>& g) {
    std::size_t n = 1;
    for (const dim& d : g) n *= static_cast<std::size_t>(d.n);
    return n;
  };
  if (!k.empty()) {
    p.outer = extent(k[0]);
    p.x_outer = k[0].back().xs;
    p.y_outer = k[0].back().ys;
  }
  if (k.size() == 2) {
    p.inner = extent(k[1]);
    p.x_inner = k[1].back().xs;
    p.y_inner = k[1].back().ys;
  }
  p.rows = sorted;
  // The temperature array is C-contiguous over the kept dimensions in their
  // original order, so it can be used as it is when the plan keeps that order.
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i - 1].ts < sorted[i].ts) p.rows_in_c_order = false;
  }
  return p;
}

}  // namespace kelvin::python
