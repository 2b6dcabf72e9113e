"""What the solver is asked: surfaces, the GPU budget, the SLA and the constraints (typed, frozen).

Built from a validated spec (solver.spec); the CP-SAT model and the brute-force enumerator
both read only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
