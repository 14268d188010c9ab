#!/usr/bin/python3
"""Ratio tables from one run of scripts/bench-peers.sh.

Usage: bench/peers_report.py softmax.csv [info.txt] > ratios.md
For each temperature, thread count and shape: kelvin's median time, the
fastest peer's, their ratio (target: <= 0.5; 0.67 at 65536x10), and kelvin's
share of memcpy bandwidth (memcpy time / kelvin time).
"""
import csv
import sys
from collections import defaultdict

SHAPES = ["1x1000", "1x32000", "1x262144", "1x4194304", "4096x1000", "512x32000",
          "64x262144", "65536x10", "16384x128"]
PEERS = ("onednn", "xnnpack", "torch")

rows = list(csv.DictReader(open(sys.argv[1])))
info = open(sys.argv[2]).read().strip() if len(sys.argv) > 2 else ""
t = defaultdict(dict)  # (tag, threads, shape) -> impl -> median ns
for r in rows:
    if r["valid"] != "1":
        continue
    key = (r["tag"], int(r["threads"]), f'{r["rows"]}x{r["cols"]}')
    t[key][r["impl"]] = float(r["median_ns"])

print("# kelvin vs peers (one run of scripts/bench-peers.sh)\n")
if info:
    print("```\n" + info + "\n```\n")
print("ratio = kelvin time / fastest peer time (lower is better; the issue's target is <= 0.5, "
      "<= 0.67 at 65536x10); %memcpy = memcpy time / kelvin time.\n")
for tag in sorted({k[0] for k in t}):
    for threads in sorted({k[1] for k in t}):
        for fam, kel, peer_filter in (("softmax", "kelvin_softmax_T", lambda n: "log" not in n),
                                      ("log_softmax", "kelvin_logsoftmax", lambda n: "log" in n)):
            present = [s for s in SHAPES if kel in t.get((tag, threads, s), {})]
            if not present:
                continue
            print(f"## {fam}, {tag}, {threads} thread{'s' if threads > 1 else ''}\n")
            print("| shape | kelvin µs | fastest peer | peer µs | ratio | %memcpy |")
            print("|---|---:|---|---:|---:|---:|")
            for s in present:
                d = t[(tag, threads, s)]
                peers = {n: v for n, v in d.items() if n.startswith(PEERS) and peer_filter(n)}
                k = d[kel]
                if peers:
                    best = min(peers, key=peers.get)
                    ratio = f"{k / peers[best]:.2f}"
                    pb, pv = best, f"{peers[best] / 1e3:.3g}"
                else:
                    pb, pv, ratio = "-", "-", "-"
                mc = f"{100 * d['memcpy'] / k:.0f}" if "memcpy" in d else "-"
                print(f"| {s} | {k / 1e3:.3g} | {pb} | {pv} | {ratio} | {mc} |")
            print()
