"""Typed inputs of the cost model: quantization, search space, and one surface request."""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

from costmodel.arch import ModelArch
from costmodel.engines import engine_rules
from costmodel.workload import Workload, fixed_workload

if TYPE_CHECKING:
    from costmodel.calibrate import Calibration

# Disagg prefill pools are planned at this load (the search cannot know the load before it pairs pools):
# TTFT includes the queueing at this utilisation, capacity is derated to it. `validate` instead derives
# the load from the benchmark's concurrency; both price it with the same serving functions.
PREFILL_UTILISATION = 0.7
GEMM_DTYPES = ("bfloat16", "fp8", "fp8_block", "nvfp4")
KV_DTYPES = ("bfloat16", "fp8")
MOE_DTYPES = ("bfloat16", "fp8", "fp8_block", "nvfp4", "w4a16_mxfp4", "w4a8_mxfp4_mxfp8", "int4_wo")


@dataclass(frozen=True, slots=True)
class Quant:
    """Dtype per component, named as in the op tables (bfloat16, fp8, fp8_block, nvfp4, …)."""

    gemm: str = "fp8_block"
    kv_cache: str = "fp8"
    attention: str = "bfloat16"
    moe: str = "fp8_block"


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """Worker layouts and batch sizes to evaluate. dp is attention data parallel (MoE models)."""

    tp: tuple[int, ...] = (1, 2, 4, 8)
    pp: tuple[int, ...] = (1,)
    dp: tuple[int, ...] = (1,)
    moe_ep: tuple[int, ...] | None = None  # None: every EP that divides the worker's GPUs
    max_batch_size: int = 512
    batch_sizes: tuple[int, ...] | None = None  # None: a geometric grid up to max_batch_size
    max_gpus_per_worker: int | None = None


@dataclass(frozen=True, slots=True)
class SurfaceRequest:
    """One cost-model evaluation over the whole candidate grid."""

    model: ModelArch
    system: str
    backend: str
    version: str
    isl: int
    osl: int
    quant: Quant
    search: SearchSpace
    modes: tuple[str, ...] = ("agg", "disagg")
    decode_system: str | None = None  # disagg decode on another GPU type
    # GPUs per node the workers are placed on (spec constraints.topology.gpus_per_node); None: each system's
    # own. A worker or collective group larger than a node pays the inter-node link (costmodel.step).
    gpus_per_node: int | None = None
    mtp_draft: int | None = None  # None: the backend's recipe (engine file ``mtp``) when the model has MTP
    mtp_accept: float | None = None
    calibration: Calibration | None = None  # measured correction factors (costmodel.calibrate)
    max_context: int | None = None  # longest request (prompt + answer, tokens) the engines admit; None: isl + osl
    total_gpus: int | None = None  # the deployment's GPUs: a disagg pool within one node hands KV over NVLink
    scheduler_recv_interval: int = 1  # SGLang --scheduler-recv-interval: new requests read every N iterations
    # TRT-LLM batch waiting (batch_wait_timeout_iters, batch_wait_max_tokens_ratio): without attention DP new prompts
    # are held while requests decode, up to that many iterations or until that share of the token budget is
    # scheduled (costmodel.closedloop.batch_wait_ms); 0: off, the engine default
    batch_wait_iters: int = 0
    batch_wait_max_tokens_ratio: float = 0.0
    # largest decode batch per attention-DP rank the engine replays as a CUDA graph (larger ones run eagerly);
    # None: the product's recipe (costmodel.build.graph_max_batch: what the exporters render, else the engine default)
    cuda_graph_max_batch: int | None = None
    # benchmark_serving --random-range-ratio r: each request's ISL and OSL uniform in [r·L, L]; 1: all exactly
    # ISL/OSL. Priced: a prefill-first engine's closed loop stays synchronized only at 1 (costmodel.closedloop).
    length_range_ratio: float = 1.0
    prefill_utilisation: float = PREFILL_UTILISATION  # load the disagg prefill pools are planned at
    # length distributions, prefix hits and arrivals (costmodel.workload); None: isl and osl fixed, closed loop.
    # isl and osl above are then the distributions' means, rounded: the serving model prices rows at them.
    workload: Workload | None = None
    # engine token budget per iteration (prefill chunk; TRT-LLM max_num_tokens, vLLM --max-num-batched-tokens,
    # SGLang --chunked-prefill-size per rank); None: the backend's default (engine file scheduler.max_num_tokens)
    max_num_tokens: int | None = None
    # MoE kernel the engine runs (TRT-LLM moe_config.backend, e.g. "TRTLLM"; "default": the engine's own default);
    # None: the product's recipe (engine file tables.moe_recipe where measured, else the default; quant.moe_kernel).
    # Priced from the op table the engine file names for it (tables.moe_backends) and rendered by the exporter.
    moe_backend: str | None = None


def workload_of(req: SurfaceRequest) -> Workload:
    """The request's workload: its own, else fixed isl and osl under closed-loop load."""
    return req.workload if req.workload is not None else fixed_workload(req.isl, req.osl)


def token_budget(req: SurfaceRequest) -> int:
    """The engine's token budget per iteration the request is priced (and exported) with, in tokens."""
    return req.max_num_tokens or engine_rules(req.backend).max_num_tokens


def fixed_lengths(req: SurfaceRequest) -> bool:
    """Whether every request has exactly ``isl``/``osl`` tokens under the closed loop: no workload, or one with
    zero variance (fixed lengths, no prefix hits, closed loop), and no benchmark length spread (``length_range_ratio``
    1)."""
    return (req.workload is None or req.workload.zero_variance) and req.length_range_ratio >= 1.0


def context_tokens(req: SurfaceRequest) -> int:
    """Longest request to serve in tokens (prompt + answer): req.max_context, else the longest ISL + longest OSL of
    the workload (isl + osl when they are fixed)."""
    w = workload_of(req)
    return req.max_context or w.isl.longest + w.osl.longest


def mtp_settings(req: SurfaceRequest, mode: str = "agg") -> tuple[int, float]:
    """(drafted tokens per step, acceptance) priced for a mode: the request's, else the backend recipe; 0 without MTP."""
    if not req.model.mtp_layers:
        return 0, 0.0
    draft, accept = engine_rules(req.backend).mtp(mode)
    return (draft if req.mtp_draft is None else req.mtp_draft, accept if req.mtp_accept is None else req.mtp_accept)
