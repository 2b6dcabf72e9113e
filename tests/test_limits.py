"""Limits: the time limit reaches CP-SAT, the candidate grid is capped, huge GPU and batch counts stay cheap."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ortools.sat.python import cp_model

from costmodel.build import batch_grid
from costmodel.layout_rules import layouts
from solver.errors import InfeasibleError, UserError
from solver.grid import MAX_CANDIDATES
from solver.spec import load_spec
from test_fuzz import _cli

ROOT = Path(__file__).resolve().parents[1]
QWEN = ROOT / "specs" / "qwen3-32b_h200x32.yaml"
R1 = ROOT / "specs" / "deepseek-r1_h200x64.yaml"


def test_time_limit_reaches_cp_sat_and_the_report_says_so(monkeypatch):
    limits: list[float] = []

    class Spy(cp_model.CpSolver):
        def solve(self, model, *args, **kwargs):
            limits.append(self.parameters.max_time_in_seconds)
            return super().solve(model, *args, **kwargs)

    monkeypatch.setattr(cp_model, "CpSolver", Spy)
    code, out, err = _cli([str(R1), "--json", "--time-limit", "0.3", "--set", "sla.ttft_ms=null"], True)
    assert code == 0 and limits and all(0 < x <= 0.3 for x in limits), (code, err, limits)
    # A limit that is spent before the first solve: an answer still comes, marked unproven.
    code, out, err = _cli([str(R1), "--time-limit", "0.000001", "--set", "sla.ttft_ms=null"], True)
    assert code == 0 and "not proven optimal (time limit)" in out, err
    code, out, _ = _cli([str(R1), "--json", "--time-limit", "0.000001", "--set", "sla.ttft_ms=null"], True)
    assert json.loads(out)["proven_optimal"] is False


def test_candidate_grid_is_capped():
    with pytest.raises(UserError) as info:
        load_spec(QWEN, ["search.pp=[1,2,4,8]", f"search.batch_sizes={list(range(1, 20_001))}"])
    msg = str(info.value)
    assert f"more than the {MAX_CANDIDATES:,}" in msg and "search.batch_sizes" in msg and "search.tp" in msg
    assert msg.startswith("--set search.batch_sizes=")


def test_huge_gpu_and_batch_counts_keep_the_grid_small():
    spec = load_spec(QWEN, ["total_gpus=100000", "search.max_batch_size=1000000"])
    assert len(batch_grid(1_000_000)) < 50 and batch_grid(1_000_000)[-1] == 1_000_000  # geometric, ends at max
    assert len(layouts(spec.request)) * len(batch_grid(spec.request.search.max_batch_size)) < 1_000
    with pytest.raises(UserError, match="The most accepted is 1,000,000"):
        load_spec(QWEN, ["search.max_batch_size=1000001"])
    with pytest.raises(UserError, match="total_gpus must be an integer ≥ 1; got 10000000000000000000000000"):
        load_spec(QWEN, ["total_gpus=10000000000000000000000000"])


def test_huge_problem_runs_in_bounded_time_and_memory():
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "solver.cli",
            str(QWEN),
            "--json",
            "--time-limit",
            "2",
            "--set",
            "total_gpus=100000",
            "--set",
            "search.max_batch_size=1000000",
            "--set",
            "sla.ttft_ms=2000",
        ],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["best"]["agg"]["gpus_used"] <= 100_000
    assert wall < 30  # about 2 s of cost model + a 2 s solver limit (+ verification)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    assert rss < 2 * 1024 * 1024, f"{rss / 1024:.0f} MiB"


def test_search_space_errors_name_the_keys(tmp_path):
    with pytest.raises(UserError, match=r"no search.tp value in \[128\] divides Qwen/Qwen3-32B's 64 attention heads"):
        load_spec(QWEN, ["search.tp=[128]"])
    with pytest.raises(UserError, match=r"every search.pp value in \[100\] exceeds Qwen/Qwen3-32B's 64 layers"):
        load_spec(QWEN, ["search.pp=[100]"])
    with pytest.raises(UserError, match="smallest worker of the search space has 2 GPUs .* search.max_gpus_per_worker"):
        load_spec(QWEN, ["search.tp=[2, 4]", "search.max_gpus_per_worker=1"])
    with pytest.raises(
        InfeasibleError,
        match=r"holds deepseek-ai/DeepSeek-R1's weights .* more than 2 GPUs\. "
        r"Workers are limited to 2 GPUs by constraints.topology.gpus_per_node",
    ):
        load_spec(R1, ["constraints.topology={gpus_per_node: 2, worker_within_node: true}"])
