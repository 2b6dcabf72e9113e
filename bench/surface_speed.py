"""Cost-model evaluation of the whole candidate grid for one spec (all layouts × batch sizes, agg and disagg).

Run: python bench/surface_speed.py   Prints cold (tables read) and warm (grids built) times per case.
"""

from __future__ import annotations

import time

from costmodel.arch import load_model
from costmodel.build import build_surfaces
from costmodel.config import Quant, SearchSpace, SurfaceRequest
from costmodel.engines import engine_rules

CASES = [
    ("dense 32-GPU: Qwen3-32B h200 trtllm", "QWEN3_32B", "h200_sxm", "trtllm", SearchSpace()),
    ("MoE: Qwen3-235B h200 vllm", "QWEN3_235B", "h200_sxm", "vllm", SearchSpace(dp=(1, 2, 4, 8))),
    ("MLA+MoE: DeepSeek-R1 h200 trtllm", "DEEPSEEK_R1", "h200_sxm", "trtllm", SearchSpace(dp=(1, 2, 4, 8))),
]


def main() -> None:
    for label, model, system, backend, search in CASES:
        req = SurfaceRequest(
            load_model(model), system, backend, engine_rules(backend).version, 4000, 500, Quant(), search
        )
        t = time.perf_counter()
        s = build_surfaces(req)
        cold = time.perf_counter() - t
        warm = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            build_surfaces(req)
            warm = min(warm, time.perf_counter() - t)
        rows = sum(len(c) for c in (s.agg, s.prefill, s.decode) if c is not None)
        print(f"{label}: {rows} candidate rows kept; first call {cold * 1e3:.0f} ms, warm {warm * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
