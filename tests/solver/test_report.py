"""The terminal report: summary, best per mode and ratio, ASCII Pareto plot, top-N tables, infeasibility."""

from __future__ import annotations

import re

import pytest

result_mod = pytest.importorskip("solver.result")  # written concurrently; skip until it exists
from solver.problem import Sla  # noqa: E402
from solver.report import MARKS, SLA_MARK, infeasible_text, pareto_plot, render  # noqa: E402

Deployment, RoleConfig, SolveResult = result_mod.Deployment, result_mod.RoleConfig, result_mod.SolveResult

SUMMARY = {
    "source": "x.yaml",
    "model": "Qwen/Qwen3-32B",
    "system": "h200_sxm",
    "decode_system": None,
    "backend": "trtllm",
    "backend_version": "1.3.0rc20",
    "total_gpus": 32,
    "isl": 4000,
    "osl": 500,
    "modes": ["agg", "disagg"],
    "notes": [],
    "sla": {"ttft_ms": 300.0, "tpot_ms": 10.0, "min_tokens_per_s_per_user": None, "max_request_latency_ms": None},
    "quantization": {"gemm": "fp8_block", "kv_cache": "fp8", "attention": "bfloat16", "moe": "bfloat16"},
}


def role(name: str, workers: int, tp: int, batch: int, dp: int = 1, ep: int = 1) -> RoleConfig:
    return RoleConfig(
        role=name,
        workers=workers,
        tp=tp,
        pp=1,
        dp=dp,
        moe_tp=tp * dp // ep,
        moe_ep=ep,
        gpus_per_worker=tp * dp,
        batch=batch,
        max_num_tokens=8192,
        row=0,
    )


def dep(mode: str, roles: list[RoleConfig], replicas: int, gpus: int, per_gpu: float, per_user: float) -> Deployment:
    return Deployment(
        mode=mode,
        roles=tuple(roles),
        replicas=replicas,
        gpus_used=gpus,
        ttft_ms=250.0,
        tpot_ms=1000 / per_user,
        tokens_per_s=per_gpu * gpus,
        tokens_per_s_per_gpu=per_gpu,
        tokens_per_s_per_user=per_user,
        concurrency=64 * replicas,
        req_per_s=per_gpu * gpus / 500,
    )


AGG = (
    dep("agg", [role("agg", 1, 2, 16)], 16, 32, 1000.0, 101.0),
    dep("agg", [role("agg", 1, 4, 32)], 8, 32, 900.0, 110.0),
    dep("agg", [role("agg", 1, 8, 64)], 4, 32, 700.0, 140.0),
)
DISAGG = (
    dep("disagg", [role("prefill", 2, 4, 1), role("decode", 3, 8, 128)], 1, 32, 1400.0, 105.0),
    dep("disagg", [role("prefill", 1, 2, 1), role("decode", 1, 8, 64)], 3, 30, 1100.0, 150.0),
)


def result(proven: bool = True, **kw) -> SolveResult:
    base = dict(
        best_agg=AGG[0],
        best_disagg=DISAGG[0],
        pareto_agg=AGG,
        pareto_disagg=DISAGG,
        top_agg=AGG,
        top_disagg=DISAGG,
        proven_optimal=proven,
        solve_seconds=1.5,
        linearization_max_rel_error=0.0,
        stats={},
    )
    return SolveResult(**{**base, **kw})


def test_report_has_summary_best_plot_and_tables():
    text = render(result(), SUMMARY)
    assert "Qwen/Qwen3-32B on 32 × h200_sxm (trtllm 1.3.0rc20)" in text
    assert "TTFT ≤ 300 ms, TPOT ≤ 10 ms" in text and "each user ≥ 100.0 tokens/s" in text
    assert "agg     1,000.0 tokens/s/GPU at 101.0 tokens/s/user" in text
    assert "disagg / agg = 1.40× tokens/s on the GPUs given → disagg wins" in text
    plot = text[text.index("Pareto front") : text.index("Top 3 agg")]
    assert MARKS["agg"] in plot and MARKS["disagg"] in plot and SLA_MARK in plot
    assert "tokens/s/user" in plot and "tokens/s/GPU" in plot
    assert "Top 3 agg" in text and "Top 2 disagg" in text
    for header in ("workers", "GPUs/", "TP", "attn", "batch/", "replicas", "TTFT", "TPOT", "concur-"):
        assert header in text
    assert "prefill" in text and "decode" in text and "32/32" in text and "30/32" in text
    assert "not proven optimal" not in text


def test_time_limit_line_and_top_n():
    text = render(result(proven=False), SUMMARY, top_n=1)
    assert "not proven optimal (time limit)" in text
    assert "Top 1 agg" in text and "Top 1 disagg" in text


