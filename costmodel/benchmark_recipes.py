"""The engine settings a benchmark's launch script ran, as data: what ``validate`` prices its rows with.

The measurement CSV records a deployment's layout and load, not the engine flags. The InferenceMAX/InferenceX
runs (rows whose source records ``measured=``) were launched by scripts that set the token budget, the batch
cap, SGLang's inbox poll interval and the CUDA-graph limit per model, GPU and engine, sometimes by TP or
concurrency. ``data/validation/benchmark_recipes.yaml`` lists those settings, each entry with the script that
sets it; a row takes the first entry whose ``match`` (backend, system, model, optionally the row's
gemm_quant_mode label) and ``when`` hold. A setting written ``concurrency`` is the run's client count (scripts
that pass ``$CONC``). Settings an entry leaves out, and rows
no entry matches, keep the product's defaults (``costmodel.config``, ``data/engines``).

Errors: ``BenchmarkRecipeError`` for a missing or malformed file.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, replace
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
)
# `when` condition -> (the run's value it reads, test against the entry's number)
CONDITIONS = {
    "tp": ("tp", operator.eq),
    "tp_min": ("tp", operator.ge),
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
    ``source``: the script (and commit) that sets them."""

    max_num_tokens: int | None = None
    max_running: int | None = None
    recv_interval: int | None = None
    cuda_graph_max_batch: int | None = None
    mtp_draft: int | None = None
    balance_timeout_iters: int | None = None
    balance_batching_iters: int | None = None
    source: str = ""


@dataclass(frozen=True)
class _Entry:
    backend: str
    systems: frozenset[str]
    models: frozenset[str]
    gemm: frozenset[str] | None  # the row's gemm_quant_mode label ("" when blank); None: any
    when: tuple[tuple[str, int], ...]
    recipe: BenchmarkRecipe
    per_client: frozenset[str]  # settings the script sets to the concurrency (e.g. --cuda-graph-max-bs $CONC)

    def holds(
        self, backend: str, system: str, model: str, gemm: str, tp: int, dp: int, conc: int, isl: int, osl: int
    ) -> bool:
        if backend != self.backend or system not in self.systems or model not in self.models:
            return False
        if self.gemm is not None and gemm not in self.gemm:
            return False
        run = {"tp": tp, "dp": dp, "conc": conc, "isl": isl, "osl": osl}
        return all(test(run[value], w) for (value, test), w in ((CONDITIONS[k], w) for k, w in self.when))


def benchmark_recipe(
    backend: str, system: str, model: str, gemm: str, tp: int, dp: int, concurrency: int, isl: int, osl: int
) -> BenchmarkRecipe | None:
    """The settings of the first entry matching a benchmark run (its gemm_quant_mode label, worker TP and
    attention-DP ranks, clients, nominal ISL/OSL), or None."""
    e = next((e for e in _entries() if e.holds(backend, system, model, gemm, tp, dp, concurrency, isl, osl)), None)
    if e is None:
        return None
    per_client: dict[str, Any] = {f: concurrency for f in e.per_client}
    return replace(e.recipe, **per_client)


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
    unknown = set(e) - {"match", "when", "source", *FIELDS} or set(e.get("when") or {}) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"entry {i}: unknown keys {sorted(unknown)}")
    per_client = frozenset(f for f in FIELDS if e.get(f) == "concurrency")
    return _Entry(
        backend=str(m["backend"]),
        systems=_set(m["system"]),
        models=_set(m["model"]),
        gemm=_set(m["gemm"]) if "gemm" in m else None,
        when=tuple((str(k), int(v)) for k, v in sorted((e.get("when") or {}).items())),
        recipe=BenchmarkRecipe(
            **{f: int(e[f]) for f in FIELDS if e.get(f) is not None and f not in per_client},
            source=" ".join(str(e["source"]).split()),
        ),
        per_client=per_client,
    )


def _set(v: Any) -> frozenset[str]:
    return frozenset(map(str, v if isinstance(v, list) else [v]))
