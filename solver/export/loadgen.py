"""What the bundle's aiperf runs replay: the spec's length distributions, prefix hits and arrival process.

Closed loop (the default) sweeps concurrency around the predicted one (solver.export.render.concurrencies). An
open-loop spec sweeps request rates instead, with aiperf's arrival pattern (poisson, or gamma whose smoothness is
its shape k = 1 / CV^2) and writes each run to bench/artifacts/r<rate>/. Distributions become aiperf's
``--sequence-distribution`` ISL,OSL:PROB pairs (the product of the independent ISL and OSL points; aiperf reads a
probability <= 1 as a fraction, so all are written as fractions, in fixed-point).
"""

from __future__ import annotations

from dataclasses import dataclass

from costmodel import workload_of
from costmodel import Workload
from solver.result import Deployment

RATE_SWEEP = (0.5, 0.75, 1.0)  # open-loop benchmark rates, as multiples of the rate the deployment plans for
OPEN_LOAD = 0.9  # without a target rate, runs go up to this share of the predicted capacity
RUN_SECONDS = 60  # requests per rate run: this many seconds of traffic (at least 32)


@dataclass(frozen=True)
class Load:
    """The benchmark's load for one deployment, as run_aiperf.sh.j2 renders it."""

    open: bool
    lengths_text: str
    distribution: str  # aiperf --sequence-distribution value; "" for fixed lengths
    prefix_tokens: int
    arrival_text: str = ""
    arrival_flags: str = ""
    rates: tuple[tuple[str, int, int], ...] = ()  # (requests/s as written, requests, warm-up requests)


def sequence_distribution(w: Workload) -> str:
    """ISL,OSL:PROB pairs (semicolon format) of the independent ISL and OSL points, ISL less the shared prefix."""
    prefix = prefix_tokens(w)
    pairs = [
        (max(1, round(i - prefix)), max(1, round(o)), wi * wo)
        for i, wi in zip(w.isl.points, w.isl.weights)
        for o, wo in zip(w.osl.points, w.osl.weights)
    ]
    merged: dict[tuple[int, int], float] = {}
    for i, o, p in pairs:
        merged[(i, o)] = merged.get((i, o), 0.0) + p
    return ";".join(f"{i},{o}:{p:.12f}" for (i, o), p in merged.items() if p > 0)


def prefix_tokens(w: Workload) -> int:
    """Tokens of the one shared prefix that stands for the prefix hits: the hit rate times the mean ISL."""
    return round(w.prefix_hit_rate * w.isl.mean)


def load_of(spec, dep: Deployment) -> Load:
    """The aiperf load of a deployment: lengths, prefix, and the rate sweep of an open-loop spec."""
    w = workload_of(spec.request)
    fixed = w.isl.fixed and w.osl.fixed
    text = (
        f"ISL {spec.request.isl}, OSL {spec.request.osl}"
        if fixed
        else f"ISL {w.isl.describe()}, OSL {w.osl.describe()}"
    )
    dist = "" if fixed else sequence_distribution(w)
    a = w.arrival
    if a.process == "closed":
        return Load(False, text, dist, prefix_tokens(w))
    target = a.rate_per_s or OPEN_LOAD * dep.req_per_s
    rates = []
    for f in RATE_SWEEP:
        r = float(f"{target * f:.3g}")
        rates.append((f"{r:g}", max(32, round(r * RUN_SECONDS)), max(8, round(r * 5))))
    flags = (
        "--arrival-pattern poisson"
        if a.process == "poisson"
        else f"--arrival-pattern gamma --arrival-smoothness {1.0 / a.cv**2:.4g}"
    )
    return Load(True, text, dist, prefix_tokens(w), a.describe(), flags, tuple(dict.fromkeys(rates)))
