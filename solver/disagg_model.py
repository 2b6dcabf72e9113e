"""CP-SAT model of one disagg unit (x prefill workers of row i + y decode workers of row j): build only.
The deployment is replicas_min copies of the unit, so the unit's rate is its tokens/s on the GPUs given.

One-hot Booleans pick a row per role; integer shares z[k] <= cap[k]*use[k] with sum z = count
linearise workers x row. thr <= sum(rate*z) for both roles makes thr the unit's request rate
(scaled ints, solver.units). Objectives (Dinkelbach steps, tie-breaks) are set by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from costmodel import Candidates
from solver.constraints import ROLES, apply_all, node_budget
from solver.problem import Problem
from solver.units import scaled


@dataclass(frozen=True)
class Unit:
    """A model-space solution: original row per role, workers per role, scaled rate, GPUs."""

    rows: tuple[int, int]  # (prefill row, decode row) in the Surfaces tables
    workers: tuple[int, int]
    thr: int  # min(x * P_i, y * D_j) in scaled units
    gpus: int  # x * g_i + y * g_j (one replica)

    def beats(self, other: Unit | None) -> bool:
        """Strictly higher throughput on the GPUs given (exact integer comparison)."""
        return other is None or self.thr > other.thr


@dataclass
class UnitModel:
    """The built model and the handles the caller needs."""

    model: cp_model.CpModel
    index: dict[str, np.ndarray]  # model row k of a role -> row in the Surfaces table
    tables: dict[str, Candidates]
    rate: dict[str, np.ndarray]  # scaled request rates per model row
    use: dict[str, list]
    count: dict[str, Any]
    share: dict[str, list]
    thr: Any
    gpus: Any  # LinearExpr: GPUs of one replica
    max_gpus: int


class ModelScope:
    """Constraint kinds as CP-SAT constraints over the unit x replicas_min (see solver.constraints)."""

    def __init__(self, problem: Problem, um: UnitModel):
        self.problem, self.mode, self.roles, self.um = problem, "disagg", ROLES["disagg"], um
        self.rmin = problem.constraints.replicas_min

    def rows(self, role: str) -> Candidates:
        return self.um.tables[role]

    def keep_rows(self, role: str, mask: np.ndarray, why) -> None:
        for k in np.flatnonzero(~np.asarray(mask, bool)):  # normally none: rows arrive filtered
            self.um.model.add(self.um.use[role][k] == 0)

    def gpus(self, role: str | None = None):
        roles = self.roles if role is None else (role,)
        g = [int(v) for r in roles for v in self.um.tables[r].gpus]
        z = [v for r in roles for v in self.um.share[r]]
        return self.rmin * cp_model.LinearExpr.weighted_sum(z, g)

    def whole_nodes(self, gpus):
        n = self.um.model.new_int_var(0, node_budget(self.problem), "nodes")
        self.um.model.add(self.problem.topology().gpus_per_node * n >= gpus)
        return n

    def pick(self, role: str, values: np.ndarray):
        return cp_model.LinearExpr.weighted_sum(self.um.use[role], [int(v) for v in values])

    def replicas(self) -> int:
        return self.rmin

    def require(self, cond, why) -> None:
        if isinstance(cond, (bool, np.bool_)):
            if not cond:
                self.um.model.add_bool_or([])  # an empty clause: the model is infeasible
            return
        self.um.model.add(cond)


def role_gpu_cap(problem: Problem, role: str) -> int:
    """GPUs one replica's workers of a role may use (total, role and node budgets / replicas_min)."""
    k, t = problem.constraints, problem.topology()
    cap = min(problem.total_gpus, k.role_gpu_budget.get(role, problem.total_gpus))
    if t.max_nodes is not None:
        cap = min(cap, t.max_nodes * t.gpus_per_node)
    return cap // k.replicas_min


