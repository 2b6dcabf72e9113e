"""Brute-force enumeration of small cluster problems, in plain floats, to check the CP-SAT placement.

Every member: every combo, every row per role (unpruned) and, without demand, every worker count.
"""

from __future__ import annotations

import itertools
import math

from solver.cluster.options import build_combos
from solver.cluster.problem import Cluster
from solver.constraints import ROLES


def _choices(c: Cluster, combo) -> list[dict]:
    m = c.members[combo.member]
    per_role = []
    for role, system in zip(ROLES[combo.mode], combo.systems):
        t = combo.table(role)
        pool = c.pool(system).gpus or 10**6
        opts = []
        for k in range(len(t)):
            counts = (
                [int(combo.workers[role][k])]
                if combo.workers is not None
                else range(1, min(pool, m.max_gpus or pool) // int(t.gpus[k]) + 1)
            )
            for n in counts:
                # capacity over demand in thousandths, rounded down: the tie-break of demand-only objectives
                milli = math.floor(1000 * n * float(t.req_per_s[k]) / m.demand_rps) if m.demand_rps else 0
                opts.append(
                    (
                        role,
                        system,
                        k,
                        n,
                        n * int(t.gpus[k]),
                        n * float(t.req_per_s[k]),
                        float(t.ttft_ms[k]),
                        float(t.tpot_ms[k]),
                        milli,
                    )
                )
        per_role.append(opts)
    out = []
    limit = m.spec.sla.max_request_latency_ms
    osl = m.spec.request.osl
    for pick in itertools.product(*per_role):
        if combo.mode == "disagg" and limit is not None and not pick[0][6] + (osl - 1) * pick[1][7] <= limit:
            continue
        usage: dict[str, int] = {}
        for x in pick:
            usage[x[1]] = usage.get(x[1], 0) + x[4]
        if m.max_gpus is not None and sum(usage.values()) > m.max_gpus:
            continue
        out.append(
            {"usage": usage, "req": min(x[5] for x in pick), "member": combo.member, "milli": min(x[8] for x in pick)}
        )
    return out


def brute_force(c: Cluster, surfaces) -> tuple | None:
    """Best (objective, tie-break) tuple, larger is better, over every feasible placement; None when none exists.

    Tie-breaks: spare capacity over the demands for min_gpus/min_cost, cost (GPUs when a pool has no price) for max_goodput.
    """
    combos, _ = build_combos(c, surfaces, prune=False)
    per_member = [[o for x in combos if x.member == i for o in _choices(c, x)] for i in range(len(c.members))]
    best = None
    for pick in itertools.product(*per_member):
        usage: dict[str, int] = {}
        for o in pick:
            for s, g in o["usage"].items():
                usage[s] = usage.get(s, 0) + g
        if any(p.gpus is not None and usage.get(p.system, 0) > p.gpus for p in c.pools):
            continue
        gpus = sum(usage.values())
        cost = sum(usage.get(p.system, 0) * (p.price or 0.0) for p in c.pools)
        good = sum(
            c.members[o["member"]].weight * c.members[o["member"]].spec.request.osl * o["req"]
            for o in pick
            if c.members[o["member"]].demand_rps is None
        )
        spare = sum(o["milli"] for o in pick)
        priced = all(p.price for p in c.pools)
        key = {
            "min_gpus": (-gpus, spare),
            "min_cost": (-cost, spare),
            "max_goodput": (good, -cost if priced else -gpus),
        }[c.objective]
        best = key if best is None or key > best else best
    return best
