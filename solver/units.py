"""Integer scaling for CP-SAT, in one place: every coefficient the model sees is derived here.

CP-SAT only takes integers. Request rates are scaled by a power of ten (decimal inputs stay
exact) chosen so that the smallest rate keeps ~1e6 units while every product the model forms
(rate x workers x GPUs) stays far below int64 overflow. GPU counts, worker counts and latency
ranks are already integers and are not scaled.
"""

from __future__ import annotations

import math

import numpy as np

# The smallest positive rate keeps at least this many integer units (rounding error <= 5e-7).
MIN_RATE_UNITS = 10**6
# Bound on any product the model forms (objective terms are GPUs x throughput); CP-SAT rejects
# models whose activities can overflow int64 (2^63), so leave room for sums of terms.
MAX_PRODUCT = 2**55
# Float metrics within this relative distance count as equal (ulp noise of r*x/(r*g) vs x/g).
REL_TIE = 1e-9
# Significant digits kept when float ratios are compared or sorted (consistent with REL_TIE).
TIE_DIGITS = 12


def rate_scale(rates: np.ndarray, max_workers: int, max_gpus: int) -> float:
    """Power of ten for request rates: >= MIN_RATE_UNITS for the smallest rate, products < MAX_PRODUCT."""
    r = np.asarray(rates, float)
    r = r[np.isfinite(r) & (r > 0)]
    if r.size == 0:
        return 1.0
    want = math.ceil(math.log10(MIN_RATE_UNITS / float(r.min())))
    cap = math.floor(math.log10(MAX_PRODUCT / (float(r.max()) * max(max_workers, 1) * max(max_gpus, 1))))
    return 10.0 ** min(want, cap)


def scaled(values: np.ndarray, scale: float) -> np.ndarray:
    """Values x scale rounded to int64 (what CP-SAT sees); never below 1 for a positive value."""
    v = np.rint(np.asarray(values, float) * scale).astype(np.int64)
    return np.where(np.asarray(values) > 0, np.maximum(v, 1), v)


def max_rel_error(values: np.ndarray, scale: float) -> float:
    """Worst relative error |scaled/scale - value| / value over the positive values."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return 0.0
    return float(np.max(np.abs(scaled(v, scale) / scale - v) / v))


def tie_key(x: float) -> float:
    """A float ratio rounded to TIE_DIGITS significant digits, for ordering without ulp noise."""
    return float(f"{x:.{TIE_DIGITS}g}")
