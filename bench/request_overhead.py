"""Re-derive the fitted request-path overhead (``host.request_overhead_ms``) of each engine file.

Usage: python bench/request_overhead.py [csv]

The value is the median TTFT gap that the dev set's agg rows at concurrency <= 4 (all systems) leave once the
rest of the request is priced: measured TTFT - (predicted TTFT - the value in use). docs/serving-constants.md
lists the value with these rows; rerun this after a change to what is priced before the first token, and refit
where the median has moved off the engine file's value.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

from costmodel.engines import engine_rules
from costmodel.validate import predict_row, read_rows
from validate_core import DEV_CSV

MAX_CLIENTS = 4


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else DEV_CSV
    gaps: dict[str, list[float]] = defaultdict(list)
    for row in read_rows(path):
        if row["mode"].strip() != "agg":
            continue
        p = predict_row(row)
        if p.reason is not None or p.concurrency > MAX_CLIENTS:
            continue
        backend = row["backend"].strip()
        gaps[backend].append(p.measured_ttft_ms - (p.ttft_ms - engine_rules(backend).request_overhead_ms))
    for backend in sorted(gaps):
        in_use = engine_rules(backend).request_overhead_ms
        print(
            f"{backend:7s} rows={len(gaps[backend]):4d}  median gap {statistics.median(gaps[backend]):6.1f} ms"
            f"  (engine file: {in_use:.1f} ms)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
