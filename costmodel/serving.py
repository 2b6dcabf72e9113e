"""Serving models: what a request sees (TTFT, TPOT) and what a worker sustains (requests/s).

Aggregated in-flight batching. ``c`` requests per attention-DP rank are in flight (closed
loop: each finished request is replaced). Up to the KV-cache capacity they run together;
the rest wait for a slot. Each iteration decodes every running request and mixes in the
prefill of newly arrived ones (chunked to the engine's token budget), so with ``u`` the
share of time spent on prefill,
    TPOT = t_decode / (1 − u),    u = λ · Δ,    λ = b / (TTFT + (OSL − 1) · TPOT)
where Δ is the extra iteration time one request's prefill costs (solved by bisection). TTFT
is the wait for the running iteration, the prefill of the request's clump (CLUMPED_PREFILL),
the M/D/1 wait behind other prefills at utilisation u, and the start-up burst (BURST_WAVE_SHARE).

Disaggregated. A prefill worker runs batches of ``batch`` prompts; a decode worker holds
``batch`` requests per rank. TTFT on the prefill side adds the M/D/1 wait at the load the
decode side admits, the burst, and the KV-cache transfer to the decode worker.
"""

from __future__ import annotations

import numpy as np

from costmodel.step import Layout, StepModel
from costmodel.system import DTYPE_BYTES

BURST_SHARE = 0.15  # disagg: share of requests that meet the start-up burst
# Fixed request-path time outside the GPU steps (HTTP, tokenisation, scheduling, first-token stream):
# the TTFT gap left at concurrency ≤ 4 once the own prefill is priced.
REQUEST_OVERHEAD_MS = {"trtllm": 50.0, "vllm": 50.0, "sglang": 120.0}
# Disagg hand-off, besides moving the KV bytes: the connector's per-request cost (the two-hop route,
# the transfer handshake and per-layer block descriptors, the decode worker admitting the request and
# streaming its first token), by backend and attention type. Evidence: dev disagg rows at concurrency
# ≤ 4, measured TTFT minus the priced prefill and KV transfer, median per group:
#   GQA  TRT-LLM gpt-oss-120b on gb200 (6 rows): 36 ms (its whole TTFT is ~40 ms at ISL 1k, ~110 at 8k).
#   MLA  TRT-LLM DeepSeek-R1/V3 b200 167, gb200 167, gb300 170 ms (23 rows) -> 170.
#        SGLang DeepSeek-R1/V3 b200 322, gb200 210, gb300 243, h200 351, h100 46 ms (45 rows) -> 240.
#        vLLM Kimi-K2.5 gb200 250 ms (1 row): SGLang's value.
# No dense or GQA disagg row of SGLang or vLLM runs at low concurrency: they take the GQA value. (The old
# flat 200 ms came from the MLA rows alone and made e.g. every Qwen3-32B disagg TTFT ≥ 200 ms.)
HANDOFF_CONNECTOR_MS = {("trtllm", "gqa"): 36.0, ("trtllm", "mla"): 170.0, ("sglang", "mla"): 240.0,
                        ("vllm", "mla"): 240.0}
# Agg, closed loop with fixed ISL/OSL. Prompts that reach the scheduler together share one iteration's
# token budget, so TRT-LLM and SGLang prefill them as a clump of ⌊max_num_tokens / ISL⌋ and the clump's
# members all see the clump's prefill time (measured: ISL 1,024 at concurrency 4 takes ~4 single
# prefills). vLLM's front end hands requests over one by one (its low-concurrency TTFTs are ~1 prefill).
CLUMPED_PREFILL = {"trtllm": True, "vllm": False, "sglang": True}
# The benchmark starts all clients at once: that first wave queues for b/g clump prefills (mean wait
# (b/g − 1)/2 of them), while later waves come back spread out. Benchmarks run ~10 waves (InferenceMAX
# sends 10 × concurrency prompts), so TRT-LLM and vLLM TTFTs carry 1/8-1/7 of the burst wait (measured:
# TTFT/prefill ≈ 1 + c/16 at ISL 8k). SGLang gets the same first-wave share: its benchmark recipes poll
# for requests every 10-30 iterations (priced as the recv interval in validate), and that inbox wait,
# not a recurring burst, is what its higher TTFTs showed (an earlier 0.7 share stood in for it).
BURST_WAVE_SHARE = {"trtllm": 0.125, "vllm": 0.15, "sglang": 0.125}
BISECTION_STEPS = 48
PREFILL_STEP_FOLLOWS_LOAD = True


