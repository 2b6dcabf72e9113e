"""Randomized: on tiny surfaces with many exact ties, CP-SAT and brute force report the same points."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solver_surfaces import assert_same, candidates, make_problem, surfaces, synthetic

from tests.solver.brute_force import brute_force
from solver.problem import Sla, Topology
from solver.optimize import solve


@st.composite
def tiny_problems(draw):
    def rows(role: str, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            r = dict(
                tp=draw(st.sampled_from([1, 1, 2, 4])),
                dp=draw(st.sampled_from([1, 1, 2])),
                batch=draw(st.integers(1, 8)),
                req_per_s=draw(st.integers(1, 40)) / 10,
            )
            if role != "decode":
                r["ttft_ms"] = float(draw(st.integers(10, 60)) * 5)
            if role != "prefill":
                r["tpot_ms"] = float(draw(st.integers(2, 12)) * 5)
            out.append(r)
        return out

    gpn = draw(st.sampled_from([1, 2, 4, 8]))
    s = surfaces(
        candidates("agg", rows("agg", draw(st.integers(1, 4)))),
        candidates("prefill", rows("prefill", draw(st.integers(1, 3)))),
        candidates("decode", rows("decode", draw(st.integers(1, 4)))),
        osl=draw(st.sampled_from([2, 10, 100])),
        gpus_per_node=gpn,
    )
    maybe = lambda strat: draw(st.one_of(st.none(), st.none(), strat))  # noqa: E731 (mostly unconstrained)
    sla = Sla(
        ttft_ms=maybe(st.integers(50, 400).map(float)),
        tpot_ms=maybe(st.integers(10, 70).map(float)),
        max_request_latency_ms=maybe(st.integers(100, 6000).map(float)),
    )
    topo = maybe(
        st.builds(Topology, st.just(gpn), st.booleans(), st.one_of(st.none(), st.integers(1, 3)), st.booleans())
    )
    budget = draw(st.dictionaries(st.sampled_from(["agg", "prefill", "decode"]), st.integers(2, 12), max_size=1))
    rmin = draw(st.integers(1, 2))
    rmax = maybe(st.integers(rmin, 4))
    return make_problem(
        s,
        draw(st.integers(2, 16)),
        sla,
        topo,
        replicas_min=rmin,
        replicas_max=rmax,
        role_gpu_budget=budget,
        max_gpus_per_worker=maybe(st.sampled_from([2, 4])),
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_problems())
def test_cpsat_equals_brute_force_on_random_tiny_problems(problem):
    r = solve(problem)
    assert r.proven_optimal
    assert_same(r, brute_force(problem))
    if r.best_agg is None and "agg" in problem.modes:
        assert "agg" in r.stats["infeasible_by_mode"]
    if r.best_disagg is None:
        assert "disagg" in r.stats["infeasible_by_mode"]


@st.composite
def synthetic_problems(draw):
    """Cost-model-shaped surfaces (random seed, dense or MoE) with a random memory use per row and SLA."""
    s = synthetic(draw(st.integers(0, 10_000)), moe=draw(st.booleans()), batches=(1, 4, 16), prefill_batches=(1, 2))
    for t in (s.agg, s.prefill, s.decode):  # the cost model emits only rows that fit: 0 < mem_used_frac < 1
        t.mem_used_frac[:] = [draw(st.floats(0.05, 0.99)) for _ in range(len(t))]
    maybe = lambda strat: draw(st.one_of(st.none(), strat))  # noqa: E731
    sla = Sla(
        ttft_ms=maybe(st.integers(20, 2000).map(float)),
        tpot_ms=maybe(st.integers(2, 60).map(float)),
        min_tokens_per_s_per_user=maybe(st.integers(5, 200).map(float)),
        max_request_latency_ms=maybe(st.integers(500, 20_000).map(float)),
    )
    return make_problem(
        s, draw(st.integers(1, 12)), sla, modes=draw(st.sampled_from([("agg", "disagg"), ("agg",), ("disagg",)]))
    )


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(synthetic_problems())
def test_every_reported_point_meets_sla_gpus_and_memory(problem):
    r = solve(problem)
    sla, osl = problem.sla, problem.surfaces.osl
    points = [d for d in (r.best_agg, r.best_disagg, *r.pareto_agg, *r.pareto_disagg, *r.top_agg, *r.top_disagg) if d]
    for d in points:  # restated here, not through solver.verify, so that a bug there cannot hide one here
        assert d.mode in problem.modes
        assert d.gpus_used == d.replicas * sum(x.workers * x.gpus_per_worker for x in d.roles) <= problem.total_gpus
        assert sla.ttft_ms is None or d.ttft_ms <= sla.ttft_ms
        assert sla.tpot_ms is None or d.tpot_ms <= sla.tpot_ms
        assert sla.min_tokens_per_s_per_user is None or 1000.0 / d.tpot_ms >= sla.min_tokens_per_s_per_user
        assert sla.max_request_latency_ms is None or d.ttft_ms + (osl - 1) * d.tpot_ms <= sla.max_request_latency_ms
        for x in d.roles:
            assert getattr(problem.surfaces, x.role).mem_used_frac[x.row] < 1
    assert_same(r, brute_force(problem))  # and CP-SAT agrees with brute force on these random small specs
