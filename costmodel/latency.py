"""Per-request TTFT and TPOT distributions of every candidate row: mean and percentiles.

The serving model (costmodel.serving) prices a row at the workload's mean lengths, closed loop: its TTFT
holds the request's own prefill and an M/D/1 wait behind other prefills at the row's prefill utilisation
u. Here that mean is spread over the workload (costmodel.workload), one mechanism for every row:

    TTFT = A + own(x) + W,        A = TTFT_mean - own(ISL) - E[W_M/D/1]

* own(x): the prefill of a prompt of x tokens, x taken at each point of the ISL distribution less the prefix
  hits (prefill does not recompute cached tokens), priced by the step model (plus, for disagg, the KV bytes
  moved, which grow with x);
* W: the wait behind other prefills, an M/G/1 wait (costmodel.queueing) whose service times are the queue's
  mean service shaped like own(X), scaled to the arrival process by Kingman's factor. Prefix hits shrink the
  prefill work, so u, the queue's service and the TPOT's prefill share shrink by the same ratio.

    TPOT | OSL y ~ Gamma with mean TPOT_mean and variance u TPOT_mean d (cs2 + ca2) / (y - 1)

a request's decode steps carry the prefills that arrive during its y - 1 steps (a compound renewal sum of
per-request prefill work d), whose mean is the u share the serving model prices. Disagg decode workers mix in
no prefills: their TPOT has no spread here.

With one ISL, one OSL, no prefix hits and closed-loop load every correction is exactly 0 (the points are the
mean, the ratios exactly 1), so the means are the serving model's figures bit for bit. Percentiles come from
bisection on the mixture's CDF; all is deterministic.
"""

from __future__ import annotations

import numpy as np

from costmodel.queueing import mean_wait, mg1_wait, moments
from costmodel.step import Layout, StepModel
from costmodel.workload import Workload

PERCENTILES = (50, 90, 95, 99)  # the levels every row carries (Candidates.ttft_pct / tpot_pct columns)
BISECTION_STEPS = 60


def percentile_index(level: int) -> int:
    """Column of a percentile level in the rows' percentile arrays; ValueError for a level not carried."""
    return PERCENTILES.index(level)


def _layout3(lay: Layout) -> Layout:
    return Layout(*(np.asarray(x, float)[..., None] for x in (lay.tp, lay.pp, lay.dp, lay.moe_tp, lay.moe_ep)))


