"""Evaluate the full cost model over the candidate grid → ``Surfaces`` (the solver's input).

Layouts × batch sizes are priced in one vectorized pass per role: arrays of shape
(layouts, batches). Rows whose weights do not fit, or whose concurrency exceeds the KV
cache, are dropped.
"""

from __future__ import annotations

import numpy as np

from costmodel.config import (
    token_budget,
    Quant,
    SurfaceRequest,
    context_tokens,
    fixed_lengths,
    mtp_settings,
    workload_of,
)
from costmodel.engines import attention_kind, engine_rules
from costmodel.layout_rules import layouts
from costmodel.latency import agg_spread, decode_spread, prefill_spread
from costmodel.memory import kv_capacity_tokens
from costmodel.opdb import OpDB, open_db
from costmodel.quant import moe_kernel, resolve_quant
from costmodel.serving import agg_figures, decode_figures, handoff_ms, prefill_figures
from costmodel.step import Layout, StepModel
from costmodel.surface import Candidates, Surfaces
from costmodel.system import node_size

PREFILL_BATCHES = (1, 2, 4, 8)


def step_model(db: OpDB, req: SurfaceRequest, quant: Quant, mode: str) -> StepModel:
    """The step model of one mode's engine recipe (MTP per mode); the search and `validate` both build it here."""
    return StepModel(
        db,
        req.model,
        quant,
        *mtp_settings(req, mode),
        gpus_per_node=req.gpus_per_node,
        graph_max_batch=graph_max_batch(db, req),
        moe_backend=moe_kernel(db, req.model, quant.moe, req.moe_backend),
    )


def graph_max_batch(db: OpDB, req: SurfaceRequest) -> int | None:
    """Largest decode batch per attention-DP rank priced as a captured CUDA graph: the request's, else what the
    product deploys: None (every batch captured) where the exporters render a capture limit covering the batch
    cap, else the engine's default (data/engines/<backend>.yaml ``cuda_graph``)."""
    if req.cuda_graph_max_batch is not None:
        return req.cuda_graph_max_batch
    rules = engine_rules(db.backend)
    return None if rules.graph_exported else rules.default_graph_batch(db.system.mem_bytes, 1)


