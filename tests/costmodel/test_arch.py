"""Model architecture registry and loader: parameter counts, KV sizes, name resolution."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from costmodel.arch import ModelArch, UnknownModelError, UnsupportedModelError, list_models, load_model
from costmodel.paths import data_dir

# Published totals. DeepSeek-V3/R1's "671B" is the main model without the MTP module.
TOTALS = [
    ("meta-llama/Llama-3.1-8B", 8.03e9),
    ("meta-llama/Llama-3.1-70B", 70.6e9),
    ("meta-llama/Llama-3.1-405B", 405.9e9),
    ("Qwen/Qwen3-32B", 32.8e9),
    ("Qwen/Qwen3-8B", 8.2e9),
    ("Qwen/Qwen3-30B-A3B", 30.5e9),
    ("Qwen/Qwen3-235B-A22B", 235e9),
    ("deepseek-ai/DeepSeek-V3", 671e9),
    ("deepseek-ai/DeepSeek-R1", 671e9),
    ("openai/gpt-oss-120b", 116.8e9),
    ("openai/gpt-oss-20b", 20.9e9),
    ("mistralai/Mixtral-8x7B-v0.1", 46.7e9),
]
# Published active counts, embeddings and lm_head included (Qwen's, Mistral's, DeepSeek's basis).
ACTIVE = [
    ("Qwen/Qwen3-235B-A22B", 22e9),
    ("Qwen/Qwen3-30B-A3B", 3.3e9),
    ("deepseek-ai/DeepSeek-V3", 37e9),
    ("mistralai/Mixtral-8x7B-v0.1", 12.9e9),
]


@pytest.mark.parametrize(("model", "expected"), TOTALS)
def test_total_params_match_published(model: str, expected: float) -> None:
    assert load_model(model).params_total() == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize(("model", "expected"), ACTIVE)
def test_active_params_match_published(model: str, expected: float) -> None:
    assert load_model(model).params_active() == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize(("model", "expected"), [("openai/gpt-oss-120b", 5.13e9), ("openai/gpt-oss-20b", 3.61e9)])
def test_gpt_oss_active_on_openai_basis(model: str, expected: float) -> None:
    # OpenAI's model card counts the unembedding but not the input embedding table as active.
    m = load_model(model)
    assert m.params_active() - m.embed_params == pytest.approx(expected, rel=0.02)


def test_kimi_k2_5_round_numbers() -> None:
    # Moonshot publishes round figures ("1T total, 32B activated"); the text model computes to
    # 1.026T / 32.9B (the vision tower is not counted), so the bound is looser here.
    m = load_model("moonshotai/Kimi-K2.5")
    assert m.params_total() == pytest.approx(1.0e12, rel=0.04)
    assert m.params_active() == pytest.approx(32e9, rel=0.04)


def test_dense_model_active_equals_total() -> None:
    m = load_model("QWEN3_32B")
    assert m.params_active() == m.params_total()


def test_deepseek_mtp_counted_only_on_request() -> None:
    m = load_model("deepseek-ai/DeepSeek-V3")
    mtp = m.params_total(include_mtp=True) - m.params_total()
    # One MoE decoder layer + eh_proj; embedding/lm_head are shared with the main model when served.
    assert mtp == pytest.approx(11.6e9, rel=0.02)
    # The checkpoint stores its own copy of embed/head too, which gives the 684.5B on the model card.
    assert m.params_total(include_mtp=True) + 2 * m.embed_params == pytest.approx(684.5e9, rel=0.005)


def test_kv_bytes_per_token_gqa_and_mla() -> None:
    assert load_model("meta-llama/Llama-3.1-70B").kv_bytes_per_token(2) == 80 * 2 * 8 * 128 * 2 == 327_680
    assert load_model("deepseek-ai/DeepSeek-V3").kv_bytes_per_token(2) == 61 * 576 * 2 == 70_272
    assert load_model("meta-llama/Llama-3.1-70B").kv_bytes_per_token(1) == 163_840


def test_kv_bytes_sliding_window_capped() -> None:
    m = load_model("openai/gpt-oss-120b")
    assert (m.sliding_window, m.num_sliding_layers, m.num_layers) == (128, 18, 36)
    per_layer = 2 * 8 * 64 * 2
    assert m.kv_bytes_per_token(2) == 36 * per_layer
    assert m.kv_bytes_per_token_at(128, 2) == 36 * per_layer  # inside the window nothing is capped
    assert m.kv_bytes_per_token_at(8192, 2) == pytest.approx((18 + 18 * 128 / 8192) * per_layer)
    dense = load_model("LLAMA3_1_70B")
    assert dense.kv_bytes_per_token_at(100_000, 2) == dense.kv_bytes_per_token(2)
    with pytest.raises(ValueError):
        m.kv_bytes_per_token_at(0, 2)


def test_architecture_fields() -> None:
    ds = load_model("DEEPSEEK_R1")
    assert (ds.family, ds.num_dense_layers, ds.num_moe_layers, ds.mtp_layers) == ("mla_moe", 3, 58, 1)
    assert (ds.q_lora_rank, ds.kv_lora_rank, ds.qk_nope_head_dim, ds.qk_rope_head_dim, ds.v_head_dim) == (
        1536,
        512,
        128,
        64,
        128,
    )
    assert (ds.num_experts, ds.topk, ds.num_shared_experts, ds.shared_intermediate) == (256, 8, 1, 2048)
    kimi = load_model("KIMI_K2_5")
    assert (kimi.family, kimi.num_experts, kimi.num_heads, kimi.num_dense_layers) == ("mla_moe", 384, 64, 1)
    assert kimi.vocab == 163_840
    mix = load_model("MIXTRAL_8X7B")
    assert (mix.family, mix.num_experts, mix.topk, mix.moe_intermediate, mix.intermediate) == ("moe", 8, 2, 14336, 0)
    q = load_model("QWEN3_235B")
    assert (q.family, q.num_experts, q.num_kv_heads, q.head_dim, q.num_dense_layers) == ("moe", 128, 4, 128, 0)
    mm = load_model("MINIMAX_M2_5")
    assert (mm.family, mm.num_experts, mm.moe_intermediate, mm.num_shared_experts) == ("moe", 256, 1536, 0)
    llama = load_model("LLAMA3_1_8B")
    assert (llama.family, llama.num_experts, llama.head_dim, llama.sliding_window) == ("dense", 0, 128, 0)


@pytest.mark.parametrize(
    ("model", "dtype"),
    [
        ("meta-llama/Llama-3.1-8B", "bf16"),
        ("deepseek-ai/DeepSeek-V3", "fp8_block"),
        ("Qwen/Qwen3-32B-FP8", "fp8_block"),
        ("nvidia/Llama-3.1-70B-Instruct-FP8", "fp8"),
        ("nvidia/Qwen3-235B-A22B-NVFP4", "nvfp4"),
        ("nvidia/DeepSeek-R1-NVFP4", "nvfp4"),
        ("openai/gpt-oss-120b", "mxfp4"),
        ("moonshotai/Kimi-K2.5", "int4"),
        ("MiniMaxAI/MiniMax-M2.5", "fp8_block"),
    ],
)
def test_native_weight_dtype(model: str, dtype: str) -> None:
    assert load_model(model).native_weight_dtype == dtype


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B"),
        ("meta-llama/Meta-Llama-3.1-8B", "meta-llama/Llama-3.1-8B"),
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B"),
        ("LLAMA3_1_8B", "meta-llama/Llama-3.1-8B"),
        ("llama3_1_8b", "meta-llama/Llama-3.1-8B"),
        ("  META-LLAMA/llama-3.1-70b-INSTRUCT ", "meta-llama/Llama-3.1-70B"),
        ("qwen/qwen3-235b-a22b", "Qwen/Qwen3-235B-A22B"),
        ("QWEN3_235B", "Qwen/Qwen3-235B-A22B"),
        ("gpt_oss_120b", "openai/gpt-oss-120b"),
        ("DeepSeek_V3", "deepseek-ai/DeepSeek-V3"),
        ("nvidia/deepseek-v3.1-nvfp4", "nvidia/DeepSeek-V3.1-NVFP4"),
    ],
)
def test_id_and_alias_resolution(spec: str, canonical: str) -> None:
    assert load_model(spec).name == canonical


def test_quantized_checkpoint_shares_architecture_with_base() -> None:
    base, fp8 = load_model("Qwen/Qwen3-32B"), load_model("Qwen/Qwen3-32B-FP8")
    assert dataclasses.replace(fp8, name=base.name, native_weight_dtype="bf16") == base


def test_registry_is_consistent() -> None:
    models = list_models()
    ids = [hf for hf, _ in models]
    required = [
        "meta-llama/Llama-3.1-8B",
        "meta-llama/Llama-3.1-70B",
        "meta-llama/Llama-3.1-405B",
        "Qwen/Qwen3-32B",
        "Qwen/Qwen3-8B",
        "Qwen/Qwen3-30B-A3B",
        "Qwen/Qwen3-235B-A22B",
        "deepseek-ai/DeepSeek-V3",
        "deepseek-ai/DeepSeek-R1",
        "openai/gpt-oss-120b",
        "openai/gpt-oss-20b",
        "mistralai/Mixtral-8x7B-v0.1",
        "moonshotai/Kimi-K2.5",
        "MiniMaxAI/MiniMax-M2.5",
    ]
    assert set(required) <= set(ids)
    keys = [k.lower() for hf, aliases in models for k in [hf, *aliases]]
    assert len(keys) == len(set(keys)), "an id or alias names two models"
    for hf in ids:
        assert isinstance(load_model(hf), ModelArch)


def test_model_files_are_trimmed() -> None:
    allowed = {
        "architectures",
        "num_hidden_layers",
        "hidden_size",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "intermediate_size",
        "vocab_size",
        "max_position_embeddings",
        "tie_word_embeddings",
        "torch_dtype",
        "dtype",
        "num_experts",
        "n_routed_experts",
        "num_local_experts",
        "num_experts_per_tok",
        "moe_intermediate_size",
        "n_shared_experts",
        "shared_expert_intermediate_size",
        "shared_intermediate_size",
        "first_k_dense_replace",
        "moe_layer_freq",
        "decoder_sparse_step",
        "mlp_only_layers",
        "q_lora_rank",
        "kv_lora_rank",
        "qk_nope_head_dim",
        "qk_rope_head_dim",
        "v_head_dim",
        "num_nextn_predict_layers",
        "use_mtp",
        "num_mtp_modules",
        "mtp_transformer_layers",
        "sliding_window",
        "use_sliding_window",
        "layer_types",
        "quantization_config",
        "attn_output_gate",
        "linear_conv_kernel_dim",
        "linear_key_head_dim",
        "linear_num_key_heads",
        "linear_num_value_heads",
        "linear_value_head_dim",
        "mamba_ssm_dtype",
        "mtp_num_hidden_layers",
        "use_qk_norm",
        "qk_norm_type",
    }
    for f in sorted((data_dir() / "models").glob("*.json")):
        entry = json.loads(f.read_text())
        assert set(entry) - {"base_model"} == {"hf_id", "aliases", "config"}, f.name
        if "base_model" in entry:  # a quantized release names the model it quantizes (model card base_model)
            assert entry["config"].get("quantization_config") and entry["base_model"] != entry["hf_id"], f.name
        assert set(entry["config"]) <= allowed, (f.name, set(entry["config"]) - allowed)


def _llama8b_raw() -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "rope_theta": 500000.0,
    }


def test_local_config_path_file_and_dir(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(_llama8b_raw()))
    by_file, by_dir = load_model(str(cfg)), load_model(str(tmp_path))
    assert by_file == by_dir
    assert by_file.params_total() == load_model("LLAMA3_1_8B").params_total()
    assert by_file.kv_bytes_per_token(2) == 131_072


def test_local_config_with_text_config_and_quant_sidecar(tmp_path: Path) -> None:
    kimi = json.loads((data_dir() / "models" / "kimi-k2.5.json").read_text())["config"]
    wrapped = {
        "architectures": ["KimiK25ForConditionalGeneration"],
        "vision_config": {},
        "text_config": {**kimi, "architectures": ["DeepseekV3ForCausalLM"]},
    }
    (tmp_path / "config.json").write_text(json.dumps(wrapped))
    m = load_model(str(tmp_path / "config.json"))
    assert (m.family, m.num_experts, m.num_heads, m.native_weight_dtype) == ("mla_moe", 384, 64, "int4")
    side = tmp_path / "fp4"
    side.mkdir()
    (side / "config.json").write_text(json.dumps(_llama8b_raw()))
    (side / "hf_quant_config.json").write_text(json.dumps({"quantization": {"quant_algo": "NVFP4"}}))
    assert load_model(str(side)).native_weight_dtype == "nvfp4"


def test_base_dir_override(tmp_path: Path) -> None:
    src = data_dir() / "models" / "qwen3-8b.json"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / src.name).write_text(src.read_text())
    assert load_model("QWEN3_8B", base_dir=tmp_path).name == "Qwen/Qwen3-8B"
    assert [hf for hf, _ in list_models(base_dir=tmp_path / "models")] == ["Qwen/Qwen3-8B"]
    with pytest.raises(UnknownModelError):
        load_model("LLAMA3_1_8B", base_dir=tmp_path)


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError) as err:
        load_model("meta-llama/Llama-3.1-8B-Instrct")
    msg = str(err.value)
    assert "meta-llama/Llama-3.1-8B-Instrct" in msg
    assert "meta-llama/Llama-3.1-8B-Instruct" in msg
    assert "config.json" in msg
    assert isinstance(err.value, ValueError)
    with pytest.raises(UnknownModelError, match="QWEN3_32B"):
        load_model("QWEN3_23B")


def test_unknown_model_without_close_match_still_helps() -> None:
    with pytest.raises(UnknownModelError, match="config.json"):
        load_model("zzzzzzzz")


def test_unsupported_architecture(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({**_llama8b_raw(), "architectures": ["FooForCausalLM"]}))
    with pytest.raises(UnsupportedModelError) as err:
        load_model(str(tmp_path / "config.json"))
    assert "FooForCausalLM" in str(err.value)
    assert "LlamaForCausalLM" in str(err.value) and "DeepseekV3ForCausalLM" in str(err.value)


def test_missing_field_is_reported(tmp_path: Path) -> None:
    raw = _llama8b_raw()
    del raw["hidden_size"]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(UnsupportedModelError, match="hidden_size"):
        load_model(str(tmp_path / "config.json"))


def test_model_arch_is_frozen_with_slots() -> None:
    m = load_model("LLAMA3_1_8B")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.hidden = 1  # type: ignore[misc]
    assert not hasattr(m, "__dict__")


def test_import_loads_nothing() -> None:
    code = (
        "import costmodel.arch as a; "
        "assert a._scan.cache_info().currsize == 0 and a._read_json.cache_info().currsize == 0"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
