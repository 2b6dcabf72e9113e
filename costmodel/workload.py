"""The workload as operators describe it: length distributions, prefix-cache hits and the arrival process.

A length distribution is a few weighted points (``LengthDist``): a fixed length is one point; a lognormal
given by its mean and p90, or the lengths of a trace, are cut into quantile bins and each bin stands at its
conditional mean, so the distribution's mean is kept exactly. The bins are finer in the tail (``bin_edges``)
because the high percentiles of TTFT come from the long prompts. The serving model prices each candidate at
the mean lengths; costmodel.latency spreads those figures over the points.

The load is closed-loop (the benchmark style of the measurements: a fixed number of clients, each sending
its next request when the last one ends; the solver picks that concurrency per worker), or open-loop at a
rate with Poisson or gamma inter-arrival times (``Arrival``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from costmodel.errors import CostModelError

DEFAULT_POINTS = 16  # bins of a lognormal or a trace's lengths (bench/distribution_speed.py: cost per point)
BODY_TOP, TAIL_TOP = 0.9, 0.999  # the body's bins are equal up to p90; the tail's shrink geometrically to p99.9
TRACE_COLUMNS = ("arrival_s", "isl", "osl")


class WorkloadError(CostModelError, ValueError):
    """A distribution or trace that cannot describe a workload; the message says what would."""


@dataclass(frozen=True)
class LengthDist:
    """Token lengths as weighted points: ``points`` (tokens, ascending, may be fractional: bin means) and
    ``weights`` (probabilities summing to 1), as tuples so that the request stays hashable."""

    points: tuple[float, ...]
    weights: tuple[float, ...]
    label: str = ""

    @property
    def mean(self) -> float:
        """Mean length in tokens."""
        return float(np.dot(self.points, self.weights))

    @property
    def longest(self) -> int:
        """The longest point, rounded up (tokens): what the KV cache must hold for one request."""
        return int(math.ceil(max(self.points)))

    @property
    def fixed(self) -> bool:
        """True for a single length (zero variance)."""
        return len(self.points) == 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(points, weights) as float arrays of shape (K,)."""
        return np.asarray(self.points, float), np.asarray(self.weights, float)

    def clipped(self, most: float) -> LengthDist:
        """Lengths above ``most`` tokens cut to it (engines refuse longer requests), points merged."""
        p, w = self.arrays()
        return _merge(np.minimum(p, most), w, self.label + (f", cut at {most:,.0f}" if p.max() > most else ""))

    def describe(self) -> str:
        """One line for the report: "4,000" or "lognormal mean 4,000, p90 8,000 (16 points)"."""
        return (
            f"{self.points[0]:,.0f}"
            if self.fixed
            else f"{self.label} ({len(self.points)} points, mean {self.mean:,.0f})"
        )


def fixed(tokens: int) -> LengthDist:
    """One length, zero variance: today's workload."""
    return LengthDist((float(tokens),), (1.0,), "fixed")


