"""Predict measured deployments (rows of silicon_dev.csv format) with the full cost model; costmodel.scoring
scores the errors by group."""

from __future__ import annotations

import csv
import gzip
import math
from dataclasses import replace
from typing import Any
from pathlib import Path

import numpy as np

from costmodel.engines import DEFAULT_KERNEL, engine_rules
from costmodel.errors import CostModelError
from costmodel.scoring import Prediction
from costmodel.arch import ModelArch, load_model
from costmodel.benchmark_recipes import BenchmarkRecipe, benchmark_recipe
from costmodel.disagg_recipes import DisaggRecipe, EngineLimits, disagg_recipe
from costmodel.errors import UnknownModelError, UnsupportedModelError
from costmodel.build import step_model
from costmodel.config import (
    token_budget,
    Quant,
    SearchSpace,
    SurfaceRequest,
    fixed_lengths,
)
from costmodel.memory import kv_capacity_tokens
from costmodel.opdb import MissingDataError, open_db
from costmodel.paths import DataNotFoundError
from costmodel.quant import kernel_dtypes, recipe_kv_cache, resolve_quant
from costmodel.closedloop import disagg_closed_loop
from costmodel.serving import agg_figures, decode_figures, handoff_ms, prefill_figures
from costmodel.step import Layout, StepModel
from costmodel.system import UnknownSystemError

# The columns of the measurement CSV format (silicon_dev.csv); REQUIRED ⊂ COLUMNS must be present.
COLUMNS = (
    "id",
    "silicon_data_source",
    "backend",
    "backend_version",
    "model_path",
    "system",
    "precision",
    "mode",
    "isl",
    "osl",
    "gemm_quant_mode",
    "moe_quant_mode",
    "batch_size",
    "tp_size",
    "pp_size",
    "attention_dp_size",
    "moe_tp_size",
    "moe_ep_size",
    *(
        f"{role}_{k}"
        for role in ("prefill", "decode")
        for k in ("batch_size", "num_workers", "tp_size", "pp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size")
    ),
    "silicon_ttft_ms",
    "silicon_tpot_ms",
)
REQUIRED = ("backend", "model_path", "system", "mode", "isl", "osl", "silicon_ttft_ms", "silicon_tpot_ms")


class BadCsvError(CostModelError, ValueError):
    """The file is not a readable measurement CSV."""


def _int(v: str | None, default: int = 1) -> int:
    if v is None:
        return default
    try:
        x = int(float(v))
    except (TypeError, ValueError, OverflowError):  # blank, text, nan, inf
        return default
    return x if x > 0 else default


def _source_fields(s: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, sep, v in (p.partition("=") for p in s.split(";")) if sep}


def _quant(row: dict, arch: ModelArch) -> Quant:
    g = (row.get("gemm_quant_mode") or "").strip()
    m = (row.get("moe_quant_mode") or "").strip()
    # The engine picks its FP8 kernels from the checkpoint's quantization_config, not from the benchmark's
    # label: an "fp8" row of a block-scaled FP8 checkpoint (DeepSeek-R1, Qwen3-*-FP8, MiniMax-M2.5) ran the
    # block-scaled GEMM and MoE kernels, as the search prices that checkpoint.
    fp8 = "fp8_block" if arch.native_weight_dtype == "fp8_block" else "fp8"
    gemm = {"fp8": fp8, "fp8_block": "fp8_block", "nvfp4": "nvfp4", "int4_wo": "fp8_block"}.get(g, "bfloat16")
    moe = {"fp8": fp8, "fp8_block": "fp8_block", "nvfp4": "nvfp4", "int4_wo": "int4_wo"}.get(m, "bfloat16")
    kv = "fp8" if g in ("fp8", "fp8_block", "nvfp4") else "bfloat16"
    return Quant(gemm=gemm, kv_cache=kv, attention="bfloat16", moe=moe)


