"""What the importer converts: the source tables of aiconfigurator-core, and how each maps to ours.

Every table is keyed by named columns (source name → our name) and carries one or more
value columns in milliseconds. Source quirks handled here: ``moe_a2a`` and the DeepEP
tables are in microseconds; the all-reduce variant lives in ``implementation`` (trtllm)
or ``backend`` (vllm, sglang); one gated delta-net (GDN) call is several kernels
(``kernel_source``: conv + chunked delta rule in prefill, conv update + recurrent step in decode),
whose latencies are summed into one row per shape and phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE_PACKAGE = "aiconfigurator-core"
SOURCE_VERSION = "0.12.0"

# Kernel lane pinned per (backend, table family, SM version) where several lanes measured the
# same shape; elsewhere the lane with the most rows wins (see convert.resolve_lanes).
PINNED_LANES: dict[tuple[str, str, int], tuple[str, ...]] = {
    ("sglang", "attention", 90): ("fa3",),
    ("sglang", "attention", 100): ("triton",),
    ("sglang", "attention", 103): ("triton",),
}


# Systems built on the same GPU die (an HGX board and a Grace-Blackwell rack), measured by the same collector release:
# their MoE kernel rows agree cell by cell (the median cell ratio of b200_sxm to gb200 is 1.03-1.06 in every lane).
# A cell (every key but the token count) that one system measured TWIN_OUTLIER times slower than its twin, beyond
# that systematic ratio, is a collection artefact, not the kernel: a kernel runs no slower than it has been measured
# to run on the same silicon. Example: b200 TRT-LLM CUTLASS NVFP4, DeepSeek's experts at EP 8 with power-law routing,
# 0.29 ms at 256 tokens where gb200, b300_sxm and gb300 measure 0.15-0.16 ms; its TRT-LLM-gen lane agrees with
# gb200 in 99.8 % of cells, its CUTLASS lane in 82 % (convert.mend_outliers).
TWIN_SYSTEMS: dict[str, str] = {
    "b200_sxm": "gb200",
    "gb200": "b200_sxm",
    "b300_sxm": "gb300",
    "gb300": "b300_sxm",
}
TWIN_OUTLIER = 1.5


@dataclass(frozen=True, slots=True)
class SharedKernel:
    """Rows a backend's table lacks for a kernel another backend measured: the same library kernel, called by
    both engines, so its latency carries over. Added after the backend's own versions, never over its rows."""

    table: str  # our table name
    backend: str  # the backend whose table gets the rows
    key: str  # our key column that selects them
    value: str  # ... and its value
    donor: str  # the backend that measured them (its current version: engine file tables.version)
    min_sm: int  # GPUs the kernel runs on
    why: str
    lane: str = ""  # the donor's kernel lane (kernel_source) that measured it; "": the table's own lane rule


SHARED_KERNELS: tuple[SharedKernel, ...] = (
    SharedKernel(
        "moe",
        "vllm",
        "dtype",
        "w4a8_mxfp4_mxfp8",
        "sglang",
        100,
        "vLLM with VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1 (its GPT-OSS Blackwell recipe) and SGLang both run "
        "FlashInfer's TRT-LLM-gen MXFP4 MoE kernel with MXFP8 activations; vLLM's table measured only the "
        "BF16-activation variant of that kernel, whose rows match SGLang's w4a16_mxfp4 rows (median ratio "
        "1.00-1.01 over 1,944 shapes on b200/b300/gb200/gb300)",
    ),
    *(
        SharedKernel(
            "moe_trtllm_gen",
            "trtllm",
            "dtype",
            dtype,
            "sglang",
            100,
            "TRT-LLM's TRTLLM MoE backend (TRTLLMGenFusedMoE) and SGLang's flashinfer_trtllm MoE runner both run the "
            "TRT-LLM-gen fused MoE kernels; where both measured NVFP4 (b200) SGLang's rows match TRT-LLM's own with "
            "median ratio 1.006 over 7,938 shapes (0.98-1.03 per token range). TRT-LLM's tables measured the FP8 "
            "block-scale variant, which its FP8 DeepSeek recipes select on Blackwell, on no system, and NVFP4 only "
            "on b200/gb200",
            lane="sglang_flashinfer_trtllm_moe",
        )
        for dtype in ("nvfp4", "fp8_block")
    ),
)


@dataclass(frozen=True, slots=True)
class Value:
    """One value column of ours: the sum of source columns times a unit scale (to ms)."""

    name: str
    sources: tuple[str, ...]
    scale: float = 1.0


MS = (Value("latency_ms", ("latency",)),)


@dataclass(frozen=True, slots=True)
class TableSource:
    """One of our tables and where its rows come from in the source tree."""

    name: str
    family: str
    stem: str
    keys: tuple[tuple[str | tuple[str, ...], str], ...]
    values: tuple[Value, ...] = MS
    system_wide: bool = False  # nccl: one file per system, chosen by the system's NCCL version
    optional: bool = False  # wide-EP tables: absent for some backends
    filter_moe_shapes: bool = False
    # Lanes are the consecutive kernels of one op, not alternatives: a shape's value is their sum, kept
    # only where every kernel measured for its value of this key column (ours, e.g. "phase") is present.
    sum_lanes_by: str = ""
    # Only this kernel lane (``kernel_source``) of the source file: a kernel the engine runs when a recipe selects
    # it, kept apart from the table of the engine's default kernel.
    lane: str = ""
    notes: str = field(default="")


