"""Match a requested quantization to what the backend measured for this model's shapes.

A dtype with no measurements is replaced by the nearest measured one (and the swap is
reported), e.g. an FP4 checkpoint on Hopper runs its GEMMs in FP8, and gpt-oss's MXFP4
experts use the backend's MXFP4 kernel.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from costmodel.arch import ModelArch
from costmodel.config import Quant
from costmodel.opdb import OpDB

GEMM_FALLBACK = {
    "nvfp4": ("fp8_block", "fp8", "bfloat16"),
    "fp8_block": ("fp8", "bfloat16"),
    "fp8": ("fp8_block", "bfloat16"),
    "bfloat16": (),
}
MOE_FALLBACK = {
    "nvfp4": ("w4a8_mxfp4_mxfp8", "fp8_block", "fp8", "bfloat16"),
    "fp8": ("fp8_block", "bfloat16"),
    "fp8_block": ("fp8", "bfloat16"),
    "int4_wo": ("w4a16_mxfp4", "fp8_block", "bfloat16"),
    "mxfp4": ("w4a8_mxfp4_mxfp8", "w4a16_mxfp4", "bfloat16"),
    "bfloat16": ("fp8_block", "fp8"),
}

HIGH_PRECISION_NAMES = {
    "attn_qkv": "the attention q/k/v projections",
    "attn_out": "the attention output projection",
    "linear_attn": "the linear-attention projections",
    "dense_mlp": "the dense-layer MLPs",
    "shared_experts": "the shared experts",
}  # router and lm_head: always priced in bf16


# An fp8 KV cache is only worth it with a fast fp8-KV attention kernel. SGLang on Hopper has none for
# MLA (its measured fp8-KV MLA decode is ~6x its bf16-KV one at batch 128), and its recipes keep the
# KV cache in the model dtype there; with fp8 KV its H200 DeepSeek TPOTs came out ~1.4x too high.
MLA_KV_SLOWDOWN_LIMIT = 1.5


def recipe_kv_cache(db: OpDB, a: ModelArch) -> str:
    """The KV-cache dtype an engine recipe runs by default: fp8, except for MLA models where the backend's
    fp8-KV MLA decode kernel is more than MLA_KV_SLOWDOWN_LIMIT x its bf16 one (generation_mla table,
    heads/8 per GPU, batch 128, KV length 2048); those keep bf16."""
    if not (a.is_mla and db.has("generation_mla")) or "fp8" not in db.options("generation_mla", "kv_dtype"):
        return "fp8"
    shape = (np.array(a.num_heads / 8), np.array(128.0), np.array(2048.0))
    fp8, bf16 = (
        float(db.latency_ms("generation_mla", *shape, mla_dtype="bfloat16", kv_dtype=kv)) for kv in ("fp8", "bfloat16")
    )
    return "bfloat16" if fp8 > MLA_KV_SLOWDOWN_LIMIT * bf16 else "fp8"


def moe_dtypes(db: OpDB, a: ModelArch, table: str = "moe") -> set[str]:
    """Expert dtypes an MoE op table measured for this model's expert shape (hidden, inter, top-k, experts)."""
    t = db.table(table).columns
    sel = (
        (t["hidden"] == a.hidden)
        & (t["inter"] == a.moe_intermediate)
        & (t["topk"] == a.topk)
        & (t["experts"] == a.num_experts)
    )
    return set(t["dtype"][sel].tolist())


def moe_kernel(db: OpDB, a: ModelArch, moe_dtype: str, requested: str | None) -> str | None:
    """The MoE kernel priced (and deployed) for a recipe: None for the engine's default kernel. ``requested``:
    a kernel name (taken as is; StepModel.check refuses one not measured), ``default``, or None for the product's
    recipe: the first kernel of the engine file's ``tables.moe_recipe`` whose table measured this model's experts
    at ``moe_dtype`` on this system."""
    from costmodel.engines import DEFAULT_KERNEL, engine_rules

    if requested == DEFAULT_KERNEL or not a.is_moe:
        return None
    if requested is not None:
        return requested
    return next((name for name in engine_rules(db.backend).moe_recipe if kernel_measured(db, a, moe_dtype, name)), None)


def kernel_measured(db: OpDB, a: ModelArch, moe_dtype: str, kernel: str) -> bool:
    """Whether the op table of the engine's MoE kernel ``kernel`` measured this model's experts at ``moe_dtype``."""
    from costmodel.engines import engine_rules

    table = engine_rules(db.backend).moe_table(kernel)
    return db.has(table) and moe_dtype in moe_dtypes(db, a, table)


def kernel_dtypes(db: OpDB, a: ModelArch, kernel: str) -> set[str]:
    """Expert dtypes the step model prices the engine's MoE kernel ``kernel`` at for this model: those its op table
    measured for this model's experts, or every dtype it measured where the engine file reads that table for other
    experts (``other_experts``, StepModel.moe_transfer); empty where this system has no table for the kernel."""
    from costmodel.engines import engine_rules

    rules = engine_rules(db.backend)
    table = rules.moe_table(kernel)
    if not db.has(table):
        return set()
    return set(db.options(table, "dtype")) if kernel in rules.moe_backend_transfers else moe_dtypes(db, a, table)


def resolve_quant(db: OpDB, a: ModelArch, q: Quant) -> tuple[Quant, tuple[str, ...]]:
    """The quantization that will be priced, and notes on every substitution made."""
    notes = []
    gemms = set(db.options("gemm", "dtype"))
    gemm = q.gemm
    if gemm not in gemms:
        gemm = next((d for d in GEMM_FALLBACK.get(gemm, ()) if d in gemms), "bfloat16")
        notes.append(f"gemm {q.gemm}: not measured on {db.system.name}/{db.backend}; priced as {gemm}")
    kept = [name for g, name in HIGH_PRECISION_NAMES.items() if g in a.high_precision]
    if kept and gemm != "bfloat16":  # e.g. NVFP4 releases that leave attention unquantized
        notes.append(
            f"{a.name} keeps {', '.join(kept)} in bf16 (its quantization_config's ignore list): those "
            f"GEMMs and weights are priced in bf16, the other GEMMs in {gemm}"
        )
    moe = q.moe
    if a.is_moe:
        have = moe_dtypes(db, a)
        want = "mxfp4" if a.native_weight_dtype == "mxfp4" and moe in ("nvfp4", "mxfp4", "fp8") else moe
        if want not in have:
            moe = next((d for d in MOE_FALLBACK.get(want, ()) if d in have), None) or (sorted(have) or [moe])[0]
            if want != "mxfp4" or moe not in ("w4a8_mxfp4_mxfp8", "w4a16_mxfp4"):
                notes.append(f"moe {q.moe} not measured for this model's experts: priced as {moe}")
            elif q.moe != "mxfp4":  # the checkpoint's MXFP4 experts are what the engines load
                notes.append(f"moe {q.moe}: {a.name} ships MXFP4 experts, priced as {moe} (the engine's MXFP4 kernel)")
    return replace(q, gemm=gemm, moe=moe), tuple(notes)
