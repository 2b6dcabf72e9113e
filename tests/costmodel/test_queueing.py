"""The M/G/1 waiting-time lattice (costmodel.queueing) against the closed forms of M/M/1 and M/D/1."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import trapezoid

from costmodel.queueing import mean_wait, mg1_wait, moments

LEVELS = (0.9, 0.95, 0.99)


def _quantile(lattice, p: float) -> np.ndarray:
    lo, hi = np.zeros(len(lattice.h)), lattice.h * (lattice.cdf.shape[1] - 1)
    for _ in range(80):
        mid = (lo + hi) / 2
        ok = lattice.cdf_at(mid[:, None])[:, 0] >= p
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return hi


def _exponential_points(n: int = 4000) -> np.ndarray:
    """Exp(1) as n equal-probability bins at their conditional means (their mean is exactly 1)."""
    e = np.linspace(0.0, 1.0, n + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(e < 1, (1 - e) * np.log1p(-e) + e, 1.0)  # integral of the quantile function
    return np.diff(g) / np.diff(e)


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9])
def test_mm1_percentiles(rho):
    """M/M/1, service rate 1: P(W > t) = rho exp(-(1 - rho) t), so t_p = ln(rho / (1 - p)) / (1 - rho)."""
    pts = _exponential_points()
    lat = mg1_wait(np.array([rho]), pts[None, :], np.full((1, len(pts)), 1 / len(pts)))
    for p in LEVELS:
        exact = math.log(rho / (1 - p)) / (1 - rho)
        assert _quantile(lat, p)[0] == pytest.approx(exact, rel=2e-3)
    # below the atom at zero (P(W = 0) = 1 - rho) the percentile is 0
    assert _quantile(lat, 0.99 * (1 - rho))[0] < 1e-6


def _md1_cdf(t: float, rho: float) -> float:
    """Erlang's M/D/1 waiting-time distribution, service time 1, arrival rate rho."""
    return (1 - rho) * sum(
        (rho * (k - t)) ** k / math.factorial(k) * math.exp(-rho * (k - t)) for k in range(int(math.floor(t)) + 1)
    )


@pytest.mark.parametrize("rho", [0.3, 0.5, 0.7, 0.8])
def test_md1_percentiles(rho):
    lat = mg1_wait(np.array([rho]), np.array([[1.0]]), np.array([[1.0]]))
    for p in LEVELS:
        lo, hi = 0.0, 15.0  # Erlang's alternating sum loses precision far past the p99
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if _md1_cdf(mid, rho) >= p else (mid, hi)
        assert _quantile(lat, p)[0] == pytest.approx(hi, rel=5e-4)


def test_rows_are_independent_and_scale_with_service():
    """One call prices many rows: each row's percentiles are its own queue's, and scale with the service time."""
    rho = np.array([0.5, 0.5, 0.8])
    lat = mg1_wait(rho, np.array([[1.0], [3.0], [1.0]]), np.array([[1.0]]))
    q = _quantile(lat, 0.99)
    assert q[1] == pytest.approx(3 * q[0], rel=1e-6)
    alone = mg1_wait(rho[2:], np.array([[1.0]]), np.array([[1.0]]))
    assert q[2] == pytest.approx(_quantile(alone, 0.99)[0], rel=1e-9)


def test_pollaczek_khinchine_mean():
    """The lattice's mean wait is Pollaczek-Khinchine's rho / (1 - rho) E[S^2] / (2 E[S])."""
    pts, w = np.array([[0.5, 1.0, 4.0]]), np.array([[0.5, 0.3, 0.2]])
    lat = mg1_wait(np.array([0.7]), pts, w)
    grid = np.arange(lat.cdf.shape[1] * 4) * lat.h[0] / 4
    mean = trapezoid(1 - lat.cdf_at(grid[None, :])[0], grid)
    m1, cs2 = moments(pts, w)
    assert mean == pytest.approx(mean_wait(0.7, m1, cs2)[0], rel=2e-3)
