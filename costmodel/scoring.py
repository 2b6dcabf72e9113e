"""Scores predictions of measured rows by (system, backend, mode) group: median absolute error, share within
20 %, why rows went unpredicted, and the signed error by concurrency (costmodel.validate prices the rows)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Prediction:
    """One row's outcome: predicted figures or why not."""

    row_id: str
    group: tuple[str, str, str]
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    measured_ttft_ms: float = 0.0
    measured_tpot_ms: float = 0.0
    reason: str | None = None
    concurrency: int = 0

    def figures(self) -> tuple[float, float]:
        """(TTFT, TPOT) in ms of a predicted row; ValueError for a row that has a reason instead."""
        if self.ttft_ms is None or self.tpot_ms is None:
            raise ValueError(f"row {self.row_id} has no prediction ({self.reason})")
        return self.ttft_ms, self.tpot_ms


# Concurrency bins of the signed-error breakdown (upper bounds; the last is open).
CONCURRENCY_BINS = ((4, "1-4"), (16, "5-16"), (64, "17-64"), (256, "65-256"), (None, ">256"))


def concurrency_bin(c: int) -> str:
    """The CONCURRENCY_BINS label of a concurrency."""
    return next(label for hi, label in CONCURRENCY_BINS if hi is None or c <= hi)


@dataclass
class GroupScore:
    """Accuracy of one (system, backend, mode) group."""

    rows: int = 0
    predicted: int = 0
    ttft_err: list[float] = field(default_factory=list)
    tpot_err: list[float] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    signed: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))

    def summary(self) -> dict:
        """Plain figures for printing or JSON."""

        def mdape(e):
            return round(100 * statistics.median(e), 1) if e else None

        def within(e):
            return round(100 * sum(x <= 0.2 for x in e) / len(e), 1) if e else None

        by_bin = {
            label: {
                "rows": len(e),
                "ttft_signed_median": round(100 * statistics.median(x for x, _ in e), 1),
                "tpot_signed_median": round(100 * statistics.median(y for _, y in e), 1),
            }
            for _, label in CONCURRENCY_BINS
            if (e := self.signed.get(label))
        }
        return {
            "rows": self.rows,
            "predicted": self.predicted,
            "ttft_mdape": mdape(self.ttft_err),
            "tpot_mdape": mdape(self.tpot_err),
            "ttft_within_20": within(self.ttft_err),
            "tpot_within_20": within(self.tpot_err),
            "unpredicted": dict(sorted(self.reasons.items())),
            "signed_error_by_concurrency": by_bin,
        }


def score(preds: list[Prediction]) -> tuple[dict[tuple, GroupScore], GroupScore]:
    """Per-group and overall accuracy."""
    groups: dict[tuple, GroupScore] = defaultdict(GroupScore)
    total = GroupScore()
    for p in preds:
        for g in (groups[p.group], total):
            g.rows += 1
            if p.reason:
                g.reasons[p.reason] += 1
                continue
            g.predicted += 1
            ttft, tpot = p.figures()
            e_ttft = (ttft - p.measured_ttft_ms) / p.measured_ttft_ms
            e_tpot = (tpot - p.measured_tpot_ms) / p.measured_tpot_ms
            g.ttft_err.append(abs(e_ttft))
            g.tpot_err.append(abs(e_tpot))
            g.signed[concurrency_bin(p.concurrency)].append((e_ttft, e_tpot))
    return dict(sorted(groups.items())), total


def render(groups: dict[tuple, GroupScore], total: GroupScore) -> str:
    """Per-group table and the closing ``overall:`` line."""
    from tabulate import tabulate

    rows = []
    for (system, backend, mode), g in groups.items():
        d = g.summary()
        why = "; ".join(f"{k} ({v})" for k, v in d["unpredicted"].items())
        rows.append(
            [
                system,
                backend,
                mode,
                d["rows"],
                d["predicted"],
                _pct(d["ttft_mdape"]),
                _pct(d["tpot_mdape"]),
                _pct(d["ttft_within_20"]),
                _pct(d["tpot_within_20"]),
                why,
            ]
        )
    head = [
        "system",
        "backend",
        "mode",
        "rows",
        "predicted",
        "TTFT MdAPE",
        "TPOT MdAPE",
        "TTFT ≤20%",
        "TPOT ≤20%",
        "not predicted (why)",
    ]
    t = total.summary()
    bins = "; ".join(
        f"{k} ({v['rows']}) {v['ttft_signed_median']:+.1f}% / {v['tpot_signed_median']:+.1f}%"
        for k, v in t["signed_error_by_concurrency"].items()
    )
    last = (
        f"overall: rows={t['rows']} predicted={t['predicted']} ttft_mdape={_pct(t['ttft_mdape'])} "
        f"tpot_mdape={_pct(t['tpot_mdape'])}"
    )
    return (
        tabulate(rows, head)
        + "\n"
        + (f"signed median error by concurrency, TTFT / TPOT: {bins}\n" if bins else "")
        + last
    )


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1f}%"


def as_json(groups: dict[tuple, GroupScore], total: GroupScore) -> dict:
    """The same figures as a JSON-ready dict."""
    return {
        "groups": [{"system": s, "backend": b, "mode": m, **g.summary()} for (s, b, m), g in groups.items()],
        "overall": total.summary(),
    }
