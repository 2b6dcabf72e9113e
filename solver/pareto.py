"""Pareto sets (tokens/s per GPU given vs tokens/s/user), top-N lists and within-role dominance pruning.

Disagg uses the ε-constraint method on CP-SAT: each step maximizes the deployment's tokens/s on
the GPUs given among decode rows with strictly lower TPOT than the previous point (strictly
higher tokens/s/user); the lower bounds carried between steps act as hints. Agg needs no
solver: each row's deployment is as many replicas as fit, so its front comes from the rows.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from solver.disagg_model import Unit
from solver.result import Deployment
from solver.units import tie_key

MAX_PARETO = 64  # points kept per mode: the highest tokens/s/GPU ones


class RatioSearch(Protocol):
    """What the enumeration needs from the disagg search (solver.optimize.DisaggSearch)."""

    def best(self, decode_ok: np.ndarray, excluded: frozenset = frozenset()) -> Unit | None: ...
    def decode_tpot(self, row: int) -> float: ...
    def decode_tpots(self) -> np.ndarray: ...


def undominated(gpus: np.ndarray, rate: np.ndarray, *lat: np.ndarray) -> np.ndarray:
    """Mask of rows not dominated by a row with the same GPUs, rate >= and every latency <=.

    Exact duplicates keep the lowest index, so the kept set never loses a canonical optimum.
    """
    n = len(rate)
    keep = np.ones(n, bool)
    for g in np.unique(gpus):
        ids = np.flatnonzero(gpus == g)
        r = rate[ids]
        ge = r[None, :] >= r[:, None]  # [a, b]: b at least as fast as a
        gt = r[None, :] > r[:, None]
        for v in lat:
            x = v[ids]
            ge &= x[None, :] <= x[:, None]
            gt |= x[None, :] < x[:, None]
        earlier = ids[None, :] < ids[:, None]
        dom = ge & (gt | earlier)
        np.fill_diagonal(dom, False)
        keep[ids[dom.any(axis=1)]] = False
    return keep


def disagg_front(search: RatioSearch, cap: int = MAX_PARETO) -> list[Unit]:
    """ε-constraint enumeration: best unit, then best with strictly lower TPOT, ... (at most cap)."""
    ok = np.ones(len(search.decode_tpots()), bool)
    points: list[Unit] = []
    while len(points) < cap and ok.any():
        u = search.best(ok)
        if u is None:
            break
        points.append(u)
        ok &= search.decode_tpots() < search.decode_tpot(u.rows[1])
    return points


def disagg_top(search: RatioSearch, first: Unit | None, n: int) -> list[Unit]:
    """The best units of the n best distinct (prefill row, decode row) pairs."""
    if first is None or n <= 0:
        return []
    out, ok = [first], np.ones(len(search.decode_tpots()), bool)
    while len(out) < n:
        u = search.best(ok, frozenset(x.rows for x in out))
        if u is None:
            break
        out.append(u)
    return out


def agg_order(ratio: np.ndarray, tpot: np.ndarray, gpus: np.ndarray, ttft: np.ndarray) -> np.ndarray:
    """Row order by the canonical key: tokens/s per GPU given desc, then TPOT, GPUs used, TTFT, row index."""
    rk = np.array([tie_key(float(x)) for x in ratio])
    return np.lexsort((np.arange(len(rk)), ttft, gpus, tpot, -rk))


def agg_front(order: np.ndarray, tpot: np.ndarray, cap: int = MAX_PARETO) -> list[int]:
    """Rows on the agg front: walking the canonical order, each strictly lowers the best TPOT."""
    out, best = [], np.inf
    for i in order:
        if tpot[i] < best:
            out.append(int(i))
            best = tpot[i]
            if len(out) == cap:
                break
    return out


def front_filter(points: list[Deployment]) -> tuple[Deployment, ...]:
    """Final dominance filter on the float figures, ordered by tokens/s per GPU given descending."""
    pts = sorted(points, key=lambda d: (-tie_key(d.tokens_per_s_per_gpu_given), d.tpot_ms, d.gpus_used))
    out, best = [], np.inf
    for d in pts:
        if d.tpot_ms < best:
            out.append(d)
            best = d.tpot_ms
    return tuple(out)
