// kelvin's Python module: the softmax family over NumPy arrays.
//
//   >>> import kelvin                  # python/kelvin/__init__.py over kelvin._kelvin
//   >>> kelvin.softmax([1, 5, 7, 10], temperature=10)
//   array([0.14763315, 0.22024277, 0.26900513, 0.36311895])
//
// An array of any rank and strides becomes one kelvin::axis_view (outer x
// axis x inner, signed element strides) when its memory allows it, so the
// common layouts (C or Fortran order, transposes, slices, negative strides,
// reductions over several adjacent axes) run without a copy; anything else
// is copied once into a layout that does. The GIL is released while the
// kernels run.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "kelvin/half.hpp"
#include "kelvin/runtime.hpp"
#include "kelvin/softmax.hpp"
#include "kelvin/types.hpp"
#include "stride_plan.hpp"

namespace py = pybind11;

namespace kelvin::python {
namespace {

// One operation of the module: its name, whether it reduces the axis, its
// kelvin:: call over an axis view for each NumPy dtype, and its docstring.
// Adding an operation is one line in kOperations (below).
struct operation {
  template <class T>
  using axis_fn = void (*)(axis_view<const T> x, axis_view<T> y, const options& opt);

  const char* name;
  bool reduces;
  axis_fn<float16> f16;
  axis_fn<float> f32;
  axis_fn<double> f64;
  const char* doc;

  template <class T>
  void run(axis_view<const T> x, axis_view<T> y, const options& opt) const {
    if constexpr (sizeof(T) == 2) {
      f16(x, y, opt);
    } else if constexpr (sizeof(T) == 4) {
      f32(x, y, opt);
    } else {
      f64(x, y, opt);
    }
  }
};

// NumPy callables looked up once. Leaked on purpose: destroying Python objects
// after the interpreter has finalised crashes.
struct numpy_api {
  py::object asarray, copyto, broadcast_to, ascontiguousarray, axis_error, bool_, generic,
      masked_array;
  py::dtype float16, float32, float64;
};

// numpy.exceptions.AxisError (NumPy >= 1.25) or numpy.AxisError: a ValueError.
py::object axis_error_type(const py::module_& numpy) {
  if (py::hasattr(numpy, "exceptions") && py::hasattr(numpy.attr("exceptions"), "AxisError")) {
    return numpy.attr("exceptions").attr("AxisError");
  }
  if (py::hasattr(numpy, "AxisError")) return numpy.attr("AxisError");
  return py::reinterpret_borrow<py::object>(PyExc_ValueError);
}

const numpy_api& np() {
  static const numpy_api* api = [] {
    const py::module_ m = py::module_::import("numpy");
    return new numpy_api{
        m.attr("asarray"),      m.attr("copyto"),
        m.attr("broadcast_to"), m.attr("ascontiguousarray"),
        axis_error_type(m),     m.attr("bool_"),
        m.attr("generic"),      py::module_::import("numpy.ma").attr("MaskedArray"),
        py::dtype("float16"),   py::dtype::of<float>(),
        py::dtype::of<double>()};
  }();
  return *api;
}

[[noreturn]] void raise(PyObject* type, const std::string& msg) {
  PyErr_SetString(type, msg.c_str());
  throw py::error_already_set();
}

// Re-raises the pending Python error `e` as `type` with `msg`, chained to it.
[[noreturn]] void raise_from(py::error_already_set& e, PyObject* type, const std::string& msg) {
  py::raise_from(e, type, msg.c_str());
  throw py::error_already_set();
}

std::string repr_of(py::handle h) { return py::repr(h).cast<std::string>(); }

std::string str_of(py::handle h) { return py::str(h).cast<std::string>(); }

std::string type_name(py::handle h) { return Py_TYPE(h.ptr())->tp_name; }

// Python's spelling of a shape: (), (3,), (3, 4).
std::string shape_str(const std::vector<py::ssize_t>& s) {
  std::string r = "(";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  return r + (s.size() == 1 ? ",)" : ")");
}

std::vector<py::ssize_t> shape_of(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

// An array whose strides reach farther than the address space (as_strided
// can build one) is rejected before anything reads it: NumPy would crash
// copying it, and the byte-range arithmetic below would overflow.
void check_extent(const py::array& a, const char* name) {
  std::size_t above = 0, below = 0;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.shape(d) == 0) return;  // empty: nothing is read
  }
  bool overflow = false;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    const py::ssize_t st = a.strides(d);
    const std::size_t mag =
        st < 0 ? std::size_t{0} - static_cast<std::size_t>(st) : static_cast<std::size_t>(st);
    std::size_t reach = 0;
    std::size_t& side = st < 0 ? below : above;
    overflow = overflow ||
               __builtin_mul_overflow(static_cast<std::size_t>(a.shape(d) - 1), mag, &reach) ||
               __builtin_add_overflow(side, reach, &side);
  }
  std::size_t total = 0, end = 0;
  const auto at = reinterpret_cast<std::uintptr_t>(a.data());
  overflow = overflow ||
             __builtin_add_overflow(above, static_cast<std::size_t>(a.itemsize()), &above) ||
             __builtin_add_overflow(above, below, &total) ||
             total > static_cast<std::size_t>(PTRDIFF_MAX) || at < below ||
             __builtin_add_overflow(at, above, &end);
  if (overflow) {
    std::vector<py::ssize_t> strides(a.strides(), a.strides() + a.ndim());
    raise(PyExc_ValueError, std::string(name) + " has shape " + shape_str(shape_of(a)) +
                                " and strides " + shape_str(strides) +
                                " (bytes): they reach beyond the address space");
  }
}

