"""How the module meets NumPy: layouts and strides, copies avoided, out=,
per-row temperatures, dtype conversions, threads and the module's functions."""

import decimal
import fractions
import inspect
import re
import threading
import tracemalloc

import numpy as np
import pytest

import kelvin
from kelvin_testing import DTYPES, FAMILIES, LAYOUTS, make_layout, reduced_shape, rng

ELEMENTWISE = ("softmax", "log_softmax")


def reference(family, x, temperature=1.0, axis=-1, **kw):
    """kelvin itself on a C-contiguous float64 copy: layouts must not change
    the values (float32 results are compared after the same rounding)."""
    base = np.ascontiguousarray(x)
    return getattr(kelvin, family)(base, temperature, axis=axis, **kw)


def sample(shape, dtype=np.float64, seed=0):
    return (3 * rng(seed).standard_normal(shape)).astype(dtype)


# ---- layouts ----------------------------------------------------------------

VIEWS = {
    "C": lambda a: a,
    "F": np.asfortranarray,
    "transpose": lambda a: a.T,
    "reversed rows": lambda a: a[::-1],
    "reversed cols": lambda a: a[:, ::-1],
    "every other col": lambda a: np.repeat(a, 2, axis=1)[:, ::2],
    "every third row": lambda a: np.repeat(a, 3, axis=0)[::3],
    "column slice": lambda a: np.pad(a, ((0, 0), (2, 5)))[:, 2:-5],
    "broadcast rows": lambda a: np.broadcast_to(a[:1], a.shape),
    "3-d collapsed": lambda a: a.reshape(a.shape[0], 2, -1).reshape(a.shape),
}


@pytest.mark.parametrize("view", VIEWS, ids=str)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("axis", [-1, 0, None])
def test_views_match_contiguous(view, family, axis):
    for dtype in DTYPES:
        x = VIEWS[view](sample((6, 10), dtype))
        got = getattr(kelvin, family)(x, 0.7, axis=axis)
        np.testing.assert_array_equal(got, reference(family, x, 0.7, axis))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1, (0, 1), (1, 2), (2, 3), (0, 3), (0, 2), (1, 3), (0, 1, 2, 3), None, ()])
def test_nd_axes_and_layouts(layout, axis):
    base = sample((2, 3, 4, 5), np.float32, seed=4)
    x = make_layout(base, layout)
    for family in FAMILIES:
        got = getattr(kelvin, family)(x, 1.3, axis=axis)
        want = reference(family, base, 1.3, axis)
        np.testing.assert_array_equal(got, want)
        assert np.shape(got) == (base.shape if family in ELEMENTWISE else reduced_shape(base.shape, axis))


def test_unaligned_and_byteswapped_inputs():
    x = sample((5, 7), np.float32)
    raw = np.zeros(x.nbytes + 1, dtype=np.uint8)
    unaligned = raw[1:].view(np.float32).reshape(5, 7)
    unaligned[...] = x
    assert not unaligned.flags.aligned
    np.testing.assert_array_equal(kelvin.softmax(unaligned), kelvin.softmax(x))
    swapped = x.astype(">f4") if np.little_endian else x.astype("<f4")
    got = kelvin.log_softmax(swapped)
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, kelvin.log_softmax(x))
    # a stride that is not a multiple of the item size
    rec = np.zeros(6, dtype=[("a", "u1"), ("b", "<f8")])
    rec["b"] = np.arange(6.0)
    np.testing.assert_array_equal(kelvin.softmax(rec["b"]), kelvin.softmax(np.arange(6.0)))


# ---- copies -------------------------------------------------------------------

