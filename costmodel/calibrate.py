"""Correction factors fitted from a user's own measurements (same CSV format as `validate`).

One multiplicative factor for TTFT and one for TPOT per (system, backend, mode): the
geometric median of measured / predicted over that group's rows. A deterministic share
of rows (by a hash of the row id) is held out of the fit to show the error before and after;
a group too small to lose rows to that check (fewer than MIN_ROWS left) is fitted on all its
rows and flagged in-sample, so that a few benchmark runs of one deployment still calibrate.
"""

from __future__ import annotations

import hashlib
import math
import reprlib
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from costmodel.errors import CostModelError
from costmodel.scoring import Prediction

MIN_ROWS = 3  # fewer rows than this leave a group uncorrected
HOLDOUT_SHARE = 0.25


class BadCalibrationError(CostModelError, ValueError):
    """A calibration file that cannot be read or has the wrong shape."""


@dataclass(frozen=True)
class Factor:
    """Multipliers for one (system, backend, mode) group and how many rows set them."""

    ttft: float
    tpot: float
    rows: int
    in_sample: bool = False  # fitted on every row: too few to hold any out


@dataclass(frozen=True)
class Calibration:
    """Factors per (system, backend, mode); groups without one are left as modelled."""

    factors: dict[tuple[str, str, str], Factor]

    def factor(self, system: str, backend: str, mode: str) -> Factor:
        """The group's factors (1.0 when the group was not fitted)."""
        return self.factors.get((system, backend, mode), Factor(1.0, 1.0, 0))

    def to_yaml(self) -> str:
        """The file form a spec's `calibration:` key points to."""
        rows = [
            {
                "system": s,
                "backend": b,
                "mode": m,
                "ttft_factor": round(f.ttft, 4),
                "tpot_factor": round(f.tpot, 4),
                "rows": f.rows,
                **({"in_sample": True} if f.in_sample else {}),
            }
            for (s, b, m), f in sorted(self.factors.items())
        ]
        return yaml.safe_dump({"aicsolve_calibration": 1, "factors": rows}, sort_keys=False)


def held_out(row_id: str) -> bool:
    """Whether a row is kept out of the fit (stable across runs and machines)."""
    h = int(hashlib.sha256(row_id.encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < HOLDOUT_SHARE


def fit(preds: list[Prediction]) -> Calibration:
    """Fit factors on the predicted rows that are not held out (all rows of a group too small for that)."""
    groups: dict[tuple, list[Prediction]] = {}
    for p in preds:
        if p.reason is None and p.ttft_ms and p.tpot_ms:
            groups.setdefault(p.group, []).append(p)
    factors = {}
    for g, every in groups.items():
        ps = [p for p in every if not held_out(p.row_id)]
        small = len(ps) < MIN_ROWS
        ps = every if small else ps
        if len(ps) >= MIN_ROWS:
            ttft = math.exp(statistics.median(math.log(p.measured_ttft_ms / p.figures()[0]) for p in ps))
            tpot = math.exp(statistics.median(math.log(p.measured_tpot_ms / p.figures()[1]) for p in ps))
            factors[g] = Factor(ttft, tpot, len(ps), small)
    return Calibration(factors)


def scored_rows(cal: Calibration, preds: list[Prediction]) -> tuple[list[Prediction], list[Prediction]]:
    """(held-out rows of the groups fitted without them, every row of the in-sample groups)."""
    inside = {g for g, f in cal.factors.items() if f.in_sample}
    return ([p for p in preds if held_out(p.row_id) and p.group not in inside], [p for p in preds if p.group in inside])


def apply(cal: Calibration, preds: list[Prediction]) -> list[Prediction]:
    """The same predictions with the factors applied."""
    out = []
    for p in preds:
        if p.reason is None:
            f = cal.factor(*p.group)
            ttft, tpot = p.figures()
            p = replace(p, ttft_ms=ttft * f.ttft, tpot_ms=tpot * f.tpot)  # every other field kept
        out.append(p)
    return out


MAX_CALIBRATION_BYTES = 1 << 20  # a file of every (system, backend, mode) group is ~10 KB


def load(path: Path) -> Calibration:
    """Read a calibration file written by `aicsolve calibrate` (BadCalibrationError naming what is wrong)."""
    from costmodel.files import BadInputFileError, read_text

    try:
        # libyaml: fast, and it stops at 1,000 levels of nesting where the Python parser would recurse
        raw = yaml.load(
            read_text(path, MAX_CALIBRATION_BYTES, "calibration file"),
            Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
        )
    except BadInputFileError as e:
        raise BadCalibrationError(str(e).rstrip(".")) from None
    except (yaml.YAMLError, RecursionError) as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise BadCalibrationError(
            f"{path}: not a calibration file written by `aicsolve calibrate` (not valid YAML"
            f"{at}: {str(getattr(e, 'problem', None) or type(e).__name__)[:120]})"
        ) from None
    rows = raw.get("factors") if isinstance(raw, dict) else None
    if not isinstance(rows, list) or len(rows) > 10_000:
        raise BadCalibrationError(
            f"{path}: not a calibration file written by `aicsolve calibrate` (no list of 'factors')"
        )
    factors = {}
    for i, r in enumerate(rows):
        where = f"{path}: factors[{i}]"
        if not isinstance(r, dict) or not all(isinstance(r.get(k), str) for k in ("system", "backend", "mode")):
            raise BadCalibrationError(f"{where} needs system, backend and mode strings")
        nums = {}
        for k, kind in (("ttft_factor", float), ("tpot_factor", float), ("rows", int)):
            v = r.get(k, 0 if k == "rows" else None)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or v < 0
                or (kind is int and v != int(v))
            ):
                raise BadCalibrationError(
                    f"{where}.{k} must be a finite {'whole ' if kind is int else ''}number ≥ 0; got {reprlib.repr(v)}"
                )
            nums[k] = kind(v)
        f = Factor(nums["ttft_factor"], nums["tpot_factor"], int(nums["rows"]), bool(r.get("in_sample")))
        key = (r["system"], r["backend"], r["mode"])
        if not (0.05 <= f.ttft <= 20 and 0.05 <= f.tpot <= 20):
            raise BadCalibrationError(f"{path}: factors for {'/'.join(key)} are outside 0.05–20 ({f.ttft}, {f.tpot})")
        factors[key] = f
    return Calibration(factors)
