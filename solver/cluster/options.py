"""Each model's possible configurations on the cluster: one ``Combo`` per (mode, systems), with its rows.

A combo is a one-model Problem over the surfaces of its system pair, filtered by the same
constraint functions as a one-model solve (solver.constraints), then pruned to rows that can
be optimal: for a model sized to a demand the rows on the (GPUs needed, capacity, latency)
Pareto front; for a model that takes what is left the fastest row of each worker size (rows of one
size are interchangeable one for one), or the (rate, latency) front of each size when a
request-latency bound ties its prefill and decode rows together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel import Candidates, Surfaces
from solver.cluster.problem import Cluster, Member
from solver.constraints import ROLES, FilterScope
from solver.pareto import undominated
from solver.problem import Constraints, Problem, Topology

LAT = {"agg": "tpot_ms", "prefill": "ttft_ms", "decode": "tpot_ms"}
_OPEN = 1_000_000  # GPUs of an uncounted pool, as far as the one-model filters are concerned


@dataclass(frozen=True)
class Combo:
    """One configuration family of a member: mode, system per role, and the rows the model may pick."""

    member: int
    mode: str
    systems: tuple[str, ...]  # per role of ROLES[mode]
    problem: Problem  # the one-model problem these rows index (evaluate / verify read it)
    rows: dict[str, np.ndarray]  # kept row ids per role, into problem.surfaces tables
    workers: dict[str, np.ndarray] | None  # demand members: workers each kept row needs; else None

    @property
    def label(self) -> str:
        """e.g. "agg on h200_sxm" or "disagg h100_sxm→h200_sxm"."""
        return f"agg on {self.systems[0]}" if self.mode == "agg" else f"disagg {self.systems[0]}→{self.systems[1]}"

    def table(self, role: str) -> Candidates:
        """The kept rows of a role."""
        return getattr(self.problem.surfaces, role).take(self.rows[role])


def workers_for(demand: float, rate: np.ndarray) -> np.ndarray:
    """Fewest workers of each row that serve ``demand`` requests/s (exact in floats: n * rate >= demand)."""
    n = np.maximum(np.ceil(demand / rate), 1.0)
    return (n + (n * rate < demand)).astype(np.int64)


def _front(need: np.ndarray, capacity: np.ndarray, *lat: np.ndarray) -> np.ndarray:
    """Ids not dominated in (GPUs needed, capacity, latencies): every objective and tie-break a demand
    member's row enters (fewer GPUs, more spare capacity, lower latency). Exact duplicates keep the lowest id."""
    better = [need, -capacity, *lat]  # lower is better in each
    le = np.ones((len(need),) * 2, bool)
    lt = np.zeros_like(le)
    for x in better:
        le &= x[:, None] <= x[None, :]  # [j, i]: j at least as good as i
        lt |= x[:, None] < x[None, :]
    ids = np.arange(len(need))
    dominated = (le & (lt | (ids[:, None] < ids[None, :]))).any(axis=0)
    return np.flatnonzero(~dominated)


def _problem(c: Cluster, m: Member, mode: str, systems: tuple[str, ...], s: Surfaces) -> Problem:
    pools = {name: c.pool(name).gpus or _OPEN for name in systems}
    total = sum(pools.values()) if len(pools) > 1 else next(iter(pools.values()))
    k = m.spec.constraints
    within = bool(k.topology and k.topology.worker_within_node)
    budget = dict(zip(ROLES[mode], (pools[name] for name in systems))) if len(pools) > 1 else {}
    cons = Constraints(
        topology=Topology(gpus_per_node=c.pool(systems[0]).gpus_per_node, worker_within_node=within),
        max_gpus_per_worker=k.max_gpus_per_worker,
        fixed=k.fixed,
        role_gpu_budget=budget,
    )
    return Problem(
        surfaces=s,
        total_gpus=min(total, m.max_gpus or total),
        sla=m.spec.sla,
        constraints=cons,
        modes=(mode,),
        time_limit_s=c.time_limit_s,
        seed=c.seed,
    )


