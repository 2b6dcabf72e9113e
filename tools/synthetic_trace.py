"""Write a synthetic request trace (CSV arrival_s,isl,osl) for the examples: deterministic for one seed.

Nothing in it was measured: chat-like lengths (lognormal ISL and OSL) arriving in bursts (gamma inter-arrival
times with a coefficient of variation above 1). Run: python tools/synthetic_trace.py specs/traces/synthetic_chat.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def trace(
    n: int,
    rate_per_s: float,
    cv: float,
    isl_mean: float,
    isl_sigma: float,
    osl_mean: float,
    osl_sigma: float,
    seed: int,
) -> np.ndarray:
    """(n, 3) array of arrival time (s), ISL and OSL (tokens)."""
    rng = np.random.default_rng(seed)
    shape = 1.0 / cv**2  # gamma inter-arrival times: CV = 1 / sqrt(shape), mean 1 / rate
    t = np.cumsum(rng.gamma(shape, 1.0 / (rate_per_s * shape), n))
    lengths = []
    for mean, sigma, lo, hi in ((isl_mean, isl_sigma, 32, 30000), (osl_mean, osl_sigma, 8, 4000)):
        mu = np.log(mean) - sigma**2 / 2  # the lognormal with this mean
        lengths.append(np.clip(np.round(rng.lognormal(mu, sigma, n)), lo, hi))
    return np.column_stack([t - t[0], *lengths])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=20.0, help="mean arrival rate, requests/s")
    ap.add_argument("--cv", type=float, default=1.5, help="coefficient of variation of the inter-arrival times")
    ap.add_argument("--seed", type=int, default=16)
    a = ap.parse_args()
    rows = trace(a.requests, a.rate, a.cv, 3000.0, 0.8, 400.0, 0.6, a.seed)
    with open(a.out, "w") as fh:
        fh.write("arrival_s,isl,osl\n")
        fh.writelines(f"{t:.4f},{int(i)},{int(o)}\n" for t, i, o in rows)


if __name__ == "__main__":
    main()
