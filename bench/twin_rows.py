"""Measurements that appear twice in a validation file and are priced two ways: a row-reading gap.

Usage: python bench/twin_rows.py [csv] [--all-systems]

Several exports carry the same benchmark run (the same engine, GPU, mode, lengths and measured TTFT and TPOT)
under different ids and columns: a layout written flattened, a run date left out. ``validate`` should price both
alike; where it does not, one of the two readings is wrong. Prints each such group with its rows' readings
(clients, predicted TTFT and TPOT), largest disagreement first; core systems only unless ``--all-systems``.
Found this way: the 2026-04-06 export's flattened vLLM TP/EP layout and the undated InferenceX re-exports.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from costmodel.validate import predict_row, read_rows
from validate_core import CORE, DEV_CSV

TOLERANCE = 0.02  # predictions of one measurement further apart than this (relative) are two readings


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv and not argv[0].startswith("--") else DEV_CSV
    rows = [r for r in read_rows(path) if "--all-systems" in argv or r["system"].strip() in CORE]
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        p = predict_row(r)
        if p.reason is not None:
            continue
        key = (*p.group, r["model_path"].strip(), r["isl"].strip(), r["osl"].strip())
        groups[(*key, round(p.measured_ttft_ms), round(p.measured_tpot_ms, 1))].append(p)
    found = []
    for key, preds in groups.items():
        ttft = [p.ttft_ms for p in preds]
        tpot = [p.tpot_ms for p in preds]
        spread = max(max(ttft) / min(ttft), max(tpot) / min(tpot)) - 1.0
        if len(preds) > 1 and spread > TOLERANCE:
            found.append((spread, key, preds))
    print(f"{len(found)} measurements priced two ways ({len(rows)} rows read)")
    for spread, key, preds in sorted(found, key=lambda f: -f[0]):
        print(f"  {' '.join(map(str, key[:6]))}: measured {key[6]} / {key[7]} ms, spread {100 * spread:.0f} %")
        for p in preds:
            print(
                f"    {p.row_id[-48:]:48s} clients {p.concurrency:5d}  predicted {p.ttft_ms:9.1f} / {p.tpot_ms:6.2f} ms"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
