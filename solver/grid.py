"""Checks on the cost model's candidate grid before it is priced: the grid is not empty, not
too large, and some worker in it holds the model's weights (else every role would come back empty)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from costmodel import SurfaceRequest
from solver.errors import InfeasibleError, UserError

# Layouts x batch sizes. Default grids stay far below (DeepSeek-R1: 44 x 18 = 792). Measured on 2 cores:
# 176,000 candidates price in ~2 s and solve in ~11 s within ~0.7 GiB; 1.76 million take ~27 s to price alone.
MAX_CANDIDATES = 200_000
NARROW = "search.tp, search.pp, search.dp, search.moe_ep, search.batch_sizes or search.max_batch_size"


def check_grid(req: SurfaceRequest, caps: dict[str, int], where: Callable[[str], str]) -> None:
    """UserError for an empty or oversized grid, InfeasibleError when no worker holds the weights.

    caps: the keys that limit GPUs per worker and their values (the smallest one applies).
    """
    from costmodel import batch_grid, layouts, why_no_layout

    lays = layouts(req)
    if not lays and (gap := why_no_layout(req, caps)) is not None:  # the reason is looked for only when needed
        raise UserError(f"{where(gap.key)}search: {gap.message}")
    s = req.search
    batches = len(s.batch_sizes) if s.batch_sizes else len(batch_grid(s.max_batch_size))
    if len(lays) * batches > MAX_CANDIDATES:
        key = "search.batch_sizes" if s.batch_sizes else "search"
        raise UserError(
            f"{where(key)}search: {len(lays):,} worker layouts x {batches:,} batch sizes = "
            f"{len(lays) * batches:,} candidates, more than the {MAX_CANDIDATES:,} the cost model prices "
            f"in one run; narrow {NARROW}."
        )
    _check_weights_fit(req, lays, caps, where)


def _check_weights_fit(req: SurfaceRequest, lays: list[tuple], caps: dict[str, int], where) -> None:
    """The same memory test costmodel.build applies per layout (free memory after weights > 0)."""
    from costmodel import weight_fit, worker_cap
    from solver.errors import user_error_types

    try:
        fit = weight_fit(req, lays)
    except user_error_types():  # missing or broken data: build_surfaces reports it, naming the file
        return
    if np.any(fit.kv_tokens > 0):
        return
    arr = np.array(lays, dtype=float).T
    gpus = arr[0] * arr[1] * arr[2]
    big = int(np.argmax(gpus))
    wfrac, quant = fit.weight_share, fit.quant
    dtypes = quant.gemm + (f", experts {quant.moe}" if req.model.is_moe else "")
    msg = (
        f"no worker of the search space holds {req.model.name}'s weights on {req.system} "
        f"({fit.model_bytes / 2**30:,.0f} GiB in {dtypes}; {fit.gpu_mem_bytes / 2**30:,.0f} GiB per GPU): the largest, {int(gpus[big])} GPUs, would "
        f"fill {100 * wfrac[big]:.0f}% of each GPU with weights, so a worker needs more than {int(gpus[big])} "
        "GPUs. "
    )
    if caps:
        cap = worker_cap(caps)
        raise InfeasibleError(
            f"{where(cap.key)}{msg}Workers are limited to {cap.gpus} GPUs by {cap.names}; raise that limit, "
            "or pick a lighter quantization."
        )
    raise InfeasibleError(
        f"{where('search')}{msg}Add larger values to search.tp or search.pp (search.dp for MoE "
        "models), or pick a lighter quantization."
    )
