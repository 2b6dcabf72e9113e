"""Waiting-time distributions of single-server queues, vectorized over rows (candidate workers).

M/G/1 (Poisson arrivals, any service-time distribution, first come first served) is exact by the
Pollaczek-Khinchine / Beneš form: the wait is a geometric sum of residual service times,
    P(N = n) = (1 - rho) rho^n,   W = R_1 + ... + R_N,   residual density f_e(t) = P(S > t) / E[S],
so its transform is (1 - rho) / (1 - rho f_e^(w)). We put f_e on a lattice of ``cells`` steps that covers the
wait's tail, and invert the transform with one FFT per row. The only error is the lattice step (a fraction of
a percent of the percentiles at the default 1,024 cells); tests/costmodel/test_queueing.py checks it against the
closed forms of M/M/1 and M/D/1. Non-Poisson arrivals (gamma inter-arrival times with squared coefficient of
variation ca2) scale the wait's time axis by Kingman's factor (ca2 + cs2) / (1 + cs2), which gives the
G/G/1 mean of Kingman's formula and is exact at ca2 = 1.

Service times are weighted points: ``points`` (R, K) in ms, ``weights`` broadcastable to them, summing to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CELLS = 1024  # lattice steps over the wait's range
TAIL_MEANS = 16.0  # the range: the longest service plus this many conditional mean waits (tail mass < e^-16)
RHO_MAX = 0.999


@dataclass(frozen=True)
class WaitLattice:
    """P(W <= j h) for j = 0..cells, per row: ``cdf`` (R, cells + 1) and step ``h`` (R,) in ms."""

    h: np.ndarray
    cdf: np.ndarray

    def cdf_at(self, t: np.ndarray) -> np.ndarray:
        """P(W <= t) for t in ms of shape (R, ...); 0 below 0, 1 past the range. Lattice point j holds the mass
        rounded to it, from (j - 1/2) h to (j + 1/2) h, so cdf[j] is read at (j + 1/2) h, linear in between."""
        r = self.cdf
        shape = np.shape(t)
        t = np.asarray(t, float).reshape(len(r), -1)
        x = t / self.h[:, None] - 0.5
        i = np.clip(np.floor(x), 0, r.shape[1] - 2).astype(int)
        lo, hi = np.take_along_axis(r, i, 1), np.take_along_axis(r, i + 1, 1)
        f = lo + np.clip(x - i, 0.0, 1.0) * (hi - lo)
        f = np.where(t < 0, 0.0, np.where(x < 0, r[:, :1], np.where(x >= r.shape[1] - 1, 1.0, f)))
        return f.reshape(shape)


def moments(points: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E[S], squared coefficient of variation of S) per row of weighted service points."""
    m1 = np.sum(points * weights, axis=-1)
    m2 = np.sum(points * points * weights, axis=-1)
    safe = np.where(m1 > 0, m1, 1.0)
    return m1, np.where(m1 > 0, np.maximum(m2 / (safe * safe) - 1.0, 0.0), 0.0)


def mean_wait(rho, mean_service, cs2, ca2=1.0) -> np.ndarray:
    """Kingman's (Pollaczek-Khinchine at ca2 = 1) mean wait: rho / (1 - rho) (ca2 + cs2) / 2 E[S], in ms."""
    rho = np.asarray(rho, float)
    return rho / (1.0 - rho) * (ca2 + cs2) / 2.0 * mean_service


def mg1_wait(rho, points, weights, cells: int = CELLS) -> WaitLattice:
    """The M/G/1 waiting-time distribution per row at utilisation rho (R,), service points (R, K) ms."""
    rho = np.clip(np.asarray(rho, float), 0.0, RHO_MAX)
    s = np.asarray(points, float)
    w = np.broadcast_to(np.asarray(weights, float), s.shape)
    m1, cs2 = moments(s, w)
    m1 = np.where(m1 > 0, m1, 1.0)
    cond = (1.0 + cs2) * m1 / (2.0 * (1.0 - rho))  # E[W | W > 0] = E[S^2] / (2 E[S] (1 - rho))
    span = s.max(axis=-1) + TAIL_MEANS * cond
    h = np.maximum(span / cells, 1e-12)
    # residual mass rounded to the nearest lattice point: G(t) = int_0^t P(S > u) du = sum_k w_k min(s_k, t)
    edges = (np.arange(cells + 2) - 0.5).clip(0.0)[None, :] * h[:, None]
    g = np.zeros((len(rho), cells + 2))
    for k in range(s.shape[1]):
        g += w[:, k, None] * np.minimum(s[:, k, None], edges)
    mass = np.diff(g, axis=1) / m1[:, None]
    n = 1 << int(np.ceil(np.log2(2 * (cells + 1))))  # zero-padded: what wraps around is the tail past 2x the range
    phi = np.fft.rfft(mass, n, axis=1)
    dens = np.fft.irfft((1.0 - rho)[:, None] / (1.0 - rho[:, None] * phi), n, axis=1)[:, : cells + 1]
    cdf = np.maximum.accumulate(np.clip(np.cumsum(dens, axis=1), 0.0, 1.0), axis=1)
    return WaitLattice(h, cdf)
