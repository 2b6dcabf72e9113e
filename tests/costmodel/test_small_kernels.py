"""Small elementwise kernels the op tables do not time themselves, each priced as the engine's measured one-pass
activation kernel (the ``quantize`` op table at one token) plus the pass's bytes: per-head q/k RMSNorm (Qwen3,
Qwen3.5, MiniMax-M2; two per attention layer) and the gating and gated RMSNorm around a GDN layer's measured
kernels (Qwen3.5; two per linear-attention layer), and the scaling of a gated shared expert (Qwen3.5, one per MoE
layer, with its [hidden, 1] gate projection)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from costmodel.arch import load_model
from costmodel.config import Quant
from costmodel.engines import engine_rules
from costmodel.opdb import open_db
from costmodel.paths import data_dir
from costmodel.quant import resolve_quant
from costmodel.step import Layout, StepModel

FP8 = Quant(gemm="fp8_block", kv_cache="fp8", attention="bfloat16", moe="fp8_block")


def _lay(tp: int) -> Layout:
    return Layout(*(np.array(x) for x in (tp, 1, 1, tp, 1)))


def _step(model: str, backend: str, system: str = "h200_sxm", arch=None) -> StepModel:
    db = open_db(system, backend, engine_rules(backend).version)
    a = arch or load_model(model)
    q, _ = resolve_quant(db, a, FP8)
    return StepModel(db, a, q)


@pytest.mark.parametrize(
    "model, has",
    [
        ("Qwen/Qwen3-32B", True),  # Qwen3Attention: q_norm, k_norm in every layer, no switch
        ("Qwen/Qwen3-235B-A22B-FP8", True),
        ("Qwen/Qwen3.5-397B-A17B", True),
        ("MiniMaxAI/MiniMax-M2.5", True),  # config use_qk_norm: true
        ("meta-llama/Llama-3.1-70B", False),
        ("openai/gpt-oss-120b", False),
        ("deepseek-ai/DeepSeek-R1", False),  # MLA's latent norms are inside the measured MLA ops
    ],
)
def test_which_models_normalise_q_and_k(model, has):
    assert load_model(model).qk_norm is has


def test_a_config_switch_turns_it_on_for_any_architecture(tmp_path):
    import json

    cfg = json.loads((data_dir() / "models" / "llama-3.1-8b.json").read_text())["config"]
    (tmp_path / "config.json").write_text(json.dumps(cfg | {"use_qk_norm": True}))
    assert load_model(str(tmp_path)).qk_norm
    (tmp_path / "config.json").write_text(json.dumps(cfg | {"use_qk_norm": "yes"}))  # only a JSON true counts
    assert not load_model(str(tmp_path)).qk_norm


def _extra(backend: str, tp: int, tokens: float, model: str = "Qwen/Qwen3-32B") -> float:
    """What the norms add to one decode step of ``tokens`` requests at a 2k context (ms)."""
    with_norm = _step(model, backend)
    without = _step(model, backend, arch=replace(with_norm.a, qk_norm=False))
    args = (_lay(tp), tokens, 2048.0, 0.0, 0.0)
    return float(with_norm.iteration_ms(*args) - without.iteration_ms(*args))


@pytest.mark.parametrize("backend", ["trtllm", "vllm", "sglang"])
@pytest.mark.parametrize("tp, tokens", [(1, 8.0), (8, 64.0), (4, 8192.0)])
def test_each_attention_layer_pays_two_passes(backend, tp, tokens):
    """The step of a QK-norm model exceeds the same model without the norms by exactly, per layer, the q pass and
    the k pass: the table's one-token kernel at that width plus the pass's bytes (read and write, bf16)."""
    s = _step("Qwen/Qwen3-32B", backend)
    a, sysrec = s.a, s.db.system
    expected = 0.0
    for heads in (a.num_heads / tp, max(a.num_kv_heads / tp, 1)):
        w = heads * a.head_dim
        fixed = float(s.db.latency_ms("quantize", 1.0, w, dtype="fp8"))
        expected += fixed + 4.0 * tokens * w / (sysrec.mem_bw_bytes_per_s * sysrec.mem_bw_efficiency) * 1e3
    assert _extra(backend, tp, tokens) == pytest.approx(expected * a.num_layers, rel=1e-9)


def test_the_fixed_cost_is_the_engines_own_kernel():
    """The engines' measured one-pass kernels differ (TRT-LLM's and vLLM's run in ~1.3-2.5 us at one token, SGLang's
    in ~7-8 us on H200): the same model's norms cost each engine its own kernel."""
    per_layer = {b: _extra(b, 8, 8.0) / 64 for b in ("trtllm", "vllm", "sglang")}  # Qwen3-32B: 64 layers
    assert per_layer["trtllm"] < per_layer["vllm"] < per_layer["sglang"]
    assert 0.002 < per_layer["trtllm"] < 0.006 and 0.01 < per_layer["sglang"] < 0.02  # ms, both passes


