"""Each backend's constants come from its engine file (data/engines/<backend>.yaml), with their sources; a missing
or malformed value is refused naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import costmodel.engines as engines
from costmodel import BACKENDS, CostModelError
from costmodel.engines import CONSTANT_SOURCES, EngineDataError, UnknownBackendError, engine_rules

ROOT = Path(__file__).resolve().parents[2]


def test_backend_constants_are_the_documented_values():
    # docs/serving-constants.md: the values each was fitted or sourced at
    t, v, s = (engine_rules(b) for b in ("trtllm", "vllm", "sglang"))
    assert (t.version, v.version, s.version) == ("1.3.0rc20", "0.24.0", "0.5.14")
    assert (t.step_overhead_ms, v.step_overhead_ms, s.step_overhead_ms) == (0.6, 1.2, 0.9)
    assert (t.request_overhead_ms, v.request_overhead_ms, s.request_overhead_ms) == (33.4, 49.0, 193.7)
    # only TRT-LLM's rows show an MLA model's request path longer than the others' (agg and disagg alike)
    assert (t.mla_request_overhead_ms, v.mla_request_overhead_ms, s.mla_request_overhead_ms) == (126.1, 0.0, 0.0)
    assert (t.request_path_ms(True), t.request_path_ms(False), s.request_path_ms(True)) == (159.5, 33.4, 193.7)
    assert {r.max_num_tokens for r in (t, v, s)} == {8192}
    assert t.quant_gemm_gap_ms == {"fp8": 0.007, "nvfp4": 0.005} and v.quant_gemm_gap_ms == s.quant_gemm_gap_ms == {}
    assert s.allreduce_variants == ("sglang_graph", "trtllm", "sglang_eager")
    # MTP: TRT-LLM drafts in both modes, SGLang only disaggregated, vLLM never
    assert [(r.mtp("agg"), r.mtp("disagg")) for r in (t, v, s)] == [
        ((3, 0.8), (3, 0.8)),
        ((0, 0.0), (0, 0.0)),
        ((0, 0.0), (3, 0.8)),
    ]
    # the SGLang benchmark recipes poll every 10 iterations below 16 clients, every 30 from 16; the others every one
    assert [s.benchmark_recv_interval(c) for c in (1, 15, 16, 512)] == [10, 10, 30, 30]
    assert {r.benchmark_recv_interval(c) for r in (t, v) for c in (1, 16, 512)} == {1}


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_constant_names_its_source(backend):
    sources = engine_rules(backend).sources
    assert set(CONSTANT_SOURCES) <= set(sources) and all(sources[k].strip() for k in CONSTANT_SOURCES)


@pytest.mark.parametrize(
    "key,value,problem",
    [
        ("host.step_overhead_ms", None, "is missing"),
        ("host.request_overhead_ms", "fast", "not a number"),
        ("host.request_overhead_ms", -1.0, "not a number of at least 0"),
        ("scheduler.max_num_tokens", 8192.5, "not an integer"),
        ("tables.version", 1.3, "not a release name"),
        ("tables.allreduce_variants", [], "not a list"),
        ("tables.quant_gemm_gap_ms.fp8", "7us", "not a number"),
        ("mtp.disagg.accept", 1.5, "not a probability"),
        ("mtp.agg.draft", True, "not an integer"),
        ("benchmark.scheduler_recv_interval", [{"below_concurrency": 16, "interval": 10}], "without below_concurrency"),
        ("benchmark.scheduler_recv_interval", [{"interval": 0}], "interval is 0"),
        ("mtp.source", None, "is missing"),
        ("scheduler.prefill_first", None, "is missing"),
        ("cuda_graph.exported", "yes", "not true or false"),
    ],
)
def test_a_bad_constant_is_named_with_its_file_and_key(tmp_path, monkeypatch, key, value, problem):
    raw = yaml.safe_load((ROOT / "data" / "engines" / "trtllm.yaml").read_text())
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    (tmp_path / "engines").mkdir()
    path = tmp_path / "engines" / "trtllm.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(engines, "data_dir", lambda: tmp_path)
    engine_rules.cache_clear()
    try:
        with pytest.raises(EngineDataError) as e:
            engine_rules("trtllm")
    finally:
        engine_rules.cache_clear()
    assert str(path) in str(e.value) and problem in str(e.value)
    shown = key if "recv" not in key else "benchmark.scheduler_recv_interval"
    assert shown in str(e.value)


def test_an_unknown_backend_is_named_with_the_engines():
    with pytest.raises(UnknownBackendError) as e:
        engine_rules("tgi")
    assert str(e.value) == "unknown backend 'tgi'; the engines are trtllm, vllm, sglang."
    assert isinstance(e.value, CostModelError) and isinstance(e.value, KeyError)
