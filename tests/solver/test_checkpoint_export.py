"""The bundle loads the checkpoint that was priced, and says which one to produce when none is known
(issue 12, item 3)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from solver.export import bundle_files
from solver.report import render
from solver.result import Deployment, RoleConfig, SolveResult
from solver.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
README_SPEC = ROOT / "specs" / "qwen3-32b_h200x32.yaml"


def _agg(gpus: int) -> Deployment:
    role = RoleConfig("agg", 1, gpus, gpus, 1, 1, 1, gpus, 16, 8192, 0)
    return Deployment(
        mode="agg",
        roles=(role,),
        replicas=1,
        gpus_used=gpus,
        ttft_ms=100.0,
        tpot_ms=10.0,
        tokens_per_s=800.0,
        tokens_per_s_per_gpu=100.0,
        tokens_per_s_per_user=50.0,
        concurrency=16,
        req_per_s=1.0,
    )


def _bundle(spec, dep: Deployment) -> dict[str, str]:
    res = SolveResult(dep, None, (dep,), (), (dep,), (), True, 0, 0)
    return bundle_files(res, spec, [("agg_1", dep)], None)


def _worker_args(files: dict[str, str]) -> list[str]:
    docs = [d for d in yaml.safe_load_all(files["agg_1/k8s/deploy.yaml"]) if d and d["kind"] == "DynamoGraphDeployment"]
    svc = [s for s in docs[0]["spec"]["services"].values() if s["componentType"] == "worker"]
    return svc[0]["extraPodSpec"]["mainContainer"]["args"]


def _script_value(text: str, var: str) -> str:
    line = next(x for x in text.splitlines() if x.startswith(f"{var}="))
    return shlex.split(line.partition("=")[2])[0]


@pytest.mark.parametrize("backend", ("trtllm", "vllm", "sglang"))
def test_readme_spec_loads_the_fp8_checkpoint_it_prices(backend):
    spec = load_spec(README_SPEC, [f"backend={backend}"])
    assert spec.request.quant.gemm == "fp8_block" and spec.model == "Qwen/Qwen3-32B"
    files = _bundle(spec, _agg(4))
    args = _worker_args(files)
    assert args[:4] == [args[0], "Qwen/Qwen3-32B-FP8", "--served-model-name", "Qwen/Qwen3-32B-FP8"]
    assert _script_value(files["agg_1/launch/node_0_run.sh"], "DEFAULT_MODEL") == "Qwen/Qwen3-32B-FP8"
    assert _script_value(files["agg_1/bench/run_aiperf.sh"], "DEFAULT_MODEL") == "Qwen/Qwen3-32B-FP8"  # tokenizer
    assert 'Qwen/Qwen3-32B"' not in files["agg_1/k8s/deploy.yaml"]  # bf16 weights are never named
    assert json.loads(files["result.json"])["input"]["checkpoint"] == {
        "hf_id": "Qwen/Qwen3-32B-FP8",
        "provides": "gemm fp8_block",
        "note": None,
    }
    assert "Checkpoint: `Qwen/Qwen3-32B-FP8` holds these weights (gemm fp8_block)." in files["agg_1/README.md"]


def test_no_known_checkpoint_is_named_in_report_json_readme_and_beside_the_model_flag():
    spec = load_spec(
        None,
        flags=dict(model="deepseek-ai/DeepSeek-V3", system="b200_sxm", total_gpus=8, isl=1000, osl=500, tpot=50),
        overrides=["quantization.gemm=nvfp4", "quantization.moe=nvfp4"],
    )
    note = (
        "no known checkpoint of deepseek-ai/DeepSeek-V3 has nvfp4 GEMM weights and nvfp4 experts: produce one "
        "(quantize deepseek-ai/DeepSeek-V3 to nvfp4 GEMM weights and nvfp4 experts, e.g. with NVIDIA ModelOpt or "
        "llm-compressor) and load it instead of deepseek-ai/DeepSeek-V3"
    )
    assert spec.summary()["checkpoint"] == {
        "hf_id": "deepseek-ai/DeepSeek-V3",
        "provides": "gemm nvfp4, moe nvfp4",
        "note": note,
    }
    dep = _agg(8)
    assert f"  checkpoint    {note}\n" in render(
        SolveResult(dep, None, (dep,), (), (dep,), (), True, 0, 0), spec.summary()
    )
    files = _bundle(spec, dep)
    assert f"**Checkpoint to produce:** {note}." in files["README.md"]
    assert f"**Checkpoint to produce:** {note}." in files["agg_1/README.md"]
    deploy = files["agg_1/k8s/deploy.yaml"].splitlines()
    i = next(k for k, line in enumerate(deploy) if line.strip().startswith("args:") and "deepseek" in line.lower())
    assert (
        deploy[i - 1].strip() == "# --model-path deepseek-ai/DeepSeek-V3: not the priced weights yet (see the "
        "checkpoint note above)"
    )
    run = files["agg_1/launch/node_0_run.sh"].splitlines()
    j = next(k for k, line in enumerate(run) if line.startswith("DEFAULT_MODEL="))
    assert run[j - 1] == f"# Checkpoint: {note}; then set MODEL to it."
    assert f"# Checkpoint: {note}." in files["agg_1/engine/agg.yaml"]
