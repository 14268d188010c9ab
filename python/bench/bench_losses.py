"""kelvin's losses against PyTorch 1.13 in one run (CPU, one process per case).

    PYTHONPATH=build/release/python /usr/bin/python3 python/bench/bench_losses.py [--quick]

1. cross-entropy forward + backward, 4096 x 32000 float32, T = 0.7:
   kelvin.torch.cross_entropy(x, y, temperature=T) vs F.cross_entropy(x / T, y)
   with autograd, 1 and 2 threads.
2. InfoNCE from embeddings, N = 256, K = 65536, D = 128 float32, T = 0.07:
   kelvin.torch.info_nce_embeddings vs the MoCo formulation (normalize, l_pos,
   l_neg = q @ queue.T, cat / T, cross_entropy), forward + backward.
3. N = 4096, K = 65536, D = 128: info_nce_embeddings (tiled) vs the
   materialised logits (kelvin.losses.info_nce over q @ queue.T): agreement and
   peak RSS, each in its own process.
Times are the median of `repeats` runs after one warm-up.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def median_time(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def case_ce(threads, repeats):
    import numpy as np
    import torch
    import torch.nn.functional as F

    import kelvin
    import kelvin.torch as KT

    torch.set_num_threads(threads)
    kelvin.set_num_threads(threads)
    rng = np.random.default_rng(1)
    x0 = torch.from_numpy((rng.standard_normal((4096, 32000)) * 3).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 32000, 4096))
    t = 0.7

    def peer():
        x = x0.detach().requires_grad_()
        F.cross_entropy(x / t, y).backward()

    def ours():
        x = x0.detach().requires_grad_()
        KT.cross_entropy(x, y, temperature=t).backward()

    return {"pytorch_s": median_time(peer, repeats), "kelvin_s": median_time(ours, repeats)}


def moco_inputs(n, k, d, seed=2):
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    q = torch.from_numpy(rng.standard_normal((n, d)).astype(np.float32))
    kk = torch.from_numpy(rng.standard_normal((n, d)).astype(np.float32))
    queue = rng.standard_normal((k, d)).astype(np.float32)
    queue /= np.linalg.norm(queue, axis=1, keepdims=True)
    return q, kk, torch.from_numpy(queue)


def case_moco(threads, repeats):
    import torch
    import torch.nn.functional as F

    import kelvin
    import kelvin.torch as KT

    torch.set_num_threads(threads)
    kelvin.set_num_threads(threads)
    q0, k0, queue = moco_inputs(256, 65536, 128)
    t = 0.07

    def peer():
        q = q0.detach().requires_grad_()
        k = k0.detach().requires_grad_()
        qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
        l_pos = torch.einsum("nc,nc->n", qn, kn).unsqueeze(-1)
        l_neg = torch.einsum("nc,kc->nk", qn, queue)
        logits = torch.cat([l_pos, l_neg], dim=1) / t
        F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long)).backward()

    def ours():
        q = q0.detach().requires_grad_()
        k = k0.detach().requires_grad_()
        KT.info_nce_embeddings(q, k, queue, temperature=t).backward()

    return {"pytorch_s": median_time(peer, repeats), "kelvin_s": median_time(ours, repeats)}


def big_inputs():
    """N = 4096, K = 65536, D = 128 float32, without importing PyTorch (its RSS)."""
    import numpy as np

    rng = np.random.default_rng(3)
    q = rng.standard_normal((4096, 128), dtype=np.float32)
    kk = rng.standard_normal((4096, 128), dtype=np.float32)
    queue = rng.standard_normal((65536, 128), dtype=np.float32)
    queue /= np.linalg.norm(queue, axis=1, keepdims=True)
    return q, kk, queue


def case_big(mode, out_path):
    """Loss and dL/dq, tiled or through the materialised 4096 x 65537 logits."""
    import numpy as np

    import kelvin.losses as L

    q, kk, queue = big_inputs()
    t0 = time.perf_counter()
    if mode == "tiled":
        loss, gq, _, dt = L.info_nce_embeddings(q, kk, queue, temperature=0.07, grad=True)
    else:
        nq = np.linalg.norm(q, axis=1, keepdims=True)
        qn = q / nq
        kn = kk / np.linalg.norm(kk, axis=1, keepdims=True)
        logits = np.empty((4096, 65537), np.float32)
        logits[:, 0] = np.einsum("nd,nd->n", qn, kn)
        np.matmul(qn, queue.T, out=logits[:, 1:])
        loss, g, dt = L.info_nce(logits, temperature=0.07, grad=True)
        # back through the products and the normalisation of q
        gqn = g[:, :1] * kn + g[:, 1:] @ queue
        gq = (gqn - qn * np.sum(qn * gqn, axis=1, keepdims=True)) / nq
    seconds = time.perf_counter() - t0
    np.save(out_path, gq)
    return {"loss": loss, "dt": dt, "seconds": seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(args):
    out = subprocess.run([sys.executable, __file__, "--child"] + args, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--child", nargs="*")
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--only", choices=["ce", "moco", "big"])
    a = p.parse_args()
    if a.child is not None:
        kind = a.child[0]
        if kind == "big":
            r = case_big(a.child[1], a.child[2])
        else:
            fn = case_ce if kind == "ce" else case_moco
            r = fn(int(a.child[1]), int(a.child[2]))
        print(json.dumps(r))
        return
    repeats = 3 if a.quick else 7
    cpu = [l for l in open("/proc/cpuinfo") if l.startswith("model name")][0].split(":")[1].strip()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    for kind, label in (("ce", "cross-entropy fwd+bwd 4096x32000 f32"),
                        ("moco", "InfoNCE embeddings N=256 K=65536 D=128 f32")):
        if a.only and a.only != kind:
            continue
        for threads in (1, 2):
            r = run_child([kind, str(threads), str(repeats)])
            print(f"{label}, {threads} thread(s): kelvin {r['kelvin_s'] * 1e3:.1f} ms, "
                  f"PyTorch {r['pytorch_s'] * 1e3:.1f} ms, "
                  f"ratio kelvin/PyTorch {r['kelvin_s'] / r['pytorch_s']:.2f}")
    if not a.only or a.only == "big":
        import tempfile

        import numpy as np

        with tempfile.TemporaryDirectory() as d:
            tiled = run_child(["big", "tiled", os.path.join(d, "a.npy")])
            mat = run_child(["big", "materialised", os.path.join(d, "b.npy")])
            ga, gb = np.load(os.path.join(d, "a.npy")), np.load(os.path.join(d, "b.npy"))
        rel = abs(tiled["loss"] - mat["loss"]) / abs(mat["loss"])
        rel_dt = abs(tiled["dt"] - mat["dt"]) / abs(mat["dt"])
        rel_g = float(np.max(np.abs(ga - gb)) / np.max(np.abs(gb)))
        print(f"info_nce_embeddings N=4096 K=65536 D=128 f32, loss + dL/dq + dL/dT: tiled "
              f"{tiled['seconds']:.2f} s, peak RSS {tiled['peak_rss_mib']:.0f} MiB; "
              f"materialised {mat['seconds']:.2f} s, peak RSS {mat['peak_rss_mib']:.0f} MiB; "
              f"loss {tiled['loss']!r} vs {mat['loss']!r} (relative {rel:.1e}), dL/dT relative "
              f"{rel_dt:.1e}, dL/dq max relative {rel_g:.1e}")


if __name__ == "__main__":
    main()
