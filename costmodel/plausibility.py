"""Plausibility of measured GEMM tables: a per-call floor far above the GPU's own kernel floor.

A GEMM of a tiny shape (M ≤ 16, N·K ≤ 2²⁰: well under a microsecond at the roofline) costs the GPU one
kernel launch, 2-14 µs in every bundled table for bf16, fp8 and nvfp4. vLLM 0.24.0's fp8_block tables
instead sit at 60 µs (H100/H200), 170-180 µs (B200/B300) and 325-360 µs (GB200/GB300) there, flat over M
up to ~1,500 rows: the wrapper's host-side work (activation quantisation and scale layout per eager call)
timed with the kernel. The engine replays decode steps as CUDA graphs, so it does not pay that floor, and
a row at the floor only says the GPU time is at most the floor. Read as measured, Qwen3-32B on H200 vLLM
fp8_block cannot get under 18 ms TPOT while fp8 reaches 5.7 ms.
"""

from __future__ import annotations

import numpy as np

TINY_M, TINY_NK = 16, 2**20
# A dtype's tiny-shape floor this many times the same table's bf16 floor (and above HOST_FLOOR_MS) is host-bound.
HOST_FLOOR_RATIO, HOST_FLOOR_MS = 4.0, 0.02
# Where a host-bound dtype has a same-table twin that moves the same bytes at the same FLOP rate, the twin's
# row stands for its GPU time: SGLang's fp8_block (DeepGEMM) and fp8 rows on H200/B200 agree within
# 0.85-1.05× (median per M range), the scales being a small share of the traffic.
GEMM_TWIN = {"fp8_block": "fp8"}


def tiny_floor_ms(cols: dict[str, np.ndarray], dtype: str) -> float | None:
    """Median latency (ms) of a GEMM table's tiny shapes of one dtype; None when it has none."""
    sel = (cols["dtype"] == dtype) & (cols["m"] <= TINY_M) & (cols["n"] * cols["k"] <= TINY_NK)
    return float(np.median(cols["latency_ms"][sel])) if sel.any() else None


def host_bound_gemm_dtypes(cols: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """GEMM dtypes whose tiny-shape floor is host-bound: dtype -> (its floor, the bf16 floor), in ms."""
    ref = tiny_floor_ms(cols, "bfloat16")
    if ref is None:
        return {}
    out = {}
    for dt in sorted(set(cols["dtype"].tolist())):
        f = tiny_floor_ms(cols, dt)
        if f is not None and f > HOST_FLOOR_RATIO * ref and f > HOST_FLOOR_MS:
            out[dt] = (f, ref)
    return out


def gemm_warnings(cols: dict[str, np.ndarray], where: str) -> list[str]:
    """One line per host-bound GEMM dtype of a table, saying how the cost model reads it."""
    out = []
    for dt, (f, ref) in host_bound_gemm_dtypes(cols).items():
        twin = GEMM_TWIN.get(dt)
        how = (
            f"read as min(row, same-shape {twin} row)" if twin and (cols["dtype"] == twin).any() else "read as measured"
        )
        out.append(
            f"{where}: gemm {dt} is flat at {f * 1e3:.0f} µs for tiny shapes, {f / ref:.0f}× the bf16 "
            f"kernel floor ({ref * 1e3:.1f} µs): likely a host-side per-call cost, not GPU time; {how}"
        )
    return out


def twin_latency(cols: dict[str, np.ndarray], mask: np.ndarray, dtype: str) -> np.ndarray:
    """Latencies (ms) of the rows in ``mask`` (one GEMM dtype), host-bound rows read through their twin dtype.

    Each row becomes min(row, the twin's row of the same M, N, K) when the table is host-bound for
    ``dtype`` and measured the twin there; other rows are returned as measured."""
    lat = cols["latency_ms"][mask]
    twin = GEMM_TWIN.get(dtype)
    if twin is None or dtype not in host_bound_gemm_dtypes(cols):
        return lat
    tsel = cols["dtype"] == twin
    if not tsel.any():
        return lat
    shape = lambda s: np.stack([cols[a][s] for a in ("m", "n", "k")], axis=1)  # noqa: E731
    mine, theirs = shape(mask), shape(tsel)
    both = np.concatenate([theirs, mine])
    _, inv = np.unique(both, axis=0, return_inverse=True)
    inv = inv.ravel()
    best = np.full(inv.max() + 1, np.inf)
    np.minimum.at(best, inv[: len(theirs)], cols["latency_ms"][tsel])
    return np.minimum(lat, best[inv[len(theirs) :]])
