"""Arrays whose strides reach beyond the address space (built with
numpy.lib.stride_tricks.as_strided): every function raises ValueError naming
the argument, at once, without reading them (NumPy itself would crash copying
them). NumPy refuses shapes whose byte count overflows, so strides are the way
an overflowing extent reaches kelvin from Python."""

import time

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import kelvin
from kelvin_testing import FAMILIES

BIG = 2**62


def wild(shape, strides, dtype=np.float32):
    return as_strided(np.zeros(4, dtype), shape=shape, strides=strides)


# Each spans more than 2^63 - 1 bytes (or starts 2^61 bytes below its own
# buffer, before address 0 of a 47-bit user space).
CASES = [
    ((3,), (BIG,)),
    ((3,), (-BIG,)),
    ((2, 2, 2), (BIG, BIG, BIG)),  # not mergeable: kelvin would copy it
    ((2, 3), (-(2**61), 2**61)),
    ((2, 3), (8, BIG)),
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
@pytest.mark.parametrize("shape,strides", CASES)
def test_x_beyond_the_address_space_is_a_value_error(family, dtype, shape, strides):
    x = wild(shape, strides, dtype)
    t0 = time.perf_counter()
    for axis in (-1, 0):
        with pytest.raises(ValueError, match=r"^x (has shape|\.|\()"):
            getattr(kelvin, family)(x, axis=axis)
    assert time.perf_counter() - t0 < 1


@pytest.mark.parametrize("family", ["softmax", "log_softmax"])
def test_out_beyond_the_address_space_is_a_value_error(family):
    x = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="^out has shape"):
        getattr(kelvin, family)(x, out=wild((3,), (BIG,)))


def test_large_strides_that_fit_still_work():
    # A broadcast view (stride 0) and a reversed one are ordinary arrays.
    base = np.arange(4, dtype=np.float64)
    wide = as_strided(base, shape=(1000, 4), strides=(0, 8))
    got = kelvin.log_partition(wide)
    np.testing.assert_allclose(got, np.log(np.exp(base).sum()), rtol=1e-15)
    np.testing.assert_allclose(kelvin.softmax(base[::-1]),
                               np.exp(base[::-1]) / np.exp(base).sum(), rtol=1e-15)
