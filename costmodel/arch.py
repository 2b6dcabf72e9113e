"""Model architecture facts for the cost model, read from trimmed HF config.json files.

``data/models/<slug>.json`` holds ``{"hf_id", "aliases", "config"}`` (``config``: the trimmed public
HF config.json) and, for a quantized release, ``base_model``: the model it quantizes (its model card's
``base_model``, relation "quantized"). ``load_model`` also takes a path to any local HF config.json.
Nothing loads at import.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from costmodel.configcheck import check_config, shown_value
from costmodel.errors import CostModelError, UnknownModelError, UnsupportedModelError  # noqa: F401 - this module's API too
from costmodel.precision import HIGH_PRECISION_GROUPS, group_layers, high_precision, native_dtype  # noqa: F401
from costmodel.files import MAX_CONFIG_BYTES, BadInputFileError, is_regular, read_text
from costmodel.paths import data_dir

# HF architectures we can describe, and the cost-model family each one maps to.
_FAMILIES = {
    "dense": (
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "Qwen2ForCausalLM",
        "Qwen3ForCausalLM",
        "Qwen3_5ForConditionalGeneration",
        "Qwen3_5ForCausalLM",
    ),
    "moe": (
        "MixtralForCausalLM",
        "Qwen2MoeForCausalLM",
        "Qwen3MoeForCausalLM",
        "GptOssForCausalLM",
        "MiniMaxM2ForCausalLM",
        "Qwen3_5MoeForConditionalGeneration",
        "Qwen3_5MoeForCausalLM",
    ),
    "mla_moe": ("DeepseekV3ForCausalLM", "KimiK25ForConditionalGeneration"),
}
SUPPORTED_ARCHITECTURES: dict[str, str] = {a: fam for fam, archs in _FAMILIES.items() for a in archs}

# Archs whose softmax-attention layers RMS-normalise q and k before RoPE in every layer, with no config switch
# (transformers: Qwen3Attention / Qwen3MoeAttention q_norm, k_norm over head_dim; Qwen3.5's full-attention layers
# likewise), and those whose attention reads a config switch for it (MiniMax-M2: use_qk_norm, qk_norm_type).
_QK_NORM_SWITCH_ARCHITECTURES = {"MiniMaxM2ForCausalLM"}
_QK_NORM_ARCHITECTURES = {
    "Qwen3ForCausalLM",
    "Qwen3MoeForCausalLM",
    "Qwen3_5ForConditionalGeneration",
    "Qwen3_5ForCausalLM",
    "Qwen3_5MoeForConditionalGeneration",
    "Qwen3_5MoeForCausalLM",
}

# Archs whose shared expert's output is scaled by a learned gate, sigmoid(hidden · w) with w of [hidden, 1]
# (transformers Qwen2MoeSparseMoeBlock and Qwen3NextSparseMoeBlock, which Qwen3.5's MoE layers follow:
# shared_expert_gate).
_SHARED_EXPERT_GATE_ARCHITECTURES = {
    "Qwen2MoeForCausalLM",
    "Qwen3_5MoeForConditionalGeneration",
    "Qwen3_5MoeForCausalLM",
}

# Archs whose HF ``intermediate_size`` is the width of one expert, not of a dense FFN.
_EXPERT_WIDTH_IN_INTERMEDIATE = {"MixtralForCausalLM", "GptOssForCausalLM", "MiniMaxM2ForCausalLM"}


@dataclass(frozen=True, slots=True)
class ModelArch:
    """Normalised architecture of one checkpoint; counts are per model, not per GPU."""

    name: str
    family: str  # "dense" | "moe" | "mla_moe"
    num_layers: int
    hidden: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate: int  # dense FFN width; 0 when no layer has a dense FFN
    vocab: int
    tie_embeddings: bool
    num_experts: int = 0
    topk: int = 0
    moe_intermediate: int = 0
    num_shared_experts: int = 0
    shared_intermediate: int = 0
    num_dense_layers: int = 0
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    mtp_layers: int = 0
    sliding_window: int = 0
    num_sliding_layers: int = 0
    native_weight_dtype: str = "bf16"
    max_context: int = 0  # max_position_embeddings
    # Hybrid models (Qwen3.5): layers whose layer_type is "linear_attention" run gated delta-net (GDN)
    # linear attention with a fixed-size recurrent state per request instead of a growing KV cache.
    num_linear_layers: int = 0
    linear_k_heads: int = 0
    linear_v_heads: int = 0
    linear_k_dim: int = 0
    linear_v_dim: int = 0
    linear_conv_kernel: int = 0
    linear_state_dtype_bytes: float = 4.0  # recurrent state dtype (mamba_ssm_dtype, float32)
    attn_output_gate: bool = False  # full attention's q_proj also emits a sigmoid output gate
    qk_norm: bool = False  # full attention RMS-normalises q and k before RoPE (two more passes per layer)
    # ... over all heads at once (config qk_norm_type "per_layer", MiniMax-M2), not per head: under TP every rank
    # holds some heads, so the ranks all-reduce their partial sums of squares before normalising
    qk_norm_across_heads: bool = False
    shared_expert_gate: bool = False  # the shared expert's output is scaled by sigmoid of a [hidden, 1] projection
    # Weight groups (HIGH_PRECISION_GROUPS) the checkpoint keeps in bf16 in every layer, from its
    # quantization_config ignore / exclude_modules / modules_to_not_convert list; empty for bf16 checkpoints.
    high_precision: frozenset[str] = frozenset()

    @property
    def is_moe(self) -> bool:
        """True when the model routes tokens to experts."""
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        """True for multi-head latent attention (DeepSeek-V3 style)."""
        return self.kv_lora_rank > 0

    @property
    def num_moe_layers(self) -> int:
        """Decoder layers whose FFN is a mixture of experts."""
        return self.num_layers - self.num_dense_layers if self.is_moe else 0

    @property
    def num_full_attn_layers(self) -> int:
        """Layers with softmax attention and a KV cache (all but the linear-attention ones)."""
        return self.num_layers - self.num_linear_layers

    @property
    def linear_conv_dim(self) -> int:
        """Channels of a GDN layer's short causal convolution (q, k and v)."""
        return 2 * self.linear_k_heads * self.linear_k_dim + self.linear_v_heads * self.linear_v_dim

    @property
    def embed_params(self) -> int:
        """Input embedding table (vocab x hidden); lm_head is the same size unless tied."""
        return self.vocab * self.hidden

    def attn_params_per_layer(self) -> int:
        """Attention projection parameters of one layer (MLA's latent norms included; biases not)."""
        h, n = self.hidden, self.num_heads
        if self.is_mla:
            qk = self.qk_nope_head_dim + self.qk_rope_head_dim
            q = h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * n * qk if self.q_lora_rank else h * n * qk
            kv_a = h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
            kv_b = self.kv_lora_rank * n * (self.qk_nope_head_dim + self.v_head_dim)
            return q + kv_a + kv_b + n * self.v_head_dim * h
        d = self.head_dim
        gate = 2 if self.attn_output_gate else 1
        return gate * h * n * d + 2 * h * self.num_kv_heads * d + n * d * h

    def attn_out_params_per_layer(self) -> int:
        """The attention output projection (o_proj) of one layer; the rest of attn_params_per_layer is q/k/v."""
        return self.num_heads * (self.v_head_dim if self.is_mla else self.head_dim) * self.hidden

    def linear_attn_params_per_layer(self) -> int:
        """GDN layer parameters: in_proj_qkvz, in_proj_ba, conv1d, A/dt, gated norm, out_proj."""
        h, vh, vd = self.hidden, self.linear_v_heads, self.linear_v_dim
        qkvz = h * (self.linear_conv_dim + vh * vd)
        return qkvz + h * 2 * vh + self.linear_conv_dim * self.linear_conv_kernel + 2 * vh + vd + vh * vd * h

    def attn_params_all_layers(self) -> int:
        """Attention (full and linear) parameters of every decoder layer."""
        return (
            self.num_full_attn_layers * self.attn_params_per_layer()
            + self.num_linear_layers * self.linear_attn_params_per_layer()
        )

    def linear_state_bytes_per_request(self, conv_dtype_bytes: float = 2) -> float:
        """Fixed GDN state one request holds over the whole model: conv window + recurrent state."""
        conv = self.linear_conv_dim * max(self.linear_conv_kernel - 1, 0) * conv_dtype_bytes
        rec = self.linear_v_heads * self.linear_k_dim * self.linear_v_dim * self.linear_state_dtype_bytes
        return self.num_linear_layers * (conv + rec)

    def _layer_params(self, moe: bool, experts: int) -> int:
        ffn = 3 * self.hidden * self.intermediate  # every FFN here is gated: gate, up, down
        if moe:  # router + routed experts + shared experts
            shared = self.num_shared_experts * self.shared_intermediate
            ffn = self.hidden * self.num_experts + 3 * self.hidden * (experts * self.moe_intermediate + shared)
        return 2 * self.hidden + self.attn_params_per_layer() + ffn

    def _params(self, experts: int, include_mtp: bool) -> int:
        dense = self.num_layers - self.num_moe_layers
        total = dense * self._layer_params(False, 0) + self.num_moe_layers * self._layer_params(True, experts)
        total += self.num_linear_layers * (self.linear_attn_params_per_layer() - self.attn_params_per_layer())
        total += self.embed_params * (1 if self.tie_embeddings else 2) + self.hidden
        if include_mtp and self.mtp_layers:
            # An MTP module is one decoder layer plus eh_proj (2h -> h) and two norms; it shares
            # the main model's embedding and lm_head when served, so those are not counted again.
            one = self._layer_params(self.is_moe, experts) + 2 * self.hidden * self.hidden + 3 * self.hidden
            total += self.mtp_layers * one
        return total

    def params_total(self, include_mtp: bool = False) -> int:
        """All weights (embeddings and lm_head included); MTP modules only with include_mtp."""
        return self._params(self.num_experts, include_mtp)

    def params_active(self, include_mtp: bool = False) -> int:
        """Weights one token touches: top-k routed + shared experts, embeddings and lm_head."""
        return self._params(self.topk, include_mtp)

    def kv_elems_per_layer(self) -> int:
        """KV-cache elements per token per layer (MLA caches one latent, not per-head K/V)."""
        return self.kv_lora_rank + self.qk_rope_head_dim if self.is_mla else 2 * self.num_kv_heads * self.head_dim

    def kv_bytes_per_token(self, kv_dtype_bytes: float = 2) -> float:
        """KV-cache bytes per token for the whole model, window layers counted in full (no linear layers)."""
        return self.num_full_attn_layers * self.kv_elems_per_layer() * kv_dtype_bytes

    def kv_bytes_per_token_at(self, context_len: int, kv_dtype_bytes: float = 2) -> float:
        """Mean KV bytes per token of a context_len-long sequence, window layers capped at the window."""
        if context_len <= 0:
            raise ValueError(f"context_len must be positive, got {context_len}")
        if not self.sliding_window or context_len <= self.sliding_window:
            return self.kv_bytes_per_token(kv_dtype_bytes)
        layers = self.num_full_attn_layers - self.num_sliding_layers * (1 - self.sliding_window / context_len)
        return layers * self.kv_elems_per_layer() * kv_dtype_bytes


