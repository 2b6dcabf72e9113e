"""Exhaustive reference for tests: every agg row x replicas and every disagg (row, row, x, y).

Independent of solver.constraints and solver.disagg_model: feasibility is solver.verify.check on the
deployment at replicas_min, figures are the float formulas. Same canonical order as the
solver: tokens/s per GPU given desc, then TPOT, GPUs used, TTFT (then row indices). An agg row
is deployed with as many replicas as fit; a disagg unit with replicas_min replicas.
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.pareto import MAX_PARETO
from solver.problem import Problem
from solver.result import Deployment
from solver.units import tie_key
from solver.verify import ROLES, check, evaluate


@dataclass(frozen=True)
class BruteResult:
    """Best, Pareto set and top-N per mode, as the solver reports them."""

    best_agg: Deployment | None
    best_disagg: Deployment | None
    pareto_agg: tuple[Deployment, ...]
    pareto_disagg: tuple[Deployment, ...]
    top_agg: tuple[Deployment, ...]
    top_disagg: tuple[Deployment, ...]


def _units(problem: Problem, mode: str) -> list[tuple[tuple, dict, dict]]:
    """(canonical key, rows, workers) of every feasible unit of a mode."""
    s, n, rmin = problem.surfaces, problem.total_gpus, problem.constraints.replicas_min
    out: list[tuple[tuple, dict, dict]] = []
    if mode == "agg" and s.agg is not None:
        for i in range(len(s.agg)):
            rows, w = {"agg": i}, {"agg": 1}
            if rmin * s.agg.gpus[i] <= n and not check(problem, evaluate(problem, mode, rows, w, rmin)):
                d = _deploy(problem, mode, rows, w)
                out.append(((-tie_key(d.tokens_per_s_per_gpu_given), d.tpot_ms, d.gpus_used, d.ttft_ms, i), rows, w))
    if mode == "disagg" and s.prefill is not None and s.decode is not None:
        for i in range(len(s.prefill)):
            for j in range(len(s.decode)):
                gi, gj = int(s.prefill.gpus[i]), int(s.decode.gpus[j])
                for x in range(1, n // (rmin * gi) + 1):
                    for y in range(1, (n // rmin - x * gi) // gj + 1):
                        rows, w = {"prefill": i, "decode": j}, {"prefill": x, "decode": y}
                        d = evaluate(problem, mode, rows, w, rmin)
                        if check(problem, d):
                            continue
                        key = (-tie_key(d.tokens_per_s_per_gpu_given), d.tpot_ms, d.gpus_used, d.ttft_ms, i, j, x)
                        out.append((key, rows, w))
    return sorted(out, key=lambda u: u[0])


def _deploy(problem: Problem, mode: str, rows: dict, w: dict) -> Deployment:
    """An agg row with as many replicas as every rule allows (linear scan); a disagg unit at replicas_min."""
    k, r = problem.constraints, problem.constraints.replicas_min
    while mode == "agg" and (k.replicas_max is None or r < k.replicas_max):
        if check(problem, evaluate(problem, mode, rows, w, r + 1)):
            break
        r += 1
    return evaluate(problem, mode, rows, w, r)


def _dominated(problem: Problem, role: str, rows: set[int]) -> set[int]:
    """Rows beaten within their role by another used row: same GPUs, rate >=, latencies <=."""
    t = getattr(problem.surfaces, role)
    lat = {"agg": ("ttft_ms", "tpot_ms"), "prefill": ("ttft_ms",), "decode": ("tpot_ms",)}[role]
    out = set()
    for a in rows:
        for b in rows:
            if a == b or t.gpus[a] != t.gpus[b] or t.req_per_s[b] < t.req_per_s[a]:
                continue
            if any(getattr(t, f)[b] > getattr(t, f)[a] for f in lat):
                continue
            strict = t.req_per_s[b] > t.req_per_s[a] or any(getattr(t, f)[b] < getattr(t, f)[a] for f in lat)
            if strict or b < a:
                out.add(a)
                break
    return out


def brute_force(problem: Problem) -> BruteResult:
    """Enumerate everything; only for tiny surfaces and GPU budgets."""
    res = {}
    for mode in ("agg", "disagg"):
        units = _units(problem, mode) if mode in problem.modes else []
        front: list[tuple[dict, dict]] = []
        best_tpot = float("inf")
        for key, rows, w in units:
            if key[1] < best_tpot and len(front) < MAX_PARETO:
                front.append((rows, w))
                best_tpot = key[1]
        bad = {r: _dominated(problem, r, {u[1][r] for u in units}) for r in ROLES[mode]}
        top, seen = [], set()
        for _key, rows, w in units:
            pair = tuple(rows[r] for r in ROLES[mode])
            if pair in seen or any(rows[r] in bad[r] for r in ROLES[mode]):
                continue
            seen.add(pair)
            top.append((rows, w))
        res[mode] = (
            _deploy(problem, mode, *front[0]) if front else None,
            tuple(_deploy(problem, mode, *u) for u in front),
            tuple(_deploy(problem, mode, *u) for u in top[: problem.top_n]),
        )
    return BruteResult(
        best_agg=res["agg"][0],
        best_disagg=res["disagg"][0],
        pareto_agg=res["agg"][1],
        pareto_disagg=res["disagg"][1],
        top_agg=res["agg"][2],
        top_disagg=res["disagg"][2],
    )
