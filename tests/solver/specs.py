"""Spec dicts several solver tests pin."""

from __future__ import annotations

# DeepSeek-R1 NVFP4 on one b200 node with TRT-LLM: the case whose MoE kernel the recipe chooses (TRTLLM where measured)
DEEPSEEK_NVFP4_B200 = {
    "model": "deepseek-ai/DeepSeek-R1",
    "system": "b200_sxm",
    "backend": "trtllm",
    "total_gpus": 8,
    "workload": {"isl": 1024, "osl": 1024},
    "quantization": {"gemm": "nvfp4", "moe": "nvfp4", "kv_cache": "fp8"},
}
