#!/usr/bin/python3
"""The seed post's example with kelvin: the distribution of [1, 5, 7, 10] at
T = 0.1, 1, 10, 100 and 10000, printed as the post's table and drawn as bar
charts (the post's title image) to a PNG.

    PYTHONPATH=build/python /usr/bin/python3 python/examples/temperature.py --output temperature.png

Add --show to open a window as well (needs a GUI matplotlib backend)."""

import argparse
import os
import sys

import numpy as np

import kelvin

VEC = [1, 5, 7, 10]
TEMPERATURES = [0.1, 1, 10, 100, 10000]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", "-o", default="temperature.png", help="PNG to write")
    parser.add_argument("--show", action="store_true", help="also show the figure")
    args = parser.parse_args(argv)

    x = np.array(VEC, dtype=np.float64)
    # One call for all five rows: one temperature per row.
    rows = np.broadcast_to(x, (len(TEMPERATURES), len(VEC)))
    p = kelvin.softmax(rows, temperature=TEMPERATURES)
    for t, row in zip(TEMPERATURES, p):
        print(t, row.tolist())

    import matplotlib

    if not args.show and "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")  # headless: only the file is wanted
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TEMPERATURES), figsize=(3 * len(TEMPERATURES), 3.2), sharey=True)
    labels = [str(v) for v in VEC]
    for ax, t, row in zip(axes, TEMPERATURES, p):
        bars = ax.bar(labels, row, color="tab:blue")
        ax.set_title(f"T = {t:g}")
        ax.set_xlabel("x")
        ax.set_ylim(0, 1.12)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in row], fontsize=8, padding=2)
    axes[0].set_ylabel("softmax(x / T)")
    fig.suptitle(f"softmax with temperature of {VEC}  (kelvin {kelvin.__version__})")
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"wrote {args.output}", file=sys.stderr)
    if args.show:
        plt.show()
    return 0


if __name__ == "__main__":
    sys.exit(main())
