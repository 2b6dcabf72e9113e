"""Hybrid models (Qwen3.5): gated delta-net (GDN) linear attention on 3 of 4 layers, full attention on the rest."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from costmodel.arch import load_model
from costmodel.config import Quant
from costmodel.memory import kv_capacity_tokens
from costmodel.opdb import open_db
from costmodel.quant import resolve_quant
from costmodel.step import Layout, StepModel

Q397 = "Qwen/Qwen3.5-397B-A17B"
FP8 = Quant(gemm="fp8_block", kv_cache="fp8", attention="bfloat16", moe="fp8_block")


def _lay(tp=4, dp=1, ep=4) -> Layout:
    return Layout(*(np.array(x) for x in (tp, 1, dp, tp * dp // ep, ep)))


def _step(system="h200_sxm", model=Q397, arch=None) -> StepModel:
    db = open_db(system, "sglang", "0.5.14")
    a = arch or load_model(model)
    q, _ = resolve_quant(db, a, FP8)
    s = StepModel(db, a, q)
    s.check()
    return s


def test_layer_pattern_and_sizes_from_hf_config():
    a = load_model(Q397)
    assert (a.num_layers, a.num_linear_layers, a.num_full_attn_layers) == (60, 45, 15)
    assert (a.linear_k_heads, a.linear_v_heads, a.linear_k_dim, a.linear_v_dim) == (16, 64, 128, 128)
    assert a.is_moe and (a.num_experts, a.topk, a.shared_intermediate) == (512, 10, 1024)
    assert a.params_total() / 1e9 == pytest.approx(396.3, abs=1)
    assert a.params_active() / 1e9 == pytest.approx(17.3, abs=0.3)
    # KV only on the 15 full-attention layers: 2 KV heads × 256 × (K, V)
    assert a.kv_bytes_per_token(2) == 15 * 2 * 2 * 256 * 2
    # per request: 45 × (fp32 recurrent state 64×128×128 + bf16 conv window 3 × (2·16·128 + 64·128))
    assert a.linear_state_bytes_per_request() == 45 * (64 * 128 * 128 * 4 + 3 * (4096 + 8192) * 2)
    for m, n_lin, billions in (
        ("Qwen/Qwen3.5-27B", 48, 26.9),
        ("Qwen/Qwen3.5-35B-A3B", 30, 34.7),
        ("Qwen/Qwen3.5-122B-A10B", 36, 122.1),
    ):
        b = load_model(m)
        assert b.num_linear_layers == n_lin and b.params_total() / 1e9 == pytest.approx(billions, abs=0.3)


def test_gdn_decode_time_ignores_context_while_full_attention_grows():
    s = _step()
    lay = _lay()
    gdn = [float(s._gdn(lay, 64, 0, 1)) for _ in (1024, 32768)]  # GDN has no KV length at all
    assert gdn[0] == gdn[1] > 0
    short, long_ = (float(s.iteration_ms(lay, 64, ctx, 0, 1)) for ctx in (1024, 32768))
    assert long_ > short * 1.05  # the 15 full-attention layers read a longer KV cache
    # an all-full-attention twin (same size, every layer softmax) grows ~4× more with context
    twin = _step(arch=replace(load_model(Q397), num_linear_layers=0))
    t_short, t_long = (float(twin.iteration_ms(lay, 64, ctx, 0, 1)) for ctx in (1024, 32768))
    assert (t_long - t_short) > 3 * (long_ - short)


def test_gdn_prefill_grows_with_tokens_and_decode_with_batch():
    s = _step("b200_sxm")
    lay = _lay()
    pf = s._gdn(lay, 0, 1, np.array([1024, 4096, 16384]))
    assert np.all(np.diff(pf) > 0)
    dec = s._gdn(lay, np.array([1, 64, 512]), 0, 1)
    assert np.all(np.diff(dec) > 0)
    # one more request in decode costs far less than a 1k-token prefill
    assert float(s._gdn(lay, 2, 0, 1) - s._gdn(lay, 1, 0, 1)) < float(pf[0])


def test_fixed_state_admits_more_long_requests_than_all_full_attention():
    a = load_model(Q397)
    twin = replace(a, num_linear_layers=0)  # same weights' size, every layer with a KV cache
    db = open_db("h200_sxm", "sglang", "0.5.14")
    args = (np.array(8), np.array(1), np.array(1), np.array(1), np.array(8), 8192)
    ctx = 8192 + 1024
    cap_h, _ = kv_capacity_tokens(db.system, a, FP8, *args, ctx)
    cap_t, _ = kv_capacity_tokens(db.system, twin, FP8, *args, ctx)
    assert float(cap_h) / ctx > 1.5 * float(cap_t) / ctx
    # the state is per request, not per token: at twice the context the requests that fit drop by less
    # than half (the all-full-attention twin: exactly half)
    cap_2, _ = kv_capacity_tokens(db.system, a, FP8, *args, 2 * ctx)
    assert float(cap_2) / (2 * ctx) > 0.53 * float(cap_h) / ctx


@pytest.mark.parametrize("system", ["h200_sxm", "b200_sxm"])
@pytest.mark.parametrize("model", [Q397, "Qwen/Qwen3.5-122B-A10B", "Qwen/Qwen3.5-35B-A3B", "Qwen/Qwen3.5-27B"])
def test_qwen35_prices_on_sglang(system, model):
    s = _step(system, model)
    tp, one = np.array([[1], [2], [4], [8]]), np.ones((4, 1), int)
    # MoE: experts split by EP over the TP GPUs; dense: the layout's moe fields are unused
    lay = Layout(tp, one, one, one, tp) if s.a.is_moe else Layout(tp, one, one, tp, one)
    nd = np.array([[1, 16, 128]])
    dec = s.iteration_ms(lay, nd, 2048, 0, 1)
    pf = s.iteration_ms(lay, 0, 0, 1, 4096)
    assert np.all(np.isfinite(dec)) and np.all(dec > 0) and np.all(np.isfinite(pf))
    assert np.all(np.diff(dec, axis=1) > 0)  # more requests, longer step
    assert np.all(pf > dec[:, :1])  # a 4k-token prefill outlasts a 1-request decode step


def test_disagg_handoff_moves_the_linear_state_too():
    """A hybrid's hand-off carries its fixed GDN state besides the prompt's full-attention KV; for
    Qwen3.5-397B at ISL 1000 the state is most of the bytes."""
    from costmodel.serving import handoff_ms
    from costmodel.system import DTYPE_BYTES

    a = load_model("Qwen/Qwen3.5-397B-A17B")
    db = open_db("b200_sxm", "sglang", "0.5.14")
    q, _ = resolve_quant(db, a, Quant(gemm="fp8_block", kv_cache="fp8", attention="bfloat16", moe="fp8_block"))
    step = StepModel(db, a, q, 0, 0.0)
    bw = db.system.inter_node_bw_bytes_per_s
    kv_ms = a.kv_bytes_per_token(DTYPE_BYTES[q.kv_cache]) * 1000 / bw * 1e3
    moved = float(handoff_ms(step, 1000, 1)["transfer_ms"]) - db.system.p2p_latency_s * 1e3
    assert moved == pytest.approx(kv_ms + a.linear_state_bytes_per_request() / bw * 1e3)
    assert moved > 5 * kv_ms
