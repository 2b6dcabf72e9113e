"""Serving models: what a request sees (TTFT, TPOT) and what a worker sustains (requests/s).

Aggregated in-flight batching: the benchmark's closed loop against the engine's scheduler
(costmodel.closedloop), fed with this worker's step prices: the decode iteration of the running
batch, the extra time a clump of prompts that fits one token budget adds, and the scheduler's
limits (KV slots, token budget, inbox poll, whether prompts arriving together stay a clump).

Disaggregated. A prefill worker runs batches of ``batch`` prompts; a decode worker holds
``batch`` requests per rank. TTFT on the prefill side is the pool's queue at a load
(closedloop.pool_ttft: the search plans the load, validate solves it from the concurrency with
closedloop.disagg_closed_loop) plus the KV-cache hand-off to the decode worker.
"""

from __future__ import annotations

import numpy as np

from costmodel.closedloop import MAX_LOAD, Benchmark, RankSteps, Scheduler, agg_closed_loop, loaded_step_ms, pool_ttft
from costmodel.engines import EngineRules, engine_rules
from costmodel.step import Layout, StepModel
from costmodel.system import DTYPE_BYTES

# Disagg hand-off, besides moving the KV bytes: the engine's request path (EngineRules.request_path_ms, the same
# per-request cost as an agg request: the prefill and decode workers run the engine's own request handling) and the
# connector's handshake (the two-hop route, the transfer handshake, the decode worker admitting the request).
# Evidence: the dev disagg rows at concurrency <= 4 leave, beyond the priced prefill and KV transfer, what each
# engine's agg rows leave plus a little: SGLang DeepSeek 229 ms (45 rows) against its agg 195; TRT-LLM DeepSeek
# 181 (24) against 162 (its agg path with the MLA cost); TRT-LLM gpt-oss-120b on gb200 38 (6) against 33. The
# handshake is the median of those remainders less the engine's request path over all 76 rows (one value for
# every backend and attention type: bench/request_overhead.py; 17.9 ms until stop 24 re-derived the request paths
# under it). It replaces a connector cost by attention type (GQA 36, MLA 200 ms) that stood in for the engines'
# request paths.
HANDOFF_HANDSHAKE_MS = 19.1


def agg_figures(
    step: StepModel,
    lay: Layout,
    concurrency,
    isl: int,
    osl: int,
    max_num_tokens,
    kv_cap_tokens,
    recv_interval=1,
    fixed_lengths=False,
    max_running=None,
    balance_timeout_iters=0,
    balance_batching_iters=0,
    batch_wait_iters=0,
    batch_wait_ratio=0.0,
) -> dict[str, np.ndarray]:
    """TTFT, TPOT (ms) and requests/s of one agg worker at a total concurrency (costmodel.closedloop).

    ``concurrency`` clients spread over the worker's attention-DP ranks; each rank holds as many requests
    as its KV cache (``kv_cap_tokens`` per rank) has room for ISL + OSL tokens; ``max_num_tokens`` is the
    engine's token budget per iteration; ``recv_interval`` the iterations between inbox polls; ``fixed_lengths``
    whether every request has exactly ISL/OSL tokens (a prefill-first engine's loop then stays synchronized);
    ``max_running`` the engine's batch cap per rank (None: the concurrency, as the product exports it);
    ``balance_timeout_iters``, ``balance_batching_iters`` TRT-LLM's attention-DP balance (closedloop.balance_wait_ms;
    0: off, as the product exports it); ``batch_wait_iters``, ``batch_wait_ratio`` TRT-LLM's batch waiting
    (``batch_wait_timeout_iters``, ``batch_wait_max_tokens_ratio`` of ``max_num_tokens``; closedloop.batch_wait_ms;
    0: off, as the product exports it). Returns
    ``ttft_ms``, ``tpot_ms``, ``req_per_s`` (the worker) and ``running`` (requests decoding, the worker)."""
    dp = np.asarray(lay.dp, float)
    c = np.maximum(np.asarray(concurrency, float) / dp, 1.0)
    slots = np.maximum(np.floor(kv_cap_tokens / (isl + osl)), 0.0)
    if max_running is not None:
        slots = np.minimum(slots, max_running)
    b = np.maximum(np.minimum(c, slots), 1.0)
    ctx = isl + osl / 2.0
    chunk = np.minimum(isl, max_num_tokens)
    n_chunks = np.ceil(isl / chunk)
    # Prompts that reach the scheduler together are prefilled together, up to the token budget. Same-length requests
    # admitted together then finish together and come back together: under a fixed-length benchmark the cohort
    # persists and each clump holds what one budget fits. An engine that mixes a split prompt's remainder into the
    # next decode iterations lets the cohort's prefills end apart, and any length spread spreads the returns: the
    # clump is then the prompts arriving within one iteration (closedloop's arrival cohort), from one prompt.
    rules = engine_rules(step.db.backend)
    g = np.clip(np.floor(max_num_tokens / isl), 1.0, b) if cohorts_persist(rules, fixed_lengths) else np.ones_like(b)
    raw_dec = step.iteration_ms(lay, b, ctx, 0, 0)
    # a clump's whole prefill; drafting does not shorten it
    clump_ms = np.maximum(step.iteration_ms(lay, b, ctx, g, chunk) - raw_dec, 1e-6) * n_chunks
    # a prefill-first engine runs the clump's iterations without the decode batch
    alone = step.iteration_ms(lay, 0, 0, g, chunk) * n_chunks if rules.prefill_first else None
    steps = RankSteps(
        decode_ms=raw_dec,
        tokens_per_step=step.tokens_per_decode_step(),
        clump_ms=clump_ms,
        clump=g,
        chunks=n_chunks,
        prefill_ms=alone,
    )
    sched = Scheduler(
        running=b,
        recv_interval=float(recv_interval),
        host_ms=request_path_ms(step),  # request path outside the GPU steps
        prefill_first=rules.prefill_first,
        ranks=dp,
        balance_timeout_iters=float(balance_timeout_iters),
        balance_batching_iters=float(balance_batching_iters),
        batch_wait_iters=float(batch_wait_iters),
        # the hold ends once the prompts' tokens and one per decoding request (and per drafted token) reach it
        batch_wait_prompts=np.ceil((batch_wait_ratio * max_num_tokens - b * (1.0 + step.mtp_draft)) / isl),
    )
    f = agg_closed_loop(steps, sched, Benchmark(clients=c, osl=osl, fixed_lengths=fixed_lengths))
    # the prefill queue as costmodel.latency spreads it: the load a request meets from the other clients' prompts,
    # a clump's service, one request's prefill work
    return {
        "ttft_ms": f["ttft_ms"],
        "tpot_ms": f["tpot_ms"],
        "req_per_s": 1000.0 * f["req_per_ms"] * dp,
        "running": f["running"] * dp,
        "queue_util": f["others_load"],
        "queue_service_ms": clump_ms,
        "prefill_work_ms": clump_ms / g,
    }


