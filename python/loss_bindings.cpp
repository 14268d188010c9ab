// The raw loss functions in kelvin._kelvin._loss: 2-D float32 or float64
// arrays whose rows are contiguous (any row stride), outputs preallocated by
// the caller, no copies. The public API, argument conversion and return
// conventions are python/kelvin/losses.py and python/kelvin/torch.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "bindings.hpp"
#include "kelvin/loss.hpp"

namespace py = pybind11;

namespace kelvin::python {
namespace {

[[noreturn]] void raise(PyObject* type, const std::string& msg) {
  PyErr_SetString(type, msg.c_str());
  throw py::error_already_set();
}

// A 2-D array of T with contiguous rows as a matrix_view (no copy).
template <class T>
matrix_view<T> view_of(const py::array& a, const char* name, bool writable) {
  if (!a.dtype().is(py::dtype::of<T>())) {
    raise(PyExc_TypeError, std::string(name) + " has dtype " +
                               py::str(a.dtype()).cast<std::string>() + "; expected " +
                               py::str(py::dtype::of<T>()).cast<std::string>());
  }
  if (a.ndim() != 2) {
    raise(PyExc_ValueError,
          std::string(name) + " must be 2-D (got " + std::to_string(a.ndim()) + " dimensions)");
  }
  const auto rows = static_cast<std::size_t>(a.shape(0));
  const auto cols = static_cast<std::size_t>(a.shape(1));
  const auto s0 = a.strides(0), s1 = a.strides(1);
  const auto item = static_cast<py::ssize_t>(sizeof(T));
  if ((cols > 1 && s1 != item) || (rows > 1 && (s0 < 0 || s0 % item != 0))) {
    raise(PyExc_ValueError, std::string(name) + " needs contiguous rows");
  }
  if (writable && !a.writeable()) raise(PyExc_ValueError, std::string(name) + " is read-only");
  const std::size_t stride = rows > 1 ? static_cast<std::size_t>(s0 / item) : cols;
  T* data = static_cast<T*>(const_cast<void*>(a.data()));
  return {data, rows, cols, std::max(stride, cols)};
}

// A contiguous writable 1-D array of T as a span.
template <class T>
std::span<T> span_of(const py::array& a, const char* name) {
  if (!a.dtype().is(py::dtype::of<T>()) || a.ndim() != 1 ||
      (a.shape(0) > 1 && a.strides(0) != static_cast<py::ssize_t>(sizeof(T)))) {
    raise(PyExc_TypeError, std::string(name) + " must be a contiguous 1-D array of " +
                               py::str(py::dtype::of<T>()).cast<std::string>());
  }
  if (!a.writeable()) raise(PyExc_ValueError, std::string(name) + " is read-only");
  return {static_cast<T*>(const_cast<void*>(a.data())), static_cast<std::size_t>(a.shape(0))};
}

template <class T>
matrix_view<T> opt_view(const std::optional<py::array>& a, const char* name) {
  return a ? view_of<T>(*a, name, true) : matrix_view<T>{};
}

std::span<const std::int64_t> labels_of(const std::optional<py::array>& a) {
  if (!a) return {};
  if (!a->dtype().is(py::dtype::of<std::int64_t>()) || a->ndim() != 1 ||
      (a->shape(0) > 1 && a->strides(0) != 8)) {
    raise(PyExc_TypeError, "labels must be a contiguous 1-D int64 array");
  }
  return {static_cast<const std::int64_t*>(a->data()), static_cast<std::size_t>(a->shape(0))};
}

reduction reduction_of(const std::string& r) {
  if (r == "mean") return reduction::mean;
  if (r == "sum") return reduction::sum;
  if (r == "none") return reduction::none;
  raise(PyExc_ValueError, "reduction must be 'mean', 'sum' or 'none' (got '" + r + "')");
}

margin_type margin_of(const std::string& m) {
  if (m == "none") return margin_type::none;
  if (m == "cosface") return margin_type::cosface;
  if (m == "arcface") return margin_type::arcface;
  raise(PyExc_ValueError, "margin_type must be 'none', 'cosface' or 'arcface' (got '" + m + "')");
}

bool is_f32(const py::array& a) { return a.dtype().is(py::dtype::of<float>()); }

py::tuple result(const loss_value& v) { return py::make_tuple(v.loss, v.d_temperature); }

template <class T>
py::tuple cross_entropy_t(const py::array& logits, const std::optional<py::array>& labels,
                          const std::optional<py::array>& targets, double temperature,
                          const std::string& red, std::int64_t ignore_index, double smoothing,
                          const std::optional<py::array>& grad,
                          const std::optional<py::array>& losses, int threads) {
  const auto x = view_of<T>(logits, "logits", false);
  const auto g = opt_view<T>(grad, "grad");
  std::span<T> l;
  if (losses) l = span_of<T>(*losses, "losses");
  const loss_options o{.temperature = temperature,
                       .reduce = reduction_of(red),
                       .ignore_index = ignore_index,
                       .label_smoothing = smoothing,
                       .threads = threads};
  loss_value v;
  if (targets) {
    const auto q = view_of<T>(*targets, "targets", false);
    py::gil_scoped_release nogil;
    v = cross_entropy(matrix_view<const T>(x), matrix_view<const T>(q), o, g, l);
  } else {
    const auto y = labels_of(labels);
    py::gil_scoped_release nogil;
    v = cross_entropy(matrix_view<const T>(x), y, o, g, l);
  }
  return result(v);
}

}  // namespace

void bind_loss(py::module_& m) {
  m.doc() = "Raw loss kernels; use kelvin.losses and kelvin.torch.";
  m.def(
      "cross_entropy",
      [](const py::array& logits, const std::optional<py::array>& labels,
         const std::optional<py::array>& targets, double temperature, const std::string& red,
         std::int64_t ignore_index, double smoothing, const std::optional<py::array>& grad,
         const std::optional<py::array>& losses, int threads) {
        return is_f32(logits)
                   ? cross_entropy_t<float>(logits, labels, targets, temperature, red, ignore_index,
                                            smoothing, grad, losses, threads)
                   : cross_entropy_t<double>(logits, labels, targets, temperature, red,
                                             ignore_index, smoothing, grad, losses, threads);
      },
      py::arg("logits"), py::arg("labels"), py::arg("targets"), py::arg("temperature"),
      py::arg("reduction"), py::arg("ignore_index"), py::arg("label_smoothing"), py::arg("grad"),
      py::arg("losses"), py::arg("threads") = 0);
  m.def(
      "distillation",
      [](const py::array& s, const py::array& u, const std::optional<py::array>& labels,
         double temperature, double alpha, const std::optional<py::array>& grad, int threads) {
        const loss_options o{.temperature = temperature, .alpha = alpha, .threads = threads};
        const auto y = labels_of(labels);
        auto run = [&]<class T>(T*) {
          const auto sv = view_of<T>(s, "student", false);
          const auto uv = view_of<T>(u, "teacher", false);
          const auto g = opt_view<T>(grad, "grad");
          py::gil_scoped_release nogil;
          return distillation(matrix_view<const T>(sv), matrix_view<const T>(uv), y, o, g);
        };
        return result(is_f32(s) ? run(static_cast<float*>(nullptr))
                                : run(static_cast<double*>(nullptr)));
      },
      py::arg("student"), py::arg("teacher"), py::arg("labels"), py::arg("temperature"),
      py::arg("alpha"), py::arg("grad"), py::arg("threads") = 0);
  m.def(
      "info_nce",
      [](const py::array& logits, double temperature, const std::optional<py::array>& grad,
         int threads) {
        const loss_options o{.temperature = temperature, .threads = threads};
        auto run = [&]<class T>(T*) {
          const auto x = view_of<T>(logits, "logits", false);
          const auto g = opt_view<T>(grad, "grad");
          py::gil_scoped_release nogil;
          return info_nce(matrix_view<const T>(x), o, g);
        };
        return result(is_f32(logits) ? run(static_cast<float*>(nullptr))
                                     : run(static_cast<double*>(nullptr)));
      },
      py::arg("logits"), py::arg("temperature"), py::arg("grad"), py::arg("threads") = 0);
  m.def(
      "info_nce_embeddings",
      [](const py::array& q, const py::array& k, const py::array& queue, double temperature,
         bool normalize, const std::optional<py::array>& gq, const std::optional<py::array>& gk,
         int threads) {
        const loss_options o{
            .temperature = temperature, .normalize = normalize, .threads = threads};
        auto run = [&]<class T>(T*) {
          const auto qv = view_of<T>(q, "q", false);
          const auto kv = view_of<T>(k, "k", false);
          const auto uv = view_of<T>(queue, "queue", false);
          const auto g1 = opt_view<T>(gq, "grad_q");
          const auto g2 = opt_view<T>(gk, "grad_k");
          py::gil_scoped_release nogil;
          return info_nce_embeddings(matrix_view<const T>(qv), matrix_view<const T>(kv),
                                     matrix_view<const T>(uv), o, g1, g2);
        };
        return result(is_f32(q) ? run(static_cast<float*>(nullptr))
                                : run(static_cast<double*>(nullptr)));
      },
      py::arg("q"), py::arg("k"), py::arg("queue"), py::arg("temperature"), py::arg("normalize"),
      py::arg("grad_q"), py::arg("grad_k"), py::arg("threads") = 0);
  m.def(
      "clip",
      [](const py::array& image, const py::array& text, double log_scale,
         const std::optional<py::array>& gi, const std::optional<py::array>& gt, int threads) {
        const loss_options o{.threads = threads};
        auto run = [&]<class T>(T*) {
          const auto iv = view_of<T>(image, "image_features", false);
          const auto tv = view_of<T>(text, "text_features", false);
          const auto g1 = opt_view<T>(gi, "grad_image");
          const auto g2 = opt_view<T>(gt, "grad_text");
          py::gil_scoped_release nogil;
          return clip(matrix_view<const T>(iv), matrix_view<const T>(tv), log_scale, o, g1, g2);
        };
        return result(is_f32(image) ? run(static_cast<float*>(nullptr))
                                    : run(static_cast<double*>(nullptr)));
      },
      py::arg("image_features"), py::arg("text_features"), py::arg("log_scale"),
      py::arg("grad_image"), py::arg("grad_text"), py::arg("threads") = 0);
  m.def(
      "cosine_softmax",
      [](const py::array& f, const py::array& w, const std::optional<py::array>& labels,
         double scale, double margin, const std::string& kind, const std::optional<py::array>& gf,
         const std::optional<py::array>& gw, int threads) {
        const loss_options o{
            .scale = scale, .margin = margin, .margin_kind = margin_of(kind), .threads = threads};
        const auto y = labels_of(labels);
        auto run = [&]<class T>(T*) {
          const auto fv = view_of<T>(f, "features", false);
          const auto wv = view_of<T>(w, "weights", false);
          const auto g1 = opt_view<T>(gf, "grad_features");
          const auto g2 = opt_view<T>(gw, "grad_weights");
          py::gil_scoped_release nogil;
          return cosine_softmax(matrix_view<const T>(fv), matrix_view<const T>(wv), y, o, g1, g2);
        };
        return result(is_f32(f) ? run(static_cast<float*>(nullptr))
                                : run(static_cast<double*>(nullptr)));
      },
      py::arg("features"), py::arg("weights"), py::arg("labels"), py::arg("scale"),
      py::arg("margin"), py::arg("margin_type"), py::arg("grad_features"), py::arg("grad_weights"),
      py::arg("threads") = 0);
  const auto backward = [&](const char* name, bool log) {
    m.def(
        name,
        [log](const py::array& y, const py::array& dy, const py::array& dx,
              const std::optional<py::array>& dt, double temperature) {
          options o;
          o.temperature = temperature;
          std::span<double> dts;
          if (dt) dts = span_of<double>(*dt, "d_temperature");
          auto run = [&]<class T>(T*) {
            const auto yv = view_of<T>(y, log ? "z" : "y", false);
            const auto dyv = view_of<T>(dy, log ? "dz" : "dy", false);
            const auto dxv = view_of<T>(dx, "dx", true);
            py::gil_scoped_release nogil;
            if (log) {
              log_softmax_backward(matrix_view<const T>(yv), matrix_view<const T>(dyv), dxv, dts,
                                   o);
            } else {
              softmax_backward(matrix_view<const T>(yv), matrix_view<const T>(dyv), dxv, dts, o);
            }
          };
          if (is_f32(y)) {
            run(static_cast<float*>(nullptr));
          } else {
            run(static_cast<double*>(nullptr));
          }
        },
        py::arg("y"), py::arg("dy"), py::arg("dx"), py::arg("d_temperature"),
        py::arg("temperature"));
  };
  backward("softmax_backward", false);
  backward("log_softmax_backward", true);
}

}  // namespace kelvin::python
