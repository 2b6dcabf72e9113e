"""Checkpoints that keep some modules in bf16 (quantization_config ignore / exclude_modules /
modules_to_not_convert) are sized and priced that way (issue 12, item 3)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from costmodel.arch import load_model
from costmodel.config import Quant
from costmodel.memory import weight_bytes_per_gpu
from costmodel.opdb import open_db
from costmodel.quant import resolve_quant
from costmodel.step import Layout, StepModel
from costmodel.system import DTYPE_BYTES

NVFP4 = Quant(gemm="nvfp4", kv_cache="fp8", attention="bfloat16", moe="nvfp4")
FP8 = Quant(gemm="fp8_block", kv_cache="fp8", attention="bfloat16", moe="fp8_block")


@pytest.mark.parametrize(
    "model, kept",
    [
        # q_a/q_b/kv_a/kv_b listed per layer, o_proj not: the output projection stays NVFP4
        ("nvidia/DeepSeek-V3.1-NVFP4", {"attn_qkv", "lm_head"}),
        ("nvidia/Kimi-K2.5-NVFP4", {"attn_qkv", "attn_out", "lm_head"}),  # language_model.model.layers.N.self_attn*
        ("nvidia/MiniMax-M2.5-NVFP4", {"attn_qkv", "attn_out", "router", "lm_head"}),
        # full-attention layers list self_attn*, linear layers linear_attn*, MoE layers shared_expert*
        ("nvidia/Qwen3.5-397B-A17B-NVFP4", {"attn_qkv", "attn_out", "linear_attn", "shared_experts", "lm_head"}),
        ("openai/gpt-oss-120b", {"attn_qkv", "attn_out", "router", "lm_head"}),  # model.layers.*.self_attn
        # compressed-tensors regexes: re:.*self_attn.*, re:.*shared_experts.*, re:.*mlp\.(gate|up|gate_up|down)_proj.*
        ("moonshotai/Kimi-K2.5", {"attn_qkv", "attn_out", "shared_experts", "dense_mlp", "lm_head"}),
        ("Qwen/Qwen3-235B-A22B-FP8", {"router", "lm_head"}),
        ("MiniMaxAI/MiniMax-M2.5", {"router", "lm_head"}),  # bare "gate": the module's last name, not gate_proj
        ("nvidia/DeepSeek-R1-NVFP4", set()),
        ("Qwen/Qwen3-32B", set()),
    ],
)
def test_ignore_lists_become_high_precision_groups(model, kept):
    assert load_model(model).high_precision == frozenset(kept)


def _config(tmp_path, ignore):
    cfg = {
        "architectures": ["Qwen3ForCausalLM"],
        "num_hidden_layers": 4,
        "hidden_size": 1024,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "intermediate_size": 3072,
        "vocab_size": 1000,
        "quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4", "ignore": ignore},
    }
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    return load_model(str(p)).high_precision


def test_a_group_counts_as_kept_only_when_every_layer_keeps_it(tmp_path):
    every = [f"model.layers.{i}.self_attn.{m}_proj" for i in range(4) for m in "qkvo"]
    assert _config(tmp_path, every) == {"attn_qkv", "attn_out"}
    assert _config(tmp_path, every[:-4]) == set()  # layer 3 quantized: not a bf16 group
    assert _config(tmp_path, [e for e in every if not e.endswith("o_proj")]) == {"attn_qkv"}
    assert _config(tmp_path, ["model.layers.*.mlp"]) == {"dense_mlp"}  # a module prefix covers its children


def test_deepseek_v31_nvfp4_weights_hold_the_bf16_attention_projections():
    a = load_model("nvidia/DeepSeek-V3.1-NVFP4")
    quantized = replace(a, high_precision=frozenset())
    qkv = a.attn_params_per_layer() - a.attn_out_params_per_layer()
    assert qkv == 7168 * 1536 + 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 + 512 * 128 * 256
    for tp, dp in ((8, 1), (1, 8)):
        lay = (tp, 1, dp, 1, 8)
        extra = weight_bytes_per_gpu(a, NVFP4, *lay) - weight_bytes_per_gpu(quantized, NVFP4, *lay)
        assert extra == pytest.approx(a.num_layers * qkv * (2.0 - DTYPE_BYTES["nvfp4"]) / tp, rel=1e-12)
    # 61 layers x 69.6 M q/kv parameters in bf16 instead of NVFP4: +5.69 GiB on an attention-DP GPU
    assert (
        weight_bytes_per_gpu(a, NVFP4, 1, 1, 8, 1, 8) - weight_bytes_per_gpu(quantized, NVFP4, 1, 1, 8, 1, 8)
    ) / 2**30 == pytest.approx(5.69, abs=0.01)


def test_kept_attention_projections_are_priced_as_bf16_gemms():
    db = open_db("h200_sxm", "trtllm", "1.3.0rc20")
    a = load_model("QWEN3_32B")
    kept = replace(a, high_precision=frozenset({"attn_qkv", "attn_out"}))
    lay = Layout(*(np.array(float(x)) for x in (2, 1, 1, 1, 1)))
    nd = np.array([1.0, 16.0, 128.0])
    diff = StepModel(db, kept, FP8).iteration_ms(lay, nd, 2000, 0, 0) - StepModel(db, a, FP8).iteration_ms(
        lay, nd, 2000, 0, 0
    )
    heads, kvh = a.num_heads / 2, a.num_kv_heads / 2
    want = 0.0
    for n, k in (((heads + 2 * kvh) * a.head_dim, a.hidden), (a.hidden, heads * a.head_dim)):
        bf16 = db.latency_ms("gemm", nd, n, k, dtype="bfloat16")
        fp8 = db.latency_ms("gemm", nd, n, k, dtype="fp8_block")
        want = want + a.num_layers * (bf16 - fp8)
    np.testing.assert_allclose(diff, want, rtol=1e-9)


def test_deepseek_v31_nvfp4_prices_its_mixed_attention_apart():
    db = open_db("b200_sxm", "trtllm", "1.3.0rc20")
    a = load_model("nvidia/DeepSeek-V3.1-NVFP4")
    q, notes = resolve_quant(db, a, NVFP4)
    assert q.gemm == "nvfp4" and any("keeps the attention q/k/v projections in bf16" in n for n in notes)
    mixed, plain = StepModel(db, a, q), StepModel(db, replace(a, high_precision=frozenset()), q)
    # the measured MLA module runs every projection in one dtype: the mixed checkpoint is priced per GEMM
    assert plain.mla_module and not mixed.mla_module
    assert (mixed.gemm_dtype("attn_qkv"), mixed.gemm_dtype("attn_out"), mixed.gemm_dtype("dense_mlp")) == (
        "bfloat16",
        "nvfp4",
        "nvfp4",
    )
    kimi = StepModel(db, load_model("nvidia/Kimi-K2.5-NVFP4"), q)  # all attention bf16: the bf16 module rows
    assert kimi.mla_module and kimi.gemm_dtype("attn_qkv") == kimi.gemm_dtype("attn_out") == "bfloat16"


def test_an_expert_dtype_the_mxfp4_checkpoint_does_not_ship_is_priced_as_mxfp4_with_a_note():
    """gpt-oss-120b ships MXFP4 experts: a spec asking fp8 experts is priced with the engine's MXFP4 kernel, and
    says so; asking mxfp4 needs no note."""
    a, db = load_model("openai/gpt-oss-120b"), open_db("h200_sxm", "trtllm", "1.3.0rc20")
    fp8 = Quant(gemm="bfloat16", kv_cache="fp8", attention="bfloat16", moe="fp8")
    q, notes = resolve_quant(db, a, fp8)
    assert q.moe == "w4a16_mxfp4"
    assert notes == (
        "moe fp8: openai/gpt-oss-120b ships MXFP4 experts, priced as w4a16_mxfp4 (the engine's MXFP4 kernel)",
    )
    assert resolve_quant(db, a, replace(fp8, moe="mxfp4"))[1] == ()
