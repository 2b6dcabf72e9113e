"""Engine rules as data: the search prices only layouts and disagg pairs the backend runs, and the exporters
render exactly the priced layout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

import costmodel.engines as engines
from costmodel.layout_rules import layouts, search_layouts
from costmodel.engines import EngineDataError, attention_kind, engine_rules
from solver.constraints import broken_rules
from solver.errors import UserError
from solver.export.engine import role_engines
from solver.result import Deployment, RoleConfig
from solver.optimize import solve
from solver.spec import load_spec, spec_from_raw, to_problem
from tests.solver.specs import DEEPSEEK_NVFP4_B200

ROOT = Path(__file__).resolve().parents[2]


def _spec(**kw):
    raw = {
        "system": "h200_sxm",
        "total_gpus": 32,
        "workload": {"isl": 4000, "osl": 1000},
        "sla": {"ttft_ms": 3000, "tpot_ms": 50},
        **kw,
    }
    return spec_from_raw(raw)


@pytest.mark.parametrize("backend", ["trtllm", "vllm", "sglang"])
def test_every_searched_layout_is_one_the_backend_runs(backend):
    spec = _spec(model="deepseek-ai/DeepSeek-R1", backend=backend)
    lays = np.array(layouts(spec.request))
    tp, dp, moe_tp, moe_ep = lays[:, 0], lays[:, 2], lays[:, 3], lays[:, 4]
    if backend == "trtllm":  # attention is TP or DP, never both
        assert np.all((tp == 1) | (dp == 1))
    else:  # vLLM and SGLang run attention TP x DP
        assert np.any((tp > 1) & (dp > 1))
    if backend == "vllm":  # experts all-TP or all-EP
        assert np.all((moe_tp == 1) | (moe_ep == 1))
    else:
        assert np.any((moe_tp > 1) & (moe_ep > 1))
    # the rules only remove layouts: every removed one breaks a rule
    removed = set(search_layouts(spec.request)) - set(map(tuple, lays.tolist()))
    assert all(not engine_rules(backend).layout_ok(t, d, mt, me) for t, _, d, mt, me in removed)
    assert (backend == "sglang") == (not removed)


def test_deepseek_h100_trtllm_exports_the_priced_layout():
    # Before: attention TP 8 x DP 2 at batch 96 was priced (TTFT 2.9 s) and exported as attention DP 16.
    # Runnable now: attention DP 16 (tp 1) or TP 16; DP 16 alone cannot meet TTFT 3 s, so TP 16 is searched too.
    spec = _spec(model="deepseek-ai/DeepSeek-R1", system="h100_sxm", backend="trtllm", search={"tp": [1, 2, 4, 8, 16]})
    from costmodel.build import build_surfaces

    result = solve(to_problem(spec, build_surfaces(spec.request)))
    deps = [d for d in (*result.top_agg, *result.top_disagg, *result.pareto_agg, *result.pareto_disagg)]
    assert deps
    for dep in deps:
        for r, eng in zip(dep.roles, role_engines(dep, spec)):
            assert r.tp == 1 or r.dp == 1
            assert eng.config["tensor_parallel_size"] == r.tp * r.dp
            assert eng.config["enable_attention_dp"] == (r.dp > 1)
            assert eng.config["moe_tensor_parallel_size"] * eng.config["moe_expert_parallel_size"] == r.tp * r.dp


def test_export_refuses_a_layout_the_engine_cannot_run():
    spec = _spec(model="deepseek-ai/DeepSeek-R1", backend="trtllm")
    role = RoleConfig("agg", 1, 4, 1, 2, 2, 4, 8, 64, 8192, 0)
    dep = Deployment("agg", (role,), 1, 8, 1.0, 1.0, 1.0, 1.0, 1.0, 64, 1.0)
    with pytest.raises(RuntimeError, match="not one trtllm runs"):
        role_engines(dep, spec)


def test_search_space_the_backend_cannot_run_is_a_user_error():
    with pytest.raises(UserError, match="never both.*Add 1 to search.tp or search.dp"):
        _spec(model="deepseek-ai/DeepSeek-R1", backend="trtllm", search={"tp": [4], "dp": [2]})
    with pytest.raises(UserError, match="all tensor-parallel or all expert-parallel"):
        _spec(model="deepseek-ai/DeepSeek-R1", backend="vllm", search={"tp": [4], "dp": [2], "moe_ep": [4]})


@pytest.mark.parametrize(
    "model,kind", [("Qwen/Qwen3-32B-FP8", "mha"), ("deepseek-ai/DeepSeek-R1", "mla"), ("Qwen/Qwen3.5-27B", "hybrid")]
)
def test_attention_kinds(model, kind):
    assert attention_kind(_spec(model=model).arch) == kind


@pytest.mark.parametrize(
    "backend,model,equal",
    [
        ("sglang", "Qwen/Qwen3-32B-FP8", True),
        ("sglang", "deepseek-ai/DeepSeek-R1", False),
        ("vllm", "Qwen/Qwen3-32B-FP8", False),
        ("vllm", "Qwen/Qwen3.5-27B", True),
        ("trtllm", "Qwen/Qwen3-32B-FP8", False),
    ],
)
def test_disagg_pair_rule_per_backend_and_attention(backend, model, equal):
    assert engine_rules(backend).needs_equal_tp(_spec(model=model, backend=backend).arch) is equal


def test_sglang_dense_disagg_pairs_have_equal_attention_tp():
    # Before: 2 prefill workers at TP 1 fed 1 decode worker at TP 2, which SGLang's hand-off refuses.
    spec = _spec(
        model="Qwen/Qwen3-32B-FP8",
        backend="sglang",
        total_gpus=8,
        modes=["disagg"],
        sla={"ttft_ms": 2000, "tpot_ms": 30},
    )
    from costmodel.build import build_surfaces

    s = build_surfaces(spec.request)
    assert s.equal_attention_tp and "sglang issue #15674" in s.kv_pair_rule
    problem = to_problem(spec, s)
    result = solve(problem)
    deps = (*result.top_disagg, *result.pareto_disagg)
    assert deps and all(d.role("prefill").tp == d.role("decode").tp for d in deps)
    # an unequal pair is refused by the same rule the model enforces
    i = int(np.flatnonzero(s.prefill.tp == 1)[0])
    j = int(np.flatnonzero(s.decode.tp == 2)[0])
    assert any(
        "kv hand-off" in m
        for m in broken_rules(problem, "disagg", {"prefill": i, "decode": j}, {"prefill": 1, "decode": 1}, 1)
    )
    # TRT-LLM reshapes KV between unequal TP: the same pair breaks no hand-off rule there
    relaxed = replace(problem, surfaces=replace(s, equal_attention_tp=False))
    assert not any(
        "kv hand-off" in m
        for m in broken_rules(relaxed, "disagg", {"prefill": i, "decode": j}, {"prefill": 1, "decode": 1}, 1)
    )


def test_cluster_disagg_pairs_have_equal_attention_tp(tmp_path):
    from solver.cluster.solve import solve_cluster
    from solver.pipeline import load as spec_or_cluster

    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model": "Qwen/Qwen3-32B-FP8",
                "system": "h200_sxm",
                "backend": "sglang",
                "total_gpus": 16,
                "modes": ["disagg"],
                "workload": {"isl": 4000, "osl": 1000},
                "sla": {"ttft_ms": 2000, "tpot_ms": 30},
                "demand": {"requests_per_s": 3},
            }
        )
    )
    res = solve_cluster(spec_or_cluster(path))
    deps = [p.deployment for p in res.placements]
    assert deps and all(d.role("prefill").tp == d.role("decode").tp for d in deps)


def test_malformed_engine_data_is_named(tmp_path, monkeypatch):
    (tmp_path / "engines").mkdir()
    raw = yaml.safe_load((ROOT / "data" / "engines" / "trtllm.yaml").read_text())
    raw["layout"]["attention"] = "sometimes"
    (tmp_path / "engines" / "trtllm.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(engines, "data_dir", lambda: tmp_path)
    engine_rules.cache_clear()
    try:
        with pytest.raises(EngineDataError, match="unknown value.*sometimes"):
            engine_rules("trtllm")
        with pytest.raises(EngineDataError, match="cannot be read"):
            engine_rules("vllm")
    finally:
        engine_rules.cache_clear()


def test_bundled_specs_still_load():
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        if "cluster" not in path.name:
            load_spec(path)


@pytest.mark.parametrize(
    "system,moe", [("b200_sxm", "w4a8_mxfp4_mxfp8"), ("gb200", "w4a8_mxfp4_mxfp8"), ("h200_sxm", "w4a16_mxfp4")]
)
def test_default_expert_kernel_is_the_engines(system, moe):
    # TRT-LLM runs MXFP4 experts with MXFP8 activations on Blackwell, BF16 activations on Hopper (GPT-OSS guide)
    spec = _spec(model="openai/gpt-oss-120b", backend="trtllm", system=system)
    assert spec.request.quant.moe == moe
    assert ("Deployment Guide for GPT-OSS" in " ".join(spec.recipe_notes)) == (moe == "w4a8_mxfp4_mxfp8")
    # an explicit choice wins, and no default note is printed for it
    pinned = _spec(model="openai/gpt-oss-120b", backend="trtllm", system=system, quantization={"moe": "w4a16_mxfp4"})
    assert pinned.request.quant.moe == "w4a16_mxfp4" and not pinned.recipe_notes


def test_flag_form_and_spec_form_default_to_the_same_recipe(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model": "openai/gpt-oss-120b",
                "system": "b200_sxm",
                "backend": "trtllm",
                "total_gpus": 24,
                "workload": {"isl": 1024, "osl": 4096},
                "sla": {"ttft_ms": 500, "tpot_ms": 10},
            }
        )
    )
    from_file = load_spec(path)
    from_flags = load_spec(
        None,
        flags=dict(
            model="openai/gpt-oss-120b",
            system="b200_sxm",
            backend="trtllm",
            total_gpus=24,
            isl=1024,
            osl=4096,
            ttft=500,
            tpot=10,
        ),
    )  # the CLI's flags
    assert from_file.request == from_flags.request and from_file.recipe_notes == from_flags.recipe_notes


@pytest.mark.parametrize(
    "system,quant,switched", [("b200_sxm", {}, True), ("h200_sxm", {}, False), ("b200_sxm", {"moe": "nvfp4"}, True)]
)
def test_vllm_mxfp8_expert_recipe_is_exported_with_its_switch(tmp_path, system, quant, switched):
    """vLLM runs MXFP4 x MXFP8 experts on Blackwell only behind an environment switch: the search prices that
    kernel there and every exported worker (manifest and launch script) sets the switch; on Hopper neither. A
    requested dtype the cost model resolves to that kernel (nvfp4 for MXFP4 experts) is exported with it too."""
    from costmodel import priced_quant
    from solver.export import export_bundle

    spec = _spec(model="openai/gpt-oss-120b", backend="vllm", system=system, quantization=quant)
    req = spec.request
    priced = priced_quant(system, "vllm", req.version, spec.arch, req.quant)[0].moe
    assert priced == ("w4a8_mxfp4_mxfp8" if switched else "w4a16_mxfp4")
    from costmodel import build_surfaces

    export_bundle(solve(to_problem(spec, build_surfaces(spec.request))), spec, tmp_path / "out")
    manifests = sorted((tmp_path / "out").glob("*/k8s/deploy.yaml"))
    assert manifests
    for m in manifests:
        dgd = next(d for d in yaml.safe_load_all(m.read_text()) if d and d.get("kind") == "DynamoGraphDeployment")
        workers = [s for s in dgd["spec"]["services"].values() if s["componentType"] == "worker"]
        envs = [s["extraPodSpec"]["mainContainer"].get("env", []) for s in workers]
        want = [{"name": "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8", "value": "1"}] if switched else []
        assert envs == [want] * len(workers)
        script = (m.parent.parent / "launch" / "node_0_run.sh").read_text()
        assert ("VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1" in script) == switched


@pytest.mark.parametrize(
    "model,system,kernel,switches",
    [
        ("openai/gpt-oss-120b", "h200_sxm", "MARLIN", {"VLLM_MXFP4_USE_MARLIN": "1"}),
        (
            "MiniMaxAI/MiniMax-M2.5",
            "b200_sxm",
            "TRITON",
            {"VLLM_USE_FLASHINFER_MOE_FP8": "0", "VLLM_MOE_USE_DEEP_GEMM": "0"},
        ),
    ],
)
def test_vllm_moe_kernels_are_priced_and_exported_with_their_switches(tmp_path, model, system, kernel, switches):
    """serving.moe_backend: MARLIN (gpt-oss on H200, as InferenceX runs it) or TRITON on vLLM: the search prices the
    kernel (Marlin read from the experts its table measured) and every exported worker sets its switches, with no
    moe_config flag; the default kernel's bundle sets none. Both are slower than the default on long prompts."""
    from costmodel import build_surfaces
    from solver.export import export_bundle

    def bundle(serving: dict, out: Path) -> tuple[list, str, float]:
        spec = _spec(model=model, system=system, backend="vllm", serving=serving, modes=["agg"])
        surf = build_surfaces(spec.request)
        export_bundle(solve(to_problem(spec, surf)), spec, out)
        m = sorted(out.glob("*/k8s/deploy.yaml"))[0]
        dgd = next(d for d in yaml.safe_load_all(m.read_text()) if d and d.get("kind") == "DynamoGraphDeployment")
        workers = [s for s in dgd["spec"]["services"].values() if s["componentType"] == "worker"]
        envs = [s["extraPodSpec"]["mainContainer"].get("env", []) for s in workers]
        return envs, (m.parent.parent / "launch" / "node_0_run.sh").read_text(), float(np.max(surf.agg.ttft_ms))

    envs, script, slowest = bundle({"moe_backend": kernel}, tmp_path / "kernel")
    want = [{"name": k, "value": v} for k, v in sorted(switches.items())]
    assert envs and all(sorted(e, key=lambda x: x["name"]) == want for e in envs)
    assert all(f"{k}={v}" in script for k, v in switches.items()) and "moe_config" not in script
    plain_envs, plain_script, plain_slowest = bundle({}, tmp_path / "default")
    assert all(e == [] for e in plain_envs) and not any(k in plain_script for k in switches)
    assert slowest > plain_slowest