def cohorts_persist(rules: EngineRules, fixed_lengths: bool) -> bool:
    """Whether prompts prefilled together keep returning together (agg_figures' clump): only under same-length
    requests, and on an engine that does not mix a split prompt's remainder into later decode iterations."""
    return fixed_lengths and not rules.mixes_prefill_chunks


def prefill_figures(step: StepModel, lay: Layout, batch, isl: int, utilisation) -> dict[str, np.ndarray]:
    """Prefill worker: latency of a full batch, TTFT at a utilisation, requests/s at full load."""
    dp = np.asarray(lay.dp, float)
    b = np.asarray(batch, float)
    t = step.iteration_ms(lay, 0, 0, b, isl)
    lone = step.iteration_ms(lay, 0, 0, 1, isl, busy=1)  # one prompt on one rank: an idle worker's step
    return {
        "latency_ms": t,
        "lone_ms": lone,
        "ttft_ms": prefill_ttft(t, utilisation, lone),
        "req_per_s": 1000.0 * b * dp / t,
        "queue_util": np.clip(utilisation, 0.0, MAX_LOAD),
        "queue_service_ms": loaded_step_ms(t, utilisation, lone),
    }


def prefill_ttft(batch_latency_ms, utilisation, lone_ms=None):
    """TTFT (ms) at a disagg prefill worker at a utilisation: costmodel.closedloop.pool_ttft."""
    return pool_ttft(batch_latency_ms, utilisation, lone_ms)


def decode_figures(step: StepModel, lay: Layout, batch, isl: int, osl: int) -> dict[str, np.ndarray]:
    """Decode worker with ``batch`` requests per rank: TPOT and requests/s."""
    dp = np.asarray(lay.dp, float)
    b = np.asarray(batch, float)
    tpot = step.iteration_ms(lay, b, isl + osl / 2.0, 0, 0) / step.tokens_per_decode_step()
    return {"tpot_ms": tpot, "req_per_s": 1000.0 * b * dp / (osl * tpot)}


def request_path_ms(step: StepModel) -> float:
    """The engine's request path outside the GPU steps for this model (ms, once per request, agg and disagg alike:
    data/engines/<backend>.yaml ``host.request_overhead_ms`` and, for an MLA model, ``host.mla_request_overhead_ms``)."""
    return engine_rules(step.db.backend).request_path_ms(step.a.is_mla)


def connector_ms(step: StepModel) -> float:
    """A disagg request's fixed cost besides the KV bytes (ms): the engine's request path and the connector's
    handshake (HANDOFF_HANDSHAKE_MS)."""
    return request_path_ms(step) + HANDOFF_HANDSHAKE_MS


def handoff_ms(step: StepModel, isl: int, tp_prefill, within_node=False) -> dict[str, np.ndarray]:
    """Disagg hand-off of one request, in ms: its KV cache moved to a decode worker plus the request's fixed cost
    (connector_ms: the engine's request path and the connector's handshake).

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
    return {
        "kv_bytes": np.full_like(transfer, float(nbytes)),
        "transfer_ms": transfer,
        "connector_ms": conn,
        "total_ms": transfer + conn,
    }
