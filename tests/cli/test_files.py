"""kelvin's CLI over files, checked against NumPy.

Every .npy layout kelvin reads (float32/float64, little/big endian, C/Fortran
order, format versions 1.0/2.0/3.0, any rank) and CSV/TSV, through files and
pipes, along several axes, for the four functions: the output must load in
NumPy with the input's dtype, byte order and memory order, and match a long
double reference within a few ulp.

Run by ctest (tools/kelvin/CMakeLists.txt) as
    KELVIN_CLI=path/to/kelvin /usr/bin/python3 -m pytest tests/cli/test_files.py
"""

import io
import os
import pty
import select
import signal
import subprocess
import time

import numpy as np
import pytest

KELVIN = os.environ.get("KELVIN_CLI", "kelvin")
# Seconds any one kelvin call may take (the longest takes ~1 s, ~5 s under a
# sanitizer): a hung call fails its test, naming the command, instead of
# stalling the suite until ctest's timeout.
CALL_TIMEOUT = float(os.environ.get("KELVIN_TEST_CALL_TIMEOUT", "120"))
FAMILIES = ["softmax", "log-softmax", "log-partition", "smooth-max"]
REDUCES = {"log-partition", "smooth-max"}


def run(args, stdin=None, check=True, env=None):
    r = subprocess.run([KELVIN, *args], input=stdin, capture_output=True, env=env,
                       timeout=CALL_TIMEOUT)
    if check:
        assert r.returncode == 0, r.stderr.decode()
        assert r.stderr == b""
    return r


def reference(fn, x, axis, t):
    """The exact-enough result in long double (rows have an entry > -inf)."""
    x = np.asarray(x, dtype=np.longdouble)
    m = np.max(x, axis=axis, keepdims=True)
    z = (x - m) / np.longdouble(t)
    lse = np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
    if fn == "softmax":
        return np.exp(z - lse)
    if fn == "log-softmax":
        return z - lse
    lp = np.squeeze(m / np.longdouble(t) + lse, axis=axis)
    return lp if fn == "log-partition" else np.longdouble(t) * lp


def assert_close(got, ref, dtype, fn, ulps=4):
    got = np.asarray(got).astype(np.longdouble)
    ref = np.asarray(ref, dtype=np.longdouble)
    assert got.shape == ref.shape
    finite = np.isfinite(ref)
    # -inf (masked entries of log-softmax) and NaN must match exactly.
    assert np.array_equal(got[~finite], ref[~finite], equal_nan=True)
    info = np.finfo(dtype)
    floor = info.tiny if fn == "softmax" else 1.0
    scale = np.maximum(np.abs(ref[finite]), floor)
    err = np.abs(got[finite] - ref[finite]) / scale
    assert err.size == 0 or err.max() <= ulps * info.eps, f"max error {err.max() / info.eps} ulp"