def _k(*pairs: str) -> tuple[tuple[str, str], ...]:
    """Key pairs written as 'src:ours' or 'same'."""
    out = []
    for p in pairs:
        src, _, ours = p.partition(":")
        out.append((src, ours or src))
    return tuple(out)


# the keys of every per-kernel MoE table (the engine default's, TRTLLM-gen's, SGLang's wide-EP ones)
MOE_KEYS = _k(
    "moe_dtype:dtype",
    "distribution",
    "hidden_size:hidden",
    "inter_size:inter",
    "topk",
    "num_experts:experts",
    "moe_tp_size:tp",
    "moe_ep_size:ep",
    "num_tokens:tokens",
)

TABLES: tuple[TableSource, ...] = (
    TableSource("gemm", "gemm", "gemm_perf", _k("gemm_dtype:dtype", "m", "n", "k")),
    TableSource(
        "context_attention",
        "attention",
        "context_attention_perf",
        _k(
            "attn_dtype",
            "kv_cache_dtype:kv_dtype",
            "window_size:window",
            "head_dim",
            "num_heads:heads",
            "num_key_value_heads:kv_heads",
            "batch_size:batch",
            "isl",
        ),
    ),
    TableSource(
        "generation_attention",
        "attention",
        "generation_attention_perf",
        _k(
            "attn_dtype",
            "kv_cache_dtype:kv_dtype",
            "window_size:window",
            "head_dim",
            "num_heads:heads",
            "num_key_value_heads:kv_heads",
            "batch_size:batch",
            "step",
        ),
    ),
    TableSource(
        "context_mla",
        "mla",
        "context_mla_perf",
        _k("mla_dtype", "kv_cache_dtype:kv_dtype", "num_heads:heads", "batch_size:batch", "isl"),
        optional=True,
    ),
    TableSource(
        "generation_mla",
        "mla",
        "generation_mla_perf",
        _k("mla_dtype", "kv_cache_dtype:kv_dtype", "num_heads:heads", "batch_size:batch", "step"),
        optional=True,
    ),
    TableSource(
        "mla_context_module",
        "mla",
        "mla_context_module_perf",
        _k(
            "gemm_type:gemm_dtype", "mla_dtype", "kv_cache_dtype:kv_dtype", "num_heads:heads", "batch_size:batch", "isl"
        ),
        optional=True,
    ),
    TableSource(
        "mla_generation_module",
        "mla",
        "mla_generation_module_perf",
        _k(
            "gemm_type:gemm_dtype",
            "mla_dtype",
            "kv_cache_dtype:kv_dtype",
            "num_heads:heads",
            "batch_size:batch",
            "step",
        ),
        optional=True,
    ),
    TableSource(
        "mla_bmm",
        "mla_bmm",
        "mla_bmm_perf",
        _k("op_name:op", "bmm_dtype:dtype", "num_heads:heads", "num_tokens:tokens"),
    ),
    TableSource(
        "moe",
        "moe",
        "moe_perf",
        MOE_KEYS,
        filter_moe_shapes=True,
    ),
    TableSource(
        "moe_trtllm_gen",
        "moe",
        "moe_perf",
        MOE_KEYS,
        optional=True,
        filter_moe_shapes=True,
        lane="moe_torch_flow_min_latency",
        notes="TRT-LLM's TRTLLM MoE backend (TRTLLMGenFusedMoE, moe_config.backend: TRTLLM): the collector's "
        "min-latency lane, measured for NVFP4 on SM100 with at most 256 experts",
    ),
    TableSource(
        "moe_triton",
        "moe",
        "moe_perf",
        MOE_KEYS,
        optional=True,
        filter_moe_shapes=True,
        lane="vllm_fused_moe",
        notes="vLLM's Triton fused MoE (fused_experts), which runs where FlashInfer and DeepGEMM are switched off "
        "(VLLM_USE_FLASHINFER_MOE_FP8=0, VLLM_MOE_USE_DEEP_GEMM=0): the legacy collector's lane; on Blackwell its "
        "FP8 block-scale rows come from vLLM 0.22.0 and 0.19.0, the release whose default kernel it was",
    ),
    TableSource(
        "moe_marlin",
        "moe",
        "moe_perf",
        MOE_KEYS,
        optional=True,
        lane="vllm_compressedtensorsw4a4mxfp4moe_marlin_marlinexperts_situ_as_silu",
        notes="vLLM's Marlin MoE kernel on MXFP4 experts with BF16 activations (VLLM_MXFP4_USE_MARLIN=1 selects it "
        "for gpt-oss): measured for Kimi-K3's experts only (hidden 3584, inter 3072, 16 of 896; H100, H200, GB200, "
        "GB300), SiTU run as SiLU; every shape is kept, since the step model reads other experts from it "
        "(StepModel.moe_transfer)",
    ),
    TableSource(
        "custom_allreduce",
        "comm",
        "custom_allreduce_perf",
        (
            ("allreduce_dtype", "dtype"),
            (("implementation", "backend"), "variant"),
            ("num_gpus", "gpus"),
            ("message_size", "msg"),
        ),
    ),
    TableSource(
        "nccl",
        "comm",
        "nccl_perf",
        _k("op_name:op", "nccl_dtype:dtype", "num_gpus:gpus", "message_size:msg"),
        system_wide=True,
        notes="message size is an element count",
    ),
    TableSource(
        "moe_a2a",
        "comm",
        "moe_a2a_perf",
        _k(
            "comm_backend",
            "phase",
            "comm_dtype",
            "ep_size:ep",
            "node_num:nodes",
            "hidden_size:hidden",
            "topk",
            "num_experts:experts",
            "sms",
            "num_tokens:tokens",
        ),
        values=(Value("latency_ms", ("latency",), 1e-3),),
        optional=True,
        filter_moe_shapes=True,
    ),
    TableSource(
        "wideep_moe",
        "moe",
        "wideep_moe_perf",
        _k(
            "op_name:op",
            "moe_dtype:dtype",
            "moe_kernel",
            "distribution",
            "simulation_mode",
            "hidden_size:hidden",
            "inter_size:inter",
            "topk",
            "num_experts:experts",
            "num_slots:slots",
            "moe_tp_size:tp",
            "moe_ep_size:ep",
            "dp_num_tokens:dp_tokens",
            "rank0_num_tokens:rank0_tokens",
            "num_tokens:tokens",
        ),
        optional=True,
        filter_moe_shapes=True,
    ),
    TableSource(
        "wideep_context_moe",
        "moe",
        "wideep_context_moe_perf",
        MOE_KEYS,
        optional=True,
        filter_moe_shapes=True,
    ),
    TableSource(
        "wideep_generation_moe",
        "moe",
        "wideep_generation_moe_perf",
        MOE_KEYS,
        optional=True,
        filter_moe_shapes=True,
    ),
    TableSource(
        "wideep_context_mla",
        "mla",
        "wideep_context_mla_perf",
        _k(
            "gemm_type:gemm_dtype",
            "mla_dtype",
            "kv_cache_dtype:kv_dtype",
            "num_heads:heads",
            "tp_size:tp",
            "batch_size:batch",
            "isl",
        ),
        optional=True,
    ),
    TableSource(
        "wideep_generation_mla",
        "mla",
        "wideep_generation_mla_perf",
        _k(
            "gemm_type:gemm_dtype",
            "mla_dtype",
            "kv_cache_dtype:kv_dtype",
            "num_heads:heads",
            "tp_size:tp",
            "batch_size:batch",
            "step",
        ),
        optional=True,
    ),
    TableSource(
        "deepep_normal",
        "comm",
        "wideep_deepep_normal_perf",
        _k(
            "node_num:nodes",
            "hidden_size:hidden",
            "num_topk:topk",
            "num_experts:experts",
            "dispatch_sms",
            "combine_sms",
            "num_token:tokens",
        ),
        values=(
            Value("dispatch_ms", ("dispatch_transmit_us", "dispatch_notify_us"), 1e-3),
            Value("combine_ms", ("combine_transmit_us", "combine_notify_us"), 1e-3),
        ),
        optional=True,
        filter_moe_shapes=True,
    ),
    TableSource(
        "deepep_ll",
        "comm",
        "wideep_deepep_ll_perf",
        _k("node_num:nodes", "hidden_size:hidden", "num_topk:topk", "num_experts:experts", "num_token:tokens"),
        values=(
            Value("dispatch_ms", ("dispatch_avg_t_us",), 1e-3),
            Value("combine_ms", ("combine_avg_t_us",), 1e-3),
        ),
        optional=True,
        filter_moe_shapes=True,
    ),
    TableSource(
        "gdn",
        "linear_attention",
        "gdn_perf",
        _k(
            "phase",
            "d_model",
            "d_conv",
            "head_k_dim:k_dim",
            "head_v_dim:v_dim",
            "num_k_heads:k_heads",
            "num_v_heads:v_heads",
            "batch_size:batch",
            "seq_len:seq",
        ),
        optional=True,
        sum_lanes_by="phase",
        notes="heads are per GPU (after TP); seq is new tokens per sequence (1 in generation)",
    ),
    TableSource(
        "quantize",
        "quantize",
        "scale_matrix_perf",
        _k("quant_dtype:dtype", "m", "k"),
        notes="one static FP8 quantize of an [m, k] bf16 activation with a known scale: a single pass over the "
        "activations, the engine's own small elementwise kernel (costmodel.step prices the small kernels the other "
        "tables do not time by its one-token row: q/k norms, a GDN layer's gating and gated norm, a shared expert's "
        "gate)",
    ),
)
