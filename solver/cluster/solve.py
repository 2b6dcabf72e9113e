"""Cluster solve: price every member on every system pair, build the CP-SAT model, optimize the objective
lexicographically (objective, then spare capacity or cost, then latency), read the placements back and
re-check them with the full cost model."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
from ortools.sat.python import cp_model

from costmodel import Surfaces
from solver.cluster.idle import idle_reasons
from solver.cluster.model import ClusterModel, build, cost_expr, goodput_expr, lat_rank_expr
from solver.cluster.options import Combo, build_combos
from solver.cluster.problem import Cluster
from solver.cluster.result import ClusterResult, Placement, PoolUse
from solver.cluster.verify import verify_cluster
from solver.constraints import ROLES
from solver.cpsat import NUM_WORKERS
from solver.units import rate_scale
from solver.verify import evaluate, verify


def price_members(c: Cluster) -> list[dict[tuple[str, str], Surfaces]]:
    """Each member's surfaces per (agg or prefill system, decode system) pair of the systems it may use."""
    from costmodel import build_pair_surfaces

    return [build_pair_surfaces(m.spec.request, m.systems) for m in c.members]


# The latency tie-break may stop early: deterministic time (not wall time) keeps its answer the same on any
# machine, and the objective stages before it are proven (or reported as not) on their own.
TIE_BREAK_DET_TIME = 0.25


def _run(
    cm: ClusterModel, c: Cluster, deadline: float, stats: dict, det_limit: float | None = None
) -> tuple[cp_model.CpSolver, str]:
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers, p.random_seed = NUM_WORKERS, c.seed
    p.max_time_in_seconds = max(deadline - time.perf_counter(), 1e-3)
    if det_limit is not None:
        p.max_deterministic_time = det_limit
    status = solver.solve(cm.model)
    if status == cp_model.MODEL_INVALID:
        raise RuntimeError(f"invalid CP-SAT model: {cm.model.validate()}")
    name = solver.status_name(status)
    stats["solver_status"][name] += 1
    return solver, name


def _hint(cm: ClusterModel, prev: cp_model.CpSolver, old: ClusterModel) -> None:
    for ci in range(len(cm.combos)):
        cm.model.add_hint(cm.on[ci], prev.boolean_value(old.on[ci]))
        for role, use in cm.use[ci].items():
            for a, b in zip(use, old.use[ci][role]):
                cm.model.add_hint(a, prev.boolean_value(b))
            for a, b in zip(cm.share[ci].get(role, ()), old.share[ci].get(role, ())):
                cm.model.add_hint(a, prev.value(b))


def _stages(c: Cluster) -> list[tuple[str, int]]:
    """(objective term, sense) in lexicographic order; sense +1 maximizes, -1 minimizes."""
    priced = c.objective == "min_cost" or (c.objective == "max_goodput" and all(p.price for p in c.pools))
    cost = ("cost", -1) if priced else ("gpus", -1)
    if c.objective == "max_goodput":
        return [("goodput", 1), cost, ("latency", -1)]
    return [cost, ("capacity", 1), ("latency", -1)]


def _term(name: str, c: Cluster, cm: ClusterModel):
    if name == "goodput":
        return goodput_expr(c, cm)
    if name in ("cost", "gpus"):
        return cost_expr(c, cm, by_price=name == "cost")
    if name == "capacity":
        return sum(cm.capacity.values())
    return lat_rank_expr(cm)


