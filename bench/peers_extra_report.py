#!/usr/bin/python3
"""Ratio tables from one run of scripts/bench-extra.sh (bench/peers_extra.cpp).

Usage: bench/peers_extra_report.py peers_extra.json [more.json ...] [info.txt] > ratios-extra.md
(the JSON files' entries are read together: the Google Benchmark run and peers_extra --half's)
Google Benchmark JSON with --benchmark_repetitions and aggregates; entries are named
FAMILY/IMPL/T=t/SHAPE/threads:N. For each family, T, shape and thread count: kelvin's median
time, the fastest peer's and which, their ratio (kelvin / peer, lower is better), every peer's
time, and the larger coefficient of variation of the two medians compared. Peers that failed
peers_extra's accuracy check (timed anyway, label "INACCURATE: ...") are marked with ‡ and listed
after the tables, as are entries that reported an error.

The bf16 and f16 families (16-bit row softmax) get a table of their own: kelvin's time over each
peer's (issue 13's target: <= 0.5) and over kelvin_f32's, kelvin's float32 softmax of the same
inputs in the same run (target: <= 1 / 1.6 = 0.625).
"""
import json
import sys
from collections import defaultdict

FAMILIES = {
    "f64": "float64 row softmax (last axis)",
    "axis": "float32 softmax over the middle axis (outer x axis x inner)",
    "axis_f64": "float64 softmax over the middle axis (outer x axis x inner)",
}
HALF_FAMILIES = {
    "bf16": "bfloat16 row softmax (last axis)",
    "f16": "float16 row softmax (last axis)",
}
HALF_PEERS = ["onednn", "torch", "torch_out"]