// ---- x ----------------------------------------------------------------------

struct input {
  py::array a;
  bool owned = false;  // a fresh array no one else holds: safe to overwrite
};

bool is_exact_ndarray(py::handle x) {
  return Py_TYPE(x.ptr()) == py::detail::npy_api::get().PyArray_Type_;
}

bool native_byte_order(const py::dtype& dt) {
  const char b = dt.byteorder();
  constexpr char kNative = std::endian::native == std::endian::big ? '>' : '<';
  return b == '=' || b == '|' || b == kNative;
}

// float16, float32 and float64 pass through (float16 within 2 float16 ulp:
// softmax, log_softmax and log_partition in float lanes, smooth_max the float32 result rounded
// once); bool and integer arrays (and
// anything NumPy turns into them) become float64, as in SciPy; the rest is a TypeError.
input as_float_array(py::handle x) {
  input in;
  if (py::isinstance<py::array>(x)) {
    // A subclass is read as the ndarray it is, except a masked array, whose
    // mask would be silently ignored.
    if (!is_exact_ndarray(x) && PyObject_IsInstance(x.ptr(), np().masked_array.ptr()) == 1) {
      raise(PyExc_TypeError,
            "x is a numpy.ma.MaskedArray; kelvin does not read masks: mask entries with -inf "
            "instead, e.g. x.filled(-numpy.inf)");
    }
    in.a = py::reinterpret_borrow<py::array>(x);
    check_extent(in.a, "x");
  } else {
    try {
      in.a = np().asarray(x);
    } catch (py::error_already_set& e) {
      const bool value = e.matches(PyExc_ValueError);
      raise_from(e, value ? PyExc_ValueError : PyExc_TypeError,
                 "x could not be converted to a NumPy array (got " + type_name(x) + ")");
    }
  }
  const py::dtype dt = in.a.dtype();
  switch (dt.kind()) {
    case 'f':
      if (dt.itemsize() == 2 || dt.itemsize() == 4 || dt.itemsize() == 8) {
        if (!native_byte_order(dt)) {
          const auto size = dt.itemsize();
          in.a = in.a.attr("astype")(size == 2   ? np().float16
                                     : size == 4 ? np().float32
                                                 : np().float64);
          in.owned = true;
        }
        return in;
      }
      break;
    case 'b':
    case 'i':
    case 'u':
      in.a = in.a.attr("astype")(np().float64);
      in.owned = true;
      return in;
    default:
      break;
  }
  raise(PyExc_TypeError, "x has dtype " + str_of(dt) +
                             "; kelvin computes in float16, float32 or float64 (bool and integer "
                             "inputs become float64): convert it, e.g. x.astype(numpy.float32)");
}

// ---- axis -------------------------------------------------------------------

// Python's and NumPy's bools, which are ints to PyIndex_Check but never axes.
bool is_bool(py::handle a) {
  return PyBool_Check(a.ptr()) || PyObject_IsInstance(a.ptr(), np().bool_.ptr()) == 1;
}

