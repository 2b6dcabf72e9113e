"""The engine settings a benchmark's launch script ran, as data: what ``validate`` prices its rows with.

The measurement CSV records a deployment's layout and load, not the engine flags. The InferenceMAX/InferenceX runs
(rows whose source records ``measured=``) were launched by scripts that set the token budget, the batch cap,
SGLang's inbox poll interval and the CUDA-graph limit per model, GPU and engine, sometimes by TP or concurrency, and
which script ran (MTP or not) follows from the run's date, layout and clients.
``data/validation/benchmark_recipes.yaml`` lists those settings, each entry with the script that sets it; each
setting of a run comes from the first entry that sets it and whose ``match`` (backend, system, model, optionally the
row's gemm_quant_mode label, its run day, a day it ran before or the first day it covers) and ``when`` hold. A
setting written ``concurrency`` is the run's client count (scripts that pass ``$CONC``); an EP written ``tp`` is the
worker's GPUs (``--ep_size=$TP``). The layout settings (``moe_ep``, ``attention_dp``) record what scripts chose by
themselves before InferenceX listed layouts in its configuration: those rows record EP 1 and no attention DP.
Settings no matching entry sets keep the product's defaults (``costmodel.config``, ``data/engines``), except the MoE
kernel: a run that names none ran the engine's own (``costmodel.validate``).

Errors: ``BenchmarkRecipeError`` for a missing or malformed file.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from costmodel.errors import CostModelError
from costmodel.paths import data_dir

FIELDS = (
    "max_num_tokens",
    "max_running",
    "recv_interval",
    "cuda_graph_max_batch",
    "mtp_draft",
    "balance_timeout_iters",
    "balance_batching_iters",
    "batch_wait_timeout_iters",
)
# shares of a budget (TRT-LLM batch_wait_max_tokens_ratio)
RATIO_FIELDS = ("batch_wait_max_tokens_ratio",)
# settings that name a kernel or a dtype rather than count: the MoE kernel (TRT-LLM moe_config.backend, vLLM's
# switches; ``default``: the engine's own choice) and the KV-cache dtype the script ran
TEXT_FIELDS = ("moe_backend", "kv_cache")
# the KV-cache dtypes a script can run (the op tables' kv_dtype names)
KV_CACHE_DTYPES = ("fp8", "bfloat16")
# the agg worker's layout as the script launched it: expert-parallel size (a number, or ``tp``: the worker's GPUs)
# and whether each GPU runs its own attention (TRT-LLM enable_attention_dp)
LAYOUT_FIELDS = ("moe_ep", "attention_dp")
SETTINGS = FIELDS + RATIO_FIELDS + TEXT_FIELDS + LAYOUT_FIELDS
# `when` condition -> (the run's value it reads, test against the entry's number)
CONDITIONS = {
    "tp": ("tp", operator.eq),
    "tp_min": ("tp", operator.ge),
    "tp_max": ("tp", operator.le),
    "ep": ("ep", operator.eq),
    "dp_min": ("dp", operator.ge),
    "conc_min": ("conc", operator.ge),
    "conc_max": ("conc", operator.le),
    "isl": ("isl", operator.eq),
    "osl": ("osl", operator.eq),
}


class BenchmarkRecipeError(CostModelError, ValueError):
    """data/validation/benchmark_recipes.yaml is missing or malformed."""


@dataclass(frozen=True)
class BenchmarkRecipe:
    """Engine settings of one benchmark run (None: the product's default). ``max_num_tokens``: token budget per
    iteration and attention-DP rank; ``max_running``: requests one rank runs at once (the batch cap);
    ``recv_interval``: SGLang's inbox poll period in iterations; ``cuda_graph_max_batch``: largest decode batch
    per rank replayed as a CUDA graph; ``mtp_draft``: MTP tokens drafted per step (models with MTP layers);
    ``balance_timeout_iters``, ``balance_batching_iters``: TRT-LLM ``attention_dp_config.timeout_iters`` and
    ``batching_wait_iters`` where the script turns the attention-DP balance on (``enable_balance``);
    ``batch_wait_timeout_iters``, ``batch_wait_max_tokens_ratio``: TRT-LLM's batch waiting (prompts held up to that
    many iterations or until that share of ``max_num_tokens`` is scheduled; without attention DP);
    ``moe_backend``: the MoE kernel where the script selects one the engine does not default to (TRT-LLM
    ``moe_config.backend``; vLLM's environment switches, engine file ``tables.moe_backends``; ``default``: the
    engine's own kernel); ``kv_cache``: the KV-cache dtype where the script's differs from what the row's precision
    label implies (``bfloat16``: a script that passes no ``--kv-cache-dtype`` to an engine whose default is the
    model's dtype); ``moe_ep``: the worker's expert-parallel size and ``attention_dp``:
    whether every GPU of the worker runs its own attention, where the script chose them and the row does not
    record them; ``source``: the scripts (and commits) that set them."""

    max_num_tokens: int | None = None
    max_running: int | None = None
    recv_interval: int | None = None
    cuda_graph_max_batch: int | None = None
    mtp_draft: int | None = None
    balance_timeout_iters: int | None = None
    balance_batching_iters: int | None = None
    batch_wait_timeout_iters: int | None = None
    batch_wait_max_tokens_ratio: float | None = None
    moe_backend: str | None = None
    kv_cache: str | None = None
    moe_ep: int | None = None
    attention_dp: bool | None = None
    source: str = ""


@dataclass(frozen=True)
class _Entry:
    backend: str
    systems: frozenset[str]
    models: frozenset[str]
    gemm: frozenset[str] | None  # the row's gemm_quant_mode label ("" when blank); None: any
    modes: frozenset[str] | None  # agg / disagg; None: both
    days: frozenset[str] | None  # run days (YYYY-MM-DD) the entry covers; None: any
    before: str  # the entry covers runs before this day ("": any)
    since: str  # the entry covers runs on or after this day ("": any)
    when: tuple[tuple[str, int], ...]
    recipe: BenchmarkRecipe
    per_client: frozenset[str]  # settings the script sets to the concurrency (e.g. --cuda-graph-max-bs $CONC)
    ep_per_gpu: bool  # moe_ep written ``tp``: the worker's GPUs (--ep_size=$TP, --enable-ep-moe)

    def holds(self, backend: str, system: str, model: str, gemm: str, mode: str, day: str, run: dict[str, int]) -> bool:
        if backend != self.backend or system not in self.systems or model not in self.models:
            return False
        if self.modes is not None and mode not in self.modes:
            return False
        if self.gemm is not None and gemm not in self.gemm:
            return False
        if (self.days is not None and day not in self.days) or (self.before and not (day and day < self.before)):
            return False
        if self.since and not (day and day >= self.since):
            return False
        return all(test(run[value], w) for (value, test), w in ((CONDITIONS[k], w) for k, w in self.when))


def benchmark_recipe(
    backend: str,
    system: str,
    model: str,
    gemm: str,
    tp: int,
    dp: int,
    concurrency: int,
    isl: int,
    osl: int,
    measured: str = "",
    mode: str = "agg",
    ep: int = 1,
) -> BenchmarkRecipe | None:
    """The settings of a benchmark run (its gemm_quant_mode label, (decode) worker TP and attention-DP ranks,
    clients, nominal ISL/OSL, ``measured``: its run date, ISO, "" when unknown, its mode and the worker's MoE EP
    size): each from the first matching entry that sets it. None when no entry matches."""
    day = measured[:10]
    run = {"tp": tp, "dp": dp, "ep": ep, "conc": concurrency, "isl": isl, "osl": osl}
    hits = [e for e in _entries() if e.holds(backend, system, model, gemm, mode, day, run)]
    if not hits:
        return None
    settings: dict[str, Any] = {}
    sources: list[str] = []
    for e in hits:
        own = {"moe_ep": max(tp, 1) * max(dp, 1)} if e.ep_per_gpu else {}
        new = {
            f: (concurrency if f in e.per_client else own.get(f, getattr(e.recipe, f)))
            for f in SETTINGS
            if f not in settings and (f in e.per_client or f in own or getattr(e.recipe, f) is not None)
        }
        if new:
            settings |= new
            sources += [e.recipe.source] if e.recipe.source not in sources else []
    return BenchmarkRecipe(**settings, source="; ".join(sources))


@lru_cache(maxsize=1)
def _entries() -> tuple[_Entry, ...]:
    path = data_dir() / "validation" / "benchmark_recipes.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
        return tuple(_entry(e, i) for i, e in enumerate(raw["recipes"]))
    except FileNotFoundError:
        raise BenchmarkRecipeError(f"{path} is missing; reinstall aicsolve") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise BenchmarkRecipeError(f"{path} is malformed ({e}); every entry needs match, source") from None


def _entry(e: dict[str, Any], i: int) -> _Entry:
    m = e["match"]
    unknown = (
        set(e) - {"match", "when", "source", *SETTINGS}
        or set(e.get("when") or {}) - set(CONDITIONS)
        or set(m) - {"backend", "system", "model", "gemm", "mode", "measured", "measured_before", "measured_since"}
    )
    if unknown:
        raise ValueError(f"entry {i}: unknown keys {sorted(unknown)}")
    per_client = frozenset(f for f in FIELDS if e.get(f) == "concurrency")
    return _Entry(
        backend=str(m["backend"]),
        systems=_set(m["system"]),
        models=_set(m["model"]),
        gemm=_set(m["gemm"]) if "gemm" in m else None,
        modes=_set(m["mode"]) if "mode" in m else None,
        days=_set(m["measured"]) if "measured" in m else None,
        before=str(m.get("measured_before", "")),
        since=str(m.get("measured_since", "")),
        when=tuple((str(k), int(v)) for k, v in sorted((e.get("when") or {}).items())),
        recipe=BenchmarkRecipe(**_settings(e, per_client), source=" ".join(str(e["source"]).split())),
        per_client=per_client,
        ep_per_gpu=e.get("moe_ep") == "tp",
    )


def _settings(e: dict[str, Any], per_client: frozenset[str]) -> dict[str, Any]:
    """An entry's own settings: counts as integers, shares as floats in [0, 1], kernel names as text (per-client ones
    are filled per run)."""
    counts = {f: int(e[f]) for f in FIELDS if e.get(f) is not None and f not in per_client}
    shares = {f: float(e[f]) for f in RATIO_FIELDS if e.get(f) is not None}
    if any(not 0.0 <= v <= 1.0 for v in shares.values()):
        raise ValueError(f"{sorted(shares)} must lie in [0, 1]")
    layout: dict[str, Any] = {}
    if e.get("moe_ep") not in (None, "tp"):
        layout["moe_ep"] = int(e["moe_ep"])
    if e.get("attention_dp") is not None:
        if not isinstance(e["attention_dp"], bool):
            raise ValueError("attention_dp must be true or false")
        layout["attention_dp"] = e["attention_dp"]
    if e.get("kv_cache") not in (None, *KV_CACHE_DTYPES):
        raise ValueError(f"kv_cache must be one of {', '.join(KV_CACHE_DTYPES)}")
    return counts | shares | layout | {f: str(e[f]) for f in TEXT_FIELDS if e.get(f) is not None}


def _set(v: Any) -> frozenset[str]:
    return frozenset(map(str, v if isinstance(v, list) else [v]))