def solve_cluster(c: Cluster, surfaces: list[dict[tuple[str, str], Surfaces]] | None = None) -> ClusterResult:
    """Best placement of every member under the objective; proven_optimal False if a stage hit the time limit."""
    t0 = time.perf_counter()
    deadline = t0 + c.time_limit_s
    stats: dict = {"num_workers": NUM_WORKERS, "seed": c.seed, "solver_status": Counter()}
    surfaces = price_members(c) if surfaces is None else surfaces
    combos, why = build_combos(c, surfaces)
    stats["combos"] = len(combos)
    stats["rows"] = int(sum(len(r) for x in combos for r in x.rows.values()))
    empty = [m.name for i, m in enumerate(c.members) if not any(x.member == i for x in combos)]
    if empty:
        reasons = "; ".join(f"{n}: " + ", ".join(f"{k}: {w}" for k, w in why[n]) for n in empty)
        return _infeasible(c, t0, stats, f"no configuration meets the SLA and constraints for {reasons}")
    rates = np.concatenate(
        [x.table(r).req_per_s for x in combos if x.workers is None for r in ROLES[x.mode]] or [np.zeros(0)]
    )
    most = max((p.gpus or 10**6) for p in c.pools)
    scale = rate_scale(rates, most, 10**4 * len(c.members))
    fixed: list[tuple[str, int, int]] = []
    prev, proven, last = None, True, None
    for name, sense in _stages(c):
        cm = build(c, combos, scale)
        for term, value, s in fixed:  # earlier stages keep their optimum
            cm.model.add(_term(term, c, cm) >= value if s > 0 else _term(term, c, cm) <= value)
        expr = _term(name, c, cm)
        if isinstance(expr, int):  # nothing to choose in this stage
            continue
        (cm.model.maximize if sense > 0 else cm.model.minimize)(expr)
        if prev is not None:
            _hint(cm, *prev)
        tie_break = name == "latency"
        solver, status = _run(cm, c, deadline, stats, TIE_BREAK_DET_TIME if tie_break else None)
        if tie_break:
            stats["tie_break"] = {"OPTIMAL": "complete", "FEASIBLE": "stopped at its deterministic time limit"}.get(
                status, "no better tie found within its deterministic time limit"
            )
        if status not in ("OPTIMAL", "FEASIBLE"):
            if last is None:
                return _infeasible(
                    c,
                    t0,
                    stats,
                    _explain(c, combos)
                    if status == "INFEASIBLE"
                    else f"no placement found within the time limit ({c.time_limit_s:g} s); raise solver.time_limit_s",
                )
            proven &= tie_break  # a later stage ran out of time: keep the earlier stage's solution
            break
        if not tie_break:
            proven &= status == "OPTIMAL"
        last, prev = (solver, cm), (solver, cm)
        fixed.append((name, int(round(solver.objective_value)), sense))
    assert last is not None, "every member has a combo, so the cost stage has variables to choose"
    placements = _extract(c, *last)
    stats["solver_status"] = dict(sorted(stats["solver_status"].items()))
    stats["unused"] = idle_reasons(c, placements, combos, why)
    result = ClusterResult(
        objective=c.objective,
        placements=placements,
        pools=_pools(c, placements),
        proven_optimal=proven,
        solve_seconds=time.perf_counter() - t0,
        stats=stats,
    )
    verify_cluster(c, result)
    return result


def _extract(c: Cluster, solver: cp_model.CpSolver, cm: ClusterModel) -> tuple[Placement, ...]:
    out = []
    for ci, combo in enumerate(cm.combos):
        if not solver.boolean_value(cm.on[ci]):
            continue
        rows, workers = {}, {}
        for role in ROLES[combo.mode]:
            k = next(j for j, b in enumerate(cm.use[ci][role]) if solver.boolean_value(b))
            rows[role] = int(combo.rows[role][k])
            workers[role] = int(
                combo.workers[role][k] if combo.workers is not None else solver.value(cm.share[ci][role][k])
            )
        out.append(_placement(c, combo, rows, workers))
    return tuple(sorted(out, key=lambda p: p.member))


def _placement(c: Cluster, combo: Combo, rows: dict, workers: dict) -> Placement:
    m = c.members[combo.member]
    d = verify(combo.problem, evaluate(combo.problem, combo.mode, rows, workers, 1))
    by_system: dict[str, int] = {}
    for r, system in zip(d.roles, combo.systems):
        by_system[system] = by_system.get(system, 0) + r.workers * r.gpus_per_worker
    prices = {s: price for s in by_system if (price := c.pool(s).price) is not None}
    cost = sum(n * prices[s] for s, n in by_system.items()) if len(prices) == len(by_system) else None
    return Placement(
        name=m.name,
        model=m.spec.arch.name,
        backend=m.spec.request.backend,
        member=combo.member,
        systems=dict(zip(ROLES[combo.mode], combo.systems)),
        deployment=d,
        demand_rps=m.demand_rps,
        weight=m.weight,
        gpus_by_system=by_system,
        cost_per_hour=cost,
    )


def _pools(c: Cluster, placements: tuple[Placement, ...]) -> tuple[PoolUse, ...]:
    return tuple(
        PoolUse(p.system, sum(x.gpus_by_system.get(p.system, 0) for x in placements), p.gpus, p.price) for p in c.pools
    )


def _infeasible(c: Cluster, t0: float, stats: dict, why: str) -> ClusterResult:
    stats["solver_status"] = dict(sorted(stats["solver_status"].items()))
    return ClusterResult(
        objective=c.objective,
        placements=(),
        pools=_pools(c, ()),
        proven_optimal=True,
        solve_seconds=time.perf_counter() - t0,
        infeasible=why,
        stats=stats,
    )


def _explain(c: Cluster, combos: list[Combo]) -> str:
    """Why the pools are too small: the fewest GPUs each member needs on its own."""
    parts = []
    for i, m in enumerate(c.members):
        need = []
        for x in combos:
            if x.member != i:
                continue
            by: dict[str, int] = {}
            for role, system in zip(ROLES[x.mode], x.systems):
                t = x.table(role)
                g = (x.workers[role] * t.gpus) if x.workers is not None else t.gpus
                by[system] = by.get(system, 0) + int(g.min())
            need.append((sum(by.values()), " + ".join(f"{n} {s}" for s, n in by.items())))
        parts.append(f"{m.name} needs at least {min(need)[1]}")
    have = ", ".join(f"{p.gpus if p.gpus is not None else 'any number of'} {p.system}" for p in c.pools)
    return (
        f"the pools ({have}) cannot hold every deployment at once: "
        + "; ".join(parts)
        + ". Add GPUs to the pools, lower a demand, or relax the SLA."
    )