@pytest.mark.parametrize(
    "change,message",
    [
        (
            {"backend": "sglang"},
            r"is a kernel sglang cannot select \(the key selects TRT-LLM's moe_config.backend and vLLM's",
        ),
        (
            {"system": "h200_sxm", "quantization": {"gemm": "fp8_block", "moe": "fp8_block", "kv_cache": "fp8"}},
            r"not measured for deepseek-ai/DeepSeek-R1's fp8_block experts on h200_sxm \(measured there for none",
        ),
        ({"model": "Qwen/Qwen3-32B", "quantization": {}}, "has no experts; drop the key"),
        (
            {"model": "openai/gpt-oss-120b", "quantization": {}},
            r"gpt-oss-120b's w4a8_mxfp4_mxfp8 experts on b200_sxm \(measured there for none of this model\); leave",
        ),
    ],
)
def test_a_moe_kernel_the_data_do_not_measure_is_a_user_error(change, message):
    raw = DEEPSEEK_NVFP4_B200 | {"serving": {"moe_backend": "TRTLLM"}}
    assert spec_from_raw(raw).request.moe_backend == "TRTLLM"
    # unset: the recipe takes TRTLLM where it is measured (DeepSeek NVFP4 on b200), the default elsewhere
    assert spec_from_raw(raw | {"serving": {}}).summary()["moe_backend"] == "TRTLLM"
    assert spec_from_raw(raw | {"serving": {"moe_backend": "default"}}).summary()["moe_backend"] == "default"
    # Kimi's NVFP4 experts: the TRT-LLM-gen kernel as SGLang measured it; gpt-oss's MXFP4 ones: not measured
    kimi = spec_from_raw(raw | {"model": "nvidia/Kimi-K2.5-NVFP4", "serving": {}})
    assert kimi.summary()["moe_backend"] == "TRTLLM"
    oss = spec_from_raw(raw | {"model": "openai/gpt-oss-120b", "quantization": {}, "serving": {}})
    assert oss.summary()["moe_backend"] == "default"
    dense = spec_from_raw(raw | {"model": "Qwen/Qwen3-32B", "quantization": {}, "serving": {}})
    assert dense.summary()["moe_backend"] is None
    with pytest.raises(UserError, match=r"serving\.moe_backend: TRTLLM.*" + message):
        spec_from_raw(raw | change)


