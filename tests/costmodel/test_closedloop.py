"""The closed-loop mechanism against cases with known answers (costmodel.closedloop)."""

from __future__ import annotations

import numpy as np
import pytest

from costmodel.closedloop import (
    BENCHMARK_WAVES,
    Benchmark,
    RankSteps,
    Scheduler,
    agg_closed_loop,
    balance_wait_ms,
    batch_wait_ms,
    disagg_closed_loop,
    pool_ttft,
)

T_DEC, CLUMP, G, OSL = 20.0, 100.0, 4.0, 500  # ms per decode iteration, ms per clump of G prompts


def _steps(decode_ms=T_DEC, clump_ms=CLUMP, clump=G, chunks=1.0, tokens=1.0) -> RankSteps:
    return RankSteps(
        decode_ms=np.asarray(decode_ms, float),
        tokens_per_step=tokens,
        clump_ms=np.asarray(clump_ms, float),
        clump=np.asarray(clump, float),
        chunks=np.asarray(chunks, float),
    )


def _loop(clients, running=1e9, recv=1.0, host=0.0, steps=None, osl=OSL):
    return agg_closed_loop(
        steps or _steps(),
        Scheduler(running=np.asarray(running, float), recv_interval=recv, host_ms=host),
        Benchmark(clients=np.asarray(clients, float), osl=osl),
    )


def test_one_client_sees_one_prefill_plus_the_request_path():
    """Concurrency 1: nobody to queue behind, no burst, no other prompt stalling decode. TTFT is the host path plus
    its own prefill (one prompt: the clump holds only what arrives), TPOT is the bare decode step."""
    f = _loop(1, host=50.0, steps=_steps(clump=1.0, clump_ms=30.0))
    assert float(f["ttft_ms"]) == pytest.approx(50.0 + 30.0)
    assert float(f["tpot_ms"]) == pytest.approx(T_DEC)
    # MTP: each decode step gives a request several tokens
    g = _loop(1, steps=_steps(clump=1.0, clump_ms=30.0, tokens=2.5))
    assert float(g["tpot_ms"]) == pytest.approx(T_DEC / 2.5)


def test_a_prompt_waits_out_half_of_the_decode_iteration_in_flight_whatever_it_yields():
    """Two clients at a negligible load (a long answer): a prompt meets the other client's decode iteration in
    flight and waits half of it. An MTP iteration of the same length gives more tokens, not a shorter wait."""
    long = 10**7
    plain = _loop(2, steps=_steps(clump=1.0, clump_ms=30.0), osl=long)
    mtp = _loop(2, steps=_steps(clump=1.0, clump_ms=30.0, tokens=3.0), osl=long)
    start_up = 0.5 * (30.0 + T_DEC) / BENCHMARK_WAVES  # the first wave: one of the two prompts waits for the other
    assert float(plain["ttft_ms"]) == pytest.approx(30.0 + 0.5 * T_DEC * 0.5 + start_up, rel=1e-3)  # others: 1/2
    assert float(mtp["ttft_ms"]) == pytest.approx(float(plain["ttft_ms"]), rel=1e-3)
    # a prompt chunked over three iterations waits out the two decode iterations between its chunks, whatever
    # tokens those yield
    chunked = _loop(2, steps=_steps(clump=1.0, clump_ms=30.0, chunks=3.0), osl=long)
    chunked_mtp = _loop(2, steps=_steps(clump=1.0, clump_ms=30.0, chunks=3.0, tokens=3.0), osl=long)
    assert float(chunked_mtp["ttft_ms"]) == pytest.approx(float(chunked["ttft_ms"]), rel=1e-3)


def test_littles_law_holds_at_every_concurrency():
    """C = X · (TTFT + (OSL − 1) · TPOT), including clients that wait for a slot beyond the running cap."""
    c = np.array([1, 3, 16, 64, 256, 1000])
    g = np.minimum(c, G)  # a clump holds at most the clients there are
    f = _loop(c, running=128, steps=_steps(clump=g, clump_ms=CLUMP / G * g))
    cycle = f["ttft_ms"] + (OSL - 1) * f["tpot_ms"]
    assert np.allclose(f["req_per_ms"] * cycle, c, rtol=1e-6)
    # the prefill load the loop settles at is the one its own request rate creates: u = X · Δ
    assert np.allclose(f["load"], f["req_per_ms"] * CLUMP / G, rtol=1e-3)


def test_a_saturated_loop_serves_at_capacity_and_the_rest_queue():
    """Past the running cap (batch cap, KV slots) throughput stays at what the cap sustains; every extra client
    adds its share of a cycle to TTFT, TPOT does not move."""
    cap = 64
    at_cap = _loop(cap, running=cap)
    for c in (2 * cap, 10 * cap):
        f = _loop(c, running=cap)
        assert float(f["req_per_ms"]) == pytest.approx(float(at_cap["req_per_ms"]), rel=1e-3)
        assert float(f["tpot_ms"]) == pytest.approx(float(at_cap["tpot_ms"]), rel=1e-3)
        assert float(f["running"]) == cap