def batch_grid(max_batch: int) -> np.ndarray:
    """1, 2, 3, 4, 6, 8, 12, 16, … (×1.5 / ×1.33 steps) up to max_batch, max_batch included."""
    vals, x = {1, 2, 3}, 4
    while x <= max_batch:
        vals.update({x, x * 3 // 2})
        x *= 2
    return np.array(sorted(v for v in vals | {max_batch} if v <= max_batch))


def kv_slots(cap, tokens: int, longest: int) -> np.ndarray:
    """Requests of ``tokens`` one attention rank's KV cache of ``cap`` tokens holds while keeping room for one
    request of ``longest`` tokens: the engine must admit the longest request without preempting its batch
    (vLLM also refuses to start when one max_model_len request does not fit its KV cache). 0 where none fits."""
    cap = np.maximum(cap, 0)
    return np.where(cap >= longest, np.floor((cap - longest) / tokens) + 1, 0)


def _layout_arrays(lays) -> tuple[Layout, np.ndarray]:
    arr = np.array(lays, dtype=float).T[:, :, None]  # (5, L, 1)
    return Layout(*arr), np.array(lays)


def _candidates(role, lays_np, batch, gpus, fig, keep, mem, mnt) -> Candidates:
    L, B = keep.shape
    li, bi = np.nonzero(keep)
    nan = np.full(L * B, np.nan).reshape(L, B)
    get = lambda k: np.broadcast_to(fig.get(k, nan), (L, B))[li, bi]  # noqa: E731
    return Candidates(
        role=role,
        tp=lays_np[li, 0],
        pp=lays_np[li, 1],
        dp=lays_np[li, 2],
        moe_tp=lays_np[li, 3],
        moe_ep=lays_np[li, 4],
        gpus=gpus[li],
        batch=np.broadcast_to(batch, (L, B))[li, bi].astype(int),
        ttft_ms=get("ttft_ms"),
        tpot_ms=get("tpot_ms"),
        req_per_s=get("req_per_s"),
        mem_used_frac=np.broadcast_to(mem, (L, B))[li, bi],
        max_num_tokens=np.full(len(li), mnt),
        handoff_ms=get("handoff_ms") if "handoff_ms" in fig else None,
        kv_transfer_ms=get("kv_transfer_ms") if "kv_transfer_ms" in fig else None,
        ttft_pct=_pct(fig.get("ttft_pct"), L, B, li, bi),
        tpot_pct=_pct(fig.get("tpot_pct"), L, B, li, bi),
    )


def _pct(a, L, B, li, bi) -> np.ndarray | None:
    """Kept rows of a (layouts, batches, percentiles) array."""
    return None if a is None else np.broadcast_to(a, (L, B, np.shape(a)[-1]))[li, bi]


def _calibrated(f: dict, k) -> dict:
    """Figures with a calibration's TTFT / TPOT factors applied to means and percentiles alike."""
    out = dict(f)
    for key, factor in (("ttft_ms", k.ttft), ("ttft_pct", k.ttft), ("tpot_ms", k.tpot), ("tpot_pct", k.tpot)):
        if key in out:
            out[key] = out[key] * factor
    return out


def build_surfaces(req: SurfaceRequest) -> Surfaces:
    """Price every (layout, batch) of every requested role with the full cost model.

    With ``req.decode_system`` set, disagg decode workers are priced on that system and the
    prefill side's KV hand-off crosses the slower of the two systems' inter-node links.
    """
    home = _Engine(req, req.system)
    far = home if req.decode_system in (None, req.system) else _Engine(req, req.decode_system)
    disagg = "disagg" in req.modes
    return _surfaces(
        req,
        home,
        far,
        home.agg() if "agg" in req.modes else None,
        home.prefill(far) if disagg else None,
        far.decode() if disagg else None,
    )


def build_pair_surfaces(req: SurfaceRequest, systems: tuple[str, ...]) -> dict[tuple[str, str], Surfaces]:
    """Surfaces per (agg or prefill system, decode system) pair of a mixed cluster; agg only on equal pairs.

    Each system's data and each decode table are loaded and priced once.
    """
    eng = {s: _Engine(req, s) for s in systems}
    disagg = "disagg" in req.modes
    decode = {s: e.decode() for s, e in eng.items()} if disagg else {}
    return {
        (a, b): _surfaces(
            req,
            eng[a],
            eng[b],
            eng[a].agg() if a == b and "agg" in req.modes else None,
            eng[a].prefill(eng[b]) if disagg else None,
            decode.get(b),
        )
        for a in systems
        for b in systems
    }


def _surfaces(req: SurfaceRequest, home: _Engine, far: _Engine, agg, prefill, decode) -> Surfaces:
    rules = engine_rules(req.backend)
    return Surfaces(
        model=req.model.name,
        system=home.system,
        backend=req.backend,
        version=req.version,
        isl=req.isl,
        osl=req.osl,
        gpus_per_node=home.gpn,
        agg=agg,
        prefill=prefill,
        decode=decode,
        notes=tuple(dict.fromkeys(home.notes + far.notes)),
        decode_system=None if far is home else far.system,
        decode_gpus_per_node=far.gpn,
        equal_attention_tp=rules.needs_equal_tp(req.model),
        kv_pair_rule=f"{req.backend} hands the KV cache of {attention_kind(req.model).upper()} attention "
        f"only between prefill and decode workers of equal attention TP ({rules.sources['disagg']})",
    )


class _Engine:
    """One system's op data, step models and worker layouts for a request; prices one role at a time."""

    def __init__(self, req: SurfaceRequest, system: str):
        self.req, self.system = req, system
        self.db = open_db(system, req.backend, req.version)
        self.quant, self.notes = resolve_quant(self.db, req.model, req.quant)
        self.gpn = node_size(system, req.gpus_per_node)  # the node size workers are placed on
        self.step = step_model(self.db, req, self.quant, "agg")
        self.disagg_step = step_model(self.db, req, self.quant, "disagg")
        self.step.check()
        self.mnt = token_budget(req)
        lays = layouts(req)
        if not lays:
            raise ValueError("the search space holds no worker layout for this model")  # the spec check says why
        self.lay, self.lays_np = _layout_arrays(lays)
        self.gpus = (self.lays_np[:, 0] * self.lays_np[:, 1] * self.lays_np[:, 2]).astype(int)
        self.cap, self.wfrac = self._kv(req.isl + req.osl)
        sizes = req.search.batch_sizes
        self.bgrid = (np.array(sorted(set(sizes))) if sizes else batch_grid(req.search.max_batch_size))[None, :]
        self.slots = kv_slots(self.cap, req.isl + req.osl, context_tokens(req)) * self.lay.dp  # requests a worker holds

    def _kv(self, tokens: int):
        lay = self.lay
        return kv_capacity_tokens(
            self.db.system, self.req.model, self.quant, lay.tp, lay.pp, lay.dp, lay.moe_tp, lay.moe_ep, self.mnt, tokens
        )

    def _factor(self, mode: str):
        cal = self.req.calibration
        return None if cal is None else cal.factor(self.system, self.req.backend, mode)

    def _rows(self, role: str, batch, fig, keep) -> Candidates:
        return _candidates(role, self.lays_np, batch, self.gpus, fig, keep, self.wfrac, self.mnt)

    def _batch_ok(self) -> np.ndarray:
        """Agg/decode batches a worker holds in KV and its engine runs: the engine caps each attention-DP rank at
        max_batch_size, so a worker's batch is a whole multiple of its DP ranks (equal batches per rank)."""
        dp = self.lay.dp
        return (self.cap > 0) & (self.bgrid <= self.slots) & (self.bgrid % dp == 0)

    def agg(self) -> Candidates:
        lay, isl, osl = self.lay, self.req.isl, self.req.osl
        f = agg_figures(
            self.step,
            lay,
            self.bgrid,
            isl,
            osl,
            self.mnt,
            self.cap,
            self.req.scheduler_recv_interval,
            fixed_lengths=fixed_lengths(self.req),
            batch_wait_iters=self.req.batch_wait_iters,
            batch_wait_ratio=self.req.batch_wait_max_tokens_ratio,
        )
        f = agg_spread(self.step, lay, f, workload_of(self.req), isl, osl, self.mnt)
        if (k := self._factor("agg")) is not None:  # scale both latencies; the request rate follows from them
            f = _calibrated(f, k)
            f["req_per_s"] = 1000.0 * f["running"] / (f["ttft_ms"] + (osl - 1) * f["tpot_ms"])
        keep = self._batch_ok()
        return self._rows("agg", self.bgrid, f, keep)

    def prefill(self, to: _Engine) -> Candidates:
        """Prefill rows whose KV cache goes to decode workers on ``to``'s system."""
        lay, isl = self.lay, self.req.isl
        pb = np.array(PREFILL_BATCHES)[None, :]
        util = self.req.prefill_utilisation
        fp = prefill_figures(self.disagg_step, lay, pb, isl, util)
        # Between systems the hand-off runs at the slower end's inter-node bandwidth; on one system it stays on
        # NVLink when the whole deployment fits one node.
        link = min((self, to), key=lambda e: e.db.system.inter_node_bw_bytes_per_s)
        gpn = self.db.system.gpus_per_node
        within = to is self and self.req.total_gpus is not None and self.req.total_gpus <= gpn
        hand = handoff_ms(link.disagg_step, isl, lay.tp, within)
        fp = {
            "ttft_ms": fp["ttft_ms"] + hand["total_ms"],
            "req_per_s": fp["req_per_s"] * util,
            "handoff_ms": hand["total_ms"],
            "kv_transfer_ms": hand["transfer_ms"],
            "queue_util": fp["queue_util"],
            "queue_service_ms": fp["queue_service_ms"],
        }
        fp = prefill_spread(self.disagg_step, lay, fp, workload_of(self.req), isl, hand["transfer_ms"])
        if (k := self._factor("disagg")) is not None:
            fp = _calibrated(fp, k)
        cap_p, _ = self._kv(isl)
        longest = context_tokens(self.req) - self.req.osl  # the longest request's prompt
        keep = (cap_p > 0) & ((pb - 1) * isl + longest <= np.maximum(cap_p, 0)) & (pb * isl <= max(self.mnt, isl))
        return self._rows("prefill", pb, fp, keep)

    def decode(self) -> Candidates:
        lay = self.lay
        per_rank = np.maximum(self.bgrid / lay.dp, 1)
        fd = decode_figures(self.disagg_step, lay, per_rank, self.req.isl, self.req.osl)
        if (k := self._factor("disagg")) is not None:
            fd = {"tpot_ms": fd["tpot_ms"] * k.tpot, "req_per_s": fd["req_per_s"] / k.tpot}
        fd = decode_spread(fd)
        keep = self._batch_ok()
        return self._rows("decode", self.bgrid, fd, keep)
