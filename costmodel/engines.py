"""What each serving engine runs, as data: ``data/engines/<backend>.yaml``, every rule with its source.

- ``layout``: how attention TP x DP and MoE TP x EP may combine in one worker. ``attention``:
  ``tp_x_dp`` (any product) or ``tp_or_dp`` (TRT-LLM: one of the two is 1). ``moe``: ``split``
  (moe_tp x moe_ep = tp x dp, any split) or ``tp_or_ep`` (vLLM: all MoE-TP or all EP).
- ``disagg.equal_attention_tp``: attention kinds (``mha``, ``mla``, ``hybrid``) whose KV hand-off
  needs prefill and decode workers of equal attention TP.
- ``scheduler.mixes_prefill_chunks``: whether the engine by default splits a prompt that does not fit the rest of
  an iteration's token budget and runs the remainder in the next decode iterations (vLLM V1); an engine that does
  not prefills the prompts that reach it together in one iteration, so same-length requests stay a cohort
  through the benchmark's closed loop (costmodel.serving, costmodel.closedloop).
- ``scheduler.batch_waiting``: whether the engine can hold new prompts while requests decode so they prefill
  together (TRT-LLM ``batch_wait_timeout_iters`` / ``batch_wait_max_tokens_ratio``; off by default).
- ``scheduler.prefill_first``: whether a prefill batch runs alone, ahead of the running batch's decode
  (SGLang without mixed chunks), instead of mixed into a decode iteration.
- ``cuda_graph``: the largest decode batch (requests per attention-DP rank) the engine replays as a
  captured CUDA graph by default (rules by GPU memory and world size), and whether the exporters render a
  capture limit that covers the batch cap (``exported``); larger batches run eagerly (costmodel.step).
- ``recipes``: the kernel the engine's recipe uses for a checkpoint on a GPU generation (today: the MoE dtype
  of MXFP4 experts by SM version), with the environment switch that selects it where it is not the default
  (``env``: the exporters set it on every worker that runs that dtype).

The same file holds every other per-backend value the cost model prices with, each with its source:

- ``tables``: the release whose op tables ship (``version``), the ``custom_allreduce`` variants the engine runs in
  order of preference (``allreduce_variants``), and a per-dtype gap its GEMM rows carry that the engine does not
  pay (``quant_gemm_gap_ms``, TRT-LLM's eager activation-quantize kernel).
- ``host``: per-iteration host time (``step_overhead_ms``) and the request path outside the GPU steps
  (``request_overhead_ms``, and ``mla_request_overhead_ms`` more for an MLA model where the engine's rows show it),
  ms: paid once per request in agg and disagg alike (``EngineRules.request_path_ms``).
- ``mtp``: the recipe's drafted tokens per step and acceptance, for agg and disagg.
- ``scheduler.max_num_tokens``: the token budget of one iteration (prefill chunk size).
- ``benchmark.scheduler_recv_interval``: the iterations between scheduler polls the measured rows' recipes ran,
  by concurrency (costmodel.validate).

The search prices only layouts these rules admit, so the exporters never translate one layout into
another. Errors: ``EngineDataError`` for a missing or malformed file (naming the file and the key),
``UnknownBackendError`` for a backend with no file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import yaml

from costmodel.errors import CostModelError
from costmodel.arch import ModelArch
from costmodel.paths import data_dir
from costmodel.shipped import BACKENDS

ATTENTION_RULES = ("tp_x_dp", "tp_or_dp")
MOE_RULES = ("split", "tp_or_ep")
ATTENTION_KINDS = ("mha", "mla", "hybrid")
# serving.moe_backend / SurfaceRequest.moe_backend value that asks for the engine's own default MoE kernel
DEFAULT_KERNEL = "default"
# EngineRules.sources key -> the engine file's key holding the source of those constants
CONSTANT_SOURCES = {
    "tables": "tables.source",
    "step_overhead": "host.step_source",
    "request_overhead": "host.request_source",
    "mla_request_overhead": "host.mla_request_source",
    "mtp": "mtp.source",
    "max_num_tokens": "scheduler.max_num_tokens_source",
    "mixes_prefill_chunks": "scheduler.mixes_prefill_chunks_source",
    "benchmark": "benchmark.source",
}


class EngineDataError(CostModelError, ValueError):
    """data/engines/<backend>.yaml is missing or malformed."""


class UnknownBackendError(CostModelError, KeyError):
    """A backend that is none of costmodel.shipped.BACKENDS (no engine file)."""

    __str__ = Exception.__str__  # the message, not KeyError's quoted key


class _Bad(Exception):
    """One value of an engine file missing or out of range: its dotted key and what is wrong with it."""


@dataclass(frozen=True)
class RecipeRule:
    """The MoE dtype an engine's recipe runs for experts stored as ``expert_weights`` on SM min_sm..max_sm: its
    default, or behind the environment switch ``env`` (name, value pairs the exporters set)."""

    expert_weights: str
    min_sm: int
    max_sm: int
    moe: str
    source: str
    env: tuple[tuple[str, str], ...] = ()  # environment the engine needs to run this kernel (name, value)

    def applies(self, arch: ModelArch, sm_version: int) -> bool:
        """Whether the rule covers this checkpoint's experts on this SM version."""
        return self.expert_weights == arch.native_weight_dtype and self.min_sm <= sm_version <= self.max_sm


