#!/usr/bin/python3
"""Temperature scaling, kelvin beside its peers on the same over-confident
float32 logits (N x 1000), in one run: kelvin.calibration.fit_temperature,
PyTorch LBFGS on T with a strong-Wolfe line search, and SciPy's bounded
minimize_scalar; each one's fit time, passes or evaluations, T, and T's
distance to the optimum (kelvin's T checked against a tight SciPy search on
the exact float64 NLL). Also one kelvin.log_partition pass over the same
logits, so that the fit reads as a number of log_partition passes.

    PYTHONPATH=build/release/python /usr/bin/python3 bench/calibration_peers.py --rows 100000

--rows 1000000 needs about 4 GB for the logits. The peers evaluate the NLL in
blocks of --block rows (default 100000, 400 MB of float32), accumulating the
loss and PyTorch's gradient over the blocks, as one would for data of this size:
evaluated whole, PyTorch's x / T, log-softmax and gradients take about 16 GB
more and SciPy's float64 copy and logsumexp about 24 GB. The optimum T* is
found independently of kelvin: Newton steps in beta = 1/T on the float64 NLL
(NumPy, blocked) from SciPy's answer until the step is below 1e-12.
--reference-recipe adds the unmaintained reference recipe (LBFGS, lr 0.01,
50 iterations, start 1.5), which takes minutes.
"""

import argparse
import math
import os
import platform
import time

import numpy as np

import kelvin
import kelvin.calibration as kc


def make_logits(rows, cols=1000, seed=2017):
    """Per row a true class whose logit gets +3, everything times 2.5
    (over-confident), the label that class with probability 0.55."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    truth = rng.integers(0, cols, rows)
    x[np.arange(rows), truth] += 3
    x *= 2.5
    y = np.where(rng.random(rows) < 0.55, truth, rng.integers(0, cols, rows))
    return x, y


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def blocks(n, block):
    return [slice(i, min(i + block, n)) for i in range(0, n, block)]


def torch_lbfgs(x, y, block, strong_wolfe=True, lr=1.0, max_iter=100, start=1.0):
    import torch
    import torch.nn.functional as F

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    parts = blocks(len(y), block)
    t = torch.tensor([start], dtype=torch.float32, requires_grad=True)
    evals = [0]
    if strong_wolfe:
        opt = torch.optim.LBFGS([t], lr=lr, max_iter=max_iter, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-9, tolerance_change=1e-12)
    else:  # the reference recipe
        opt = torch.optim.LBFGS([t], lr=lr, max_iter=max_iter)

    def closure():
        opt.zero_grad()
        total = 0.0
        for b in parts:  # sum of per-block sums; t.grad accumulates across blocks
            loss = F.cross_entropy(xt[b] / t, yt[b], reduction="sum") / len(y)
            loss.backward()
            total += float(loss.detach())
        evals[0] += 1
        return torch.tensor(total)

    opt.step(closure)
    return float(t.detach()[0]), evals[0]


def nll64(x, y, t, block):
    """The NLL at temperature t in float64, block by block."""
    from scipy.special import logsumexp

    total = 0.0
    for b in blocks(len(y), block):
        z = x[b].astype(np.float64) / t
        total += float(np.sum(logsumexp(z, axis=1) - z[np.arange(len(z)), y[b]]))
    return total / len(y)


def newton_optimum(x, y, t, block):
    """T* by Newton steps in beta = 1/T on the float64 NLL (convex in beta):
    NLL'(beta) = mean(E_p[x] - x_y), NLL''(beta) = mean(Var_p[x])."""
    beta = 1.0 / t
    for _ in range(8):
        g = h = 0.0
        for b in blocks(len(y), block):
            z = x[b].astype(np.float64)
            w = z * beta
            w = np.exp(w - w.max(axis=1, keepdims=True))
            w /= w.sum(axis=1, keepdims=True)
            mean = np.sum(w * z, axis=1)
            g += float(np.sum(mean - z[np.arange(len(z)), y[b]]))
            h += float(np.sum(np.sum(w * z * z, axis=1) - mean * mean))
        step = g / h
        beta -= step
        if abs(step) < 1e-12 * beta:
            break
    return 1.0 / beta


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--block", type=int, default=100000)
    parser.add_argument("--reference-recipe", action="store_true")
    args = parser.parse_args()

    import scipy.optimize
    import torch

    torch.set_num_threads(kelvin.get_num_threads())  # the same threads as kelvin's default
    x, y = make_logits(args.rows)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; kelvin {kelvin.__version__} "
          f"({kelvin.active_target()}, {kelvin.get_num_threads()} threads), torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"logits: {args.rows} x 1000 float32 ({x.nbytes / 2**30:.2f} GiB), over-confident")

    lp, _ = timed(lambda: kelvin.log_partition(x, temperature=1.85))
    lp = min(lp, timed(lambda: kelvin.log_partition(x, temperature=1.85))[0])
    sec, r = timed(lambda: kc.fit_temperature(x, y))
    blk = args.block
    rows = [("kelvin fit_temperature", sec, f"{r.passes} passes", r.temperature, r.nll_after)]
    threads = kelvin.get_num_threads()
    kelvin.set_num_threads(1)
    sec1, r1 = timed(lambda: kc.fit_temperature(x, y))
    lp1, _ = timed(lambda: kelvin.log_partition(x, temperature=1.85))
    kelvin.set_num_threads(threads)
    rows.append(("kelvin, 1 thread", sec1, f"{r1.passes} passes", r1.temperature, r1.nll_after,
                 lp1))
    sec, (t, ev) = timed(lambda: torch_lbfgs(x, y, blk))
    rows.append(("torch LBFGS strong-Wolfe", sec, f"{ev} evaluations", t, nll64(x, y, t, blk)))
    evals = [0]

    def f(t):
        evals[0] += 1
        return nll64(x, y, t, blk)

    sec, res = timed(lambda: scipy.optimize.minimize_scalar(f, bounds=(0.05, 20),
                                                            method="bounded"))
    rows.append(("scipy bounded (float64)", sec, f"{evals[0]} evaluations", res.x, res.fun))
    t_opt = newton_optimum(x, y, res.x, blk)
    if args.reference_recipe:
        sec, (t, ev) = timed(lambda: torch_lbfgs(x, y, blk, strong_wolfe=False, lr=0.01,
                                                 max_iter=50, start=1.5))
        rows.append(("reference recipe (lr 0.01)", sec, f"{ev} evaluations", t,
                     nll64(x, y, t, blk)))

    print(f"optimum T* = {t_opt:.7f} (NLL {nll64(x, y, t_opt, blk):.6f}); one kelvin log_partition "
          f"pass {1e3 * lp:.1f} ms ({1e3 * lp1:.1f} ms on 1 thread)\n")
    print(f"{'method':<28} {'time':>9} {'x kelvin':>9} {'log_partition passes':>21} "
          f"{'work':>16} {'T':>10} {'|T/T*-1|':>9} {'NLL':>9}")
    base = rows[0][1]
    for name, sec, work, t, loss, *own_lp in rows:
        # log_partition passes: against the pass on the same thread count
        # (peers: kelvin's default threads).
        passes = sec / (own_lp[0] if own_lp else lp)
        print(f"{name:<28} {sec:8.3f}s {sec / base:9.1f} {passes:21.1f} {work:>16} {t:10.6f} "
              f"{abs(t / t_opt - 1):9.1e} {loss:9.6f}")


if __name__ == "__main__":
    main()
