"""kelvin.mpi under mpirun (ctest: python.mpi.ranks1..4 run run_mpi_pytest.py): every rank
builds the same global rows from a seed, passes its columns, and compares its part with
kelvin's single-process results on the whole rows and with PyTorch 1.13 autograd in float64.
Skipped when pytest runs outside mpirun."""
import math
import os

import numpy as np
import pytest

if "OMPI_COMM_WORLD_SIZE" not in os.environ and "PMI_SIZE" not in os.environ:
    pytest.skip("kelvin.mpi tests run under mpirun (ctest python.mpi.ranksN)",
                allow_module_level=True)

MPI = pytest.importorskip("mpi4py.MPI")
import kelvin  # noqa: E402
import kelvin.mpi  # noqa: E402

comm = MPI.COMM_WORLD
P, ME = comm.size, comm.rank


def bounds(c, pattern):
    """Column boundaries: even; rank 1 holding none; everything on the last rank."""
    if pattern == 0:
        w = [1] * P
    elif pattern == 1:
        w = [0 if (P > 1 and r == 1) else r + 1 for r in range(P)]
    else:
        w = [1 if r == P - 1 else 0 for r in range(P)]
    acc = np.cumsum([0] + w)
    return [c * a // acc[-1] for a in acc]


PATTERNS = [0, 1, 2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("t", [1.0, 0.07, 5.0, 0.0, math.inf])
def test_softmax_family_matches_single_process(dtype, pattern, t):
    x = np.random.default_rng(7).normal(0, 4, size=(5, 53)).astype(dtype)
    x[1, 3] = x[1, 40] = x[1].max() + 1  # a tie at the max across shards
    x[2, ::3] = -np.inf                   # masks on every rank
    b = bounds(x.shape[1], pattern)
    local = x[:, b[ME]:b[ME + 1]]
    lz = kelvin.mpi.sharded_log_partition(comm, local, temperature=t)
    p = kelvin.mpi.sharded_softmax(comm, local, temperature=t)
    lp = kelvin.mpi.sharded_log_softmax(comm, local, temperature=t)
    assert lz.dtype == dtype and p.dtype == dtype and p.shape == local.shape
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(lz, kelvin.log_partition(x, temperature=t), rtol=4 * eps, atol=4 * eps)
    # Subnormal outputs: within 2 * 2^-149 (float32) of the exact value each.
    np.testing.assert_allclose(p, kelvin.softmax(x, temperature=t)[:, b[ME]:b[ME + 1]],
                               rtol=4 * eps, atol=4 * np.finfo(dtype).smallest_subnormal)
    np.testing.assert_allclose(lp, kelvin.log_softmax(x, temperature=t)[:, b[ME]:b[ME + 1]],
                               rtol=4 * eps, atol=4 * eps)


def test_nan_on_one_rank_and_one_row():
    x = np.arange(12, dtype=np.float64)
    x[11] = np.nan  # on the last rank
    b = bounds(12, 0)
    assert math.isnan(kelvin.mpi.sharded_log_partition(comm, x[b[ME]:b[ME + 1]]))
    assert np.isnan(kelvin.mpi.sharded_softmax(comm, x[b[ME]:b[ME + 1]])).all()


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("t", [1.0, 0.3, 7.0])
def test_cross_entropy_matches_pytorch_autograd(pattern, reduction, smoothing, t):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.normal(0, 3, size=(7, 61))
    y = rng.integers(0, 61, size=7)
    y[4] = -100  # ignored
    b = bounds(61, pattern)
    local = x[:, b[ME]:b[ME + 1]]
    loss, g, dt = kelvin.mpi.sharded_cross_entropy(comm, local, y, b[ME], temperature=t,
                                                   reduction=reduction,
                                                   label_smoothing=smoothing, grad=True)
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(xt / tt, torch.tensor(y), reduction=reduction,
                                            label_smoothing=smoothing)
    ref.sum().backward()
    np.testing.assert_allclose(loss, ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(g, xt.grad.numpy()[:, b[ME]:b[ME + 1]], rtol=1e-10, atol=1e-15)
    assert dt == pytest.approx(tt.grad.item(), rel=1e-10, abs=1e-14)
    assert kelvin.mpi.sharded_cross_entropy(comm, local, y, b[ME], t, reduction,
                                            smoothing) == pytest.approx(loss, rel=0, abs=0)


def test_cross_entropy_float32_matches_float64_within_float_rounding():
    rng = np.random.default_rng(12)
    x = rng.normal(0, 3, size=(4, 33)).astype(np.float32)
    y = rng.integers(0, 33, size=4)
    b = bounds(33, 1)
    local = x[:, b[ME]:b[ME + 1]]
    l32, g32, dt32 = kelvin.mpi.sharded_cross_entropy(comm, local, y, b[ME], 0.5, grad=True)
    l64, g64, dt64 = kelvin.mpi.sharded_cross_entropy(comm, local.astype(np.float64), y, b[ME],
                                                      0.5, grad=True)
    assert g32.dtype == np.float32
    assert l32 == pytest.approx(l64, rel=1e-12)  # computed in double from the same values
    np.testing.assert_allclose(g32, g64, rtol=1.2e-7, atol=1e-30)


def test_bad_argument_on_one_rank_fails_every_rank_with_the_same_error():
    x = np.ones((2, 3))
    with pytest.raises(ValueError) as e:
        kelvin.mpi.sharded_softmax(comm, x, temperature=-1.0 if ME == P - 1 else 1.0)
    assert f"rank {P - 1}" in str(e.value) and "temperature" in str(e.value)
    assert comm.allgather(str(e.value)) == [str(e.value)] * P
    with pytest.raises(ValueError) as e:
        kelvin.mpi.sharded_log_partition(comm, np.ones((2, 2, 2)) if ME == 0 else x)
    assert "rank 0" in str(e.value) and "2-D" in str(e.value)
    with pytest.raises(TypeError):
        kelvin.mpi.sharded_cross_entropy(comm, x, np.array([0.5, 1.0]), 3 * ME)
    with pytest.raises(ValueError, match="outside"):
        kelvin.mpi.sharded_cross_entropy(comm, x, np.array([0, 3 * P]), 3 * ME)
    with pytest.raises(ValueError, match="reduction"):
        kelvin.mpi.sharded_cross_entropy(comm, x, np.array([0, 1]), 3 * ME, reduction="avg")
    with pytest.raises(TypeError):
        kelvin.mpi.sharded_softmax("not a communicator", x)
    # The communicator still works afterwards.
    assert kelvin.mpi.sharded_log_partition(comm, x)[0] == pytest.approx(1 + math.log(3 * P))


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("config", [
    dict(temperature=0.8),
    dict(temperature=0.0),
    dict(temperature=math.inf),
    dict(temperature=0.8, top_k=40, top_p=0.95, min_p=0.05),
    dict(temperature=1.2, top_p=0.9),
    dict(temperature=0.7, min_p=0.1),
    dict(temperature=0.9, top_k=5),
])
def test_sample_gives_kelvin_sample_token(pattern, config):
    rng = np.random.default_rng(5)
    x = rng.normal(0, 3, size=(4, 3000)).astype(np.float32)
    x[1, ::4] = -np.inf
    x[2, [3, 1500, 2999]] = 30  # a tie at the max across ranks
    b = bounds(3000, pattern)
    local = x[:, b[ME]:b[ME + 1]]
    for seed in (0, 9):
        for step in (0, 5):
            ids = np.array([4, 0, 123456789, 2])
            got = kelvin.mpi.sharded_sample(comm, local, seed=seed, step=step, row_ids=ids, **config)
            want = kelvin.sample(x, seed=seed, step=step, row_ids=ids, **config)
            np.testing.assert_array_equal(got, want)
            assert got.dtype == np.int64
    one = kelvin.mpi.sharded_sample(comm, local[0], seed=3, **config)
    assert isinstance(one, int) and one == kelvin.sample(x[0], seed=3, **config)


def test_sample_errors_are_collective():
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError) as e:
        kelvin.mpi.sharded_sample(comm, x, top_p=0.0 if ME == 0 else 0.5)
    assert "rank 0" in str(e.value) and "top_p" in str(e.value)
    with pytest.raises(TypeError, match="rank"):
        kelvin.mpi.sharded_sample(comm, x, seed="a" if ME == P - 1 else 0)
