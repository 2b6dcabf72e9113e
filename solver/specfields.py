"""The spec's keys: one table (FIELDS) that drives validation (solver.spec), defaults, docs and the JSON Schema.

`python -m solver.spec` writes the schema to specs/aicsolve.schema.json.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from costmodel import BACKENDS, GEMM_DTYPES, KV_DTYPES, MOE_DTYPES
from costmodel import SYSTEMS  # the systems whose data ships

MODES = ("agg", "disagg")
FIXED_KEYS = ("tp", "pp", "dp", "moe_tp", "moe_ep")
# CLI flags that build or amend a spec without a file: flag name → key path.
FLAGS = {
    "model": "model",
    "system": "system",
    "backend": "backend",
    "total_gpus": "total_gpus",
    "isl": "workload.isl",
    "osl": "workload.osl",
    "ttft": "sla.ttft_ms",
    "tpot": "sla.tpot_ms",
    "top": "solver.top_n",
    "time_limit": "solver.time_limit_s",
    "quant_gemm": "quantization.gemm",
    "quant_kv_cache": "quantization.kv_cache",
    "quant_attention": "quantization.attention",
    "quant_moe": "quantization.moe",
}
# Default (gemm, moe) dtypes per checkpoint weight dtype; others run bfloat16. KV defaults to fp8.
NATIVE_QUANT = {
    "fp8_block": ("fp8_block",) * 2,
    "fp8": ("fp8",) * 2,
    "nvfp4": ("nvfp4",) * 2,
    "mxfp4": ("bfloat16", "w4a16_mxfp4"),
    "int4": ("bfloat16", "int4_wo"),
}
# Attention-DP sizes searched for MoE models: up to 16, the one-rank-per-GPU layout of 2 nodes (TRT-LLM runs
# attention TP or DP, so DeepSeek-R1 on 8-GPU H100 nodes needs DP 16 or TP 16 to hold its weights).
MOE_DP = (1, 2, 4, 8, 16)
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "specs" / "aicsolve.schema.json"


@dataclasses.dataclass(frozen=True)
class Field:
    """One spec key. kind: str | int | number | bool | ints | strs | section | list | length (tokens, or a
    distribution) | bound (a number: the mean; or a mapping of percentiles); a trailing "?" allows null."""

    path: str
    kind: str
    doc: str
    default: Any = None
    required: bool = False
    choices: tuple = ()
    ge: float | None = None  # inclusive lower bound
    gt: float | None = None  # exclusive lower bound
    le: float | None = None  # inclusive upper bound
    pow2: bool = False
    cap: float | None = None  # sanity ceiling (past it numbers overflow or nothing finishes); named only when hit
    unless: tuple[str, ...] = ()  # a required key may be left out when one of these sibling keys is given


F = Field
_BIG, _PAR = 1_000_000, 1_024  # sanity ceilings: GPU/batch/replica counts, and one parallelism degree
_Q = "null picks from the checkpoint's native weights"
FIELDS: tuple[Field, ...] = (
    F("model", "str", "HF id, alias or path to a config.json (relative to the spec file)", required=True),
    F("system", "str", "GPU system (of the prefill workers if decode_system is set)", required=True, choices=SYSTEMS),
    F("decode_system", "str?", "system of the disagg decode workers; null: system", choices=SYSTEMS),
    F("backend", "str", "serving engine", default="trtllm", choices=BACKENDS),
    F("backend_version", "str?", "measured engine version; null: trtllm 1.3.0rc20, vllm 0.24.0, sglang 0.5.14"),
    F(
        "model_path",
        "str?",
        "what the engines load (--model-path / --model): an HF id or a folder on the serving "
        "nodes; null: the HF id, or the local model's folder",
    ),
    F(
        "served_model_name",
        "str?",
        "name the frontend serves the model under, which clients and the benchmark ask "
        "for; null: the HF id (a local model: its config's _name_or_path, else its folder's name)",
    ),
    F(
        "total_gpus",
        "int",
        "GPUs available; a deployment may use fewer",
        required=True,
        ge=1,
        cap=_BIG,
        unless=("demand", "pools"),
    ),
    F(
        "demand",
        "section",
        "load to serve: the solver then sizes the deployment (fewest GPUs, or least cost) "
        "instead of filling total_gpus",
    ),
    F("demand.requests_per_s", "number?", "requests per second to serve", gt=0, cap=_BIG),
    F(
        "demand.tokens_per_s",
        "number?",
        "output tokens per second to serve (requests/s = tokens_per_s / osl)",
        gt=0,
        cap=1000 * _BIG,
    ),
    F(
        "weight",
        "number?",
        "value of one output token/s of this model, for deployments without demand that share "
        "the GPUs left over; null: 1",
        gt=0,
        cap=_BIG,
    ),
    F("name", "str?", "deployment name (bundle folder, report); null: from the model"),
    F(
        "pools",
        "section",
        "GPUs per system of the cluster (a null count: as many as needed); replaces system and total_gpus",
    ),
    *(F(f"pools.{k}", "int?", f"{k} GPUs available", ge=1, cap=_BIG) for k in SYSTEMS),
    F("cost", "section", "price per GPU-hour per system: with demand, the solver minimizes the cost"),
    *(F(f"cost.{k}", "number?", f"price of one {k} GPU-hour", gt=0, cap=_BIG) for k in SYSTEMS),
    F(
        "objective",
        "str",
        "cluster objective; auto: least cost (or fewest GPUs) when every deployment has a demand, "
        "else most weighted tokens/s after every demand is met",
        default="auto",
        choices=("auto", "min_cost", "min_gpus", "max_goodput"),
    ),
    F(
        "deployments",
        "list?",
        "several models on one cluster: each item is a spec of its own (model, workload, sla, "
        "demand or weight, …) and the top-level keys are its defaults",
    ),
    F("workload", "section", "request shape and load", required=True),
    F(
        "workload.isl",
        "length",
        "input sequence length in tokens: a number, or a distribution {lognormal: {mean, "
        "p90}} or {histogram: [[tokens, weight], ...]}",
        required=True,
        ge=1,
        cap=10 * _BIG,
        unless=("trace",),
    ),
    F(
        "workload.osl",
        "length",
        "output sequence length in tokens: a number, or a distribution {lognormal: {mean, "
        "p90}} or {histogram: [[tokens, weight], ...]}",
        required=True,
        ge=1,
        cap=10 * _BIG,
        unless=("trace",),
    ),
    F(
        "workload.trace",
        "str?",
        "CSV of requests (header arrival_s,isl,osl; relative to the spec file) giving the "
        "ISL and OSL distributions and the arrivals' burstiness; replaces isl and osl",
    ),
    F(
        "workload.length_range_ratio",
        "number",
        "benchmark_serving --random-range-ratio r: each request's ISL "
        "and OSL uniform in [r*L, L]; 1: every request exactly isl/osl (SGLang's closed loop then stays one "
        "synchronized cohort)",
        default=1.0,
        gt=0,
        le=1,
    ),
    F(
        "workload.prefix_hit_rate",
        "number",
        "share of prompt tokens served from the prefix cache (e.g. a shared "
        "system prompt): prefill does not recompute them",
        default=0,
        ge=0,
        le=0.99,
    ),
    F(
        "workload.distribution_points",
        "int",
        "points a lognormal or a trace's lengths are cut into (quantile bins, "
        "finer in the tail); the pricing cost grows linearly with them",
        default=16,
        ge=1,
        le=256,
    ),
    F(
        "workload.arrival",
        "section",
        "how requests arrive; omitted: closed loop (a fixed number of clients, as "
        "benchmarks run; the solver picks the concurrency)",
    ),
    F(
        "workload.arrival.process",
        "str?",
        "closed, poisson, or gamma (inter-arrival times with coefficient of "
        "variation cv); null: gamma with a trace's cv, else poisson when rate_per_s is given, else closed",
        choices=("closed", "poisson", "gamma"),
    ),
    F(
        "workload.arrival.rate_per_s",
        "number?",
        "open-loop arrival rate in requests/s: the deployment is sized to carry it, as demand.requests_per_s",
        gt=0,
        cap=_BIG,
    ),
    F(
        "workload.arrival.cv",
        "number?",
        "coefficient of variation of the inter-arrival times (gamma; 1 is Poisson, "
        "above 1 bursty); null: the trace's, else 1",
        gt=0,
        le=100,
    ),
    F(
        "workload.max_context_tokens",
        "int?",
        "longest request to serve, prompt plus answer, in tokens: the engines' "
        "context limit, and each worker keeps KV cache for one such request beside its planned batch; null: isl + osl",
        ge=1,
        cap=10 * _BIG,
    ),
    F("sla", "section", "bounds every reported deployment meets; null: unbounded"),
    F("sla.ttft_ms", "bound?", "time-to-first-token bound in ms (a number: the mean; {p90: 500}: percentiles)", gt=0),
    F("sla.tpot_ms", "bound?", "time-per-output-token bound in ms (a number: the mean; {p99: 20}: percentiles)", gt=0),
    F("sla.min_tokens_per_s_per_user", "number?", "per-user decode speed floor in tokens/s", gt=0),
    F("sla.max_request_latency_ms", "number?", "bound on ttft + (osl - 1) * tpot in ms", gt=0),
    F("quantization", "section", f"dtype per component; {_Q}"),
    F("quantization.gemm", "str?", f"dense GEMM dtype; {_Q}", choices=GEMM_DTYPES),
    F(
        "quantization.kv_cache",
        "str?",
        "KV-cache dtype; null: fp8 (MLA: bf16 where the backend has no fast fp8-KV MLA kernel, as its recipes run)",
        choices=KV_DTYPES,
    ),
    F("quantization.attention", "str?", "attention compute dtype; null: bfloat16", choices=("bfloat16", "fp8")),
    F("quantization.moe", "str?", f"MoE expert dtype; {_Q}", choices=MOE_DTYPES),
    F("speculative", "section", "multi-token prediction (MTP) for models with MTP layers, e.g. DeepSeek-V3/R1"),
    F(
        "speculative.mtp_draft_tokens",
        "int?",
        "tokens drafted per decode step; null: the backend recipe (trtllm: 3; sglang: 3 when disaggregated; vllm: 0)",
        ge=0,
        le=8,
    ),
    F(
        "speculative.mtp_acceptance",
        "number?",
        "probability each drafted token is accepted; null: the backend recipe (0.8)",
        ge=0,
        le=1,
    ),
    F("serving", "section", "engine and load settings the serving model prices (and the exporter renders)"),
    F(
        "serving.scheduler_recv_interval",
        "int",
        "SGLang --scheduler-recv-interval: the scheduler reads new "
        "requests every N iterations, so an arrival waits (N-1)/2 decode steps; 1 is the engine default",
        default=1,
        ge=1,
        le=100,
    ),
    F(
        "serving.max_num_tokens",
        "int?",
        "engine token budget per iteration and attention-DP rank (prefill chunk: TRT-LLM max_num_tokens, vLLM "
        "--max-num-batched-tokens, SGLang --chunked-prefill-size); priced and exported; null: the backend's "
        "default (8192)",
        ge=256,
        cap=_BIG,
    ),
    F(
        "serving.moe_backend",
        "str?",
        "MoE kernel priced and deployed: TRTLLM (TRT-LLM moe_config.backend: the TRTLLM-gen MoE kernel, measured for "
        "NVFP4 experts on b200 and gb200, run at EP <= 8), MARLIN (vLLM with VLLM_MXFP4_USE_MARLIN=1: Marlin on MXFP4 "
        "experts, measured for other experts and read at equal tokens per expert), TRITON (vLLM with "
        "FlashInfer and DeepGEMM MoE switched off: the Triton fused MoE) or default (the engine's own kernel); null: "
        "the recipe's choice, TRTLLM where measured for the model's experts, else the default",
        choices=("TRTLLM", "MARLIN", "TRITON", "default"),
    ),
    F(
        "serving.batch_wait_iters",
        "int",
        "TRT-LLM batch_wait_timeout_iters, priced and deployed: without attention DP new prompts wait up to this many "
        "iterations while requests decode, so they prefill together; 0 (the engine default) turns it off",
        default=0,
        ge=0,
        le=1000,
    ),
    F(
        "serving.batch_wait_max_tokens_ratio",
        "number",
        "TRT-LLM batch_wait_max_tokens_ratio, priced and deployed: the wait ends once this share of max_num_tokens "
        "is scheduled; 0 (the engine default) turns it off",
        default=0.0,
        ge=0,
        le=1,
    ),
    F(
        "serving.prefill_utilisation",
        "number",
        "load at which disagg prefill pools are planned: their TTFT "
        "includes the queueing at this load and their capacity is derated to it",
        default=0.7,
        gt=0,
        le=0.95,
    ),
    F(
        "calibration",
        "str?",
        "file of TTFT/TPOT correction factors written by `aicsolve calibrate` "
        "(relative to the spec file); null: the cost model as is",
    ),
    F("modes", "strs", "serving modes to compare", default=list(MODES), choices=MODES),
    F("search", "section", "worker layouts and batch sizes the cost model evaluates"),
    F("search.tp", "ints", "tensor-parallel sizes", default=[1, 2, 4, 8], ge=1, pow2=True, cap=_PAR),
    F("search.pp", "ints", "pipeline-parallel sizes", default=[1], ge=1, cap=_PAR),
    F(
        "search.dp",
        "ints?",
        f"attention data-parallel sizes; null: {list(MOE_DP)} if MoE, else [1]",
        ge=1,
        pow2=True,
        cap=_PAR,
    ),
    F("search.moe_ep", "ints?", "expert-parallel sizes; null: every EP dividing the worker", ge=1, pow2=True, cap=_PAR),
    F("search.max_batch_size", "int", "largest per-worker batch", default=512, ge=1, cap=_BIG),
    F("search.batch_sizes", "ints?", "batch grid; null: geometric up to max_batch_size", ge=1, cap=_BIG),
    F("search.max_gpus_per_worker", "int?", "largest worker evaluated; null: no cap", ge=1, cap=_BIG),
    F("constraints", "section", "custom limits on the deployment"),
    F("constraints.topology", "section", "node layout; omitted: no node constraints"),
    F("constraints.topology.gpus_per_node", "int?", "GPUs per node; null: the system's", ge=1, cap=_PAR),
    F("constraints.topology.worker_within_node", "bool", "every worker fits in one node", default=False),
    F("constraints.topology.max_nodes", "int?", "nodes available; null: no cap", ge=1, cap=_BIG),
    F("constraints.topology.separate_prefill_decode_nodes", "bool", "no node mixes roles", default=False),
    F("constraints.replicas", "section", "worker count bounds per role"),
    F("constraints.replicas.min", "int", "fewest workers per role", default=1, ge=1, cap=_BIG),
    F("constraints.replicas.max", "int?", "most workers per role; null: no cap", ge=1, cap=_BIG),
    F("constraints.max_gpus_per_worker", "int?", "GPUs one worker may use; null: no cap", ge=1, cap=_BIG),
    F("constraints.fixed", "section", "parallelism every role must use"),
    *(F(f"constraints.fixed.{k}", "int?", f"{k} of every worker", ge=1, pow2=k != "pp", cap=_PAR) for k in FIXED_KEYS),
    F("constraints.role_gpu_budget", "section", "most GPUs all workers of one disagg role may use"),
    *(
        F(f"constraints.role_gpu_budget.{k}", "int?", f"GPU cap of {k} workers", ge=1, cap=_BIG)
        for k in ("prefill", "decode")
    ),
    F("solver", "section", "CP-SAT settings"),
    F("solver.time_limit_s", "number", "search time limit in seconds", default=10, gt=0, cap=86_400),
    F("solver.seed", "int", "random seed", default=0, ge=0, cap=2**31 - 1),  # CP-SAT takes a 32-bit seed
    F("solver.top_n", "int", "deployments listed per mode", default=5, ge=1, cap=1_000),
)


def children(prefix: str) -> dict[str, Field]:
    """The fields directly under a dotted key path ("" for the top level), by their last key."""
    return {f.path.rpartition(".")[2]: f for f in FIELDS if f.path.rpartition(".")[0] == prefix}


def _schema_of(f: Field) -> dict[str, Any]:
    if f.kind == "section":
        kids, req = children(f.path), [k for k, c in children(f.path).items() if c.required and not c.unless]
        return {
            "type": "object" if f.required or not f.path else ["object", "null"],
            "description": f.doc,
            "additionalProperties": False,
            "properties": {k: _schema_of(c) for k, c in kids.items()},
            **({"required": req} if req else {}),
        }
    base = f.kind.rstrip("?")
    if base in ("length", "bound"):
        return {**mapping_kind_schema(base, f), "description": f.doc}
    if base == "list":  # each item is a spec of its own; the top-level keys are its defaults
        return {"type": ["array", "null"], "minItems": 1, "items": {"type": "object"}, "description": f.doc}
    kind = {"str": "string", "int": "integer", "number": "number", "bool": "boolean"}[base.rstrip("s")]
    rules: dict[str, object] = {"enum": [*f.choices, *([None] if f.kind == "str?" else [])]} if f.choices else {}
    rules |= ({"minimum": f.ge} if f.ge is not None else {}) | ({"exclusiveMinimum": f.gt} if f.gt is not None else {})
    rules |= {"maximum": min(x for x in (f.le, f.cap) if x is not None)} if (f.le, f.cap) != (None, None) else {}
    s: dict[str, object] = (
        {"type": kind, **rules}
        if base in ("str", "int", "number", "bool")
        else {"type": "array", "minItems": 1, "items": {"type": kind, **rules}}
    )
    s["type"] = [s["type"], "null"] if "?" in f.kind else s["type"]
    doc = f.doc + (" (powers of two)" if f.pow2 else "")
    return {**s, "description": doc, **({"default": f.default} if f.default is not None else {})}


PERCENTILE_KEYS = ("mean", "p50", "p90", "p95", "p99")  # what a bound mapping may name (costmodel.latency)


def mapping_kind_schema(kind: str, f: Field) -> dict[str, Any]:
    """JSON Schema of the kinds that take a number or a mapping: a length (tokens or a distribution) and a bound
    (the mean, or percentiles)."""
    pos = {"type": "number", "exclusiveMinimum": 0}
    if kind == "bound":
        return {
            "oneOf": [
                pos,
                {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": False,
                    "properties": {k: pos for k in PERCENTILE_KEYS},
                },
                {"type": "null"},
            ]
        }
    pair = {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": 0}}
    return {
        "oneOf": [
            {"type": "integer", "minimum": f.ge, "maximum": f.cap},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["lognormal"],
                "properties": {
                    "lognormal": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["mean", "p90"],
                        "properties": {"mean": pos, "p90": pos},
                    }
                },
            },
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["histogram"],
                "properties": {"histogram": {"type": "array", "minItems": 1, "items": pair}},
            },
            {"type": "null"},
        ]
    }


def schema() -> dict[str, Any]:
    """The JSON Schema of the spec, generated from FIELDS (python -m solver.spec writes specs/aicsolve.schema.json)."""
    root = _schema_of(Field("", "section", "model, system, GPUs, workload and SLA"))
    # A cluster spec names its models under deployments: (their items carry model and workload).
    root["anyOf"] = [{"required": root.pop("required")}, {"required": ["deployments"]}]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "aicsolve.schema.json",
        "title": "aicsolve spec",
        **root,
    }
