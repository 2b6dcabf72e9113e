"""The aicsolve command: argv routing, exit codes, --json purity, flags-only specs and a cold --help."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import solver.cli as cli
from costmodel.surface import Surfaces

result_mod = pytest.importorskip("solver.result")  # written concurrently; skip until it exists

ROOT = Path(__file__).resolve().parents[2]
QWEN = str(ROOT / "specs" / "qwen3-32b_h200x32.yaml")
FLAGS = [
    "--model",
    "Qwen/Qwen3-32B",
    "--system",
    "h200_sxm",
    "--total-gpus",
    "8",
    "--isl",
    "1000",
    "--osl",
    "100",
    "--ttft",
    "500",
    "--tpot",
    "20",
]


def deployment(mode: str = "agg"):
    roles = ("agg",) if mode == "agg" else ("prefill", "decode")
    r = tuple(
        result_mod.RoleConfig(
            role=x,
            workers=1,
            tp=4,
            pp=1,
            dp=1,
            moe_tp=4,
            moe_ep=1,
            gpus_per_worker=4,
            batch=32,
            max_num_tokens=8192,
            row=0,
        )
        for x in roles
    )
    return result_mod.Deployment(
        mode=mode,
        roles=r,
        replicas=2,
        gpus_used=8 * len(r),
        ttft_ms=200.0,
        tpot_ms=9.0,
        tokens_per_s=8000.0,
        tokens_per_s_per_gpu=1000.0,
        tokens_per_s_per_user=111.1,
        concurrency=64,
        req_per_s=16.0,
    )


def solve_result(feasible: bool = True):
    a, d = (deployment("agg"), deployment("disagg")) if feasible else (None, None)
    return result_mod.SolveResult(
        best_agg=a,
        best_disagg=d,
        pareto_agg=(a,) if a else (),
        pareto_disagg=(d,) if d else (),
        top_agg=(a,) if a else (),
        top_disagg=(d,) if d else (),
        proven_optimal=True,
        solve_seconds=0.1,
        linearization_max_rel_error=0.0,
        stats={} if feasible else {"infeasible": "agg: tpot: lowest reachable TPOT is 12 ms > 10 ms"},
    )


@pytest.fixture
def fakes(monkeypatch):
    """Replace the cost model and the solver; record what they were given."""
    seen: dict = {"feasible": True, "delay": 0.0}

    def build_surfaces(req):
        seen["request"] = req
        return Surfaces(
            model=req.model.name,
            system=req.system,
            backend=req.backend,
            version=req.version,
            isl=req.isl,
            osl=req.osl,
            gpus_per_node=8,
            agg=None,
            prefill=None,
            decode=None,
            notes=("gemm fp8_block priced as fp8",),
        )

    def solve(problem):
        seen["problem"] = problem
        time.sleep(seen["delay"])
        return solve_result(seen["feasible"])

    monkeypatch.setattr("costmodel.build.build_surfaces", build_surfaces)
    import solver.optimize as optimize

    monkeypatch.setattr(optimize, "solve", solve)
    return seen


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["aicsolve", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_route():
    assert cli._route(["spec.yaml", "--json"]) == ["solve", "spec.yaml", "--json"]
    assert cli._route(["--model", "x"]) == ["solve", "--model", "x"]
    for argv in (["solve", "s.yaml"], ["models"], ["systems"], ["data", "verify"], ["--help"], []):
        assert cli._route(argv) == argv


def test_spec_file_report_and_exit_0(monkeypatch, capsys, fakes):
    code, out, err = run(monkeypatch, capsys, QWEN)
    assert code == 0
    assert "Qwen/Qwen3-32B on 32 × h200_sxm" in out and "Top 1 agg" in out and "Pareto front" in out
    assert "note: gemm fp8_block priced as fp8" in err
    assert fakes["problem"].total_gpus == 32 and fakes["problem"].sla.tpot_ms == 10.0
    assert run(monkeypatch, capsys, "solve", QWEN)[0] == 0  # the explicit subcommand works too


def test_json_stdout_is_pure_json(monkeypatch, capsys, fakes):
    code, out, err = run(
        monkeypatch, capsys, QWEN, "--json", "--set", "sla.ttft_ms=200", "--top", "3", "--time-limit", "2.5"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["input"]["sla"]["ttft_ms"] == 200.0 and doc["input"]["model"] == "Qwen/Qwen3-32B"
    assert doc["input"]["notes"] == ["gemm fp8_block priced as fp8"]
    assert doc["best"]["agg"]["tokens_per_s_per_gpu"] == 1000.0 and "pareto" in doc and "top" in doc
    assert "note:" in err and "Qwen/Qwen3-32B on" not in err
    assert (fakes["problem"].top_n, fakes["problem"].time_limit_s) == (3, 2.5)


def test_infeasible_exits_1_with_the_reason(monkeypatch, capsys, fakes):
    fakes["feasible"] = False
    code, out, err = run(monkeypatch, capsys, QWEN)
    assert code == 1
    assert "No deployment meets the SLA." in out and "lowest reachable TPOT is 12 ms > 10 ms" in out
    code, out, err = run(monkeypatch, capsys, QWEN, "--json")
    assert code == 1 and json.loads(out)["best"] == {"agg": None, "disagg": None}
    assert "no deployment meets the SLA: agg: tpot: lowest reachable TPOT is 12 ms > 10 ms" in err


def test_bad_input_exits_2(monkeypatch, capsys, fakes, tmp_path):
    code, out, err = run(monkeypatch, capsys, QWEN, "--set", "sla.tpot=5")
    assert code == 2 and out == ""
    assert err == (
        "error: --set sla.tpot=5: unknown key 'sla.tpot' — did you mean 'sla.tpot_ms'? Keys allowed under "
        "'sla': ttft_ms, tpot_ms, min_tokens_per_s_per_user, max_request_latency_ms.\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: nope/nope\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 1, osl: 1}\n")
    code, _, err = run(monkeypatch, capsys, str(bad))
    assert code == 2 and err.startswith(f"error: {bad}, line 1: model: Unknown model 'nope/nope'.")
    code, _, err = run(monkeypatch, capsys, str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read spec file" in err
    assert run(monkeypatch, capsys, QWEN, "--no-such-option")[0] == 2
    assert run(monkeypatch, capsys, QWEN, "--top", "x")[0] == 2
    assert "request" not in fakes  # nothing was evaluated


def test_flags_only(monkeypatch, capsys, fakes):
    code, out, _ = run(monkeypatch, capsys, *FLAGS, "--backend", "vllm", "--json")
    assert code == 0
    req = fakes["request"]
    assert (req.model.name, req.system, req.backend, req.version, req.isl, req.osl) == (
        "Qwen/Qwen3-32B",
        "h200_sxm",
        "vllm",
        "0.24.0",
        1000,
        100,
    )
    assert json.loads(out)["input"]["source"] == "<flags>"
    code, _, err = run(monkeypatch, capsys, *FLAGS[:-2])  # the SLA flags are optional
    assert code == 0
    code, _, err = run(monkeypatch, capsys, "--model", "Qwen/Qwen3-32B", "--system", "h200_sxm")
    assert code == 2 and "missing required key 'total_gpus' (or pass --total-gpus)" in err


def test_flags_override_the_file(monkeypatch, capsys, fakes):
    assert run(monkeypatch, capsys, QWEN, "--tpot", "25", "--total-gpus", "16")[0] == 0
    assert fakes["problem"].sla.tpot_ms == 25.0 and fakes["problem"].total_gpus == 16


def test_progress_line_when_slow(monkeypatch, capsys, fakes):
    fakes["delay"] = 1.3
    code, _, err = run(monkeypatch, capsys, QWEN, "--json")
    assert code == 0 and "solving over 0 candidate rows (time limit 10 s)…" in err


def test_cold_import_and_help_load_nothing_heavy():
    code = (
        "import sys, solver.cli\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('numpy', 'ortools', 'costmodel', 'scipy')\n"
        "         or m in ('solver.spec', 'solver.report', 'solver.problem', 'tabulate')]\n"
        "assert not heavy, heavy\n"
        "sys.argv = ['aicsolve', '--help']\n"
        "try:\n    solver.cli.main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('numpy', 'ortools', 'costmodel')]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "SPEC.yaml" in done.stdout


def test_real_pipeline_end_to_end():
    """The real cost model and solver on a bundled example, through the installed entry point's code path."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from solver.cli import main; main()",
            str(ROOT / "specs" / "llama3.1-70b_h100x16_topology.yaml"),
            "--json",
            "--time-limit",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    doc = json.loads(done.stdout)
    assert doc["input"]["total_gpus"] == 16 and set(doc) >= {"best", "pareto", "top", "proven_optimal"}
    for d in doc["top"]["agg"] + doc["top"]["disagg"]:
        assert d["gpus_used"] <= 16 and d["ttft_ms"] <= 1000 and d["tpot_ms"] <= 30
        assert all(r["gpus_per_worker"] <= 8 for r in d["roles"])  # worker_within_node