def agg_figures(step: StepModel, lay: Layout, concurrency, isl: int, osl: int, max_num_tokens,
                kv_cap_tokens, recv_interval=1) -> dict[str, np.ndarray]:
    """TTFT, TPOT (ms) and requests/s of one agg worker at a total concurrency."""
    dp = np.asarray(lay.dp, float)
    c = np.maximum(np.asarray(concurrency, float) / dp, 1.0)
    slots = np.maximum(np.floor(kv_cap_tokens / (isl + osl)), 0.0)
    b = np.minimum(c, slots)
    ctx = isl + osl / 2.0
    chunk = np.minimum(isl, max_num_tokens)
    n_chunks = np.ceil(isl / chunk)
    # prompts that arrive together share one iteration's token budget: a clump of g prefills
    budget = max_num_tokens if CLUMPED_PREFILL.get(step.db.backend, True) else isl
    g = np.clip(np.floor(budget / isl), 1.0, np.maximum(b, 1.0))
    raw_dec = step.iteration_ms(lay, b, ctx, 0, 0)
    t_dec = raw_dec / step.tokens_per_decode_step()  # per generated token: MTP yields several per step
    # a clump's whole prefill; drafting does not shorten it
    delta_g = np.maximum(step.iteration_ms(lay, b, ctx, g, chunk) - raw_dec, 1e-6) * n_chunks
    delta = delta_g / g  # prefill work per request
    overhead = REQUEST_OVERHEAD_MS.get(step.db.backend, 0.0)
    burst = BURST_WAVE_SHARE.get(step.db.backend, 0.1)

    # a scheduler that polls for new requests every N iterations leaves an arrival (N − 1)/2 decode
    # iterations in its inbox on average (SGLang --scheduler-recv-interval; the engine default is 1)
    overhead = overhead + 0.5 * (np.asarray(recv_interval, float) - 1.0) * raw_dec

    def ttft_at(u):
        return overhead + _agg_ttft(t_dec, delta_g, t_dec / (1.0 - u), u, n_chunks, c, b, g, osl, burst)

    # u = b·Δ / (TTFT(u) + (OSL − 1)·TPOT(u)): the left side rises and the right falls in u, so bisect.
    lo, hi = np.zeros_like(t_dec), np.full_like(t_dec, 0.999)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        over = mid * (ttft_at(mid) + (osl - 1) * t_dec / (1.0 - mid)) > b * delta
        hi, lo = np.where(over, mid, hi), np.where(over, lo, mid)
    u = 0.5 * (lo + hi)
    tpot = t_dec / (1.0 - u)
    ttft = ttft_at(u)
    req_per_s = 1000.0 * b * dp / (ttft + (osl - 1) * tpot)
    # the prefill queue as costmodel.latency spreads it: utilisation, a clump's service, one request's prefill work
    return {"ttft_ms": ttft, "tpot_ms": tpot, "req_per_s": req_per_s, "running": b * dp, "queue_util": u,
            "queue_service_ms": delta_g, "prefill_work_ms": delta}


def _agg_ttft(t_dec, delta_g, tpot, u, n_chunks, c, b, g, osl, burst):
    own = 0.5 * tpot + delta_g + (n_chunks - 1) * t_dec
    queue = u / (2.0 * (1.0 - u)) * delta_g
    # the start-up burst: b clients start at once, so the b/g clumps queue for their prefills
    behind = burst * 0.5 * np.maximum(b / g - 1.0, 0.0) * delta_g
    # requests beyond the KV capacity wait for a running one to finish
    waiting = np.maximum(c - b, 0.0) / np.maximum(b, 1.0) * (own + (osl - 1) * tpot)
    return own + queue + behind + waiting


