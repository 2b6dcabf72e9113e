"""Serving-model invariants on real data: monotone in batch, bounded by hardware, memory-limited."""

from __future__ import annotations

import numpy as np
import pytest

from costmodel.arch import load_model
from costmodel.build import build_surfaces
from costmodel.config import Quant, SearchSpace, SurfaceRequest
from costmodel.engines import engine_rules
from costmodel.memory import kv_capacity_tokens, weight_bytes_per_gpu
from costmodel.opdb import open_db
from costmodel.serving import agg_figures, decode_figures
from costmodel.step import Layout, StepModel
from costmodel.surface import disagg_metrics

Q = Quant(gemm="fp8_block", kv_cache="fp8", attention="bfloat16", moe="fp8_block")


def _lay(tp=1, dp=1, ep=1):
    return Layout(np.array(tp), np.array(1), np.array(dp), np.array(tp * dp // ep), np.array(ep))


@pytest.fixture(scope="module")
def dense():
    return StepModel(open_db("h200_sxm", "trtllm", "1.3.0rc20"), load_model("QWEN3_32B"), Q)


def test_decode_tpot_grows_with_batch(dense):
    b = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256])
    tpot = decode_figures(dense, _lay(2), b, 2000, 500)["tpot_ms"]
    assert np.all(np.diff(tpot) > 0)


def test_agg_tpot_and_ttft_grow_with_concurrency(dense):
    c = np.array([1, 4, 16, 64, 256])
    f = agg_figures(dense, _lay(4), c, 4000, 500, 8192, 1e9)
    assert np.all(np.diff(f["tpot_ms"]) > 0) and np.all(np.diff(f["ttft_ms"]) > 0)
    # the other clients' prefills slow decode: agg TPOT is above a pure decode step at the same batch, except for
    # a lone client, whose own prefill never interrupts its decode
    pure = decode_figures(dense, _lay(4), c, 4000, 500)["tpot_ms"]
    assert np.all(f["tpot_ms"][1:] > pure[1:]) and f["tpot_ms"][0] == pytest.approx(pure[0])


def test_throughput_per_gpu_below_roofline(dense):
    """Decode tokens/s/GPU can never beat the GPU's peak FLOP rate at 2 FLOPs per parameter per token."""
    a, sysm = dense.a, dense.db.system
    b = np.array([64, 256, 1024])
    f = decode_figures(dense, _lay(1), b, 1000, 1000)
    tokens_per_s = f["req_per_s"] * 1000
    assert np.all(tokens_per_s < sysm.flops("fp8") / (2.0 * a.params_active()))


def test_memory_limits():
    a = load_model("LLAMA3_1_405B")
    s = open_db("h100_sxm", "trtllm", "1.3.0rc20").system
    q = Quant(gemm="bfloat16", kv_cache="bfloat16", attention="bfloat16", moe="bfloat16")
    w1 = weight_bytes_per_gpu(a, q, 1, 1, 1, 1, 1)
    assert w1 > s.mem_bytes  # 405B in bf16 cannot sit on one 80 GB GPU
    cap1, _ = kv_capacity_tokens(s, a, q, np.array(1), 1, 1, 1, 1, 8192, 2000)
    cap8, _ = kv_capacity_tokens(s, a, q, np.array(8), 2, 1, 1, 1, 8192, 2000)
    assert cap1 < 0 < cap8


def test_surfaces_respect_memory_and_disagg_takes_the_slower_side():
    req = SurfaceRequest(
        load_model("LLAMA3_1_70B"),
        "h100_sxm",
        "trtllm",
        "1.3.0rc20",
        2000,
        500,
        Quant(gemm="fp8", kv_cache="fp8", attention="bfloat16", moe="fp8"),
        SearchSpace(tp=(1, 2, 4, 8), max_batch_size=256),
    )
    s = build_surfaces(req)
    assert set(np.unique(s.agg.tp)) <= {1, 2, 4, 8}
    assert np.all(s.agg.mem_used_frac < 1.0)
    i, j = 0, len(s.decode) - 1
    m = disagg_metrics(s.prefill, i, s.decode, j, 3, 2, 500)
    assert m["req_per_s"] == pytest.approx(min(3 * s.prefill.req_per_s[i], 2 * s.decode.req_per_s[j]))
    assert m["gpus_used"] == 3 * s.prefill.gpus[i] + 2 * s.decode.gpus[j]


