"""verify() re-checks reported points; infeasible problems explain which bound binds; integer scaling."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from solver_surfaces import make_problem, synthetic, tiny

from solver.problem import Sla, Topology
from solver.optimize import solve
from solver.units import MAX_PRODUCT, MIN_RATE_UNITS, max_rel_error, rate_scale, scaled
from solver.verify import VerificationError, check, verify


def test_verify_accepts_reported_points_and_catches_a_violated_sla():
    r = solve(make_problem(tiny(), 4))
    for d in (*r.pareto_agg, *r.pareto_disagg):
        assert verify(make_problem(tiny(), 4), d) is d
    d = r.best_disagg  # TPOT 20 ms
    with pytest.raises(VerificationError, match="tpot 20.0 > 15.0"):
        verify(make_problem(tiny(), 4, Sla(tpot_ms=15.0)), d)
    with pytest.raises(VerificationError, match="ttft"):
        verify(make_problem(tiny(), 4, Sla(ttft_ms=50.0)), d)


def test_verify_catches_budget_topology_and_tampered_figures():
    p = make_problem(tiny(), 4)
    d = solve(p).best_agg
    assert check(p, d) == []
    with pytest.raises(VerificationError, match="differ"):
        verify(p, dataclasses.replace(d, tokens_per_s_per_gpu=d.tokens_per_s_per_gpu * 1.01))
    assert any("gpus 8 > 4" in m for m in check(p, dataclasses.replace(d, replicas=4, gpus_used=8)))
    assert any("node" in m for m in check(make_problem(tiny(), 4, topology=Topology(1, worker_within_node=True)), d))


@pytest.mark.parametrize(
    "problem, mode, text",
    [
        (make_problem(tiny(), 4, Sla(ttft_ms=50.0)), "agg", "ttft: lowest reachable TTFT is 200 ms > 50 ms"),
        (make_problem(tiny(), 4, Sla(ttft_ms=50.0)), "disagg", "ttft: lowest reachable TTFT is 80 ms > 50 ms"),
        (make_problem(tiny(), 4, Sla(tpot_ms=5.0)), "disagg", "tpot: lowest reachable TPOT is 10 ms > 5 ms"),
        (
            make_problem(tiny(), 4, Sla(min_tokens_per_s_per_user=200.0)),
            "disagg",
            "tokens/s/user: highest reachable is 100",
        ),
        (
            make_problem(tiny(), 4, Sla(max_request_latency_ms=1000.0)),
            "disagg",
            "request latency: lowest reachable is 1070",
        ),
        (
            make_problem(tiny(), 1),
            "disagg",
            "smallest disagg deployment (1 prefill + 1 decode worker): gpus: 2 GPUs needed > 1",
        ),
        (make_problem(tiny(), 8, replicas_min=3, replicas_max=2), "agg", "replicas: 3 replicas > replicas_max 2"),
        (make_problem(tiny(), 8, fixed={"tp": 8}), "agg", "fixed: no agg candidate has tp=8"),
        (
            make_problem(tiny(), 4, topology=Topology(1, worker_within_node=True), fixed={"tp": 2}),
            "disagg",
            "topology: the smallest prefill worker needs 2 GPUs > 1 GPUs per node",
        ),
    ],
)
def test_infeasible_names_the_binding_bound(problem, mode, text):
    r = solve(problem)
    assert getattr(r, f"best_{mode}") is None and getattr(r, f"pareto_{mode}") == ()
    assert text in r.stats["infeasible_by_mode"][mode]
    assert text in r.stats["infeasible"]


def test_infeasible_gpu_budget_for_large_workers():
    s = synthetic(1, layouts=[(16, 1, 1, 1, 1), (8, 2, 1, 1, 1)])
    r = solve(make_problem(s, 8))
    assert r.best_agg is None and r.best_disagg is None
    assert "gpus: the smallest agg worker needs 16 GPUs > 8" in r.stats["infeasible"]
    assert "gpus: the smallest prefill worker needs 16 GPUs > 8" in r.stats["infeasible"]


def test_rate_scale_keeps_precision_and_bounds_products():
    rates = np.array([0.013, 2.5, 170.0])
    s = rate_scale(rates, 4096, 4096)
    assert np.all(scaled(rates, s) >= MIN_RATE_UNITS) or scaled(rates, s).max() * 4096 * 4096 <= MAX_PRODUCT
    assert scaled(rates, s).max() * 4096 * 4096 <= MAX_PRODUCT
    assert max_rel_error(rates, s) == 0.0  # decimal inputs scale exactly
    rnd = np.random.default_rng(0).uniform(0.01, 100.0, 1000)
    assert max_rel_error(rnd, rate_scale(rnd, 32, 32)) <= 0.5 / MIN_RATE_UNITS


def test_result_reports_linearization_error_and_stats():
    r = solve(make_problem(synthetic(1), 8))
    assert 0.0 <= r.linearization_max_rel_error <= 1e-6
    assert r.stats["num_workers"] == 1 and r.stats["seed"] == 0
    assert r.stats["candidates"]["disagg"]["decode"]["rows"] == 36
    assert set(r.stats["solver_status"]) <= {"OPTIMAL", "INFEASIBLE"}
