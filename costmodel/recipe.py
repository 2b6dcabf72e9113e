"""The engine recipe of one role: what its workers run, as the cost model prices it and the exporters render it.

The search prices recipes (one per candidate row), the exporters write them as engine files, and
``price`` prices recipes read back from those files with the same code, so a bundle can be checked
against the figures it was chosen for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from costmodel.config import SearchSpace, SurfaceRequest
from costmodel.surface import Metrics

ROLES = {"agg": ("agg",), "disagg": ("prefill", "decode")}


@dataclass(frozen=True)
class Recipe:
    """One role's engine settings (the deployment-wide model, system, backend and quantization are the request's).

    Layout as the engine expresses it: attention TP x DP ranks, MoE TP x EP over the same tp x dp GPUs, PP
    stages. ``batch``: agg/decode, concurrent requests per worker (a multiple of dp: each attention-DP rank
    runs batch / dp); prefill, prompts per attention-DP rank in one step. ``max_num_tokens``: the engine's token
    budget per step (prefill chunk). MTP: drafted tokens per decode step and the acceptance priced.
    """

    role: str  # agg | prefill | decode
    tp: int
    pp: int
    dp: int
    moe_tp: int
    moe_ep: int
    batch: int
    max_num_tokens: int
    mtp_draft: int = 0
    mtp_accept: float = 0.0

    @property
    def gpus(self) -> int:
        """GPUs of one worker (tp x dp x pp)."""
        return self.tp * self.dp * self.pp

    @property
    def batch_per_rank(self) -> int:
        """Requests (agg/decode) or prompts (prefill) one attention-DP rank schedules: its engine batch cap."""
        return self.batch if self.role == "prefill" else self.batch // self.dp


def price(req: SurfaceRequest, mode: str, recipes: Sequence[Recipe], workers: Mapping[str, int]) -> Metrics:
    """Full-model figures of ``workers[role]`` workers (all replicas together) running each role's recipe.

    Prices through build_surfaces with the search pinned to each recipe, so the figures are those the
    search gives the same configuration. Returns the Metrics of costmodel.surface.agg_metrics /
    disagg_metrics (TTFT and TPOT in ms with their percentiles, tokens/s, GPUs used, concurrency, requests/s).
    Raises ValueError when a recipe is not one the cost model prices (no such row: a layout the backend cannot
    run, a batch beyond the KV cache, or a prefill batch outside the priced grid).
    """
    from costmodel.build import build_surfaces
    from costmodel.surface import agg_metrics, disagg_metrics

    by_role = {r.role: r for r in recipes}
    if set(by_role) != set(ROLES[mode]):
        raise ValueError(f"a {mode} deployment has roles {ROLES[mode]}; got {sorted(by_role)}")
    rows = {}
    for role in ROLES[mode]:
        r = by_role[role]
        pinned = replace(
            req,
            modes=(mode,),
            mtp_draft=r.mtp_draft,
            mtp_accept=r.mtp_accept,
            search=SearchSpace(
                tp=(r.tp,),
                pp=(r.pp,),
                dp=(r.dp,),
                moe_ep=(r.moe_ep,),
                batch_sizes=(r.batch,),
                max_batch_size=r.batch,
                max_gpus_per_worker=None,
            ),
        )
        t = getattr(build_surfaces(pinned), role)
        hit = np.flatnonzero(
            (t.tp == r.tp)
            & (t.pp == r.pp)
            & (t.dp == r.dp)
            & (t.moe_tp == r.moe_tp)
            & (t.moe_ep == r.moe_ep)
            & (t.batch == r.batch)
            & (t.max_num_tokens == r.max_num_tokens)
        )
        if len(hit) != 1:
            raise ValueError(f"the cost model prices no {role} row for {r}")
        rows[role] = (t, int(hit[0]))
    osl = req.osl
    if mode == "agg":
        t, i = rows["agg"]
        return agg_metrics(t, i, workers["agg"], osl)
    (p, i), (d, j) = rows["prefill"], rows["decode"]
    return disagg_metrics(p, i, d, j, workers["prefill"], workers["decode"], osl)
