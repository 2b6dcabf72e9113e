"""What the solver reports: deployments (figures from the float cost formulas) and the result.

Every number in a ``Deployment`` comes from ``agg_metrics`` / ``disagg_metrics`` (see
solver.verify.evaluate), never from the CP-SAT integer objective.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RoleConfig:
    """One role of a deployment: ``workers`` identical workers (per replica) of candidate ``row``."""

    role: str  # "agg" | "prefill" | "decode"
    workers: int
    tp: int
    pp: int
    dp: int  # attention data parallelism
    moe_tp: int
    moe_ep: int
    gpus_per_worker: int
    batch: int
    max_num_tokens: int
    row: int  # index into the role's Candidates table (for re-evaluation)

    def to_dict(self) -> dict:
        """JSON-ready view (ep = MoE expert parallelism, attention_dp = dp)."""
        return {
            "role": self.role,
            "workers": self.workers,
            "gpus_per_worker": self.gpus_per_worker,
            "tp": self.tp,
            "pp": self.pp,
            "attention_dp": self.dp,
            "moe_tp": self.moe_tp,
            "ep": self.moe_ep,
            "batch": self.batch,
            "max_num_tokens": self.max_num_tokens,
            "row": self.row,
        }


@dataclass(frozen=True)
class Deployment:
    """``replicas`` copies of the roles' workers; figures are for the whole deployment."""

    mode: str  # "agg" | "disagg"
    roles: tuple[RoleConfig, ...]
    replicas: int
    gpus_used: int
    ttft_ms: float
    tpot_ms: float
    tokens_per_s: float
    tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float
    concurrency: int
    req_per_s: float
    gpus_given: int = 0  # the problem's total_gpus (0: unknown, e.g. a hand-made deployment)
    # per-request percentiles at costmodel.latency.PERCENTILES (p50, p90, p95, p99), ms; ttft_ms / tpot_ms: means
    ttft_pct_ms: tuple[float, ...] = ()
    tpot_pct_ms: tuple[float, ...] = ()

    def percentiles(self) -> dict[str, dict[str, float]]:
        """{"ttft_ms": {"mean": …, "p50": …, …}, "tpot_ms": {…}}: the mean and each percentile carried."""
        from costmodel import PERCENTILES

        def one(mean: float, pct: tuple[float, ...]) -> dict[str, float]:
            return {"mean": mean, **{f"p{lv}": v for lv, v in zip(PERCENTILES, pct)}}

        return {"ttft_ms": one(self.ttft_ms, self.ttft_pct_ms), "tpot_ms": one(self.tpot_ms, self.tpot_pct_ms)}

    @property
    def tokens_per_s_per_gpu_given(self) -> float:
        """Output tokens/s over the GPUs given (total_gpus): the figure the solver ranks by and peer tools print.

        tokens_per_s_per_gpu divides by the GPUs the deployment uses; with gpus_given unknown both are that."""
        return self.tokens_per_s / self.gpus_given if self.gpus_given else self.tokens_per_s_per_gpu

    def role(self, name: str) -> RoleConfig:
        """The RoleConfig of one role ("agg", "prefill" or "decode")."""
        return next(r for r in self.roles if r.role == name)

    def key(self) -> tuple:
        """Identity of the configuration (rows, workers per replica, replicas)."""
        return (self.mode, tuple((r.role, r.row, r.workers) for r in self.roles), self.replicas)

    def to_dict(self) -> dict:
        """JSON-ready view: figures, then the configuration per role."""
        return {
            "mode": self.mode,
            "tokens_per_s_per_gpu_given": self.tokens_per_s_per_gpu_given,
            "gpus_given": self.gpus_given,
            "tokens_per_s_per_gpu": self.tokens_per_s_per_gpu,
            "tokens_per_s_per_user": self.tokens_per_s_per_user,
            "ttft_ms": self.ttft_ms,
            "tpot_ms": self.tpot_ms,
            "gpus_used": self.gpus_used,
            "concurrency": self.concurrency,
            "tokens_per_s": self.tokens_per_s,
            "req_per_s": self.req_per_s,
            "replicas": self.replicas,
            "latency_percentiles": self.percentiles(),
            "roles": [r.to_dict() for r in self.roles],
        }


@dataclass(frozen=True)
class SolveResult:
    """Best deployment per mode, Pareto sets (tokens/s per GPU given vs tokens/s/user) and top-N lists.

    Pareto and top lists are ordered by tokens/s per GPU given descending (tokens/s/user ascending).
    ``stats["infeasible"]`` (str) explains each requested mode without a feasible deployment.
    """

    best_agg: Deployment | None
    best_disagg: Deployment | None
    pareto_agg: tuple[Deployment, ...]
    pareto_disagg: tuple[Deployment, ...]
    top_agg: tuple[Deployment, ...]
    top_disagg: tuple[Deployment, ...]
    proven_optimal: bool
    solve_seconds: float
    linearization_max_rel_error: float
    stats: dict = field(default_factory=dict)

    def best(self) -> Deployment | None:
        """The better of the two modes' best deployments by tokens/s per GPU given (agg on ties)."""
        cands = [d for d in (self.best_agg, self.best_disagg) if d is not None]
        return max(cands, key=lambda d: d.tokens_per_s_per_gpu_given, default=None)

    def to_dict(self) -> dict:
        """JSON-ready dict with deterministic ordering (all but solve_seconds repeat exactly)."""
        dd = lambda d: None if d is None else d.to_dict()  # noqa: E731
        return {
            "best": {"agg": dd(self.best_agg), "disagg": dd(self.best_disagg)},
            "pareto": {
                "agg": [d.to_dict() for d in self.pareto_agg],
                "disagg": [d.to_dict() for d in self.pareto_disagg],
            },
            "top": {"agg": [d.to_dict() for d in self.top_agg], "disagg": [d.to_dict() for d in self.top_disagg]},
            "proven_optimal": self.proven_optimal,
            "solve_seconds": self.solve_seconds,
            "linearization_max_rel_error": self.linearization_max_rel_error,
            "stats": json_ready(self.stats),
        }


def json_ready(x):
    """Stats as JSON-ready values with sorted keys (numpy scalars to Python)."""
    if isinstance(x, dict):
        return {str(k): json_ready(x[k]) for k in sorted(x, key=str)}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if hasattr(x, "item"):
        return x.item()
    return x
