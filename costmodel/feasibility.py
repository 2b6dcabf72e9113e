"""Questions the solver asks before pricing: does a worker hold the weights, which quantization and KV-cache
dtype will be priced. Each opens the measured tables for one (system, backend, version) and answers with plain
values, so that callers need not know how the op tables, the memory model or the quantization fallbacks work.

Errors: DataNotFoundError, MissingDataError or CorruptDataError when the tables are missing or broken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.arch import ModelArch
from costmodel.config import token_budget, Quant, SurfaceRequest
from costmodel.memory import kv_capacity_tokens, weight_bytes_per_gpu
from costmodel.opdb import open_db
from costmodel.quant import kernel_dtypes, moe_kernel, recipe_kv_cache, resolve_quant


@dataclass(frozen=True)
class WeightFit:
    """How the model's weights sit on each worker layout of a grid (arrays of shape (layouts,)).

    kv_tokens: tokens of KV cache one GPU holds after weights, activations and reserves; <= 0: does not fit.
    weight_share: share of one GPU's memory the weights take. model_bytes: the whole model's weights, bytes,
    in `quant`. gpu_mem_bytes: one GPU's memory, bytes.
    """

    kv_tokens: np.ndarray
    weight_share: np.ndarray
    model_bytes: float
    gpu_mem_bytes: float
    quant: Quant


def weight_fit(req: SurfaceRequest, layouts: list[tuple[int, ...]]) -> WeightFit:
    """The memory test costmodel.build applies per layout, for the layouts (tp, pp, dp, moe_tp, moe_ep) given."""
    db = open_db(req.system, req.backend, req.version)
    quant, _ = resolve_quant(db, req.model, req.quant)
    arr = np.array(layouts, dtype=float).T
    mnt = token_budget(req)
    tp, pp, dp, moe_tp, moe_ep = arr
    cap, share = kv_capacity_tokens(db.system, req.model, quant, tp, pp, dp, moe_tp, moe_ep, mnt, req.isl + req.osl)
    whole = float(weight_bytes_per_gpu(req.model, quant, 1, 1, 1, 1, 1))
    return WeightFit(cap, share, whole, float(db.system.mem_bytes), quant)


def priced_quant(
    system: str, backend: str, version: str, arch: ModelArch, quant: Quant
) -> tuple[Quant, tuple[str, ...]]:
    """The quantization the cost model will price for `quant` on this system, and a note per substitution made."""
    return resolve_quant(open_db(system, backend, version), arch, quant)


def moe_kernel_dtypes(system: str, backend: str, version: str, arch: ModelArch, moe_backend: str) -> tuple[str, ...]:
    """Expert dtypes the MoE kernel ``moe_backend`` selects can be priced at for this model on this system: those its
    op table measured for this model's expert shape, or for any experts where the engine file marks the kernel's
    table as read for other experts (``other_experts``, StepModel.moe_transfer); empty: none. Raises ValueError for
    a backend the engine file names no table for (engines.EngineRules.moe_table)."""
    return tuple(sorted(kernel_dtypes(open_db(system, backend, version), arch, moe_backend))) if arch.is_moe else ()


def priced_moe_kernel(
    system: str, backend: str, version: str, arch: ModelArch, quant: Quant, requested: str | None, moe_ep: int = 1
) -> str | None:
    """The MoE kernel the cost model prices (and the exporter deploys) on this system for a request's
    ``moe_backend`` (costmodel.quant.moe_kernel) at expert-parallel size ``moe_ep``: a kernel name, or None for
    the engine's default (also where ``moe_ep`` exceeds the largest EP the engine runs the kernel at)."""
    from costmodel.engines import engine_rules

    moe = priced_quant(system, backend, version, arch, quant)[0].moe
    kernel = moe_kernel(open_db(system, backend, version), arch, moe, requested)
    return kernel if engine_rules(backend).moe_runs_at(kernel, moe_ep) else None


def default_kv_cache(system: str, backend: str, version: str, arch: ModelArch) -> str:
    """The KV-cache dtype the backend's engine recipe runs for this model by default ("fp8" or "bfloat16")."""
    return recipe_kv_cache(open_db(system, backend, version), arch)
