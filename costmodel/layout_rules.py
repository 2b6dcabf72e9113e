"""The worker layouts a search space holds, and, when it holds none, why.

A layout is (tp, pp, dp, moe_tp, moe_ep): attention tensor / pipeline / data parallelism and how the experts
split across the worker's tp x dp GPUs. The rules live here once; `why_no_layout` reads them to name the key a
user would change, so the solver renders the reason rather than restating the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from costmodel.config import SurfaceRequest
from costmodel.engines import engine_rules

Lay = tuple[int, int, int, int, int]


def layouts(req: SurfaceRequest) -> list[Lay]:
    """(tp, pp, dp, moe_tp, moe_ep) worker layouts of the search space that the backend runs
    (costmodel.engines: e.g. TRT-LLM has no attention TP x DP, vLLM no MoE TP x EP)."""
    return _runnable(req, search_layouts(req))


def _runnable(req: SurfaceRequest, lays: list[Lay]) -> list[Lay]:
    rules = engine_rules(req.backend)
    return [lay for lay in lays if rules.layout_ok(lay[0], lay[2], lay[3], lay[4])]


def search_layouts(req: SurfaceRequest) -> list[Lay]:
    """(tp, pp, dp, moe_tp, moe_ep) layouts of the search space before the backend's rules."""
    a, s = req.model, req.search
    out = []
    for tp in _tps(req):
        for pp in _pps(req):
            for dp in _dps(req):
                g = tp * dp
                if s.max_gpus_per_worker and g * pp > s.max_gpus_per_worker:
                    continue
                if not a.is_moe:
                    out.append((tp, pp, dp, 1, 1))
                    continue
                eps = s.moe_ep if s.moe_ep else sorted({1, g} | ({g // 2} if g >= 4 else set()))
                for ep in eps:
                    if g % ep or a.num_experts % ep:
                        continue
                    out.append((tp, pp, dp, g // ep, ep))
    return sorted(set(out))


def _tps(req: SurfaceRequest) -> list[int]:
    """Attention TP splits the heads evenly."""
    return [t for t in req.search.tp if req.model.num_heads % t == 0]


def _pps(req: SurfaceRequest) -> list[int]:
    """Each pipeline stage holds at least one layer."""
    return [p for p in req.search.pp if p <= req.model.num_layers]


def _dps(req: SurfaceRequest) -> tuple[int, ...]:
    """Attention DP only where the experts are shared across ranks (MoE); a dense model's replicas are workers."""
    return req.search.dp if req.model.is_moe else (1,)


@dataclass(frozen=True)
class WorkerCap:
    """The tightest of the limits on GPUs per worker: its value, the limits that set it in words
    ("search.max_gpus_per_worker = 4 and constraints.max_gpus_per_worker = 4"), and the spec key a message points
    at (the first such limit's name up to its first space)."""

    gpus: int
    names: str
    key: str


def worker_cap(caps: Mapping[str, int]) -> WorkerCap:
    """The tightest limit of ``caps`` (a non-empty map: name of a limit on GPUs per worker -> GPUs)."""
    gpus = min(caps.values())
    tight = [k for k, v in caps.items() if v == gpus]
    return WorkerCap(gpus, " and ".join(f"{k} = {gpus}" for k in tight), tight[0].split(" ")[0])


@dataclass(frozen=True)
class NoLayout:
    """Why a search space holds no layout: the spec key to change (``search.tp``, ``search.pp``,
    ``search.moe_ep``, ``search`` or the key of a GPUs-per-worker limit) and one sentence saying what would work."""

    key: str
    message: str


def why_no_layout(req: SurfaceRequest, caps: Mapping[str, int]) -> NoLayout | None:
    """None when ``layouts(req)`` holds a layout, else the first rule that empties it.

    caps: the limits on GPUs per worker, by the name a message gives each (``req.search.max_gpus_per_worker``
    is their minimum); empty when there is none.
    """
    searched = search_layouts(req)
    if searched:  # layouts(req) is empty only under the backend's rules, or not at all
        return None if _runnable(req, searched) else _why_engine(req)
    a, s = req.model, req.search
    tps, pps, dps = _tps(req), _pps(req), _dps(req)
    if not tps:
        ok = [2**k for k in range(11) if a.num_heads % 2**k == 0]
        return NoLayout(
            "search.tp",
            f"no search.tp value in {list(s.tp)} divides {a.name}'s {a.num_heads} attention heads; use some of {ok}.",
        )
    if not pps:
        return NoLayout("search.pp", f"every search.pp value in {list(s.pp)} exceeds {a.name}'s {a.num_layers} layers.")
    least = min(tps) * min(pps) * min(dps)
    if caps and least > min(caps.values()):
        cap = worker_cap(caps)
        return NoLayout(
            cap.key,
            f"the smallest worker of the search space has {least} GPUs (tp {min(tps)} x pp {min(pps)} x dp "
            f"{min(dps)}), more than the {cap.gpus} GPUs per worker that {cap.names} allows; add smaller values to "
            "search.tp / search.pp / search.dp or raise that limit.",
        )
    return NoLayout(
        "search.moe_ep",
        f"no search.moe_ep value in {list(s.moe_ep or ())} divides both a worker's GPUs (tp x dp) and {a.name}'s "
        f"{a.num_experts} experts; drop search.moe_ep (null tries every one that does).",
    )


def _why_engine(req: SurfaceRequest) -> NoLayout:
    """Every layout of the search space is one the backend cannot run."""
    rules = engine_rules(req.backend)
    return NoLayout(
        "search",
        f"no layout of the search space runs on {req.backend}: {rules.layout_rule_text()}. Add 1 to "
        "search.tp or search.dp" + (", or drop search.moe_ep" if rules.moe == "tp_or_ep" else "") + ".",
    )
