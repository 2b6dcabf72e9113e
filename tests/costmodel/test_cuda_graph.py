"""Decode steps beyond the engine's captured CUDA-graph batches run eagerly: the host launches every kernel."""

from __future__ import annotations

import numpy as np
import pytest

from costmodel.arch import load_model
from costmodel.build import graph_max_batch
from costmodel.config import Quant, SearchSpace, SurfaceRequest
from costmodel.engines import engine_rules
from costmodel.opdb import open_db
from costmodel.step import EAGER_LAUNCHES, Layout, StepModel, eager_launch_ms

BF16 = Quant(gemm="bfloat16", kv_cache="bfloat16", attention="bfloat16", moe="bfloat16")
GIB = 2**30


def _lay(tp: int) -> Layout:
    return Layout(np.array(tp), np.array(1), np.array(1), np.array(1), np.array(1))


@pytest.mark.parametrize(("mem_gib", "world", "want"), [(80, 1, 256), (141, 2, 256), (141, 4, 512), (180, 1, 512)])
def test_sglang_default_capture_limit_follows_gpu_memory_and_world_size(mem_gib, world, want):
    # SGLang ServerArgs._handle_gpu_memory_settings: H100/H200 256 below TP 4, else 512; B200 512
    assert engine_rules("sglang").default_graph_batch(mem_gib * GIB, world) == want


def test_trtllm_and_vllm_default_capture_limits():
    assert engine_rules("trtllm").default_graph_batch(141 * GIB, 8) == 128
    assert engine_rules("vllm").default_graph_batch(141 * GIB, 1) == 512


def test_eager_launch_cost_is_the_eager_minus_graph_all_reduce_floor():
    db = open_db("h200_sxm", "sglang", engine_rules("sglang").version)
    gap = float(
        db.latency_ms("custom_allreduce", 8, 1.0, dtype="bfloat16", variant="sglang_eager")
        - db.latency_ms("custom_allreduce", 8, 1.0, dtype="bfloat16", variant="sglang_graph")
    )
    assert 0.01 < eager_launch_ms(db) < 0.05 and eager_launch_ms(db) == pytest.approx(gap, rel=0.3)
    # TRT-LLM's tables measure no eager variant: nothing to price it from
    assert eager_launch_ms(open_db("h200_sxm", "trtllm", engine_rules("trtllm").version)) is None


def test_an_uncaptured_decode_step_takes_the_longer_of_gpu_work_and_host_launches():
    db = open_db("h200_sxm", "sglang", engine_rules("sglang").version)
    arch = load_model("meta-llama/Llama-3.1-8B")
    captured, limited = StepModel(db, arch, BF16), StepModel(db, arch, BF16, graph_max_batch=256)
    lay = _lay(8)
    launches = arch.num_layers * (
        EAGER_LAUNCHES["attention"]
        + EAGER_LAUNCHES["residual"]
        + EAGER_LAUNCHES["collectives"]
        + EAGER_LAUNCHES["dense_ffn"]
    )
    assert float(limited.eager_launches(lay)) == launches
    host = launches * limited.launch_ms + limited.overhead_ms
    for batch in (8, 256):  # captured: unchanged
        assert float(limited.iteration_ms(lay, batch, 2000, 0, 0)) == float(
            captured.iteration_ms(lay, batch, 2000, 0, 0)
        )
    for batch in (257, 512):
        gpu = float(captured.iteration_ms(lay, batch, 2000, 0, 0))
        assert float(limited.iteration_ms(lay, batch, 2000, 0, 0)) == pytest.approx(max(gpu, host))
    # a step carrying a prefill is not a captured decode graph in the first place: unchanged
    assert float(limited.iteration_ms(lay, 512, 2000, 1, 1000)) == float(captured.iteration_ms(lay, 512, 2000, 1, 1000))
    # a small model at TP 8 is host-bound at batch 512 once uncaptured
    assert float(limited.iteration_ms(lay, 512, 100, 0, 0)) == pytest.approx(host)


def test_the_product_prices_what_the_exporters_render():
    arch = load_model("meta-llama/Llama-3.1-8B")
    for backend, want in (("sglang", None), ("trtllm", None), ("vllm", 512)):
        db = open_db("h200_sxm", backend, engine_rules(backend).version)
        req = SurfaceRequest(
            model=arch,
            system="h200_sxm",
            backend=backend,
            version=db.version,
            isl=1000,
            osl=1000,
            quant=BF16,
            search=SearchSpace(),
        )
        assert graph_max_batch(db, req) == want  # SGLang and TRT-LLM exports capture up to the batch cap
