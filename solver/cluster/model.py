"""The cluster's CP-SAT model: build only (objectives are set by the caller, solution read by solver.cluster.solve).

Per member one Boolean per combo (exactly one is on) and per role a one-hot row choice inside
the combo. A member sized to a demand has a fixed worker count per row, so a row costs a
constant number of GPUs; a member without demand picks its worker count (integer shares
z[k] <= cap[k] * use[k]) and its request rate thr is at most each side's sum(rate * z).
Pools cap the GPUs of every role placed on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from solver.cluster.options import LAT, Combo
from solver.cluster.problem import Cluster, Pool
from solver.constraints import ROLES, latency_ranks

WEIGHT_UNITS = 10**4  # the largest member weight x osl maps to this many integer units
MILLI = 1000  # prices and margins in thousandths


@dataclass
class ClusterModel:
    """The built model and the handles the objectives and the extraction need."""

    model: cp_model.CpModel
    combos: list[Combo]
    scale: float
    on: list[Any] = field(default_factory=list)  # per combo
    use: list[dict[str, list]] = field(default_factory=list)  # per combo, role -> Booleans per kept row
    share: list[dict[str, list]] = field(default_factory=list)  # per combo, role -> worker counts (free members)
    gpus: dict[str, Any] = field(default_factory=dict)  # pool system -> LinearExpr of GPUs used
    thr: dict[int, Any] = field(default_factory=dict)  # free member -> scaled request rate
    capacity: dict[int, Any] = field(default_factory=dict)  # demand member -> capacity / demand in MILLI


def _floor_rates(rates: np.ndarray, scale: float) -> np.ndarray:
    # Rounded down: a scaled rate never overstates what the workers serve, so a met floor is met in floats.
    return np.maximum(np.floor(np.asarray(rates, float) * scale), 0).astype(np.int64)


def weights(c: Cluster) -> dict[int, int]:
    """Integer objective weight of each free member (weight x osl, the largest at WEIGHT_UNITS)."""
    raw = {i: m.weight * m.spec.request.osl for i, m in enumerate(c.members) if m.demand_rps is None}
    top = max(raw.values(), default=1.0)
    return {i: max(1, round(WEIGHT_UNITS * w / top)) for i, w in raw.items()}


def build(c: Cluster, combos: list[Combo], scale: float) -> ClusterModel:
    """The model over the given combos (every member has at least one)."""
    m = cp_model.CpModel()
    cm = ClusterModel(m, combos, scale)
    terms: dict[str, list] = {p.system: [] for p in c.pools}
    member_terms: dict[int, list] = {i: [] for i in range(len(c.members))}
    sides: dict[int, dict[int, list]] = {}  # free member -> side (0: agg/prefill, 1: agg/decode) -> rate terms
    caps: dict[int, dict[int, list]] = {}  # demand member -> side -> capacity terms (MILLI x capacity / demand)
    bounds: dict[int, int] = {}  # free member -> upper bound of its scaled rate
    for ci, combo in enumerate(combos):
        on = m.new_bool_var(f"on{ci}")
        cm.on.append(on)
        cm.use.append({})
        cm.share.append({})
        for side, (role, system) in enumerate(zip(ROLES[combo.mode], combo.systems)):
            t = combo.table(role)
            use = [m.new_bool_var(f"u{ci}{role[0]}{k}") for k in range(len(t))]
            m.add(sum(use) == on)
            cm.use[ci][role] = use
            pool = c.pool(system).gpus
            if combo.workers is not None:
                need = combo.workers[role] * t.gpus
                expr = cp_model.LinearExpr.weighted_sum(use, [int(v) for v in need])
                cap_milli = np.floor(MILLI * combo.workers[role] * t.req_per_s / c.members[combo.member].demand_rps)
                cap = cp_model.LinearExpr.weighted_sum(use, [int(v) for v in cap_milli])
                for s in (0, 1) if combo.mode == "agg" else (side,):  # as for thr: agg rows feed both sides
                    caps.setdefault(combo.member, {0: [], 1: []})[s].append(cap)
            else:
                limit = min(pool or 10**6, c.members[combo.member].max_gpus or 10**6)
                hi = [int(limit // g) for g in t.gpus]
                z = [m.new_int_var(0, h, f"z{ci}{role[0]}{k}") for k, h in enumerate(hi)]
                for zk, uk, h in zip(z, use, hi):
                    m.add(zk <= h * uk)
                    m.add(zk >= uk)
                cm.share[ci][role] = z
                expr = cp_model.LinearExpr.weighted_sum(z, [int(g) for g in t.gpus])
                r = _floor_rates(t.req_per_s, scale)
                rate = cp_model.LinearExpr.weighted_sum(z, [int(v) for v in r])
                bounds[combo.member] = bounds.get(combo.member, 0) + int(max(int(a) * b for a, b in zip(r, hi)))
                for s in (0, 1) if combo.mode == "agg" else (side,):
                    sides.setdefault(combo.member, {0: [], 1: []})[s].append(rate)
            terms[system].append(expr)
            member_terms[combo.member].append(expr)
        _request_latency(cm, ci, combo)
    for i in range(len(c.members)):
        m.add_exactly_one([cm.on[ci] for ci, x in enumerate(combos) if x.member == i])
        if c.members[i].max_gpus is not None:
            m.add(sum(member_terms[i]) <= c.members[i].max_gpus)
    for p in c.pools:
        cm.gpus[p.system] = sum(terms[p.system]) if terms[p.system] else 0
        if p.gpus is not None and terms[p.system]:
            m.add(cm.gpus[p.system] <= p.gpus)
    for i, sd in sides.items():
        cm.thr[i] = m.new_int_var(1, max(bounds[i], 1), f"thr{i}")
        for s in (0, 1):
            m.add(cm.thr[i] <= sum(sd[s]))
    for i, per_role in caps.items():
        cm.capacity[i] = m.new_int_var(0, 10**12, f"cap{i}")
        for exprs in per_role.values():
            m.add(cm.capacity[i] <= sum(exprs))
    return cm


def _request_latency(cm: ClusterModel, ci: int, combo: Combo) -> None:
    """Disagg: ttft(prefill row) + (osl - 1) tpot(decode row) <= bound, as integer TPOT ranks (exact)."""
    limit = combo.problem.sla.max_request_latency_ms
    if combo.mode != "disagg" or limit is None:
        return
    p, d = combo.table("prefill"), combo.table("decode")
    kmax, rank = latency_ranks(p.ttft_ms, d.tpot_ms, combo.problem.surfaces.osl, limit)
    cm.model.add(
        cp_model.LinearExpr.weighted_sum(cm.use[ci]["decode"], [int(v) for v in rank])
        <= cp_model.LinearExpr.weighted_sum(cm.use[ci]["prefill"], [int(v) for v in kmax])
    )


def cost_expr(c: Cluster, cm: ClusterModel, by_price: bool):
    """GPUs used, each weighted by its pool's price in MILLI units (by_price) or 1."""

    def weight(p: Pool) -> int:
        if not by_price:
            return 1
        if p.price is None:  # the spec prices every pool of a cost objective (cluster.spec)
            raise ValueError(f"pool {p.system} has no price")
        return round(MILLI * p.price)

    return sum(weight(p) * cm.gpus[p.system] for p in c.pools if not isinstance(cm.gpus[p.system], int))


def goodput_expr(c: Cluster, cm: ClusterModel):
    """Weighted scaled output tokens/s of the members without demand."""
    w = weights(c)
    return sum(w[i] * cm.thr[i] for i in cm.thr)


def lat_rank_expr(cm: ClusterModel):
    """Sum of each chosen row's latency rank within its combo's role (lower = faster): the last tie-break."""
    terms = []
    for ci, combo in enumerate(cm.combos):
        for role, use in cm.use[ci].items():
            r = np.unique(getattr(combo.table(role), LAT[role]), return_inverse=True)[1]
            terms.append(cp_model.LinearExpr.weighted_sum(use, [int(v) for v in r]))
    return sum(terms)
