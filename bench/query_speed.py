"""Op database query speed: 100k GEMM and 100k attention shapes, vectorized, warm grids.

Run: python bench/query_speed.py [system] [backend] [version]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from costmodel.opdb import OpDB


def main() -> None:
    system, backend, version = (sys.argv[1:] + ["h200_sxm", "trtllm", "1.3.0rc20"][len(sys.argv) - 1 :])[:3]
    rng = np.random.default_rng(0)
    n = 100_000
    t0 = time.perf_counter()
    db = OpDB(system, backend, version)
    m = rng.integers(1, 65536, n)
    nn = rng.choice([1024, 4096, 5120, 8192, 14336, 28672], n)
    k = rng.choice([1024, 4096, 5120, 8192], n)
    db.latency_ms("gemm", m[:10], nn[:10], k[:10], dtype="fp8")
    ca = dict(attn_dtype="bfloat16", kv_dtype="bfloat16", window=0, head_dim=128)
    batch, step = rng.integers(1, 512, n), rng.integers(1, 16384, n)
    db.latency_ms("generation_attention", 8, 1, batch[:10], step[:10], **ca)
    t_load = time.perf_counter() - t0

    best_g = best_a = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        g = db.latency_ms("gemm", m, nn, k, dtype="fp8")
        best_g = min(best_g, time.perf_counter() - t)
        t = time.perf_counter()
        a = db.latency_ms("generation_attention", 8, 1, batch, step, **ca)
        best_a = min(best_a, time.perf_counter() - t)
    assert np.isfinite(g).all() and np.isfinite(a).all()
    print(f"{system}/{backend} {version}: first load + grid build {t_load * 1e3:.0f} ms")
    print(f"gemm: {n} queries in {best_g * 1e3:.1f} ms ({n / best_g / 1e6:.2f} M/s)")
    print(f"generation_attention: {n} queries in {best_a * 1e3:.1f} ms ({n / best_a / 1e6:.2f} M/s)")


if __name__ == "__main__":
    main()