def test_the_start_up_burst_is_one_request_in_ten():
    """All clients start at once: the first wave of C prompts goes through C/G clump iterations (each also
    decoding the admitted requests), a mean of half of them; that wave is one request in BENCHMARK_WAVES."""
    c = 64.0
    short = agg_closed_loop(_steps(), Scheduler(running=np.asarray(1e9)), Benchmark(np.asarray(c), OSL, waves=1e12))
    full = _loop(c)
    burst = 0.5 * (c / G - 1.0) * (CLUMP + T_DEC) / BENCHMARK_WAVES
    # the burst lengthens the cycle slightly, which lowers the steady load: allow that second-order change
    assert float(full["ttft_ms"] - short["ttft_ms"]) == pytest.approx(burst, rel=0.05)


def test_inbox_poll_waits_half_a_poll_period_of_iterations():
    """An engine that reads its inbox every N iterations delays a lone request by (N − 1)/2 iterations."""
    base, polled = _loop(1, steps=_steps(clump=1.0)), _loop(1, recv=11.0, steps=_steps(clump=1.0))
    # a lone client's iterations are decode iterations only while it waits (its own prompt is not yet admitted)
    wait = float(polled["ttft_ms"] - base["ttft_ms"])
    assert 5.0 * T_DEC * 0.8 < wait < 5.0 * (T_DEC + CLUMP)


def test_disagg_pool_queue_and_saturation():
    """A prefill pool: idle, TTFT is one lone step plus the fixed hand-off; loaded, the M/D/1 wait grows; saturated,
    the pool serves its capacity and the clients beyond it queue (Little's law)."""
    assert float(pool_ttft(200.0, 0.0, 80.0)) == pytest.approx(80.0)
    loads = np.array([0.1, 0.5, 0.9])
    assert np.all(np.diff(pool_ttft(200.0, loads, 80.0)) > 0)
    tpot, cap = 20.0, 0.01  # a pool of 10 requests/s
    one = float(disagg_closed_loop(1, OSL, tpot, 200.0, 80.0, cap, 30.0))
    assert one == pytest.approx(80.0 + 30.0 + 0.5 / cap / BENCHMARK_WAVES, rel=0.1)
    for c in (500, 5000):
        ttft = float(disagg_closed_loop(c, OSL, tpot, 200.0, 80.0, cap, 30.0))
        assert c / (ttft + (OSL - 1) * tpot) == pytest.approx(cap, rel=1e-3)


def test_a_prefill_first_engine_under_same_length_requests_stays_one_cohort():
    """SGLang (prefill first) with every request exactly ISL/OSL: the b clients return together, their b/g clumps
    prefill back to back, then all decode. Mean TTFT = (b/g + 1)/2 clumps, mean TPOT = decode step + (b/g − 1)/2
    clumps over OSL − 1 tokens; Little's law still holds. With a length spread the loop is the steady state."""
    c = 64.0
    sched = Scheduler(running=np.asarray(1e9), recv_interval=30.0, host_ms=10.0, prefill_first=True)
    sync = agg_closed_loop(_steps(), sched, Benchmark(np.asarray(c), OSL, fixed_lengths=True))
    n = c / G
    assert float(sync["ttft_ms"]) == pytest.approx(10.0 + (n + 1) / 2 * CLUMP)
    assert float(sync["tpot_ms"]) == pytest.approx(T_DEC + (n - 1) / 2 * CLUMP / (OSL - 1))
    assert float(sync["req_per_ms"]) * (float(sync["ttft_ms"]) + (OSL - 1) * float(sync["tpot_ms"])) == pytest.approx(c)
    spread = agg_closed_loop(_steps(), sched, Benchmark(np.asarray(c), OSL))
    mixed = agg_closed_loop(
        _steps(),
        Scheduler(running=np.asarray(1e9), recv_interval=30.0, host_ms=10.0),
        Benchmark(np.asarray(c), OSL, fixed_lengths=True),
    )
    assert float(spread["ttft_ms"]) == pytest.approx(float(mixed["ttft_ms"]))
    # the cohort waits for its own prefills where the spread loop stalls decode instead: TTFT up, TPOT down
    assert float(sync["ttft_ms"]) > float(spread["ttft_ms"]) and float(sync["tpot_ms"]) < float(spread["tpot_ms"])