def logits(shape, seed=0, masked=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 3
    if masked and min(shape) >= 2 and x.size > 4:
        # A few masked entries, never a whole row along any axis.
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, size=max(1, flat.size // 20), replace=False)] = -np.inf
        x[(0,) * x.ndim] = 1.0
    return x


def np_bytes(a, version=None):
    f = io.BytesIO()
    if version is None:
        np.save(f, a)
    else:
        np.lib.format.write_array(f, a, version=version)
    return f.getvalue()


def header_of(path_or_bytes):
    f = open(path_or_bytes, "rb") if isinstance(path_or_bytes, str) else io.BytesIO(path_or_bytes)
    with f:
        version = np.lib.format.read_magic(f)
        reader = {(1, 0): np.lib.format.read_array_header_1_0}.get(
            version, np.lib.format.read_array_header_2_0)
        return reader(f)  # shape, fortran_order, dtype


# ---- .npy -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", ">f8"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("fn", FAMILIES)
def test_npy_matches_numpy(tmp_path, dtype, order, axis, fn):
    x = np.array(logits((3, 4, 5)), dtype=dtype, order=order)
    src, dst = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(src, x)
    run([fn, "-t", "0.5", "--axis", str(axis), "--input", str(src), "--output", str(dst)])
    shape, fortran, out_dtype = header_of(str(dst))
    assert out_dtype.str == x.dtype.str  # dtype and byte order kept
    assert fortran == (order == "F")
    y = np.load(dst)
    assert_close(y, reference(fn, x, axis, 0.5), x.dtype, fn)
    if fn not in REDUCES:
        assert y.flags.f_contiguous == (order == "F")
    # The same through pipes, and through the bounded-memory block path.
    piped = run([fn, "-t", "0.5", "--axis", str(axis), "--input", "-", "--output", "-",
                 "--chunk-size", "64"], stdin=src.read_bytes()).stdout
    assert piped == dst.read_bytes()
    blocked = tmp_path / "z.npy"
    run([fn, "-t", "0.5", "--axis", str(axis), "--input", str(src), "--output", str(blocked),
         "--chunk-size", "1"])
    assert blocked.read_bytes() == dst.read_bytes()


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_format_versions(tmp_path, version):
    x = logits((6, 7)).astype("<f4")
    src, dst = tmp_path / "x.npy", tmp_path / "y.npy"
    src.write_bytes(np_bytes(x, version))
    assert src.read_bytes()[6] == version[0]
    run(["softmax", "--input", str(src), "--output", str(dst)])
    assert_close(np.load(dst), reference("softmax", x, -1, 1.0), np.float32, "softmax")
    # kelvin writes what NumPy writes for this array.
    assert dst.read_bytes()[:128] == np_bytes(np.load(dst))[:128]


@pytest.mark.parametrize("shape,axis", [((7,), 0), ((1, 9), -1), ((2, 3, 4, 5), 2),
                                        ((2, 3, 4, 5), 0), ((4, 1, 3), 1), ((1,), 0)])
@pytest.mark.parametrize("fn", ["softmax", "log-partition"])
def test_npy_ranks_and_axes(tmp_path, shape, axis, fn):
    x = logits(shape, seed=len(shape) + axis)
    src, dst = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(src, x)
    run([fn, "--axis", str(axis), "--input", str(src), "--output", str(dst)])
    y = np.load(dst)
    reduced = tuple(d for i, d in enumerate(x.shape) if i != axis % x.ndim)
    assert y.shape == (reduced if fn in REDUCES else x.shape)
    assert_close(y, reference(fn, x, axis, 1.0), np.float64, fn)


def test_npy_compute_type_options_keep_the_dtype(tmp_path):
    x = logits((5, 8)).astype("<f4")
    src = tmp_path / "x.npy"
    np.save(src, x)
    y64 = tmp_path / "y64.npy"
    run(["softmax", "--f64", "--input", str(src), "--output", str(y64)])
    assert np.load(y64).dtype == np.float32
    assert_close(np.load(y64), reference("softmax", x, -1, 1.0), np.float32, "softmax", ulps=1)
    x8 = logits((5, 8)).astype(">f8")
    np.save(src, x8)
    y32 = tmp_path / "y32.npy"
    run(["log-softmax", "--f32", "--input", str(src), "--output", str(y32)])
    y = np.load(y32)
    assert y.dtype.str == ">f8"
    assert_close(y, reference("log-softmax", x8.astype(np.float32), -1, 1.0), np.float32,
                 "log-softmax")


def test_npy_limits_and_empty_arrays(tmp_path):
    src, dst = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(src, np.array([[1, 3, 3, -np.inf], [-np.inf] * 4], dtype="<f8"))
    run(["softmax", "-t", "0", "--input", str(src), "--output", str(dst)])
    y = np.load(dst)
    assert y[0].tolist() == [0, 0.5, 0.5, 0]
    assert np.isnan(y[1]).all()  # every entry masked: nan by default
    run(["softmax", "-t", "inf", "--empty-row", "zero", "--input", str(src), "--output", str(dst)])
    assert np.load(dst).tolist() == [[1 / 3, 1 / 3, 1 / 3, 0], [0, 0, 0, 0]]
    for shape, fn, expect in [((0, 4), "softmax", np.zeros((0, 4))),
                              ((3, 0), "softmax", np.zeros((3, 0))),
                              ((3, 0), "log-partition", np.full(3, -np.inf)),
                              ((0, 3), "log-partition", np.zeros(0))]:
        np.save(src, np.zeros(shape, dtype=">f4"))
        run([fn, "--input", str(src), "--output", str(dst)])
        y = np.load(dst)
        assert y.dtype.str == ">f4" and y.shape == expect.shape
        assert np.array_equal(y, expect)


# ---- CSV / TSV ------------------------------------------------------------------

def digits(token):
    """Significant digits of a decimal token."""
    mantissa = token.lower().split("e")[0].lstrip("+-").replace(".", "")
    return len(mantissa.strip("0")) or 1


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("fn", FAMILIES)
def test_csv_matches_numpy(tmp_path, axis, fn):
    x = logits((7, 5), seed=axis + 3)
    src, dst = tmp_path / "x.csv", tmp_path / "y.csv"
    np.savetxt(src, x, fmt="%.17g", delimiter=",")
    run([fn, "-t", "2", "--axis", str(axis), "--input", str(src), "--output", str(dst)])
    y = np.loadtxt(dst, delimiter=",", ndmin=2)
    ref = reference(fn, x, axis, 2.0)
    if fn in REDUCES:
        # One value a row (axis 1), or one row of a value a column (axis 0).
        ref = ref.reshape(-1, 1) if axis % 2 == 1 else ref.reshape(1, -1)
    assert_close(y, ref, np.float64, fn)
    # Shortest round-trip digits: each field reads back to its value, and
    # has no more digits than Python's repr (itself the shortest).
    for token in dst.read_text().replace("\n", ",").split(","):
        if token and token not in ("inf", "-inf", "nan"):
            assert digits(token) == digits(repr(float(token))), token
    # Through the spool path (axis 0 with small chunks) and stdin/stdout.
    piped = run([fn, "-t", "2", "--axis", str(axis), "--input", "-", "--format", "csv",
                 "--chunk-size", "16"], stdin=src.read_bytes()).stdout
    assert piped == dst.read_bytes()


def test_csv_float32_prints_float_digits(tmp_path):
    x = logits((4, 6))
    src, dst = tmp_path / "x.csv", tmp_path / "y.csv"
    np.savetxt(src, x, fmt="%.9g", delimiter=",")
    run(["softmax", "--f32", "--input", str(src), "--output", str(dst)])
    tokens = [t for t in dst.read_text().replace("\n", ",").split(",") if t]
    xf = np.loadtxt(src, delimiter=",", dtype=np.float32)
    assert_close(np.array(tokens, dtype=np.float32).reshape(4, 6),
                 reference("softmax", xf, -1, 1.0), np.float32, "softmax")
    for t in tokens:
        v = np.float32(t)
        assert digits(t) == digits(np.format_float_scientific(v, unique=True)), t


def test_csv_header_tsv_quotes_and_specials(tmp_path):
    src, dst = tmp_path / "x.csv", tmp_path / "y.csv"
    src.write_bytes(b'\xef\xbb\xbf"a","b",c\r\n1, 2 ,"3"\r\n\r\nnan,1,2\r\nINF,1,Inf\r\n-Inf,0,1\r\n')
    run(["softmax", "--header", "--input", str(src), "--output", str(dst)])
    lines = dst.read_text().splitlines()
    assert lines[0] == '"a","b",c'
    rows = [[float(v) for v in line.split(",")] for line in lines[1:]]
    assert_close(rows[0], reference("softmax", [1, 2, 3], -1, 1.0), np.float64, "softmax")
    assert all(np.isnan(rows[1]))  # a NaN makes the row NaN
    assert rows[2] == [0.5, 0.0, 0.5]  # +inf entries share the mass
    assert rows[3] == [0.0] + list(reference("softmax", [0, 1], -1, 1.0).astype(float))
    run(["log-partition", "--header", "--input", str(src), "--output", str(dst)])
    assert dst.read_text().splitlines()[0] == "log_partition"
    # TSV in and out, by extension.
    tsv_in, tsv_out = tmp_path / "x.tsv", tmp_path / "y.tsv"
    tsv_in.write_text("1\t2\n3\t5\n")
    run(["log-softmax", "--input", str(tsv_in), "--output", str(tsv_out)])
    y = np.loadtxt(tsv_out, delimiter="\t")
    assert_close(y, reference("log-softmax", [[1, 2], [3, 5]], -1, 1.0), np.float64, "log-softmax")


def test_conversions_between_formats(tmp_path):
    x = logits((6, 4), seed=9)
    csv, npy = tmp_path / "x.csv", tmp_path / "x.npy"
    np.savetxt(csv, x, fmt="%.17g", delimiter=",")
    np.save(npy, x.astype("<f4"))
    # CSV to .npy: float64 (or float32 with --f32), C order; to a file and to a pipe.
    for args, dtype in [([], "<f8"), (["--f32"], "<f4")]:
        out = tmp_path / "y.npy"
        run(["softmax", *args, "--input", str(csv), "--output", str(out)])
        piped = run(["softmax", *args, "--input", str(csv), "--output", "-",
                     "--output-format", "npy"]).stdout
        assert piped == out.read_bytes()
        y = np.load(out)
        assert y.dtype.str == dtype and y.shape == (6, 4)
        assert_close(y, reference("softmax", x.astype(dtype), -1, 1.0), np.dtype(dtype), "softmax")
    out = tmp_path / "lp.npy"
    run(["log-partition", "--input", str(csv), "--output", str(out)])
    assert np.load(out).shape == (6,)
    # .npy to CSV.
    y = run(["softmax", "--input", str(npy), "--output-format", "csv"]).stdout
    assert_close(np.loadtxt(io.BytesIO(y), delimiter=","),
                 reference("softmax", x.astype("<f4"), -1, 1.0), np.float32, "softmax")
    # Values on the command line to a file.
    out = tmp_path / "v.npy"
    run(["softmax", "-t", "0.1", "--output", str(out), "--", "1", "5", "7", "10"])
    assert_close(np.load(out), reference("softmax", [1, 5, 7, 10], -1, 0.1), np.float64, "softmax")


# ---- plot, progress, signals --------------------------------------------------

def test_plot_draws_one_chart_per_temperature(tmp_path):
    out = run(["plot", "-t", "0.1,1,10", "--", "1", "5", "7", "10"]).stdout.decode()
    assert [line for line in out.splitlines() if line.startswith("T = ")] == \
        ["T = 0.1", "T = 1", "T = 10"]
    assert "x = 10 │" in out and "0.3631" in out
    row = tmp_path / "row.csv"
    row.write_text("1,5,7,10\n")
    assert run(["plot", "-t", "0.1,1,10", "--input", str(row)]).stdout.decode() == out
    npy = tmp_path / "row.npy"
    np.save(npy, np.array([[1, 5, 7, 10]], dtype=">f4"))
    assert run(["plot", "-t", "0.1,1,10", "--input", str(npy)]).stdout.decode() == out


def run_with_terminal_stderr(args, env_extra):
    """Runs kelvin with a pseudo-terminal as stderr; returns what it drew."""
    leader, follower = pty.openpty()
    env = dict(os.environ, **env_extra)
    p = subprocess.Popen([KELVIN, *args], stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    drawn = b""
    deadline = time.monotonic() + CALL_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([leader], [], [], left)[0]:
            p.kill()
            pytest.fail(f"kelvin {' '.join(args)} still running after {CALL_TIMEOUT} s")
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert wait_or_kill(p) == 0
    return drawn.decode()


def wait_or_kill(p):
    """p's exit status; fails the test (and kills p) after CALL_TIMEOUT."""
    try:
        return p.wait(timeout=CALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail(f"{' '.join(map(str, p.args))} still running after {CALL_TIMEOUT} s")


def test_progress_bar_only_on_a_terminal(tmp_path):
    src = tmp_path / "x.npy"
    np.save(src, np.zeros((64, 1024), dtype="<f4"))
    args = ["softmax", "--input", str(src), "--output", str(tmp_path / "y.npy"),
            "--chunk-size", "4k"]
    drawn = run_with_terminal_stderr(args, {"KELVIN_PROGRESS_DELAY": "0"})
    assert "B/s" in drawn and "rows/s" in drawn and "ETA" in drawn and "%" in drawn
    assert drawn.endswith("\r\x1b[K")  # erased at the end
    assert run_with_terminal_stderr(args + ["--quiet"], {"KELVIN_PROGRESS_DELAY": "0"}) == ""
    # Jobs under a second draw nothing; neither does a non-terminal stderr.
    assert run_with_terminal_stderr(args, {}) == ""
    assert run(args, env=dict(os.environ, KELVIN_PROGRESS_DELAY="0")).stderr == b""


def writing_into(pid, folder):
    """True once the process has a file open in `folder` (named or not)."""
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)).startswith(str(folder) + "/"):
                return True
        except OSError:
            pass
    return False


# Under ThreadSanitizer the CLI sometimes never ends on this SIGTERM (CI, twice
# in three runs on 2026-12-05, named=True; never in release or ASan builds, nor
# in 6 TSan runs by hand). Our reading, not verified: TSan defers asynchronous
# signals to its own safe points, and the handler's re-raise with SIG_DFL
# (output_file.cpp) can stay pending while the main thread blocks in read()
# on the unfinished stdin. The
# release and ASan runs cover the behaviour; the TSan run is for data races.
@pytest.mark.skipif(os.environ.get("KELVIN_TEST_TSAN") == "1",
                    reason="ThreadSanitizer's deferred signal delivery (see above)")
@pytest.mark.parametrize("named", [False, True])
def test_sigterm_removes_the_temporary_file(tmp_path, named):
    out = tmp_path / "y.npy"
    env = dict(os.environ, KELVIN_CLI_NAMED_TEMP="1" if named else "0")
    p = subprocess.Popen([KELVIN, "softmax", "--input", "-", "--output", str(out)],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    data = np_bytes(np.zeros((4, 4), dtype="<f4"))
    p.stdin.write(data[:-32])  # a partial stream: kelvin waits for the rest
    p.stdin.flush()
    deadline = time.time() + 10
    while not writing_into(p.pid, tmp_path):
        assert time.time() < deadline, "no output file was opened"
        time.sleep(0.01)
    # The named fallback shows its temporary; the default file has no name.
    assert any(".kelvin-" in f for f in os.listdir(tmp_path)) == named
    p.send_signal(signal.SIGTERM)
    assert wait_or_kill(p) == -signal.SIGTERM
    p.stdin.close()
    assert os.listdir(tmp_path) == []
