"""kelvin processes arrays far larger than its memory.

- A float32 .npy stream of 1 GiB (6 GiB with KELVIN_TEST_LONG=1) is piped
  through `kelvin softmax --input - --output -` from a generator: the output
  is checked value by value, and the peak RSS of kelvin must stay under
  100 MiB (the bound is 3 chunks of 8 MiB plus the program; sanitizer
  builds allow 400 MiB for their shadow memory).
- A non-last axis of a large file (a sparse 1 GiB file, 4 GiB with
  KELVIN_TEST_LONG=1; and a 128 MiB one for the element-wise functions) runs
  in the same bound through the block path.

Run by ctest as KELVIN_CLI=path/to/kelvin /usr/bin/python3 -m pytest ...
"""

import io
import os
import subprocess
import threading

import numpy as np

KELVIN = os.environ.get("KELVIN_CLI", "kelvin")
LONG = os.environ.get("KELVIN_TEST_LONG", "") not in ("", "0")
MiB = 1 << 20
GiB = 1 << 30
# Sanitizer builds set a larger limit (shadow memory): see tools/kelvin/CMakeLists.txt.
RSS_LIMIT = int(os.environ.get("KELVIN_TEST_RSS_LIMIT_MB", "100")) * MiB


def npy_header(shape, descr="<f4"):
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue()


TIME = "/usr/bin/time"


def run_measured(args, feed=None, consume=None, tmp=None):
    """Runs kelvin, feeding stdin from `feed` (an iterable of bytes) and
    handing stdout to `consume`; returns (exit code, peak RSS in bytes,
    stderr).

    The peak RSS comes from /usr/bin/time when there is one: Linux carries a
    process's peak RSS across exec, so a child forked from this Python
    process would report at least Python's own size through wait4."""
    rss_file = None
    command = [KELVIN, *args]
    if os.access(TIME, os.X_OK) and tmp is not None:
        rss_file = os.path.join(tmp, "rss.txt")
        command = [TIME, "-f", "%M", "-o", rss_file, *command]
    p = subprocess.Popen(command,
                         stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = []

    def write():
        try:
            for block in feed:
                p.stdin.write(block)
        except BrokenPipeError:
            pass
        finally:
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass

    threads = [threading.Thread(target=lambda: err.append(p.stderr.read()))]
    if feed is not None:
        threads.append(threading.Thread(target=write))
    for t in threads:
        t.start()
    while True:
        block = p.stdout.read(4 * MiB)
        if not block:
            break
        if consume is not None:
            consume(block)
    for t in threads:
        t.join()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss * 1024
    if rss_file is not None:
        with open(rss_file) as f:
            rss = int(f.read().split()[-1]) * 1024
        os.unlink(rss_file)
    return p.returncode, rss, b"".join(err).decode()


def test_stream_larger_than_memory(tmp_path):
    cols = 32768
    total = (6 if LONG else 1) * GiB
    rows = total // (cols * 4)
    header = npy_header((rows, cols))
    zeros = bytes(4 * MiB)

    def feed():
        yield header
        for _ in range(total // len(zeros)):
            yield zeros

    state = {"header": b"", "rest": b"", "count": 0}
    expected = np.float32(1.0 / cols)  # softmax of a row of zeros, exactly

    def consume(block):
        if len(state["header"]) < len(header):
            need = len(header) - len(state["header"])
            state["header"] += block[:need]
            block = block[need:]
        data = state["rest"] + block
        usable = len(data) // 4 * 4
        values = np.frombuffer(data[:usable], dtype="<f4")
        assert (values == expected).all()
        state["count"] += values.size
        state["rest"] = data[usable:]

    code, rss, err = run_measured(["softmax", "--input", "-", "--output", "-"], feed(), consume,
                                  str(tmp_path))
    assert code == 0, err
    assert state["header"] == header
    assert state["count"] == rows * cols
    print(f"peak RSS {rss / MiB:.1f} MiB for a {total / GiB:.0f} GiB stream")
    assert rss < RSS_LIMIT, f"peak RSS {rss / MiB:.1f} MiB for a {total / GiB:.0f} GiB stream"


def sparse_npy(path, shape):
    """A .npy of zeros that takes no disk space."""
    header = npy_header(shape)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + int(np.prod(shape)) * 4)


def test_non_last_axis_of_a_large_file(tmp_path):
    # Axis 0 of a C-order matrix: no row is contiguous, so the file is read
    # in blocks of columns.
    rows = 16384 if LONG else 4096
    src, dst = tmp_path / "big.npy", tmp_path / "lp.npy"
    try:
        sparse_npy(src, (rows, 65536))
        code, rss, err = run_measured(["log-partition", "--axis", "0", "--input", str(src),
                                       "--output", str(dst)], tmp=str(tmp_path))
        assert code == 0, err
        lp = np.load(dst)
        assert lp.shape == (65536,) and lp.dtype == np.float32
        assert (lp == np.float32(np.log(rows))).all()
        print(f"peak RSS {rss / MiB:.1f} MiB")
        assert rss < RSS_LIMIT, f"peak RSS {rss / MiB:.1f} MiB"
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)


def test_non_last_axis_elementwise_output(tmp_path):
    # 128 MiB in, 128 MiB out: loading both would take 256 MiB.
    rows, cols = 2048, 16384
    src, dst = tmp_path / "x.npy", tmp_path / "y.npy"
    try:
        sparse_npy(src, (rows, cols))
        code, rss, err = run_measured(["softmax", "--axis", "0", "--input", str(src),
                                       "--output", str(dst)], tmp=str(tmp_path))
        assert code == 0, err
        y = np.load(dst, mmap_mode="r")
        assert y.shape == (rows, cols)
        for block in range(0, rows, 256):
            assert (y[block:block + 256] == np.float32(1.0 / rows)).all()
        del y
        print(f"peak RSS {rss / MiB:.1f} MiB")
        assert rss < RSS_LIMIT, f"peak RSS {rss / MiB:.1f} MiB"
        # From a pipe to a pipe: the input and the result go through
        # temporary spool files instead.
        header = npy_header((rows, cols))
        zeros = bytes(4 * MiB)

        def feed():
            yield header
            for _ in range(rows * cols * 4 // len(zeros)):
                yield zeros

        seen = {"bytes": 0, "tail": b""}

        def consume(block):
            data = seen["tail"] + block
            if seen["bytes"] < len(header):
                skip = min(len(header) - seen["bytes"], len(data))
                seen["bytes"] += skip
                data = data[skip:]
            usable = len(data) // 4 * 4
            assert (np.frombuffer(data[:usable], dtype="<f4") == np.float32(1.0 / rows)).all()
            seen["bytes"] += usable
            seen["tail"] = data[usable:]

        code, rss, err = run_measured(["softmax", "--axis", "0", "--input", "-", "--output", "-"],
                                      feed(), consume, str(tmp_path))
        assert code == 0, err
        assert seen["bytes"] == len(header) + rows * cols * 4
        print(f"peak RSS {rss / MiB:.1f} MiB (pipes)")
        assert rss < RSS_LIMIT, f"peak RSS {rss / MiB:.1f} MiB"
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)
