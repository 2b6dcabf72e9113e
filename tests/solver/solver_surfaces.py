"""Synthetic candidate tables for the solver tests: seeded, shaped like the cost model's output."""

from __future__ import annotations

import numpy as np

from costmodel.surface import Candidates, Surfaces
from solver.problem import Constraints, Problem, Sla, Topology
from solver.units import tie_key

DENSE_LAYOUTS = [(1, 1, 1, 1, 1), (2, 1, 1, 1, 1), (4, 1, 1, 1, 1), (8, 1, 1, 1, 1), (2, 2, 1, 1, 1), (4, 2, 1, 1, 1)]
MOE_LAYOUTS = [
    (1, 1, 2, 1, 2),
    (2, 1, 2, 2, 2),
    (1, 1, 4, 1, 4),
    (2, 1, 4, 4, 2),
    (1, 1, 8, 1, 8),
    (4, 1, 1, 1, 4),
    (4, 1, 4, 2, 8),
    (8, 1, 2, 2, 8),
]


def candidates(role: str, rows: list[dict]) -> Candidates:
    """A Candidates table from row dicts (missing latencies are nan, as the cost model emits)."""
    col = lambda k, d=np.nan, t=float: np.array([r.get(k, d) for r in rows], dtype=t)  # noqa: E731
    tp, pp, dp = col("tp", 1, int), col("pp", 1, int), col("dp", 1, int)
    gpus = np.array([r.get("gpus", r.get("tp", 1) * r.get("pp", 1) * r.get("dp", 1)) for r in rows], dtype=int)
    return Candidates(
        role=role,
        tp=tp,
        pp=pp,
        dp=dp,
        moe_tp=col("moe_tp", 1, int),
        moe_ep=col("moe_ep", 1, int),
        gpus=gpus,
        batch=col("batch", 1, int),
        ttft_ms=col("ttft_ms"),
        tpot_ms=col("tpot_ms"),
        req_per_s=col("req_per_s"),
        mem_used_frac=col("mem", 0.5),
        max_num_tokens=col("mnt", 8192, int),
    )


def surfaces(agg, prefill, decode, osl: int = 100, isl: int = 1000, gpus_per_node: int = 8) -> Surfaces:
    """Surfaces around three tables (any may be None)."""
    return Surfaces(
        model="synthetic",
        system="synthetic",
        backend="synthetic",
        version="0",
        isl=isl,
        osl=osl,
        gpus_per_node=gpus_per_node,
        agg=agg,
        prefill=prefill,
        decode=decode,
    )


def synthetic(
    seed: int,
    moe: bool = False,
    batches=(1, 2, 4, 8, 16, 32),
    prefill_batches=(1, 2, 4),
    layouts=None,
    osl: int = 200,
    isl: int = 2000,
    gpus_per_node: int = 8,
) -> Surfaces:
    """Random but physically shaped surfaces: rates and latencies grow with batch, scale with GPUs."""
    rng = np.random.default_rng(seed)
    lays = layouts or (MOE_LAYOUTS if moe else DENSE_LAYOUTS)
    rnd = float
    agg, pre, dec = [], [], []
    for tp, pp, dp, mtp, mep in lays:
        g = tp * pp * dp
        lay = dict(tp=tp, pp=pp, dp=dp, moe_tp=mtp, moe_ep=mep)
        eff = rng.uniform(0.6, 1.0) * g ** rng.uniform(0.7, 0.95)  # sub-linear scaling with GPUs
        base = rng.uniform(4.0, 12.0) * (1.3 if pp > 1 else 1.0)
        for b in batches:
            tpot = rnd(base * (1 + b / (eff * rng.uniform(6, 14))) / eff**0.3)
            dec.append(dict(lay, batch=b, tpot_ms=tpot, req_per_s=rnd(1000.0 * b * dp / (osl * tpot))))
            ttft = rnd(isl * rng.uniform(0.02, 0.05) * (1 + 0.3 * b) / eff)
            agg_tpot = rnd(tpot * rng.uniform(1.1, 1.5))
            agg.append(
                dict(
                    lay,
                    batch=b,
                    ttft_ms=ttft,
                    tpot_ms=agg_tpot,
                    req_per_s=rnd(1000.0 * b * dp / (ttft + (osl - 1) * agg_tpot)),
                )
            )
        for b in prefill_batches:
            t = isl * b * rng.uniform(0.01, 0.03) / eff + rng.uniform(5, 20)
            pre.append(dict(lay, batch=b, ttft_ms=rnd(1.6 * t), req_per_s=rnd(1000.0 * b * dp / t * 0.7)))
    return surfaces(
        candidates("agg", agg),
        candidates("prefill", pre),
        candidates("decode", dec),
        osl=osl,
        isl=isl,
        gpus_per_node=gpus_per_node,
    )


def tiny() -> Surfaces:
    """Hand-made: the answers are worked out in test_optimize.py."""
    agg = candidates(
        "agg",
        [
            dict(tp=1, batch=4, ttft_ms=200.0, tpot_ms=30.0, req_per_s=0.5),
            dict(tp=2, batch=8, ttft_ms=300.0, tpot_ms=40.0, req_per_s=1.6),
            dict(tp=4, batch=8, ttft_ms=250.0, tpot_ms=50.0, req_per_s=2.0),
        ],
    )
    pre = candidates(
        "prefill", [dict(tp=1, batch=1, ttft_ms=100.0, req_per_s=2.0), dict(tp=2, batch=1, ttft_ms=80.0, req_per_s=5.0)]
    )
    dec = candidates(
        "decode", [dict(tp=1, batch=8, tpot_ms=10.0, req_per_s=1.0), dict(tp=2, batch=16, tpot_ms=20.0, req_per_s=3.0)]
    )
    return surfaces(agg, pre, dec, osl=100, gpus_per_node=8)


def make_problem(
    surfaces: Surfaces,
    total_gpus: int,
    sla: Sla | None = None,
    topology: Topology | None = None,
    modes=("agg", "disagg"),
    **constraints,
) -> Problem:
    """A Problem with keyword constraints (replicas_min=2, role_gpu_budget={...}, ...)."""
    return Problem(
        surfaces=surfaces,
        total_gpus=total_gpus,
        sla=sla or Sla(),
        constraints=Constraints(topology=topology, **constraints),
        modes=modes,
        time_limit_s=60.0,
    )


def sig(d):
    """What must agree between the solver and brute force (rows may differ only on exact ties)."""
    if d is None:
        return None
    return (tie_key(d.tokens_per_s_per_gpu), d.tpot_ms, d.gpus_used, d.ttft_ms, d.replicas)


def assert_same(result, brute) -> None:
    """Best, Pareto and top-N of both modes agree."""
    for name in ("best_agg", "best_disagg"):
        assert sig(getattr(result, name)) == sig(getattr(brute, name)), name
    for name in ("pareto_agg", "pareto_disagg", "top_agg", "top_disagg"):
        assert [sig(d) for d in getattr(result, name)] == [sig(d) for d in getattr(brute, name)], name
