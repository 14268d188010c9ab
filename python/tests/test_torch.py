"""kelvin against PyTorch's torch.softmax(x / T, dim), torch.log_softmax and
torch.logsumexp on seeded random data, in PyTorch's own dtype (held to its
error, which grows with |x / T|) and, for float32 data, in float64 (accurate
enough to check kelvin's 2 ulp)."""

import numpy as np
import pytest

import kelvin
from kelvin_testing import (
    DTYPES,
    LAYOUTS,
    TEMPERATURES,
    assert_within,
    kelvin_tolerance,
    make_layout,
    oracle,
    peer_tolerance,
    rng,
)

torch = pytest.importorskip("torch")

CASES = [((50,), -1), ((7, 64), -1), ((7, 64), 0), ((3, 6, 9), 1), ((3, 6, 9), -1)]


def torch_family(family, x, temperature, axis):
    t = torch.from_numpy(np.ascontiguousarray(x)) / temperature
    if family == "softmax":
        r = torch.softmax(t, dim=axis)
    elif family == "log_softmax":
        r = torch.log_softmax(t, dim=axis)
    elif family == "log_partition":
        r = torch.logsumexp(t, dim=axis)
    else:
        r = temperature * torch.logsumexp(t, dim=axis)
    return r.numpy()


@pytest.mark.parametrize("family", ["softmax", "log_softmax", "log_partition", "smooth_max"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-axis{c[1]}")
def test_against_torch(family, dtype, temperature, case):
    shape, axis = case
    g = rng(3 + len(shape))
    for base in [(temperature * (4 * g.standard_normal(shape) - 20)).astype(dtype),
                 (3 * g.standard_normal(shape)).astype(dtype)]:
        want, err = oracle(family, base, temperature, axis)
        tol = kelvin_tolerance(family, want, err, dtype)
        for layout in LAYOUTS:
            got = getattr(kelvin, family)(make_layout(base, layout), temperature, axis=axis)
            peer = torch_family(family, base, temperature, axis)
            assert peer.dtype == dtype
            assert_within(got, peer, tol + peer_tolerance(family, base, temperature, axis, dtype, want),
                          f"{family} {layout} vs torch {dtype.__name__}")
        if dtype == np.float32:
            peer64 = torch_family(family, base.astype(np.float64), temperature, axis)
            assert_within(got, peer64,
                          tol + peer_tolerance(family, base, temperature, axis, np.float64, want),
                          f"{family} vs torch float64")


def test_tensor_input_is_read_without_copy():
    """A CPU tensor converts through NumPy's array protocol, sharing memory."""
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    got = kelvin.softmax(t, 2.0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, torch.softmax(t / 2.0, -1).numpy(), rtol=1e-6)
    out = t.numpy()  # shares t's memory
    kelvin.softmax(out, 2.0, out=out)
    np.testing.assert_allclose(t.numpy(), got, rtol=0)