def test_only_models_with_the_norms_pay_them():
    assert _extra("trtllm", 2, 64.0, "meta-llama/Llama-3.1-70B") == 0.0
    assert _extra("sglang", 4, 64.0, "Qwen/Qwen3.5-397B-A17B") > 0.0  # its 15 full-attention layers


def test_kernel_counts_per_layer(monkeypatch):
    """With every small pass priced at 1 ms, a Qwen3.5 decode step grows by 2 ms per full-attention layer (q and k
    norms), 2 ms per GDN layer (the gating kernel and the gated RMSNorm around the measured GDN kernels) and 1 ms
    per MoE layer (the sigmoid scaling of its gated shared expert)."""
    s = _step("Qwen/Qwen3.5-397B-A17B", "sglang")
    a, args = s.a, (_lay(8), 8.0, 2048.0, 0.0, 0.0)
    monkeypatch.setattr(StepModel, "_pass", lambda self, t, width: np.where(np.asarray(t) > 0, 1.0, 0.0))
    one = float(s.iteration_ms(*args))
    monkeypatch.setattr(StepModel, "_pass", lambda self, t, width: np.zeros_like(np.asarray(t, float)))
    none = float(s.iteration_ms(*args))
    assert (a.num_full_attn_layers, a.num_linear_layers, a.num_moe_layers) == (15, 45, 60)
    assert one - none == pytest.approx(2 * 15 + 2 * 45 + 60)


@pytest.mark.parametrize("tp", [1, 2, 4])
def test_norms_over_all_heads_all_reduce_their_sums_under_tp(tp):
    """MiniMax-M2 normalises q and k over all heads at once (qk_norm_type per_layer): beyond the two passes, the TP
    ranks all-reduce each token's two fp32 partial sums once per layer; a lone GPU does not."""
    s = _step("MiniMaxAI/MiniMax-M2.5", "vllm", "b200_sxm")
    a = s.a
    assert a.qk_norm and a.qk_norm_across_heads
    per_head = _step("MiniMaxAI/MiniMax-M2.5", "vllm", "b200_sxm", arch=replace(a, qk_norm_across_heads=False))
    lay = Layout(*(np.array(x) for x in (tp, 1, 1, 1, tp)))
    args = (lay, 16.0, 2048.0, 0.0, 0.0)
    extra = float(s.iteration_ms(*args) - per_head.iteration_ms(*args))
    if tp == 1:
        assert extra == 0.0
    else:
        msg = 16.0 * 4.0  # 4 bf16-wide values per token
        ar = float(s.db.latency_ms("custom_allreduce", tp, msg, dtype="bfloat16", variant=s.ar_variant))
        assert extra == pytest.approx(ar * a.num_layers, rel=1e-9)
    assert not load_model("Qwen/Qwen3-32B").qk_norm_across_heads  # per-head norms need no collective


def test_a_gated_shared_expert_pays_its_gate_projection_and_scaling():
    """Qwen3.5's MoE layers scale the shared expert's output by sigmoid(hidden · w), w of [hidden, 1]: one more
    bf16 GEMM and one pass over the hidden state per MoE layer. DeepSeek's shared experts have no gate."""
    s = _step("Qwen/Qwen3.5-397B-A17B", "sglang", "b200_sxm")
    a = s.a
    assert a.shared_expert_gate and not load_model("deepseek-ai/DeepSeek-R1").shared_expert_gate
    ungated = _step("Qwen/Qwen3.5-397B-A17B", "sglang", "b200_sxm", arch=replace(a, shared_expert_gate=False))
    lay = Layout(*(np.array(x) for x in (8, 1, 1, 8, 1)))
    args = (lay, 16.0, 2048.0, 0.0, 0.0)
    extra = float(s.iteration_ms(*args) - ungated.iteration_ms(*args))
    gate = float(s.db.latency_ms("gemm", 16.0, 1.0, a.hidden, dtype="bfloat16"))
    fixed = float(s.db.latency_ms("quantize", 1.0, a.hidden, dtype="fp8"))
    sysrec = s.db.system
    scale = fixed + 4.0 * 16.0 * a.hidden / (sysrec.mem_bw_bytes_per_s * sysrec.mem_bw_efficiency) * 1e3
    assert extra == pytest.approx((gate + scale) * a.num_moe_layers, rel=1e-9)
