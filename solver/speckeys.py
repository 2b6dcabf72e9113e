"""A checked spec as typed records: one frozen dataclass per section of solver.specfields.FIELDS, one attribute per
key (``keys.sla.ttft_ms``, ``keys.search.tp``), every default filled in.

FIELDS stays the one table of what a key may hold (validation, defaults, docs, JSON Schema); these records are how
code reads the result. tests/solver/test_validation.py checks that the two name the same keys. Values are as the
check leaves them: lists sorted and de-duplicated (``strs`` keep the order written), bounds as floats or
{percentile: ms} mappings, lengths as tokens or {lognormal: …} / {histogram: …} mappings.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from solver.specfields import children

Length = int | dict[str, Any]  # tokens, or {"lognormal": {"mean", "p90"}} / {"histogram": [[tokens, weight], …]}
Bound = float | dict[str, float]  # ms (a mean), or {"p90": ms, …}


@dataclass(frozen=True)
class DemandKeys:
    requests_per_s: float | None
    tokens_per_s: float | None


@dataclass(frozen=True)
class ArrivalKeys:
    process: str | None
    rate_per_s: float | None
    cv: float | None


@dataclass(frozen=True)
class WorkloadKeys:
    isl: Length
    osl: Length
    trace: str | None
    length_range_ratio: float
    prefix_hit_rate: float
    distribution_points: int
    arrival: ArrivalKeys
    max_context_tokens: int | None


@dataclass(frozen=True)
class SlaKeys:
    ttft_ms: Bound | None
    tpot_ms: Bound | None
    min_tokens_per_s_per_user: float | None
    max_request_latency_ms: float | None


@dataclass(frozen=True)
class QuantizationKeys:
    gemm: str | None
    kv_cache: str | None
    attention: str | None
    moe: str | None


@dataclass(frozen=True)
class SpeculativeKeys:
    mtp_draft_tokens: int | None
    mtp_acceptance: float | None


@dataclass(frozen=True)
class ServingKeys:
    scheduler_recv_interval: int
    max_num_tokens: int | None
    moe_backend: str | None
    batch_wait_iters: int
    batch_wait_max_tokens_ratio: float
    prefill_utilisation: float


@dataclass(frozen=True)
class SearchKeys:
    tp: list[int]
    pp: list[int]
    dp: list[int] | None
    moe_ep: list[int] | None
    max_batch_size: int
    batch_sizes: list[int] | None
    max_gpus_per_worker: int | None


@dataclass(frozen=True)
class TopologyKeys:
    gpus_per_node: int | None
    worker_within_node: bool
    max_nodes: int | None
    separate_prefill_decode_nodes: bool


@dataclass(frozen=True)
class ReplicasKeys:
    min: int
    max: int | None


@dataclass(frozen=True)
class FixedKeys:
    tp: int | None
    pp: int | None
    dp: int | None
    moe_tp: int | None
    moe_ep: int | None


@dataclass(frozen=True)
class RoleGpuBudgetKeys:
    prefill: int | None
    decode: int | None


@dataclass(frozen=True)
class ConstraintsKeys:
    topology: TopologyKeys
    replicas: ReplicasKeys
    max_gpus_per_worker: int | None
    fixed: FixedKeys
    role_gpu_budget: RoleGpuBudgetKeys


@dataclass(frozen=True)
class SolverKeys:
    time_limit_s: float
    seed: int
    top_n: int


@dataclass(frozen=True)
class SpecKeys:
    """Every key of a spec (solver.specfields.FIELDS documents each); pools and cost by system."""

    model: str
    system: str
    decode_system: str | None
    backend: str
    backend_version: str | None
    model_path: str | None
    served_model_name: str | None
    total_gpus: int | None  # None only where demand or pools stand in for it
    demand: DemandKeys
    weight: float | None
    name: str | None
    pools: dict[str, int | None]
    cost: dict[str, float | None]
    objective: str
    deployments: list[dict[str, Any]] | None
    workload: WorkloadKeys
    sla: SlaKeys
    quantization: QuantizationKeys
    speculative: SpeculativeKeys
    serving: ServingKeys
    calibration: str | None
    modes: list[str]
    search: SearchKeys
    constraints: ConstraintsKeys
    solver: SolverKeys


R = TypeVar("R")


def read_record(cls: type[R], values: Mapping[str, Any], prefix: str = "") -> R:
    """The record cls (SpecKeys for a whole spec, or one of its sections at key path prefix) of checked values
    (dotted key path -> value, as solver.validation fills them). KeyError for a key the values lack."""
    hints = typing.get_type_hints(cls)
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # every R here is a dataclass
        path, hint = f"{prefix}.{f.name}" if prefix else f.name, hints[f.name]
        if dataclasses.is_dataclass(hint):
            kw[f.name] = read_record(hint, values, path)  # type: ignore[arg-type]
        elif typing.get_origin(hint) is dict:  # a section keyed by system (pools, cost)
            kw[f.name] = {k: values[f"{path}.{k}"] for k in children(path)}
        else:
            kw[f.name] = values[path]
    return cls(**kw)
