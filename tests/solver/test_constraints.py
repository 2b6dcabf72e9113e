"""Each constraint kind: a deployment it admits and one it rejects (EvalScope), row filters (FilterScope)."""

from __future__ import annotations

import numpy as np
import pytest
from solver_surfaces import candidates, make_problem, surfaces, tiny

from solver.constraints import KINDS, FilterScope, broken_rules
from solver.errors import UserError
from solver.problem import Sla, Topology
from solver.optimize import solve

AGG = {"agg": 1}


def kinds_broken(p, mode, rows, workers, replicas):
    """The rule names (text before ':') a deployment breaks."""
    return {m.split(":")[0] for m in broken_rules(p, mode, rows, workers, replicas)}


def pd(i, j):
    return {"prefill": i, "decode": j}


def test_registry_has_one_function_per_kind():
    assert set(KINDS) == {
        "fixed",
        "max_gpus_per_worker",
        "topology",
        "gpu_budget",
        "role_gpu_budget",
        "replicas",
        "kv_handoff",
        "sla",
        "sla_percentiles",
    }
    assert all(callable(f) for f in KINDS.values())


def test_gpu_budget():
    p = make_problem(tiny(), 4)
    assert not kinds_broken(p, "agg", {"agg": 2}, AGG, 1)  # one 4-GPU worker
    assert kinds_broken(p, "agg", {"agg": 2}, AGG, 2) == {"gpus"}  # 8 > 4
    assert not kinds_broken(p, "disagg", pd(1, 1), pd(1, 1), 1)  # 2 + 2
    assert kinds_broken(p, "disagg", pd(1, 1), pd(2, 1), 1) == {"gpus"}  # 4 + 2


@pytest.mark.parametrize(
    "sla, mode, good, bad",
    [
        (Sla(ttft_ms=90.0), "disagg", pd(1, 0), pd(0, 0)),  # prefill TTFT 80 / 100 ms
        (Sla(ttft_ms=220.0), "agg", {"agg": 0}, {"agg": 1}),  # 200 / 300 ms
        (Sla(tpot_ms=15.0), "disagg", pd(0, 0), pd(0, 1)),  # decode TPOT 10 / 20 ms
        (Sla(min_tokens_per_s_per_user=60.0), "disagg", pd(0, 0), pd(0, 1)),  # 100 / 50 tokens/s/user
        (Sla(max_request_latency_ms=3200.0), "agg", {"agg": 0}, {"agg": 1}),  # 200 + 99 * 30 = 3170 / 4260
        (Sla(max_request_latency_ms=1100.0), "disagg", pd(1, 0), pd(1, 1)),  # 80 + 99 * 10 = 1070 / 2060
    ],
)
def test_sla(sla, mode, good, bad):
    p = make_problem(tiny(), 8, sla)
    ones = {r: 1 for r in good}
    assert not kinds_broken(p, mode, good, ones, 1)
    assert kinds_broken(p, mode, bad, ones, 1) & {"ttft", "tpot", "tokens/s/user", "request latency"}


def test_topology_worker_within_node_and_max_nodes():
    p = make_problem(tiny(), 8, topology=Topology(2, worker_within_node=True))
    assert not kinds_broken(p, "agg", {"agg": 1}, AGG, 1)
    assert kinds_broken(p, "agg", {"agg": 2}, AGG, 1) == {"topology"}  # 4 GPUs > 2 per node
    p = make_problem(tiny(), 8, topology=Topology(2, max_nodes=1))
    assert not kinds_broken(p, "agg", {"agg": 1}, AGG, 1)
    assert kinds_broken(p, "agg", {"agg": 1}, AGG, 2) == {"topology"}  # 4 GPUs > 1 node


