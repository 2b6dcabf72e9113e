"""Kubernetes names and served model names of exported bundles: the Grove 45-character budget over every bundled
model, backend and mode (multinode included), and local model folders named by their folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from costmodel.arch import list_models
from solver.export import bundle_files
from solver.export.names import GROVE_NAME_LIMIT, dgd_name, grove_name_errors
from solver.result import Deployment, RoleConfig, SolveResult
from solver.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("trtllm", "vllm", "sglang")


def webhook_length(dgd: dict, service: str) -> int:
    """Restated from the Dynamo webhook (dgdComponentResourceNameLength): DGD name + lowercase service name, plus
    the leader PodClique name (service + "-ldr") for a multinode service."""
    body, svc = dgd["spec"]["services"][service], service.lower()
    multinode = body.get("multinode", {}).get("nodeCount", 1) > 1
    return len(dgd["metadata"]["name"]) + len(svc) + (len(svc) + 4 if multinode else 0)


def deployment(mode: str, multinode: bool) -> Deployment:
    big = (8, 2, 16) if multinode else (8, 1, 8)  # tp, pp, GPUs: a 16-GPU worker spans two 8-GPU nodes
    role = lambda name, w, b: RoleConfig(name, w, big[0], big[1], 1, 1, 1, big[2], b, 8192, 0)  # noqa: E731
    roles = (role("agg", 1, 64),) if mode == "agg" else (role("prefill", 2, 1), role("decode", 1, 64))
    gpus = sum(r.workers * r.gpus_per_worker for r in roles)
    return Deployment(mode, roles, 1, gpus, 500.0, 20.0, 100.0 * gpus, 100.0, 50.0, 64, 1.0)


def manifest(spec, dep: Deployment, folder: str) -> dict:
    a, g = (dep, None) if dep.mode == "agg" else (None, dep)
    res = SolveResult(a, g, (a,) if a else (), (g,) if g else (), (a,) if a else (), (g,) if g else (), True, 0, 0)
    files = bundle_files(res, spec, [(folder, dep)], None)  # raises on a name over the budget (self-check)
    (dgd,) = [d for d in yaml.safe_load_all(files[f"{folder}/k8s/deploy.yaml"]) if d["kind"] != "ConfigMap"]
    return dgd


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_bundled_model_fits_the_grove_name_budget(backend):
    seen, served, longest = set(), set(), 0
    for hf_id, _ in list_models():
        spec = load_spec(
            None, flags=dict(model=hf_id, system="b200_sxm", backend=backend, total_gpus=64, isl=1000, osl=100)
        )
        served.add(spec.served_model_name)  # a release the backend cannot run as priced loads its base checkpoint
        for mode in ("agg", "disagg"):
            for multinode in (False, True):
                folder = f"{mode}_{12 if multinode else 1}"
                dgd = manifest(spec, deployment(mode, multinode), folder)
                assert grove_name_errors(dgd) == []
                for svc in dgd["spec"]["services"]:
                    assert webhook_length(dgd, svc) <= GROVE_NAME_LIMIT, (hf_id, mode, svc)
                    longest = max(longest, webhook_length(dgd, svc))
                assert any(s.get("multinode") for s in dgd["spec"]["services"].values()) == multinode
                seen.add(dgd["metadata"]["name"])
    assert len(seen) == 4 * len(served)  # distinct per served checkpoint, mode and folder
    assert longest == GROVE_NAME_LIMIT  # the long names use the whole budget, no more


def test_the_issue_case_and_short_names():
    # Qwen/Qwen3-235B-A22B-FP8 disagg on trtllm was "qwen3-235b-a22b-fp8-trtllm-disagg-1" + TRTLLMPrefillWorker:
    # 35 + 19 = 54 characters; with a multinode decode worker the leader PodClique adds 22 more.
    spec = load_spec(
        None,
        flags=dict(
            model="Qwen/Qwen3-235B-A22B-FP8", system="h200_sxm", backend="trtllm", total_gpus=64, isl=1000, osl=100
        ),
    )
    dgd = manifest(spec, deployment("disagg", True), "disagg_1")
    assert sorted(dgd["spec"]["services"]) == ["Frontend", "decode", "prefill"]
    name = dgd["metadata"]["name"]
    assert len(name) <= 45 - len("prefill") - len("prefill-ldr") == 27
    assert name.startswith("qwen3-") and name.endswith("-trtllm-disagg-1")
    assert (
        manifest(spec, deployment("disagg", False), "disagg_1")["metadata"]["name"]
        == "qwen3-235b-a22b-fp8-trtllm-disagg-1"
    )  # single-node services leave room for the whole name (35 + 8)
    assert dgd_name("Qwen/Qwen3-32B", "vllm", "agg_1", [("worker", False)]) == "qwen3-32b-vllm-agg-1"


def test_long_names_stay_distinct_and_deterministic():
    svc = [("prefill", True), ("decode", True)]
    names = {dgd_name(f"org/{'x' * 40}-{i}", "sglang", "disagg_1", svc) for i in range(50)}
    assert len(names) == 50 and all(len(n) <= 45 - 7 - 11 for n in names)
    assert dgd_name("org/" + "y" * 60, "sglang", "disagg_1", svc) == dgd_name(
        "org/" + "y" * 60, "sglang", "disagg_1", svc
    )
    assert grove_name_errors(
        {"metadata": {"name": "n" * 30}, "spec": {"services": {"prefill": {"multinode": {"nodeCount": 2}}}}}
    ) == ["DGD name '" + "n" * 30 + "' + service 'prefill' = 48 characters > 45"]


def local_model(tmp_path: Path, name_or_path: str | None = None) -> Path:
    raw = json.loads((ROOT / "data/models/qwen3-32b.json").read_text())["config"]
    raw.pop("_name_or_path", None)
    folder = tmp_path / "my-finetune-v2"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({**raw, **({"_name_or_path": name_or_path} if name_or_path else {})})
    )
    return folder


def test_local_model_is_named_by_its_folder(tmp_path):
    folder = local_model(tmp_path)
    for model in (folder, folder / "config.json"):
        spec = load_spec(
            None, flags=dict(model=str(model), system="h200_sxm", backend="vllm", total_gpus=8, isl=1000, osl=100)
        )
        assert (spec.model_path, spec.served_model_name, spec.arch.name) == (str(folder), "my-finetune-v2", str(folder))
        dep = deployment("agg", False)
        a = SolveResult(dep, None, (dep,), (), (dep,), (), True, 0, 0)
        files = bundle_files(a, spec, [("agg_1", dep)], None)
        (dgd,) = [d for d in yaml.safe_load_all(files["agg_1/k8s/deploy.yaml"]) if d["kind"] != "ConfigMap"]
        assert dgd["metadata"]["name"] == "my-finetune-v2-vllm-agg-1"  # was config-json-vllm-agg-1
        args = dgd["spec"]["services"]["worker"]["extraPodSpec"]["mainContainer"]["args"]
        assert args[:4] == ["--model", str(folder), "--served-model-name", "my-finetune-v2"]
        bench = files["agg_1/bench/run_aiperf.sh"]
        assert "DEFAULT_MODEL=my-finetune-v2\n" in bench and f"DEFAULT_TOKENIZER={folder}\n" in bench
        assert "config.json" not in files["agg_1/k8s/deploy.yaml"] + bench + files["agg_1/launch/node_0_run.sh"]


def test_model_path_and_served_name_keys(tmp_path):
    folder = local_model(tmp_path, name_or_path="acme/Finetune-7")
    spec = load_spec(
        None, flags=dict(model=str(folder), system="h200_sxm", backend="sglang", total_gpus=8, isl=1000, osl=100)
    )
    assert (spec.model_path, spec.served_model_name) == (str(folder), "acme/Finetune-7")  # the config's own HF id
    spec = load_spec(
        None,
        ["model_path=/models/ft", "served_model_name=ft-chat"],
        flags=dict(model=str(folder), system="h200_sxm", backend="trtllm", total_gpus=8, isl=1000, osl=100),
    )
    assert (spec.model_path, spec.served_model_name) == ("/models/ft", "ft-chat")
    dep = deployment("agg", False)
    files = bundle_files(SolveResult(dep, None, (dep,), (), (dep,), (), True, 0, 0), spec, [("agg_1", dep)], None)
    (dgd,) = [d for d in yaml.safe_load_all(files["agg_1/k8s/deploy.yaml"]) if d["kind"] != "ConfigMap"]
    assert dgd["metadata"]["name"] == "ft-chat-trtllm-agg-1"
    assert dgd["spec"]["services"]["worker"]["extraPodSpec"]["mainContainer"]["args"][:4] == [
        "--model-path",
        "/models/ft",
        "--served-model-name",
        "ft-chat",
    ]
    assert "DEFAULT_TOKENIZER=/models/ft\n" in files["agg_1/bench/run_aiperf.sh"]
    registry = load_spec(None, flags=dict(model="QWEN3_32B", system="h200_sxm", total_gpus=8, isl=1000, osl=100))
    assert (registry.model_path, registry.served_model_name) == ("Qwen/Qwen3-32B", "Qwen/Qwen3-32B")