def bin_edges(points: int) -> np.ndarray:
    """Quantile edges of ``points`` bins, shape (points + 1,): half the bins split [0, 0.9] evenly, the rest split
    the tail geometrically in 1 - q from 0.1 to 0.001, so the last bin is the top 0.1 % (one bin: [0, 1])."""
    if points <= 1:
        return np.array([0.0, 1.0])
    body, tail = -(-points // 2), points // 2
    edges = list(np.linspace(0.0, BODY_TOP, body + 1))
    if tail > 1:
        top = 1.0 - TAIL_TOP
        edges += [1.0 - (1.0 - BODY_TOP) * (top / (1.0 - BODY_TOP)) ** (i / (tail - 1)) for i in range(1, tail)]
    return np.array(edges + [1.0])


def lognormal(mean: float, p90: float, points: int = DEFAULT_POINTS) -> LengthDist:
    """A lognormal length by its mean and 90th percentile, cut into ``points`` quantile bins at their means.

    sigma solves ln(p90 / mean) = z90 sigma - sigma^2 / 2 (the smaller root); a lognormal's p90 lies between its
    mean and e^(z90^2 / 2) = 2.27 times it, else WorkloadError. Each bin's point is E[X | bin] =
    mean (Phi(z_b - sigma) - Phi(z_a - sigma)) / (b - a), so the points' mean is the mean given."""
    from scipy.special import ndtr, ndtri  # here: a fixed-length workload never pays scipy's ~0.15 s import

    z = float(ndtri(0.9))
    d = math.log(p90 / mean) if mean > 0 and p90 > 0 else -1.0
    if not 0 < d <= z * z / 2:
        raise WorkloadError(
            f"a lognormal with mean {mean:g} has its p90 above the mean and at most "
            f"{math.exp(z * z / 2):.2f} x the mean (up to {mean * math.exp(z * z / 2):,.0f}); "
            f"got p90 {p90:g}"
        )
    sigma = z - math.sqrt(z * z - 2 * d)
    e = bin_edges(points)
    zs = ndtri(e)
    mass = np.diff(ndtr(zs - sigma))
    p = mean * mass / np.diff(e)
    return _merge(p, np.diff(e), f"lognormal mean {mean:,.0f}, p90 {p90:,.0f}")


def histogram(pairs: list[tuple[float, float]]) -> LengthDist:
    """An empirical histogram: (tokens, weight) pairs, weights normalised to sum to 1."""
    p = np.array([float(v) for v, _ in pairs])
    w = np.array([float(x) for _, x in pairs])
    if len(p) == 0 or np.any(p < 1) or np.any(w < 0) or w.sum() <= 0:
        raise WorkloadError(
            "a histogram is a list of [tokens, weight] pairs with tokens >= 1, weights >= 0 and "
            "some weight > 0, e.g. [[512, 0.6], [2048, 0.3], [8192, 0.1]]"
        )
    return _merge(p, w / w.sum(), f"histogram of {len(p)} lengths")


def empirical(values: np.ndarray, points: int = DEFAULT_POINTS, label: str = "") -> LengthDist:
    """Observed lengths as ``points`` quantile bins (bin_edges) at their means; each distinct length its own point
    when there are no more of them than bins. The points' mean is the sample mean."""
    v = np.sort(np.asarray(values, float))
    uniq, counts = np.unique(v, return_counts=True)
    if len(uniq) <= points:
        return _merge(uniq, counts / len(v), label)
    cut = np.unique(np.round(bin_edges(points) * len(v)).astype(int))
    sums = np.add.reduceat(v, cut[:-1])
    n = np.diff(cut)
    return _merge(sums / n, n / len(v), label)


def _merge(p: np.ndarray, w: np.ndarray, label: str) -> LengthDist:
    """Points sorted, equal points merged, zero weights dropped."""
    keep = w > 0
    uniq, inv = np.unique(np.asarray(p, float)[keep], return_inverse=True)
    return LengthDist(tuple(uniq.tolist()), tuple(np.bincount(inv, weights=w[keep]).tolist()), label)


@dataclass(frozen=True)
class Arrival:
    """How requests arrive. ``process``: closed (a fixed number of clients, the benchmarks' style: the solver picks
    the concurrency), poisson, or gamma inter-arrival times with coefficient of variation ``cv`` (1 is Poisson;
    above 1 bursty). ``rate_per_s``: the open-loop rate the deployment must carry (None: closed loop)."""

    process: str = "closed"
    rate_per_s: float | None = None
    cv: float = 1.0

    @property
    def ca2(self) -> float:
        """Squared coefficient of variation of the inter-arrival times. Closed loop counts as 1: the serving model
        prices the queue behind other prefills as M/D/1, and zero-variance closed-loop figures stay today's."""
        return self.cv**2 if self.process == "gamma" else 1.0

    def describe(self) -> str:
        """One line for the report."""
        if self.process == "closed":
            return "closed loop (fixed concurrency per worker, as benchmarks run)"
        rate = f"{self.rate_per_s:,.3g} requests/s, " if self.rate_per_s else ""
        return f"open loop, {rate}" + (
            "Poisson arrivals" if self.process == "poisson" else f"gamma inter-arrival times, CV {self.cv:.3g}"
        )


@dataclass(frozen=True)
class Workload:
    """ISL and OSL distributions, the share of prompt tokens the prefix cache serves, and the arrival process."""

    isl: LengthDist
    osl: LengthDist
    prefix_hit_rate: float = 0.0
    arrival: Arrival = Arrival()
    source: str = ""  # e.g. "trace t.csv: 2,000 requests over 400 s"

    @property
    def zero_variance(self) -> bool:
        """Fixed lengths, no prefix hits, closed loop: the serving model's figures are the answer."""
        return self.isl.fixed and self.osl.fixed and not self.prefix_hit_rate and self.arrival.process == "closed"


def fixed_workload(isl: int, osl: int) -> Workload:
    """Today's workload: one ISL, one OSL, closed loop."""
    return Workload(fixed(isl), fixed(osl))


@dataclass(frozen=True)
class Trace:
    """What a trace gives: length distributions and the open-loop arrival process it was recorded under."""

    isl: LengthDist
    osl: LengthDist
    arrival: Arrival
    requests: int
    span_s: float


def read_trace(path: str | Path, points: int = DEFAULT_POINTS) -> Trace:
    """A CSV with a header naming arrival_s (seconds, any origin), isl and osl (tokens), one request a row.

    ISL and OSL become empirical distributions (empirical), taken as independent of each other; the arrivals give
    the rate ((n - 1) / span) and the inter-arrival times' coefficient of variation, as a gamma process.
    Raises WorkloadError naming the line on anything else."""
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in TRACE_COLUMNS if c not in cols]
            if missing:
                raise WorkloadError(
                    f"{p}: missing column(s) {', '.join(missing)}; a trace has the header "
                    f"{','.join(TRACE_COLUMNS)} and one request per row"
                )
            rows = [{k.strip(): v for k, v in r.items() if k is not None} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise WorkloadError(f"cannot read trace {p} ({getattr(e, 'strerror', None) or e})") from None
    t, isl, osl = (np.empty(len(rows)) for _ in range(3))
    for i, r in enumerate(rows):
        try:
            t[i], isl[i], osl[i] = float(r["arrival_s"]), float(r["isl"]), float(r["osl"])
        except (TypeError, ValueError):
            raise WorkloadError(
                f"{p}, line {i + 2}: arrival_s, isl and osl must be numbers; got "
                f"{r.get('arrival_s')!r}, {r.get('isl')!r}, {r.get('osl')!r}"
            ) from None
        if not (
            math.isfinite(t[i]) and isl[i] >= 1 and osl[i] >= 1 and isl[i] == int(isl[i]) and osl[i] == int(osl[i])
        ):
            raise WorkloadError(
                f"{p}, line {i + 2}: isl and osl must be whole token counts >= 1 and arrival_s a "
                f"finite time in seconds; got {r['arrival_s']}, {r['isl']}, {r['osl']}"
            )
    if len(rows) < 3:
        raise WorkloadError(f"{p}: {len(rows)} request(s); a trace needs at least 3 to give a rate and its spread")
    gaps = np.diff(np.sort(t))
    span = float(gaps.sum())
    if span <= 0:
        raise WorkloadError(f"{p}: every request arrives at the same time; arrival_s must span some seconds")
    cv = float(gaps.std() / gaps.mean())
    name = p.name
    return Trace(
        empirical(isl, points, f"from trace {name}"),
        empirical(osl, points, f"from trace {name}"),
        Arrival("gamma", (len(rows) - 1) / span, cv),
        len(rows),
        span,
    )
