"""Speed of distribution workloads and percentile SLAs (issue 16).

1. Whole process (start to exit, best of 3) of the README example with a p90 TTFT bound and a lognormal ISL, of the
   plain spec, and of the trace example.
2. Cost against the number of distribution points: pricing the candidate grid (build_surfaces, warm, best of 3) of
   Qwen3-32B on H200 with a lognormal ISL cut into K points, for K = 1 … 64, and of a 128-layout MoE grid.

Run: python bench/distribution_speed.py
"""

from __future__ import annotations

import dataclasses
import time

from e2e_speed import run

from costmodel.arch import load_model
from costmodel.build import build_surfaces
from costmodel.config import Quant, SearchSpace, SurfaceRequest
from costmodel.engines import engine_rules
from costmodel.workload import Workload, fixed, lognormal

P90 = [
    "specs/qwen3-32b_h200x32.yaml",
    "--set",
    "workload.isl={lognormal: {mean: 4000, p90: 8000}}",
    "--set",
    "sla.ttft_ms={p90: 500}",
]


def _grid(model: str, search: SearchSpace) -> None:
    base = SurfaceRequest(
        load_model(model), "h200_sxm", "trtllm", engine_rules("trtllm").version, 4000, 500, Quant(), search
    )
    build_surfaces(base)  # tables read once
    ref = None
    for k in (0, 1, 4, 8, 16, 32, 64):
        req = base if k == 0 else dataclasses.replace(base, workload=Workload(lognormal(4000, 8000, k), fixed(500)))
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            s = build_surfaces(req)
            best = min(best, time.perf_counter() - t)
        rows = sum(len(c) for c in (s.agg, s.prefill, s.decode) if c is not None)
        ref = ref or best
        label = "fixed ISL (today's spec)" if k == 0 else f"lognormal ISL, {len(req.workload.isl.points):>2} points"
        print(f"  {label}: {best * 1e3:6.0f} ms for {rows} rows ({best / ref:.2f}x)")


def main() -> None:
    run(P90)  # warm the parsed-table cache
    print(f"README example, p90 TTFT + lognormal ISL: {run(P90):.2f} s (process start to exit, best of 3)")
    print(f"README example as shipped:                {run(P90[:1]):.2f} s")
    print(f"trace example (16-point ISL and OSL):     {run(['specs/qwen3-32b_h200x32_trace.yaml']):.2f} s")
    print("pricing the grid against distribution points (warm):")
    print(" Qwen3-32B (dense), default search:")
    _grid("QWEN3_32B", SearchSpace())
    print(" Qwen3-235B (MoE), dp 1-8:")
    _grid("QWEN3_235B", SearchSpace(dp=(1, 2, 4, 8)))


if __name__ == "__main__":
    main()
