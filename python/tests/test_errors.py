"""Every error path: ValueError for a bad value (temperature, axis, shape,
out, empty_row), TypeError for an unsupported dtype or a wrong kind of
argument; each message names the argument."""

import numpy as np
import pytest

import kelvin
from kelvin_testing import FAMILIES

X = np.arange(12.0).reshape(3, 4)


@pytest.fixture(params=FAMILIES)
def fn(request):
    return getattr(kelvin, request.param)


# ---- x -------------------------------------------------------------------------

@pytest.mark.parametrize("bad, dtype_name", [
    (np.ones(3, np.longdouble), "float128"),
    (np.ones(3, np.complex64), "complex64"),
    (np.ones(3, np.complex128), "complex128"),
    (np.array([1.0, "a"], dtype=object), "object"),
    (np.array(["a", "b"]), "<U1"),
    (np.array([b"a"]), "|S1"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64[D]"),
    (np.array([1], dtype="timedelta64[s]"), "timedelta64[s]"),
    (None, "object"),
    ("abc", "<U3"),
    ([1j, 2], "complex128"),
])
def test_unsupported_dtype(fn, bad, dtype_name):
    with pytest.raises(TypeError, match=r"^x has dtype " + __import__("re").escape(dtype_name) + r"; kelvin computes in float16, float32 or float64"):
        fn(bad, axis=None)


def test_masked_arrays_are_refused(fn):
    with pytest.raises(TypeError, match=r"^x is a numpy.ma.MaskedArray; kelvin does not read masks"):
        fn(np.ma.masked_array([1.0, 2.0], mask=[0, 1]))


def test_x_that_is_not_array_like(fn):
    with pytest.raises(ValueError, match=r"^x could not be converted to a NumPy array \(got list\)"):
        fn([[1.0, 2.0], [3.0]])  # ragged


# ---- axis ----------------------------------------------------------------------

@pytest.mark.parametrize("axis, message", [
    (2, r"axis 2 is out of bounds for x with 2 dimensions"),
    (-3, r"axis -3 is out of bounds for x with 2 dimensions"),
    ((0, 5), r"axis 5 is out of bounds for x with 2 dimensions"),
    (2**70, r"axis 1180591620717411303424 is out of bounds"),
    ((0, 0), r"axis \(0, 0\) names dimension 0 twice"),
    ((1, -1), r"axis \(1, -1\) names dimension 1 twice"),
])
def test_bad_axis_value(fn, axis, message):
    with pytest.raises(ValueError, match=message) as e:
        fn(X, axis=axis)
    if "out of bounds" in message:
        assert isinstance(e.value, IndexError)  # numpy's AxisError, as in NumPy


def test_axis_on_zero_dimensional_input(fn):
    with pytest.raises(ValueError, match=r"axis -1 is out of bounds for x with 0 dimensions"):
        fn(3.0)


@pytest.mark.parametrize("axis", [1.0, "0", True, (0, 1.5), {0: 1}, np.bool_(True)])
def test_bad_axis_type(fn, axis):
    with pytest.raises(TypeError, match=r"^axis must be an int, a tuple of ints or None"):
        fn(X, axis=axis)


def test_axis_accepts_numpy_ints_and_lists(fn):
    np.testing.assert_array_equal(fn(X, axis=np.int64(0)), fn(X, axis=0))
    np.testing.assert_array_equal(fn(X, axis=[0, 1]), fn(X, axis=(0, 1)))


# ---- temperature -----------------------------------------------------------------

@pytest.mark.parametrize("t, shown", [(-1.0, "-1.0"), (-0.5, "-0.5"), (float("nan"), "nan"),
                                      (-np.inf, "-inf"), (-3, "-3.0"), (np.float32(-2), "-2.0"),
                                      (np.array(-1.0), "-1.0")])
def test_bad_temperature_value(fn, t, shown):
    with pytest.raises(ValueError, match=r"^temperature must be >= 0 and not NaN \(got " + shown + r"\)$"):
        fn(X, t)


def test_bad_per_row_temperature(fn):
    with pytest.raises(ValueError, match=r"temperature must be >= 0 and not NaN; the row at \[1\] "
                                         r"of the reduced shape \(3,\) has -2.0"):
        fn(X, [1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match=r"the row at \[1, 0\] of the reduced shape \(2, 4\) has nan"):
        fn(np.ones((2, 3, 4)), [[1, 1, 1, 1], [np.nan, 1, 1, 1]], axis=1)


@pytest.mark.parametrize("t", [np.ones(4), np.ones((3, 2)), np.ones((2, 3)), np.ones((1, 3)), np.ones((3, 1, 1))])
def test_temperature_shape_that_does_not_broadcast(fn, t):
    with pytest.raises(ValueError, match=r"^temperature has shape .* which does not broadcast to the "
                                         r"reduced shape \(3,\) \(one temperature per row\) nor to \(3, 1\)"):
        fn(X, t)


@pytest.mark.parametrize("t", ["hot", b"1", None, True, np.bool_(True), 1j, np.complex128(1), [1j, 1, 1],
                               np.array(["1"]), object(), {"T": 1}])
def test_bad_temperature_type(fn, t):
    with pytest.raises(TypeError, match=r"^temperature must (be a number or an array of numbers|hold real numbers)"):
        fn(X, t)


def test_temperature_that_is_not_array_like(fn):
    with pytest.raises(ValueError, match=r"^temperature could not be converted to a NumPy array \(got list\)"):
        fn(X, [[1.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match=r"^temperature is too large for a double"):
        fn(X, 10**400)


# ---- out ---------------------------------------------------------------------------

def result_shape(fn):
    return (3, 4) if fn in (kelvin.softmax, kelvin.log_softmax) else (3,)


def test_out_not_an_array(fn):
    with pytest.raises(TypeError, match=r"^out must be a numpy.ndarray \(got list\)"):
        fn(X, out=[0.0] * 12)


def test_out_wrong_dtype(fn):
    with pytest.raises(TypeError, match=r"^out has dtype float32 but the result is float64"):
        fn(X, out=np.empty(result_shape(fn), np.float32))
    with pytest.raises(TypeError, match=r"^out has dtype float64 but the result is float32"):
        fn(X.astype(np.float32), out=np.empty(result_shape(fn)))
    with pytest.raises(TypeError, match=r"^out has dtype >f8 but the result is float64"):
        fn(X, out=np.empty(result_shape(fn), ">f8"))
    with pytest.raises(TypeError, match=r"^out has dtype int64 but the result is float64"):
        fn(np.arange(12).reshape(3, 4), out=np.empty(result_shape(fn), np.int64))


def test_out_wrong_shape(fn):
    with pytest.raises(ValueError, match=r"^out has shape \(4, 3\) but the result has "):
        fn(X, out=np.empty((4, 3)))
    with pytest.raises(ValueError, match=r"^out has shape \(\) but the result has "):
        fn(X, out=np.empty(()))


def test_out_read_only(fn):
    out = np.empty(result_shape(fn))
    out.setflags(write=False)
    with pytest.raises(ValueError, match=r"^out is read-only"):
        fn(X, out=out)


def test_failed_call_leaves_out_untouched(fn):
    out = np.full(result_shape(fn), 7.0)
    with pytest.raises(ValueError):
        fn(X, -1.0, out=out)
    assert np.all(out == 7.0)


# ---- empty_row -------------------------------------------------------------------------

def test_bad_empty_row(fn):
    with pytest.raises(ValueError, match=r"^empty_row must be 'nan' or 'zero' \(got 'ignore'\)"):
        fn(X, empty_row="ignore")
    with pytest.raises(TypeError, match=r"^empty_row must be 'nan' or 'zero' \(got 0 of type int\)"):
        fn(X, empty_row=0)


# ---- arguments ------------------------------------------------------------------------

def test_argument_names_and_count(fn):
    with pytest.raises(TypeError):
        fn()
    with pytest.raises(TypeError):
        fn(X, 1.0, -1, None, "nan", 5)
    with pytest.raises(TypeError):
        fn(X, temp=1.0)
    fn(x=X, temperature=2.0, axis=0, out=None, empty_row="zero")


# ---- module functions ---------------------------------------------------------------

def test_set_num_threads_errors():
    with pytest.raises(ValueError, match=r"^n must be >= 0"):
        kelvin.set_num_threads(-1)
    with pytest.raises(ValueError, match=r"^n must be >= 0"):
        kelvin.set_num_threads(2**80)
    with pytest.raises(TypeError, match=r"^n must be an int \(got float\)"):
        kelvin.set_num_threads(1.5)
    with pytest.raises(TypeError, match=r"^n must be an int \(got bool\)"):
        kelvin.set_num_threads(True)


def test_set_target_errors():
    with pytest.raises(ValueError, match="nope"):
        kelvin.set_target("nope")
    assert kelvin.active_target() in kelvin.supported_targets()
