// kelvin._kelvin._calibration: the raw calibration functions over
// C-contiguous 2-D float32/float64 arrays and int64 labels. The public API,
// with its argument conversion and checks, is python/kelvin/calibration.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "kelvin/calibration.hpp"

namespace py = pybind11;

namespace kelvin::python {
namespace {

using labels_array = py::array_t<std::int64_t, py::array::c_style>;

std::span<const std::int64_t> labels_of(const labels_array& y) {
  return {y.data(), static_cast<std::size_t>(y.size())};
}

// Calls f(matrix_view<const T>) for a C-contiguous 2-D float32 or float64
// array (calibration.py converts everything else first).
template <class F>
auto with_matrix(const py::array& a, F&& f) {
  if (a.ndim() != 2 || !(a.flags() & py::array::c_style)) {
    throw py::value_error("expected a C-contiguous 2-D array");
  }
  const auto rows = static_cast<std::size_t>(a.shape(0)),
             cols = static_cast<std::size_t>(a.shape(1));
  if (py::isinstance<py::array_t<float>>(a)) {
    const matrix_view<const float> v(static_cast<const float*>(a.data()), rows, cols);
    py::gil_scoped_release release;
    return f(v);
  }
  if (py::isinstance<py::array_t<double>>(a)) {
    const matrix_view<const double> v(static_cast<const double*>(a.data()), rows, cols);
    py::gil_scoped_release release;
    return f(v);
  }
  throw py::type_error("expected float32 or float64");
}

binning strategy_of(const std::string& s) {
  if (s == "uniform") return binning::uniform;
  if (s == "quantile") return binning::quantile;
  throw py::value_error("strategy must be 'uniform' or 'quantile' (got '" + s + "')");
}

const char* outcome_name(fit_outcome o) {
  switch (o) {
    case fit_outcome::optimum:
      return "optimum";
    case fit_outcome::zero_temperature:
      return "zero_temperature";
    case fit_outcome::infinite_temperature:
      return "infinite_temperature";
    case fit_outcome::flat:
      return "flat";
  }
  return "optimum";
}

}  // namespace

void bind_calibration(py::module_& m) {
  m.doc() = "Raw calibration functions; use kelvin.calibration.";
  m.def(
      "fit_temperature",
      [](const py::array& x, const labels_array& y, double tolerance, int max_iterations) {
        const fit_result r = with_matrix(x, [&](auto v) {
          return fit_temperature(v, labels_of(y),
                                 {.tolerance = tolerance, .max_iterations = max_iterations});
        });
        return py::make_tuple(r.temperature, r.nll_before, r.nll_after, r.iterations, r.passes,
                              r.converged, outcome_name(r.outcome));
      },
      py::arg("logits"), py::arg("labels"), py::arg("tolerance"), py::arg("max_iterations"));
  m.def(
      "nll",
      [](const py::array& x, const labels_array& y, double t) {
        return with_matrix(x, [&](auto v) { return nll(v, labels_of(y), {.temperature = t}); });
      },
      py::arg("logits"), py::arg("labels"), py::arg("temperature"));
  m.def(
      "reliability",
      [](const py::array& p, const labels_array& y, int bins, const std::string& strategy) {
        const bin_options opt{.bins = bins, .strategy = strategy_of(strategy)};
        const std::vector<reliability_bin> r =
            with_matrix(p, [&](auto v) { return reliability(v, labels_of(y), opt); });
        const auto n = static_cast<py::ssize_t>(r.size());
        py::array_t<double> lower(n), upper(n), conf(n), acc(n);
        py::array_t<std::int64_t> count(n);
        for (py::ssize_t b = 0; b < n; ++b) {
          const reliability_bin& x = r[static_cast<std::size_t>(b)];
          lower.mutable_at(b) = x.lower;
          upper.mutable_at(b) = x.upper;
          count.mutable_at(b) = static_cast<std::int64_t>(x.count);
          conf.mutable_at(b) = x.confidence;
          acc.mutable_at(b) = x.accuracy;
        }
        return py::make_tuple(lower, upper, count, conf, acc);
      },
      py::arg("probs"), py::arg("labels"), py::arg("bins"), py::arg("strategy"));
  m.def(
      "accuracy",
      [](const py::array& p, const labels_array& y) {
        return with_matrix(p, [&](auto v) { return accuracy(v, labels_of(y)); });
      },
      py::arg("probs"), py::arg("labels"));
  m.def(
      "brier_score",
      [](const py::array& p, const labels_array& y) {
        return with_matrix(p, [&](auto v) { return brier_score(v, labels_of(y)); });
      },
      py::arg("probs"), py::arg("labels"));
  // The binned metrics: one line each.
  const auto binned = [&](const char* name, auto metric) {
    m.def(
        name,
        [metric](const py::array& p, const labels_array& y, int bins, const std::string& strategy) {
          const bin_options opt{.bins = bins, .strategy = strategy_of(strategy)};
          return with_matrix(p, [&](auto v) { return metric(v, labels_of(y), opt); });
        },
        py::arg("probs"), py::arg("labels"), py::arg("bins"), py::arg("strategy"));
  };
  binned("expected_calibration_error",
         [](auto v, auto y, const bin_options& o) { return expected_calibration_error(v, y, o); });
  binned("maximum_calibration_error",
         [](auto v, auto y, const bin_options& o) { return maximum_calibration_error(v, y, o); });
  binned("classwise_calibration_error",
         [](auto v, auto y, const bin_options& o) { return classwise_calibration_error(v, y, o); });
}

}  // namespace kelvin::python
