// kelvin._kelvin_mpi: the raw bindings of kelvin::mpi over mpi4py
// communicators. A separate extension from kelvin._kelvin so that only
// `import kelvin.mpi` needs libmpi; python/kelvin/mpi.py is the public API.
//
// A communicator arrives as its Fortran handle (mpi4py's Comm.py2f()),
// turned back with MPI_Comm_f2c: the one conversion every MPI implementation
// provides, whatever its C handle type.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "kelvin/mpi.hpp"

namespace py = pybind11;

namespace {

MPI_Comm comm_of(std::int64_t fortran_handle) {
  return MPI_Comm_f2c(static_cast<MPI_Fint>(fortran_handle));
}

template <class T>
using rows_t = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <class T>
kelvin::matrix_view<const T> view_of(const rows_t<T>& x) {
  if (x.ndim() != 2) throw py::value_error("local_logits must be 2-D (rows x local classes)");
  return {x.data(), static_cast<std::size_t>(x.shape(0)), static_cast<std::size_t>(x.shape(1))};
}

template <class T>
py::array_t<T> log_partition(std::int64_t comm, const rows_t<T>& x, double temperature) {
  const auto v = view_of(x);
  py::array_t<T> out(static_cast<py::ssize_t>(v.rows));
  {
    py::gil_scoped_release nogil;
    kelvin::sharded_log_partition(comm_of(comm), v, std::span<T>(out.mutable_data(), v.rows),
                                  {.temperature = temperature});
  }
  return out;
}

template <class T>
py::array_t<T> softmax(std::int64_t comm, const rows_t<T>& x, double temperature, bool log) {
  const auto v = view_of(x);
  py::array_t<T> y({static_cast<py::ssize_t>(v.rows), static_cast<py::ssize_t>(v.cols)});
  {
    py::gil_scoped_release nogil;
    const kelvin::matrix_view<T> yv(y.mutable_data(), v.rows, v.cols);
    if (log)
      kelvin::sharded_log_softmax(comm_of(comm), v, yv, {.temperature = temperature});
    else
      kelvin::sharded_softmax(comm_of(comm), v, yv, {.temperature = temperature});
  }
  return y;
}

kelvin::reduction reduction_of(const std::string& r) {
  if (r == "mean") return kelvin::reduction::mean;
  if (r == "sum") return kelvin::reduction::sum;
  if (r == "none") return kelvin::reduction::none;
  throw py::value_error("reduction must be 'mean', 'sum' or 'none', got '" + r + "'");
}

// (loss, per-row losses, grad or None, dL/dT or None).
template <class T>
py::tuple cross_entropy(
    std::int64_t comm, const rows_t<T>& x,
    const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& labels,
    std::int64_t class_offset, double temperature, const std::string& reduction,
    double label_smoothing, std::int64_t ignore_index, bool grad) {
  const auto v = view_of(x);
  if (labels.ndim() != 1) throw py::value_error("labels must be 1-D (one label per row)");
  if (class_offset < 0)
    throw py::value_error("class_offset must be >= 0, got " + std::to_string(class_offset));
  const kelvin::loss_options o{.temperature = temperature,
                               .reduce = reduction_of(reduction),
                               .ignore_index = ignore_index,
                               .label_smoothing = label_smoothing};
  const bool none = o.reduce == kelvin::reduction::none;
  py::array_t<T> losses(static_cast<py::ssize_t>(none ? v.rows : 0));
  py::object g = py::none(), dt = py::none();
  py::array_t<T> ga;
  if (grad)
    ga = py::array_t<T>({static_cast<py::ssize_t>(v.rows), static_cast<py::ssize_t>(v.cols)});
  kelvin::loss_value r;
  {
    py::gil_scoped_release nogil;
    r = kelvin::sharded_cross_entropy(
        comm_of(comm), v, std::span<const std::int64_t>(labels.data(), labels.size()),
        static_cast<std::size_t>(class_offset), o,
        grad ? kelvin::matrix_view<T>(ga.mutable_data(), v.rows, v.cols) : kelvin::matrix_view<T>{},
        std::span<T>(losses.mutable_data(), none ? v.rows : 0));
  }
  const double loss = r.loss;
  if (grad) {
    g = ga;
    dt = py::float_(r.d_temperature);
  }
  return py::make_tuple(loss, losses, g, dt);
}

// One token per row (float32 logits: the sampler's type).
py::array_t<std::int64_t> sample(
    std::int64_t comm, const rows_t<float>& x, double temperature, std::int64_t top_k, double top_p,
    double min_p, std::uint64_t seed, std::uint64_t step,
    const py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>& row_ids) {
  const auto v = view_of(x);
  py::array_t<std::int64_t> tokens(static_cast<py::ssize_t>(v.rows));
  const kelvin::sampling_options c{
      .temperature = temperature, .top_k = top_k, .top_p = top_p, .min_p = min_p, .seed = seed};
  {
    py::gil_scoped_release nogil;
    kelvin::sharded_sample(comm_of(comm), v, std::span<std::int64_t>(tokens.mutable_data(), v.rows),
                           c,
                           {.step = step,
                            .row_ids = std::span<const std::uint64_t>(
                                row_ids.data(), static_cast<std::size_t>(row_ids.size()))});
  }
  return tokens;
}

template <class T>
void bind_type(py::module_& m) {
  m.def("log_partition", &log_partition<T>, py::arg("comm"), py::arg("x"), py::arg("temperature"));
  m.def("softmax", &softmax<T>, py::arg("comm"), py::arg("x"), py::arg("temperature"),
        py::arg("log"));
  m.def("cross_entropy", &cross_entropy<T>, py::arg("comm"), py::arg("x"), py::arg("labels"),
        py::arg("class_offset"), py::arg("temperature"), py::arg("reduction"),
        py::arg("label_smoothing"), py::arg("ignore_index"), py::arg("grad"));
}

}  // namespace

PYBIND11_MODULE(_kelvin_mpi, m) {
  m.doc() = "kelvin::mpi bindings (use kelvin.mpi)";
  // float64 first: pybind11 tries overloads in order and forcecast would
  // otherwise turn float64 arrays into float32. kelvin/mpi.py picks the
  // dtype explicitly anyway.
  py::module_ f32 = m.def_submodule("f32");
  py::module_ f64 = m.def_submodule("f64");
  bind_type<float>(f32);
  bind_type<double>(f64);
  m.def("sample", &sample, py::arg("comm"), py::arg("x"), py::arg("temperature"), py::arg("top_k"),
        py::arg("top_p"), py::arg("min_p"), py::arg("seed"), py::arg("step"), py::arg("row_ids"));
}