def test_batch_waiting_is_priced_and_exported_for_trtllm_only():
    """serving.batch_wait_* prices TRT-LLM's batch waiting (the hold lengthens TTFT at low load) and the agg engine
    file renders the same two keys; an engine without batch waiting refuses the keys, naming them."""
    from costmodel.build import build_surfaces

    base = dict(model="Qwen/Qwen3-32B", backend="trtllm", search={"tp": [2], "batch_sizes": [4]}, modes=["agg"])
    plain, held = (
        _spec(**base, serving=serving) for serving in ({}, {"batch_wait_iters": 20, "batch_wait_max_tokens_ratio": 0.9})
    )
    t0, t1 = build_surfaces(plain.request).agg, build_surfaces(held.request).agg
    assert float(t1.ttft_ms[0] - t0.ttft_ms[0]) > 10 * float(t0.tpot_ms[0])  # about 20 decode iterations
    # the longer cycle lowers the prefill load a little, so decode stalls less
    assert 0.99 * float(t0.tpot_ms[0]) < float(t1.tpot_ms[0]) <= float(t0.tpot_ms[0])
    dep = solve(to_problem(held, build_surfaces(held.request))).top_agg[0]
    (eng,) = role_engines(dep, held)
    assert (eng.config["batch_wait_timeout_iters"], eng.config["batch_wait_max_tokens_ratio"]) == (20, 0.9)
    (plain_eng,) = role_engines(solve(to_problem(plain, build_surfaces(plain.request))).top_agg[0], plain)
    assert "batch_wait_timeout_iters" not in plain_eng.config
    with pytest.raises(UserError, match="serving.batch_wait_iters: vllm has no batch waiting"):
        _spec(**base | {"backend": "vllm"}, serving={"batch_wait_iters": 20})
