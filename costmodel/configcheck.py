"""A local HF config.json is input: every field the cost model reads is checked for type, sign and range."""

from __future__ import annotations

import json
from typing import Any

from costmodel.errors import UnsupportedModelError

# Integer fields the cost model reads, with the range any real checkpoint falls in (the largest known:
# 128 layers, hidden 25,600, 256 experts, 1,048,576-token context). A value outside is a damaged or
# hand-edited config: refused, because a layer count of 1e12 would take hours and a negative width would
# price nonsense.
_RANGES: dict[str, tuple[int, int]] = {
    "num_hidden_layers": (1, 1024),
    "hidden_size": (1, 131_072),
    "num_attention_heads": (1, 1024),
    "num_key_value_heads": (1, 1024),
    "head_dim": (1, 4096),
    "intermediate_size": (0, 1 << 20),
    "moe_intermediate_size": (0, 1 << 20),
    "vocab_size": (1, 1 << 24),
    "num_experts": (0, 4096),
    "n_routed_experts": (0, 4096),
    "num_local_experts": (0, 4096),
    "num_experts_per_tok": (0, 4096),
    "experts_per_token": (0, 4096),
    "first_k_dense_replace": (0, 1024),
    "moe_layer_freq": (0, 1024),
    "decoder_sparse_step": (0, 1024),
    "n_shared_experts": (0, 64),
    "shared_expert_intermediate_size": (0, 1 << 20),
    "shared_intermediate_size": (0, 1 << 20),
    "sliding_window": (0, 1 << 30),
    "num_nextn_predict_layers": (0, 16),
    "num_mtp_modules": (0, 16),
    "mtp_transformer_layers": (0, 16),
    "mtp_num_hidden_layers": (0, 16),
    "linear_num_key_heads": (0, 1024),
    "linear_num_value_heads": (0, 1024),
    "linear_key_head_dim": (0, 4096),
    "linear_value_head_dim": (0, 4096),
    "linear_conv_kernel_dim": (0, 64),
    "q_lora_rank": (0, 65_536),
    "kv_lora_rank": (0, 65_536),
    "qk_nope_head_dim": (0, 4096),
    "qk_rope_head_dim": (0, 4096),
    "v_head_dim": (0, 4096),
    "max_position_embeddings": (0, 1 << 30),
}


def shown_value(v: Any) -> str:
    """A config value as a message quotes it: JSON for scalars, at most 80 characters."""
    text = json.dumps(v) if isinstance(v, (int, float, bool, type(None))) else repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def check_config(cfg: dict[str, Any], source: str) -> None:
    """UnsupportedModelError naming source and the field, for any field the cost model reads that has the
    wrong type, sign or range."""

    def bad(key: str, want: str) -> UnsupportedModelError:
        return UnsupportedModelError(
            f"{source}: field '{key}' must be {want}; got {shown_value(cfg[key])}. Fix the "
            "config.json, or name a registry model (`aicsolve models` lists them)"
        )

    for key, (lo, hi) in _RANGES.items():
        v = cfg.get(key)
        if v is None:
            continue
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            v = cfg[key] = int(v)  # 4096.0 is 4096; 1e400 (inf) and 1.5 stay refused below
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise bad(key, f"a whole number from {lo:,} to {hi:,}")
    arch = cfg.get("architectures")
    if arch is not None and (not isinstance(arch, list) or not all(isinstance(a, str) for a in arch)):
        raise bad("architectures", 'a list of class names, e.g. ["LlamaForCausalLM"]')
    for key, kind, want in (
        ("quantization_config", dict, "a mapping (or absent)"),
        ("mlp_only_layers", list, "a list of layer indices"),
        ("layer_types", list, 'a list of layer kinds, e.g. ["full_attention", ...]'),
    ):
        if cfg.get(key) is not None and not isinstance(cfg[key], kind):
            raise bad(key, want)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in cfg.get("mlp_only_layers") or []):
        raise bad("mlp_only_layers", "a list of layer indices (whole numbers)")
    if not all(isinstance(t, str) for t in cfg.get("layer_types") or []):
        raise bad("layer_types", 'a list of layer kinds, e.g. ["full_attention", ...]')
    if len(cfg.get("layer_types") or []) > _RANGES["num_hidden_layers"][1]:
        raise bad("layer_types", "one kind per layer")
    if "linear_attention" in (cfg.get("layer_types") or []):  # gated delta-net layers need their shapes
        for key in ("linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim"):
            if not cfg.get(key):
                cfg.setdefault(key, None)
                raise bad(key, "a whole number ≥ 1 when layer_types has linear_attention layers")
    heads, kv = cfg.get("num_attention_heads"), cfg.get("num_key_value_heads")
    if heads and kv and heads % kv:
        raise bad("num_key_value_heads", f"a divisor of num_attention_heads ({heads})")
    hidden = cfg.get("hidden_size")
    if heads and hidden and not cfg.get("head_dim") and hidden < heads:
        raise bad("hidden_size", f"at least num_attention_heads ({heads}) when head_dim is not given")