def peak_bytes(fn):
    """Peak bytes NumPy (and Python) allocate while fn runs: NumPy reports its
    data buffers to tracemalloc."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


NO_COPY = {  # views kelvin runs on in place: (make x from a (64, 2048) array, axis)
    "C rows": (lambda a: a, -1),
    "C columns": (lambda a: a, 0),
    "F rows": (np.asfortranarray, -1),
    "transposed": (lambda a: a.T, -1),
    "reversed": (lambda a: a[::-1, ::-1], -1),
    "every other column": (lambda a: a[:, ::2], -1),
    "all axes": (lambda a: a, None),
    "3-d, two adjacent axes": (lambda a: a.reshape(8, 8, 2048), (1, 2)),
    "3-d, middle axis": (lambda a: a.reshape(8, 8, 2048), 1),
    "4-d F, last axis": (lambda a: np.asfortranarray(a.reshape(4, 4, 4, 2048)), -1),
}


@pytest.mark.parametrize("case", NO_COPY, ids=str)
def test_no_copy_when_memory_allows(case):
    make, axis = NO_COPY[case]
    x = make(sample((64, 2048), np.float32))
    out = np.empty_like(x)
    kelvin.softmax(x, axis=axis, out=out)  # warm up (thread buffers, imports)
    assert peak_bytes(lambda: kelvin.softmax(x, axis=axis, out=out)) < x.nbytes // 16
    # without out=, only the result itself is allocated
    assert peak_bytes(lambda: kelvin.softmax(x, axis=axis)) < x.nbytes * 17 // 16
    red = np.empty(reduced_shape(x.shape, axis), dtype=x.dtype)
    assert peak_bytes(lambda: kelvin.log_partition(x, axis=axis, out=red)) < x.nbytes // 16


def test_copy_when_memory_does_not_allow():
    """Axes 0 and 2 of a C array are not one stride apart: x is copied once."""
    x = sample((16, 8, 512), np.float32)
    out = np.empty_like(x)
    peak = peak_bytes(lambda: kelvin.softmax(x, axis=(0, 2), out=out))
    assert x.nbytes <= peak < 3 * x.nbytes
    np.testing.assert_array_equal(out, reference("softmax", x, 1.0, (0, 2)))


def test_integer_input_is_converted_once():
    x = np.arange(64 * 2048, dtype=np.int32).reshape(64, 2048) % 7
    want = kelvin.softmax(x.astype(np.float64))
    np.testing.assert_array_equal(kelvin.softmax(x), want)
    # one float64 buffer, computed in place
    assert peak_bytes(lambda: kelvin.softmax(x)) < x.size * 8 * 17 // 16


# ---- out= --------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_out_is_written_and_returned(family):
    x = sample((5, 8))
    want = reference(family, x, 0.5)
    out = np.full(np.shape(want), 7.0)
    got = getattr(kelvin, family)(x, 0.5, out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)


def test_out_views_and_in_place():
    x = sample((6, 9), np.float32)
    want = kelvin.softmax(x, 2.0)
    big = np.zeros((12, 9), dtype=np.float32)
    assert kelvin.softmax(x, 2.0, out=big[::2]) is not None
    np.testing.assert_array_equal(big[::2], want)
    assert np.all(big[1::2] == 0)
    y = x.copy()
    assert kelvin.softmax(y, 2.0, out=y) is y  # in place
    np.testing.assert_array_equal(y, want)
    yt = np.asfortranarray(x)
    kelvin.softmax(yt, 2.0, out=yt)
    np.testing.assert_array_equal(yt, want)
    # out overlapping x in another order: as if x had been copied first
    z = x.copy()
    kelvin.softmax(z, 2.0, out=z[::-1])
    np.testing.assert_array_equal(z[::-1], want)
    z = x.copy()
    kelvin.softmax(z, 2.0, axis=0, out=z[:, ::-1])
    np.testing.assert_array_equal(z[:, ::-1], kelvin.softmax(x, 2.0, axis=0))
    # a reduction into a slice of x itself
    z = x.copy()
    kelvin.log_partition(z, 2.0, out=z[:, 0])
    np.testing.assert_array_equal(z[:, 0], kelvin.log_partition(x, 2.0))


def test_out_with_other_layouts():
    x = sample((4, 5, 6))
    for out in (np.empty((6, 5, 4)).T, np.empty((4, 5, 12))[:, :, ::2], np.empty((4, 6, 5)).transpose(0, 2, 1)):
        kelvin.log_softmax(x, 3.0, axis=1, out=out)
        np.testing.assert_array_equal(out, kelvin.log_softmax(x, 3.0, axis=1))
    red = np.empty((6, 4)).T
    kelvin.smooth_max(x, 3.0, axis=1, out=red)
    np.testing.assert_array_equal(red, kelvin.smooth_max(x, 3.0, axis=1))


def test_zero_dimensional_results():
    x = np.array([1.0, 5.0, 7.0, 10.0])
    lz = kelvin.log_partition(x, 10.0)
    assert isinstance(lz, np.float64)
    out = np.empty(())
    assert kelvin.log_partition(x, 10.0, out=out) is out
    assert out[()] == lz
    assert isinstance(kelvin.smooth_max(x.astype(np.float32)), np.float32)
    assert kelvin.softmax(3.0, axis=None) == 1.0  # a scalar is a 0-d array
    np.testing.assert_array_equal(kelvin.softmax(np.float32(3.0), axis=()), 1.0)


# ---- temperatures --------------------------------------------------------------

def rowwise(family, x, t, axis):
    """family(x, t) with t of the reduced shape, one scalar-temperature call per row."""
    x = np.moveaxis(x, axis, -1)
    out = np.empty(x.shape if family in ELEMENTWISE else x.shape[:-1], dtype=x.dtype)
    for idx in np.ndindex(x.shape[:-1]):
        out[idx] = getattr(kelvin, family)(x[idx], float(t[idx]))
    return np.moveaxis(out, -1, axis) if family in ELEMENTWISE else out


@pytest.mark.parametrize("family", FAMILIES)
def test_per_row_temperatures(family):
    g = rng(9)
    x = sample((3, 4, 5), np.float32)
    for axis in (0, 1, 2):
        red = reduced_shape(x.shape, axis)
        t = 10.0 ** g.uniform(-2, 2, size=red)
        fn = getattr(kelvin, family)
        want = rowwise(family, x, t, axis)
        np.testing.assert_array_equal(fn(x, t, axis=axis), want)
        np.testing.assert_array_equal(fn(x, np.expand_dims(t, axis), axis=axis), want)  # keepdims
        np.testing.assert_array_equal(fn(x, t.tolist(), axis=axis), want)
        for layout in ("F", "reversed", "transposed"):
            np.testing.assert_array_equal(fn(make_layout(x, layout), t, axis=axis), want)
        np.testing.assert_array_equal(fn(np.ascontiguousarray(x), np.asfortranarray(t), axis=axis), want)


def test_temperature_broadcasting():
    x = sample((3, 4, 5))
    t_col = np.array([0.5, 1.0, 2.0, 4.0])  # one per axis-1 index, all rows of axis 0
    got = kelvin.softmax(x, t_col)  # reduced shape (3, 4): broadcasts
    for i in range(3):
        for j in range(4):
            np.testing.assert_array_equal(got[i, j], kelvin.softmax(x[i, j], t_col[j]))
    np.testing.assert_array_equal(kelvin.softmax(x, [2.0]), kelvin.softmax(x, 2.0))
    np.testing.assert_array_equal(kelvin.softmax(x, np.float32(2.0)), kelvin.softmax(x, 2.0))
    np.testing.assert_array_equal(kelvin.softmax(x, np.array(2)), kelvin.softmax(x, 2.0))
    np.testing.assert_array_equal(kelvin.softmax(x, 2), kelvin.softmax(x, 2.0))
    np.testing.assert_array_equal(kelvin.softmax(x, fractions.Fraction(1, 2)), kelvin.softmax(x, 0.5))
    np.testing.assert_array_equal(kelvin.softmax(x, decimal.Decimal("0.5")), kelvin.softmax(x, 0.5))
    np.testing.assert_array_equal(kelvin.softmax(x, float("inf")), np.full(x.shape, 0.2))
    t = np.array([0.5, 1.0, 2.0])  # axis=(1, 2): one per index of axis 0
    want = [kelvin.log_partition(x[i], t[i], axis=None) for i in range(3)]
    np.testing.assert_array_equal(kelvin.log_partition(x, t, axis=(1, 2)), want)
    np.testing.assert_array_equal(kelvin.log_partition(x, t[:, None, None], axis=(1, 2)), want)
    np.testing.assert_array_equal(kelvin.softmax(x, [[[2.0]]], axis=None), kelvin.softmax(x, 2.0, axis=None))


# ---- conversions -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64])
def test_bool_and_integer_inputs_become_float64(dtype):
    x = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    got = kelvin.softmax(x)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, kelvin.softmax(x.astype(np.float64)))


def test_lists_and_scalars():
    got = kelvin.softmax([1, 5, 7, 10], 10)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, kelvin.softmax(np.array([1.0, 5.0, 7.0, 10.0]), 10.0))
    assert kelvin.log_softmax([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)
    assert kelvin.softmax([np.float32(1), np.float32(2)]).dtype == np.float32
    assert kelvin.softmax((1.0, 2.0)).shape == (2,)
    assert kelvin.softmax([]).shape == (0,)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
def test_subclasses_and_readonly_input():
    x = sample((3, 4))
    x.setflags(write=False)
    np.testing.assert_array_equal(kelvin.softmax(x), kelvin.softmax(x.copy()))
    m = np.asmatrix(x)
    np.testing.assert_array_equal(np.asarray(kelvin.softmax(m)), kelvin.softmax(x))


# ---- threads and targets -------------------------------------------------------------

def test_threads_give_identical_results():
    x = sample((64, 4096), np.float32)
    try:
        kelvin.set_num_threads(1)
        assert kelvin.get_num_threads() == 1
        one = kelvin.softmax(x, 0.5)
        kelvin.set_num_threads(0)
        assert kelvin.get_num_threads() >= 1
        np.testing.assert_array_equal(kelvin.softmax(x, 0.5), one)
    finally:
        kelvin.set_num_threads(0)


def test_concurrent_python_threads():
    """The GIL is released while the kernels run; calls from several Python
    threads at once must each get their own right answer."""
    xs = [sample((32, 2048), np.float32, seed=s) for s in range(4)]
    want = [kelvin.softmax(x, 0.3) for x in xs]
    got = [None] * 4
    errors = []

    def work(i):
        try:
            for _ in range(5):
                got[i] = kelvin.softmax(xs[i], 0.3)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_every_supported_target_agrees():
    """Each SIMD target this CPU runs is within 2 ulp of the float64 result
    (itself within 2 ulp, so 3 for float64)."""
    x = sample((7, 300), np.float32)
    want = {np.float32: kelvin.softmax(x.astype(np.float64), 0.2).astype(np.float32),
            np.float64: kelvin.softmax(x.astype(np.float64), 0.2)}
    try:
        for target in kelvin.supported_targets():
            kelvin.set_target(target)
            assert kelvin.active_target() == target
            for dtype in DTYPES:
                got = kelvin.softmax(x.astype(dtype), 0.2)
                np.testing.assert_array_max_ulp(got, want[dtype], maxulp=2 if dtype == np.float32 else 4)
    finally:
        kelvin.set_target("")


def test_module_attributes():
    assert re.fullmatch(r"\d+\.\d+\.\d+", kelvin.__version__)
    assert kelvin.active_target() in kelvin.supported_targets()
    assert set(kelvin.supported_targets()) <= set(kelvin.compiled_targets())
    assert kelvin.compiled_targets()[-1] == "SCALAR"
    for name in FAMILIES:
        fn = getattr(kelvin, name)
        assert str(inspect.signature(fn)) == "(x, temperature=1.0, axis=-1, out=None, empty_row='nan')"
        assert "Parameters" in fn.__doc__


# ---- random views ---------------------------------------------------------------------

def random_view(g, shape, dtype):
    """An array of `shape` viewed through a random transpose of a bigger array
    with random steps (some negative) and offsets, and its values."""
    nd = len(shape)
    perm = g.permutation(nd)
    steps = [int(g.choice([1, 1, 2, 3, -1, -2])) for _ in range(nd)]
    big_shape = [shape[perm[i]] * abs(steps[perm[i]]) + int(g.integers(0, 3)) for i in range(nd)]
    big = (3 * g.standard_normal(big_shape)).astype(dtype)
    inv = np.argsort(perm)
    t = big.transpose(inv)  # axis d of t is axis inv[d] of big, of length big_shape[inv[d]]
    idx = []
    for d in range(nd):
        n, s = shape[d], steps[d]
        if s > 0 or n == 0:
            idx.append(slice(0, n * abs(s), abs(s)))
        else:
            idx.append(slice(n * -s - 1, None, s))
    v = t[tuple(idx)]
    assert v.shape == tuple(shape)
    return v


def test_random_views_axes_out_and_temperatures():
    """Seeded random layouts for x and out, random axes and per-row
    temperatures: every result equals the one from contiguous copies."""
    g = rng(2024)
    for case in range(150):
        nd = int(g.integers(1, 5))
        shape = tuple(int(g.integers(1, 6)) for _ in range(nd))
        dtype = DTYPES[case % 2]
        family = FAMILIES[case % 4]
        x = random_view(g, shape, dtype)
        kind = g.integers(0, 3)
        if kind == 0:
            axis = int(g.integers(-nd, nd))
        elif kind == 1:
            k = int(g.integers(0, nd + 1))
            axis = tuple(int(a) for a in g.choice(nd, size=k, replace=False))
        else:
            axis = None
        red = reduced_shape(shape, axis)
        t = 10.0 ** g.uniform(-1, 1, size=red) if g.random() < 0.5 else float(10.0 ** g.uniform(-1, 1))
        fn = getattr(kelvin, family)
        want = fn(np.ascontiguousarray(x), t, axis=axis)
        got = fn(x, t, axis=axis)
        np.testing.assert_array_max_ulp(np.asarray(got), np.asarray(want), maxulp=1)
        oshape = shape if family in ELEMENTWISE else red
        if oshape:
            out = random_view(g, oshape, dtype)
            assert fn(x, t, axis=axis, out=out) is out
            np.testing.assert_array_max_ulp(out, np.asarray(want), maxulp=1)
