"""The engine recipe of each role of a chosen deployment (costmodel.recipe.Recipe): what the exporters render."""

from __future__ import annotations

from costmodel import SurfaceRequest, mtp_settings
from costmodel import Recipe
from solver.result import Deployment


def recipes_of(dep: Deployment, req: SurfaceRequest) -> tuple[Recipe, ...]:
    """One Recipe per role of ``dep``, in role order, with the MTP settings the search priced for its mode."""
    out = []
    for r in dep.roles:
        draft, accept = mtp_settings(req, "agg" if r.role == "agg" else "disagg")
        out.append(
            Recipe(
                role=r.role,
                tp=r.tp,
                pp=r.pp,
                dp=r.dp,
                moe_tp=r.moe_tp,
                moe_ep=r.moe_ep,
                batch=r.batch,
                max_num_tokens=r.max_num_tokens,
                mtp_draft=draft,
                mtp_accept=accept,
            )
        )
    return tuple(out)