def _combos(
    c: Cluster, i: int, mode: str, systems: tuple[str, ...], s: Surfaces, prune: bool = True
) -> tuple[list[Combo], str | None]:
    """The member's combos of one (mode, systems): one, or one per attention TP where the backend hands the KV
    cache only between equal attention TP (each combo's rows then pair freely)."""
    p = _problem(c, c.members[i], mode, systems, s)
    fs = FilterScope(p, mode).run()
    if fs.reason:
        return [], fs.reason
    tables = {r: (fs.tables[r], fs.index[r]) for r in ROLES[mode]}
    if mode == "agg" or not s.equal_attention_tp:
        groups = [tables]
    else:
        tps = sorted(set(fs.tables["prefill"].tp.tolist()) & set(fs.tables["decode"].tp.tolist()))
        groups = [
            {r: (t.take(np.flatnonzero(t.tp == tp)), idx[t.tp == tp]) for r, (t, idx) in tables.items()} for tp in tps
        ]
    out, why = [], None
    for g in groups:
        combo, reason = _combo(c, i, mode, systems, p, g, prune)
        out += [combo] if combo is not None else []
        why = why or reason
    return out, None if out else why


def _combo(
    c: Cluster, i: int, mode: str, systems: tuple[str, ...], p: Problem, tables: dict, prune: bool
) -> tuple[Combo | None, str | None]:
    m = c.members[i]
    rows, workers = {}, {}
    for role, system in zip(ROLES[mode], systems):
        t, idx = tables[role]
        gpn = c.pool(system).gpus_per_node
        # Worker sizes that divide a node or fill whole nodes pack into nodes exactly, so a pool's GPU
        # count is its only capacity constraint.
        ok = (gpn % t.gpus == 0) | (t.gpus % gpn == 0)
        if m.spec.constraints.topology and m.spec.constraints.topology.worker_within_node:
            ok &= t.gpus <= gpn
        t, idx = t.take(np.flatnonzero(ok)), idx[ok]
        if not len(t):
            return None, f"no {role} worker size packs into {gpn}-GPU {system} nodes"
        lat = [getattr(t, LAT[role])] + ([t.ttft_ms] if role == "agg" else [])
        if m.demand_rps is not None:
            n = workers_for(m.demand_rps, t.req_per_s)
            need = n * t.gpus
            cap = c.pool(system).gpus or _OPEN
            fits = need <= min(cap, m.max_gpus or cap)
            if not fits.any():
                return None, (
                    f"{role} workers need at least {int(need.min())} {system} GPUs for "
                    f"{m.demand_rps:.4g} requests/s > {min(cap, m.max_gpus or cap)}"
                )
            keep = np.flatnonzero(fits)
            keep = keep[_front(need[fits], (n * t.req_per_s)[fits], *(x[fits] for x in lat))] if prune else keep
            workers[role] = n[keep]
        elif not prune:
            keep = np.arange(len(t))
        elif mode == "disagg" and m.spec.sla.max_request_latency_ms is not None:
            keep = np.flatnonzero(undominated(t.gpus, t.req_per_s, *lat))  # latency pairs prefill with decode
        else:  # workers of one size are interchangeable: only the fastest row of each size can be optimal
            best = {g: t.req_per_s[t.gpus == g].max() for g in np.unique(t.gpus)}
            keep = np.flatnonzero(t.req_per_s >= np.array([best[g] for g in t.gpus]))
        rows[role] = idx[keep]
    return Combo(i, mode, systems, p, rows, workers if m.demand_rps is not None else None), None


def build_combos(
    c: Cluster, surfaces: list[dict[tuple[str, str], Surfaces]], prune: bool = True
) -> tuple[list[Combo], dict[str, list]]:
    """Every member's combos (surfaces[i]: member i's surfaces per system pair) and, per member, why
    each missing combo has no rows; prune=False keeps every row the rules allow (for enumeration)."""
    combos: list[Combo] = []
    why: dict[str, list] = {}
    for i, m in enumerate(c.members):
        why[m.name] = []
        for (a, b), s in surfaces[i].items():
            for mode in m.spec.request.modes:
                if mode == "agg" and a != b:
                    continue
                systems = (a,) if mode == "agg" else (a, b)
                found, reason = _combos(c, i, mode, systems, s, prune)
                if not found:
                    why[m.name].append((f"{mode} on {'→'.join(systems)}", reason))
                combos += found
    return combos, why
