"""The one pipeline (solver.pipeline): load dispatches one-model and cluster specs; the one-model path stays out
of solver.cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from solver.cluster.problem import Cluster
from solver.pipeline import load
from solver.spec import Spec

ROOT = Path(__file__).resolve().parents[2]


def test_load_reads_a_one_model_spec_or_a_cluster():
    assert isinstance(load(ROOT / "specs" / "qwen3-32b_h200x32.yaml"), Spec)
    assert isinstance(load(ROOT / "specs" / "cluster_3models_h100x64_h200x64.yaml"), Cluster)


def test_load_applies_flags_then_overrides():
    spec = load(ROOT / "specs" / "qwen3-32b_h200x32.yaml", ["sla.ttft_ms=250"], {"total_gpus": 16})
    assert isinstance(spec, Spec) and spec.total_gpus == 16 and spec.sla.ttft_ms == 250


def test_a_one_model_spec_never_imports_the_cluster_package():
    code = (
        "import sys; from solver.pipeline import load; load(sys.argv[1]); "
        "print(sorted(m for m in sys.modules if m.startswith('solver.cluster')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "specs" / "qwen3-32b_h200x32.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert done.stdout.strip() == "[]"
