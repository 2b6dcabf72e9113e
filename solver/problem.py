"""What the solver is asked: surfaces, the GPU budget, the SLA and the constraints (typed, frozen).

Built from a validated spec (solver.spec); the CP-SAT model and the brute-force enumerator
both read only this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from costmodel import Surfaces


@dataclass(frozen=True)
class Sla:
    """Bounds every reported deployment meets; None = unbounded. ttft_ms / tpot_ms bound the means."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    min_tokens_per_s_per_user: float | None = None
    max_request_latency_ms: float | None = None  # ttft + (osl - 1) * tpot
    # percentile bounds: (level, ms) pairs, level one of costmodel.latency.PERCENTILES (50, 90, 95, 99)
    ttft_pct: tuple[tuple[int, float], ...] = ()
    tpot_pct: tuple[tuple[int, float], ...] = ()

    def min_speed(self) -> float | None:
        """The tokens/s/user floor the SLA implies: max(1000 / tpot_ms, min_tokens_per_s_per_user); None: none."""
        floors = [1000.0 / self.tpot_ms] if self.tpot_ms else []
        floors += [self.min_tokens_per_s_per_user] if self.min_tokens_per_s_per_user else []
        return max(floors) if floors else None

    def bounds(self) -> list[str]:
        """Each bound as text, e.g. ["TTFT ≤ 1000 ms", "p90 TTFT ≤ 2000 ms", "TPOT ≤ 20 ms"] (empty: unbounded)."""
        return [
            b
            for b in (
                f"TTFT ≤ {self.ttft_ms:g} ms" if self.ttft_ms else "",
                *(f"p{lv} TTFT ≤ {ms:g} ms" for lv, ms in self.ttft_pct),
                f"TPOT ≤ {self.tpot_ms:g} ms" if self.tpot_ms else "",
                *(f"p{lv} TPOT ≤ {ms:g} ms" for lv, ms in self.tpot_pct),
                f"≥ {self.min_tokens_per_s_per_user:g} tokens/s/user" if self.min_tokens_per_s_per_user else "",
                f"request latency ≤ {self.max_request_latency_ms:g} ms" if self.max_request_latency_ms else "",
            )
            if b
        ]

    def plain(self) -> dict[str, Any]:
        """The SLA as JSON values: percentile bounds as [level, ms] lists (the "sla" of the --json input)."""
        return {k: [list(p) for p in v] if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_plain(cls, plain: Mapping[str, Any]) -> Sla:
        """The SLA back from its plain form (Sla.plain)."""
        pct = lambda key: tuple((int(lv), float(ms)) for lv, ms in plain.get(key) or ())  # noqa: E731
        return cls(
            ttft_ms=plain.get("ttft_ms"),
            tpot_ms=plain.get("tpot_ms"),
            min_tokens_per_s_per_user=plain.get("min_tokens_per_s_per_user"),
            max_request_latency_ms=plain.get("max_request_latency_ms"),
            ttft_pct=pct("ttft_pct"),
            tpot_pct=pct("tpot_pct"),
        )


@dataclass(frozen=True)
class Topology:
    """Node layout: a worker spanning nodes needs whole nodes; max_nodes caps the cluster."""

    gpus_per_node: int
    worker_within_node: bool = False
    max_nodes: int | None = None
    separate_prefill_decode_nodes: bool = False


@dataclass(frozen=True)
class Constraints:
    """Custom constraints, one field per YAML constraint kind."""

    topology: Topology | None = None
    replicas_min: int = 1
    replicas_max: int | None = None
    max_gpus_per_worker: int | None = None
    fixed: dict[str, int] = field(default_factory=dict)  # e.g. {"tp": 4} for every role
    role_gpu_budget: dict[str, int] = field(default_factory=dict)  # {"prefill": 16, "decode": 48}


@dataclass(frozen=True)
class Problem:
    """One solve: modes ⊆ {"agg", "disagg"}."""

    surfaces: Surfaces
    total_gpus: int
    sla: Sla
    constraints: Constraints
    modes: tuple[str, ...] = ("agg", "disagg")
    time_limit_s: float = 10.0
    seed: int = 0
    top_n: int = 5

    def topology(self) -> Topology:
        """The node layout every rule and the report use: the spec's constraints.topology, else nodes of the size
        the surfaces were priced on (the request's gpus_per_node, else the system's) with no other rule."""
        return self.constraints.topology or Topology(gpus_per_node=self.surfaces.gpus_per_node)