def _models_dir(base_dir: Path | None) -> Path:
    base = data_dir() / "models" if base_dir is None else Path(base_dir)
    return base / "models" if (base / "models").is_dir() else base


@lru_cache(maxsize=None)
def _read_json(path: str) -> Any:
    """A registry JSON file, read once per process (see _load_json)."""
    return _load_json(path)


def _load_json(path: str) -> Any:
    """A JSON file of at most MAX_CONFIG_BYTES; UnsupportedModelError naming it when it cannot be read."""
    try:
        return json.loads(read_text(path, MAX_CONFIG_BYTES, "model JSON file"))
    except BadInputFileError as e:
        raise UnsupportedModelError(str(e)) from None
    except (ValueError, RecursionError) as e:  # bad JSON, or nested past Python's recursion limit
        raise UnsupportedModelError(f"{path}: not valid JSON ({str(e)[:200]}).") from None


def _registry_entry(f: Path) -> dict[str, Any]:
    """One registry file ({"hf_id", "aliases", "config"}), its shape checked; UnsupportedModelError naming it."""
    entry = _read_json(str(f))
    if not isinstance(entry, dict) or not isinstance(entry.get("hf_id"), str) or not entry["hf_id"].strip():
        raise UnsupportedModelError(
            f'{f}: a model file holds {{"hf_id": "org/name", "aliases": [...], '
            '"config": {...}}; it has no hf_id string. Reinstall aicsolve or fix the file.'
        )
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise UnsupportedModelError(f"{f}: 'aliases' must be a list of strings. Reinstall aicsolve or fix the file.")
    if not isinstance(entry.get("config"), dict):
        raise UnsupportedModelError(
            f"{f}: 'config' must be the model's HF config.json mapping. Reinstall aicsolve or fix the file."
        )
    return entry


