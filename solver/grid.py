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
    from costmodel import batch_grid, layouts, search_layouts

    lays = layouts(req)
    if not lays:
        key, why = _why_empty(req, caps) if not search_layouts(req) else _why_engine(req)
        raise UserError(f"{where(key)}search: {why}")
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


def _cap_text(caps: dict[str, int]) -> tuple[int, str]:
    cap = min(caps.values())
    return cap, " and ".join(f"{k} = {v}" for k, v in caps.items() if v == cap)


def _why_empty(req: SurfaceRequest, caps: dict[str, int]) -> tuple[str, str]:
    """(key, why) for a search space with no (tp, pp, dp, ep) layout (mirrors costmodel.build.layouts)."""
    a, s = req.model, req.search
    tps = [t for t in s.tp if a.num_heads % t == 0]
    if not tps:
        ok = [2**k for k in range(11) if a.num_heads % 2**k == 0]
        return "search.tp", (
            f"no search.tp value in {list(s.tp)} divides {a.name}'s {a.num_heads} attention heads; use some of {ok}."
        )
    pps = [p for p in s.pp if p <= a.num_layers]
    if not pps:
        return "search.pp", f"every search.pp value in {list(s.pp)} exceeds {a.name}'s {a.num_layers} layers."
    dps = s.dp if a.is_moe else (1,)
    least = min(tps) * min(pps) * min(dps)
    if caps and least > min(caps.values()):
        cap, src = _cap_text(caps)
        return src.split(" ")[0], (
            f"the smallest worker of the search space has {least} GPUs (tp {min(tps)} x pp {min(pps)} x dp "
            f"{min(dps)}), more than the {cap} GPUs per worker that {src} allows; add smaller values to search.tp / "
            "search.pp / search.dp or raise that limit."
        )
    return "search.moe_ep", (
        f"no search.moe_ep value in {list(s.moe_ep or ())} divides both a worker's GPUs (tp x dp) and {a.name}'s "
        f"{a.num_experts} experts; drop search.moe_ep (null tries every one that does)."
    )


def _why_engine(req: SurfaceRequest) -> tuple[str, str]:
    """(key, why) for a search space whose every layout the backend cannot run."""
    from costmodel import engine_rules

    rules = engine_rules(req.backend)
    return "search", (
        f"no layout of the search space runs on {req.backend}: {rules.layout_rule_text()}. Add 1 to "
        "search.tp or search.dp" + (", or drop search.moe_ep" if rules.moe == "tp_or_ep" else "") + "."
    )


def _check_weights_fit(req: SurfaceRequest, lays: list[tuple], caps: dict[str, int], where) -> None:
    """The same memory test costmodel.build applies per layout (free memory after weights > 0)."""
    from costmodel import weight_fit
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
        limit, src = _cap_text(caps)
        key = next(k for k, v in caps.items() if v == limit).split(" ")[0]
        raise InfeasibleError(
            f"{where(key)}{msg}Workers are limited to {limit} GPUs by {src}; raise that limit, "
            "or pick a lighter quantization."
        )
    raise InfeasibleError(
        f"{where('search')}{msg}Add larger values to search.tp or search.pp (search.dp for MoE "
        "models), or pick a lighter quantization."
    )