@dataclass(frozen=True)
class GraphRule:
    """Default CUDA-graph capture limit ``max_batch`` where the GPU has under ``below_gpu_mem_gib`` GiB and the
    worker under ``below_world_size`` GPUs (None: no bound)."""

    max_batch: int
    below_gpu_mem_gib: float | None = None
    below_world_size: int | None = None


@dataclass(frozen=True)
class RecvRule:
    """Scheduler poll interval ``interval`` (iterations) below ``below_concurrency`` clients (None: no bound)."""

    interval: int
    below_concurrency: int | None = None


@dataclass(frozen=True)
class EngineRules:
    """One backend's rules and constants, each value's source in its file (see the module docstring)."""

    backend: str
    attention: str
    moe: str
    equal_attention_tp: frozenset[str]
    recipes: tuple[RecipeRule, ...]
    sources: dict[str, str]
    version: str  # release of the shipped op tables
    allreduce_variants: tuple[str, ...]  # custom_allreduce table variants, the engine's own first
    quant_gemm_gap_ms: dict[str, float]  # GEMM dtype -> ms the table rows carry that the engine does not run
    step_overhead_ms: float  # host time of one iteration
    request_overhead_ms: float  # request path outside the GPU steps, once per request (agg and disagg TTFT)
    max_num_tokens: int  # token budget of one iteration (prefill chunk size)
    mtp_agg: tuple[int, float]  # (drafted tokens per step, per-token acceptance) of the agg recipe
    mtp_disagg: tuple[int, float]  # ... of the disagg recipe
    benchmark_recv: tuple[RecvRule, ...]  # the measured rows' scheduler poll interval by concurrency
    mixes_prefill_chunks: bool = False
    prefill_first: bool = False
    batch_waiting: bool = False  # batch_wait_timeout_iters / batch_wait_max_tokens_ratio (TRT-LLM)
    graph_defaults: tuple[GraphRule, ...] = ()
    graph_exported: bool = False
    # MoE backends a recipe may select in place of the engine's default kernel: (name, the op table that measured
    # it, the largest expert-parallel size the engine runs it at; None: any)
    moe_backend_tables: tuple[tuple[str, str, int | None], ...] = ()
    # environment a worker needs to run each of those kernels where the engine selects it by a switch, not by a
    # setting of its config (vLLM), as (name, ((variable, value), ...)); absent: the exporter sets moe_config.backend
    moe_backend_envs: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # those of the kernels whose table measured other models' experts only, read for a model's own at equal tokens per
    # expert (StepModel.moe_transfer; the file's ``other_experts: true``); every other table is read for exact shapes
    moe_backend_transfers: frozenset[str] = frozenset()
    # MoE kernels the product's recipe selects, in order, where one is measured for the model's experts
    moe_recipe: tuple[str, ...] = ()
    mla_request_overhead_ms: float = 0.0  # what an MLA model's request path adds (host.mla_request_overhead_ms)
    # the measured GDN decode kernel computes the gating (g, beta from a, b) itself: no gating kernel in decode
    gdn_decode_gating_fused: bool = False

    def request_path_ms(self, is_mla: bool) -> float:
        """The engine's request path outside the GPU steps (ms), paid once per request in agg and disagg alike:
        ``request_overhead_ms``, plus ``mla_request_overhead_ms`` for a model with MLA attention."""
        return self.request_overhead_ms + (self.mla_request_overhead_ms if is_mla else 0.0)

    @property
    def moe_kernels(self) -> tuple[str, ...]:
        """The MoE kernels a recipe may select in place of the engine's default (moe_backend_tables' names)."""
        return tuple(b[0] for b in self.moe_backend_tables)

    def moe_table(self, moe_backend: str | None) -> str:
        """The op table of the MoE kernel a recipe runs: ``moe`` (the engine's default) for None or ``default``, else
        the table the engine file names for that backend. Raises ValueError naming the backends that have one."""
        if moe_backend in (None, DEFAULT_KERNEL):
            return "moe"
        return self._moe_backend(moe_backend)[1]

    def moe_max_ep(self, moe_backend: str | None) -> int | None:
        """The largest expert-parallel size the engine runs ``moe_backend`` at (larger EP keeps the engine's
        default kernel); None: no limit, or the default kernel itself."""
        return None if moe_backend in (None, DEFAULT_KERNEL) else self._moe_backend(moe_backend)[2]

    def moe_runs_at(self, moe_backend: str | None, moe_ep: Any) -> np.ndarray:
        """Whether the engine runs ``moe_backend`` at expert-parallel size ``moe_ep`` (an int or array; bools of its
        shape): up to moe_max_ep; the default kernel at every EP. Where it does not, the default kernel runs."""
        limit = self.moe_max_ep(moe_backend)
        return np.asarray(moe_ep) <= (np.inf if limit is None else limit)

    def moe_backend_env(self, moe_backend: str | None) -> dict[str, str]:
        """Environment a worker needs to run ``moe_backend`` (the engine file's ``env`` for it); empty for the
        default kernel and for a kernel the engine selects by a config setting (TRT-LLM moe_config.backend)."""
        return dict(next((env for name, env in self.moe_backend_envs if name == moe_backend), ()))

    def _moe_backend(self, name: str) -> tuple[str, str, int | None]:
        hit = next((b for b in self.moe_backend_tables if b[0] == name), None)
        if hit is None:
            have = ", ".join(self.moe_kernels)
            raise ValueError(
                f"{self.backend} has no MoE kernel {name!r} to select ({'its kernels: ' + have if have else 'it selects none'})"
            )
        return hit

    def default_graph_batch(self, gpu_mem_bytes: float, world_size: int) -> int | None:
        """The engine's default CUDA-graph capture limit (decode requests per attention-DP rank) on a GPU of
        ``gpu_mem_bytes`` in a worker of ``world_size`` GPUs; None: the engine data give none (no limit priced)."""
        gib = gpu_mem_bytes / 2**30
        for r in self.graph_defaults:
            if (r.below_gpu_mem_gib is None or gib < r.below_gpu_mem_gib) and (
                r.below_world_size is None or world_size < r.below_world_size
            ):
                return r.max_batch
        return None

    def mtp(self, mode: str) -> tuple[int, float]:
        """(drafted tokens per step, acceptance) of the engine's recipe for ``mode`` (agg, disagg) of an MTP model."""
        return self.mtp_disagg if mode == "disagg" else self.mtp_agg

    def benchmark_recv_interval(self, concurrency: int) -> int:
        """Iterations between scheduler polls in the measured rows' recipe at this many clients (1: every one)."""
        return next(
            r.interval for r in self.benchmark_recv if r.below_concurrency is None or concurrency < r.below_concurrency
        )

    def layout_ok(self, tp: Any, dp: Any, moe_tp: Any, moe_ep: Any) -> Any:
        """Whether the engine runs each layout: arrays (or ints) of attention TP/DP and MoE TP/EP → bool(s)."""
        tp, dp, moe_tp, moe_ep = (np.asarray(x) for x in (tp, dp, moe_tp, moe_ep))
        ok = (tp == 1) | (dp == 1) if self.attention == "tp_or_dp" else np.ones(np.broadcast(tp, dp).shape, bool)
        if self.moe == "tp_or_ep":
            ok = ok & ((moe_tp == 1) | (moe_ep == 1))
        return ok

    def layout_rule_text(self) -> str:
        """The layout rules in words, with their sources (for messages)."""
        att = (
            "runs attention either tensor-parallel or data-parallel across a worker, never both"
            if self.attention == "tp_or_dp"
            else "runs attention as TP x DP in any combination"
        )
        moe = (
            "runs the experts either all tensor-parallel or all expert-parallel across the worker"
            if self.moe == "tp_or_ep"
            else "splits the experts as MoE TP x EP in any combination"
        )
        return f"{self.backend} {att} ({self.sources['attention']}) and {moe} ({self.sources['moe']})"

    def needs_equal_tp(self, arch: ModelArch) -> bool:
        """Whether this model's disagg prefill and decode workers must have equal attention TP."""
        return attention_kind(arch) in self.equal_attention_tp

    def default_moe(self, arch: ModelArch, sm_version: int) -> RecipeRule | None:
        """The engine's default MoE kernel rule for this checkpoint on this SM version, if one applies."""
        return next((r for r in self.recipes if r.applies(arch, sm_version)), None)

    def kernel_env(self, arch: ModelArch, sm_version: int, moe: str) -> dict[str, str]:
        """Environment a worker needs to run the priced MoE dtype ``moe`` for this checkpoint on this SM version
        (a recipe that is an engine switch, not its default); empty when none is needed."""
        return {k: v for r in self.recipes if r.moe == moe and r.applies(arch, sm_version) for k, v in r.env}


