"""The checkpoint the engines load provides the priced quantization (issue 12, item 3)."""

from __future__ import annotations

import pytest

from costmodel.arch import base_model, load_model
from costmodel.checkpoint import resolve_checkpoint
from costmodel.config import Quant


def _q(gemm: str, moe: str = "fp8_block") -> Quant:
    return Quant(gemm=gemm, kv_cache="fp8", attention="bfloat16", moe=moe)


@pytest.mark.parametrize(
    "model, quant, loads",
    [
        ("Qwen/Qwen3-32B", _q("fp8_block"), "Qwen/Qwen3-32B-FP8"),
        ("Qwen/Qwen3-32B", _q("nvfp4"), "nvidia/Qwen3-32B-NVFP4"),
        ("Qwen/Qwen3-32B", _q("bfloat16"), "Qwen/Qwen3-32B"),
        ("QWEN3_32B_FP8", _q("bfloat16"), "Qwen/Qwen3-32B"),  # from a quantized release back to its base
        ("QWEN3_32B_FP8", _q("fp8_block"), "Qwen/Qwen3-32B-FP8"),
        ("deepseek-ai/DeepSeek-R1", _q("nvfp4", "nvfp4"), "nvidia/DeepSeek-R1-NVFP4"),
        # an NVFP4 release priced on Hopper (GEMMs and experts fall back to fp8_block): load the fp8 base
        ("nvidia/DeepSeek-R1-NVFP4", _q("fp8_block", "fp8_block"), "deepseek-ai/DeepSeek-R1"),
        ("Qwen/Qwen3-235B-A22B", _q("nvfp4", "nvfp4"), "nvidia/Qwen3-235B-A22B-NVFP4"),
        ("openai/gpt-oss-120b", _q("bfloat16", "w4a8_mxfp4_mxfp8"), "openai/gpt-oss-120b"),
        ("meta-llama/Llama-3.1-70B", _q("fp8", "fp8"), "nvidia/Llama-3.1-70B-Instruct-FP8"),
    ],
)
def test_the_priced_quantization_names_the_checkpoint_that_provides_it(model, quant, loads):
    c = resolve_checkpoint(model, load_model(model), quant)
    assert (c.hf_id, c.found, c.note) == (loads, True, "")
    assert c.high_precision == load_model(loads).high_precision


def test_same_architecture_is_not_enough_the_lineage_must_match():
    # DeepSeek-V3, R1 and V3.1 share one architecture; V3 has no NVFP4 release, R1's is another model
    assert load_model("nvidia/DeepSeek-R1-NVFP4").num_layers == load_model("deepseek-ai/DeepSeek-V3").num_layers
    assert base_model("nvidia/DeepSeek-R1-NVFP4") == "deepseek-ai/DeepSeek-R1" != base_model("DEEPSEEK_V3")
    c = resolve_checkpoint("deepseek-ai/DeepSeek-V3", load_model("DEEPSEEK_V3"), _q("nvfp4", "nvfp4"))
    assert not c.found and c.hf_id == "deepseek-ai/DeepSeek-V3" and c.provides == "gemm nvfp4, moe nvfp4"
    assert c.note == (
        "no known checkpoint of deepseek-ai/DeepSeek-V3 has nvfp4 GEMM weights and nvfp4 experts: "
        "produce one (quantize deepseek-ai/DeepSeek-V3 to nvfp4 GEMM weights and nvfp4 experts, e.g. "
        "with NVIDIA ModelOpt or llm-compressor) and load it instead of deepseek-ai/DeepSeek-V3"
    )
    assert c.high_precision == frozenset()


def test_no_release_starts_from_the_bf16_base():
    c = resolve_checkpoint("QWEN3_30B_A3B_FP8", load_model("QWEN3_30B_A3B_FP8"), _q("nvfp4", "nvfp4"))
    assert not c.found and c.hf_id == "Qwen/Qwen3-30B-A3B" and "quantize Qwen/Qwen3-30B-A3B to nvfp4" in c.note
