"""The op database: latency queries per op kind for one (system, backend, version).

A query names the op kind, its categorical keys (dtypes, head_dim, MoE shape, …) as scalars
and its numeric axes as numpy arrays, and answers all shapes in one vectorized call. Tables
are read on the first query that needs them; grids are built once per categorical key.
See ``costmodel.interp`` for the interpolation and extrapolation rules.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from costmodel.errors import CostModelError
from costmodel import roofline
from costmodel.interp import Grid, build_grid, query
from costmodel.paths import DataNotFoundError, data_dir
from costmodel.plausibility import twin_latency
from costmodel.system import System, load_system
from costmodel.tables import Table, listed, load_table, perf_dir


class MissingDataError(CostModelError, LookupError):
    """No measurements for the asked categorical key (e.g. a dtype the backend never measured)."""


@dataclass(frozen=True, slots=True)
class OpKind:
    """How one op kind maps onto a table: categorical keys, numeric axes, roofline floor."""

    table: str
    cats: tuple[str, ...]
    axes: tuple[str, ...]
    floor: roofline.FloorFactory
    system_wide: bool = False


OPS: dict[str, OpKind] = {
    "gemm": OpKind("gemm", ("dtype",), ("m", "n", "k"), roofline.gemm),
    "context_attention": OpKind(
        "context_attention",
        ("attn_dtype", "kv_dtype", "window", "head_dim"),
        ("heads", "kv_heads", "batch", "isl"),
        roofline.context_attention,
    ),
    "generation_attention": OpKind(
        "generation_attention",
        ("attn_dtype", "kv_dtype", "window", "head_dim"),
        ("heads", "kv_heads", "batch", "step"),
        roofline.generation_attention,
    ),
    "context_mla": OpKind("context_mla", ("mla_dtype", "kv_dtype"), ("heads", "batch", "isl"), roofline.context_mla),
    "generation_mla": OpKind(
        "generation_mla", ("mla_dtype", "kv_dtype"), ("heads", "batch", "step"), roofline.generation_mla
    ),
    "mla_context_module": OpKind(
        "mla_context_module", ("gemm_dtype", "mla_dtype", "kv_dtype"), ("heads", "batch", "isl"), roofline.context_mla
    ),
    "mla_generation_module": OpKind(
        "mla_generation_module",
        ("gemm_dtype", "mla_dtype", "kv_dtype"),
        ("heads", "batch", "step"),
        roofline.generation_mla,
    ),
    "mla_bmm": OpKind("mla_bmm", ("op", "dtype"), ("heads", "tokens"), roofline.mla_bmm),
    # one table per MoE kernel: the engine's default, and those a recipe may select (engine file tables.moe_backends):
    # TRT-LLM's TRTLLM backend (TRTLLMGenFusedMoE), vLLM's Triton fused MoE where its faster kernels are switched off,
    # vLLM's Marlin on MXFP4 experts (VLLM_MXFP4_USE_MARLIN=1; measured for other models' experts)
    **{
        name: OpKind(
            name, ("dtype", "distribution", "hidden", "inter", "topk", "experts"), ("tp", "ep", "tokens"), roofline.moe
        )
        for name in ("moe", "moe_trtllm_gen", "moe_triton", "moe_marlin")
    },
    "custom_allreduce": OpKind("custom_allreduce", ("dtype", "variant"), ("gpus", "msg"), roofline.collective),
    "nccl": OpKind("nccl", ("op", "dtype"), ("gpus", "msg"), roofline.collective, system_wide=True),
    "moe_a2a": OpKind(
        "moe_a2a",
        ("comm_backend", "phase", "comm_dtype", "nodes", "hidden", "topk", "experts", "sms"),
        ("ep", "tokens"),
        roofline.token_exchange,
    ),
    # gated delta-net linear attention (conv + delta rule), heads per GPU; generation rows have seq = 1
    "gdn": OpKind("gdn", ("phase", "d_model", "k_dim", "v_dim", "k_heads", "v_heads"), ("batch", "seq"), roofline.gdn),
    # one static FP8 quantize of an [m, k] activation: the engine's smallest elementwise kernel over the activations
    "quantize": OpKind("quantize", ("dtype",), ("m", "k"), roofline.activation_pass),
}


class OpDB:
    """Measured op latencies of one system, backend and version."""

    def __init__(self, system: str, backend: str, version: str):
        self.system: System = load_system(system)
        self.backend, self.version = backend, version
        self.folder = perf_dir(system, backend, version)
        if not self.folder.is_dir():
            have = sorted(p.name for p in self.folder.parent.glob("*")) if self.folder.parent.is_dir() else []
            raise DataNotFoundError(
                f"no measured data for backend {backend} {version} on {system}"
                + (f"; available versions: {', '.join(have)}" if have else "")
            )
        self._grids: dict[tuple, Grid] = {}
        self._options: dict[tuple[str, str], list] = {}

    def table(self, name: str) -> Table:
        """The raw table (read on first use)."""
        kind = OPS.get(name)
        if kind is not None and kind.system_wide:
            path = data_dir() / "perf" / self.system.name / "nccl" / self.system.nccl_version / f"{name}.csv.gz"
        else:
            path = self.folder / f"{name}.csv.gz"
        if not listed(path.parent, path.name):
            raise MissingDataError(
                f"{self.system.name}/{self.backend} {self.version} has no {name} table (looked for "
                f"{path}); `aicsolve systems` lists what is measured, `aicsolve data verify` checks "
                "the installed data"
            )
        return load_table(path)

    def has(self, op: str) -> bool:
        """Whether this backend measured the op kind at all."""
        kind = OPS[op]
        return kind.system_wide or listed(self.folder, f"{kind.table}.csv.gz")

    def options(self, op: str, cat: str) -> list:
        """Distinct values of one categorical key (for error messages and fallbacks); computed once."""
        key = (op, cat)
        if key not in self._options:
            self._options[key] = sorted(set(self.table(OPS[op].table).columns[cat].tolist()), key=str)
        return self._options[key]

    def grid(self, op: str, /, **cats) -> Grid:
        """The interpolation grid for one categorical key (built once)."""
        kind = OPS[op]
        key = (op, *(cats[c] for c in kind.cats))
        g = self._grids.get(key)
        if g is None:
            g = self._grids[key] = self._build(kind, op, cats)
        return g

    def _build(self, kind: OpKind, op: str, cats: dict) -> Grid:
        t = self.table(kind.table)
        mask = np.ones(len(t), dtype=bool)
        for c in kind.cats:
            col = t.columns[c]
            want = cats[c]
            sel = col == (str(want) if col.dtype == object else want)
            if not sel[mask].any():
                have = sorted({v for v in col[mask].tolist()}, key=str)
                near = difflib.get_close_matches(str(want), [str(h) for h in have], n=3, cutoff=0.3)
                raise MissingDataError(
                    f"{self.system.name}/{self.backend} {self.version}: no {op} measurements for "
                    f"{c}={want!r} (with {', '.join(f'{k}={cats[k]!r}' for k in kind.cats[: kind.cats.index(c)])})"
                    f"; measured: {', '.join(map(str, have[:12]))}" + (f"; nearest: {', '.join(near)}" if near else "")
                )
            mask &= sel
        coords = [t.columns[a][mask] for a in kind.axes]
        if op == "gemm":  # a host-bound dtype's rows read through their twin dtype (costmodel.plausibility)
            values = twin_latency(t.columns, mask, str(cats["dtype"]))
        else:
            values = t.columns[next(c for c in t.columns if c.endswith("_ms"))][mask]
        return build_grid(coords, values, kind.floor(self.system, cats))

    def latency_ms(self, op: str, /, *axes: ArrayLike, **cats) -> np.ndarray:
        """Latency in ms for every shape given by the numeric axes (arrays broadcast together)."""
        return query(self.grid(op, **cats), *axes)

    def floor_ms(self, op: str, /, *axes: ArrayLike, **cats) -> np.ndarray:
        """The roofline floor the op kind is clamped to."""
        return OPS[op].floor(self.system, cats)(*np.broadcast_arrays(*(np.asarray(a, float) for a in axes)))


@lru_cache(maxsize=64)
def open_db(system: str, backend: str, version: str) -> OpDB:
    """A shared OpDB per (system, backend, version)."""
    return OpDB(system, backend, version)