def test_one_mode_missing_says_why():
    stats = {
        "infeasible": "agg: ttft: lowest reachable TTFT is 410 ms > 300 ms",
        "infeasible_by_mode": {"agg": "ttft: lowest reachable TTFT is 410 ms > 300 ms"},
    }
    text = render(result(best_agg=None, pareto_agg=(), top_agg=(), stats=stats), SUMMARY)
    assert "agg     none: the TTFT bound rules it out (Why not, below)" in text
    assert "Why not:\n  agg: ttft: lowest reachable TTFT is 410 ms > 300 ms" in text
    assert "disagg / agg" not in text


def test_nothing_feasible_explains_the_binding_bound():
    stats = {
        "infeasible": "agg: tpot: lowest reachable TPOT is 4.5 ms > 3 ms; disagg: tpot: lowest reachable TPOT "
        "is 4.3 ms > 3 ms"
    }
    empty = result(
        best_agg=None, best_disagg=None, pareto_agg=(), pareto_disagg=(), top_agg=(), top_disagg=(), stats=stats
    )
    text = render(empty, SUMMARY)
    assert "No deployment meets the SLA." in text and "lowest reachable TPOT is 4.5 ms > 3 ms" in text
    assert "Pareto" not in text and "Top" not in text
    by_mode = {**stats, "infeasible_by_mode": {"agg": "tpot: 4.5 ms > 3 ms", "disagg": "tpot: 4.3 ms > 3 ms"}}
    text = render(SolveResult(**{**empty.__dict__, "stats": by_mode}), SUMMARY)
    assert "  agg: tpot: 4.5 ms > 3 ms\n  disagg: tpot: 4.3 ms > 3 ms" in text


def test_plot_geometry_and_sla_line():
    lines = pareto_plot({"agg": [(101.0, 1000.0), (140.0, 700.0)], "disagg": [(105.0, 1400.0)]}, sla_x=100.0)
    body = [ln for ln in lines if " |" in ln]
    assert len(body) == 16
    assert max(len(ln.split(" |", 1)[1]) for ln in body) <= 60
    sla_cols = {ln.split(" |", 1)[1].find(SLA_MARK) for ln in body if SLA_MARK in ln}
    assert len(sla_cols) == 1  # one straight vertical line
    col = sla_cols.pop()
    for mark in ("o", "x"):  # every point meets the SLA, so every mark is right of the line
        assert all(ln.split(" |", 1)[1].find(mark) > col for ln in body if mark in ln.split(" |", 1)[1])
    top = body[0].split(" |", 1)[1]
    assert "x" in top or "x" in body[1]  # the highest point (disagg, 1400) sits near the top
    assert pareto_plot({"agg": [], "disagg": []}, 100.0) == []


def test_overlapping_points_use_the_both_mark():
    lines = pareto_plot({"agg": [(120.0, 900.0)], "disagg": [(120.0, 900.0)]}, sla_x=None)
    assert any("*" in ln.split(" |", 1)[1] for ln in lines if " |" in ln)


def test_sla_min_speed():
    assert Sla(tpot_ms=10.0).min_speed() == 100.0
    assert Sla(tpot_ms=10.0, min_tokens_per_s_per_user=150.0).min_speed() == 150.0
    assert Sla().min_speed() is None
    assert Sla.from_plain({"tpot_ms": 10.0, "min_tokens_per_s_per_user": None}).min_speed() == 100.0


def test_sla_bounds_text_names_every_bound_once():
    """One wording for the report, the cluster report and the bundle README: every bound, percentiles included."""
    sla = Sla(
        ttft_ms=300.0,
        tpot_ms=10.0,
        min_tokens_per_s_per_user=50.0,
        max_request_latency_ms=9000.0,
        ttft_pct=((90, 600.0),),
        tpot_pct=((99, 25.0),),
    )
    assert sla.bounds() == [
        "TTFT ≤ 300 ms",
        "p90 TTFT ≤ 600 ms",
        "TPOT ≤ 10 ms",
        "p99 TPOT ≤ 25 ms",
        "≥ 50 tokens/s/user",
        "request latency ≤ 9000 ms",
    ]
    assert Sla.from_plain(sla.plain()) == sla
    assert Sla().bounds() == []