def _prefill_points(w: Workload, isl: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens prefilled per ISL point (K,), full prompt tokens (K,), weights (K,)); a point at the priced ISL with
    no prefix hits is the priced ISL itself (so its price is the serving model's, exactly)."""
    p, wt = w.isl.arrays()
    return p * (1.0 - w.prefix_hit_rate), p, wt


def agg_spread(
    step: StepModel, lay: Layout, fig: dict, w: Workload, isl: int, osl: int, max_num_tokens: int
) -> dict[str, np.ndarray]:
    """Agg rows: ``fig`` (agg_figures at the mean lengths, arrays (L, B)) with mean TTFT/TPOT/req_per_s spread over
    the workload and ``ttft_pct`` / ``tpot_pct`` (L, B, len(PERCENTILES)) added, all in ms (req_per_s: 1/s)."""
    shape = np.shape(fig["ttft_ms"])
    b = np.broadcast_to(fig["running"] / np.asarray(lay.dp, float), shape)[..., None]
    x, full, wt = _prefill_points(w, isl)
    lay3 = _layout3(lay)
    ctx = isl + osl / 2.0
    dec = step.iteration_ms(lay3, b, ctx, 0, 0)

    def own(tokens):  # one prompt's prefill mixed into the decode batch, chunked to the token budget
        chunk = np.minimum(tokens, max_num_tokens)
        return np.maximum(step.iteration_ms(lay3, b, ctx, 1, chunk) - dec, 1e-6) * np.ceil(tokens / max_num_tokens)

    s_bar = own(np.array([float(isl)]))[..., 0]
    s = np.where(x == isl, s_bar[..., None], own(x))
    s_full = np.where(full == isl, s_bar[..., None], own(full)) if w.prefix_hit_rate else None
    f = {
        k: _flat(fig[k], shape)
        for k in ("ttft_ms", "tpot_ms", "req_per_s", "queue_util", "queue_service_ms", "prefill_work_ms")
    }
    out = _spread(f, s, s_bar, s_full, wt, w, fixed_load=False, shape=shape)
    out["tpot_pct"] = _tpot_pct(out["tpot_ms"], out["util"], f["prefill_work_ms"] * out["ratio"], out["cs2"], w)
    # closed loop at the row's concurrency: a request takes TTFT + (OSL - 1) TPOT (Little's law)
    old = f["ttft_ms"] + (osl - 1) * f["tpot_ms"]
    out["req_per_s"] = f["req_per_s"] * (old / (out["ttft_ms"] + (osl - 1) * out["tpot_ms"]))
    return {**fig, **{k: _unflat(out[k], shape) for k in ("ttft_ms", "tpot_ms", "req_per_s", "ttft_pct", "tpot_pct")}}


def prefill_spread(
    step: StepModel, lay: Layout, fig: dict, w: Workload, isl: int, transfer_ms
) -> dict[str, np.ndarray]:
    """Disagg prefill rows: ``fig`` (prefill TTFT with the hand-off, req_per_s at the planned load, the queue's
    utilisation and service, arrays (L, B)) spread over the workload; adds ``ttft_pct``. The pools are planned at
    a fixed load, so prefix hits raise their request rate rather than lower their utilisation."""
    shape = np.shape(fig["ttft_ms"])
    x, full, wt = _prefill_points(w, isl)
    lay3 = _layout3(lay)
    moved = np.asarray(transfer_ms, float)[..., None] * (full / isl - 1.0)  # KV bytes grow with the whole prompt
    s_bar = np.broadcast_to(step.iteration_ms(lay3, 0, 0, 1, float(isl), busy=1)[..., 0], shape)
    s = np.where((x == isl) & (full == isl), s_bar[..., None], step.iteration_ms(lay3, 0, 0, 1, x, busy=1) + moved)
    s_full = None
    if w.prefix_hit_rate:
        s_full = np.where(full == isl, s_bar[..., None], step.iteration_ms(lay3, 0, 0, 1, full, busy=1))
    f = {k: _flat(fig[k], shape) for k in ("ttft_ms", "req_per_s", "queue_util", "queue_service_ms")}
    out = _spread(f, s, s_bar, s_full, wt, w, fixed_load=True, shape=shape)
    out["req_per_s"] = f["req_per_s"] / out["ratio"]
    return {**fig, **{k: _unflat(out[k], shape) for k in ("ttft_ms", "req_per_s", "ttft_pct")}}


def decode_spread(fig: dict) -> dict[str, np.ndarray]:
    """Disagg decode rows: no prefill is mixed in, so every percentile of TPOT is its mean."""
    t = np.asarray(fig["tpot_ms"], float)
    return {**fig, "tpot_pct": np.repeat(t[..., None], len(PERCENTILES), axis=-1)}


def _flat(a, shape) -> np.ndarray:
    return np.broadcast_to(np.asarray(a, float), shape).reshape(-1)


def _unflat(a: np.ndarray, shape) -> np.ndarray:
    return a.reshape(tuple(shape) + a.shape[1:])


def _spread(f: dict, s, s_bar, s_full, wt: np.ndarray, w: Workload, fixed_load: bool, shape) -> dict:
    """The TTFT spread shared by agg and prefill rows over flattened rows (R = L * B): f holds (R,) arrays, s and
    s_full (prefix hits: the prompts' whole-length prefill, else None) (L, B, K), s_bar (L, B)."""
    r, k = int(np.prod(shape)), len(wt)
    s = np.broadcast_to(s, tuple(shape) + (k,)).reshape(r, k)
    s_bar = _flat(s_bar, shape)
    base, rho, q_bar = f["ttft_ms"], f["queue_util"], f["queue_service_ms"]
    mean_s, cs2 = moments(s, wt)
    # prefix hits: the prefill work per request shrinks by this ratio (exactly 1 without hits)
    ratio = (
        np.ones(r)
        if s_full is None
        else mean_s / moments(np.broadcast_to(s_full, tuple(shape) + (k,)).reshape(r, k), wt)[0]
    )
    rho2 = rho if fixed_load else rho * ratio
    q2 = q_bar * ratio
    ca2 = w.arrival.ca2
    today = mean_wait(rho, q_bar, 0.0, 1.0)
    own_gap = np.sum(wt * (s - s_bar[:, None]), axis=1)
    mean = base + own_gap + (mean_wait(rho2, q2, cs2, ca2) - today)
    # the queue's service: its mean times the own prefill's shape; Kingman's factor stretches the wait
    service = q2[:, None] * s / np.where(mean_s > 0, mean_s, 1.0)[:, None]
    lattice = mg1_wait(rho2, service, wt)
    stretch = (ca2 + cs2) / (1.0 + cs2)
    start = base - s_bar - today
    levels = np.array(PERCENTILES, float) / 100.0

    def cdf(t):  # P(TTFT <= t), t (R, P)
        gap = (t[:, :, None] - start[:, None, None] - s[:, None, :]) / stretch[:, None, None]
        return np.sum(wt * lattice.cdf_at(gap.reshape(r, -1)).reshape(gap.shape), axis=2)

    lo = np.repeat((start + s.min(axis=1))[:, None], len(levels), 1) - 1e-9
    hi = np.repeat((start + s.max(axis=1) + stretch * lattice.h * (lattice.cdf.shape[1] - 1))[:, None], len(levels), 1)
    out = {"ttft_ms": mean, "ttft_pct": _bisect(cdf, lo, hi, levels), "ratio": ratio, "cs2": cs2, "util": rho2}
    if "tpot_ms" in f:  # agg: the decode steps carry less prefill work
        out["tpot_ms"] = f["tpot_ms"] * ((1.0 - rho) / (1.0 - rho2))
    return out


def _tpot_pct(tpot: np.ndarray, u: np.ndarray, work: np.ndarray, cs2: np.ndarray, w: Workload) -> np.ndarray:
    """TPOT percentiles (R, P) of the OSL mixture of gammas (module docstring)."""
    y, wt = w.osl.arrays()
    keep = y > 1  # a one-token answer has no TPOT
    y, wt = (y[keep], wt[keep] / wt[keep].sum()) if keep.any() else (np.array([2.0]), np.array([1.0]))
    r = len(tpot)
    work = np.broadcast_to(np.asarray(work, float), np.shape(tpot)).reshape(r)
    var = (u * tpot * work * (cs2 + w.arrival.ca2))[:, None] / (y - 1.0)[None, :]
    spread = var > 1e-12 * tpot[:, None] ** 2
    shape = np.where(spread, tpot[:, None] ** 2 / np.where(spread, var, 1.0), 1.0)
    scale = np.where(spread, var / tpot[:, None], 1.0)
    levels = np.array(PERCENTILES, float) / 100.0

    def cdf(t):  # P(TPOT <= t), t (R, P)
        g = (t[:, :, None] >= tpot[:, None, None]).astype(float)  # no spread: a step at the mean
        if spread.any():
            from scipy.special import gammainc  # imported only when some TPOT spreads (scipy costs ~0.15 s)

            spread_g = gammainc(shape[:, None, :], np.maximum(t[:, :, None], 0.0) / scale[:, None, :])
            g = np.where(spread[:, None, :], spread_g, g)
        return np.sum(wt * g, axis=2)

    sd = np.sqrt(var.max(axis=1))
    lo = np.repeat(np.maximum(tpot - 10 * sd, 0.0)[:, None], len(levels), 1)
    hi = np.repeat((tpot + 40 * sd + 1e-9)[:, None], len(levels), 1)
    return np.where(spread.any(axis=1)[:, None], _bisect(cdf, lo, hi, levels), tpot[:, None])


def _bisect(cdf, lo: np.ndarray, hi: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The smallest t in [lo, hi] with cdf(t) >= level, per row and level (arrays (R, P))."""
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        ok = cdf(mid) >= levels[None, :]
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return hi
