"""kelvin from many Python threads at once (docs/threads.md).

8 threads run every family on float16, float32 and float64 arrays of several
shapes and axes (rows, a large batch that splits over kelvin's threads, a
middle axis, a strided view, per-row temperatures with 0 and inf, the
contract's special rows), while another thread keeps changing
set_num_threads. Each result must equal, bit for bit, the same call made
alone before the storm. And the GIL is really released: Python code keeps
running on another thread while a long call computes.
"""

import threading
import time

import numpy as np

import kelvin
from kelvin_testing import FAMILIES

WORKERS = 8
ROUNDS = 6


def special_rows(x):
    """The contract's corners in the first rows of a 2-d float array."""
    x[1, x.shape[1] // 2] = np.nan
    x[2, :] = -np.inf
    x[3, 0] = np.inf
    x[4, ::3] = -np.inf
    return x


def make_cases():
    rng = np.random.default_rng(15)
    cases = []
    for dtype in (np.float16, np.float32, np.float64):
        rows = special_rows(rng.normal(size=(23, 257)) * 3).astype(dtype)
        large = (rng.normal(size=(64, 2048)) * 3).astype(dtype)
        cube = (rng.normal(size=(3, 19, 37)) * 3).astype(dtype)
        per_row_t = np.array([0.0, np.inf] + [0.05 * (r + 1) for r in range(21)])
        for family in FAMILIES:
            fn = getattr(kelvin, family)
            name = f"{family}/{np.dtype(dtype).name}"
            cases += [
                (name + "/rows", lambda fn=fn, x=rows: fn(x, temperature=0.7)),
                (name + "/per_row_t", lambda fn=fn, x=rows, t=per_row_t: fn(x, temperature=t)),
                (name + "/large", lambda fn=fn, x=large: fn(x, temperature=1.3)),
                (name + "/middle_axis", lambda fn=fn, x=cube: fn(x, temperature=2.5, axis=1)),
                (name + "/strided", lambda fn=fn, x=rows: fn(x[::2, ::3], temperature=0.02)),
                (name + "/axis0", lambda fn=fn, x=rows: fn(x, temperature=4.0, axis=0)),
            ]
    return cases


def as_bytes(result):
    a = np.asarray(result)
    return a.dtype.str, a.shape, a.tobytes()


def test_many_threads_match_a_serial_run():
    cases = make_cases()
    expected = [as_bytes(run()) for _, run in cases]
    mismatches = []
    errors = []
    done = threading.Event()

    def meddle():
        rng = np.random.default_rng(99)
        while not done.is_set():
            kelvin.set_num_threads(int(rng.integers(0, 5)))
            assert kelvin.get_num_threads() >= 1
            time.sleep(0.0002)

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            for _ in range(ROUNDS):
                for i in rng.permutation(len(cases)):
                    name, run = cases[i]
                    if as_bytes(run()) != expected[i]:
                        mismatches.append(name)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    meddler = threading.Thread(target=meddle)
    meddler.start()
    workers = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    meddler.join()
    kelvin.set_num_threads(0)
    assert not errors, errors[0]
    assert not mismatches, f"{len(mismatches)} mismatches, first {mismatches[0]}"


def test_the_gil_is_released_while_kelvin_computes():
    kelvin.set_num_threads(1)
    try:
        x = np.random.default_rng(1).normal(size=(1 << 12, 1 << 12))  # 128 MiB of float64
        t0 = time.perf_counter()
        kelvin.log_softmax(x)
        alone = time.perf_counter() - t0
        span = {}

        def long_call():
            span["start"] = time.perf_counter()
            kelvin.log_softmax(x)
            span["end"] = time.perf_counter()

        ticks = []
        t = threading.Thread(target=long_call)
        t.start()
        while t.is_alive():
            ticks.append(time.perf_counter())
        t.join()
        # Ticks of this loop in the middle of the call: with the GIL held for
        # the whole call there would be none (the loop could not run).
        lo = span["start"] + 0.2 * (span["end"] - span["start"])
        hi = span["end"] - 0.2 * (span["end"] - span["start"])
        during = sum(lo <= tick <= hi for tick in ticks)
        assert during > 100, (during, alone)
    finally:
        kelvin.set_num_threads(0)
