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


def test_the_config_switch_counts_only_where_the_attention_reads_it(tmp_path):
    """MiniMax-M2's attention reads use_qk_norm (and qk_norm_type); Llama's ignores the key."""
    import json

    models = data_dir() / "models"
    llama = json.loads((models / "llama-3.1-8b.json").read_text())["config"]
    (tmp_path / "config.json").write_text(json.dumps(llama | {"use_qk_norm": True}))
    assert not load_model(str(tmp_path)).qk_norm
    minimax = json.loads((models / "minimax-m2.5.json").read_text())["config"]
    (tmp_path / "config.json").write_text(json.dumps(minimax | {"use_qk_norm": False}))
    assert not load_model(str(tmp_path)).qk_norm
    (tmp_path / "config.json").write_text(json.dumps(minimax | {"qk_norm_type": "per_head"}))
    a = load_model(str(tmp_path))
    assert a.qk_norm and not a.qk_norm_across_heads


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
    # ms for both passes: the quantize table's one-token rows on H200 (aiconfigurator-core 0.12.0) are ~1.2-1.4 us
    # for TRT-LLM and ~7.5-8.3 us for SGLang at these widths
    assert 0.002 < per_layer["trtllm"] < 0.006 and 0.01 < per_layer["sglang"] < 0.02


def test_only_models_with_the_norms_pay_them():
    assert _extra("trtllm", 2, 64.0, "meta-llama/Llama-3.1-70B") == 0.0
    assert _extra("sglang", 4, 64.0, "Qwen/Qwen3.5-397B-A17B") > 0.0  # its 15 full-attention layers


@pytest.mark.parametrize(
    "backend, decode_gating",
    [("sglang", 0), ("vllm", 0), ("trtllm", 1)],  # SGLang's and vLLM's decode kernel computes the gating itself
)
def test_kernel_counts_per_layer(monkeypatch, backend, decode_gating):
    """With every small pass priced at 1 ms, a Qwen3.5 step grows per full-attention layer by 2 ms (q and k norms),
    per GDN layer by the gated RMSNorm and, in prefill always and in decode where the engine's decode kernel does
    not compute it, the gating kernel, and per MoE layer by 1 ms (the sigmoid scaling of its gated shared
    expert)."""
    s = _step("Qwen/Qwen3.5-397B-A17B", backend, "b200_sxm")
    a = s.a
    assert (a.num_full_attn_layers, a.num_linear_layers, a.num_moe_layers) == (15, 45, 60)

    def grows(*args) -> float:
        monkeypatch.setattr(StepModel, "_pass", lambda self, t, width, bytes_per_value=4.0: np.where(t > 0, 1.0, 0.0))
        one = float(s.iteration_ms(*args))
        monkeypatch.setattr(StepModel, "_pass", lambda self, t, width, bytes_per_value=4.0: np.zeros_like(t))
        return one - float(s.iteration_ms(*args))

    assert grows(_lay(8), 8.0, 2048.0, 0.0, 0.0) == pytest.approx(2 * 15 + (1 + decode_gating) * 45 + 60)
    assert grows(_lay(8), 0.0, 0.0, 1.0, 1024.0) == pytest.approx(2 * 15 + 2 * 45 + 60)  # a prefill step


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


def test_an_eager_step_launches_the_small_kernels_too():
    """Beyond the captured batches a decode step launches every kernel from the host: the norms, the all-reduce of
    norms over all heads where the layer is split, the GDN side kernels and the shared-expert gate count."""
    q = _step("Qwen/Qwen3-32B", "sglang")
    plain = _step("Qwen/Qwen3-32B", "sglang", arch=replace(q.a, qk_norm=False))
    assert float(q.eager_launches(_lay(2)) - plain.eager_launches(_lay(2))) == 2 * 64
    m = _step("MiniMaxAI/MiniMax-M2.5", "sglang")
    m_per_head = _step("MiniMaxAI/MiniMax-M2.5", "sglang", arch=replace(m.a, qk_norm_across_heads=False))
    split, alone = (Layout(*(np.array(x) for x in (tp, 1, 1, 1, tp))) for tp in (4, 1))
    assert float(m.eager_launches(split) - m_per_head.eager_launches(split)) == m.a.num_layers
    assert float(m.eager_launches(alone) - m_per_head.eager_launches(alone)) == 0
    h = _step("Qwen/Qwen3.5-397B-A17B", "sglang")
    bare = _step("Qwen/Qwen3.5-397B-A17B", "sglang", arch=replace(h.a, qk_norm=False, shared_expert_gate=False))
    # 2 per full-attention layer, the gated norm per GDN layer (SGLang's decode kernel gates), 2 per MoE layer
    assert float(h.eager_launches(_lay(8)) - bare.eager_launches(_lay(8))) == 2 * 15 + 2 * 60