@lru_cache(maxsize=8)
def _scan(models_dir: str) -> tuple[dict[str, tuple[str, str, str]], tuple[str, ...]]:
    """(lower-cased hf_id and aliases -> (file, canonical id, name as spelled), problems of files skipped).

    A damaged file is skipped, not fatal: it must not take every other model down with it.
    """
    index: dict[str, tuple[str, str, str]] = {}
    problems = []
    for f in sorted(Path(models_dir).glob("*.json")):
        try:
            entry = _registry_entry(f)
        except UnsupportedModelError as e:
            problems.append(str(e))
            continue
        for key in [entry["hf_id"], *entry.get("aliases", [])]:
            index[key.lower()] = (str(f), entry["hf_id"], key)
    return index, tuple(problems)


def _index(models_dir: str) -> dict[str, tuple[str, str, str]]:
    """Map lower-cased hf_id and aliases to (file, canonical id, name as spelled)."""
    return _scan(models_dir)[0]


def registry_problems(base_dir: Path | None = None) -> list[str]:
    """Why each unreadable registry file was skipped (empty when every file reads)."""
    return list(_scan(str(_models_dir(base_dir)))[1])


def list_models(base_dir: Path | None = None) -> list[tuple[str, list[str]]]:
    """Known models as (canonical HF id, aliases), sorted by id; unreadable files are skipped
    (registry_problems says why)."""
    index = _index(str(_models_dir(base_dir)))
    ids = sorted({hf_id for _, hf_id, _ in index.values()}, key=str.lower)
    return [(i, list(_read_json(next(f for f, h, _ in index.values() if h == i)).get("aliases", []))) for i in ids]