[[noreturn]] void bad_axis_type(py::handle a) {
  raise(PyExc_TypeError, "axis must be an int, a tuple of ints or None (got " + repr_of(a) +
                             " of type " + type_name(a) + ")");
}

// Which dimensions of an ndim-array `axis` reduces over, SciPy's meaning: an
// int (negative counts from the end), a tuple of them, or None for all.
std::vector<char> reduced_dims(py::handle axis, int ndim) {
  std::vector<char> red(static_cast<std::size_t>(ndim), 0);
  if (axis.is_none()) {
    std::fill(red.begin(), red.end(), 1);
    return red;
  }
  const auto add = [&](py::handle a) {
    if (is_bool(a) || !PyIndex_Check(a.ptr())) bad_axis_type(a);
    const py::int_ i = py::reinterpret_steal<py::int_>(PyNumber_Index(a.ptr()));
    if (!i) throw py::error_already_set();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
    if (overflow != 0 || v < -ndim || v >= ndim) {
      const std::string msg = "axis " + str_of(i) + " is out of bounds for x with " +
                              std::to_string(ndim) + (ndim == 1 ? " dimension" : " dimensions");
      // numpy.AxisError is a ValueError (and an IndexError), as in NumPy.
      PyErr_SetObject(np().axis_error.ptr(), py::str(msg).ptr());
      throw py::error_already_set();
    }
    const auto d = static_cast<std::size_t>(v < 0 ? v + ndim : v);
    if (red[d]) {
      raise(PyExc_ValueError,
            "axis " + repr_of(axis) + " names dimension " + std::to_string(d) + " twice");
    }
    red[d] = 1;
  };
  if (PyTuple_Check(axis.ptr()) || PyList_Check(axis.ptr())) {
    for (const py::handle a : axis) add(a);
  } else {
    add(axis);
  }
  return red;
}

// ---- temperature ------------------------------------------------------------

struct temperature_arg {
  double scalar = 1.0;
  std::optional<py::array_t<double>> rows;  // C-contiguous, the reduced shape
};

std::string format_double(double v) { return repr_of(py::float_(v)); }

// A Python int or float as a double (OverflowError for ints beyond double).
double number_value(py::handle t) {
  const double v = PyFloat_AsDouble(t.ptr());
  if (v == -1.0 && PyErr_Occurred()) {
    py::error_already_set e;
    const bool overflow = e.matches(PyExc_OverflowError);
    raise_from(e, overflow ? PyExc_ValueError : PyExc_TypeError,
               "temperature " +
                   std::string(overflow ? "is too large for a double"
                                        : "could not be converted to float") +
                   " (got " + repr_of(t) + ")");
  }
  return v;
}

void check_scalar_temperature(double t) {
  if (std::isnan(t) || t < 0) {
    raise(PyExc_ValueError, "temperature must be >= 0 and not NaN (got " + format_double(t) + ")");
  }
}

