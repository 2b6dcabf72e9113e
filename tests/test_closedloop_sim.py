"""The closed-loop reference simulator (bench/closedloop_sim.py) against hand-worked answers, on toy prices:
a decode step costs 10 ms, a prefill 0.1 ms per token (plus the decode step when requests decode alongside)."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "closedloop_sim.py"
_spec = importlib.util.spec_from_file_location("closedloop_sim", _PATH)
assert _spec is not None and _spec.loader is not None
sim = importlib.util.module_from_spec(_spec)
sys.modules["closedloop_sim"] = sim
_spec.loader.exec_module(sim)


class ToyPrices:
    def decode(self, nd, ctx):
        return np.full(len(ctx), 10.0)

    def mixed(self, nd, ctx, npf, lpf):
        return (10.0 if nd else 0.0) + 0.1 * npf * lpf


BASE = sim.Setup(clients=1, isl=1000, osl=101, range_ratio=1.0, budget=8192, running_cap=1, host_ms=50.0)


@pytest.mark.parametrize("backend", ["trtllm", "vllm", "sglang"])
def test_one_client_sees_host_path_plus_its_prefill_and_bare_decode_steps(backend):
    r = sim.simulate(BASE, sim.ENGINES[backend], ToyPrices())
    assert r.ttft_ms == pytest.approx(50.0 + 100.0)
    assert r.tpot_ms == pytest.approx(10.0)
    assert r.clump == 1.0


@pytest.mark.parametrize("backend", ["trtllm", "vllm", "sglang"])
def test_same_length_cohort_stays_one_clump(backend):
    # 8 prompts of 1,000 tokens fit one 8,192-token iteration; they finish and return together every wave
    r = sim.simulate(replace(BASE, clients=8, running_cap=8), sim.ENGINES[backend], ToyPrices())
    assert r.ttft_ms == pytest.approx(50.0 + 800.0)
    assert r.tpot_ms == pytest.approx(10.0)
    assert r.clump == 8.0


@pytest.mark.parametrize(
    "backend, ttft",
    [
        # TRT-LLM: 4 prompts; then 4 decode tokens leave 3,996: 3 prompts, the 4th waits whole; then the 4th
        ("trtllm", (4 * 450.0 + 3 * 760.0 + 870.0) / 8),
        # vLLM: 4; then 3 and a 996-token chunk of the 4th (409.6 ms); then its last 4 tokens (10.4 ms)
        ("vllm", (4 * 450.0 + 3 * 859.6 + 870.0) / 8),
        # SGLang: the budget is prefill-only and prefill batches run alone: 4, then 4
        ("sglang", (4 * 450.0 + 4 * 850.0) / 8),
    ],
)
def test_token_budget_admission_rules(backend, ttft):
    s = replace(BASE, clients=8, running_cap=8, budget=4000, waves=1)
    assert sim.simulate(s, sim.ENGINES[backend], ToyPrices()).ttft_ms == pytest.approx(ttft)


def test_running_cap_makes_clients_wait_for_a_slot():
    # one slot, two clients: the second waits for the first's whole request (100 ms prefill + 100 decode steps)
    s = replace(BASE, clients=2, running_cap=1, waves=1)
    r = sim.simulate(s, sim.ENGINES["trtllm"], ToyPrices())
    assert r.ttft_ms == pytest.approx((150.0 + 150.0 + 100.0 + 1000.0) / 2)


def test_sglang_sees_arrivals_only_when_it_polls():
    # spread lengths: requests finish, and the next ones arrive, while others decode; SGLang sees them at its next
    # poll (every 30 decode steps: 15 steps, 150 ms, of mean wait), TRT-LLM and vLLM ignore the interval
    s = replace(BASE, clients=4, running_cap=4, range_ratio=0.8)
    for backend, extra in (("sglang", (120.0, 190.0)), ("trtllm", (0.0, 0.0)), ("vllm", (0.0, 0.0))):
        every = sim.simulate(s, sim.ENGINES[backend], ToyPrices()).ttft_ms
        rarely = sim.simulate(replace(s, recv_interval=30), sim.ENGINES[backend], ToyPrices()).ttft_ms
        assert extra[0] <= rarely - every <= extra[1], backend


def test_seeded_and_deterministic():
    s = replace(BASE, clients=16, running_cap=16, range_ratio=0.8, host_jitter=0.5, seed=3)
    a = sim.simulate(s, sim.ENGINES["vllm"], ToyPrices())
    b = sim.simulate(s, sim.ENGINES["vllm"], ToyPrices())
    c = sim.simulate(replace(s, seed=4), sim.ENGINES["vllm"], ToyPrices())
    assert a == b
    assert a.ttft_ms != c.ttft_ms
