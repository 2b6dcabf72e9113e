"""Weights per GPU and decode TPOT of mixed-precision checkpoints at fixed layouts (checkpoints whose
quantization_config keeps some modules in bf16), to compare before and after a cost-model change.

Run: python bench/mixed_precision.py   Prints one line per (checkpoint, system, layout, batch).
"""

from __future__ import annotations

import numpy as np

from costmodel.arch import load_model
from costmodel.config import Quant
from costmodel.engines import engine_rules
from costmodel.memory import weight_bytes_per_gpu
from costmodel.opdb import open_db
from costmodel.quant import resolve_quant
from costmodel.serving import decode_figures
from costmodel.step import Layout, StepModel

NVFP4 = Quant(gemm="nvfp4", kv_cache="fp8", attention="bfloat16", moe="nvfp4")
# (checkpoint, system, backend, quantization, layouts as (tp, pp, dp, moe_tp, moe_ep), decode batch per DP rank)
CASES = [
    ("nvidia/DeepSeek-V3.1-NVFP4", "b200_sxm", "trtllm", NVFP4, [(8, 1, 1, 1, 8), (1, 1, 8, 1, 8)], 64),
    ("nvidia/Kimi-K2.5-NVFP4", "b200_sxm", "trtllm", NVFP4, [(8, 1, 1, 1, 8)], 64),
    ("nvidia/MiniMax-M2.5-NVFP4", "b200_sxm", "trtllm", NVFP4, [(4, 1, 1, 1, 4)], 64),
    ("nvidia/Qwen3.5-397B-A17B-NVFP4", "b200_sxm", "vllm", NVFP4, [(8, 1, 1, 1, 8)], 64),
]
ISL, OSL = 4000, 1000


def main() -> None:
    for model, system, backend, q, lays, batch in CASES:
        db = open_db(system, backend, engine_rules(backend).version)
        a = load_model(model)
        quant, _ = resolve_quant(db, a, q)
        step = StepModel(db, a, quant)
        for lay in lays:
            w = float(weight_bytes_per_gpu(a, quant, *lay))
            tpot = float(
                decode_figures(step, Layout(*(np.array(float(x)) for x in lay)), np.array(float(batch)), ISL, OSL)[
                    "tpot_ms"
                ]
            )
            print(
                f"{model} {system} {backend} tp/pp/dp/moe_tp/ep {'/'.join(map(str, lay))}: "
                f"weights {w / 2**30:.2f} GiB/GPU, decode TPOT {tpot:.3f} ms at batch {batch}/rank, ISL {ISL}"
            )


if __name__ == "__main__":
    main()
