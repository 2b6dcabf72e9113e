"""The report names what binds, gives every role's full layout with one meaning of batch, and says what it timed;
the cluster report says why GPUs stay unused."""

from __future__ import annotations

import dataclasses

import pytest

from solver.report import binding_rule, duration, infeasible_headline, render, top_table, worker_batch
from test_report import DISAGG, SUMMARY, dep, result

RoleConfig = type(DISAGG[0].roles[0])


def _table_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()
    rule = next(i for i, ln in enumerate(lines) if set(ln.replace(" ", "")) == {"-"})
    return [ln.split() for ln in lines[rule + 1 :]]


@pytest.mark.parametrize(
    "reason, rule",
    [
        ("smallest disagg deployment (1 prefill + 1 decode worker): gpus: 2 GPUs needed > 1", "gpus"),
        ("smallest agg deployment: topology: the smallest agg worker needs 16 GPUs > 8 GPUs per node", "topology"),
        ("ttft: lowest reachable TTFT is 410 ms > 300 ms", "ttft"),
        ("smallest agg deployment: request latency: lowest reachable is 9000 ms > 5000 ms", "request latency"),
        ("no prefill/decode combination meets the GPU, topology, role-budget and latency rules together", None),
    ],
)
def test_binding_rule(reason, rule):
    assert binding_rule(reason) == rule


def test_why_not_names_the_gpu_count_not_the_sla():
    """1 GPU, no SLA: disagg needs 2 GPUs, so the GPU count rules it out; the SLA has nothing to do with it."""
    why = "smallest disagg deployment (1 prefill + 1 decode worker): gpus: 2 GPUs needed > 1"
    stats = {"infeasible": f"disagg: {why}", "infeasible_by_mode": {"disagg": why}}
    no_sla = {**SUMMARY, "total_gpus": 1, "sla": dict.fromkeys(SUMMARY["sla"])}
    text = render(result(best_disagg=None, pareto_disagg=(), top_disagg=(), stats=stats), no_sla)
    assert "  disagg  none: the GPU count rules it out (Why not, below)" in text
    assert "meets the SLA" not in text and f"Why not:\n  disagg: {why}" in text


def test_headline_when_nothing_fits():
    empty = dict(best_agg=None, best_disagg=None, pareto_agg=(), pareto_disagg=(), top_agg=(), top_disagg=())
    gpus = {
        "agg": "gpus: the smallest agg worker needs 8 GPUs > 2",
        "disagg": "ttft: lowest reachable TTFT is 9 ms > 1 ms",
    }
    text = render(result(**empty, stats={"infeasible_by_mode": gpus}), SUMMARY)
    lines = text.splitlines()
    assert lines[lines.index("") + 1] == "No deployment: the GPU count rules out agg; the TTFT bound rules out disagg."
    sla = {m: "tpot: lowest reachable TPOT is 4.5 ms > 3 ms" for m in ("agg", "disagg")}
    assert infeasible_headline(result(**empty, stats={"infeasible_by_mode": sla})) == "No deployment meets the SLA"


def test_batch_is_per_worker_for_every_role():
    prefill = RoleConfig(
        role="prefill",
        workers=2,
        tp=1,
        pp=1,
        dp=8,
        moe_tp=1,
        moe_ep=8,
        gpus_per_worker=8,
        batch=2,
        max_num_tokens=8192,
        row=0,
    )
    decode = dataclasses.replace(prefill, role="decode", workers=1, batch=256)
    agg = dataclasses.replace(prefill, role="agg", batch=64)
    assert [worker_batch(r) for r in (prefill, decode, agg)] == [16, 256, 64]  # prefill: 2 per DP rank x 8 ranks
    d = dep("disagg", [prefill, decode], 1, 24, 1000.0, 50.0)
    text = top_table([d], 32, moe=True)
    head = text.splitlines()[:2]
    assert "batch/" in head[0] and "worker" in head[1] and "MoE" in head[0] and "attn" in head[0]
    rows = _table_rows(text)
    # role, workers, GPUs/worker, TP, PP, attn DP, MoE TP, MoE EP, batch/worker
    assert rows[0][1:10] == ["prefill", "2", "8", "1", "1", "8", "1", "8", "16"]
    assert rows[1][0:9] == ["decode", "1", "8", "1", "1", "8", "1", "8", "256"]
    dense = top_table([DISAGG[0]], 32, moe=False)
    assert "MoE" not in dense and _table_rows(dense)[0][1:8] == ["prefill", "2", "4", "4", "1", "1", "1"]


def test_report_states_the_batch_meaning_and_the_timed_work():
    text = render(result(solve_seconds=0.0123), SUMMARY)
    assert "batch/worker: requests one worker runs per step over all its attention-DP ranks" in text
    assert "solver time 12.3 ms (CP-SAT search, Pareto set, re-check;" in text and "0.0 s" not in text


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.000412, "0.412 ms"),
        (0.0123, "12.3 ms"),
        (0.5, "500 ms"),
        (1.234, "1.23 s"),
        (45.67, "45.7 s"),
        (4000.0, "4,000 s"),
    ],
)
def test_duration(seconds, text):
    assert duration(seconds) == text
