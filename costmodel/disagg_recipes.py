"""The disaggregated recipe a benchmark run used, as data: what ``validate`` prices a disagg row with.

A disaggregated measurement row records its clients and layouts, and often leaves the prefill and decode worker
counts, the attention-DP split and the MTP depth blank. The InferenceX benchmark launched every such run from an
entry of its configuration (clients, prefill and decode workers with TP, EP and attention DP, and the srt-slurm
recipe file whose name carries the MTP depth; a TRT-LLM or SGLang file's batch and token limits, each role's expert
parallelism, attention DP and MoE kernel, and the client counts its benchmark runs are read from the file);
``data/validation/disagg_recipes.yaml`` holds every entry that file listed, with the days it was listed (generated
by ``bench/inferencex_disagg_recipes.py``). A run is the entry of its engine, GPU, model, precision label and
lengths that lists its client count (or whose file benchmarks it) on its run day and whose prefill worker has the
run's GPUs and the EP the entry listed. On the day a commit changed the configuration, the entries both before
and after it are listed; where they disagree, the run is the sweep of the entries that commit listed. Where several
entries still match (MTP and non-MTP twins, re-sized pools), only what they agree on is returned.

Errors: ``BenchmarkRecipeError`` for a missing or malformed file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import yaml

from costmodel.benchmark_recipes import BenchmarkRecipeError
from costmodel.paths import data_dir


@dataclass(frozen=True)
class WorkerRecipe:
    """One role of a disagg recipe: ``workers``, ``gpus`` per worker (TP × attention-DP ranks), expert-parallel
    ``ep``, whether attention runs data-parallel over the worker's GPUs (``attention_dp``), and the MoE kernel its
    TRT-LLM recipe file selects (``moe_kernel``: ``moe_config.backend`` as written, e.g. TRTLLM, DEEPGEMM, CUTLASS;
    None where no file was read or it names none)."""

    workers: int
    gpus: int
    ep: int
    attention_dp: bool
    moe_kernel: str | None = None


@dataclass(frozen=True)
class EngineLimits:
    """Per attention-DP rank limits of a disagg recipe file: the prefill worker's ``prefill_batch`` prompts and
    ``prefill_tokens`` per step, and the decode worker's ``decode_batch`` requests at once (srt-slurm
    ``trtllm_config``: ``max_batch_size``, ``max_num_tokens``; ``sglang_config``: ``max-running-requests`` over the
    attention-DP ranks, ``max-prefill-tokens`` at most ``chunked-prefill-size``)."""

    prefill_batch: int
    prefill_tokens: int
    decode_batch: int


@dataclass(frozen=True)
class DisaggRecipe:
    """The recipe of a disagg run: its ``prefill`` and ``decode`` roles; ``mtp_draft``: tokens drafted per decode
    step (True: MTP at the engine's own depth; None: the entries do not say or disagree); ``source``: the
    configuration entries (config key and the commit that first listed them); ``limits``: the engine limits its
    recipe file set (None: no file read, or the entries disagree)."""

    prefill: WorkerRecipe
    decode: WorkerRecipe
    mtp_draft: int | bool | None
    source: str
    limits: EngineLimits | None = None


@dataclass(frozen=True)
class _Entry:
    backend: str
    system: str
    gemm: str
    models: frozenset[str]
    first: str
    last: str
    isl: int
    osl: int
    conc: frozenset[int]  # the entry's conc-list and the clients its recipe file benchmarks
    prefill: WorkerRecipe
    decode: WorkerRecipe
    mtp: int | bool | None
    source: str
    limits: EngineLimits | None
    listed_prefill_ep: int  # the configuration's EP for the prefill worker, which the rows record


def disagg_recipe(
    backend: str,
    system: str,
    model: str,
    gemm: str,
    isl: int,
    osl: int,
    concurrency: int,
    prefill_gpus: int,
    prefill_ep: int,
    measured: str,
    decode_gpus: int | None = None,
    decode_workers: int | None = None,
) -> DisaggRecipe | None:
    """The recipe of a disagg benchmark run: its engine, GPU, model, gemm_quant_mode label, nominal ISL/OSL, clients,
    GPUs and EP of its prefill worker, ``measured``: its run date (ISO; "" when unknown), and the GPUs per decode
    worker and decode workers the run records (None: not recorded), which pick among entries that otherwise
    disagree. None when no entry matches or the matching entries disagree on the workers or layouts."""
    day = measured[:10]
    if not day:
        return None
    hits = [
        e
        for e in _entries()
        if (e.backend, e.system, e.gemm, e.isl, e.osl) == (backend, system, gemm, isl, osl)
        and model in e.models
        and concurrency in e.conc
        and e.first <= day <= e.last
        and (e.prefill.gpus, e.listed_prefill_ep) == (prefill_gpus, prefill_ep)
    ]
    if _disagree(hits):
        # on the day a commit changed the configuration, the runs are the sweep of the entries it listed
        hits = [e for e in hits if e.first == max(h.first for h in hits)]
    if _disagree(hits):
        # entries for the same clients that differ in their decode pool: the run is the one whose decode worker
        # size and count it records (rows that match one entry record both as that entry lists them: 652 and 113
        # of 652 and 113 dev rows; their decode EP is no guide, written as moe_tp × moe_ep of the worker's GPUs)
        same = [e for e in hits if decode_gpus in (None, e.decode.gpus) and decode_workers in (None, e.decode.workers)]
        hits = same or hits
    if not hits or _disagree(hits):
        return None
    mtps = {e.mtp for e in hits}
    limits = {e.limits for e in hits}
    return DisaggRecipe(
        prefill=_agreed([e.prefill for e in hits]),
        decode=_agreed([e.decode for e in hits]),
        mtp_draft=mtps.pop() if len(mtps) == 1 else None,
        source="; ".join(sorted({e.source for e in hits})),
        limits=limits.pop() if len(limits) == 1 else None,
    )


def _disagree(hits: list[_Entry]) -> bool:
    """Whether matching entries name different workers or layouts (their MoE kernels aside)."""
    return len({(replace(e.prefill, moe_kernel=None), replace(e.decode, moe_kernel=None)) for e in hits}) > 1


def _agreed(roles: list[WorkerRecipe]) -> WorkerRecipe:
    """One role of entries that agree on its layout; its MoE kernel only where they agree on that too."""
    kernels = {r.moe_kernel for r in roles}
    return replace(roles[0], moe_kernel=kernels.pop() if len(kernels) == 1 else None)


@lru_cache(maxsize=1)
def _entries() -> tuple[_Entry, ...]:
    path = data_dir() / "validation" / "disagg_recipes.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
        configs = raw["configs"]
        return tuple(_entry(e, configs[e["config"]]) for e in raw["recipes"])
    except FileNotFoundError:
        raise BenchmarkRecipeError(f"{path} is missing; reinstall aicsolve") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise BenchmarkRecipeError(
            f"{path} is malformed ({e}); regenerate it with bench/inferencex_disagg_recipes.py"
        ) from None


def _entry(e: dict[str, Any], cfg: dict[str, Any]) -> _Entry:
    first, last = (str(d) for d in e["listed"])
    mtp = e.get("mtp")
    lim = dict(e.get("limits") or {})
    # the engine runs the recipe file's expert parallelism where it sets one (the configuration entry's EP is a
    # label: dsr1-fp8-b200-dynamo-trt listed prefill EP 8 until 2026-03-23 for files that set 1 since 2026-01-27),
    # its attention DP (the h200 entries label prefill attention DP off for files that turn it on), and each role's
    # MoE kernel (one deployment can mix them: b200 FP8 prefill TRTLLM, decode DEEPGEMM)
    run_ep = {r: lim.pop(f"{r}_ep", None) for r in ("prefill", "decode")}
    adp = {r: lim.pop(f"{r}_adp", None) for r in ("prefill", "decode")}
    kernel = {r: lim.pop(f"{r}_moe", None) for r in ("prefill", "decode")}
    lim = {k: int(v) for k, v in lim.items()}
    return _Entry(
        backend=str(cfg["backend"]),
        system=str(cfg["system"]),
        gemm=str(cfg["gemm"]),
        models=frozenset(map(str, cfg["models"])),
        first=first,
        last=last,
        isl=int(e["isl"]),
        osl=int(e["osl"]),
        # a run's clients are the entry's conc-list or what its recipe file benchmarks: the h200 TRT-LLM entries list
        # clients per decode worker (conc-list [4] with 11 decode workers runs a file that benchmarks 44)
        conc=frozenset(int(c) for c in [*e["conc"], *(e.get("clients") or [])]),
        prefill=_role(e["prefill"], run_ep["prefill"], kernel["prefill"], adp["prefill"]),
        decode=_role(e["decode"], run_ep["decode"], kernel["decode"], adp["decode"]),
        mtp=mtp if isinstance(mtp, bool) or mtp is None else int(mtp),
        source=f"InferenceX {e['config']} (commit {e['commit']})",
        limits=EngineLimits(**lim) if lim else None,
        listed_prefill_ep=int(e["prefill"][2]),
    )


def _role(
    v: list[Any], run_ep: int | None = None, kernel: str | None = None, run_dp: bool | None = None
) -> WorkerRecipe:
    workers, gpus, ep, dp = v
    if not isinstance(dp, bool) or not isinstance(run_dp, bool | None):
        raise ValueError(f"attention DP must be true or false, not {dp!r}")
    return WorkerRecipe(
        workers=int(workers),
        gpus=int(gpus),
        ep=int(run_ep or ep),
        attention_dp=dp if run_dp is None else run_dp,
        moe_kernel=None if kernel is None else str(kernel),
    )