def _layout(row: dict, prefix: str = "") -> Layout:
    tp, pp = _int(row.get(prefix + "tp_size")), _int(row.get(prefix + "pp_size"))
    dp = _int(row.get(prefix + "attention_dp_size"))
    mtp, mep = _int(row.get(prefix + "moe_tp_size")), _int(row.get(prefix + "moe_ep_size"))
    if not prefix and mtp == mep >= 4 and tp * dp == mtp * mep:
        # Some exports write an N-GPU TP/EP (or DP/EP) agg worker as moe_tp = moe_ep = N with tp (or dp)
        # = N² (DeepSeek "tp 64" on one 8-GPU node). Read as N GPUs, those rows' TPOT errors drop from
        # ~40 % to ~8 %. Disagg decode pools of 16 GPUs (moe 4×4 on NVL72) are real, so they keep N².
        tp, dp = (mep, 1) if tp > 1 else (1, mep)
        mtp = 1
    elif not prefix and tp == dp >= 2 and mtp == 1 and mep == tp * dp:
        # The 2026-04-06 export writes vLLM's N-GPU TP/EP worker as tp = dp = N, moe_ep = N² (Kimi-K2.5, MiniMax-M2.5
        # "tp4_ep4"); its 2026-03-25 twins record the same measurement as TP N, EP N, which is what InferenceX lists
        # (tp 4, ep 4, no attention DP) and its vLLM scripts launch (--tensor-parallel-size N --enable-expert-parallel).
        dp, mep = 1, tp
    gpus = max(tp * dp, mtp * mep)
    attn_tp = max(gpus // dp, 1)
    return Layout(np.array(attn_tp), np.array(pp), np.array(dp), np.array(mtp), np.array(mep))


def _fix_moe(lay: Layout) -> Layout:
    """Rows sometimes give moe_tp·moe_ep ≠ tp·dp; keep EP and give TP the rest."""
    gpus = int(lay.tp * lay.dp)
    ep = int(min(int(lay.moe_ep), gpus))
    return Layout(lay.tp, lay.pp, lay.dp, np.array(max(gpus // ep, 1)), np.array(ep))


# Past these a row is a typo, and pricing it would only extrapolate far off the measured grid.
MAX_TOKENS, MAX_PARALLEL = 10_000_000, 1_024


def _text(row: dict, key: str) -> str:
    """A cell as stripped text ('' when absent; DictReader gives None for cells missing from short rows)."""
    v = row.get(key)
    return v.strip() if isinstance(v, str) else ""


def _malformed(row: dict) -> str | None:
    """The first cell that makes a row unpredictable, as 'malformed row: <column>'."""
    for key in ("isl", "osl"):
        try:
            n = int(_text(row, key))
        except ValueError:
            return f"malformed row: {key}"
        if not 0 < n <= MAX_TOKENS:
            return f"malformed row: {key}"
    for key in ("silicon_ttft_ms", "silicon_tpot_ms"):  # scores divide by these
        try:
            x = float(_text(row, key))
        except ValueError:
            return f"malformed row: {key}"
        if not (math.isfinite(x) and x > 0):
            return f"malformed row: {key}"
    for pre in ("", "prefill_", "decode_"):
        for key in ("tp_size", "pp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size"):
            if _int(row.get(pre + key)) > MAX_PARALLEL:
                return f"malformed row: {pre}{key}"
    if _text(row, "mode") not in ("agg", "disagg"):
        return "malformed row: mode"
    return None


def _float(row: dict, key: str) -> float:
    try:
        return float(_text(row, key))
    except ValueError:
        return math.nan


def concurrency(row: dict) -> int:
    """Clients of the closed-loop benchmark: ``silicon_concurrency`` in the source field when recorded; else, for
    disagg, every decode slot (decode batch per attention-DP rank × ranks × workers, which equals the recorded
    concurrency in every dev row that has both); else the agg ``batch_size``; 1 when nothing is given."""
    given = _int(_source_fields(row.get("silicon_data_source") or "").get("silicon_concurrency"), 0)
    if given:
        return given
    if _text(row, "mode") == "disagg" and (batch := _int(row.get("decode_batch_size"), 0)):
        return batch * _int(row.get("decode_num_workers")) * _int(row.get("decode_attention_dp_size"))
    return _int(row.get("batch_size"))


def predict_row(row: dict) -> Prediction:
    """Predict one measured row with the full cost model (bad cells give a reason, never an exception)."""
    group = (_text(row, "system"), _text(row, "backend"), _text(row, "mode"))
    meas = _float(row, "silicon_ttft_ms"), _float(row, "silicon_tpot_ms")
    base: dict[str, Any] = dict(
        row_id=_text(row, "id"),
        group=group,
        measured_ttft_ms=meas[0],
        measured_tpot_ms=meas[1],
        concurrency=concurrency(row),
    )
    if (bad := _malformed(row)) is not None:
        return Prediction(**base, reason=bad)
    row = {k: v.strip() if isinstance(v, str) else v for k, v in row.items()}
    try:
        row, rec, drec = _as_run(row)
        arch = load_model(row["model_path"])
        db = open_db(row["system"], row["backend"], engine_rules(row["backend"]).version)
        req = _request(row, arch, db, rec, drec)
        q, _ = resolve_quant(db, arch, req.quant)
        step = step_model(db, req, q, row["mode"])
        step.check()
        isl, osl, conc = req.isl, req.osl, concurrency(row)
        mnt = token_budget(req)
        if row["mode"] == "agg":
            lay = _fix_moe(_layout(row)) if arch.is_moe else _layout(row)
            cap, _ = kv_capacity_tokens(
                db.system, arch, q, lay.tp, lay.pp, lay.dp, lay.moe_tp, lay.moe_ep, mnt, isl + osl
            )
            if cap <= 0:
                return Prediction(**base, reason="weights do not fit (OOM)")
            f = agg_figures(
                step,
                lay,
                conc,
                isl,
                osl,
                mnt,
                cap,
                req.scheduler_recv_interval,
                fixed_lengths=fixed_lengths(req),
                max_running=rec.max_running,
                balance_timeout_iters=rec.balance_timeout_iters or 0,
                balance_batching_iters=rec.balance_batching_iters or 0,
                batch_wait_iters=req.batch_wait_iters,
                batch_wait_ratio=req.batch_wait_max_tokens_ratio,
            )
            return Prediction(**base, ttft_ms=float(f["ttft_ms"]), tpot_ms=float(f["tpot_ms"]))
        limits = drec.limits if drec is not None else None
        steps = _role_steps(db, req, q, step, drec)
        return _predict_disagg(row, base, steps, arch, q, isl, osl, conc, mnt, limits)
    except (UnknownModelError, UnsupportedModelError):
        return Prediction(**base, reason="unsupported model")
    except (UnknownSystemError, DataNotFoundError):
        return Prediction(**base, reason="no data for system/backend")
    except MissingDataError as e:
        return Prediction(**base, reason=f"missing data: {str(e).split(':', 1)[-1].strip()[:40]}")
    except KeyError:
        return Prediction(**base, reason="unsupported backend")


def row_request(row: dict, arch, db) -> SurfaceRequest:
    """The serving recipe a measured row ran, as the search's request: the row's workload and quantization, and
    the benchmark's own assumptions where the row records none (MTP acceptance on random-token prompts, the
    SGLang recipes' scheduler poll interval, the recipe's KV-cache dtype), and for benchmark rows the settings
    their launch script passed (row_recipe). A spec pinning these prices the row with the same functions
    (tests/costmodel/test_one_model.py). A disagg row is read as run (row_as_run)."""
    row, rec, drec = _as_run(row)
    return _request(row, arch, db, rec, drec)


def row_launched(row: dict) -> dict:
    """The row as its benchmark launched it: an agg row with the layout its launch script chose where the row records
    the defaults (row_recipe's moe_ep, attention_dp), a disagg row with its recipe's workers and layouts
    (row_as_run); else unchanged."""
    return _as_run(row)[0]


def row_layout(row: dict) -> Layout:
    """The agg worker layout the row's columns give, as validate reads them (flattened exports read back); pass the
    row through row_launched first for the layout its launch script chose."""
    return _layout(row)


def _as_run(row: dict) -> tuple[dict, BenchmarkRecipe, DisaggRecipe | None]:
    """The row as its benchmark ran it (row_as_run), its launch-script settings (empty: none) and its disagg recipe."""
    drec = row_disagg_recipe(row)
    row = row_as_run(row, drec)
    rec = row_recipe(row)
    if rec is not None and _text(row, "mode") == "agg" and (rec.moe_ep is not None or rec.attention_dp is not None):
        # the script chose the layout and the row records its defaults: read it as launched, then take the settings
        # that follow from that layout (attention-DP balance, MTP depth)
        row = _launched_layout(row, rec)
        rec = row_recipe(row)
    return row, rec or BenchmarkRecipe(), drec


def _launched_layout(row: dict, rec: BenchmarkRecipe) -> dict:
    """An agg row with the worker layout its launch script chose (row_recipe's moe_ep, attention_dp) in place of the
    recorded one, written as the exports write such workers: attention DP as tp 1 × dp N."""
    lay = _layout(row)
    gpus = int(lay.tp * lay.dp)
    dp = gpus if rec.attention_dp else (1 if rec.attention_dp is not None else int(lay.dp))
    ep = min(rec.moe_ep or int(lay.moe_ep), gpus)
    return row | {
        "tp_size": str(gpus // dp),
        "attention_dp_size": str(dp),
        "moe_tp_size": str(max(gpus // ep, 1)),
        "moe_ep_size": str(ep),
    }


def _request(row: dict, arch, db, rec: BenchmarkRecipe, drec: DisaggRecipe | None = None) -> SurfaceRequest:
    """row_request with the row's launch-script recipes already looked up (empty: none)."""
    q = _quant(row, arch)
    if rec.kv_cache is not None:  # the launch script's own KV-cache dtype
        q = Quant(q.gemm, rec.kv_cache, q.attention, q.moe)
    elif q.kv_cache == "fp8":
        q = Quant(q.gemm, recipe_kv_cache(db, arch), q.attention, q.moe)
    draft, accept = _measured_mtp(row, rec, drec)
    return SurfaceRequest(
        model=arch,
        system=row["system"],
        backend=row["backend"],
        version=db.version,
        isl=int(row["isl"]),
        osl=int(row["osl"]),
        quant=q,
        search=SearchSpace(),
        modes=(row["mode"],),
        mtp_draft=draft,
        mtp_accept=accept,
        # the launch script's scheduler poll interval where the recipe table names it; else the benchmark recipe's
        # rule (engine file benchmark.scheduler_recv_interval): the rows do not record the flag
        scheduler_recv_interval=rec.recv_interval
        or engine_rules(row["backend"]).benchmark_recv_interval(concurrency(row)),
        cuda_graph_max_batch=rec.cuda_graph_max_batch or _graph_max_batch(row, db),
        # the MoE kernel the launch script selects; rows that name none ran the engine's default
        moe_backend=rec.moe_backend or DEFAULT_KERNEL,
        length_range_ratio=_range_ratio(row),
        # the launch script's batch waiting (TRT-LLM); its threshold is a share of the budget priced here
        batch_wait_iters=rec.batch_wait_timeout_iters or 0,
        batch_wait_max_tokens_ratio=rec.batch_wait_max_tokens_ratio or 0.0,
        # the agg launch script's token budget (a disagg row's workers ran their own recipe files, not these scripts).
        # Pricing it needs no clumps of 16-32 prompts: the benchmark's length spread breaks same-length cohorts, so
        # only the prompts arriving within one iteration share it (costmodel.serving).
        max_num_tokens=rec.max_num_tokens if row["mode"] == "agg" else None,
    )


def row_recipe(row: dict) -> BenchmarkRecipe | None:
    """The engine settings the launch script of an InferenceMAX/InferenceX row set (costmodel.benchmark_recipes),
    for the row's (decode) worker TP and attention-DP ranks, clients and nominal lengths; None for other rows. Its
    batch cap applies to agg rows (disagg rows keep their decode batch reading, _decode_workers)."""
    if not _inferencex(row):
        return None
    pre = "decode_" if _text(row, "mode") == "disagg" else ""
    return benchmark_recipe(
        _text(row, "backend"),
        _text(row, "system"),
        _text(row, "model_path"),
        _text(row, "gemm_quant_mode"),
        _int(row.get(pre + "tp_size")),
        _int(row.get(pre + "attention_dp_size")),
        concurrency(row),
        _int(row.get("isl")),
        _int(row.get("osl")),
        _source_fields(row.get("silicon_data_source") or "").get("measured", ""),
        _text(row, "mode"),
        _int(row.get(pre + "moe_ep_size")),
    )


def row_disagg_recipe(row: dict) -> DisaggRecipe | None:
    """The InferenceX recipe a disagg benchmark row ran (costmodel.disagg_recipes): matched on its engine, GPU,
    model, precision label, lengths, clients, run day and prefill worker (GPUs, EP); None for other rows or when
    the matching entries disagree and the decode worker size and count the row records do not pick one."""
    source = row.get("silicon_data_source") or ""
    if _text(row, "mode") != "disagg" or "measured=" not in source:
        return None
    pre, dec = _layout(row, "prefill_"), _layout(row, "decode_")
    return disagg_recipe(
        _text(row, "backend"),
        _text(row, "system"),
        _text(row, "model_path"),
        _text(row, "gemm_quant_mode"),
        _int(row.get("isl")),
        _int(row.get("osl")),
        concurrency(row),
        int(pre.tp * pre.dp),
        int(pre.moe_ep),
        _source_fields(source).get("measured", ""),
        int(dec.tp * dec.dp) if _int(row.get("decode_tp_size"), 0) else None,
        _int(row.get("decode_num_workers"), 0) or None,
    )


def row_as_run(row: dict, drec: DisaggRecipe | None) -> dict:
    """The row with its disagg recipe's worker counts and layouts (attention DP included) in place of its own
    columns, which many rows leave blank or write flattened (a DP-8 worker as TP 8); unchanged without one."""
    if drec is None:
        return row
    out = dict(row)
    for pre, role in (("prefill_", drec.prefill), ("decode_", drec.decode)):
        dp = role.gpus if role.attention_dp else 1
        out |= {
            pre + "num_workers": str(role.workers),
            pre + "tp_size": str(role.gpus // dp),
            pre + "pp_size": "1",
            pre + "attention_dp_size": str(dp),
            pre + "moe_tp_size": str(max(role.gpus // role.ep, 1)),
            pre + "moe_ep_size": str(role.ep),
        }
    return out


# The measurement CSV has no MTP column, so the recipe is inferred. Benchmark rows take the depth of the launch
# script their run date, layout and clients name (benchmark_recipes.yaml), whatever the engine's own recipe for the
# mode (SGLang's agg recipe drafts nothing; its EAGLE scripts draft 2-3). Benchmarks send random-token prompts, on
# which drafts are accepted less often than on real text: acceptance 0.6 (≈2.2 tokens per step with 3 drafts) fits
# the TRT-LLM DeepSeek MTP rows whose non-MTP twins are priced right (b200 NVFP4 +11 %, h200 FP8 −3 % signed TPOT;
# 0.8 gives −17 / −27 %; docs/serving-constants.md). Disaggregated benchmark rows take the depth their InferenceX
# recipe names (row_disagg_recipe). Where it names none (MTP and non-MTP twins listed for the same clients), rows
# that name their decode workers show SGLang decoding without MTP, and TRT-LLM's attention-DP (max-throughput)
# decode workers too: with MTP their TPOT came out ~2.3× too low, without it within ~10 % (30 rows); the others keep
# the backend's recipe.
MEASURED_MTP_ACCEPTANCE = 0.6


def _measured_mtp(row: dict, rec: BenchmarkRecipe, drec: DisaggRecipe | None = None) -> tuple[int, float]:
    disagg = row["mode"] == "disagg"
    draft, _ = engine_rules(row["backend"]).mtp(row["mode"])
    if drec is not None and drec.mtp_draft is not None:  # the benchmark's recipe names it
        # True: MTP at a depth the entry does not name, read as the engine file's own disagg depth
        draft = draft if drec.mtp_draft is True else int(drec.mtp_draft)
        return draft, (MEASURED_MTP_ACCEPTANCE if draft else 0.0)
    named = _int(row.get("decode_num_workers"), 0) or _int(row.get("decode_batch_size"), 0)
    if disagg and (_int(row.get("decode_attention_dp_size")) > 1 or (row["backend"] == "sglang" and named)):
        draft = 0
    if rec.mtp_draft is not None:  # the launch script's MTP depth
        draft = rec.mtp_draft
    return draft, (MEASURED_MTP_ACCEPTANCE if draft else 0.0)


def _graph_max_batch(row: dict, db) -> int | None:
    """The engine's default CUDA-graph capture limit for the row's (decode) worker: the rows record no capture flag,
    so they are read as run with the engine's defaults (data/engines/<backend>.yaml ``cuda_graph``)."""
    pre = "decode_" if row["mode"] == "disagg" else ""
    lay = _layout(row, pre)
    world = int(lay.tp * lay.dp * lay.pp)
    return engine_rules(row["backend"]).default_graph_batch(db.system.mem_bytes, world)


# InferenceMAX/InferenceX runs (the rows that record their run date, `measured=`, in the source field) send
# `benchmark_serving --random-range-ratio 0.8`: each ISL and OSL uniform in [0.8·L, L] (InferenceMAX README,
# benchmark client configuration). Other sources (the gap-analysis sweeps) record no spread: read as exact lengths,
# except two files that re-export InferenceX runs without their dates: of the dev rows, 40 of 45 from
# qwen3.5-397b-gap-analysis.csv and 13 of 27 from kimi-k2.5-gap-analysis.csv carry the TTFT and TPOT of an
# InferenceX row of the same engine, GPU, mode and lengths (to 0.1 ms). The date is the test: 35 dev rows of
# aiconfigurator's own harness record one too (with a `gtl_task_id`); read as exact lengths instead, core agg TTFT
# MdAPE moves 23.0 -> 23.1 %, so nothing tells their spread apart.
BENCHMARK_RANGE_RATIO = 0.8
INFERENCEX_REEXPORTS = ("qwen3.5-397b-gap-analysis.csv", "kimi-k2.5-gap-analysis.csv")


def _inferencex(row: dict) -> bool:
    """Whether an InferenceMAX/InferenceX benchmark measured the row: it records its run date, or comes from a file
    that re-exports such runs (INFERENCEX_REEXPORTS; no date, so only settings that hold on every day apply)."""
    source = row.get("silicon_data_source") or ""
    return "measured=" in source or _source_fields(source).get("source_file", "") in INFERENCEX_REEXPORTS


def _range_ratio(row: dict) -> float:
    return BENCHMARK_RANGE_RATIO if _inferencex(row) else 1.0


# Where a disagg row gives neither decode workers nor decode batch, each decode rank is read as running
# at the batch cap of the product's own recipe (SearchSpace.max_batch_size, what the search and the
# exporters use by default): the fewest decode workers that hold the concurrency.
BLANK_DECODE_BATCH = SearchSpace().max_batch_size


def _role_steps(db, req: SurfaceRequest, q, step: StepModel, drec: DisaggRecipe | None) -> tuple[StepModel, StepModel]:
    """The prefill and decode workers' step models: each prices the MoE kernel its recipe file selects where the
    file names one (one deployment can mix them: b200 FP8 prefill TRTLLM, decode DEEPGEMM). A kernel the engine
    file does not list as selectable (DEEPGEMM, CUTLASS, WIDEEP, CUTEDSL) prices the engine's default table, as does
    a selectable one whose table did not measure the model's experts (unless the engine file reads that table for
    other experts, ``other_experts``); without a file both roles keep ``step``."""
    if drec is None or not req.model.is_moe:
        return step, step
    rules = engine_rules(req.backend)
    out = []
    for role in (drec.prefill, drec.decode):
        kernel = role.moe_kernel
        priced = kernel in rules.moe_kernels and q.moe in kernel_dtypes(db, req.model, kernel)
        name = kernel if priced else DEFAULT_KERNEL
        same = role.moe_kernel is None or name == req.moe_backend
        out.append(step if same else step_model(db, replace(req, moe_backend=name), q, "disagg"))
    return out[0], out[1]


def _predict_disagg(
    row, base, steps: tuple[StepModel, StepModel], arch, q, isl, osl, conc, mnt, limits: EngineLimits | None = None
) -> Prediction:
    step_p, step = steps
    lp, ld = _layout(row, "prefill_"), _layout(row, "decode_")
    if arch.is_moe:
        lp, ld = _fix_moe(lp), _fix_moe(ld)
    # a blank prefill batch: the prompts one step's token budget holds, what the engine fills a saturated step with
    bp = _int(row.get("prefill_batch_size"), 0) or max(1, int(mnt) // isl)
    if limits is not None:  # the recipe file's prefill step: as many prompts as its batch and token limits hold
        bp = max(1, min(limits.prefill_batch, limits.prefill_tokens // isl))
    db = step.db
    # the prefill worker holds activations for the step its recipe file sets, where one was read
    budget_p = limits.prefill_tokens if limits is not None else mnt
    for lay, n, budget in ((lp, isl, budget_p), (ld, isl + osl, mnt)):
        cap, _ = kv_capacity_tokens(db.system, arch, q, lay.tp, lay.pp, lay.dp, lay.moe_tp, lay.moe_ep, budget, n)
        if cap <= 0:
            return Prediction(**base, reason="weights do not fit (OOM)")
    y = _decode_workers(row, conc, float(ld.dp))
    # the recipe's decode batch cap per rank: clients past the pool's slots wait for a finishing request
    slots = y * float(ld.dp) * limits.decode_batch if limits is not None else math.inf
    bd = max(min(conc, slots) / (y * float(ld.dp)), 1.0)
    dec = decode_figures(step, ld, bd, isl, osl)
    tpot = float(dec["tpot_ms"])
    pf = prefill_figures(step_p, lp, bp, isl, 0.0)
    # a blank prefill count: as many prefill workers as the decode side's request rate needs (such rows are
    # max-throughput sweeps: planning them at the product's 0.7 load raised the core disagg TTFT MdAPE 49 -> 55 %)
    x = _int(row.get("prefill_num_workers"), 0) or max(1, round(y * float(dec["req_per_s"]) / float(pf["req_per_s"])))
    cap_p = x * float(pf["req_per_s"])
    # the KV moves over NVLink when the whole deployment sits in one node
    gpus = x * float(lp.tp * lp.pp * lp.dp) + y * float(ld.tp * ld.pp * ld.dp)
    hand = handoff_ms(step, isl, lp.tp, gpus <= db.system.gpus_per_node)
    ttft = disagg_closed_loop(
        conc,
        osl,
        tpot,
        float(pf["latency_ms"]),
        float(pf["lone_ms"]),
        cap_p / 1000.0,
        float(hand["total_ms"]),
        slots=slots,
    )
    return Prediction(**base, ttft_ms=float(ttft), tpot_ms=tpot)


def _decode_workers(row: dict, conc: int, dp: float) -> int:
    """Decode workers: as given; else from the given decode batch; else the fewest at the recipe's batch cap per
    rank (BLANK_DECODE_BATCH)."""
    given = _int(row.get("decode_num_workers"), 0)
    if given:
        return given
    batch = _int(row.get("decode_batch_size"), 0) or BLANK_DECODE_BATCH
    return max(1, math.ceil(conc / (batch * dp)))


def read_rows(path: Path) -> list[dict]:
    """Rows of a measurement CSV (gzip'd when its name ends in .gz); a clear error when the file or its columns are
    wrong."""
    from costmodel.files import MAX_CSV_BYTES, file_kind

    kind, size = file_kind(path)
    if kind == "other":  # /dev/zero would be read forever, a FIFO would block
        raise BadCsvError(f"{path}: cannot read as CSV (not a regular file: a device, FIFO or socket)")
    if size > MAX_CSV_BYTES:
        raise BadCsvError(f"{path}: cannot read as CSV (more than {MAX_CSV_BYTES >> 20} MB; split it)")
    opener = gzip.open if str(path).endswith(".gz") else open
    try:  # utf-8-sig: a spreadsheet's byte-order mark would otherwise rename the first column
        with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            names = [n.strip() for n in reader.fieldnames or []]
            missing = [c for c in REQUIRED if c not in names]
            if missing:
                raise BadCsvError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected the columns of "
                    "silicon_dev.csv (id, backend, model_path, system, mode, isl, osl, …)"
                )
            reader.fieldnames = names
            return list(reader)
    except UnicodeDecodeError as e:
        raise BadCsvError(f"{path}: not UTF-8 text (byte {e.start}); save the file as UTF-8 CSV") from None
    except (OSError, EOFError, csv.Error) as e:  # EOFError: a truncated .gz
        raise BadCsvError(f"{path}: cannot read as CSV ({getattr(e, 'strerror', None) or e})") from None
