"""Spec keys of issue 16: length distributions, traces, prefix hits, arrivals and percentile SLAs."""

from __future__ import annotations

from pathlib import Path

import pytest

from solver.errors import UserError
from solver.spec import load_spec, spec_from_raw

BASE = {"model": "Qwen/Qwen3-32B", "system": "h200_sxm", "total_gpus": 32, "workload": {"isl": 4000, "osl": 500}}


def _err(raw: dict, base_dir: Path | None = None) -> str:
    with pytest.raises(UserError) as info:
        spec_from_raw(raw, base_dir=base_dir)
    return str(info.value)


def test_fixed_workload_is_todays_request():
    s = spec_from_raw({**BASE, "sla": {"ttft_ms": 300}})
    assert s.request.workload is None and (s.request.isl, s.request.osl) == (4000, 500)
    assert (s.sla.ttft_ms, s.sla.ttft_pct, s.sla.tpot_pct) == (300.0, (), ())


def test_distributions_and_percentile_bounds():
    s = spec_from_raw(
        {
            **BASE,
            "workload": {
                "isl": {"lognormal": {"mean": 3000, "p90": 6000}},
                "osl": {"histogram": [[100, 3], [300, 1]]},
                "prefix_hit_rate": 0.3,
                "distribution_points": 8,
                "arrival": {"process": "gamma", "cv": 2},
            },
            "sla": {"ttft_ms": {"p90": 500, "p99": 900, "mean": 300}, "tpot_ms": {"p95": 12}},
        }
    )
    w = s.request.workload
    assert len(w.isl.points) == 8 and w.isl.mean == pytest.approx(3000) and s.request.isl == 3000
    assert w.osl.points == (100.0, 300.0) and w.osl.weights == (0.75, 0.25) and s.request.osl == 150
    assert (w.prefix_hit_rate, w.arrival.process, w.arrival.cv, w.arrival.rate_per_s) == (0.3, "gamma", 2.0, None)
    assert s.sla.ttft_ms == 300 and s.sla.ttft_pct == ((90, 500.0), (99, 900.0)) and s.sla.tpot_pct == ((95, 12.0),)
    assert s.max_context_tokens == w.isl.longest + 300  # KV room for the longest request of the distributions


def test_trace_gives_lengths_and_burstiness(tmp_path):
    (tmp_path / "t.csv").write_text("arrival_s,isl,osl\n0,100,10\n0.5,300,30\n2,200,20\n")
    s = spec_from_raw({**BASE, "workload": {"trace": "t.csv"}}, base_dir=tmp_path)
    w = s.request.workload
    assert w.isl.points == (100.0, 200.0, 300.0) and s.request.isl == 200 and s.request.osl == 20
    assert w.arrival.process == "gamma" and w.arrival.cv == pytest.approx(0.5) and w.arrival.rate_per_s is None
    assert "3 requests over 2 s" in w.source
    assert "workload.trace gives the lengths; drop workload.isl" in _err(
        {**BASE, "workload": {"trace": "t.csv", "isl": 5}}, tmp_path
    )
    assert "workload.trace: cannot read trace" in _err({**BASE, "workload": {"trace": "nope.csv"}}, tmp_path)
    (tmp_path / "bad.csv").write_text("arrival_s,isl,osl\n0,100,10\n1,x,3\n2,1,1\n")
    assert "bad.csv, line 3: arrival_s, isl and osl must be numbers" in _err(
        {**BASE, "workload": {"trace": "bad.csv"}}, tmp_path
    )


def test_arrival_rate_is_the_demand():
    s = spec_from_raw({**BASE, "workload": {**BASE["workload"], "arrival": {"rate_per_s": 5}}})
    assert s.demand_rps == 5.0 and s.request.workload.arrival.process == "poisson"
    assert "give it or demand, not both" in _err(
        {**BASE, "demand": {"requests_per_s": 3}, "workload": {**BASE["workload"], "arrival": {"rate_per_s": 5}}}
    )
    assert "a closed loop has no arrival rate" in _err(
        {**BASE, "workload": {**BASE["workload"], "arrival": {"rate_per_s": 5, "process": "closed"}}}
    )


@pytest.mark.parametrize(
    "workload, sla, words",
    [
        (
            {"isl": {"lognormal": {"mean": 4000, "p90": 3000}}, "osl": 500},
            None,
            "workload.isl: a lognormal with mean 4000 has its p90 above the mean",
        ),
        (
            {"isl": {"normal": 4}, "osl": 500},
            None,
            "workload.isl must be a whole number of tokens ≥ 1, or a distribution",
        ),
        ({"isl": {"histogram": [[100, 0]]}, "osl": 500}, None, "a histogram up to 4,096 [tokens, weight] pairs"),
        ({"isl": 4000, "osl": 500, "arrival": {"cv": 2}}, None, "workload.arrival.cv: a coefficient of variation"),
        ({"isl": 4000, "osl": 500}, {"ttft_ms": {"p80": 5}}, "Unknown key 'p80'"),
        ({"isl": 4000, "osl": 500}, {"tpot_ms": {"p90": -1}}, "sla.tpot_ms must be a number > 0, or a mapping"),
    ],
)
def test_messages(workload, sla, words):
    assert words in _err({**BASE, "workload": workload, **({"sla": sla} if sla else {})})


def test_example_spec_with_a_trace_loads():
    root = Path(__file__).resolve().parents[2]
    s = load_spec(root / "specs" / "qwen3-32b_h200x32_trace.yaml")
    assert s.request.workload is not None and s.sla.ttft_pct and s.sla.tpot_pct
    assert "synthetic_chat.csv: 2,000 requests" in s.request.workload.source
