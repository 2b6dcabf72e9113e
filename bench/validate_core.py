"""Dev-set accuracy on the core systems (h100_sxm, h200_sxm, b200_sxm) by mode and concurrency bin.

Usage: python bench/validate_core.py [csv] [--dump rows.csv]

Prints TTFT/TPOT MdAPE and the share within 20 % for agg, disagg and overall, and the signed median error
per concurrency bin: the figures issue 13 sets targets for. ``--dump`` writes every predicted row with its
errors, for looking at kinds of rows (not for fitting single rows).
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

from costmodel.scoring import CONCURRENCY_BINS, concurrency_bin
from costmodel.validate import predict_row, read_rows

CORE = ("h100_sxm", "h200_sxm", "b200_sxm")
DEV_CSV = Path("/work/shared/validation/silicon_dev.csv")


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv and not argv[0].startswith("--") else DEV_CSV
    dump = argv[argv.index("--dump") + 1] if "--dump" in argv else None
    rows = [r for r in read_rows(path) if r["system"].strip() in CORE]
    preds = [(r, predict_row(r)) for r in rows]
    ok = [(r, p) for r, p in preds if p.reason is None]

    def err(p):
        return (p.ttft_ms - p.measured_ttft_ms) / p.measured_ttft_ms, (
            p.tpot_ms - p.measured_tpot_ms
        ) / p.measured_tpot_ms

    for name, sel in (("agg", "agg"), ("disagg", "disagg"), ("overall", None)):
        e = [err(p) for r, p in ok if sel is None or p.group[2] == sel]
        a = [abs(x) for x, _ in e]
        b = [abs(y) for _, y in e]
        print(
            f"{name:8s} rows={len(e):5d}  TTFT MdAPE {100 * statistics.median(a):6.2f}%  TPOT MdAPE "
            f"{100 * statistics.median(b):6.2f}%  TTFT<=20% {100 * sum(x <= 0.2 for x in a) / len(a):6.2f}%"
        )
    for _, label in CONCURRENCY_BINS:
        e = [err(p) for r, p in ok if concurrency_bin(p.concurrency) == label]
        if e:
            print(
                f"  c {label:7s} ({len(e):4d})  TTFT {100 * statistics.median(x for x, _ in e):+6.1f}%  "
                f"TPOT {100 * statistics.median(y for _, y in e):+6.1f}%"
            )
    for mode in ("agg", "disagg"):
        line = []
        for _, label in CONCURRENCY_BINS:
            e = [err(p) for r, p in ok if concurrency_bin(p.concurrency) == label and p.group[2] == mode]
            if e:
                line.append(
                    f"{label} {100 * statistics.median(x for x, _ in e):+.0f}/"
                    f"{100 * statistics.median(y for _, y in e):+.0f}"
                )
        print(f"  {mode}: " + "; ".join(line))
    print(f"unpredicted: {len(preds) - len(ok)}")
    if dump:
        with open(dump, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                [
                    "id",
                    "system",
                    "backend",
                    "mode",
                    "model",
                    "isl",
                    "osl",
                    "conc",
                    "meas_ttft",
                    "pred_ttft",
                    "meas_tpot",
                    "pred_tpot",
                    "e_ttft",
                    "e_tpot",
                ]
            )
            for r, p in ok:
                et, ep = err(p)
                w.writerow(
                    [
                        p.row_id,
                        *p.group,
                        r["model_path"],
                        r["isl"],
                        r["osl"],
                        p.concurrency,
                        f"{p.measured_ttft_ms:.1f}",
                        f"{p.ttft_ms:.1f}",
                        f"{p.measured_tpot_ms:.2f}",
                        f"{p.tpot_ms:.2f}",
                        f"{et:+.3f}",
                        f"{ep:+.3f}",
                    ]
                )


if __name__ == "__main__":
    main(sys.argv[1:])