def test_mtp_speeds_up_deepseek_decode():
    db = open_db("h200_sxm", "trtllm", "1.3.0rc20")
    a = load_model("DEEPSEEK_R1")
    plain = StepModel(db, a, Q)
    mtp = StepModel(db, a, Q, mtp_draft=3, mtp_accept=0.7)
    lay = _lay(tp=8, ep=8)
    assert decode_figures(mtp, lay, 64, 1000, 1000)["tpot_ms"] < decode_figures(plain, lay, 64, 1000, 1000)["tpot_ms"]


def test_same_length_cohorts_share_one_prefill(dense, monkeypatch):
    """Same-length prompts admitted together finish together and come back together: under a fixed-length benchmark
    each clump holds what one token budget fits and every prompt in it sees the clump's time. A length spread, or an
    engine that mixes a split prompt into later decode iterations (scheduler.mixes_prefill_chunks, vLLM), breaks
    the cohort: prompts then prefill as they arrive."""
    import dataclasses

    import costmodel.serving as serving

    c = np.array([4])
    clumped = agg_figures(dense, _lay(2), c, 1024, 1024, 8192, 1e9, fixed_lengths=True)["ttft_ms"]
    spread = agg_figures(dense, _lay(2), c, 1024, 1024, 8192, 1e9, fixed_lengths=False)["ttft_ms"]
    overhead = serving.engine_rules("trtllm").request_overhead_ms
    assert clumped - overhead > 1.5 * (spread - overhead)
    mixing = dataclasses.replace(serving.engine_rules("trtllm"), mixes_prefill_chunks=True)
    monkeypatch.setattr(serving, "engine_rules", lambda backend: mixing)
    assert agg_figures(dense, _lay(2), c, 1024, 1024, 8192, 1e9, fixed_lengths=True)["ttft_ms"] == pytest.approx(spread)
    # a prompt longer than the budget cannot clump: every reading agrees
    long_mixing = agg_figures(dense, _lay(2), c, 9000, 500, 8192, 1e9, fixed_lengths=True)["ttft_ms"]
    monkeypatch.undo()
    assert agg_figures(dense, _lay(2), c, 9000, 500, 8192, 1e9, fixed_lengths=True)["ttft_ms"] == pytest.approx(
        long_mixing
    )


@pytest.mark.parametrize("backend", ["trtllm", "vllm", "sglang"])
def test_burst_wait_grows_with_concurrency_for_every_backend(backend):
    step = StepModel(open_db("h200_sxm", backend, engine_rules(backend).version), load_model("QWEN3_32B"), Q)
    c = np.array([1, 8, 32, 128])
    ttft = agg_figures(step, _lay(4), c, 8000, 1000, 8192, 1e9)["ttft_ms"]
    assert np.all(np.diff(ttft) > 0)


def test_trtllm_quantized_gemm_drops_the_eager_quantize_kernel():
    db = open_db("h200_sxm", "trtllm", "1.3.0rc20")
    step = StepModel(db, load_model("LLAMA3_1_70B"), Quant(gemm="fp8", kv_cache="fp8", attention="bfloat16", moe="fp8"))
    m = np.array([1, 64, 4096])
    table = db.latency_ms("gemm", m, 8192, 8192, dtype="fp8")
    priced = step._gemm(m, 8192, 8192)
    assert np.all(priced < table) and np.all(priced >= 0.5 * table)
    assert step._gemm(m, 8192, 8192, "bfloat16") == pytest.approx(
        db.latency_ms("gemm", m, 8192, 8192, dtype="bfloat16")
    )