// A number, or an array broadcastable to the reduced shape (one temperature
// per row). An array with x's number of dimensions may also keep the reduced
// axes with length 1 (keepdims form, as x / T would broadcast).
temperature_arg parse_temperature(py::handle t, const std::vector<py::ssize_t>& shape,
                                  const std::vector<char>& red) {
  temperature_arg r;
  if (PyFloat_Check(t.ptr()) || (PyLong_Check(t.ptr()) && !PyBool_Check(t.ptr()))) {
    r.scalar = number_value(t);
    check_scalar_temperature(r.scalar);
    return r;
  }
  const auto bad_type = [&]() {
    raise(PyExc_TypeError, "temperature must be a number or an array of numbers (got " +
                               repr_of(t) + " of type " + type_name(t) + ")");
  };
  if (PyBool_Check(t.ptr()) || PyUnicode_Check(t.ptr()) || PyBytes_Check(t.ptr()) || t.is_none()) {
    bad_type();
  }
  // Other real numbers (fractions.Fraction, decimal.Decimal): through float().
  // NumPy scalars and arrays go through NumPy, which knows their dtype.
  if (!py::isinstance<py::array>(t) && PyObject_IsInstance(t.ptr(), np().generic.ptr()) == 0 &&
      !PySequence_Check(t.ptr()) && Py_TYPE(t.ptr())->tp_as_number != nullptr &&
      Py_TYPE(t.ptr())->tp_as_number->nb_float != nullptr && !PyComplex_Check(t.ptr())) {
    r.scalar = number_value(t);
    check_scalar_temperature(r.scalar);
    return r;
  }
  py::array a;
  try {
    a = np().asarray(t);
  } catch (py::error_already_set& e) {
    const bool value = e.matches(PyExc_ValueError);
    raise_from(e, value ? PyExc_ValueError : PyExc_TypeError,
               "temperature could not be converted to a NumPy array (got " + type_name(t) + ")");
  }
  const char kind = a.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u') {
    raise(PyExc_TypeError,
          "temperature must hold real numbers (got an array of dtype " + str_of(a.dtype()) + ")");
  }
  a = a.attr("astype")(np().float64);
  if (a.ndim() == 0) {
    r.scalar = *static_cast<const double*>(a.data());
    check_scalar_temperature(r.scalar);
    return r;
  }
  std::vector<py::ssize_t> reduced;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (!red[d]) reduced.push_back(shape[d]);
  }
  const auto tshape = shape_of(a);
  if (a.ndim() == static_cast<py::ssize_t>(shape.size()) && reduced.size() < shape.size()) {
    // keepdims form: drop the reduced axes, which must have length 1.
    bool ones = true;
    std::vector<py::ssize_t> kept;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (red[d]) {
        ones = ones && tshape[d] == 1;
      } else {
        kept.push_back(tshape[d]);
      }
    }
    if (ones) a = a.attr("reshape")(py::tuple(py::cast(kept)));
  }
  try {
    a = np().broadcast_to(a, py::tuple(py::cast(reduced)));
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_ValueError)) throw;
    std::vector<py::ssize_t> keep = shape;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      if (red[d]) keep[d] = 1;
    }
    raise_from(e, PyExc_ValueError,
               "temperature has shape " + shape_str(tshape) +
                   ", which does not broadcast to the reduced shape " + shape_str(reduced) +
                   " (one temperature per row) nor to " + shape_str(keep) +
                   " (the same with the reduced axes kept)");
  }
  r.rows = py::array_t<double>(np().ascontiguousarray(a));
  const double* v = r.rows->data();
  const auto n = static_cast<std::size_t>(r.rows->size());
  for (std::size_t k = 0; k < n; ++k) {
    if (!(v[k] >= 0)) {
      std::vector<py::ssize_t> idx(reduced.size());
      std::size_t rest = k;
      for (std::size_t d = reduced.size(); d-- > 0;) {
        idx[d] = static_cast<py::ssize_t>(rest % static_cast<std::size_t>(reduced[d]));
        rest /= static_cast<std::size_t>(reduced[d]);
      }
      std::string at = "[";
      for (std::size_t d = 0; d < idx.size(); ++d) {
        if (d) at += ", ";
        at += std::to_string(idx[d]);
      }
      raise(PyExc_ValueError, "temperature must be >= 0 and not NaN; the row at " + at +
                                  "] of the reduced shape " + shape_str(reduced) + " has " +
                                  format_double(v[k]));
    }
  }
  return r;
}

empty_row_policy parse_empty_row(py::handle e) {
  if (!PyUnicode_Check(e.ptr())) {
    raise(PyExc_TypeError, "empty_row must be 'nan' or 'zero' (got " + repr_of(e) + " of type " +
                               type_name(e) + ")");
  }
  const std::string s = e.cast<std::string>();
  if (s == "nan") return empty_row_policy::nan;
  if (s == "zero") return empty_row_policy::zero;
  raise(PyExc_ValueError, "empty_row must be 'nan' or 'zero' (got " + repr_of(e) + ")");
}

// ---- layout -----------------------------------------------------------------

// Dense strides (in elements) for `shape` laid out in `order` (outermost first).
std::vector<py::ssize_t> dense_strides(const std::vector<py::ssize_t>& shape,
                                       const std::vector<std::size_t>& order) {
  std::vector<py::ssize_t> s(shape.size(), 0);
  py::ssize_t step = 1;
  for (std::size_t i = order.size(); i-- > 0;) {
    s[order[i]] = step;
    step *= std::max<py::ssize_t>(shape[order[i]], 1);
  }
  return s;
}

