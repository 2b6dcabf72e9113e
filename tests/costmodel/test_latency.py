"""Per-row TTFT/TPOT distributions (costmodel.latency) on real data: exact at zero variance, monotone, deterministic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import costmodel.build as build
from costmodel.arch import load_model
from costmodel.config import Quant, SearchSpace, SurfaceRequest
from costmodel.engines import engine_rules
from costmodel.workload import Arrival, Workload, WorkloadError, empirical, fixed, lognormal, read_trace

Q = Quant(gemm="fp8_block", kv_cache="fp8", attention="bfloat16", moe="fp8_block")
BASE = SurfaceRequest(
    load_model("QWEN3_32B"),
    "h200_sxm",
    "trtllm",
    engine_rules("trtllm").version,
    4000,
    500,
    Q,
    SearchSpace(tp=(1, 2, 4), batch_sizes=(1, 4, 16, 48, 96)),
)


def _with(**kw) -> SurfaceRequest:
    w = Workload(
        kw.pop("isl", fixed(4000)), kw.pop("osl", fixed(500)), kw.pop("hits", 0.0), kw.pop("arrival", Arrival())
    )
    return dataclasses.replace(BASE, workload=w, isl=round(w.isl.mean), osl=round(w.osl.mean))


@pytest.fixture(scope="module")
def plain():
    return build.build_surfaces(BASE)


def test_zero_variance_closed_loop_is_the_serving_model_bit_for_bit(plain, monkeypatch):
    """One ISL, one OSL, no prefix hits, closed loop: means equal the serving model's figures exactly."""
    # the explicit fixed workload is the same request as none
    explicit = build.build_surfaces(dataclasses.replace(BASE, workload=Workload(fixed(4000), fixed(500))))
    assert np.array_equal(explicit.agg.ttft_pct, plain.agg.ttft_pct)
    monkeypatch.setattr(build, "agg_spread", lambda step, lay, f, *a, **k: f)
    monkeypatch.setattr(build, "prefill_spread", lambda step, lay, f, *a, **k: f)
    monkeypatch.setattr(build, "decode_spread", lambda f: f)
    ref = build.build_surfaces(BASE)
    for role in ("agg", "prefill", "decode"):
        for k in ("ttft_ms", "tpot_ms", "req_per_s"):
            assert np.array_equal(getattr(getattr(plain, role), k), getattr(getattr(ref, role), k), equal_nan=True)


def _ordered(t) -> bool:
    return bool(np.all(np.diff(t, axis=1) >= -1e-9))


def test_percentiles_are_ordered(plain):
    s = build.build_surfaces(_with(isl=lognormal(4000, 8000), arrival=Arrival("gamma", None, 2.0)))
    for t in (
        plain.agg.ttft_pct,
        plain.agg.tpot_pct,
        plain.prefill.ttft_pct,
        s.agg.ttft_pct,
        s.agg.tpot_pct,
        s.prefill.ttft_pct,
    ):
        assert _ordered(t)
    assert np.all(plain.decode.tpot_pct == plain.decode.tpot_ms[:, None])  # no prefill mixed into decode steps


def test_burstier_arrivals_never_help():
    """Every TTFT percentile and the TPOT's p90 and above rise with the arrivals' CV (the TPOT's mean is fixed, so
    its median of a more skewed spread may fall)."""
    prev = None
    for cv in (0.5, 1.0, 2.0, 4.0):
        s = build.build_surfaces(_with(isl=lognormal(4000, 8000), arrival=Arrival("gamma", None, cv)))
        cur = [s.agg.ttft_pct, s.agg.tpot_pct[:, 1:], s.prefill.ttft_pct, s.agg.ttft_ms[:, None]]
        if prev is not None:
            for a, b in zip(prev, cur):
                assert np.all(b >= a - 1e-9)
        prev = cur


def test_heavier_isl_tail_never_helps():
    """Same mean ISL, larger p90: the mean TTFT and its high percentiles do not fall."""
    light, heavy = (build.build_surfaces(_with(isl=lognormal(4000, p90))) for p90 in (5000, 9000))
    for role in ("agg", "prefill"):
        a, b = getattr(light, role), getattr(heavy, role)
        assert np.all(b.ttft_ms >= a.ttft_ms - 1e-9)
        assert np.all(b.ttft_pct[:, 2:] >= a.ttft_pct[:, 2:] - 1e-9)  # p95, p99


def test_prefix_hits_shorten_ttft_and_lift_prefill_capacity(plain):
    hit = build.build_surfaces(_with(hits=0.5))
    assert np.all(hit.agg.ttft_pct <= plain.agg.ttft_pct + 1e-9) and np.all(hit.agg.ttft_ms < plain.agg.ttft_ms)
    assert np.all(hit.agg.tpot_ms <= plain.agg.tpot_ms) and np.all(hit.prefill.req_per_s > plain.prefill.req_per_s)


def test_deterministic():
    req = _with(isl=lognormal(4000, 8000), osl=lognormal(500, 900), hits=0.2, arrival=Arrival("gamma", 3.0, 1.7))
    a, b = build.build_surfaces(req), build.build_surfaces(req)
    for role in ("agg", "prefill", "decode"):
        for k in ("ttft_ms", "tpot_ms", "req_per_s", "ttft_pct", "tpot_pct"):
            x, y = getattr(getattr(a, role), k), getattr(getattr(b, role), k)
            assert (x is None and y is None) or np.array_equal(x, y, equal_nan=True)


def test_lognormal_keeps_mean_and_p90():
    d = lognormal(4000, 8000, 16)
    assert d.mean == pytest.approx(4000, rel=1e-12) and sum(d.weights) == pytest.approx(1.0)
    below = sum(w for p, w in zip(d.points, d.weights) if p <= 8000)  # the p90 sits on a bin edge
    assert below == pytest.approx(0.9, abs=1e-9)
    with pytest.raises(WorkloadError):
        lognormal(4000, 3000)  # a p90 below the mean is no lognormal


def test_empirical_and_trace(tmp_path):
    rng = np.random.default_rng(0)
    v = rng.integers(100, 9000, 5000)
    d = empirical(v, 16)
    assert len(d.points) == 16 and d.mean == pytest.approx(v.mean(), rel=1e-12)
    gaps = rng.exponential(0.25, 400)
    t = np.cumsum(gaps)
    path = tmp_path / "t.csv"
    path.write_text("arrival_s,isl,osl\n" + "".join(f"{a:.6f},{i},{o}\n" for a, i, o in zip(t, v, v[::-1] // 10 + 1)))
    tr = read_trace(path)
    assert tr.requests == 400 and tr.arrival.rate_per_s == pytest.approx(399 / (t[-1] - t[0]))
    assert tr.arrival.cv == pytest.approx(np.diff(t).std() / np.diff(t).mean(), rel=1e-4)
    path.write_text("arrival_s,isl\n0,1\n")
    with pytest.raises(WorkloadError, match="missing column"):
        read_trace(path)