def test_idle_attention_dp_prefill_runs_a_lone_prompt():
    """An idle DP prefill worker prefills one prompt on one rank: faster than a full step of every rank,
    and its TTFT rises with load to the full-batch figure at saturation."""
    from costmodel.serving import prefill_figures, prefill_ttft

    step = StepModel(open_db("h200_sxm", "trtllm", "1.3.0rc20"), load_model("DEEPSEEK_R1"), Q)
    f = prefill_figures(step, _lay(tp=1, dp=8, ep=8), 1, 8192, 0.0)
    assert f["lone_ms"] < 0.8 * f["latency_ms"]
    assert f["ttft_ms"] == pytest.approx(f["lone_ms"])
    u = np.array([0.0, 0.3, 0.6, 0.9, 1.0])
    ttft = prefill_ttft(f["latency_ms"], u, f["lone_ms"])
    assert np.all(np.diff(ttft) > 0)
    assert ttft[-1] == pytest.approx(prefill_ttft(f["latency_ms"], 1.0))
    # without attention DP and one prompt per batch the two steps are the same
    g = prefill_figures(step, _lay(tp=8, ep=8), 1, 8192, 0.0)
    assert g["lone_ms"] == pytest.approx(g["latency_ms"])


def test_scheduler_recv_interval_adds_the_inbox_wait_only():
    """Polling for requests every N iterations delays a request's start by (N − 1)/2 decode iterations."""
    step = StepModel(open_db("h200_sxm", "sglang", "0.5.14"), load_model("QWEN3_32B"), Q)
    c = np.array([1, 8, 64])
    base = agg_figures(step, _lay(4), c, 1024, 1024, 8192, 1e9)
    polled = agg_figures(step, _lay(4), c, 1024, 1024, 8192, 1e9, recv_interval=30)
    wait = polled["ttft_ms"] - base["ttft_ms"]
    assert np.all(wait > 0)
    # the wait is ~14.5 raw decode iterations; TPOT barely moves (a later start shifts, not slows, decode)
    assert np.all(wait < 14.5 * 2.0 * base["tpot_ms"]) and np.all(wait > 14.5 * 0.5 * base["tpot_ms"])
    assert polled["tpot_ms"] == pytest.approx(base["tpot_ms"], rel=0.05)


def test_disagg_handoff_is_kv_bytes_over_the_link_used_plus_the_request_path_and_handshake():
    """Qwen3-32B, ISL 4000, fp8 KV: 64 layers × 8 KV heads × 128 × 2 (K, V) bytes = 131 kB a token, 524 MB a
    prompt; over one H200's 50 GB/s RDMA link 10.5 ms, over NVLink (450 GB/s) 1.2 ms; TP4 sends 4 shards at once.
    Besides the bytes a request pays its engine's request path, as an agg request does, and the handshake."""
    from costmodel.serving import HANDOFF_HANDSHAKE_MS, handoff_ms

    step = StepModel(open_db("h200_sxm", "trtllm", "1.3.0rc20"), load_model("QWEN3_32B"), Q)
    rdma, nvl = handoff_ms(step, 4000, 1), handoff_ms(step, 4000, 1, within_node=True)
    assert float(rdma["kv_bytes"]) == pytest.approx(64 * 8 * 128 * 2 * 4000)
    assert float(rdma["transfer_ms"]) == pytest.approx(524.288e6 / 50e9 * 1e3 + 0.01)
    assert float(nvl["transfer_ms"]) == pytest.approx(524.288e6 / 450e9 * 1e3 + 0.01)
    assert float(handoff_ms(step, 4000, 4)["transfer_ms"]) == pytest.approx(524.288e6 / 200e9 * 1e3 + 0.01)
    assert float(rdma["total_ms"]) == pytest.approx(float(rdma["transfer_ms"]) + 33.4 + HANDOFF_HANDSHAKE_MS)
    # TRT-LLM's MLA requests pay its longer path (DeepSeek rows, both modes); SGLang's path is its own for any model
    mla = StepModel(open_db("h200_sxm", "trtllm", "1.3.0rc20"), load_model("DEEPSEEK_R1"), Q)
    assert float(handoff_ms(mla, 4000, 8)["connector_ms"]) == pytest.approx(33.4 + 126.1 + HANDOFF_HANDSHAKE_MS)
    sglang = StepModel(open_db("h200_sxm", "sglang", "0.5.14"), load_model("DEEPSEEK_R1"), Q)
    assert float(handoff_ms(sglang, 4000, 8)["connector_ms"]) == pytest.approx(193.7 + HANDOFF_HANDSHAKE_MS)


