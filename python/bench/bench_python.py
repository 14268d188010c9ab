#!/usr/bin/python3
"""kelvin's Python module against SciPy and PyTorch, in one run:

  1. call overhead: softmax with temperature of a 1 x 10 float32 array;
  2. throughput: softmax with temperature of 4096 x 32000 float32 (a batch of
     LLM vocabulary rows, 524 MB) against torch.softmax(x / T, -1) and
     scipy.special.softmax(x / T, axis=-1), single-threaded and on all cores,
     with a memory copy of the same array (np.copyto) as the bandwidth yardstick.

Every figure is the median of several repetitions; ratios are against kelvin
measured in the same run.

    PYTHONPATH=build/python /usr/bin/python3 python/bench/bench_python.py
"""

import argparse
import os
import statistics
import sys
import time
import timeit

import numpy as np

import kelvin

T = 0.7


def median_seconds(fn, repeat, number=1):
    return statistics.median(timeit.repeat(fn, repeat=repeat, number=number)) / number


def overhead(peers, repeat):
    x = np.random.default_rng(0).standard_normal((1, 10)).astype(np.float32)
    out = np.empty_like(x)
    cases = [("kelvin.softmax(x, T)", lambda: kelvin.softmax(x, T)),
             ("kelvin.softmax(x, T, out=y)", lambda: kelvin.softmax(x, T, out=out))]
    if "scipy" in peers:
        sp = peers["scipy"]
        cases.append(("scipy.special.softmax(x / T, axis=-1)", lambda: sp.softmax(x / T, axis=-1)))
    if "torch" in peers:
        torch = peers["torch"]
        xt = torch.from_numpy(x)
        cases.append(("torch.softmax(x / T, -1)", lambda: torch.softmax(xt / T, -1)))
    number = 2000
    rows = []
    for name, fn in cases:
        fn()
        rows.append((name, median_seconds(fn, repeat, number)))
    base = rows[0][1]
    print(f"\n1 x 10 float32, T = {T}: time per call (median of {repeat} x {number} calls)")
    print(f"  {'call':42s} {'us':>8s} {'vs kelvin':>10s}")
    for name, s in rows:
        print(f"  {name:42s} {s * 1e6:8.2f} {s / base:9.1f}x")


def throughput(peers, rows, cols, repeat, threads_list):
    g = np.random.default_rng(1)
    x = (8 * g.random((rows, cols), dtype=np.float32) - 4).astype(np.float32)
    out = np.empty_like(x)
    nbytes = 2 * x.nbytes  # read x, write y
    torch = peers.get("torch")
    sp = peers.get("scipy")
    if torch is not None:
        xt = torch.from_numpy(x)
    # Correctness on the same data before timing (first rows only for speed).
    ref = kelvin.softmax(x[:4].astype(np.float64), T)
    kelvin.softmax(x, T, out=out)
    assert np.max(np.abs(out[:4] - ref)) < 1e-6
    print(f"\n{rows} x {cols} float32 ({x.nbytes / 1e6:.0f} MB), T = {T}: time per call "
          f"(median of {repeat}, SciPy {max(2, (repeat + 1) // 2)}, taken round robin); GB/s counts "
          f"reading x and writing y")
    for threads in threads_list:
        label = "1 thread" if threads == 1 else f"all cores ({threads} threads)"
        kelvin.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        cases = [("kelvin.softmax(x, T)", lambda: kelvin.softmax(x, T)),
                 ("kelvin.softmax(x, T, out=y)", lambda: kelvin.softmax(x, T, out=out))]
        if torch is not None:
            cases.append(("torch.softmax(x / T, -1)", lambda: torch.softmax(xt / T, -1)))
        if sp is not None and threads == 1:
            cases.append(("scipy.special.softmax(x / T, axis=-1)", lambda: sp.softmax(x / T, axis=-1)))
        cases.append(("np.copyto(y, x)  [memory copy]", lambda: np.copyto(out, x)))
        for _, fn in cases:
            fn()  # warm up: thread pools, page faults of a first output
        # Round robin, so that a disturbance (a shared machine) hits every
        # case alike; SciPy, 10x slower, runs in the first half of the rounds.
        times = {name: [] for name, _ in cases}
        for r in range(repeat):
            for name, fn in cases:
                if name.startswith("scipy") and r >= max(2, (repeat + 1) // 2):
                    continue
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        results = [(name, statistics.median(times[name])) for name, _ in cases]
        base = results[0][1]
        print(f"  {label}")
        print(f"  {'call':42s} {'ms':>9s} {'GB/s':>7s} {'Gelem/s':>8s} {'vs kelvin':>10s}")
        for name, s in results:
            print(f"  {name:42s} {s * 1e3:9.1f} {nbytes / s / 1e9:7.2f} {x.size / s / 1e9:8.3f} "
                  f"{s / base:9.2f}x")
        if sp is not None and threads != 1:
            print("  (SciPy/NumPy runs on one thread: see the 1-thread table)")
    kelvin.set_num_threads(0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=32000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="the 'all cores' thread count (default: os.cpu_count())")
    args = parser.parse_args(argv)

    peers = {}
    try:
        import scipy.special as sp
        import scipy
        peers["scipy"] = sp
        scipy_version = scipy.__version__
    except ImportError:
        scipy_version = "missing"
    try:
        import torch
        peers["torch"] = torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = "missing"
    print(f"kelvin {kelvin.__version__} ({kelvin.active_target()}), NumPy {np.__version__}, "
          f"SciPy {scipy_version}, PyTorch {torch_version}; {os.cpu_count()} CPUs; "
          f"Python {sys.version.split()[0]}")
    start = time.perf_counter()
    overhead(peers, repeat=7)
    threads = [1] if args.threads == 1 else [1, args.threads]
    throughput(peers, args.rows, args.cols, args.repeat, threads)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
