"""`kelvin calibrate` against NumPy/SciPy: the printed temperature against a
direct minimisation of the NLL, the table's NLL and ECE against NumPy, the
--apply-to output against softmax(test / T) in long double, label dtypes and
layouts, and the errors (one line, exit code 2, no output file).

Run by ctest (tools/kelvin/CMakeLists.txt) as
    KELVIN_CLI=path/to/kelvin /usr/bin/python3 -m pytest tests/cli/test_calibrate.py
"""

import math
import os
import re
import subprocess

import numpy as np
import pytest

KELVIN = os.environ.get("KELVIN_CLI", "kelvin")


def run(args, check=True):
    r = subprocess.run([KELVIN, *args], capture_output=True)
    if check:
        assert r.returncode == 0, r.stderr.decode()
    return r


def data(rows=3000, cols=10, scale=3.0, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, cols, rows)
    x = rng.normal(size=(rows, cols))
    x[np.arange(rows), truth] += 2
    y = np.where(rng.random(rows) < 0.8, truth, rng.integers(0, cols, rows))
    return (scale * x).astype(dtype), y


def nll(x, y, t):
    z = np.asarray(x, np.float64) / t
    m = z.max(1, keepdims=True)
    lse = np.log(np.exp(z - m).sum(1)) + m[:, 0]
    return np.mean(lse - z[np.arange(len(y)), y])


def ref_temperature(x, y):
    optimize = pytest.importorskip("scipy.optimize")
    r = optimize.minimize_scalar(lambda u: nll(x, y, math.exp(u)), bounds=(-7, 7),
                                 method="bounded", options={"xatol": 1e-11})
    return math.exp(r.x)


def ece(p, y, bins=15):
    conf = p.max(1).astype(np.float64)
    hit = (p.argmax(1) == y).astype(np.float64)
    idx = np.clip(np.searchsorted(np.arange(bins + 1) / bins, conf, side="left") - 1, 0, bins - 1)
    n = np.bincount(idx, minlength=bins)
    ok = n > 0
    c = np.bincount(idx, conf, bins)[ok] / n[ok]
    a = np.bincount(idx, hit, bins)[ok] / n[ok]
    return np.sum(n[ok] / len(y) * np.abs(a - c))


def softmax_ld(x, t):
    z = np.asarray(x, np.longdouble) / np.longdouble(t)
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def printed_temperature(out):
    return float(re.search(r"^temperature (\S+):", out, re.M).group(1))


def table_row(out, name):
    m = re.search(r"^  " + re.escape(name) + r"\s+(\S+)\s+(\S+)$", out, re.M)
    return float(m.group(1)), float(m.group(2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_table_and_apply(tmp_path, dtype):
    x, y = data(dtype=dtype)
    np.save(tmp_path / "val.npy", x[:2000])
    np.save(tmp_path / "y.npy", y[:2000])
    np.save(tmp_path / "test.npy", x[2000:])
    r = run(["calibrate", "--logits", str(tmp_path / "val.npy"), "--labels",
             str(tmp_path / "y.npy"), "--apply-to", str(tmp_path / "test.npy"), "--output",
             str(tmp_path / "p.npy")])
    out = r.stdout.decode()
    t = printed_temperature(out)
    assert t == pytest.approx(ref_temperature(x[:2000], y[:2000]), rel=1e-6)
    before, after = table_row(out, "NLL")
    assert before == pytest.approx(nll(x[:2000], y[:2000], 1.0), abs=1e-6)
    assert after == pytest.approx(nll(x[:2000], y[:2000], t), abs=1e-6)
    e0, e1 = table_row(out, "ECE (15 bins) (%)")
    p1 = softmax_ld(x[:2000], t).astype(np.float64)
    assert e1 == pytest.approx(100 * ece(p1, y[:2000]), abs=2e-3)
    assert e1 < e0
    assert out.count("\u2503") >= 2  # the diagram's confidence marks
    p = np.load(tmp_path / "p.npy")
    assert p.dtype == dtype and p.shape == x[2000:].shape
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(p, softmax_ld(x[2000:], t).astype(np.float64),
                               rtol=8 * eps, atol=1e-300)


def test_label_dtypes_layouts_and_csv_output(tmp_path):
    x, y = data(rows=500, seed=1, dtype=np.float64)
    np.save(tmp_path / "val.npy", np.asfortranarray(x))
    outs = []
    for i, labels in enumerate([y.astype(np.int32), y.astype(">i8"), y.astype(np.uint32),
                                y.astype(np.float64)]):
        np.save(tmp_path / f"y{i}.npy", labels)
        r = run(["calibrate", "--logits", str(tmp_path / "val.npy"), "--labels",
                 str(tmp_path / f"y{i}.npy")])
        outs.append(printed_temperature(r.stdout.decode()))
    assert len(set(outs)) == 1
    assert outs[0] == pytest.approx(ref_temperature(x, y), rel=1e-6)
    np.save(tmp_path / "test.npy", x)  # C order: CSV output is streamed by rows
    run(["calibrate", "--logits", str(tmp_path / "val.npy"), "--labels", str(tmp_path / "y0.npy"),
         "--apply-to", str(tmp_path / "test.npy"), "--output", str(tmp_path / "p.csv")])
    p = np.loadtxt(tmp_path / "p.csv", delimiter=",")
    np.testing.assert_allclose(p, softmax_ld(x, outs[0]).astype(np.float64), rtol=1e-12)


def test_degenerate_inputs_are_reported(tmp_path):
    x, _ = data(rows=100, seed=2)
    np.save(tmp_path / "val.npy", x)
    np.save(tmp_path / "y.npy", x.argmax(1))
    out = run(["calibrate", "--logits", str(tmp_path / "val.npy"), "--labels",
               str(tmp_path / "y.npy")]).stdout.decode()
    assert printed_temperature(out) == 0.0
    assert "hardmax" in out


@pytest.mark.parametrize("case,message", [
    ("label_range", r"labels\[3\] must be in \[0, 10\) \(got 12\)"),
    ("label_count", r"labels must have shape \(100,\)"),
    ("nan", r"logits\[5, 2\] must be finite"),
    ("float_label", r"labels\[0\] is not an integer"),
    ("no_output", r"--apply-to needs --output"),
    ("bins", r"--bins must be"),
    ("one_d", r"logits must be 2-D"),
])
def test_errors(tmp_path, case, message):
    x, y = data(rows=100, seed=3)
    args = ["calibrate", "--logits", str(tmp_path / "val.npy"), "--labels",
            str(tmp_path / "y.npy")]
    if case == "label_range":
        y[3] = 12
    if case == "label_count":
        y = y[:-1]
    if case == "nan":
        x[5, 2] = np.nan
    if case == "float_label":
        y = y + 0.5
    if case == "no_output":
        args += ["--apply-to", str(tmp_path / "val.npy")]
    if case == "bins":
        args += ["--bins", "0"]
    if case == "one_d":
        x = x[0]
    np.save(tmp_path / "val.npy", x)
    np.save(tmp_path / "y.npy", y)
    args += ["--output", str(tmp_path / "p.npy")] if case == "label_range" else []
    if case == "label_range":
        args += ["--apply-to", str(tmp_path / "val.npy")]
    r = run(args, check=False)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith("kelvin: error: ")
    assert re.search(message, err), err
    assert r.stdout == b""
    assert not (tmp_path / "p.npy").exists()