def prefill_figures(step: StepModel, lay: Layout, batch, isl: int, utilisation) -> dict[str, np.ndarray]:
    """Prefill worker: latency of a full batch, TTFT at a utilisation, requests/s at full load."""
    dp = np.asarray(lay.dp, float)
    b = np.asarray(batch, float)
    t = step.iteration_ms(lay, 0, 0, b, isl)
    lone = step.iteration_ms(lay, 0, 0, 1, isl, busy=1)  # one prompt on one rank: an idle worker's step
    return {"latency_ms": t, "lone_ms": lone, "ttft_ms": prefill_ttft(t, utilisation, lone),
            "req_per_s": 1000.0 * b * dp / t, "queue_util": np.clip(utilisation, 0.0, 0.95),
            "queue_service_ms": loaded_step_ms(t, utilisation, lone)}


def prefill_ttft(batch_latency_ms, utilisation, lone_ms=None):
    """Own step + M/D/1 wait behind queued steps + half a running step, at a utilisation.

    The engine starts a step with whatever prompts are waiting instead of filling its batch, so a
    step holds ~1 prompt on an idle worker and a full batch (every attention-DP rank busy) at
    saturation: its latency runs from ``lone_ms`` to ``batch_latency_ms`` with the utilisation."""
    rho = np.clip(utilisation, 0.0, 0.95)
    t = loaded_step_ms(batch_latency_ms, utilisation, lone_ms)
    return t + rho / (2.0 * (1.0 - rho)) * t + 0.5 * t * rho


def loaded_step_ms(batch_latency_ms, utilisation, lone_ms=None):
    """A prefill step's latency at a utilisation: from ``lone_ms`` (idle) to ``batch_latency_ms`` (saturated)."""
    if lone_ms is None or not PREFILL_STEP_FOLLOWS_LOAD:
        return batch_latency_ms
    return lone_ms + np.clip(utilisation, 0.0, 1.0) * (batch_latency_ms - lone_ms)


def decode_figures(step: StepModel, lay: Layout, batch, isl: int, osl: int) -> dict[str, np.ndarray]:
    """Decode worker with ``batch`` requests per rank: TPOT and requests/s."""
    dp = np.asarray(lay.dp, float)
    b = np.asarray(batch, float)
    tpot = step.iteration_ms(lay, b, isl + osl / 2.0, 0, 0) / step.tokens_per_decode_step()
    return {"tpot_ms": tpot, "req_per_s": 1000.0 * b * dp / (osl * tpot)}


def connector_ms(step: StepModel) -> float:
    """The disagg connector's per-request cost (ms) for this backend and attention type (HANDOFF_CONNECTOR_MS)."""
    kind = "mla" if step.a.is_mla else "gqa"
    return HANDOFF_CONNECTOR_MS.get((step.db.backend, kind), HANDOFF_CONNECTOR_MS[("trtllm", "gqa")])


def handoff_ms(step: StepModel, isl: int, tp_prefill, within_node=False) -> dict[str, np.ndarray]:
    """Disagg hand-off of one request, in ms: its KV cache moved to a decode worker plus the connector's cost.

    The bytes (the prompt's KV cache in the cache dtype, and a hybrid's fixed recurrent state) go over
    NVLink when the prefill and decode workers share a node (``within_node``), else over the link the
    system's YAML gives between nodes (RDMA; NVLink within a GB200/GB300 rack); each of the prefill
    worker's ``tp_prefill`` GPUs sends its shard on its own link. Returns ``kv_bytes``, ``transfer_ms``,
    ``connector_ms`` and their sum ``total_ms`` (arrays broadcast over ``tp_prefill``)."""
    s = step.db.system
    nbytes = step.a.kv_bytes_per_token(DTYPE_BYTES.get(step.q.kv_cache, 2.0)) * isl
    if step.a.linear_v_heads:  # hybrids (GDN) also hand over every linear layer's fixed recurrent state
        nbytes = nbytes + step.a.linear_state_bytes_per_request()
    link = np.where(within_node, s.intra_node_bw_bytes_per_s, s.inter_node_bw_bytes_per_s)
    transfer = nbytes / (link * np.asarray(tp_prefill, float)) * 1e3 + s.p2p_latency_s * 1e3
    conn = np.full_like(transfer, connector_ms(step))
    return {"kv_bytes": np.full_like(transfer, float(nbytes)), "transfer_ms": transfer, "connector_ms": conn,
            "total_ms": transfer + conn}
