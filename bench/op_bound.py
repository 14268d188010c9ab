#!/usr/bin/python3
"""The float32 softmax kernels' operation bound per shape, and the fraction of it reached.

For each shape and temperature: a small C driver (built here, linked to the given libkelvin) times
kelvin_softmax_f32 on 1 thread (median of repetitions, N(0, 4) logits) and runs it under `perf record`;
the hottest innermost vector loop (the span of a backward branch with no other backward branch inside,
holding ymm / zmm instructions and no call) of each kernel function with >= 3% of the samples is taken
from `objdump -d` of the library, and its instructions are counted:

  - vector uops for the two 512-bit vector ports (p0, p5 on Intel since Ice Lake: port 1's vector ALU is off
    while 512-bit uops are in flight): 1 per vector arithmetic, logic, compare, shuffle or mask instruction, 2
    for the float <-> double conversions (vcvtps2pd, vcvtpd2ps: 1 p0 + 1 p5 each); loads, stores, prefetches
    and scalar (loop control) instructions are not counted (they have ports of their own);
  - register-to-register vector moves separately (move elimination may or may not remove them);
  - entries per iteration from the row data the loop reads (each distinct memory source operand of a ymm /
    zmm instruction, not a rip-relative constant: its width in bytes / 4).

The bound of a loop is (vector uops per entry) / 2 cycles per entry; the shape's bound is the sum over its
passes (scan, exponential and sum, scale), weighted by the entries each pass covers (all of them), converted
to ns with the clock read by a dependent add chain (the peers harness's clock_probe) around each timing.
The bound uses the highest probe reading (the clock the kernel could have had).
Fraction reached = bound / measured. What the bound leaves out: per-row and per-call costs (the batched
kernel's setup, lane reductions, tails), memory and cache misses, loop-control uops competing for p0/p5,
latency chains. Usage:

  bench/op_bound.py [--lib build/release/libkelvin.so] [--shapes 1x1000,...] [--t 1,0.07]
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

DRIVER = r"""
#include <kelvin/kelvin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
static double probe(void) {  /* GHz from a dependent 1-cycle add chain */
  uint64_t v = 1; long n = 3000000; double t0 = now();
  for (long i = 0; i < n; ++i) __asm__ volatile("add $1, %0" : "+r"(v));
  return n / (now() - t0) / 1e9;
}
static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}
int main(int argc, char** argv) {
  size_t rows = strtoul(argv[1], 0, 10), cols = strtoul(argv[2], 0, 10);
  double T = atof(argv[3]); int reps = atoi(argv[4]); double min_s = atof(argv[5]);
  float* x = malloc(rows * cols * 4); float* y = malloc(rows * cols * 4);
  srand(42);
  for (size_t i = 0; i < rows * cols; ++i) {  /* N(0, 4) by Box-Muller */
    double u = (rand() + 1.0) / (RAND_MAX + 2.0), w = (rand() + 1.0) / (RAND_MAX + 2.0);
    x[i] = (float)(4 * sqrt(-2 * log(u)) * cos(6.283185307179586 * w));
  }
  kelvin_set_num_threads(1);
  long calls = 1;
  for (;;) {
    double t0 = now();
    for (long c = 0; c < calls; ++c) kelvin_softmax_f32(x, y, rows, cols, cols, cols, T);
    if (now() - t0 >= min_s) break;
    calls *= 2;
  }
  double* t = malloc(reps * sizeof(double)); double* g = malloc(2 * reps * sizeof(double));
  for (int r = 0; r < reps; ++r) {
    g[2 * r] = probe();
    double t0 = now();
    for (long c = 0; c < calls; ++c) kelvin_softmax_f32(x, y, rows, cols, cols, cols, T);
    t[r] = (now() - t0) / calls;
    g[2 * r + 1] = probe();
  }
  qsort(t, reps, sizeof(double), cmp); qsort(g, 2 * reps, sizeof(double), cmp);
  printf("%.6e %.6e %.4f %.4f\n", t[reps / 2], t[0], g[reps], g[2 * reps - 1]);
  return 0;
}
"""

TWO_UOPS = ("vcvtps2pd", "vcvtpd2ps", "vcvtph2ps", "vcvtps2ph")
MOVES = re.compile(r"^v(movap[sd]|movup[sd]|movdq[au](8|16|32|64)?)$")
NOT_P05 = re.compile(r"^(prefetch|vbroadcast|vpbroadcast)")


def functions(lib):
    out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", lib], check=True,
                         capture_output=True, text=True).stdout
    funcs = {}
    for block in out.split("\n\n"):
        head, _, body = block.partition("\n")
        m = re.match(r"^([0-9a-f]+) <(.*)>:$", head)
        if not m:
            continue
        ins = []
        for line in body.splitlines():
            mm = re.match(r"\s*([0-9a-f]+):\s+(\S+)\s*(.*)", line)
            if mm:
                ins.append((int(mm.group(1), 16), mm.group(2), mm.group(3)))
        if ins:
            funcs[m.group(2)] = ins
    return funcs


def loops(ins):
    """Innermost loops: (start, end) spans of backward branches with no other inside."""
    lo = ins[0][0]
    spans = []
    for a, op, arg in ins:
        m = re.match(r"([0-9a-f]+) <", arg)
        if op.startswith("j") and m and lo <= int(m.group(1), 16) <= a:
            spans.append((int(m.group(1), 16), a))
    return [s for s in spans if not any(o != s and s[0] <= o[0] and o[1] <= s[1] for o in spans)]


def count(body):
    """Vector uops for p0/p5 and register-to-register vector moves in a loop body."""
    uops = moves = 0
    for _, op, arg in body:
        if not re.search(r"%[xyz]mm|%k[0-7]", arg) or NOT_P05.match(op):
            continue
        operands = re.findall(r"[^,(]*\([^)]*\)|[^,]+", arg)
        mem = [o for o in operands if "(" in o]
        if MOVES.match(op):
            moves += 0 if mem else 1  # loads and stores: not p0/p5
            continue
        if mem and operands[-1] == mem[0]:  # a store (vextract..., masked stores)
            continue
        uops += 2 if op in TWO_UOPS else 1
    return uops, moves


def entries(body):
    """float entries the loop reads per iteration: each distinct row address read by a vector
    instruction (not a rip-relative constant), its width in bytes / 4."""
    widths = load_widths(body)
    seen, n = set(), 0
    for _, op, arg in body:
        if not re.search(r"%[yz]mm", arg) or NOT_P05.match(op):
            continue
        operands = re.findall(r"[^,(]*\([^)]*\)|[^,]+", arg)
        mem = [o for o in operands if "(" in o and "%rip" not in o]
        if not mem or mem[0] in seen or operands[-1] == mem[0]:
            continue
        seen.add(mem[0])
        width = widths.get(mem[0], 64 if "%zmm" in arg else 32 if "%ymm" in arg else 16)
        if op in ("vcvtps2pd", "vcvtph2ps"):
            width //= 2  # the memory operand is half the double destination
        n += width // 4
    return n


def load_widths(body):
    """Widths of plain vector loads in the loop, keyed by address operand."""
    w = {}
    for _, op, arg in body:
        if MOVES.match(op):
            operands = re.findall(r"[^,(]*\([^)]*\)|[^,]+", arg)
            if "(" in operands[0] and "%rip" not in operands[0] and operands[-1].startswith("%"):
                w[operands[0]] = 64 if "zmm" in operands[-1] else 32 if "ymm" in operands[-1] else 16
    return w


def fmt(ns):
    return f"{ns:.0f} ns" if ns < 1e4 else f"{ns / 1e3:.1f} us"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build/release/libkelvin.so")
    ap.add_argument("--include", default="include")
    ap.add_argument("--shapes", default="1x1000,1x32000,4096x1000,16384x128")
    ap.add_argument("--t", default="1,0.07")
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--min_ms", type=float, default=20)
    ap.add_argument("--show", action="store_true", help="print each counted loop")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="op_bound.")
    # A copy under the library's soname, so that the driver loads this build whatever its file name.
    soname = re.search(r"SONAME\s+(\S+)", subprocess.run(["objdump", "-p", a.lib], check=True,
                                                          capture_output=True, text=True).stdout)
    lib = os.path.join(tmp, soname.group(1) if soname else "libkelvin.so")
    shutil.copyfile(a.lib, lib)
    src, exe = os.path.join(tmp, "drv.c"), os.path.join(tmp, "drv")
    open(src, "w").write(DRIVER)
    subprocess.run(["gcc", "-O2", src, "-I", a.include, lib, "-Wl,-rpath," + os.path.dirname(lib),
                    "-lm", "-o", exe], check=True)
    funcs = functions(lib)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# {cpu}; library {os.path.realpath(a.lib)}; 1 thread, kelvin_softmax_f32, N(0, 4) logits")
    print("| shape | T | hot loops: vector uops (+ moves) per entry | bound, cycles/entry | clock GHz |"
          " bound | measured: median (best) | fraction reached: median (best) |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for shape in a.shapes.split(","):
        rows, cols = (int(v) for v in shape.split("x"))
        for t in a.t.split(","):
            args = [exe, str(rows), str(cols), t]
            perf = os.path.join(tmp, "perf.data")
            subprocess.run(["perf", "record", "-q", "-o", perf, "--"] + args + ["15", str(a.min_ms / 1e3)],
                           check=True, capture_output=True)
            samples = subprocess.run(["perf", "script", "-i", perf, "-F", "ip,sym,symoff,dso"],
                                     check=True, capture_output=True, text=True).stdout
            hits = collections.Counter()
            total = 0
            for line in samples.splitlines():
                total += 1
                m = re.match(r"\s*[0-9a-f]+ (.*)\+0x([0-9a-f]+) \((.*)\)$", line)
                if m and os.path.realpath(m.group(3)) == lib:
                    hits[(m.group(1), int(m.group(2), 16))] += 1
            by_func = collections.Counter()
            for (f, _), c in hits.items():
                by_func[f] += c
            parts, cycles = [], 0.0
            for f, c in by_func.most_common():
                if c < 0.03 * total or "N_AVX3" not in f:
                    continue
                name = next((n for n in funcs if (" " + f + "(") in (" " + n)), None)
                if name is None:
                    continue
                ins = funcs[name]
                base = ins[0][0]
                spans = loops(ins)
                if not spans:
                    continue
                # Vector loops only (zmm / ymm, no call): a loop over rows that calls a pass is not one.
                spans = [(s, e) for s, e in spans
                         if not any(x[1].startswith("call") for x in ins if s <= x[0] <= e) and
                         any(re.search(r"%[yz]mm", x[2]) for x in ins if s <= x[0] <= e)]
                if not spans:
                    continue
                heat = [(sum(h for (ff, off), h in hits.items() if ff == f and s <= base + off <= e), s, e)
                        for s, e in spans]
                h, s, e = max(heat)
                body = [x for x in ins if s <= x[0] <= e]
                uops, moves = count(body)
                n_entries = entries(body)
                if n_entries == 0:
                    continue
                short = re.sub(r"\(.*", "", re.sub(r"^.*N_AVX3::", "", name))
                parts.append(f"{short} {uops / n_entries:.3g} (+{moves / n_entries:.2g})")
                cycles += uops / n_entries / 2
                if a.show:
                    print(f"## {short}: {hex(s)}-{hex(e)}, {h}/{c} samples, {uops} uops, "
                          f"{moves} moves, {n_entries} entries", file=sys.stderr)
                    for x in body:
                        print(f"   {x[1]} {x[2]}", file=sys.stderr)
            out = subprocess.run(args + [str(a.reps), str(a.min_ms / 1e3)], check=True,
                                 capture_output=True, text=True).stdout.split()
            med, best, ghz_med, ghz_max = (float(v) for v in out)
            n = rows * cols
            bound_ns = cycles * n / ghz_max
            print(f"| {shape} | {t} | {'; '.join(parts)} | {cycles:.3f} | {ghz_med:.2f} (max {ghz_max:.2f}) |"
                  f" {fmt(bound_ns)} | {fmt(med * 1e9)} ({fmt(best * 1e9)}) |"
                  f" {bound_ns / (med * 1e9):.2f} ({bound_ns / (best * 1e9):.2f}) |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