def us(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def to_us(b, key="real_time"):
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
    return b[key] * scale


jsons = [json.load(open(a)) for a in sys.argv[1:] if a.endswith(".json")]
info = "".join(open(a).read().strip() for a in sys.argv[1:] if not a.endswith(".json"))
data = {"context": next((d["context"] for d in jsons if d["context"].get("date") != "interleaved"),
                        jsons[0]["context"]),
        "benchmarks": [b for d in jsons for b in d["benchmarks"]]}
interleaved = any(d["context"].get("date") == "interleaved" for d in jsons)

median = defaultdict(dict)  # (family, T, shape, threads) -> impl -> µs
cv = defaultdict(dict)  # same -> impl -> cv of the real time
reps = set()
labels = defaultdict(set)  # (family, impl) -> implementation labels (oneDNN's picks)
flagged = {}  # entry -> the accuracy note
failed = {}  # entry -> error message
untimed = defaultdict(set)  # (family, T, shape, threads) -> impls not timed
order = []  # (family, T, shape, threads) in run order
for b in data["benchmarks"]:
    name = b["run_name"].removesuffix("/real_time")
    family, impl, temp, shape, threads = name.split("/")
    key = (family, temp, shape, int(threads.removeprefix("threads:")))
    if key not in order:
        order.append(key)
    if b.get("error_occurred"):
        failed[name] = b.get("error_message", "")
        untimed[key].add(impl)
        continue
    for part in filter(None, b.get("label", "").split("; ")):
        if part.startswith("INACCURATE"):
            flagged[name] = part
        else:
            labels[(family, impl)].add(part)
    agg = b.get("aggregate_name")
    if agg == "median":
        median[key][impl] = to_us(b)
        reps.add(b.get("repetitions", 1))
    elif agg == "cv":
        cv[key][impl] = b["real_time"]
    elif b["run_type"] == "iteration" and b.get("repetitions", 1) == 1:
        median[key][impl] = to_us(b)  # a run without repetitions

ctx = data["context"]
print("# kelvin vs libtorch and oneDNN: float64 rows, softmax over a middle axis, 16-bit rows\n")
print(f"One run of scripts/bench-extra.sh, {ctx.get('date', '?')}: kelvin {ctx.get('kelvin', '?')}, "
      f"libtorch {ctx.get('libtorch', '?')}, oneDNN {ctx.get('onednn', '?')}; "
      f"{ctx.get('num_cpus', '?')} CPUs, load average at start "
      f"{', '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))}.\n")
if info:
    print("```\n" + info + "\n```\n")
print(f"Median real time of {'/'.join(str(r) for r in sorted(reps)) or '?'} repetitions, µs. "
      "ratio = kelvin / fastest peer (lower is better; issue 3's float64 target is <= 0.5). "
      "Peers: `torch` = `torch::softmax(x / T, dim)` (new tensors), `torch_out` = "
      "`at::div_out(y, x, T)` + `at::_softmax_out(y, y, dim)` into a preallocated tensor, "
      "`onednn` = `eltwise_linear(1/T)` + `softmax_v2` (softmax_accurate, forward_inference, "
      "axis = 1 of an `abc` tensor); at T = 1 no peer divides. cv = the larger coefficient of "
      "variation (over the repetitions) of the two medians in the ratio.\n")

for family in [f for f in FAMILIES if any(k[0] == f for k in order)]:
    for temp in sorted({k[1] for k in order if k[0] == family}, key=lambda t: -float(t[2:])):
        keys = [k for k in order if k[0] == family and k[1] == temp]
        print(f"## {family}: {FAMILIES[family]}, {temp}\n")
        print("| shape | threads | kelvin µs | fastest peer | peer µs | ratio | cv % | all peers µs |")
        print("|---|---:|---:|---|---:|---:|---:|---|")
        for key in keys:
            d = median[key]
            k = d.get("kelvin")
            peers = {n: v for n, v in d.items() if n != "kelvin"}
            mark = {n: "‡" if "/".join((family, n, temp, key[2], f"threads:{key[3]}")) in flagged
                    else "" for n in peers}
            every = " · ".join([f"{n}{mark[n]} {us(v)}" for n, v in sorted(peers.items())] +
                               [f"{n} not timed" for n in sorted(untimed[key])])
            if k is None or not peers:
                ks = us(k) if k is not None else "not timed"
                print(f"| {key[2]} | {key[3]} | {ks} | - | - | - | - | {every} |")
                continue
            best = min(peers, key=peers.get)
            noise = max(cv[key].get("kelvin", 0), cv[key].get(best, 0)) * 100
            print(f"| {key[2]} | {key[3]} | {us(k)} | {best}{mark[best]} | {us(peers[best])} | "
                  f"{k / peers[best]:.2f} | {noise:.1f} | {every} |")
        print()

for family in [f for f in HALF_FAMILIES if any(k[0] == f for k in order)]:
    for temp in sorted({k[1] for k in order if k[0] == family}, key=lambda t: -float(t[2:])):
        keys = [k for k in order if k[0] == family and k[1] == temp]
        print(f"## {family}: {HALF_FAMILIES[family]}, {temp}\n")
        how = ("interleaved (peers_extra --half: every implementation in turn, round-robin, each "
               "sample >= 20 ms of calls), median of the samples" if interleaved
               else "median of the repetitions")
        print(f"{how}; ratio = kelvin / the other (lower is better); targets: / kelvin_f32 <= "
              "0.625 (1.6x faster), / peer <= 0.5. cv = the largest coefficient of variation of "
              "the samples in the row.\n")
        print("| shape | threads | kelvin µs | kelvin_f32 µs | / f32 | " +
              " | ".join(f"{p} µs | / {p}" for p in HALF_PEERS) + " | cv % |")
        print("|---|---:|---:|---:|---:|" + "---:|---:|" * len(HALF_PEERS) + "---:|")
        for key in keys:
            d = median[key]
            k = d.get("kelvin")
            cells = []
            for other in ["kelvin_f32"] + HALF_PEERS:
                name = "/".join((family, other, temp, key[2], f"threads:{key[3]}"))
                v = d.get(other)
                if v is None:
                    cells += ["not timed", "-"] if other != "kelvin_f32" else ["-", "-"]
                    continue
                mark = "‡" if name in flagged else ""
                cells += [f"{us(v)}{mark}", f"{k / v:.2f}" if k else "-"]
            noise = max(cv[key].values(), default=0) * 100
            ks = us(k) if k is not None else "not timed"
            print(f"| {key[2]} | {key[3]} | {ks} | " + " | ".join(cells) + f" | {noise:.1f} |")
        print()

if labels:
    print("Implementations oneDNN picked: " + "; ".join(
        f"{fam}/{impl}: {' | '.join(sorted(ls))}" for (fam, impl), ls in sorted(labels.items())) + ".\n")
if flagged:
    print("‡ Failed the accuracy check (max abs diff from kelvin < 1e-5 in float32, 1e-12 in "
          "float64, 2^-7 in bfloat16, 2^-10 in float16) with kelvin matching the exact (long double) value at the worst element; timed "
          "anyway, as its users get it:\n")
    for name, note in flagged.items():
        print(f"- `{name}`: {note}")
    print()
if failed:
    print("Not timed (the entry reported an error):\n")
    grouped = defaultdict(list)  # (family, impl, message) -> the rest of the names
    for name, msg in failed.items():
        family, impl, rest = name.split("/", 2)
        grouped[(family, impl, msg)].append(rest)
    for (family, impl, msg), rests in grouped.items():
        print(f"- `{family}/{impl}` ({len(rests)} entries: {', '.join(rests[:2])}"
              f"{', ...' if len(rests) > 2 else ''}): {msg}")
    print()