def test_an_agg_request_pays_the_same_request_path_as_a_disagg_one(monkeypatch):
    """A lone client's TTFT is its own prefill plus the engine's request path; the MLA model on TRT-LLM pays the
    longer path (host.mla_request_overhead_ms) in agg as the disagg hand-off charges it."""
    import dataclasses

    import costmodel.serving as serving
    from costmodel.serving import request_path_ms

    a, q, db = _deepseek_nvfp4_b200()
    step = StepModel(db, a, q)
    lay = Layout(np.array(8.0), np.array(1.0), np.array(1.0), np.array(1.0), np.array(8.0))
    lone = agg_figures(step, lay, np.array([1]), 1024, 1024, 8192, 1e9)["ttft_ms"].item()
    assert request_path_ms(step) == pytest.approx(159.5)
    plain = dataclasses.replace(serving.engine_rules("trtllm"), mla_request_overhead_ms=0.0)
    monkeypatch.setattr(serving, "engine_rules", lambda backend: plain)
    without = agg_figures(step, lay, np.array([1]), 1024, 1024, 8192, 1e9)["ttft_ms"].item()
    assert lone - without == pytest.approx(126.1)


def _deepseek_nvfp4_b200():
    """DeepSeek-R1 with NVFP4 experts on b200 TRT-LLM: (model, quantization, op tables)."""
    q = Quant(gemm="nvfp4", kv_cache="fp8", attention="bfloat16", moe="nvfp4")
    return load_model("deepseek-ai/DeepSeek-R1"), q, open_db("b200_sxm", "trtllm", "1.3.0rc20")


def test_a_recipe_moe_backend_prices_that_kernels_table():
    """TRT-LLM's TRTLLM MoE backend is priced from its own measured table (b200, TP 4: about 2x faster than the
    CUTLASS default at decode batches); a system that never measured it says so, and an unknown backend is named."""
    from costmodel.opdb import MissingDataError

    a, q, db = _deepseek_nvfp4_b200()
    lay = Layout(*(np.array(v) for v in (4, 1, 1, 4, 1)))
    default, gen = StepModel(db, a, q), StepModel(db, a, q, moe_backend="TRTLLM")
    gen.check()
    moe_default = float(default._moe(lay, np.array(8.0), lay.dp))
    moe_gen = float(gen._moe(lay, np.array(8.0), lay.dp))
    shape = dict(dtype="nvfp4", distribution="power_law_1.01", hidden=7168, inter=2048, topk=8, experts=256)
    table = {name: float(db.latency_ms(name, 4, 1, 8.0, **shape)) for name in ("moe", "moe_trtllm_gen")}
    # only the MoE call changes: the router and shared experts are priced alike
    assert moe_default - moe_gen == pytest.approx(table["moe"] - table["moe_trtllm_gen"])
    assert moe_gen < moe_default / 1.5
    h200 = StepModel(open_db("h200_sxm", "trtllm", "1.3.0rc20"), a, Q, moe_backend="TRTLLM")
    with pytest.raises(MissingDataError, match="moe_trtllm_gen"):
        h200.check()
    with pytest.raises(ValueError, match="its kernels: TRTLLM"):
        StepModel(db, a, q, moe_backend="CUTEDSL")


def test_an_ep_beyond_the_selected_kernels_limit_keeps_the_default_kernel():
    """TRT-LLM runs TRTLLM MoE at EP <= 8 (DeepSeek-R1 deployment guide); an EP-16 layout is priced, and exported,
    with the engine's default kernel."""
    from costmodel.feasibility import priced_moe_kernel

    a, q, db = _deepseek_nvfp4_b200()
    lays = Layout(*(np.array(v) for v in ((1, 1), (1, 1), (8, 16), (1, 1), (8, 16))))
    default, gen = StepModel(db, a, q), StepModel(db, a, q, moe_backend="TRTLLM")
    d, g = default._moe(lays, np.array(64.0), lays.dp), gen._moe(lays, np.array(64.0), lays.dp)
    assert g[0] < 0.9 * d[0] and g[1] == d[1]
    args = ("b200_sxm", "trtllm", "1.3.0rc20", a, q, None)
    assert (priced_moe_kernel(*args, 8), priced_moe_kernel(*args, 16)) == ("TRTLLM", None)
