"""Cluster-level checks in plain float arithmetic, independent of the CP-SAT model: pools, caps, demands."""

from __future__ import annotations

from solver.cluster.problem import Cluster
from solver.cluster.result import ClusterResult
from solver.verify import VerificationError


def check_cluster(c: Cluster, r: ClusterResult) -> list[str]:
    """Every cluster rule the result breaks (each placement was verified against its own SLA already)."""
    bad = []
    if sorted(p.member for p in r.placements) != list(range(len(c.members))):
        bad.append("not every deployment is placed exactly once")
    for pool in c.pools:
        used = sum(p.gpus_by_system.get(pool.system, 0) for p in r.placements)
        if pool.gpus is not None and used > pool.gpus:
            bad.append(f"{pool.system}: {used} GPUs used > {pool.gpus}")
    for p in r.placements:
        m = c.members[p.member]
        if p.deployment.gpus_used != sum(p.gpus_by_system.values()):
            bad.append(f"{p.name}: GPUs by system do not add up")
        if m.demand_rps is not None and not p.deployment.req_per_s >= m.demand_rps:
            bad.append(f"{p.name}: serves {p.deployment.req_per_s} requests/s < demand {m.demand_rps}")
        if m.max_gpus is not None and p.deployment.gpus_used > m.max_gpus:
            bad.append(f"{p.name}: {p.deployment.gpus_used} GPUs > its total_gpus {m.max_gpus}")
        if any(s not in m.systems for s in p.systems.values()):
            bad.append(f"{p.name}: placed on a system it may not use")
    return bad


def verify_cluster(c: Cluster, r: ClusterResult) -> ClusterResult:
    """Return r unchanged if it meets every cluster rule, else raise VerificationError."""
    bad = check_cluster(c, r)
    if bad:
        raise VerificationError("cluster placement: " + "; ".join(bad))
    return r