def attention_kind(arch: ModelArch) -> str:
    """``mla`` (DeepSeek-style latent KV), ``hybrid`` (linear-attention layers with fixed state) or ``mha``."""
    if arch.is_mla:
        return "mla"
    return "hybrid" if arch.num_linear_layers else "mha"


@lru_cache(maxsize=None)
def engine_rules(backend: str) -> EngineRules:
    """The rules of one backend (trtllm, vllm, sglang) from data/engines/<backend>.yaml.

    Raises UnknownBackendError for a backend not in BACKENDS, EngineDataError (naming the file and key) for a
    missing, unreadable or malformed file."""
    if backend not in BACKENDS:
        raise UnknownBackendError(f"unknown backend {backend!r}; the engines are {', '.join(BACKENDS)}.")
    path = data_dir() / "engines" / f"{backend}.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
        lay, dis = raw["layout"], raw["disagg"]
        rules = EngineRules(
            backend=backend,
            attention=str(lay["attention"]),
            moe=str(lay["moe"]),
            equal_attention_tp=frozenset(dis["equal_attention_tp"] or ()),
            recipes=tuple(_recipe(r) for r in raw.get("recipes") or ()),
            mixes_prefill_chunks=_flag(raw, "scheduler.mixes_prefill_chunks"),
            batch_waiting=_flag(raw, "scheduler.batch_waiting"),
            prefill_first=_flag(raw, "scheduler.prefill_first"),
            graph_defaults=tuple(_graph_rule(r) for r in (raw.get("cuda_graph") or {}).get("defaults") or ()),
            graph_exported=_flag(raw, "cuda_graph.exported"),
            gdn_decode_gating_fused=_flag(raw, "tables.gdn_decode_gating_fused"),
            moe_backend_tables=tuple(
                (str(k), str(v["table"]), None if v.get("max_ep") is None else int(v["max_ep"]))
                for k, v in sorted(((raw.get("tables") or {}).get("moe_backends") or {}).items())
            ),
            moe_backend_envs=tuple(
                (str(k), tuple((str(n), str(x)) for n, x in sorted((v.get("env") or {}).items())))
                for k, v in sorted(((raw.get("tables") or {}).get("moe_backends") or {}).items())
                if v.get("env")
            ),
            moe_backend_transfers=frozenset(
                str(k)
                for k, v in ((raw.get("tables") or {}).get("moe_backends") or {}).items()
                if v.get("other_experts")
            ),
            moe_recipe=tuple(str(b) for b in (raw.get("tables") or {}).get("moe_recipe") or ()),
            **_constants(
                raw,
                {
                    "attention": str(lay["attention_source"]).strip(),
                    "moe": str(lay["moe_source"]).strip(),
                    "disagg": str(dis["source"]).strip(),
                },
            ),
        )
    except OSError as e:
        raise EngineDataError(f"engine rules {path} cannot be read ({e.strerror or e}); reinstall aicsolve.") from None
    except _Bad as e:
        key, problem = e.args
        raise EngineDataError(f"engine rules {path}: {key} {problem}.") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise EngineDataError(f"engine rules {path} are malformed ({type(e).__name__}: {e}).") from None
    bad = (
        ([rules.attention] if rules.attention not in ATTENTION_RULES else [])
        + ([rules.moe] if rules.moe not in MOE_RULES else [])
        + sorted(rules.equal_attention_tp - set(ATTENTION_KINDS))
    )
    if bad:
        raise EngineDataError(
            f"engine rules {path}: unknown value(s) {', '.join(bad)}; attention is one of "
            f"{ATTENTION_RULES}, moe one of {MOE_RULES}, equal_attention_tp lists {ATTENTION_KINDS}."
        )
    return rules


