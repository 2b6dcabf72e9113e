"""What each serving engine runs, as data: ``data/engines/<backend>.yaml``, every rule with its source.

- ``layout``: how attention TP x DP and MoE TP x EP may combine in one worker. ``attention``:
  ``tp_x_dp`` (any product) or ``tp_or_dp`` (TRT-LLM: one of the two is 1). ``moe``: ``split``
  (moe_tp x moe_ep = tp x dp, any split) or ``tp_or_ep`` (vLLM: all MoE-TP or all EP).
- ``disagg.equal_attention_tp``: attention kinds (``mha``, ``mla``, ``hybrid``) whose KV hand-off
  needs prefill and decode workers of equal attention TP.
- ``scheduler.prefill_clumps``: whether prompts that reach the scheduler together are prefilled in
  one iteration and so stay a cohort through the benchmark's closed loop (costmodel.closedloop).
- ``scheduler.prefill_first``: whether a prefill batch runs alone, ahead of the running batch's decode
  (SGLang without mixed chunks), instead of mixed into a decode iteration.
- ``cuda_graph``: the largest decode batch (requests per attention-DP rank) the engine replays as a
  captured CUDA graph by default (rules by GPU memory and world size), and whether the exporters render a
  capture limit that covers the batch cap (``exported``); larger batches run eagerly (costmodel.step).
- ``recipes``: the kernel the engine's recipe uses for a checkpoint on a GPU generation (today: the MoE dtype
  of MXFP4 experts by SM version), with the environment switch that selects it where it is not the default
  (``env``: the exporters set it on every worker that runs that dtype).

The search prices only layouts these rules admit, so the exporters never translate one layout into
another. Errors: ``EngineDataError`` for a missing or malformed file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import yaml

from costmodel.errors import CostModelError
from costmodel.arch import ModelArch
from costmodel.paths import data_dir

ATTENTION_RULES = ("tp_x_dp", "tp_or_dp")
MOE_RULES = ("split", "tp_or_ep")
ATTENTION_KINDS = ("mha", "mla", "hybrid")


class EngineDataError(CostModelError, ValueError):
    """data/engines/<backend>.yaml is missing or malformed."""


@dataclass(frozen=True)
class RecipeRule:
    """The MoE dtype an engine runs by default for experts stored as ``expert_weights`` on SM min_sm..max_sm."""

    expert_weights: str
    min_sm: int
    max_sm: int
    moe: str
    source: str
    env: tuple[tuple[str, str], ...] = ()  # environment the engine needs to run this kernel (name, value)


@dataclass(frozen=True)
class GraphRule:
    """Default CUDA-graph capture limit ``max_batch`` where the GPU has under ``below_gpu_mem_gib`` GiB and the
    worker under ``below_world_size`` GPUs (None: no bound)."""

    max_batch: int
    below_gpu_mem_gib: float | None = None
    below_world_size: int | None = None


@dataclass(frozen=True)
class EngineRules:
    """One backend's layout, hand-off and default-kernel rules (see the module docstring)."""

    backend: str
    attention: str
    moe: str
    equal_attention_tp: frozenset[str]
    recipes: tuple[RecipeRule, ...]
    sources: dict[str, str]
    prefill_clumps: bool = True
    prefill_first: bool = False
    graph_defaults: tuple[GraphRule, ...] = ()
    graph_exported: bool = False

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
        return next(
            (
                r
                for r in self.recipes
                if r.expert_weights == arch.native_weight_dtype and r.min_sm <= sm_version <= r.max_sm
            ),
            None,
        )

    def kernel_env(self, arch: ModelArch, sm_version: int, moe: str) -> dict[str, str]:
        """Environment a worker needs to run the priced MoE dtype ``moe`` for this checkpoint on this SM version
        (a recipe that is an engine switch, not its default); empty when none is needed."""
        return {
            k: v
            for r in self.recipes
            if r.moe == moe and r.expert_weights == arch.native_weight_dtype and r.min_sm <= sm_version <= r.max_sm
            for k, v in r.env
        }


def attention_kind(arch: ModelArch) -> str:
    """``mla`` (DeepSeek-style latent KV), ``hybrid`` (linear-attention layers with fixed state) or ``mha``."""
    if arch.is_mla:
        return "mla"
    return "hybrid" if arch.num_linear_layers else "mha"


@lru_cache(maxsize=None)
def engine_rules(backend: str) -> EngineRules:
    """The rules of one backend (trtllm, vllm, sglang) from data/engines/<backend>.yaml."""
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
            prefill_clumps=bool((raw.get("scheduler") or {}).get("prefill_clumps", True)),
            prefill_first=bool((raw.get("scheduler") or {}).get("prefill_first", False)),
            graph_defaults=tuple(_graph_rule(r) for r in (raw.get("cuda_graph") or {}).get("defaults") or ()),
            graph_exported=bool((raw.get("cuda_graph") or {}).get("exported", False)),
            sources={
                "attention": str(lay["attention_source"]).strip(),
                "moe": str(lay["moe_source"]).strip(),
                "disagg": str(dis["source"]).strip(),
            },
        )
    except OSError as e:
        raise EngineDataError(f"engine rules {path} cannot be read ({e.strerror or e}); reinstall aicsolve.") from None
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