// Dimension order of `a` (a subset `dims` of its dimensions), outermost first
// by |stride|: NumPy's order='K'.
std::vector<std::size_t> k_order(const py::array& a, const std::vector<std::size_t>& dims) {
  std::vector<std::size_t> order(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) {
    return std::abs(a.strides(static_cast<py::ssize_t>(dims[i]))) >
           std::abs(a.strides(static_cast<py::ssize_t>(dims[j])));
  });
  return order;
}

py::array allocate(const py::dtype& dt, const std::vector<py::ssize_t>& shape,
                   const std::vector<std::size_t>& order) {
  auto strides = dense_strides(shape, order);
  for (auto& s : strides) s *= dt.itemsize();
  return py::array(dt, shape, strides);
}

bool aligned(const py::array& a) {
  const auto size = a.itemsize();
  if (reinterpret_cast<std::uintptr_t>(a.data()) % static_cast<std::uintptr_t>(size) != 0) {
    return false;
  }
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.shape(d) > 1 && a.strides(d) % size != 0) return false;
  }
  return true;
}

// [first, last) bytes an array touches.
std::pair<std::uintptr_t, std::uintptr_t> extent(const py::array& a) {
  auto lo = reinterpret_cast<std::uintptr_t>(a.data());
  auto hi = lo;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.shape(d) == 0) return {lo, lo};
    const py::ssize_t span = (a.shape(d) - 1) * a.strides(d);
    (span < 0 ? lo : hi) += static_cast<std::uintptr_t>(span);
  }
  return {lo, hi + static_cast<std::uintptr_t>(a.itemsize())};
}

bool overlap(const py::array& a, const py::array& b) {
  const auto [a0, a1] = extent(a);
  const auto [b0, b1] = extent(b);
  return a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1;
}

bool same_layout(const py::array& a, const py::array& b) {
  if (a.data() != b.data() || a.ndim() != b.ndim()) return false;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.shape(d) != b.shape(d)) return false;
    if (a.shape(d) > 1 && a.strides(d) != b.strides(d)) return false;
  }
  return true;
}

// ---- the call -----------------------------------------------------------------

template <class T>
void run_kernel(const operation& op, const plan& p, const void* x, void* y, const options& opt) {
  const axis_view<const T> xv{
      static_cast<const T*>(x), p.outer, p.axis, p.inner, p.x_outer, p.x_axis, p.x_inner};
  const axis_view<T> yv{static_cast<T*>(y), p.outer,  op.reduces ? 1 : p.axis, p.inner, p.y_outer,
                        p.y_axis,           p.y_inner};
  const py::gil_scoped_release nogil;
  op.run(xv, yv, opt);
}

class call {
 public:
  call(const operation& op, py::handle x, py::handle temperature, py::handle axis, py::handle out,
       py::handle empty_row)
      : op_(op), in_(as_float_array(x)) {
    const py::array& a = in_.a;
    shape_ = shape_of(a);
    red_ = reduced_dims(axis, static_cast<int>(a.ndim()));
    for (std::size_t d = 0; d < shape_.size(); ++d) {
      if (!red_[d]) {
        kept_.push_back(d);
        out_shape_.push_back(shape_[d]);
      }
    }
    if (!op_.reduces) out_shape_ = shape_;
    t_ = parse_temperature(temperature, shape_, red_);
    opt_.temperature = t_.scalar;
    opt_.empty_row = parse_empty_row(empty_row);
    if (!out.is_none()) out_ = check_out(out);
  }

  py::object run() {
    const py::array& x = in_.a;
    // 1. x as it is, into out or a new array laid out like x.
    if (aligned(x)) {
      if (!out_) {
        py::array y = op_.reduces || !in_.owned ? allocate_like(x) : x;
        if (try_run(x, y)) return result(y);
      } else if (aligned(*out_) && (!overlap(x, *out_) || same_layout(x, *out_)) &&
                 try_run(x, *out_)) {
        return result(*out_);
      }
      // 2. x as it is, into a new array, then copied into out.
      if (out_) {
        py::array y = allocate_like(x);
        if (try_run(x, y)) return copy_to_out(y);
      }
    }
    // 3. x copied with the kept dimensions outermost and the reduced ones
    // innermost: always one axis_view with a unit axis stride.
    std::vector<std::size_t> order = kept_;
    for (std::size_t d = 0; d < shape_.size(); ++d) {
      if (red_[d]) order.push_back(d);
    }
    py::array xc = allocate(x.dtype(), shape_, order);
    np().copyto(xc, x);
    if (out_ && aligned(*out_) && try_run(xc, *out_)) return result(*out_);
    py::array y = op_.reduces ? allocate_like(xc) : xc;
    if (!try_run(xc, y)) throw std::logic_error("kelvin: no plan for a dense copy");
    return out_ ? copy_to_out(y) : result(y);
  }

