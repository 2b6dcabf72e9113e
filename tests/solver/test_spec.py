"""Spec loading: defaults, exact error messages, overrides, flags-only specs and the schema file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.arch import load_model
from costmodel.paths import data_dir
from solver.errors import UserError
from solver.spec import (
    Spec,
    apply_overrides,
    load_spec,
    spec_from_raw,
    to_problem,
    to_request,
)
from solver.specfields import FIELDS, SCHEMA_PATH, schema

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
BASE = {
    "model": "Qwen/Qwen3-32B",
    "system": "h200_sxm",
    "total_gpus": 32,
    "workload": {"isl": 4000, "osl": 500},
    "sla": {"ttft_ms": 300, "tpot_ms": 10},
}


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(*args, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        load_spec(*args, **kwargs)
    return str(info.value)


def test_examples_load():
    assert {p.name for p in SPECS} >= {
        "qwen3-32b_h200x32.yaml",
        "deepseek-r1_h200x64.yaml",
        "llama3.1-70b_h100x16_topology.yaml",
    }
    from solver.cluster.problem import Cluster
    from solver.pipeline import load as spec_or_cluster

    kinds = {path.name: type(spec_or_cluster(path)) for path in SPECS}
    assert kinds.pop("cluster_3models_h100x64_h200x64.yaml") is Cluster
    assert set(kinds.values()) == {Spec}
    qwen = load_spec(ROOT / "specs/qwen3-32b_h200x32.yaml")
    assert (qwen.total_gpus, qwen.request.isl, qwen.request.osl) == (32, 4000, 500)
    assert (qwen.sla.ttft_ms, qwen.sla.tpot_ms) == (300.0, 10.0)
    assert (qwen.request.quant.gemm, qwen.request.quant.kv_cache) == ("fp8_block", "fp8")
    r1 = load_spec(ROOT / "specs/deepseek-r1_h200x64.yaml")
    assert r1.request.search.dp == (1, 2, 4, 8, 16) and r1.request.search.tp == (1, 2, 4, 8)  # MoE default
    assert (r1.request.quant.gemm, r1.request.quant.moe) == ("fp8_block", "fp8_block")  # native weights
    llama = load_spec(ROOT / "specs/llama3.1-70b_h100x16_topology.yaml")
    topo = llama.constraints.topology
    assert (topo.gpus_per_node, topo.worker_within_node, topo.max_nodes) == (8, True, 2)
    assert llama.request.search.max_gpus_per_worker == 8  # within-node workers cap the grid
    assert llama.request.search.dp == (1,) and llama.request.quant.gemm == "bfloat16"


def test_defaults_cover_the_space():
    spec = spec_from_raw(BASE)
    r = spec.request
    assert r.backend == "trtllm" and r.version == "1.3.0rc20" and r.modes == ("agg", "disagg")
    assert r.search.tp == (1, 2, 4, 8) and r.search.pp == (1,) and r.search.moe_ep is None
    assert spec.constraints.topology is None and spec.constraints.replicas_min == 1
    assert (spec.time_limit_s, spec.seed, spec.top_n) == (10.0, 0, 5)
    assert spec_from_raw({**BASE, "backend": "vllm"}).request.version == "0.24.0"


def test_unknown_key_names_path_line_and_suggestion(tmp_path):
    path = write(
        tmp_path,
        "model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: 8\n"
        "workload: {isl: 100, osl: 100}\nsla:\n  ttft_ms: 300\n  tpot: 10\n",
    )
    assert error_of(path) == (
        f"{path}, line 7: unknown key 'sla.tpot' — did you mean 'sla.tpot_ms'? Keys allowed under 'sla': "
        "ttft_ms, tpot_ms, min_tokens_per_s_per_user, max_request_latency_ms."
    )
    path = write(tmp_path, "modle: x\n")
    assert error_of(path).startswith(
        f"{path}, line 1: unknown key 'modle' — did you mean 'model'? Keys allowed at "
        "the top level: model, system, decode_system,"
    )


def test_wrong_type_and_bad_values(tmp_path):
    path = write(tmp_path, "model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: '32'\nworkload: {isl: 1, osl: 1}\n")
    assert error_of(path) == (
        f"{path}, line 3: total_gpus must be an integer ≥ 1; got '32' (a string). "
        "(total_gpus: GPUs available; a deployment may use fewer.)"
    )
    path = write(
        tmp_path,
        "model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: 32\nworkload: {isl: 1, osl: 1}\nsearch:\n  tp: [1, 3]\n",
    )
    assert error_of(path) == (
        f"{path}, line 6: search.tp must be a list of integers ≥ 1, a power of two, e.g. [1, 2, 4, 8]; got [1, 3] "
        "(a list). Offending item: 3. (search.tp: tensor-parallel sizes.)"
    )
    assert error_of(path, ["search.tp=[2]", "sla.ttft_ms=-5"]) == (
        "--set sla.ttft_ms=-5: sla.ttft_ms must be a number > 0, or a mapping such as {p90: 500} (keys: mean, p50, p90, p95, p99), or null; got -5 (an integer). "
        "(sla.ttft_ms: time-to-first-token bound in ms (a number: the mean; {p90: 500}: percentiles).)"
    )
    assert "got 0 (an integer)" in error_of(path, ["search.tp=[2]", "workload.isl=0"])
    assert "got true (a boolean)" in error_of(path, ["search.tp=[2]", "total_gpus=true"])
    assert "Write a non-empty YAML list, e.g. [4] for one value." in error_of(path, ["search.tp=4"])
    assert "Offending item: 'agx'. Did you mean 'agg'?" in error_of(path, ["search.tp=[2]", "modes=[agx]"])
    assert 'Quote it: "1.0".' in error_of(path, ["search.tp=[2]", "backend_version=1.0"])


def test_unknown_system_backend_and_dtype():
    assert error_of(None, ["system=h200", "model=QWEN3_32B", "total_gpus=8", "workload={isl: 1, osl: 1}"]) == (
        "--set system=h200: system must be one of: h100_sxm, h200_sxm, b200_sxm, gb200, b300_sxm, gb300; got 'h200' (a string). "
        "Did you mean 'h200_sxm'? (system: GPU system (of the prefill workers if decode_system is set).)"
    )
    base = [f"{k}={json.dumps(v)}" for k, v in BASE.items()]
    msg = error_of(None, [*base, "backend=trt"])
    assert "backend must be one of: trtllm, vllm, sglang; got 'trt' (a string)." in msg
    assert (
        "quantization.gemm must be one of: bfloat16, fp8, fp8_block, nvfp4, or null; got 'fp9' (a string). "
        "Did you mean 'fp8'?" in error_of(None, [*base, "quantization.gemm=fp9"])
    )
    assert error_of(None, [*base, "backend_version=9.9"]) == (
        "--set backend_version=9.9: backend_version must be a string, or null; got 9.9 (a number). Quote it: "
        '"9.9". (backend_version: measured engine version; null: trtllm 1.3.0rc20, vllm 0.24.0, sglang 0.5.14.)'
    )
    assert error_of(None, [*base, "backend_version='9.9'"]) == (
        "--set backend_version='9.9': backend_version: no measured data for trtllm 9.9 on h200_sxm (system); "
        "measured: 1.3.0rc20."
    )
    msg = error_of(None, [*base, "quantization.gemm=nvfp4"])
    assert msg.startswith(
        "--set quantization.gemm=nvfp4: quantization.gemm: nvfp4 needs FP4 tensor cores, which h200_sxm lacks"
    )


def test_unknown_model(tmp_path):
    path = write(tmp_path, yaml.safe_dump({**BASE, "model": "qwen3-32"}, sort_keys=False))
    assert error_of(path) == (
        f"{path}, line 1: model: Unknown model 'qwen3-32'. Did you mean: QWEN3_32B, Qwen/Qwen3-32B, QWEN3_32B_FP8? "
        "`aicsolve models` lists the known ones; a path to an HF config.json (relative to the spec file) works too."
    )


def test_model_path_is_relative_to_the_spec(tmp_path):
    cfg = json.loads((data_dir() / "models" / "qwen3-8b.json").read_text())["config"]
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(cfg))
    path = write(tmp_path, yaml.safe_dump({**BASE, "model": "ckpt/config.json"}))
    spec = load_spec(path)
    assert spec.model == str((tmp_path / "ckpt" / "config.json").resolve())
    assert spec.arch.hidden == load_model("Qwen/Qwen3-8B").hidden


def test_cross_key_checks():
    base = [f"{k}={json.dumps(v)}" for k, v in BASE.items()]
    assert "Qwen/Qwen3-32B is a dense model" in error_of(None, [*base, "search.dp=[1,2]"])
    assert error_of(None, [*base, "constraints.fixed.tp=4", "search.tp=[1,2]"]) == (
        "--set constraints.fixed.tp=4: constraints.fixed.tp is 4 but search.tp [1, 2] does not include it; add 4 to "
        "search.tp or drop one."
    )
    assert "min 3 exceeds max 2" in error_of(None, [*base, "constraints.replicas={min: 3, max: 2}"])
    assert "exceeds Qwen/Qwen3-32B's context window of 40960" in error_of(None, [*base, "workload.isl=40500"])
    spec = load_spec(
        None, [*base, "constraints.fixed.tp=4", "constraints.max_gpus_per_worker=4", "search.max_gpus_per_worker=8"]
    )
    assert spec.request.search.tp == (4,) and spec.constraints.fixed == {"tp": 4}
    assert spec.request.search.max_gpus_per_worker == 4


def test_yaml_level_errors(tmp_path):
    assert error_of(write(tmp_path, "model: a\nmodel: b\n")).endswith("line 2: key 'model' appears twice; keep one.")
    assert re.search(r"line 2: not valid YAML", error_of(write(tmp_path, "model: [a\n")))
    msg = error_of(write(tmp_path, "- a\n"))
    assert msg.endswith('a spec is a YAML mapping (model: …, system: …); got ["a"] (a list).')
    assert error_of(tmp_path / "missing.yaml").startswith(f"cannot read spec file {tmp_path / 'missing.yaml'}")


def test_apply_overrides():
    raw = {"sla": {"ttft_ms": 300}, "search": {"tp": [1]}}
    out = apply_overrides(
        raw, ["sla.ttft_ms=200", "search.tp=[1,2]", "constraints.fixed.tp=4", "model=QWEN3_8B", "sla.tpot_ms="]
    )
    assert out == {
        "sla": {"ttft_ms": 200, "tpot_ms": None},
        "search": {"tp": [1, 2]},
        "constraints": {"fixed": {"tp": 4}},
        "model": "QWEN3_8B",
    }
    assert raw == {"sla": {"ttft_ms": 300}, "search": {"tp": [1]}}  # the input is left alone
    for bad in ("noequals", "=3", "a..b=1"):
        with pytest.raises(UserError, match="expected KEY=VALUE with a dotted key"):
            apply_overrides(raw, [bad])
    with pytest.raises(UserError, match="'sla.ttft_ms' is 300 .an integer., not a mapping"):
        apply_overrides(raw, ["sla.ttft_ms.x=1"])
    with pytest.raises(UserError, match="is not valid YAML"):
        apply_overrides(raw, ["search.tp=[1,2"])


def test_overrides_win_over_the_file(tmp_path):
    path = write(tmp_path, yaml.safe_dump(BASE))
    spec = load_spec(path, ["sla.ttft_ms=200", "search.tp=[1,2]"], {"tpot": 20, "total_gpus": 16})
    assert (spec.sla.ttft_ms, spec.sla.tpot_ms, spec.total_gpus) == (200.0, 20.0, 16)
    assert spec.request.search.tp == (1, 2)


def test_flags_only_spec():
    flags = {
        "model": "Qwen/Qwen3-32B",
        "system": "h200_sxm",
        "total_gpus": 32,
        "isl": 4000,
        "osl": 500,
        "ttft": 300,
        "tpot": 10,
        "backend": "sglang",
    }
    spec = load_spec(None, flags=flags)
    assert spec.source == "<flags>" and spec.request.backend == "sglang" and spec.request.version == "0.5.14"
    assert (spec.total_gpus, spec.request.isl, spec.sla.tpot_ms) == (32, 4000, 10.0)
    assert error_of(None, flags={**flags, "total_gpus": None}) == (
        "missing required key 'total_gpus' (or pass --total-gpus): an integer ≥ 1 (GPUs available; a deployment may "
        "use fewer). To size the deployment to a load instead, give demand.requests_per_s or demand.tokens_per_s."
    )
    assert error_of(None, flags={**flags, "total_gpus": 0}).startswith("--total-gpus 0: total_gpus must be")


def test_to_request_and_problem():
    spec = spec_from_raw(
        {
            **BASE,
            "solver": {"time_limit_s": 3, "seed": 7, "top_n": 2},
            "modes": ["disagg"],
            "constraints": {"role_gpu_budget": {"prefill": 8}, "replicas": {"max": 4}},
        }
    )
    req = to_request(spec)
    assert req.model.name == "Qwen/Qwen3-32B" and req.modes == ("disagg",)
    problem = to_problem(spec, surfaces="SURFACES")
    assert problem.surfaces == "SURFACES" and problem.total_gpus == 32 and problem.modes == ("disagg",)
    assert (problem.time_limit_s, problem.seed, problem.top_n) == (3.0, 7, 2)
    assert problem.constraints.role_gpu_budget == {"prefill": 8} and problem.constraints.replicas_max == 4
    assert spec.summary()["sla"] == {
        "ttft_ms": 300.0,
        "tpot_ms": 10.0,
        "min_tokens_per_s_per_user": None,
        "max_request_latency_ms": None,
        "ttft_pct": [],
        "tpot_pct": [],
    }


def test_schema_file_is_fresh():
    assert SCHEMA_PATH == ROOT / "specs" / "aicsolve.schema.json" or not SCHEMA_PATH.exists()  # installed copy
    assert json.loads((ROOT / "specs" / "aicsolve.schema.json").read_text()) == schema(), "run: python -m solver.spec"


def test_examples_match_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    for path in SPECS:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**BASE, "sla": {"tpot": 1}}, schema())


def test_every_key_is_documented():
    doc = (ROOT / "docs" / "spec.md").read_text()
    for f in FIELDS:
        if f.kind != "section":
            leaf = f.path.rpartition(".")[2]
            assert f"`{f.path}`" in doc or f"`.{leaf}`" in doc or f"/ `.{leaf}`" in doc, f.path


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_any_unknown_key_is_rejected_with_its_path(key):
    if key in {"ttft_ms", "tpot_ms", "min_tokens_per_s_per_user", "max_request_latency_ms"}:
        return
    with pytest.raises(UserError, match=f"unknown key 'sla.{key}'"):
        spec_from_raw({**BASE, "sla": {key: 1}})


def test_speculative_keys_reach_the_cost_model():
    ds = load_spec(
        None,
        ["speculative.mtp_draft_tokens=2", "speculative.mtp_acceptance=0.5"],
        dict(model="DEEPSEEK_R1", system="h200_sxm", total_gpus=8, isl=1000, osl=100),
    )
    assert (ds.request.mtp_draft, ds.request.mtp_accept) == (2, 0.5)
    assert ds.summary()["mtp"]["agg"] == ds.summary()["mtp"]["disagg"] == {"draft_tokens": 2, "acceptance": 0.5}
    default = load_spec(None, [], dict(model="DEEPSEEK_R1", system="h200_sxm", total_gpus=8, isl=1000, osl=100))
    assert default.summary()["mtp"]["agg"] == {"draft_tokens": 3, "acceptance": 0.8}  # trtllm recipe
    sg = load_spec(
        None, ["backend=sglang"], dict(model="DEEPSEEK_R1", system="h200_sxm", total_gpus=8, isl=1000, osl=100)
    )
    assert sg.summary()["mtp"]["agg"]["draft_tokens"] == 0 and sg.summary()["mtp"]["disagg"]["draft_tokens"] == 3
    dense = load_spec(
        None,
        ["speculative.mtp_draft_tokens=3"],
        dict(model="QWEN3_32B", system="h200_sxm", total_gpus=8, isl=1000, osl=100),
    )
    assert dense.summary()["mtp"]["agg"]["draft_tokens"] == 0  # no MTP layers: nothing to draft with
    with pytest.raises(UserError, match=r"speculative.mtp_acceptance must be a number ≥ 0 and ≤ 1"):
        load_spec(
            None,
            ["speculative.mtp_acceptance=1.5"],
            dict(model="DEEPSEEK_R1", system="h200_sxm", total_gpus=8, isl=1000, osl=100),
        )
