"""What a cluster solve reports: one placement per model and the pools' use, with full-cost-model figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from solver.result import Deployment, json_ready


@dataclass(frozen=True)
class Placement:
    """One model's deployment: which systems its roles run on and the figures of the full cost model."""

    name: str
    model: str
    backend: str
    member: int  # index into Cluster.members
    systems: dict[str, str]  # role -> system
    deployment: Deployment
    demand_rps: float | None
    weight: float
    gpus_by_system: dict[str, int]
    cost_per_hour: float | None  # None when a pool it uses has no price

    @property
    def margin(self) -> float | None:
        """Spare capacity over the demand (0.25 = 25 % more requests/s than asked); None without demand."""
        return None if self.demand_rps is None else self.deployment.req_per_s / self.demand_rps - 1.0

    def to_dict(self) -> dict:
        """JSON-ready view."""
        d = self.deployment
        return {
            "name": self.name,
            "model": self.model,
            "backend": self.backend,
            "mode": d.mode,
            "systems": self.systems,
            "gpus_by_system": self.gpus_by_system,
            "demand_rps": self.demand_rps,
            "capacity_rps": d.req_per_s,
            "margin": self.margin,
            "weight": self.weight,
            "cost_per_hour": self.cost_per_hour,
            "deployment": d.to_dict(),
        }


@dataclass(frozen=True)
class PoolUse:
    """GPUs of one system: used by the placements, available (None: uncounted), price per GPU-hour."""

    system: str
    used: int
    available: int | None
    price: float | None


@dataclass(frozen=True)
class ClusterResult:
    """Placements (empty when infeasible, with ``infeasible`` saying why) and the pools' totals."""

    objective: str
    placements: tuple[Placement, ...]
    pools: tuple[PoolUse, ...]
    proven_optimal: bool
    solve_seconds: float
    infeasible: str | None = None
    stats: dict = field(default_factory=dict)

    @property
    def gpus_used(self) -> int:
        """GPUs of every pool together."""
        return sum(p.used for p in self.pools)

    @property
    def cost_per_hour(self) -> float | None:
        """Price of the GPUs used per hour; None unless every used pool has a price."""
        if any(p.price is None and p.used for p in self.pools):
            return None
        return sum(p.used * (p.price or 0.0) for p in self.pools)

    @property
    def weighted_tokens_per_s(self) -> float:
        """Sum of weight x output tokens/s over the models without demand (what max_goodput maximizes)."""
        return sum(p.weight * p.deployment.tokens_per_s for p in self.placements if p.demand_rps is None)

    def to_dict(self) -> dict:
        """JSON-ready dict with deterministic ordering (all but solve_seconds repeat exactly)."""
        return {
            "objective": self.objective,
            "proven_optimal": self.proven_optimal,
            "infeasible": self.infeasible,
            "gpus_used": self.gpus_used,
            "cost_per_hour": self.cost_per_hour,
            "weighted_tokens_per_s": self.weighted_tokens_per_s,
            "pools": [
                {"system": p.system, "used": p.used, "available": p.available, "price": p.price} for p in self.pools
            ],
            "placements": [p.to_dict() for p in self.placements],
            "solve_seconds": self.solve_seconds,
            "stats": json_ready(self.stats),
        }
