"""Sampling: microseconds per sampled token, kelvin beside PyTorch and a
sort-based C++ reference, in one run (issue 11).

Runs bench/sampling_bench (kelvin's C++ calls and the sort-based C++ chain /
plain references) and times, through Python, kelvin.sample against
torch.multinomial(torch.softmax(x / T, -1), 1) and torch.argmax(x, -1), for
vocab 32000 / 128256 / 262144, 1 and 64 rows, 1 and 2 threads; logits
N(0, 3^2) float32, T = 0.8, default chain top-k 40, top-p 0.95, min-p 0.05.
Prints a Markdown table (wall-clock median and CPU time per token) and the
issue's targets at 128256, 1 thread, as met / missed.

    PYTHONPATH=build/release/python /usr/bin/python3 python/bench/bench_sampling.py \
        --bench build/release/bench/sampling_bench
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import numpy as np
import torch

import kelvin

VOCABS = (32000, 128256, 262144)
CHAIN = dict(temperature=0.8, top_k=40, top_p=0.95, min_p=0.05)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def timeit(fn, rows, budget):
    """(median wall, median CPU) seconds per token over repeats of ~budget/7."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 > budget / 7 or n > 1 << 20:
            break
        n *= 2
    walls, cpus = [], []
    for _ in range(7):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        walls.append((time.perf_counter() - w0) / n / rows)
        cpus.append((time.process_time() - c0) / n / rows)
    return statistics.median(walls), statistics.median(cpus)


def python_side(budget):
    out = {}
    g = torch.Generator().manual_seed(0)
    for vocab in VOCABS:
        for rows in (1, 64):
            x = torch.randn(rows, vocab, generator=g) * 3
            xn = x.numpy()
            xk = xn[0] if rows == 1 else xn
            for threads in (1, 2):
                torch.set_num_threads(threads)
                kelvin.set_num_threads(threads)
                step = iter(range(1 << 62))
                cases = {
                    "kelvin_plain": lambda: kelvin.sample(xk, temperature=0.8, step=next(step)),
                    "kelvin_chain": lambda: kelvin.sample(xk, step=next(step), **CHAIN),
                    "kelvin_greedy": lambda: kelvin.sample(xk, temperature=0),
                    "torch_multinomial": lambda: torch.multinomial(torch.softmax(x / 0.8, -1), 1),
                    "torch_argmax": lambda: torch.argmax(x, -1),
                }
                for name, fn in cases.items():
                    out[(name, vocab, rows, threads)] = timeit(fn, rows, budget)
    torch.set_num_threads(1)
    kelvin.set_num_threads(0)
    return out


def cpp_side(binary, min_time):
    res = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_min_time={min_time}"],
                         check=True, capture_output=True, text=True)
    out = {}
    for b in json.loads(res.stdout)["benchmarks"]:
        parts = b["name"].split("/")
        name, vocab = parts[0], int(parts[1])
        rows = int(parts[2].split(":")[1])
        threads = int(parts[3].split(":")[1])
        scale = {"us": 1e-6, "ns": 1e-9, "ms": 1e-3}[b["time_unit"]]
        out[("cpp_" + name, vocab, rows, threads)] = (b["real_time"] * scale / rows,
                                                     b["cpu_time"] * scale / rows)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/release/bench/sampling_bench")
    ap.add_argument("--budget", type=float, default=0.3, help="seconds per Python case")
    ap.add_argument("--min-time", type=float, default=0.1, help="C++ benchmark min time")
    args = ap.parse_args()
    r = {}
    r.update(cpp_side(args.bench, args.min_time))
    r.update(python_side(args.budget))
    cols = ["kelvin_plain", "kelvin_chain", "kelvin_greedy", "torch_multinomial", "torch_argmax",
            "cpp_kelvin_plain", "cpp_kelvin_chain", "cpp_kelvin_greedy", "cpp_sortref_plain",
            "cpp_sortref_chain"]
    print(f"CPU: {cpu_name()}; {os.cpu_count()} logical CPUs; kelvin target "
          f"{kelvin.active_target()}; torch {torch.__version__}")
    print("us per token, wall-clock median (CPU time in parentheses); Python columns "
          "through the Python call, cpp_ columns from bench/sampling_bench\n")
    print("| vocab | rows | threads | " + " | ".join(cols) + " |")
    print("|---" * (3 + len(cols)) + "|")
    for vocab in VOCABS:
        for rows in (1, 64):
            for threads in (1, 2):
                cells = []
                for c in cols:
                    w, cpu = r[(c, vocab, rows, threads)]
                    cells.append(f"{w * 1e6:.1f} ({cpu * 1e6:.1f})")
                print(f"| {vocab} | {rows} | {threads} | " + " | ".join(cells) + " |")
    print("\nTargets (issue 11), 128256, 1 row, 1 thread, through Python:")
    key = lambda c: r[(c, 128256, 1, 1)]
    checks = [
        ("plain <= torch multinomial / 30", "kelvin_plain", "torch_multinomial", 30),
        ("chain <= torch multinomial / 80", "kelvin_chain", "torch_multinomial", 80),
        ("greedy <= torch argmax / 3", "kelvin_greedy", "torch_argmax", 3),
    ]
    for text, a, b, f in checks:
        for i, clock in ((0, "wall"), (1, "CPU")):
            mine, peer = key(a)[i] * 1e6, key(b)[i] * 1e6
            verdict = "met" if mine <= peer / f else "missed"
            print(f"  {text} ({clock}): {mine:.1f} vs {peer:.1f} / {f} = {peer / f:.1f} -> {verdict}")
    print("Targets against the issue's llama.cpp figures (C++ calls, 1 row, 1 thread):")
    llama = {32000: (16, 252, 19), 128256: (53, 1054, 75), 262144: (94, 2149, 146)}
    for vocab, (chain, plain, greedy) in llama.items():
        for name, ref, f in (("plain", plain, 20), ("chain", chain, 3), ("greedy", greedy, 3)):
            w, cpu = r[("cpp_kelvin_" + name, vocab, 1, 1)]
            print(f"  {vocab} {name}: {w * 1e6:.1f} wall / {cpu * 1e6:.1f} CPU vs "
                  f"{ref} / {f} = {ref / f:.1f} -> wall {'met' if w * 1e6 <= ref / f else 'missed'}, "
                  f"CPU {'met' if cpu * 1e6 <= ref / f else 'missed'}")


if __name__ == "__main__":
    main()
