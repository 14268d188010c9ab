#!/usr/bin/python3
"""Temperature scaling, kelvin beside its peers on the same over-confident
float32 logits (N x 1000), in one run: kelvin.calibration.fit_temperature,
PyTorch LBFGS on T with a strong-Wolfe line search, and SciPy's bounded
minimize_scalar; each one's fit time, passes or evaluations, T, and T's
distance to the optimum (kelvin's T checked against a tight SciPy search on
the exact float64 NLL). Also one kelvin.log_partition pass over the same
logits, so that the fit reads as a number of log_partition passes.

    PYTHONPATH=build/release/python /usr/bin/python3 bench/calibration_peers.py --rows 100000

--rows 1000000 needs about 4 GB for the logits, and PyTorch's evaluations
about 12 GB more (x / T, its log-softmax and their gradients).
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


def torch_lbfgs(x, y, strong_wolfe=True, lr=1.0, max_iter=100, start=1.0):
    import torch
    import torch.nn.functional as F

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    t = torch.tensor([start], dtype=torch.float32, requires_grad=True)
    evals = [0]
    if strong_wolfe:
        opt = torch.optim.LBFGS([t], lr=lr, max_iter=max_iter, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-9, tolerance_change=1e-12)
    else:  # the reference recipe
        opt = torch.optim.LBFGS([t], lr=lr, max_iter=max_iter)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xt / t, yt)
        loss.backward()
        evals[0] += 1
        return loss

    opt.step(closure)
    return float(t.detach()[0]), evals[0]


def nll64(x64, y, t):
    from scipy.special import logsumexp

    z = x64 / t
    return float(np.mean(logsumexp(z, axis=1) - z[np.arange(len(y)), y]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--reference-recipe", action="store_true")
    args = parser.parse_args()

    import scipy.optimize
    import torch

    x, y = make_logits(args.rows)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; kelvin {kelvin.__version__} "
          f"({kelvin.active_target()}, {kelvin.get_num_threads()} threads), torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"logits: {args.rows} x 1000 float32 ({x.nbytes / 2**30:.2f} GiB), over-confident")

    lp, _ = timed(lambda: kelvin.log_partition(x, temperature=1.85))
    lp = min(lp, timed(lambda: kelvin.log_partition(x, temperature=1.85))[0])
    sec, r = timed(lambda: kc.fit_temperature(x, y))
    x64 = x.astype(np.float64)
    # The optimum: SciPy's bounded search on the float64 NLL, tight, around kelvin's T.
    ref = scipy.optimize.minimize_scalar(lambda t: nll64(x64, y, t),
                                         bounds=(r.temperature * 0.9, r.temperature * 1.1),
                                         method="bounded", options={"xatol": 1e-9})
    t_opt = ref.x
    rows = [("kelvin fit_temperature", sec, f"{r.passes} passes", r.temperature, r.nll_after)]
    threads = kelvin.get_num_threads()
    kelvin.set_num_threads(1)
    sec1, r1 = timed(lambda: kc.fit_temperature(x, y))
    lp1, _ = timed(lambda: kelvin.log_partition(x, temperature=1.85))
    kelvin.set_num_threads(threads)
    rows.append(("kelvin, 1 thread", sec1, f"{r1.passes} passes", r1.temperature, r1.nll_after,
                 lp1))
    sec, (t, ev) = timed(lambda: torch_lbfgs(x, y))
    rows.append(("torch LBFGS strong-Wolfe", sec, f"{ev} evaluations", t, nll64(x64, y, t)))
    evals = [0]

    def f(t):
        evals[0] += 1
        return nll64(x64, y, t)

    sec, res = timed(lambda: scipy.optimize.minimize_scalar(f, bounds=(0.05, 20),
                                                            method="bounded"))
    rows.append(("scipy bounded (float64)", sec, f"{evals[0]} evaluations", res.x, res.fun))
    if args.reference_recipe:
        sec, (t, ev) = timed(lambda: torch_lbfgs(x, y, strong_wolfe=False, lr=0.01, max_iter=50,
                                                 start=1.5))
        rows.append(("reference recipe (lr 0.01)", sec, f"{ev} evaluations", t, nll64(x64, y, t)))

    print(f"optimum T = {t_opt:.6f} (NLL {nll64(x64, y, t_opt):.6f}); one kelvin log_partition "
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
