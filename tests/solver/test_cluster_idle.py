"""The cluster report says why GPUs of a pool stay unused: nothing left to serve, the model that would take them
cannot run there, or no worker fits what is left."""

from __future__ import annotations

from pathlib import Path

import yaml

from solver.cluster.report import render
from solver.cluster.solve import solve_cluster
from solver.pipeline import load as spec_or_cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "specs" / "cluster_3models_h100x64_h200x64.yaml"
L70 = {
    "model": "meta-llama/Llama-3.1-70B",
    "workload": {"isl": 2000, "osl": 500},
    "sla": {"ttft_ms": 3000, "tpot_ms": 50},
    "search": {"tp": [8]},
    "modes": ["agg"],
}


def solved(spec: Path | dict, tmp_path: Path):
    if isinstance(spec, dict):
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(spec))
        spec = tmp_path / "c.yaml"
    c = spec_or_cluster(spec)
    r = solve_cluster(c)
    return c, r, render(c, r)


def test_bundled_example_says_why_half_the_h100_stay_idle(tmp_path):
    c, r, text = solved(EXAMPLE, tmp_path)
    h100 = next(p for p in r.pools if p.system == "h100_sxm")
    free = h100.available - h100.used
    assert free > 0 and r.stats["unused"]["h100_sxm"]["gpus"] == free
    assert (
        f"unused: {free} of 64 h100_sxm GPUs; DeepSeek-R1 cannot run on h100_sxm: no worker of the search space "
        "holds deepseek-ai/DeepSeek-R1's weights on h100_sxm" in text
    )
    assert "h200_sxm" not in r.stats["unused"]  # DeepSeek-R1 takes every H200


def test_only_demands_nothing_left_to_serve(tmp_path):
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["deployments"][2] = {**spec["deployments"][2], "demand": {"requests_per_s": 2}}
    del spec["deployments"][2]["weight"]
    c, r, text = solved(spec, tmp_path)
    for pool in r.pools:
        assert (
            f"unused: {pool.available - pool.used} of 64 {pool.system} GPUs; nothing left to serve: every model "
            "has a demand, and the least-cost placement" in text
        )


def test_no_worker_fits_what_is_left(tmp_path):
    c, r, text = solved({"pools": {"h200_sxm": 10}, "backend": "trtllm", "deployments": [L70]}, tmp_path)
    assert r.gpus_used == 8
    assert (
        "unused: 2 of 10 h200_sxm GPUs; the smallest Llama-3.1-70B worker on h200_sxm needs 8 GPUs > the 2 left" in text
    )


def test_a_full_pool_has_no_unused_line(tmp_path):
    c, r, text = solved({"pools": {"h200_sxm": 16}, "backend": "trtllm", "deployments": [L70]}, tmp_path)
    assert r.gpus_used == 16 and r.stats["unused"] == {} and "unused" not in text
