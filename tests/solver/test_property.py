"""Randomized: on tiny surfaces with many exact ties, CP-SAT and brute force report the same points."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solver_surfaces import assert_same, candidates, make_problem, surfaces

from solver.bruteforce import brute_force
from solver.problem import Sla, Topology
from solver.search import solve


@st.composite
def tiny_problems(draw):
    def rows(role: str, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            r = dict(tp=draw(st.sampled_from([1, 1, 2, 4])), dp=draw(st.sampled_from([1, 1, 2])),
                     batch=draw(st.integers(1, 8)), req_per_s=draw(st.integers(1, 40)) / 10)
            if role != "decode":
                r["ttft_ms"] = float(draw(st.integers(10, 60)) * 5)
            if role != "prefill":
                r["tpot_ms"] = float(draw(st.integers(2, 12)) * 5)
            out.append(r)
        return out

    gpn = draw(st.sampled_from([1, 2, 4, 8]))
    s = surfaces(candidates("agg", rows("agg", draw(st.integers(1, 4)))),
                 candidates("prefill", rows("prefill", draw(st.integers(1, 3)))),
                 candidates("decode", rows("decode", draw(st.integers(1, 4)))),
                 osl=draw(st.sampled_from([2, 10, 100])), gpus_per_node=gpn)
    maybe = lambda strat: draw(st.one_of(st.none(), st.none(), strat))  # noqa: E731 (mostly unconstrained)
    sla = Sla(ttft_ms=maybe(st.integers(50, 400).map(float)), tpot_ms=maybe(st.integers(10, 70).map(float)),
              max_request_latency_ms=maybe(st.integers(100, 6000).map(float)))
    topo = maybe(st.builds(Topology, st.just(gpn), st.booleans(), st.one_of(st.none(), st.integers(1, 3)),
                           st.booleans()))
    budget = draw(st.dictionaries(st.sampled_from(["agg", "prefill", "decode"]), st.integers(2, 12), max_size=1))
    rmin = draw(st.integers(1, 2))
    rmax = maybe(st.integers(rmin, 4))
    return make_problem(s, draw(st.integers(2, 16)), sla, topo, replicas_min=rmin, replicas_max=rmax,
                        role_gpu_budget=budget, max_gpus_per_worker=maybe(st.sampled_from([2, 4])))


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