 private:
  py::array check_out(py::handle out) const {
    if (!py::isinstance<py::array>(out)) {
      raise(PyExc_TypeError, "out must be a numpy.ndarray (got " + type_name(out) + ")");
    }
    auto o = py::reinterpret_borrow<py::array>(out);
    check_extent(o, "out");
    const py::dtype dt = in_.a.dtype();
    if (!o.dtype().equal(dt) || !native_byte_order(o.dtype())) {
      raise(PyExc_TypeError,
            "out has dtype " + str_of(o.dtype()) + " but the result is " + str_of(dt));
    }
    if (shape_of(o) != out_shape_) {
      raise(PyExc_ValueError, "out has shape " + shape_str(shape_of(o)) + " but the result has " +
                                  shape_str(out_shape_));
    }
    if (!o.writeable()) raise(PyExc_ValueError, "out is read-only");
    return o;
  }

  // A new result array with x's memory order (NumPy's order='K').
  py::array allocate_like(const py::array& x) const {
    if (!op_.reduces) {
      std::vector<std::size_t> all(shape_.size());
      for (std::size_t d = 0; d < all.size(); ++d) all[d] = d;
      return allocate(x.dtype(), shape_, k_order(x, all));
    }
    return allocate(x.dtype(), out_shape_, k_order(x, kept_));
  }

  // Plans x -> y as one axis_view call and runs it; false when the layout
  // does not allow one.
  bool try_run(const py::array& x, py::array y) {
    const auto size = x.itemsize();
    std::vector<dim> dims(shape_.size());
    py::ssize_t ts = 1;
    std::size_t k = kept_.size();
    for (std::size_t d = shape_.size(); d-- > 0;) {
      dim& e = dims[d];
      e.n = shape_[d];
      e.reduced = red_[d] != 0;
      e.xs = e.n > 1 ? x.strides(static_cast<py::ssize_t>(d)) / size : 0;
      if (!e.reduced) {
        --k;
        const auto yd = static_cast<py::ssize_t>(op_.reduces ? k : d);
        e.ys = e.n > 1 ? y.strides(yd) / size : 0;
        e.ts = ts;
        ts *= std::max<py::ssize_t>(e.n, 1);
      } else if (!op_.reduces) {
        e.ys = e.n > 1 ? y.strides(static_cast<py::ssize_t>(d)) / size : 0;
      }
    }
    const auto p = make_plan(dims, !op_.reduces);
    if (!p) return false;
    if (p->empty) return true;
    options opt = opt_;
    std::vector<double> gathered;
    if (t_.rows) {
      if (p->rows_in_c_order) {
        opt.temperatures = {t_.rows->data(), static_cast<std::size_t>(t_.rows->size())};
      } else {
        gathered = gather_temperatures(p->rows);
        opt.temperatures = gathered;
      }
    }
    if (size == 2) {
      run_kernel<float16>(op_, *p, x.data(), y.mutable_data(), opt);
    } else if (size == 4) {
      run_kernel<float>(op_, *p, x.data(), y.mutable_data(), opt);
    } else {
      run_kernel<double>(op_, *p, x.data(), y.mutable_data(), opt);
    }
    return true;
  }

  // The per-row temperatures in the plan's (outer, inner) row order.
  std::vector<double> gather_temperatures(const std::vector<dim>& rows) const {
    const double* t = t_.rows->data();
    std::size_t total = 1;
    for (const dim& d : rows) total *= static_cast<std::size_t>(d.n);
    std::vector<double> out(total);
    std::vector<py::ssize_t> idx(rows.size(), 0);
    py::ssize_t off = 0;
    for (std::size_t r = 0; r < total; ++r) {
      out[r] = t[off];
      for (std::size_t d = rows.size(); d-- > 0;) {  // odometer, innermost first
        off += rows[d].ts;
        if (++idx[d] < rows[d].n) break;
        off -= rows[d].ts * rows[d].n;
        idx[d] = 0;
      }
    }
    return out;
  }