def build(problem: Problem, tables: dict[str, Candidates], index: dict[str, np.ndarray], scale: float) -> UnitModel:
    """The disagg unit model over the given (filtered, pruned) rows."""
    m = cp_model.CpModel()
    max_gpus = problem.total_gpus // problem.constraints.replicas_min
    um = UnitModel(m, index, tables, {}, {}, {}, {}, None, None, max_gpus)
    bound = {}
    for role in ROLES["disagg"]:
        t = tables[role]
        caps = role_gpu_cap(problem, role) // t.gpus
        um.rate[role] = scaled(t.req_per_s, scale)
        um.use[role] = [m.new_bool_var(f"{role[0]}{k}") for k in range(len(t))]
        um.share[role] = [m.new_int_var(0, int(c), f"z{role[0]}{k}") for k, c in enumerate(caps)]
        um.count[role] = m.new_int_var(1, max(int(caps.max(initial=1)), 1), role)
        m.add_exactly_one(um.use[role])
        for z, b, c in zip(um.share[role], um.use[role], caps):
            m.add(z <= int(c) * b)
        m.add(sum(um.share[role]) == um.count[role])
        bound[role] = int((caps * um.rate[role]).max(initial=0))
    # thr = min(prefill rate, decode rate) exactly: a mere thr <= both leaves CP-SAT a huge slack
    # domain to creep through one unit per improving solution.
    um.thr = m.new_int_var(0, min(bound.values()), "thr")
    sides = []
    for role in ROLES["disagg"]:
        side = m.new_int_var(0, bound[role], f"rate_{role}")
        m.add(side == cp_model.LinearExpr.weighted_sum(um.share[role], [int(v) for v in um.rate[role]]))
        sides.append(side)
    m.add_min_equality(um.thr, sides)
    um.gpus = cp_model.LinearExpr.weighted_sum(
        um.share["prefill"] + um.share["decode"],
        [int(v) for v in tables["prefill"].gpus] + [int(v) for v in tables["decode"].gpus],
    )
    apply_all(ModelScope(problem, um))
    return um


def maximize_throughput(um: UnitModel) -> None:
    """The objective: the unit's request rate, i.e. the deployment's tokens/s on the GPUs given."""
    um.model.maximize(um.thr)


def exclude_pair(um: UnitModel, rows: tuple[int, int]) -> None:
    """Forbid one (prefill row, decode row) pair, if both rows are in the model."""
    ks = [np.flatnonzero(um.index[r] == v) for r, v in zip(ROLES["disagg"], rows)]
    if all(len(k) for k in ks):
        um.model.add_bool_or([um.use["prefill"][int(ks[0][0])].negated(), um.use["decode"][int(ks[1][0])].negated()])


def settle(um: UnitModel, lower: Unit) -> None:
    """One solve that either finds a strictly higher rate or proves ``lower``'s rate optimal and
    breaks its ties: T >= lower's; ``better`` => T > lower's; minimize
    (not better, decode TPOT, GPUs, prefill TTFT) lexicographically (dense ranks, exact weights).
    """
    diff = um.thr - lower.thr
    um.model.add(diff >= 0)
    better = um.model.new_bool_var("better")
    um.model.add(diff >= 1).only_enforce_if(better)
    tr = np.unique(um.tables["decode"].tpot_ms, return_inverse=True)[1]
    fr = np.unique(um.tables["prefill"].ttft_ms, return_inverse=True)[1]
    w_gpus = int(fr.max(initial=0)) + 1
    w_tpot = (um.max_gpus + 1) * w_gpus
    w_better = (int(tr.max(initial=0)) + 1) * w_tpot
    um.model.minimize(
        w_tpot * cp_model.LinearExpr.weighted_sum(um.use["decode"], [int(v) for v in tr])
        + w_gpus * um.gpus
        - w_better * better
        + cp_model.LinearExpr.weighted_sum(um.use["prefill"], [int(v) for v in fr])
    )


def add_hint(um: UnitModel, unit: Unit | None) -> None:
    """Hint a known unit (e.g. the previous Pareto point) if its rows are in the model."""
    if unit is None:
        return
    for role, row in zip(ROLES["disagg"], unit.rows):
        if not (um.index[role] == row).any():
            return
    for role, row, w in zip(ROLES["disagg"], unit.rows, unit.workers):
        k = int(np.flatnonzero(um.index[role] == row)[0])
        for j, (b, z) in enumerate(zip(um.use[role], um.share[role])):
            um.model.add_hint(b, j == k)
            um.model.add_hint(z, w if j == k else 0)
        um.model.add_hint(um.count[role], w)
