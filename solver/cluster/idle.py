"""Why a cluster placement leaves GPUs of a pool unused: nothing left to serve, or no configuration fits what is left.

Read from the placement and the members' options (solver.cluster.options), after the solve; it changes nothing.
"""

from __future__ import annotations

import re

from solver.cluster.options import Combo
from solver.cluster.problem import Cluster
from solver.cluster.result import Placement
from solver.constraints import ROLES

NEEDED = {"min_cost": "least-cost", "min_gpus": "fewest-GPU", "max_goodput": "most-tokens/s"}


def idle_reasons(
    c: Cluster, placements: tuple[Placement, ...], combos: list[Combo], why: dict[str, list]
) -> dict[str, dict]:
    """{system: {"gpus": unused GPUs, "why": why they stay unused}} for every counted pool with GPUs left over.

    why: per member name, (combo label, reason) of each combo without rows (solver.cluster.options.build_combos).
    """
    out = {}
    for pool in c.pools:
        if pool.gpus is None:
            continue
        free = pool.gpus - sum(p.gpus_by_system.get(pool.system, 0) for p in placements)
        if free <= 0:
            continue
        growers = [i for i, m in enumerate(c.members) if m.demand_rps is None]
        if not growers:
            text = (
                f"nothing left to serve: every model has a demand, and the {NEEDED[c.objective]} placement that "
                "meets them all does not need these GPUs"
            )
        else:
            text = "; ".join(_why_not_grown(c, i, pool.system, free, placements, combos, why) for i in growers)
        out[pool.system] = {"gpus": free, "why": text}
    return out


def _why_not_grown(
    c: Cluster,
    i: int,
    system: str,
    free: int,
    placements: tuple[Placement, ...],
    combos: list[Combo],
    why: dict[str, list],
) -> str:
    """Why member i (a model without demand, which takes what is left) takes none of the free GPUs of a system."""
    m = c.members[i]
    if system not in m.systems:
        if system in m.excluded:  # the message of the check that left it out, without its spec location
            return f"{m.name} cannot run on {system}: {re.sub(r'^.*?, line [0-9]+: ', '', m.excluded[system])}"
        return f"{m.name} may not run on {system} (its system is {', '.join(m.systems)})"
    used = sum(sum(p.gpus_by_system.values()) for p in placements if p.member == i)
    if m.max_gpus is not None and used >= m.max_gpus:
        return f"{m.name} already uses the {m.max_gpus} GPUs its total_gpus allows"
    mine = [x for x in combos if x.member == i and system in x.systems]
    if not mine:
        reasons = [f"{label}: {r}" for label, r in why.get(m.name, []) if system in label]
        return f"no {m.name} configuration runs on {system} ({'; '.join(reasons) or 'none was priced'})"
    least = min(
        int(x.table(role).gpus.min())
        for x in mine
        for role, s in zip(ROLES[x.mode], x.systems)
        if s == system and len(x.rows[role])
    )
    if least > free:
        return f"the smallest {m.name} worker on {system} needs {least} GPUs > the {free} left"
    return (
        f"no {m.name} configuration that adds {system} workers within the {free} left raises its tokens/s "
        "(its other role, or the other pool, is the bottleneck)"
    )
