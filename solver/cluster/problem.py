"""What a cluster solve is asked (typed, frozen): GPU pools, the models to place, the objective."""

from __future__ import annotations

from dataclasses import dataclass, field

from solver.spec import Spec

OBJECTIVES = ("min_cost", "min_gpus", "max_goodput")


@dataclass(frozen=True)
class Pool:
    """GPUs of one system; gpus None = as many as needed (sizing)."""

    system: str
    gpus: int | None
    price: float | None  # per GPU-hour
    gpus_per_node: int


@dataclass(frozen=True)
class Member:
    """One model to serve: its validated spec, demand (requests/s) or weight, and the systems it may use."""

    name: str
    spec: Spec
    demand_rps: float | None
    weight: float
    systems: tuple[str, ...]  # pools this model may use (its own `system:` key narrows them to one)
    max_gpus: int | None  # its own total_gpus: a cap on the GPUs this model takes
    # pools left out of systems and why (weights fit no worker there, or no measured data): for the report
    excluded: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Cluster:
    """A validated cluster spec."""

    members: tuple[Member, ...]
    pools: tuple[Pool, ...]
    objective: str  # one of OBJECTIVES
    time_limit_s: float
    seed: int
    source: str

    def pool(self, system: str) -> Pool:
        """The pool of a system."""
        return next(p for p in self.pools if p.system == system)
