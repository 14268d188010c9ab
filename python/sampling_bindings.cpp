// kelvin._kelvin._sampling: the raw sampler over NumPy arrays. The public API
// (argument names, defaults, broadcasting of per-row configs, type checks) is
// python/kelvin/sampling.py; this layer takes float32 C-contiguous logits of
// shape (rows, n) and one array of rows entries per config field.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "kelvin/sampling.hpp"

namespace py = pybind11;

namespace kelvin::python {
namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// The per-row config arrays, each of shape (rows,).
struct config_arrays {
  carray<double> temperature, top_p, min_p, typical_p, dynamic_range, dynamic_exponent;
  carray<std::int64_t> top_k, min_keep;
  carray<std::uint8_t> order;  // 0 temperature_first, 1 temperature_last
  carray<std::uint64_t> seed;
};

std::vector<sampling_options> configs_of(const config_arrays& a, std::size_t rows) {
  const auto need = [&](const py::array& v, const char* name) {
    if (v.ndim() != 1 || static_cast<std::size_t>(v.shape(0)) != rows) {
      throw py::value_error(std::string(name) + " must have " + std::to_string(rows) +
                            " entries, one per row");
    }
  };
  need(a.temperature, "temperature");
  need(a.top_k, "top_k");
  need(a.top_p, "top_p");
  need(a.min_p, "min_p");
  need(a.typical_p, "typical_p");
  need(a.min_keep, "min_keep");
  need(a.order, "order");
  need(a.dynamic_range, "dynamic_range");
  need(a.dynamic_exponent, "dynamic_exponent");
  need(a.seed, "seed");
  std::vector<sampling_options> c(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    const auto i = static_cast<py::ssize_t>(r);
    c[r] = {.temperature = a.temperature.at(i),
            .top_k = a.top_k.at(i),
            .top_p = a.top_p.at(i),
            .min_p = a.min_p.at(i),
            .typical_p = a.typical_p.at(i),
            .min_keep = a.min_keep.at(i),
            .order = a.order.at(i) == 0 ? sampling_order::temperature_first
                                        : sampling_order::temperature_last,
            .dynamic_range = a.dynamic_range.at(i),
            .dynamic_exponent = a.dynamic_exponent.at(i),
            .seed = a.seed.at(i)};
  }
  return c;
}

matrix_view<const float> view_of(const carray<float>& x) {
  if (x.ndim() != 2) throw py::value_error("logits must be 2-D here");
  return {x.data(), static_cast<std::size_t>(x.shape(0)), static_cast<std::size_t>(x.shape(1))};
}

}  // namespace

void bind_sampling(py::module_& m) {
  m.def(
      "sample",
      [](const carray<float>& logits, const config_arrays& a, std::uint64_t step,
         const carray<std::uint64_t>& row_ids, bool logprobs, int threads) {
        const auto x = view_of(logits);
        const auto configs = configs_of(a, x.rows);
        if (row_ids.ndim() != 1 || static_cast<std::size_t>(row_ids.shape(0)) != x.rows) {
          throw py::value_error("row_ids must have one entry per row");
        }
        const auto rows = static_cast<py::ssize_t>(x.rows);
        py::array_t<std::int64_t> tokens(rows);
        py::array_t<double> lp(logprobs ? rows : 0), raw(logprobs ? rows : 0);
        const std::span<std::int64_t> t(tokens.mutable_data(), x.rows);
        const std::span<double> l(lp.mutable_data(), logprobs ? x.rows : 0);
        const std::span<double> w(raw.mutable_data(), logprobs ? x.rows : 0);
        const std::span<const std::uint64_t> ids(row_ids.data(), x.rows);
        {
          py::gil_scoped_release release;
          sample(
              x, t, configs,
              {.step = step, .row_ids = ids, .logprobs = l, .raw_logprobs = w, .threads = threads});
        }
        return py::make_tuple(tokens, lp, raw);
      },
      py::arg("logits"), py::arg("configs"), py::arg("step"), py::arg("row_ids"),
      py::arg("logprobs"), py::arg("threads") = 0);
  m.def(
      "sampling_distribution",
      [](const carray<float>& logits, const config_arrays& a, int threads) {
        const auto x = view_of(logits);
        const auto configs = configs_of(a, x.rows);
        py::array_t<double> probs(
            {static_cast<py::ssize_t>(x.rows), static_cast<py::ssize_t>(x.cols)});
        {
          py::gil_scoped_release release;
          sampling_distribution(x, matrix_view<double>(probs.mutable_data(), x.rows, x.cols),
                                configs, threads);
        }
        return probs;
      },
      py::arg("logits"), py::arg("configs"), py::arg("threads") = 0);
  // The config travels as a tuple of arrays (see sampling.py's _configs).
  py::class_<config_arrays>(m, "Configs")
      .def(
          py::init([](carray<double> temperature, carray<std::int64_t> top_k, carray<double> top_p,
                      carray<double> min_p, carray<double> typical_p, carray<std::int64_t> min_keep,
                      carray<std::uint8_t> order, carray<double> dynamic_range,
                      carray<double> dynamic_exponent, carray<std::uint64_t> seed) {
            return config_arrays{temperature,      top_p, min_p,    typical_p, dynamic_range,
                                 dynamic_exponent, top_k, min_keep, order,     seed};
          }));
}

}  // namespace kelvin::python
