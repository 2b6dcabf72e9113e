"""Workers on nodes: workers that fit a node are packed (largest first), spanning workers take whole nodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from solver.result import Deployment


@dataclass(frozen=True)
class Slot:
    """One worker's share of one node."""

    role: str
    worker: int  # index of the worker among its role's workers
    gpus: tuple[int, ...]  # local GPU ids (CUDA_VISIBLE_DEVICES)
    nodes: tuple[int, ...]  # every node the worker spans, head first
    rank: int  # this node's rank among the worker's nodes (0 = head)
    slot: int  # index among the workers started on this node (distinct ports)

    @property
    def spans(self) -> bool:
        """True when the worker spans several nodes."""
        return len(self.nodes) > 1


@dataclass(frozen=True)
class Placement:
    """Slots per node (node i = node_i_run.sh)."""

    gpus_per_node: int
    nodes: tuple[tuple[Slot, ...], ...]

    def gpus_used(self) -> int:
        """GPUs given to workers over all nodes."""
        return sum(len(s.gpus) for node in self.nodes for s in node)

    def node_count(self, role: str) -> int:
        """Nodes one worker of a role spans."""
        return next(len(s.nodes) for node in self.nodes for s in node if s.role == role)


def gpus_per_node(spec: Any) -> int:
    """The node size the cost model priced (the request's, from constraints.topology), else the system's."""
    from costmodel import node_size

    return node_size(spec.request.system, spec.request.gpus_per_node)


def separate_roles(spec: Any) -> bool:
    """Prefill and decode never share a node: asked for, or they run on different systems."""
    t, req = spec.constraints.topology, spec.request
    return bool(t is not None and t.separate_prefill_decode_nodes) or (
        req.decode_system is not None and req.decode_system != req.system
    )


def place(dep: Deployment, gpn: int, separate: bool = False) -> Placement:
    """Assign every worker of the deployment (all replicas) to nodes of gpn GPUs."""
    workers = [(r.role, i, r.gpus_per_worker) for r in dep.roles for i in range(r.workers * dep.replicas)]
    nodes: list[list[Slot]] = []
    free: list[int] = []  # GPUs still free per node; spanning workers' nodes are closed (0)
    owner: list[str | None] = []  # role a node holds when roles are kept apart
    for role, i, g in (w for w in workers if w[2] > gpn):
        ids = tuple(range(len(nodes), len(nodes) + -(-g // gpn)))
        for rank in range(len(ids)):
            nodes.append([Slot(role, i, tuple(range(min(gpn, g - rank * gpn))), ids, rank, 0)])
            free.append(0)
            owner.append(role)
    # Largest first, stable in role order: power-of-two workers then pack nodes without holes.
    for role, i, g in sorted((w for w in workers if w[2] <= gpn), key=lambda w: -w[2]):
        n = next((k for k in range(len(nodes)) if free[k] >= g and (not separate or owner[k] == role)), None)
        if n is None:
            n = len(nodes)
            nodes.append([])
            free.append(gpn)
            owner.append(role)
        start = gpn - free[n]
        nodes[n].append(Slot(role, i, tuple(range(start, start + g)), (n,), 0, len(nodes[n])))
        free[n] -= g
    return Placement(gpn, tuple(tuple(n) for n in nodes))
