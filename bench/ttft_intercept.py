"""Split the low-concurrency TTFT error into a fixed part and a per-prompt-token part, per engine and model.

Usage: python bench/ttft_intercept.py [csv] [--max-clients N] [--rows]

At a few clients a request's TTFT is the request path (fixed) plus its own prefill (growing with the prompt).
The dev set measures many agg deployments at two prompt lengths (1,024 and 8,192 tokens) with everything else
equal: engine release and image, GPU, model, precision, TP/PP/attention DP/MoE TP/EP, clients. A line through
each such deployment's points gives a measured intercept (TTFT at an empty prompt, ms) and slope (ms per 1,000
prompt tokens); the same line through validate's predictions gives the priced ones. An intercept gap is the
request path (``host.request_overhead_ms`` and whatever else is paid once per request); a slope gap is the
prefill price. Prints the median of each per engine and model (``--rows``: every deployment), then per engine and
attention type the median intercept gap (measured less priced: what the engine file's request path would move by if
it were read as the intercept rather than as the median TTFT gap of bench/request_overhead.py) and slope ratio.
"""

from __future__ import annotations

import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from costmodel.arch import load_model
from costmodel.validate import predict_row, read_rows
from validate_core import DEV_CSV

MAX_CLIENTS = 4
DEPLOYMENT = (
    "backend",
    "backend_version",
    "model_path",
    "system",
    "precision",
    "tp_size",
    "pp_size",
    "attention_dp_size",
    "moe_tp_size",
    "moe_ep_size",
)


def _line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares intercept (ms) and slope (ms per 1,000 tokens) through (prompt tokens, TTFT ms) points."""
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return my - slope * mx, 1000.0 * slope


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv and not argv[0].startswith("--") else DEV_CSV
    max_clients = int(argv[argv.index("--max-clients") + 1]) if "--max-clients" in argv else MAX_CLIENTS
    measured: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    priced: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for row in read_rows(path):
        if row["mode"].strip() != "agg":
            continue
        p = predict_row(row)
        if p.reason is not None or p.concurrency > max_clients:
            continue
        image = re.search(r"image=([^;]+)", row.get("silicon_data_source") or "")
        key = (*(row[k].strip() for k in DEPLOYMENT), image.group(1) if image else "", p.concurrency)
        isl = float(row["isl"])
        measured[key].append((isl, p.measured_ttft_ms))
        priced[key].append((isl, p.ttft_ms))
    by_model: dict[tuple[str, str], list[tuple[float, float, float, float]]] = defaultdict(list)
    by_attention: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for key, points in sorted(measured.items()):
        if len({x for x, _ in points}) < 2:
            continue
        (mi, ms), (pi, ps) = _line(points), _line(priced[key])
        by_model[(key[0], key[2].split("/")[-1])].append((mi, pi, ms, ps))
        if ps > 0:
            by_attention[(key[0], "MLA" if load_model(key[2]).is_mla else "other")].append((mi - pi, ms / ps))
        if "--rows" in argv:
            label = " ".join(str(k) for k in key if k != "")
            print(f"{label:100.100s}  intercept {mi:6.0f} / {pi:6.0f} ms  slope {ms:6.1f} / {ps:6.1f} ms per 1k")
    print("engine  model                     deployments  intercept measured / priced (ms)  slope measured / priced")
    for (backend, model), fits in sorted(by_model.items()):
        mi, pi = statistics.median(f[0] for f in fits), statistics.median(f[1] for f in fits)
        ratio = statistics.median(f[2] / f[3] for f in fits if f[3] > 0)
        print(f"{backend:7s} {model:25.25s} {len(fits):11d}  {mi:14.0f} / {pi:6.0f}  {ratio:20.2f}x")
    print("engine  attention  deployments  intercept gap, measured - priced (ms)  slope measured / priced")
    for (backend, attention), gaps in sorted(by_attention.items()):
        gap, ratio = statistics.median(g for g, _ in gaps), statistics.median(r for _, r in gaps)
        print(f"{backend:7s} {attention:9s} {len(gaps):12d}  {gap:+37.1f}  {ratio:22.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