def _flatten(cfg: dict[str, Any]) -> dict[str, Any]:
    """Lift a multimodal wrapper's text_config; the wrapper's architectures and quantization win."""
    text = cfg.get("text_config")
    if not isinstance(text, dict):
        return cfg
    merged = {**cfg, **text}
    merged.update({k: cfg[k] for k in ("architectures", "quantization_config") if cfg.get(k)})
    if merged.get("architectures", [None])[0] not in SUPPORTED_ARCHITECTURES and text.get("architectures"):
        merged["architectures"] = text["architectures"]
    return merged


def _req(cfg: dict[str, Any], key: str, name: str) -> int:
    if cfg.get(key) is None:
        raise UnsupportedModelError(f"{name}: config.json lacks '{key}'")
    return int(cfg[key])


def _from_config(name: str, raw: Any, source: str | None = None) -> ModelArch:
    """Build a ModelArch from a (possibly wrapped) HF config dict.

    source: the file it came from, named in errors (default: name). Raises UnsupportedModelError for an
    architecture not described here and for any field of the wrong type, sign or range.
    """
    source = source or name
    if not isinstance(raw, dict):
        raise UnsupportedModelError(
            f"{source}: a config.json is a JSON object of fields (architectures, "
            f"hidden_size, ...); got {type(raw).__name__} {shown_value(raw)}"
        )
    cfg = dict(_flatten(raw))
    check_config(cfg, source)
    try:
        return _arch(name, cfg)
    except UnsupportedModelError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError, OverflowError) as e:
        raise UnsupportedModelError(
            f"{source}: cannot read this config.json ({type(e).__name__}: {str(e)[:200]})"
        ) from None


