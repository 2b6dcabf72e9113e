"""The benchmark's closed loop against the engine's scheduler: one mechanism for TTFT, TPOT and throughput.

The benchmark (InferenceMAX/InferenceX ``benchmark_serving``) runs ``C`` clients; each sends its next
request when the last one finishes, ``BENCHMARK_WAVES`` × C requests in all. The engine's scheduler runs
iterations under a token budget (``max_num_tokens``): every running request decodes one step (several
tokens with MTP) and prompts waiting for their prefill join in clumps that fit the budget (chunked when
one prompt exceeds it). It holds at most ``running`` requests (the batch cap and the KV cache); the rest
wait for a finished one. An engine that polls its inbox every ``N`` iterations (SGLang
``--scheduler-recv-interval``) lets arrivals wait for the next poll.

Steady state (exact mean-value analysis of the loop, per attention-DP rank). With ``u`` the share of time
the rank spends on prefill work and ``Δ`` the prefill work of one request,
    TPOT = t_decode / (1 − u),    u = λ·Δ,    λ = b / (TTFT(u) + (OSL − 1)·TPOT(u))     (Little's law)
solved for ``u`` by bisection over the whole candidate grid at once. TTFT(u) is the host path, the inbox
wait (half a poll period of mean-length iterations: decode and prefill iterations both count), the
request's clump prefill, the wait behind its own cohort when more prompts arrive together than one
iteration's budget holds, the M/D/1 wait behind other clumps at load ``u``, TRT-LLM's attention-DP balance
hold and its batch-waiting hold where a recipe turns them on (``balance_wait_ms``, ``batch_wait_ms``), and the
wait for a free slot.

Synchronized loop (an engine that prefills first, under a benchmark whose requests all have the same
lengths). SGLang runs a prefill batch on its own (mixed chunks are off by default) whenever prompts wait,
and polls its inbox right after every prefill iteration. A cohort admitted together then decodes together,
finishes in the same iteration and returns together: the whole population of ``b`` clients stays one
cohort. Each cycle prefills its ``b/g`` clumps back to back, then decodes ``OSL − 1`` steps; the k-th clump
waits for k clump prefills (TTFT) and its decode stalls for the b/g − k after it (TPOT). Any spread in the
lengths (``benchmark_serving --random-range-ratio`` below 1) spreads the finishes over many iterations
and the loop falls back to the steady state above.

Start-up transient. All C clients start at once: the first wave's ``b`` prompts queue for ``b/g``
clump iterations (each also decoding the requests already admitted), a mean of half of them. That wave is
one request in ``BENCHMARK_WAVES``; later waves return at the rate the engine served the first, so the
steady state describes them. The mean TTFT over the run is the steady state's plus that share.

Disaggregated prefill pools are the same loop with the decode side's TPOT fixed: ``pool_ttft`` is the
pool's queue at a load, ``disagg_closed_loop`` solves the load the C clients create.

Every function broadcasts over numpy arrays (the candidate grid); times are in ms, rates per ms unless
named ``_per_s``. Deterministic, no sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Requests the benchmark sends per client: InferenceMAX/InferenceX run benchmark_serving with
# --num-prompts = 10 × concurrency (the first wave of C is one request in ten).
BENCHMARK_WAVES = 10.0
BISECTION_STEPS = 48
MAX_LOAD = 0.95  # a queue formula's load is capped here: past it the closed loop throttles itself


@dataclass(frozen=True)
class RankSteps:
    """Step prices of one attention-DP rank (ms; arrays broadcast over the candidate grid).

    ``decode_ms``: one iteration decoding the running batch, no prefill. ``tokens_per_step``: tokens a
    request gains per decode step (1; more with MTP). ``clump_ms``: the extra time the prefill of one clump
    adds to the iterations that carry it (all its chunks). ``clump``: prompts one iteration's token budget
    prefills together (≥ 1; 1 for an engine that prefills prompts one at a time). ``chunks``: iterations one
    prompt's prefill spans (ISL / budget, ≥ 1). ``prefill_ms``: a clump's prefill in iterations of its own (no
    decode in them), for an engine that prefills first; None: ``clump_ms``.
    """

    decode_ms: np.ndarray
    tokens_per_step: float
    clump_ms: np.ndarray
    clump: np.ndarray
    chunks: np.ndarray
    prefill_ms: np.ndarray | None = None


@dataclass(frozen=True)
class Scheduler:
    """What the engine admits: ``running`` requests per rank at most (batch cap, KV cache); it reads its inbox
    every ``recv_interval`` iterations; ``host_ms``: the request path outside the GPU iterations (HTTP,
    tokenisation, first-token stream); ``prefill_first``: a prefill batch runs alone and before the decode of the
    running batch (SGLang without mixed chunks) rather than mixed into a decode iteration. ``balance_*``: TRT-LLM's
    attention-DP balance (``balance_wait_ms``); ``batch_wait_iters``, ``batch_wait_prompts``: TRT-LLM's batch
    waiting without attention DP (``batch_wait_ms``; 0: off)."""

    running: np.ndarray
    recv_interval: float = 1.0
    host_ms: float = 0.0
    prefill_first: bool = False
    ranks: np.ndarray | float = 1.0
    balance_timeout_iters: float = 0.0
    balance_batching_iters: float = 0.0
    batch_wait_iters: float = 0.0
    batch_wait_prompts: np.ndarray | float = 0.0


@dataclass(frozen=True)
class Benchmark:
    """The closed loop: ``clients`` per rank (≥ 1), answer length ``osl`` tokens, ``waves`` requests per client;
    ``fixed_lengths``: every request has exactly the same prompt and answer length (no length spread)."""

    clients: np.ndarray
    osl: int
    waves: float = BENCHMARK_WAVES
    fixed_lengths: bool = False


def agg_closed_loop(steps: RankSteps, sched: Scheduler, bench: Benchmark) -> dict[str, np.ndarray]:
    """Mean TTFT and TPOT (ms) a client sees and the requests/ms one rank completes, for an aggregated worker.

    Returns ``ttft_ms``, ``tpot_ms``, ``req_per_ms`` (per rank), ``running`` (requests decoding per rank),
    ``load`` (the prefill share of the rank's time, u) and ``others_load`` (the share a request meets from the
    other clients' prompts, u·(b − 1)/b: what stalls its decode and what it queues behind)."""
    c = np.maximum(np.asarray(bench.clients, float), 1.0)
    b = np.maximum(np.minimum(c, sched.running), 1.0)
    g = np.clip(steps.clump, 1.0, b)
    t_raw = np.asarray(steps.decode_ms, float)
    t_dec = t_raw / steps.tokens_per_step
    clump_ms = np.maximum(np.asarray(steps.clump_ms, float), 1e-6)
    delta = clump_ms / g  # prefill work per request
    osl = bench.osl
    n_poll = np.asarray(sched.recv_interval, float)
    chunk_iter_ms = clump_ms / steps.chunks  # one iteration of a clump's prefill
    # the start-up burst: b prompts at once queue for b/g clump iterations, each also decoding the admitted ones
    first_wave = 0.5 * np.maximum(b / g - 1.0, 0.0) * (clump_ms + t_raw * steps.chunks) / bench.waves

    # a client never queues behind itself: of the load u, the others' share is (b − 1)/b
    others = (b - 1.0) / b

    def tpot_at(u):  # decode steps stall while the other clients' prompts prefill
        return t_dec / (1.0 - u * others)

    def ttft_at(u):
        tpot = tpot_at(u)
        # iterations per ms: decode iterations for the (1 − u) share, prefill iterations for u
        mean_iter = 1.0 / ((1.0 - u) / t_raw + u / (chunk_iter_ms + t_raw))
        inbox = 0.5 * (n_poll - 1.0) * mean_iter
        lam = u / delta  # requests per ms
        # arrivals between two polls reach the scheduler together; beyond one clump they queue behind each other
        # (a clump prefilled together finishes and returns together: it stays a clump of g)
        cohort = np.maximum(g, np.minimum(lam * n_poll * mean_iter, b))
        # batch waiting releases the prompts it held together
        batch_wait = 0.0
        if sched.batch_wait_iters:
            held, released = batch_wait_ms(lam, sched.batch_wait_iters * t_raw, sched.batch_wait_prompts)
            waits = (b > 1.0) & (np.asarray(sched.ranks) <= 1.0)  # only while requests decode; not with attention DP
            batch_wait = np.where(waits, held, 0.0)
            cohort = np.where(waits, np.maximum(cohort, np.minimum(released, b)), cohort)
        behind_cohort = 0.5 * np.maximum(cohort / g - 1.0, 0.0) * clump_ms
        # half of the other clients' decode iteration in flight (an MTP iteration yields several tokens, not less
        # time), its own clump, and the decode iterations between its chunks
        own = 0.5 * tpot * steps.tokens_per_step * others + clump_ms + (steps.chunks - 1.0) * t_raw
        queue = u * others / (2.0 * (1.0 - u)) * clump_ms
        # the balance holds prompts only while every rank decodes: a rank with one client has nothing to decode
        # while its prompt waits (off in the product's recipe: nothing to compute on the search's grid)
        balance = 0.0
        if sched.balance_timeout_iters:
            held = balance_wait_ms(
                lam * sched.ranks,
                sched.ranks,
                sched.balance_timeout_iters * mean_iter,
                sched.balance_batching_iters * mean_iter,
            )
            balance = np.where(b > 1.0, held, 0.0)
        admitted = sched.host_ms + inbox + own + behind_cohort + queue + first_wave + balance + batch_wait
        # requests beyond the running cap wait for a slot: (c − b)/b of a running request's cycle
        return admitted + np.maximum(c - b, 0.0) / b * (admitted + (osl - 1) * tpot)

    if sched.prefill_first and bench.fixed_lengths:
        return _synchronized(steps, sched, bench, c, b, g, t_dec)
    # Little's law, u·(TTFT(u) + (OSL − 1)·TPOT(u)) = C·Δ: the left side rises in u, so bisect.
    lo, hi = np.zeros_like(t_dec * c), np.full_like(t_dec * c, 0.999)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        over = mid * (ttft_at(mid) + (osl - 1) * tpot_at(mid)) > c * delta
        hi, lo = np.where(over, mid, hi), np.where(over, lo, mid)
    u = 0.5 * (lo + hi)
    tpot = tpot_at(u)
    ttft = ttft_at(u)
    return {
        "ttft_ms": ttft,
        "tpot_ms": tpot,
        "req_per_ms": c / (ttft + (osl - 1) * tpot),
        "running": b,
        "load": u,
        "others_load": u * others,
    }


def balance_wait_ms(rate_per_ms, ranks, timeout_ms, batching_ms=0.0):
    """Mean wait (ms) of a prompt under TRT-LLM's attention-DP balance (``attention_dp_config.enable_balance``;
    TensorRT-LLM tech blog 10, "ADP Balance Strategy", and ``PyExecutor._balance_adp_requests``).

    While every rank decodes, the scheduler holds all prompts until every rank has one, then ``batching_ms``
    (``batching_wait_iters`` iterations) longer; its timeout counter runs every iteration in which some rank
    has none and flushes the held prompts every ``timeout_ms`` (``timeout_iters`` iterations). New requests go
    to the ranks in turn, so with the worker's arrivals ``a = 1 / rate_per_ms`` apart a round of ``ranks``
    arrivals fills every rank after (ranks − 1)·a: a mean wait of (ranks − 1)·a/2 + ``batching_ms``. A round
    that would outlast the timeout is flushed by it, and arrivals, uniform over the timer's period, wait
    ``timeout_ms``/2 on average. One rank, or a zero timeout, never waits."""
    ranks = np.asarray(ranks, float)
    a = 1.0 / np.maximum(np.asarray(rate_per_ms, float), 1e-12)
    cap = np.asarray(timeout_ms, float)
    full = (ranks - 1.0) * a
    wait = np.where(full <= cap, 0.5 * full + batching_ms, 0.5 * cap)
    return np.where((ranks > 1.0) & (cap > 0.0), wait, 0.0)


def batch_wait_ms(rate_per_ms, timeout_ms, prompts):
    """Mean wait (ms) of a prompt under TRT-LLM's batch waiting (``batch_wait_timeout_iters``,
    ``batch_wait_max_tokens_ratio``; ``PyExecutor._waiting_requests``), which applies without attention DP while
    requests decode.

    The scheduler holds every waiting prompt until the tokens it would schedule (the prompts' and one per decoding
    request) reach the ratio of its token budget, ``prompts`` prompts here, or until it has held them
    ``timeout_iters`` iterations (``timeout_ms``); then it releases them together and restarts the count. With
    arrivals ``rate_per_ms`` the window the first prompt opens lasts W = min(timeout, (prompts − 1) / rate): the
    first prompt waits W, the others arriving in it (n = rate · W of them) half of it on average, W·(1 + n/2)/(1 + n);
    a window the prompt count closes has its last arrival waiting nothing, W/2. ``prompts`` ≤ 1 (one prompt
    reaches the threshold) never waits. Returns the mean wait and the prompts released together (1 + n)."""
    rate = np.maximum(np.asarray(rate_per_ms, float), 1e-12)
    k = np.asarray(prompts, float)
    timeout = np.asarray(timeout_ms, float)
    by_count = (k - 1.0) / rate < timeout
    window = np.where(by_count, (k - 1.0) / rate, timeout)
    n = rate * window
    wait = np.where(by_count, 0.5 * window, window * (1.0 + 0.5 * n) / (1.0 + n))
    holds = (k > 1.0) & (timeout > 0.0)
    return np.where(holds, wait, 0.0), np.where(holds, 1.0 + n, 1.0)


def _synchronized(steps: RankSteps, sched: Scheduler, bench: Benchmark, c, b, g, t_dec) -> dict[str, np.ndarray]:
    """The synchronized loop of a prefill-first engine under same-length requests (module docstring).

    ``n = b/g`` clumps prefill back to back: the k-th request clump's TTFT holds k clump prefills (mean (n + 1)/2),
    its decode stalls for the n − k after it (mean (n − 1)/2 over its OSL − 1 tokens). Arrivals reach an idle or
    prefilling engine, which polls at once (SGLang's recv skipper counts only decode iterations toward its
    interval), so there is no inbox wait; the cohort is the benchmark's first wave, so no start-up excess either.
    Clients past the running cap wait for a slot as in the steady state."""
    pf = np.asarray(steps.clump_ms if steps.prefill_ms is None else steps.prefill_ms, float)
    n = b / g
    osl = bench.osl
    tpot = t_dec + 0.5 * (n - 1.0) * pf / max(osl - 1, 1)
    admitted = sched.host_ms + 0.5 * (n + 1.0) * pf
    ttft = admitted + np.maximum(c - b, 0.0) / b * (admitted + (osl - 1) * tpot)
    cycle = ttft + (osl - 1) * tpot
    u = np.minimum(n * pf / (admitted + (osl - 1) * tpot), 1.0)  # the share of a cycle spent prefilling
    return {
        "ttft_ms": ttft,
        "tpot_ms": tpot,
        "req_per_ms": c / cycle,
        "running": b,
        "load": u,
        "others_load": u * (b - 1.0) / b,
    }


def pool_ttft(batch_ms, load, lone_ms=None):
    """TTFT (ms) at a disagg prefill pool at a load (0-1): own step + M/D/1 wait behind queued steps + half a
    running step.

    The engine starts a step with whatever prompts are waiting instead of filling its batch, so a step holds
    ~1 prompt on an idle worker and a full batch (every attention-DP rank busy) at saturation: its latency
    runs from ``lone_ms`` to ``batch_ms`` with the load."""
    rho = np.clip(load, 0.0, MAX_LOAD)
    t = loaded_step_ms(batch_ms, load, lone_ms)
    return t + rho / (2.0 * (1.0 - rho)) * t + 0.5 * t * rho


def loaded_step_ms(batch_ms, load, lone_ms=None):
    """A prefill step's latency (ms) at a load: from ``lone_ms`` (idle: one prompt) to ``batch_ms`` (saturated)."""
    if lone_ms is None:
        return batch_ms
    return lone_ms + np.clip(load, 0.0, 1.0) * (batch_ms - lone_ms)


def disagg_closed_loop(
    clients,
    osl: int,
    tpot_ms,
    batch_ms,
    lone_ms,
    capacity_per_ms,
    fixed_ms,
    waves: float = BENCHMARK_WAVES,
    slots=np.inf,
) -> np.ndarray:
    """Mean TTFT (ms) of a disaggregated deployment under the closed loop.

    ``clients`` (all of them), the decode side's ``tpot_ms``, the prefill pool's full-batch step ``batch_ms``,
    lone-prompt step ``lone_ms`` and capacity ``capacity_per_ms`` (requests/ms, all prefill workers),
    ``fixed_ms`` added to every request (hand-off), ``slots``: requests the decode pool runs at once (its batch
    cap per rank × ranks; inf: no cap). The loads the clients create and the TTFT they see solve
    TTFT = pool_ttft(λ / capacity) + fixed + first wave, λ = C / (TTFT + (OSL − 1)·TPOT); the first wave's C
    prompts wait a mean C / (2·capacity) for the pool, one request in ``waves``.

    A prefilled request waits for a decode slot; the decode worker holds it from the hand-off to the last token,
    ``fixed_ms`` + (OSL − 1)·TPOT, and streams the first token once it holds one. When the slots bind they set the
    throughput, X = slots / hold, and Little's law over the C clients gives TTFT = C / X − (OSL − 1)·TPOT (the
    prefill and its queue overlap the wait); else the loop above."""
    c = np.asarray(clients, float)
    tpot = np.asarray(tpot_ms, float)
    fixed = np.asarray(fixed_ms, float) + 0.5 * c / capacity_per_ms / waves

    def excess(ttft):  # rises with ttft: a longer TTFT lowers the load that causes it
        lam = c / (ttft + (osl - 1) * tpot)
        return ttft - pool_ttft(batch_ms, lam / capacity_per_ms, lone_ms) - fixed

    lo = np.minimum(batch_ms, lone_ms) + fixed
    hi = pool_ttft(batch_ms, 1.0, lone_ms) + fixed
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    lo, hi = lo.copy(), hi.copy()
    for _ in range(BISECTION_STEPS + 12):
        mid = 0.5 * (lo + hi)
        over = excess(mid) > 0
        hi, lo = np.where(over, mid, hi), np.where(over, lo, mid)
    # a saturated pool serves `capacity` requests/ms and the other clients queue for it (Little's law)
    saturated = c / capacity_per_ms - (osl - 1) * tpot + np.asarray(fixed_ms, float)
    hold = np.asarray(fixed_ms, float) + (osl - 1) * tpot
    slot_bound = c / np.asarray(slots, float) * hold - (osl - 1) * tpot
    return np.maximum(np.maximum(0.5 * (lo + hi), saturated), slot_bound)