def _flag(raw: dict, key: str) -> bool:
    v = _at(raw, key)
    if not isinstance(v, bool):
        raise _Bad(key, f"is {v!r}, not true or false")
    return v


def _constants(raw: dict, sources: dict[str, str]) -> dict[str, Any]:
    """The per-backend constants of an engine file (tables, host, mtp, scheduler budget, benchmark recipe), and
    ``sources`` with theirs added."""
    version = _at(raw, "tables.version")
    if not isinstance(version, str) or not version:
        raise _Bad("tables.version", f"is {version!r}, not a release name in quotes")
    variants = _at(raw, "tables.allreduce_variants")
    if not (isinstance(variants, list) and variants and all(isinstance(v, str) for v in variants)):
        raise _Bad("tables.allreduce_variants", f"is {variants!r}, not a list of table variant names")
    gaps = _at(raw, "tables.quant_gemm_gap_ms")
    if not isinstance(gaps, dict):
        raise _Bad("tables.quant_gemm_gap_ms", f"is {gaps!r}, not a mapping of GEMM dtype to ms ({{}}: none)")
    recv = _at(raw, "benchmark.scheduler_recv_interval")
    if not (isinstance(recv, list) and recv and all(isinstance(r, dict) for r in recv)):
        raise _Bad("benchmark.scheduler_recv_interval", f"is {recv!r}, not a list of {{interval, below_concurrency}}")
    polls = tuple(_recv_rule(r, f"benchmark.scheduler_recv_interval[{i}].") for i, r in enumerate(recv))
    if polls[-1].below_concurrency is not None:
        raise _Bad("benchmark.scheduler_recv_interval", "needs a last rule without below_concurrency (any load)")
    return dict(
        sources=sources | {name: _text(raw, key) for name, key in CONSTANT_SOURCES.items()},
        version=version,
        allreduce_variants=tuple(variants),
        quant_gemm_gap_ms={str(k): _number(gaps, str(k), "tables.quant_gemm_gap_ms.") for k in gaps},
        step_overhead_ms=_number(raw, "host.step_overhead_ms"),
        request_overhead_ms=_number(raw, "host.request_overhead_ms"),
        mla_request_overhead_ms=_number(raw, "host.mla_request_overhead_ms"),
        max_num_tokens=int(_number(raw, "scheduler.max_num_tokens", integer=True, minimum=1)),
        mtp_agg=_mtp(raw, "mtp.agg."),
        mtp_disagg=_mtp(raw, "mtp.disagg."),
        benchmark_recv=polls,
    )


