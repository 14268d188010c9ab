#!/usr/bin/python3
"""Temperature scaling on real data: scikit-learn's digits, a weakly
regularised logistic regression (over-confident, as modern networks are),
T fitted on held-out logits, the calibration before and after on a test
split, and the two reliability diagrams side by side in one PNG.

    PYTHONPATH=build/release/python /usr/bin/python3 python/examples/calibration.py -o calibration.png
"""

import argparse
import os

import numpy as np

import kelvin
import kelvin.calibration as kc


def split_digits(seed=0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.5, random_state=seed,
                                                        stratify=y)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5,
                                                    random_state=seed, stratify=y_rest)
    return x_train, y_train, x_val, y_val, x_test, y_test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", "-o", default="calibration.png", help="PNG to write")
    parser.add_argument("--bins", type=int, default=15)
    args = parser.parse_args(argv)

    from sklearn.linear_model import LogisticRegression

    x_train, y_train, x_val, y_val, x_test, y_test = split_digits()
    # C = 1000: almost no regularisation, so the training set is fitted
    # nearly perfectly and held-out confidence runs ahead of accuracy.
    clf = LogisticRegression(C=1000.0, max_iter=10000).fit(x_train, y_train)
    val_logits = clf.decision_function(x_val)
    test_logits = clf.decision_function(x_test)

    r = kc.fit_temperature(val_logits, y_val)
    print(f"digits: {len(y_train)} train, {len(y_val)} validation, {len(y_test)} test rows, "
          f"10 classes")
    print(f"fitted T = {r.temperature:.6f} ({r.outcome}, {r.iterations} steps, {r.passes} passes "
          f"over the validation logits; validation NLL {r.nll_before:.4f} -> {r.nll_after:.4f})")

    before = kelvin.softmax(test_logits)
    after = kelvin.softmax(test_logits, temperature=r.temperature)
    rows = [
        ("NLL", kc.nll(test_logits, y_test), kc.nll(test_logits, y_test, r.temperature), 1),
        (f"ECE ({args.bins} bins, %)", kc.expected_calibration_error(before, y_test, args.bins),
         kc.expected_calibration_error(after, y_test, args.bins), 100),
        ("adaptive ECE (%)",
         kc.expected_calibration_error(before, y_test, args.bins, strategy="quantile"),
         kc.expected_calibration_error(after, y_test, args.bins, strategy="quantile"), 100),
        ("MCE (%)", kc.maximum_calibration_error(before, y_test, args.bins),
         kc.maximum_calibration_error(after, y_test, args.bins), 100),
        ("Brier score", kc.brier_score(before, y_test), kc.brier_score(after, y_test), 1),
        ("accuracy (%)", kc.accuracy(before, y_test), kc.accuracy(after, y_test), 100),
    ]
    print(f"\ntest split            T = 1   T = {r.temperature:.4f}")
    for name, b, a, scale in rows:
        print(f"{name:<20} {scale * b:8.4f} {scale * a:10.4f}")

    import matplotlib

    if "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    kc.reliability_diagram(before, y_test, bins=args.bins, ax=axes[0])
    axes[0].set_title("T = 1: " + axes[0].get_title())
    kc.reliability_diagram(after, y_test, bins=args.bins, ax=axes[1])
    axes[1].set_title(f"T = {r.temperature:.3f}: " + axes[1].get_title())
    fig.suptitle("digits, logistic regression: test split before and after temperature scaling")
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