def _arch(name: str, cfg: dict[str, Any]) -> ModelArch:
    arch = (cfg.get("architectures") or ["<none>"])[0]
    if arch not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedModelError(
            f"{name}: architecture {arch!r} is not supported; supported: {', '.join(sorted(SUPPORTED_ARCHITECTURES))}"
        )
    family = SUPPORTED_ARCHITECTURES[arch]

    def g(k: str, d: Any = 0) -> Any:  # a config value, d when absent or null
        return cfg.get(k) if cfg.get(k) is not None else d

    layers, hidden, heads = (_req(cfg, k, name) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads"))
    experts = int(g("num_experts") or g("n_routed_experts") or g("num_local_experts"))
    inter, moe_inter = int(g("intermediate_size")), int(g("moe_intermediate_size"))
    if arch in _EXPERT_WIDTH_IN_INTERMEDIATE:
        inter, moe_inter = 0, inter
    if family == "mla_moe":
        # DeepSeek: layer i is MoE when i >= first_k_dense_replace and i % moe_layer_freq == 0.
        k, freq = int(g("first_k_dense_replace")), int(g("moe_layer_freq", 1)) or 1
        dense_at = [i for i in range(layers) if i < k or i % freq]
    elif experts:
        # Qwen-MoE: mlp_only_layers and decoder_sparse_step pick dense layers.
        mlp_only, step = set(g("mlp_only_layers", [])), int(g("decoder_sparse_step", 1)) or 1
        dense_at = [i for i in range(layers) if i in mlp_only or (i + 1) % step]
    else:
        dense_at = list(range(layers))
    dense = len(dense_at)
    shared_n, shared_inter = int(g("n_shared_experts")), int(g("moe_intermediate_size"))
    if g("shared_expert_intermediate_size") or g("shared_intermediate_size"):
        shared_n, shared_inter = 1, int(g("shared_expert_intermediate_size") or g("shared_intermediate_size"))
    window = int(g("sliding_window")) if g("use_sliding_window", True) is not False else 0
    types = cfg.get("layer_types") or []
    n_sliding = sum(t == "sliding_attention" for t in types) if types else (layers if window else 0)
    mtp = int(g("num_nextn_predict_layers"))  # MiniMax names its MTP modules differently:
    mtp = int(g("num_mtp_modules")) * int(g("mtp_transformer_layers", 1)) if g("use_mtp", False) else mtp
    mla = family == "mla_moe"
    qk_switch = g("use_qk_norm", False) is True
    n_linear = sum(t == "linear_attention" for t in types)
    linear = (
        dict(
            num_linear_layers=n_linear,
            linear_k_heads=int(g("linear_num_key_heads")),
            linear_v_heads=int(g("linear_num_value_heads")),
            linear_k_dim=int(g("linear_key_head_dim")),
            linear_v_dim=int(g("linear_value_head_dim")),
            linear_conv_kernel=int(g("linear_conv_kernel_dim")),
            linear_state_dtype_bytes={"float32": 4.0, "bfloat16": 2.0, "float16": 2.0}.get(
                str(g("mamba_ssm_dtype", "float32")), 4.0
            ),
        )
        if n_linear
        else {}
    )
    mtp = mtp or int(g("mtp_num_hidden_layers"))  # Qwen3.5's name for its MTP layers
    lora = {
        k: int(g(k)) if mla else 0
        for k in ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
    }
    head_dim = lora["qk_nope_head_dim"] + lora["qk_rope_head_dim"] if mla else int(g("head_dim") or hidden // heads)
    return ModelArch(
        name=name,
        family=family,
        num_layers=layers,
        hidden=hidden,
        num_heads=heads,
        num_kv_heads=int(g("num_key_value_heads", heads)),
        head_dim=head_dim,
        intermediate=inter if dense else 0,
        vocab=_req(cfg, "vocab_size", name),
        tie_embeddings=bool(g("tie_word_embeddings", False)),
        num_experts=experts,
        topk=int(g("num_experts_per_tok") or g("experts_per_token")) if experts else 0,
        moe_intermediate=moe_inter if experts else 0,
        num_dense_layers=dense if experts else 0,
        num_shared_experts=shared_n if experts else 0,
        shared_intermediate=shared_inter if shared_n else 0,
        **lora,
        mtp_layers=mtp,
        sliding_window=window if n_sliding else 0,
        num_sliding_layers=n_sliding if window else 0,
        native_weight_dtype=native_dtype(cfg),
        max_context=int(g("max_position_embeddings")),
        attn_output_gate=bool(g("attn_output_gate", False)),
        qk_norm=arch in _QK_NORM_ARCHITECTURES or (arch in _QK_NORM_SWITCH_ARCHITECTURES and qk_switch),
        qk_norm_across_heads=arch in _QK_NORM_SWITCH_ARCHITECTURES and qk_switch and g("qk_norm_type") == "per_layer",
        shared_expert_gate=bool(experts and shared_n) and arch in _SHARED_EXPERT_GATE_ARCHITECTURES,
        **linear,
        high_precision=high_precision(cfg, group_layers(layers, dense_at, types, experts, shared_n), mla),
    )


def _load_path(path: Path) -> ModelArch:
    if path.is_dir():
        path = path / "config.json"
    raw = _load_json(str(path))  # a local file may change between two loads: not cached
    if isinstance(raw, dict) and "config" in raw and "hf_id" in raw:  # one of our registry files
        return _from_config(str(raw["hf_id"]), raw["config"], str(path))
    if isinstance(raw, dict) and "quantization_config" not in raw:
        # ModelOpt checkpoints keep their quantization in a sibling hf_quant_config.json.
        side = path.with_name(path.name.replace("config.json", "hf_quant_config.json"))
        if side != path and is_regular(side):
            q = _load_json(str(side))
            q = q.get("quantization", {}) if isinstance(q, dict) else None
            if not isinstance(q, dict) or not isinstance(q.get("quant_algo", ""), str):
                raise UnsupportedModelError(
                    f"{side}: field 'quantization' must be a mapping with a quant_algo "
                    'string, e.g. {"quantization": {"quant_algo": "NVFP4"}}'
                )
            raw = {**raw, "quantization_config": {"quant_method": "modelopt", "quant_algo": q.get("quant_algo", "")}}
    # Without _name_or_path a local checkpoint is named by its folder, not by its config.json.
    name = raw.get("_name_or_path") if isinstance(raw, dict) else None
    own = str(name)[:200] if name else str(path.parent if path.name == "config.json" else path)
    return _from_config(own, raw, str(path))


def base_model(hf_id: str, base_dir: Path | None = None) -> str:
    """The registry model a registry checkpoint quantizes (its ``base_model`` when that is in the registry),
    else the checkpoint's own canonical id; a name outside the registry comes back unchanged."""
    index = _index(str(_models_dir(base_dir)))
    hit = index.get(hf_id.strip().lower())
    if not hit:
        return hf_id
    base = index.get(str(_read_json(hit[0]).get("base_model", "")).lower())
    return base[1] if base else hit[1]


def load_model(spec: str, base_dir: Path | None = None, paths: bool = True) -> ModelArch:
    """Resolve an HF id, an alias (case-insensitive) or (when paths) a path to a config.json into a ModelArch.

    base_dir: the folder of model JSONs (or a data root holding models/); default data_dir()/models.
    paths=False: registry names only; no file is looked at, so the answer says nothing about the disk.
    """
    models_dir = str(_models_dir(base_dir))
    index = _index(models_dir)
    key = str(spec).strip().lower()
    hit = index.get(key)
    if hit:
        return _cached_registry_model(hit[0], hit[1])
    if paths and len(str(spec)) <= 4096:
        path = Path(spec).expanduser()
        if is_regular(path) or is_regular(path / "config.json"):
            return _load_path(path)
    shown = str(spec) if len(str(spec)) <= 80 else str(spec)[:77] + "..."
    close = difflib.get_close_matches(key[:200], list(index), n=3, cutoff=0.4)
    hint = f" Did you mean: {', '.join(index[c][2] for c in close)}?" if close else ""
    skipped = _scan(models_dir)[1]
    broken = (
        (
            f" ({len(skipped)} registry file(s) could not be read and were skipped: {skipped[0]}"
            f"{' …' if len(skipped) > 1 else ''} `aicsolve data verify` checks them.)"
        )
        if skipped
        else ""
    )
    raise UnknownModelError(
        f"Unknown model {shown!r}.{hint}{broken} Known models are listed by list_models()"
        + ("; a path to a local HF config.json works too." if paths else ".")
    )


@lru_cache(maxsize=None)
def _cached_registry_model(file: str, hf_id: str) -> ModelArch:
    return _from_config(hf_id, _registry_entry(Path(file))["config"], file)
