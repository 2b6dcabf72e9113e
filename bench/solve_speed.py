"""Solver speed on synthetic surfaces sized like a real MoE case (agg ~2000, prefill ~300, decode ~2000 rows).

Run: python bench/solve_speed.py [repeats]
Prints one line per GPU budget (8, 32, 512, 4096): best-of-N wall time of a full solve
(best agg + best disagg + both Pareto sets + top-N), solver calls and Pareto sizes. The model
size does not depend on the budget, so time should stay flat (< 3x) from 8 to 4096 GPUs.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from costmodel.surface import Candidates, Surfaces
from solver.problem import Constraints, Problem, Sla
from solver.optimize import solve

OSL, ISL = 1000, 4000


def _layouts(rng: np.random.Generator, n: int) -> list[tuple[int, int, int, int, int]]:
    """n distinct (tp, pp, dp, moe_tp, moe_ep) with 1..64 GPUs per worker."""
    out: set[tuple[int, int, int, int, int]] = set()
    while len(out) < n:
        tp, pp, dp = (int(rng.choice(v)) for v in ((1, 2, 4, 8), (1, 1, 2, 4), (1, 2, 4, 8)))
        g = tp * dp
        ep = int(rng.choice([e for e in (1, 2, 4, 8, 16, 32, 64) if g % e == 0]))
        out.add((tp, pp, dp, g // ep, ep))
    return sorted(out)


def _table(role: str, rows: list[tuple]) -> Candidates:
    a = np.array(rows, dtype=float)
    i = lambda k: a[:, k].astype(int)  # noqa: E731
    n = len(rows)
    return Candidates(
        role=role,
        tp=i(0),
        pp=i(1),
        dp=i(2),
        moe_tp=i(3),
        moe_ep=i(4),
        gpus=i(0) * i(1) * i(2),
        batch=i(5),
        ttft_ms=a[:, 6],
        tpot_ms=a[:, 7],
        req_per_s=a[:, 8],
        mem_used_frac=np.full(n, 0.5),
        max_num_tokens=np.full(n, 8192),
    )


def synthetic(seed: int = 0, gpus_per_node: int = 8) -> Surfaces:
    """Physically shaped random surfaces: latency and rate grow with batch, sub-linear GPU scaling."""
    rng = np.random.default_rng(seed)
    batches = np.unique(np.round(np.geomspace(1, 1024, 50)).astype(int))
    agg, dec, pre = [], [], []
    for lay in _layouts(rng, 42):
        tp, pp, dp, _, _ = lay
        g = tp * pp * dp
        eff = rng.uniform(0.6, 1.0) * g ** rng.uniform(0.7, 0.95)
        base = rng.uniform(6.0, 14.0) / eff**0.35
        for b in batches:
            tpot = base * (1 + b / (eff * rng.uniform(20, 40))) * rng.uniform(0.98, 1.02)
            dec.append((*lay, b, np.nan, tpot, 1000.0 * b / (OSL * tpot)))
            ttft = ISL * 0.02 * (1 + 0.2 * b) / eff
            at = tpot * rng.uniform(1.1, 1.4)
            agg.append((*lay, b, ttft, at, 1000.0 * b / (ttft + (OSL - 1) * at)))
    for lay in _layouts(rng, 75):
        g = lay[0] * lay[1] * lay[2]
        eff = rng.uniform(0.6, 1.0) * g ** rng.uniform(0.7, 0.95)
        for b in (1, 2, 4, 8):
            t = ISL * b * rng.uniform(0.01, 0.02) / eff + rng.uniform(5, 20)
            pre.append((*lay, b, 1.6 * t, np.nan, 700.0 * b / t))
    return Surfaces(
        model="synthetic-moe",
        system="synthetic",
        backend="synthetic",
        version="0",
        isl=ISL,
        osl=OSL,
        gpus_per_node=gpus_per_node,
        agg=_table("agg", agg),
        prefill=_table("prefill", pre),
        decode=_table("decode", dec),
    )


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    s = synthetic()
    print(f"rows: agg {len(s.agg)}, prefill {len(s.prefill)}, decode {len(s.decode)}")
    sla = Sla(ttft_ms=2000.0, tpot_ms=60.0)
    base = None
    for n in (8, 32, 512, 4096):
        p = Problem(surfaces=s, total_gpus=n, sla=sla, constraints=Constraints(), time_limit_s=60.0)
        best, r = float("inf"), None
        for _ in range(repeats):
            t = time.perf_counter()
            r = solve(p)
            best = min(best, time.perf_counter() - t)
        base = base or best
        d = r.best_disagg
        print(
            f"gpus {n:5d}: {best * 1e3:7.1f} ms ({best / base:4.2f}x)  solves {r.stats['solves']:4d}  "
            f"pareto agg {len(r.pareto_agg):2d} disagg {len(r.pareto_disagg):2d}  proven {r.proven_optimal}  "
            f"best disagg {d.tokens_per_s_per_gpu_given if d else float('nan'):.1f} tok/s per GPU given"
        )


if __name__ == "__main__":
    main()
