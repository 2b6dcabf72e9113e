"""Speed-of-light (roofline) floors per op kind, in ms: max(FLOPs / peak, bytes / bandwidth).

They bound every prediction from below and scale extrapolation off the measured grid. They
are deliberately optimistic (peak rates, minimal traffic) so that they stay below reality.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from costmodel.system import DTYPE_BYTES, System

MIN_KERNEL_MS = 1e-3  # no GPU kernel or collective completes in under a microsecond

# A floor's categorical keys: dtype names (str) and sizes such as head_dim or window (numbers).
Cats = Mapping[str, str | float]
FloorFactory = Callable[[System, Cats], Callable[..., np.ndarray]]


def _ms(system: System, flops, nbytes, dtype: str = "bfloat16") -> np.ndarray:
    t = np.maximum(np.asarray(flops) / system.flops(dtype), np.asarray(nbytes) / system.mem_bw_bytes_per_s)
    return np.maximum(t * 1e3, MIN_KERNEL_MS)


def _b(dtype) -> float:
    return DTYPE_BYTES.get(str(dtype), 2.0)


def gemm(system: System, cats: Cats):
    dt = str(cats["dtype"])

    def f(m, n, k):
        return _ms(system, 2.0 * m * n * k, (m * k + k * n) * _b(dt) + 2.0 * m * n, dt)

    return f


def context_attention(system: System, cats: Cats):
    hd, win, dt = float(cats["head_dim"]), float(cats["window"]), str(cats["attn_dtype"])

    def f(heads, kv_heads, batch, isl):
        span = np.minimum(isl, win) if win > 0 else isl
        flops = 2.0 * batch * heads * hd * isl * span  # causal: half of 4·b·h·d·isl·span
        nbytes = batch * isl * (heads + 2.0 * kv_heads) * hd * _b(dt) + 2.0 * batch * isl * heads * hd
        return _ms(system, flops, nbytes, dt)

    return f


def generation_attention(system: System, cats: Cats):
    hd, win, kvb = float(cats["head_dim"]), float(cats["window"]), _b(cats["kv_dtype"])

    def f(heads, kv_heads, batch, step):
        kv_len = np.minimum(step + 1, win) if win > 0 else step + 1
        return _ms(system, 4.0 * batch * heads * kv_len * hd, batch * kv_len * 2.0 * kv_heads * hd * kvb)

    return f


def context_mla(system: System, cats: Cats):
    def f(heads, batch, isl):
        return _ms(system, batch * heads * isl * isl * (192.0 + 128.0), batch * isl * heads * 320.0 * 2.0)

    return f


def generation_mla(system: System, cats: Cats):
    kvb = _b(cats["kv_dtype"])

    def f(heads, batch, step):
        kv_len = step + 1
        return _ms(system, 2.0 * batch * heads * kv_len * (576.0 + 512.0), batch * kv_len * 576.0 * kvb)

    return f


def mla_bmm(system: System, cats: Cats):
    dt = str(cats["dtype"])

    def f(heads, tokens):
        return _ms(system, 2.0 * tokens * heads * 128.0 * 512.0, heads * 128.0 * 512.0 * _b(dt), dt)

    return f


def moe(system: System, cats: Cats):
    dt, h, inter = str(cats["dtype"]), float(cats["hidden"]), float(cats["inter"])
    topk, experts = float(cats["topk"]), float(cats["experts"])

    def f(tp, ep, tokens):
        flops = 2.0 * tokens * topk * h * inter * 3.0 / (tp * ep)
        touched = np.clip(tokens * topk / ep, 1.0, experts / ep)
        return _ms(system, flops, touched * 3.0 * h * inter / tp * _b(dt), dt)

    return f


def gdn(system: System, cats: Cats):
    """Gated delta-net over batch sequences of seq new tokens: each token updates and reads the
    (v_heads, k_dim, v_dim) fp32 state of its sequence; the state is read and written once per call."""
    kh, vh = float(cats["k_heads"]), float(cats["v_heads"])
    kd, vd = float(cats["k_dim"]), float(cats["v_dim"])

    def f(batch, seq):
        tokens = batch * seq
        flops = 4.0 * tokens * vh * kd * vd
        nbytes = tokens * (2.0 * kh * kd + 2.0 * vh * vd) * 2.0 + 2.0 * batch * vh * kd * vd * 4.0
        return _ms(system, flops, nbytes)

    return f


def activation_pass(system: System, cats: Cats):
    """One elementwise pass over an [m, k] bf16 activation: read it and write the result (at most as wide)."""

    def f(m, k):
        return _ms(system, 0.0, 4.0 * m * k)

    return f


def collective(system: System, cats: Cats):
    """All-reduce moves 2(g-1)/g of the message per GPU; gathers and all-to-all (g-1)/g."""
    elem = 1.0 if str(cats.get("dtype")) == "int8" else 2.0
    factor = 2.0 if str(cats.get("op", "all_reduce")) == "all_reduce" else 1.0

    def f(gpus, msg):
        nbytes = factor * (gpus - 1.0) / gpus * msg * elem
        return np.maximum(nbytes / system.link_bw(int(np.max(gpus))) * 1e3, MIN_KERNEL_MS)

    return f


def token_exchange(system: System, cats: Cats):
    """All-to-all dispatch/combine of hidden-size token vectors across the EP group."""
    h, topk = float(cats["hidden"]), float(cats.get("topk", 1))

    def f(*axes):
        tokens = axes[-1]
        return np.maximum(tokens * topk * h * 1.0 / system.intra_node_bw_bytes_per_s * 1e3, MIN_KERNEL_MS)

    return f