def test_attention_dp_balance_holds_a_prompt_until_every_rank_has_one():
    """TRT-LLM's attention-DP balance: arrivals 10 ms apart over 4 ranks fill a round in 30 ms, a mean wait of 15 ms
    (plus the batching wait once the round is full); a round the 60 ms timeout cuts short (8 ranks, 100 ms apart)
    is flushed by the free-running timer, half its period on average; one rank or no timeout never waits."""
    rate = 1.0 / np.array([10.0, 100.0])
    assert balance_wait_ms(rate[0], 4, 1000.0) == pytest.approx(15.0)
    assert balance_wait_ms(rate[0], 4, 1000.0, batching_ms=40.0) == pytest.approx(55.0)
    assert balance_wait_ms(rate[1], 8, 60.0, batching_ms=40.0) == pytest.approx(30.0)
    assert np.all(balance_wait_ms(rate, 1, 1000.0) == 0.0)
    assert np.all(balance_wait_ms(rate, 8, 0.0) == 0.0)


def test_the_balance_wait_is_added_to_ttft_only_while_every_rank_decodes():
    """The same loop with and without the balance: TTFT grows by the wait at the loop's own arrival rate (Little's law
    still holds); one client per rank never waits (its rank has nothing to decode)."""

    def run(clients, timeout):
        return agg_closed_loop(
            _steps(),
            Scheduler(running=np.asarray(1e9), ranks=8.0, balance_timeout_iters=timeout),
            Benchmark(clients=np.asarray(clients, float), osl=OSL),
        )

    off, on = run(32.0, 0.0), run(32.0, 60.0)
    assert float(on["ttft_ms"]) > float(off["ttft_ms"]) + 1.0
    cycle = on["ttft_ms"] + (OSL - 1) * on["tpot_ms"]
    assert float(on["req_per_ms"]) == pytest.approx(float(32.0 / cycle))
    assert float(run(1.0, 60.0)["ttft_ms"]) == pytest.approx(float(run(1.0, 0.0)["ttft_ms"]))


def test_clients_past_the_decode_slots_wait_for_a_finishing_request():
    """A decode pool that runs ``slots`` requests at once (its batch cap) and holds each from the hand-off to the
    last token: once the slots bind they set the throughput (slots / hold) and Little's law over all C clients
    gives TTFT; below that the loop is the uncapped one."""
    tpot, cap, fixed = 10.0, 0.05, 30.0
    free = float(disagg_closed_loop(60, OSL, tpot, 200.0, 80.0, cap, fixed))
    assert float(disagg_closed_loop(60, OSL, tpot, 200.0, 80.0, cap, fixed, slots=60)) == pytest.approx(free)
    capped = float(disagg_closed_loop(60, OSL, tpot, 200.0, 80.0, cap, fixed, slots=40))
    hold = fixed + (OSL - 1) * tpot
    assert 60 / (capped + (OSL - 1) * tpot) == pytest.approx(40 / hold)
    assert capped > free


def test_batch_waiting_holds_a_prompt_for_the_timeout_or_until_enough_arrive():
    """TRT-LLM batch waiting. Arrivals 1,000 ms apart against a 200 ms timeout: the first prompt of a window waits it
    all, the 0.2 that follow half of it, 200·1.1/1.2 ms on average, and they leave in a group of 1.2. Arrivals 10 ms
    apart with 5 prompts ending the wait: the window closes after 40 ms, a mean wait of 20 ms. One prompt that meets
    the threshold alone, or no timeout, never waits."""
    wait, released = batch_wait_ms(1.0 / 1000.0, 200.0, 5.0)
    assert float(wait) == pytest.approx(200.0 * 1.1 / 1.2)
    assert float(released) == pytest.approx(1.2)
    wait, released = batch_wait_ms(1.0 / 10.0, 200.0, 5.0)
    assert (float(wait), float(released)) == pytest.approx((20.0, 5.0))
    assert float(batch_wait_ms(0.01, 200.0, 1.0)[0]) == 0.0
    assert float(batch_wait_ms(0.01, 0.0, 5.0)[0]) == 0.0


def test_batch_waiting_adds_its_hold_only_while_requests_decode_without_attention_dp():
    """The same loop with and without batch waiting: at 4 clients TTFT grows by about the timeout (20 iterations of
    the decode step) and Little's law still holds; a lone client (nothing decodes) and attention DP never wait."""

    def run(clients, iters, ranks=1.0):
        return agg_closed_loop(
            _steps(),
            Scheduler(running=np.asarray(1e9), ranks=ranks, batch_wait_iters=iters, batch_wait_prompts=8.0),
            Benchmark(clients=np.asarray(clients, float), osl=OSL),
        )

    off, on = run(4.0, 0.0), run(4.0, 20.0)
    assert 0.8 * 20 * T_DEC < float(on["ttft_ms"] - off["ttft_ms"]) <= 20 * T_DEC
    cycle = on["ttft_ms"] + (OSL - 1) * on["tpot_ms"]
    assert float(on["req_per_ms"]) == pytest.approx(float(4.0 / cycle))
    assert float(run(1.0, 20.0)["ttft_ms"]) == pytest.approx(float(run(1.0, 0.0)["ttft_ms"]))
    assert float(run(32.0, 20.0, ranks=8.0)["ttft_ms"]) == pytest.approx(float(run(32.0, 0.0, ranks=8.0)["ttft_ms"]))
