"""What precision a checkpoint's weights are in: the storage format its quantization_config names, and the
weight groups its ignore lists keep in bf16 (mixed-precision releases: NVFP4 checkpoints that keep attention bf16)."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

# Weight groups a quantized checkpoint may keep in bf16, each named by the modules that hold it in one decoder
# layer (HF names; any one naming variant whose modules are all listed counts). The groups are those the cost
# model prices apart (costmodel.memory, costmodel.step); the embedding is always priced in bf16.
HIGH_PRECISION_GROUPS = ("attn_qkv", "attn_out", "linear_attn", "dense_mlp", "shared_experts", "router", "lm_head")
_GROUP_MODULES: dict[str, tuple[tuple[str, ...], ...]] = {
    "attn_qkv": (("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), ("self_attn.qkv_proj",)),
    "attn_qkv_mla": (
        ("self_attn.q_a_proj", "self_attn.q_b_proj", "self_attn.kv_a_proj_with_mqa", "self_attn.kv_b_proj"),
        ("self_attn.q_proj", "self_attn.kv_a_proj_with_mqa", "self_attn.kv_b_proj"),
    ),
    "attn_out": (("self_attn.o_proj",),),
    "linear_attn": (("linear_attn.in_proj_qkvz", "linear_attn.in_proj_ba", "linear_attn.out_proj"),),
    "dense_mlp": (("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),),
    "shared_experts": (
        ("mlp.shared_experts.gate_proj", "mlp.shared_experts.up_proj", "mlp.shared_experts.down_proj"),
        ("mlp.shared_expert.gate_proj", "mlp.shared_expert.up_proj", "mlp.shared_expert.down_proj"),
    ),
    "router": (("mlp.gate",), ("block_sparse_moe.gate",), ("mlp.router",)),
}
# Wrappers in front of the decoder layers (multimodal checkpoints): names are compared as model.layers.<i>.…
_LAYER_PREFIX = re.compile(r"^(?:language_model\.)?model\.(?:language_model\.)?layers\.")


def native_dtype(cfg: dict[str, Any]) -> str:
    """The weights' storage format as the cost model names it (bf16, fp8, fp8_block, nvfp4, mxfp4, int4, …), from
    an HF config's quantization_config (ModelOpt, compressed-tensors, HF fp8/mxfp4) or its torch_dtype."""
    q = cfg.get("quantization_config") or {}
    method = str(q.get("quant_method", "")).lower()
    algo = str(q.get("quant_algo", "")).upper()
    if not q:
        dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16")
        return {"float16": "fp16", "float32": "fp32"}.get(dtype, "bf16")
    if method == "mxfp4" or "NVFP4" in algo:
        return "mxfp4" if method == "mxfp4" else "nvfp4"
    if method == "fp8" or algo.startswith("FP8"):
        return "fp8_block" if q.get("weight_block_size") or "BLOCK" in algo else "fp8"
    weights = [(g.get("weights") or {}) for g in (q.get("config_groups") or {}).values()]
    bits, types = {w.get("num_bits") for w in weights}, {w.get("type") for w in weights}
    if bits in ({4}, {8}):  # compressed-tensors / modelopt config_groups
        fp = types == {"float"}
        return {(4, True): "nvfp4", (4, False): "int4", (8, True): "fp8", (8, False): "int8"}[(bits.pop(), fp)]
    # awq/gptq are int4; an unknown scheme is named rather than passed off as bf16
    return "int4" if q.get("bits") == 4 else (method or "bf16")


def _not_quantized_pattern(entries: list[str]) -> re.Pattern[str] | None:
    """One regex matching every module name an ignore list names. Entries are exact names, fnmatch globs
    (ModelOpt), ``re:`` regexes (compressed-tensors) or bare module names (HF modules_to_not_convert, e.g.
    "gate"); a name also matches every module below it (``…self_attn`` covers ``…self_attn.q_proj``)."""
    alts = []
    for e in entries:
        if e.startswith("re:"):
            alts.append(f"(?:{e[3:]})\\Z")
            continue
        e = _LAYER_PREFIX.sub("model.layers.", e)
        glob = fnmatch.translate(e).removeprefix("(?s:").removesuffix(")\\Z")
        anywhere = r"(?:.*\.)?" if "." not in e and "*" not in e else ""  # a bare name: the module's last part
        alts.append(anywhere + f"(?s:{glob})" + r"(?:\..*)?\Z")
    return re.compile("|".join(alts)) if alts else None


def high_precision(cfg: dict[str, Any], where: dict[str, list[int]], mla: bool) -> frozenset[str]:
    """Weight groups the checkpoint's quantization_config keeps out of quantization in every decoder layer
    that has them (where: group -> layer indices holding it)."""
    q = cfg.get("quantization_config") or {}
    entries = [str(e) for k in ("ignore", "exclude_modules", "modules_to_not_convert") for e in q.get(k) or []]
    rx = _not_quantized_pattern(entries)
    if rx is None:
        return frozenset()
    # lm_head sits beside the decoder (language_model.lm_head in multimodal wrappers)
    groups = {"lm_head"} if rx.match("lm_head") or any(e.rsplit(".", 1)[-1] == "lm_head" for e in entries) else set()
    for group, layers in where.items():
        variants = _GROUP_MODULES[f"{group}_mla" if mla and f"{group}_mla" in _GROUP_MODULES else group]
        if layers and any(all(rx.match(f"model.layers.{i}.{m}") for i in layers for m in mods) for mods in variants):
            groups.add(group)
    return frozenset(groups)


def group_layers(layers: int, dense_at: list[int], types: list, experts: int, shared: int) -> dict[str, list[int]]:
    """Decoder-layer indices holding each weight group (layer_types tells linear from full attention)."""
    linear = [i for i in range(layers) if i < len(types) and types[i] == "linear_attention"]
    moe = [i for i in range(layers) if i not in set(dense_at)] if experts else []
    return {
        "attn_qkv": [i for i in range(layers) if i not in set(linear)],
        "attn_out": [i for i in range(layers) if i not in set(linear)],
        "linear_attn": linear,
        "dense_mlp": dense_at,
        "shared_experts": moe if shared else [],
        "router": moe,
    }