def test_ranking_divides_by_the_gpus_given():
    """Issue 12 item 9: a 32-GPU disagg deployment on 48 GPUs given does not beat a 48-GPU agg one that serves more
    tokens/s in total: every headline figure divides by the 48 GPUs given, the per-GPU-used figure is shown beside."""
    import dataclasses

    a = dataclasses.replace(dep("agg", [role("agg", 1, 8, 128)], 6, 48, 477.9, 31.5), gpus_given=48)
    d = dataclasses.replace(
        dep("disagg", [role("prefill", 2, 8, 1), role("decode", 2, 8, 256)], 1, 32, 601.4, 37.6), gpus_given=48
    )
    assert (round(a.tokens_per_s_per_gpu_given, 1), round(d.tokens_per_s_per_gpu_given, 1)) == (477.9, 400.9)
    r = result(best_agg=a, best_disagg=d, pareto_agg=(a,), pareto_disagg=(d,), top_agg=(a,), top_disagg=(d,))
    assert r.best() is a
    text = render(r, {**SUMMARY, "total_gpus": 48})
    assert "agg     477.9 tokens/s/GPU at 31.5 tokens/s/user (48 GPUs," in text
    assert "disagg  400.9 tokens/s/GPU at 37.6 tokens/s/user (32 of 48 GPUs, 601.4 per GPU used," in text
    assert "disagg / agg = 0.84× tokens/s on the GPUs given → agg wins" in text
    top = text[text.index("Top 1 disagg") :]
    assert "400.9" in top and "601.4" not in top and "32/48" in top
    doc = r.to_dict()["best"]["disagg"]
    assert (doc["gpus_given"], round(doc["tokens_per_s_per_gpu_given"], 1), doc["tokens_per_s_per_gpu"]) == (
        48,
        400.9,
        601.4,
    )


def test_disagg_why_not_splits_ttft_into_prefill_and_hand_off():
    """The README's Qwen3-32B case with a TTFT bound disagg cannot meet: the reason prices the hand-off
    (NVLink-less RDMA transfer of the 524 MB prompt KV plus the connector) next to the prefill."""
    from costmodel.build import build_surfaces
    from solver.optimize import solve
    from solver.spec import spec_from_raw, to_problem

    raw = {
        "model": "Qwen/Qwen3-32B",
        "system": "h200_sxm",
        "backend": "trtllm",
        "total_gpus": 32,
        "workload": {"isl": 4000, "osl": 500},
        "sla": {"ttft_ms": 150, "tpot_ms": 10},
        "quantization": {"gemm": "fp8_block", "kv_cache": "fp8"},
        "modes": ["disagg"],
    }
    spec = spec_from_raw(raw)
    res = solve(to_problem(spec, build_surfaces(spec.request)))
    m = re.search(
        r"ttft: lowest reachable TTFT is ([\d.]+) ms > 150 ms \(prefill ([\d.]+) ms \+ hand-off ([\d.]+) ms: "
        r"KV transfer ([\d.]+) ms, request path and connector handshake ([\d.]+) ms\)",
        infeasible_text(res),
    )
    assert m, infeasible_text(res)
    total, pre, hand, xfer, conn = map(float, m.groups())
    assert total == pytest.approx(pre + hand, abs=0.1) and hand == pytest.approx(xfer + conn, abs=0.1)
    assert 1.0 < xfer < 11.0  # 524 MB over 1-8 GPUs' 50 GB/s links
    # the fixed part is TRT-LLM's request path (as an agg request pays it) and the handshake
    assert conn == pytest.approx(33.4 + 19.1, abs=0.1)


def test_the_serving_line_names_the_moe_kernel_priced_per_system():
    from solver.report import _moe_kernel_text

    base = {"backend": "trtllm", "system": "b200_sxm", "decode_system": None, "decode_moe_backend": None}
    assert _moe_kernel_text(base | {"moe_backend": "TRTLLM"}) == ", MoE kernel TRTLLM at EP ≤ 8 (moe_config.backend)"
    assert _moe_kernel_text(base | {"moe_backend": "default"}) == ", MoE kernel the engine default (moe_config.backend)"
    mixed = base | {"moe_backend": "TRTLLM", "decode_system": "h200_sxm", "decode_moe_backend": "default"}
    assert _moe_kernel_text(mixed) == (
        ", MoE kernel TRTLLM at EP ≤ 8 on b200_sxm, the engine default on h200_sxm (moe_config.backend)"
    )
    assert _moe_kernel_text(base | {"moe_backend": None}) == ""  # a dense model
    assert _moe_kernel_text(base | {"backend": "sglang", "moe_backend": "default"}) == ""  # selects no kernel by name
    # vLLM selects its kernels by environment switches: the line names them, not moe_config
    vllm = base | {"backend": "vllm", "system": "h200_sxm"}
    assert _moe_kernel_text(vllm | {"moe_backend": "MARLIN"}) == ", MoE kernel MARLIN (VLLM_MXFP4_USE_MARLIN=1)"
    assert _moe_kernel_text(vllm | {"moe_backend": "default"}) == ", MoE kernel the engine default"