def test_topology_workers_spanning_nodes_need_whole_nodes():
    rows = [
        dict(tp=3, batch=1, ttft_ms=10.0, tpot_ms=5.0, req_per_s=1.0),
        dict(tp=4, batch=1, ttft_ms=10.0, tpot_ms=5.0, req_per_s=1.0),
    ]
    p = make_problem(surfaces(candidates("agg", rows), None, None, gpus_per_node=2), 8, modes=("agg",))
    assert not kinds_broken(p, "agg", {"agg": 1}, AGG, 1)  # 4 GPUs = 2 whole nodes
    assert kinds_broken(p, "agg", {"agg": 0}, AGG, 1) == {"topology"}  # 3 GPUs over 2-GPU nodes
    assert solve(p).best_agg.role("agg").row == 1


def test_topology_separate_prefill_decode_nodes():
    p = make_problem(tiny(), 4, topology=Topology(2, separate_prefill_decode_nodes=True))
    assert not kinds_broken(p, "disagg", pd(1, 1), pd(1, 1), 1)  # one node each
    assert kinds_broken(p, "disagg", pd(0, 0), pd(1, 3), 1) == {"topology"}  # 1 + 3 GPUs fit 4 but need 3 nodes
    r = solve(p)
    assert r.best_disagg.gpus_used <= 4


def test_replicas():
    p = make_problem(tiny(), 8, replicas_max=2)
    assert not kinds_broken(p, "agg", {"agg": 0}, AGG, 2)
    assert kinds_broken(p, "agg", {"agg": 0}, AGG, 3) == {"replicas"}
    assert solve(p).best_agg.replicas == 2  # 4 replicas of the 2-GPU row would fit 8 GPUs
    fs = FilterScope(make_problem(tiny(), 4, replicas_min=2), "agg").run()
    assert fs.tables["agg"].gpus.max() == 2  # 2 x the 4-GPU row exceeds the budget


def test_max_gpus_per_worker():
    p = make_problem(tiny(), 8, max_gpus_per_worker=2)
    assert not kinds_broken(p, "agg", {"agg": 1}, AGG, 1)
    assert kinds_broken(p, "agg", {"agg": 2}, AGG, 1) == {"max_gpus_per_worker"}
    assert np.all(FilterScope(p, "agg").run().tables["agg"].gpus <= 2)


def test_fixed_parallelism():
    p = make_problem(tiny(), 8, fixed={"tp": 2})
    assert not kinds_broken(p, "disagg", pd(1, 1), pd(1, 1), 1)
    assert kinds_broken(p, "disagg", pd(0, 1), pd(1, 1), 1) == {"fixed"}
    assert {r.tp for r in solve(p).best_disagg.roles} == {2}
    with pytest.raises(UserError, match="unknown field"):
        FilterScope(make_problem(tiny(), 8, fixed={"tensor": 2}), "agg").run()


def test_role_gpu_budget():
    p = make_problem(tiny(), 8, role_gpu_budget={"prefill": 2})
    assert not kinds_broken(p, "disagg", pd(1, 1), pd(1, 2), 1)
    assert kinds_broken(p, "disagg", pd(1, 1), pd(2, 1), 1) == {"role_gpu_budget"}  # 4 prefill GPUs > 2
    r = solve(p)
    assert (
        r.best_disagg.role("prefill").workers * r.best_disagg.role("prefill").gpus_per_worker * r.best_disagg.replicas
        <= 2
    )
    with pytest.raises(UserError, match="unknown role"):
        FilterScope(make_problem(tiny(), 8, role_gpu_budget={"encode": 2}), "disagg").run()


def test_a_new_kind_is_one_function_and_one_entry(monkeypatch):
    def no_tp1(c):
        for role in c.roles:
            c.keep_rows(role, c.rows(role).tp != 1, lambda t: "no_tp1: every worker has tp=1")

    monkeypatch.setitem(KINDS, "no_tp1", no_tp1)
    r = solve(make_problem(tiny(), 8))
    assert all(role.tp != 1 for d in (*r.pareto_agg, *r.pareto_disagg) for role in d.roles)
