"""Dynamo bundles: real solves of both example specs on every backend, goldens, atomic writes, quoting."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

import solver.cli as cli
from costmodel.build import build_surfaces
from costmodel.config import mtp_settings
from costmodel.memory import KV_MEMORY_FRACTION
from solver.errors import InfeasibleError, UserError
from solver.export import bundle_files, chosen, export_bundle
from solver.export.engine import cuda_graph_sizes
from solver.export.placement import place
from solver.export.schema import DGD_SCHEMA, DNS_LABEL, validate
from solver.result import Deployment, RoleConfig, SolveResult
from solver.optimize import solve
from solver.spec import load_spec, to_problem

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
SPECS = {"qwen": ROOT / "specs" / "qwen3-32b_h200x32.yaml", "deepseek": ROOT / "specs" / "deepseek-r1_h200x64.yaml"}
BACKENDS = ("trtllm", "vllm", "sglang")
CASES = [(s, b) for s in SPECS for b in BACKENDS]


@pytest.fixture(scope="module", params=CASES, ids=[f"{s}-{b}" for s, b in CASES])
def bundle(request, tmp_path_factory):
    """(spec, result, DIR) of a real solve exported with --export-top 2."""
    spec = load_spec(SPECS[request.param[0]], [f"backend={request.param[1]}"])
    result = solve(to_problem(spec, build_surfaces(spec.request)))
    out = tmp_path_factory.mktemp("bundle") / "out"
    if result.best() is None:  # then nothing may be written
        pytest.raises(InfeasibleError, export_bundle, result, spec, out)
        assert not out.exists()
        pytest.skip("no feasible deployment; checked that nothing was written")
    assert all(p.is_file() for p in export_bundle(result, spec, out, top_n=2))
    return spec, result, out


def exported(result, out: Path) -> dict[str, tuple[Path, Deployment]]:
    picks = dict(chosen(result, 2))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(picks)
    return {f: (out / f, d) for f, d in picks.items()}


def read_back(backend: str, text: str) -> dict:
    """The worker layout an engine file describes, read the way the engine reads it."""
    doc = yaml.safe_load(text)
    if backend == "trtllm":  # tensor_parallel_size is the world; attention DP, when on, spans all of it
        world, pp = doc["tensor_parallel_size"], doc["pipeline_parallel_size"]
        ranks = world if doc["enable_attention_dp"] else 1
        return dict(
            gpus=world * pp,
            pp=pp,
            tp=world // ranks,
            dp=ranks,
            moe_tp=doc.get("moe_tensor_parallel_size", 1),
            moe_ep=doc.get("moe_expert_parallel_size", 1),
            batch=doc["max_batch_size"],
            per="rank",
            tokens=doc["max_num_tokens"],
            kv=doc["kv_cache_config"]["free_gpu_memory_fraction"],
        )
    f = doc["flags"]
    pp, dp, n = f["pipeline-parallel-size"], f["data-parallel-size"], f["tensor-parallel-size"]
    world = n * dp if backend == "vllm" else n  # SGLang's --tp is the world; vLLM's is per DP rank
    ep = (world if f["enable-expert-parallel"] else 1) if backend == "vllm" else f["expert-parallel-size"]
    assert backend == "vllm" or f["enable-dp-attention"] == (dp > 1)
    kv = f.get("gpu-memory-utilization", f.get("mem-fraction-static"))
    return dict(
        gpus=world * pp,
        pp=pp,
        tp=world // dp,
        dp=dp,
        moe_tp=world // ep,
        moe_ep=ep,
        kv=kv,
        **(
            dict(batch=f["max-num-seqs"], per="rank", tokens=f["max-num-batched-tokens"])
            if backend == "vllm"
            else dict(batch=f["max-running-requests"], per="worker", tokens=f["chunked-prefill-size"] // dp)
        ),
    )


def check_round_trip(spec, dep: Deployment, engine: dict[str, str]) -> None:
    backend = spec.request.backend
    for r in dep.roles:
        text, got = engine[r.role], read_back(backend, engine[r.role])
        assert (got["gpus"], got["pp"], got["tokens"], got["kv"]) == (
            r.gpus_per_worker,
            r.pp,
            r.max_num_tokens,
            KV_MEMORY_FRACTION,
        )
        assert "# Note:" not in text  # the engine runs the priced layout: nothing to translate
        assert (got["tp"], got["dp"]) == (r.tp, r.dp)
        if spec.arch.is_moe:
            assert (got["moe_tp"], got["moe_ep"]) == (r.moe_tp, r.moe_ep)
        total = r.batch * (r.dp if r.role == "prefill" else 1)
        assert got["batch"] == (total if got["per"] == "worker" else total // got["dp"])
        if backend == "sglang":  # decode batches priced as captured graphs are captured: the limit covers the rank
            assert yaml.safe_load(text)["flags"]["cuda-graph-max-bs"] == total // got["dp"]
        if backend == "trtllm":
            doc = yaml.safe_load(text)
            assert doc["cuda_graph_config"]["batch_sizes"] == cuda_graph_sizes(got["batch"])
            assert doc["kv_cache_config"]["dtype"] == {"fp8": "fp8"}.get(spec.request.quant.kv_cache, "auto")
            assert ("cache_transceiver_config" in doc) == (r.role != "agg")
            draft = mtp_settings(spec.request, dep.mode)[0]
            assert doc.get("speculative_config", {}).get("num_nextn_predict_layers", 0) == draft


def args_to_flags(args: list[str]) -> dict:
    """--key value pairs; a --key followed by another flag (or nothing) is a bare flag (True)."""
    pairs = zip(args, [*args[1:], "--"], strict=True)
    return {a[2:]: True if n.startswith("--") else n for a, n in pairs if a.startswith("--")}


def test_result_tables_and_plot(bundle):
    spec, result, out = bundle
    assert all(d is not None for p in out.rglob("*.yaml") for d in yaml.safe_load_all(p.read_text()))
    doc = json.loads((out / "result.json").read_text())
    assert doc["best"] == result.to_dict()["best"] and doc["input"]["backend"] == spec.request.backend
    rows = lambda name: list(csv.DictReader((out / name).open()))  # noqa: E731
    assert len(rows("pareto.csv")) == len(result.pareto_agg) + len(result.pareto_disagg)
    assert len(top := rows("top.csv")) == len(result.top_agg) + len(result.top_disagg)
    assert {r["exported"] for r in top} - {""} <= set(exported(result, out))
    texts = [t.text for t in ElementTree.parse(out / "pareto.svg").getroot().iter("{http://www.w3.org/2000/svg}text")]
    assert {"tokens/s/user", "tokens/s/GPU given", *exported(result, out)} <= set(texts)
    assert f"SLA: ≥ {1000 / spec.sla.tpot_ms:,.0f} tokens/s/user" in texts


def test_manifest_matches_the_configuration(bundle):
    spec, result, out = bundle
    for path, dep in exported(result, out).values():
        docs = list(yaml.safe_load_all((path / "k8s/deploy.yaml").read_text()))
        (dgd,) = [d for d in docs if d["kind"] == "DynamoGraphDeployment"]
        assert validate(dgd, DGD_SCHEMA) == []
        workers = [s for s in dgd["spec"]["services"].values() if s["componentType"] == "worker"]
        gpus = lambda s: int(s["resources"]["limits"]["gpu"]) * s.get("multinode", {}).get("nodeCount", 1)  # noqa
        assert sum(s["replicas"] * gpus(s) for s in workers) == dep.gpus_used
        by_role = {s.get("subComponentType", "agg"): s for s in workers}
        engine = {r.role: (path / f"engine/{r.role}.yaml").read_text() for r in dep.roles}
        for r in dep.roles:
            s = by_role[r.role]
            assert (s["replicas"], gpus(s)) == (r.workers * dep.replicas, r.gpus_per_worker)
            args = s["extraPodSpec"]["mainContainer"]["args"]
            assert args[1:4] == [
                spec.checkpoint.hf_id,
                "--served-model-name",
                spec.checkpoint.hf_id,
            ]  # priced checkpoint
            if spec.request.backend == "trtllm":
                assert [d["data"][f"{r.role}.yaml"] for d in docs if d["kind"] == "ConfigMap"] == [engine[r.role]]
                assert args[4:6] == ["--extra-engine-args", f"/engine/{r.role}.yaml"]
            else:
                flags = yaml.safe_load(engine[r.role])["flags"]
                assert args_to_flags(args[4:]) == {
                    k: v if v is True else str(v) for k, v in flags.items() if v is not False
                }
        check_round_trip(spec, dep, engine)


def shell_check(paths: list[Path]) -> None:
    assert all(subprocess.run(["bash", "-n", p]).returncode == 0 for p in paths)
    r = subprocess.run(["shellcheck", *paths], capture_output=True, text=True) if shutil.which("shellcheck") else None
    assert r is None or r.returncode == 0, r.stdout


def test_scripts_placement_and_benchmark(bundle):
    spec, result, out = bundle
    shell_check(sorted(out.rglob("*.sh")))
    for path, dep in exported(result, out).values():
        scripts = sorted((path / "launch").glob("node_*_run.sh"), key=lambda p: int(p.name.split("_")[1]))
        assert [p.name for p in scripts] == [f"node_{i}_run.sh" for i in range(len(scripts))]
        # each header line names one worker's GPUs on that node
        ids = [
            [
                int(g)
                for m in re.findall(r"^#   \w+ worker \d+: GPUs ([\d,]+)", p.read_text(), re.M)
                for g in m.split(",")
            ]
            for p in scripts
        ]
        assert all(len(n) == len(set(n)) and set(n) <= set(range(8)) for n in ids)
        assert sum(map(len, ids)) == dep.gpus_used and "dynamo.frontend" in scripts[0].read_text()
        script = (path / "bench/run_aiperf.sh").read_text()
        assert f"--synthetic-input-tokens-mean {spec.request.isl} " in script
        assert f"--output-tokens-mean {spec.request.osl} " in script and '--artifact-dir "$ARTIFACTS/c$c"' in script
        sweep = [int(c) for c in re.findall(r"^run (\d+) ", script, re.M)]
        assert dep.concurrency in sweep and min(sweep) < dep.concurrency < max(sweep) or dep.concurrency == 1
        cm, job = yaml.safe_load_all((path / "bench/aiperf-job.yaml").read_text())
        assert (cm["kind"], job["kind"], cm["data"]["run_aiperf.sh"]) == ("ConfigMap", "Job", script)
        env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        assert any(e["name"] == "URL" and e["value"].endswith("-frontend:8000") for e in env)


def make(mode: str, roles: tuple[RoleConfig, ...], replicas: int = 1) -> Deployment:
    gpus = replicas * sum(r.workers * r.gpus_per_worker for r in roles)
    return Deployment(
        mode,
        roles,
        replicas,
        gpus,
        ttft_ms=500.0,
        tpot_ms=20.0,
        tokens_per_s=100.0 * gpus,
        tokens_per_s_per_gpu=100.0,
        tokens_per_s_per_user=50.0,
        concurrency=replicas * roles[-1].workers * roles[-1].batch,
        req_per_s=1.0,
    )


# Fixed deployments for the goldens (so cost-model edits do not churn them): a dense agg (Qwen3-32B) and a
# MoE disagg with MTP (DeepSeek-R1). AICSOLVE_UPDATE_GOLDEN=1 rewrites tests/solver/golden/.
FIXED = {
    "agg": ("qwen", make("agg", (RoleConfig("agg", 1, 4, 1, 1, 1, 1, 4, 24, 8192, 0),), 2)),
    "disagg": (
        "deepseek",
        make(
            "disagg",
            (
                RoleConfig("prefill", 2, 1, 1, 8, 1, 8, 8, 1, 8192, 0),
                RoleConfig("decode", 1, 1, 1, 8, 1, 8, 8, 256, 8192, 0),
            ),
        ),
    ),
}


def result_of(d: Deployment) -> SolveResult:
    a, g = (d, None) if d.mode == "agg" else (None, d)
    return SolveResult(a, g, (a,) if a else (), (g,) if g else (), (a,) if a else (), (g,) if g else (), True, 0, 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ("agg", "disagg"))
def test_golden(mode, backend):
    name, dep = FIXED[mode]
    spec = load_spec(SPECS[name], [f"backend={backend}"])
    files = bundle_files(result_of(dep), spec, [(f"{mode}_1", dep)], None)
    keep = {k: v for k, v in files.items() if re.fullmatch(rf"{mode}_1/(k8s/deploy|engine/\w+)\.yaml", k)}
    base = GOLDEN / backend
    if os.environ.get("AICSOLVE_UPDATE_GOLDEN") == "1":
        shutil.rmtree(base / f"{mode}_1", ignore_errors=True)
        for k, text in keep.items():
            (base / k).parent.mkdir(parents=True, exist_ok=True)
            (base / k).write_text(text)
    have = {str(p.relative_to(base)) for p in (base / f"{mode}_1").rglob("*") if p.is_file()}
    assert have == set(keep) and all((base / k).read_text() == t for k, t in keep.items()), (
        "exported files differ from tests/solver/golden; rerun with AICSOLVE_UPDATE_GOLDEN=1 if intended"
    )
    check_round_trip(spec, dep, {r.role: files[f"{mode}_1/engine/{r.role}.yaml"] for r in dep.roles})


def test_targets_force_and_atomic_failure(tmp_path, monkeypatch):
    spec, res, out, blocker = load_spec(SPECS["qwen"]), result_of(FIXED["agg"][1]), tmp_path / "b", tmp_path / "f"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    blocker.write_text("x")
    for target, kw, msg in (
        (out, {}, "not empty; pass --force"),
        (blocker / "sub", {}, "not a writable folder"),
        (blocker, {}, "is a file"),
        (tmp_path / "x", {"image": "two words"}, "--image"),
    ):
        with pytest.raises(UserError, match=msg):
            export_bundle(res, spec, target, **kw)
    with pytest.raises(InfeasibleError):
        export_bundle(SolveResult(None, None, (), (), (), (), True, 0.0, 0.0), spec, tmp_path / "none")
    real, calls = sys.modules["solver.export"]._write_file, iter(range(1, 100))

    def flaky(path, text):  # the 5th file of each export fails
        if next(calls) % 5 == 0:
            raise RuntimeError("disk on fire")
        real(path, text)

    monkeypatch.setattr("solver.export._write_file", flaky)
    for target in (tmp_path / "new", out):  # a failure leaves no new folder and the old one as it was
        with pytest.raises(RuntimeError, match="disk on fire"):
            export_bundle(res, spec, target, force=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "f"] and (out / "keep.txt").read_text() == "mine"
    monkeypatch.setattr("solver.export._write_file", real)
    with pytest.raises(UserError, match=r"not an aicsolve bundle \(it has no result.json\).*--force --force"):
        export_bundle(res, spec, out, force=True)  # one --force replaces only a bundle
    export_bundle(res, spec, out, force=2)
    assert (
        not (out / "keep.txt").exists()
        and (out / "agg_1/k8s/deploy.yaml").is_file()
        and sorted(p.name for p in tmp_path.iterdir()) == ["b", "f"]
    )  # no temporary or backup folder left beside it
    (tmp_path / "empty").mkdir()
    assert export_bundle(res, spec, tmp_path / "empty")  # an empty folder needs no --force


@pytest.mark.parametrize("backend", BACKENDS)
def test_names_are_quoted_safely(tmp_path, backend, monkeypatch):
    raw = json.loads((ROOT / "data/models/qwen3-32b.json").read_text())["config"]
    folder = tmp_path / 'it\'s a "model" $(touch PWNED) dir'
    folder.mkdir()
    served = "acme/we\"ird 'model' `touch PWNED` $HOME"
    (folder / "config.json").write_text(json.dumps({**raw, "_name_or_path": served}))
    spec = load_spec(
        None,
        flags=dict(
            model=str(folder / "config.json"), system="h200_sxm", backend=backend, total_gpus=8, isl=1000, osl=100
        ),
    )
    export_bundle(result_of(FIXED["agg"][1]), spec, tmp_path / "out")
    path = tmp_path / "out/agg_1"
    (dgd,) = [d for d in yaml.safe_load_all((path / "k8s/deploy.yaml").read_text()) if d["kind"] != "ConfigMap"]
    assert re.fullmatch(DNS_LABEL, dgd["metadata"]["name"]) and validate(dgd, DGD_SCHEMA) == []
    worker = [s for s in dgd["spec"]["services"].values() if s["componentType"] == "worker"][0]
    assert worker["extraPodSpec"]["mainContainer"]["args"][1:4] == [str(folder), "--served-model-name", served]
    shell_check(sorted(path.rglob("*.sh")))
    monkeypatch.chdir(tmp_path)
    show = 'eval "$(grep -E "^DEFAULT_(MODEL|SERVED)=" "$1")"; printf "%s|%s" "$DEFAULT_MODEL" "${DEFAULT_SERVED-}"'
    for script, want in (("launch/node_0_run.sh", f"{folder}|{served}"), ("bench/run_aiperf.sh", f"{served}|")):
        assert subprocess.run(["bash", "-c", show, "_", path / script], capture_output=True, text=True).stdout == want
    assert not list(tmp_path.rglob("PWNED"))


def test_placement_graph_sizes_and_schema():
    pre = RoleConfig("prefill", 3, 4, 1, 1, 1, 1, 4, 1, 8192, 0)
    p = place(make("disagg", (pre, RoleConfig("decode", 1, 16, 1, 1, 1, 1, 16, 64, 8192, 0))), 8)
    assert [[(s.role, s.gpus, s.rank) for s in n] for n in p.nodes] == [
        [("decode", tuple(range(8)), 0)],
        [("decode", tuple(range(8)), 1)],
        [("prefill", (0, 1, 2, 3), 0), ("prefill", (4, 5, 6, 7), 0)],
        [("prefill", (0, 1, 2, 3), 0)],
    ]
    mixed = make("disagg", (pre, RoleConfig("decode", 1, 4, 1, 1, 1, 1, 4, 64, 8192, 0)))
    assert len(place(mixed, 8).nodes) == 2 and len(place(mixed, 8, separate=True).nodes) == 3
    assert all(len({s.role for s in n}) == 1 for n in place(mixed, 8, separate=True).nodes)
    assert (cuda_graph_sizes(1), cuda_graph_sizes(6), cuda_graph_sizes(8)) == ([1], [1, 2, 4, 6], [1, 2, 4, 8])
    svc = {
        "componentType": "worker",
        "replicas": 0,
        "resources": {"limits": {"gpu": 8}},
        "bogus": 1,
        "extraPodSpec": {"mainContainer": {"image": "x", "command": ["python3"], "args": [1]}},
    }
    errs = "\n".join(
        validate(
            {
                "apiVersion": "nvidia.com/v1alpha1",
                "kind": "DynamoGraphDeployment",  # all wrong
                "metadata": {"name": "Bad_Name"},
                "spec": {"services": {"W": svc}},
            },
            DGD_SCHEMA,
        )
    )
    assert all(
        p in errs
        for p in (
            "metadata.name",
            "missing 'Frontend'",
            "W.replicas: 0 < 1",
            "gpu: expected string",
            "args[0]: expected string",
            "unexpected key 'bogus'",
        )
    )


def test_cli_save_dir(tmp_path, monkeypatch, capsys):
    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["aicsolve", str(SPECS["qwen"]), "--save-dir", str(out), *args])
        with pytest.raises(SystemExit) as info:
            cli.main()
        return info.value.code, *capsys.readouterr()

    out = tmp_path / "bundle"
    code, stdout, err = run("--json")
    assert code == 0 and json.loads(stdout)["best"] and f"files to {out}" in err and (out / "agg_1/k8s").is_dir()
    assert run()[::2] == (
        2,
        f"error: --save-dir {out} exists and is not empty; pass --force to replace it (the old "
        "folder is removed only once the new bundle is complete) or name another folder.\n",
    )
    assert run("--force", "--export-top", "2")[0] == 0 and (out / "agg_2").is_dir()
