"""Serving models: what a request sees (TTFT, TPOT) and what a worker sustains (requests/s).

Aggregated in-flight batching. ``c`` requests per attention-DP rank are in flight (closed
loop: each finished request is replaced). Up to the KV-cache capacity they run together;
the rest wait for a slot. Each iteration decodes every running request and mixes in the
prefill of newly arrived ones (chunked to the engine's token budget), so with ``u`` the
share of iteration time spent on prefill,
    TPOT = t_decode / (1 − u),    u = λ · Δ,    λ = b / (TTFT + (OSL − 1) · TPOT)
where Δ is the extra iteration time one request's prefill costs. TTFT is the wait for the
running iteration, the own prefill, the M/D/1 wait behind other prefills at utilisation u,
and the start-up burst in which all c requests arrive at once (weighted by BURST_SHARE, the
share of a benchmark's requests that belong to the first wave).

Disaggregated. A prefill worker runs batches of ``batch`` prompts; a decode worker holds
``batch`` requests per rank. TTFT on the prefill side adds the M/D/1 wait at the load the
decode side admits, the burst, and the KV-cache transfer to the decode worker.
"""

from __future__ import annotations

import numpy as np

from costmodel.step import Layout, StepModel
from costmodel.system import DTYPE_BYTES

BURST_SHARE = 0.15
FIXED_ITERATIONS = 40  # fixed-point iterations for the agg utilisation (converges monotonically)


def agg_figures(step: StepModel, lay: Layout, concurrency, isl: int, osl: int, max_num_tokens,
                kv_cap_tokens) -> dict[str, np.ndarray]:
    """TTFT, TPOT (ms) and requests/s of one agg worker at a total concurrency."""
    dp = np.asarray(lay.dp, float)
    c = np.maximum(np.asarray(concurrency, float) / dp, 1.0)
    slots = np.maximum(np.floor(kv_cap_tokens / (isl + osl)), 0.0)
    b = np.minimum(c, slots)
    ctx = isl + osl / 2.0
    chunk = np.minimum(isl, max_num_tokens)
    n_chunks = np.ceil(isl / chunk)
    per_step = step.tokens_per_decode_step()
    t_dec = step.iteration_ms(lay, b, ctx, 0, 0) / per_step
    t_mixed = step.iteration_ms(lay, b, ctx, 1, chunk) / per_step
    delta = np.maximum(t_mixed - t_dec, 1e-6) * n_chunks  # one request's whole prefill
    u = np.zeros_like(t_dec)
    for _ in range(FIXED_ITERATIONS):
        tpot = t_dec / (1.0 - u)
        ttft = _agg_ttft(t_dec, delta, tpot, u, n_chunks, c, b, osl, max_num_tokens, isl)
        lam = b / (ttft + (osl - 1) * tpot)
        u = np.minimum(lam * delta, 0.95)
    tpot = t_dec / (1.0 - u)
    ttft = _agg_ttft(t_dec, delta, tpot, u, n_chunks, c, b, osl, max_num_tokens, isl)
    req_per_s = 1000.0 * b * dp / (ttft + (osl - 1) * tpot)
    return {"ttft_ms": ttft, "tpot_ms": tpot, "req_per_s": req_per_s, "running": b * dp}


def _agg_ttft(t_dec, delta, tpot, u, n_chunks, c, b, osl, max_num_tokens, isl):
    own = 0.5 * tpot + delta + (n_chunks - 1) * t_dec
    queue = u / (2.0 * (1.0 - u)) * delta
    burst = np.ceil(b * isl / max_num_tokens) * 0.5 * (t_dec + delta * np.minimum(max_num_tokens / isl, b))
    # requests beyond the KV capacity wait for a running one to finish
    waiting = np.maximum(c - b, 0.0) / np.maximum(b, 1.0) * (own + (osl - 1) * tpot)
    return own + queue + BURST_SHARE * burst + waiting


def prefill_figures(step: StepModel, lay: Layout, batch, isl: int, utilisation) -> dict[str, np.ndarray]:
    """Prefill worker: latency of one batch, TTFT at a utilisation, requests/s at full load."""
    dp = np.asarray(lay.dp, float)
    b = np.asarray(batch, float)
    t = step.iteration_ms(lay, 0, 0, b, isl)
    return {"latency_ms": t, "ttft_ms": prefill_ttft(t, utilisation), "req_per_s": 1000.0 * b * dp / t}


def prefill_ttft(batch_latency_ms, utilisation):
    """Own batch + M/D/1 wait behind queued batches + half a running batch, at a utilisation."""
    rho = np.clip(utilisation, 0.0, 0.95)
    t = batch_latency_ms
    return t + rho / (2.0 * (1.0 - rho)) * t + 0.5 * t * rho


def decode_figures(step: StepModel, lay: Layout, batch, isl: int, osl: int) -> dict[str, np.ndarray]:
    """Decode worker with ``batch`` requests per rank: TPOT and requests/s."""
    dp = np.asarray(lay.dp, float)
    b = np.asarray(batch, float)
    tpot = step.iteration_ms(lay, b, isl + osl / 2.0, 0, 0) / step.tokens_per_decode_step()
    return {"tpot_ms": tpot, "req_per_s": 1000.0 * b * dp / (osl * tpot)}


def kv_transfer_ms(step: StepModel, isl: int, tp_prefill) -> np.ndarray:
    """Moving one request's KV cache from a prefill to a decode worker over the inter-node link."""
    s = step.db.system
    nbytes = step.a.kv_bytes_per_token(DTYPE_BYTES.get(step.q.kv_cache, 2.0)) * isl
    bw = s.inter_node_bw_bytes_per_s * np.asarray(tp_prefill, float)  # each prefill GPU sends its shard
    return nbytes / bw * 1e3 + s.p2p_latency_s * 1e3