  py::object copy_to_out(const py::array& y) const {
    np().copyto(*out_, y);
    return *out_;
  }

  py::object result(const py::array& y) const {
    if (out_) return *out_;
    // 0-d results come back as NumPy scalars, as from NumPy's reductions.
    if (y.ndim() == 0) return y[py::tuple()];
    return y;
  }

  const operation& op_;
  input in_;
  std::vector<py::ssize_t> shape_, out_shape_;
  std::vector<char> red_;
  std::vector<std::size_t> kept_;  // the dimensions not reduced, in order
  temperature_arg t_;
  options opt_;
  std::optional<py::array> out_;
};

py::object dispatch(const operation& op, py::handle x, py::handle temperature, py::handle axis,
                    py::handle out, py::handle empty_row) {
  return call(op, x, temperature, axis, out, empty_row).run();
}

// The axis form of an overload set F of kelvin:: (a captureless lambda) as a
// plain function.
template <class F, class T>
void axis_call(axis_view<const T> x, axis_view<T> y, const options& opt) {
  F{}(x, y, opt);
}

template <class F>
constexpr operation make(const char* name, bool reduces, F, const char* doc) {
  return {name, reduces, &axis_call<F, float16>, &axis_call<F, float>, &axis_call<F, double>, doc};
}

#define KELVIN_PY_CALL(NAME) [](auto... args) { kelvin::NAME(args...); }

const operation kOperations[] = {
    make("softmax", false, KELVIN_PY_CALL(softmax),
         "softmax(x, temperature=1.0, axis=-1, out=None, empty_row='nan')\n--\n\n"
         "exp(x / T) / sum(exp(x / T)) along axis: the same shape as x; each row sums to 1."),
    make("log_softmax", false, KELVIN_PY_CALL(log_softmax),
         "log_softmax(x, temperature=1.0, axis=-1, out=None, empty_row='nan')\n--\n\n"
         "x / T - log sum(exp(x / T)) along axis: the same shape as x."),
    make("log_partition", true, KELVIN_PY_CALL(log_partition),
         "log_partition(x, temperature=1.0, axis=-1, out=None, empty_row='nan')\n--\n\n"
         "log sum(exp(x / T)) along axis (SciPy's logsumexp(x / T)): x's shape without the\n"
         "reduced axes; a NumPy scalar when that shape is ()."),
    make("smooth_max", true, KELVIN_PY_CALL(smooth_max),
         "smooth_max(x, temperature=1.0, axis=-1, out=None, empty_row='nan')\n--\n\n"
         "T * log sum(exp(x / T)) along axis, which tends to max(x) as T -> 0: x's shape\n"
         "without the reduced axes; a NumPy scalar when that shape is ()."),
};

#undef KELVIN_PY_CALL

constexpr const char* kModuleDoc = R"doc(Softmax with temperature: exact, fast, over NumPy arrays.

    >>> import kelvin
    >>> kelvin.softmax([1.0, 5.0, 7.0, 10.0], temperature=10)
    array([0.14763315, 0.22024277, 0.26900513, 0.36311895])

softmax(x, T)_i      = exp(x_i / T) / sum_j exp(x_j / T)
log_softmax(x, T)_i  = x_i / T - log_partition(x, T)
log_partition(x, T)  = log sum_j exp(x_j / T)
smooth_max(x, T)     = T * log_partition(x, T)

Every function follows kelvin's numeric contract: T == 0 is the exact
hardmax (ties split), T == inf the uniform limit over the entries > -inf,
-inf entries are masked, a NaN makes its row NaN, +inf entries share the
mass, huge values never overflow, and results are within 2 ulp of the exact
values. SciPy and PyTorch, given x / T, return NaN in several of these cases.
)doc";

constexpr const char* kArgsDoc = R"doc(

Parameters
----------
x : array_like
    float16, float32 or float64 array of any rank and strides (bool and
    integer inputs, and lists, become float64). The result has x's float
    dtype; float16 results are within 2 float16 ulp (softmax, log_softmax
    and log_partition computed in float lanes, smooth_max in float32 and
    rounded once to float16).