def _at(raw: Any, key: str, where: str = "") -> Any:
    """The value at dotted ``key`` of a parsed engine file (``where``: the key's prefix there, for messages)."""
    node = raw
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise _Bad(where + key, "is missing")
        node = node[part]
    return node


def _text(raw: Any, key: str) -> str:
    """A non-empty string at dotted ``key`` (a source), whitespace folded."""
    v = _at(raw, key)
    if not isinstance(v, str) or not v.strip():
        raise _Bad(key, f"is {v!r}, not the text of a source")
    return " ".join(v.split())


def _number(raw: Any, key: str, where: str = "", *, integer: bool = False, minimum: float = 0.0) -> float:
    """A finite number ≥ ``minimum`` (an integer when ``integer``) at dotted ``key``."""
    v = _at(raw, key, where)
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or not math.isfinite(v) or v < minimum:
        raise _Bad(where + key, f"is {v!r}, not {'an integer' if integer else 'a number'} of at least {minimum:g}")
    return float(v)


def _mtp(raw: dict, where: str) -> tuple[int, float]:
    draft, accept = _number(raw, where + "draft", integer=True), _number(raw, where + "accept")
    if accept > 1:
        raise _Bad(where + "accept", f"is {accept:g}, not a probability (0 to 1)")
    return int(draft), accept


def _recv_rule(r: dict, where: str) -> RecvRule:
    below = _number(r, "below_concurrency", where, integer=True, minimum=1) if "below_concurrency" in r else None
    return RecvRule(
        interval=int(_number(r, "interval", where, integer=True, minimum=1)),
        below_concurrency=None if below is None else int(below),
    )


def _graph_rule(r: dict) -> GraphRule:
    mem, world = r.get("below_gpu_mem_gib"), r.get("below_world_size")
    rule = GraphRule(
        max_batch=int(r["max_batch"]),
        below_gpu_mem_gib=None if mem is None else float(mem),
        below_world_size=None if world is None else int(world),
    )
    if rule.max_batch < 1:
        raise ValueError(f"cuda_graph max_batch {rule.max_batch} is below 1")
    return rule


def _recipe(r: dict) -> RecipeRule:
    when = r["when"]
    return RecipeRule(
        expert_weights=str(when["expert_weights"]),
        min_sm=int(when.get("min_sm", 0)),
        max_sm=int(when.get("max_sm", 10_000)),
        moe=str(r["moe"]),
        source=" ".join(str(r["source"]).split()),
        env=tuple((str(k), str(v)) for k, v in sorted((r.get("env") or {}).items())),
    )