temperature : float or array_like, default 1.0
    T >= 0 (0 and inf included). An array gives one temperature per row: it
    broadcasts to the reduced shape (x's shape without the reduced axes), or
    to x's shape with the reduced axes kept as length 1.
axis : int, tuple of ints or None, default -1
    The axis or axes to normalise over (None: all of them), as in SciPy.
out : ndarray, optional
    Where to write the result: the result's shape, x's float dtype, writeable.
    It may be x itself (in place). Returned when given.
empty_row : {'nan', 'zero'}, default 'nan'
    What a row with no entries above -inf (or no entries) produces: NaN, or
    probabilities 0 (log_softmax -inf). Reductions give -inf either way.

Raises
------
ValueError
    A negative or NaN temperature, a temperature shape that does not
    broadcast, an axis out of range or repeated, a bad out shape or a
    read-only out, an unknown empty_row.
TypeError
    An unsupported dtype (longdouble, complex, object, strings), an
    out of the wrong dtype, or arguments of the wrong kind.
)doc";

std::string doc(const char* head) { return std::string(head) + kArgsDoc; }

}  // namespace
}  // namespace kelvin::python

// The extension kelvin._kelvin; python/kelvin/__init__.py re-exports it.
PYBIND11_MODULE(_kelvin, m) {
  using kelvin::python::dispatch;
  namespace kp = kelvin::python;

  m.doc() = kp::kModuleDoc;
  // The docstrings carry Python's own signature lines (name(...)\n--\n), so
  // that inspect.signature() works.
  py::options options;
  options.disable_function_signatures();
  m.attr("__version__") = kelvin::version();
  // NumPy's callables now, under the import lock: looked up on the first
  // call instead, two threads could meet in np()'s static initialiser, one
  // holding the GIL and waiting for the other, which waits for the GIL.
  kp::np();

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const kelvin::error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  for (const kp::operation& op : kp::kOperations) {
    const auto* text = new std::string(kp::doc(op.doc));  // pybind11 keeps the pointer
    m.def(
        op.name,
        [&op](py::handle x, py::handle temperature, py::handle axis, py::handle out,
              py::handle empty_row) { return dispatch(op, x, temperature, axis, out, empty_row); },
        py::arg("x"), py::arg("temperature") = 1.0, py::arg("axis") = -1,
        py::arg("out") = py::none(), py::arg("empty_row") = "nan", text->c_str());
  }

  m.def("active_target", &kelvin::active_target,
        "The SIMD target the kernels run on now, e.g. 'AVX2' (see set_target).");
  m.def("compiled_targets", &kelvin::compiled_targets,
        "The SIMD targets compiled into this build, best first.");
  m.def("supported_targets", &kelvin::supported_targets,
        "The compiled SIMD targets this CPU can run, best first.");
  m.def(
      "set_target", [](const std::string& name) { kelvin::set_target(name); }, py::arg("name"),
      "Runs the kernels on the named supported target ('' or 'BEST': the best one).\n"
      "Raises ValueError for an unknown or unsupported target. Safe while other threads\n"
      "call kelvin: a call keeps the target it started with.");
  m.def(
      "set_num_threads",
      [](py::handle n) {
        if (kp::is_bool(n) || !PyIndex_Check(n.ptr())) {
          kp::raise(PyExc_TypeError, "n must be an int (got " + kp::type_name(n) + ")");
        }
        int overflow = 0;
        const auto i = py::reinterpret_steal<py::object>(PyNumber_Index(n.ptr()));
        if (!i) throw py::error_already_set();
        const long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
        if (overflow != 0 || v < 0 || v > 1 << 20) {
          kp::raise(PyExc_ValueError, "n must be >= 0 (0: all cores) (got " + kp::repr_of(n) + ")");
        }
        kelvin::set_num_threads(static_cast<int>(v));
      },
      py::arg("n"),
      "Threads for later calls: n >= 1 at most n threads, 0 all cores (the default).");
  m.def("get_num_threads", &kelvin::get_num_threads,
        "The number of threads calls use at most (all cores unless set_num_threads chose fewer).");

  // The families built on the core, each in its private submodule, one line each:
  // py::module_ stem = m.def_submodule("_STEM"); kp::bind_STEM(stem);
  py::module_ calibration = m.def_submodule("_calibration");
  kp::bind_calibration(calibration);
  py::module_ loss = m.def_submodule("_loss");
  kp::bind_loss(loss);
  py::module_ sampling = m.def_submodule("_sampling");
  kp::bind_sampling(sampling);
}
