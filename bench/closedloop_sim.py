"""A discrete-event reference for costmodel/closedloop.py: the InferenceMAX benchmark against an iteration scheduler.

Usage: python bench/closedloop_sim.py [csv] [--every N] [--max-iters N] [--seed S] [--dump rows.csv]

Not part of the product. ``costmodel.closedloop`` prices the benchmark's closed loop analytically; among its
assumptions, every prompt of TRT-LLM and SGLang is priced as part of a *full clump* (the prompts one iteration's
token budget holds, ⌊budget / ISL⌋ capped by the running batch) and vLLM's as a clump of one. This script
simulates the same loop iteration by iteration, with each engine's admission rule, to judge those assumptions
on the rows ``validate`` prices:

Benchmark (``benchmark_serving`` as InferenceMAX runs it). C clients per attention-DP rank; each sends a
request at t = 0 (the start-up wave), then its next one when the previous finishes; 10 × C requests in all.
ISL and OSL are drawn uniformly from the integers in [r·L, L] (r = validate's range ratio, 0.8 for
InferenceMAX rows; 1: exact lengths), seeded. A request reaches the scheduler ``host_ms`` after it is sent
(the engine's request path, ``costmodel.serving.request_path_ms``), so TTFT = host + queue + prefill.
Reported: mean TTFT and mean TPOT = (E2E − TTFT) / (OSL − 1) per request, as benchmark_serving does.

Scheduler, per iteration. Every running request decodes one step (``tokens_per_step`` tokens on average: MTP's
mean accepted length, no sampling); waiting prompts are admitted first come, first served while the running
count is below the cap (KV slots, the recipe's batch cap) and the iteration's token budget has room. Engine
differences are the ``Engine`` switches: whether decode tokens (1 + drafts per request) count against the
budget (TRT-LLM, vLLM) or the budget is prefill-only (SGLang's chunked-prefill size); whether a prompt that does
not fit the rest of the budget is chunked (vLLM, SGLang) or waits (TRT-LLM: only a prompt that opens an
iteration's prefill is cut to the room left, as with chunked prefill on, so that a prompt larger than the
budget still runs); whether a prefill batch runs alone, before the running batch decodes (SGLang without mixed
chunks); and SGLang's inbox: polled after every prefill iteration, every ``recv_interval`` decode iterations,
and at once when idle (its recv skipper weighs decode iterations 1 and the other modes 1000).

Prices. An iteration lasts ``StepModel.iteration_ms`` of exactly its content: its decode count and their
mean context, its prefill prompt (or chunk) count and their mean tokens. To keep a run of ~10⁵ iterations
cheap, ``StepPrices`` evaluates the step model once per row on grids (decode: every batch size × 9 contexts;
prefill: per prompt count, 17 decode counts × 2 contexts × 24 token counts) and interpolates linearly; pure
decode stretches between two events are priced as one vector.

Driver. A deterministic sample of the dev agg rows on the core systems (every N-th, all backends), each
with exactly the step model, layout, KV slots, token budget, poll interval and batch cap ``validate``
prices it with; the analytic prediction (``predict_row``) and the simulation side by side against the
measurement: TTFT/TPOT MdAPE and the signed median error by concurrency bin (bench/validate_core.py's bins),
per backend. A second simulation uses the launch script's own token budget (the recipe table's
``max_num_tokens``, which validate records but does not price): what the engine actually ran.
"""

from __future__ import annotations

import csv
import heapq
import math
import statistics
import sys
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from costmodel.arch import load_model
from costmodel.build import step_model
from costmodel.config import token_budget
from costmodel.engines import engine_rules
from costmodel.memory import kv_capacity_tokens
from costmodel.opdb import open_db
from costmodel.quant import resolve_quant
from costmodel.scoring import CONCURRENCY_BINS, concurrency_bin
from costmodel.serving import cohorts_persist, request_path_ms
from costmodel.step import Layout, StepModel
from costmodel.validate import (
    _fix_moe,
    _layout,
    _range_ratio,
    concurrency,
    predict_row,
    read_rows,
    row_recipe,
    row_request,
)

CORE = ("h100_sxm", "h200_sxm", "b200_sxm")
WAVES = 10  # benchmark_serving --num-prompts = 10 × concurrency
DEV_CSV = Path("/work/shared/validation/silicon_dev.csv")


@dataclass(frozen=True)
class Engine:
    """The admission rule's switches. ``decode_in_budget``: decode tokens (1 + drafts per running request) use
    the iteration's token budget; ``chunked``: a prompt that does not fit the budget left is cut to it;
    ``prefill_first``: a prefill batch runs alone and the running batch does not decode in it (and the inbox is
    polled only every ``recv_interval`` decode iterations, after prefills and when idle); ``max_prompts``: at most
    this many prompts start or continue their prefill in one iteration (None: as many as the budget holds)."""

    decode_in_budget: bool
    chunked: bool
    prefill_first: bool
    max_prompts: int | None = None


ENGINES = {
    "trtllm": Engine(decode_in_budget=True, chunked=False, prefill_first=False),
    "vllm": Engine(decode_in_budget=True, chunked=True, prefill_first=False),
    "sglang": Engine(decode_in_budget=False, chunked=True, prefill_first=True),
}


@dataclass(frozen=True)
class Setup:
    """One benchmark run on one attention-DP rank: ``clients`` (C), nominal ``isl``/``osl`` (tokens) and the
    ``range_ratio`` r of their spread; ``budget`` tokens per iteration, ``running_cap`` requests at once,
    ``recv_interval`` decode iterations between inbox polls (prefill-first engines), ``host_ms`` of request path
    before the scheduler sees a request, ``tokens_per_step`` tokens a request gains per decode step and ``draft``
    tokens drafted per step (they use budget); ``length_scale`` multiplies every drawn length (2 / (1 + r) puts their
    mean at the nominal lengths the analytic model prices, keeping the spread); ``host_jitter`` j spreads each
    request's path uniformly over [1 − j, 1 + j]·host_ms (same mean): requests a cohort sends at once then reach
    the scheduler over a few iterations, as a real HTTP/tokeniser path spreads them."""

    clients: int
    isl: int
    osl: int
    range_ratio: float
    budget: int
    running_cap: int
    recv_interval: int = 1
    host_ms: float = 0.0
    tokens_per_step: float = 1.0
    draft: int = 0
    waves: int = WAVES
    seed: int = 0
    length_scale: float = 1.0
    host_jitter: float = 0.0


class Prices(Protocol):
    """Iteration prices (ms): ``decode`` for ``nd`` requests at each context in ``ctx`` (array in, array out);
    ``mixed`` for ``nd`` decoding requests at mean context ``ctx`` plus ``npf`` prompts of ``lpf`` tokens each."""

    def decode(self, nd: int, ctx: np.ndarray) -> np.ndarray: ...

    def mixed(self, nd: int, ctx: float, npf: int, lpf: float) -> float: ...


class StepPrices:
    """``Prices`` from a StepModel and layout, interpolated from grids evaluated once (module docstring).

    ``max_running``: the largest decode batch; ``ctx_lo``/``ctx_hi``: the decode contexts met (tokens);
    ``max_tokens``: the most prefill tokens one prompt brings to an iteration."""

    def __init__(self, step: StepModel, lay: Layout, max_running: int, ctx_lo: float, ctx_hi: float, max_tokens: int):
        self.step, self.lay = step, lay
        self.ctx = np.linspace(ctx_lo, max(ctx_hi, ctx_lo + 1.0), 9)
        nd = np.arange(max_running + 1, dtype=float)
        self.dec = np.asarray(step.iteration_ms(lay, nd[:, None], self.ctx[None, :], 0, 0), float)
        self.nd_grid = np.unique(np.round(np.linspace(0, max_running, 17)).astype(float))
        self.mix_ctx = np.array([self.ctx[0], self.ctx[-1]])
        self.lpf_grid = np.unique(np.round(np.geomspace(1.0, max(max_tokens, 2), 24)))
        self._mixed: dict[int, RegularGridInterpolator] = {}

    def decode(self, nd: int, ctx: np.ndarray) -> np.ndarray:
        return np.interp(ctx, self.ctx, self.dec[nd])

    def mixed(self, nd: int, ctx: float, npf: int, lpf: float) -> float:
        f = self._mixed.get(npf)
        if f is None:
            nd_, ctx_, lpf_ = self.nd_grid[:, None, None], self.mix_ctx[None, :, None], self.lpf_grid[None, None, :]
            table = np.asarray(self.step.iteration_ms(self.lay, nd_, ctx_, npf, lpf_), float)
            table = np.broadcast_to(table, (len(self.nd_grid), 2, len(self.lpf_grid)))
            f = RegularGridInterpolator((self.nd_grid, self.mix_ctx, self.lpf_grid), table)
            self._mixed[npf] = f
        point = (
            min(float(nd), self.nd_grid[-1]),
            min(max(ctx, self.mix_ctx[0]), self.mix_ctx[1]),
            min(max(lpf, 1.0), self.lpf_grid[-1]),
        )
        return float(np.asarray(f(point)).reshape(-1)[0])


@dataclass(frozen=True)
class Result:
    """Mean TTFT and mean TPOT (ms) over the run's requests, its iterations and simulated duration (ms), and
    ``clump``: the prompts prefilling in the iteration that finishes a request's prefill, averaged over requests
    (what the analytic model prices as ⌊budget / ISL⌋, capped by the running batch, or 1)."""

    ttft_ms: float
    tpot_ms: float
    iterations: int
    duration_ms: float
    clump: float


def lengths(n: int, nominal: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` lengths uniform over the integers in [⌊ratio·nominal⌋, nominal] (benchmark_serving's random dataset)."""
    lo = max(int(nominal * ratio), 1)
    return rng.integers(lo, nominal + 1, size=n) if lo < nominal else np.full(n, nominal)


def simulate(setup: Setup, engine: Engine, prices: Prices) -> Result:
    """Run the closed loop of ``setup`` against ``engine``'s scheduler, priced by ``prices`` (module docstring).

    Deterministic for a seed. Pure decode stretches between two events (a finish, an arrival that can be
    admitted, an inbox poll that sees one) run as one vector of iterations."""
    s, e = setup, engine
    n_req = s.waves * s.clients
    rng = np.random.default_rng(s.seed)
    isl = np.round(lengths(n_req, s.isl, s.range_ratio, rng) * s.length_scale).astype(int)
    osl = np.round(lengths(n_req, s.osl, s.range_ratio, rng) * s.length_scale).astype(int)
    steps = np.ceil((osl - 1) / s.tokens_per_step).astype(int)  # decode steps after the prefill's first token
    sent = np.zeros(n_req)
    first = np.zeros(n_req)
    done = np.zeros(n_req)
    left = isl.astype(float)  # prompt tokens not yet prefilled
    admitted = np.zeros(n_req, bool)
    clump = np.zeros(n_req)

    t, d = 0.0, 0  # time (ms), decode iterations so far
    # the request path of each request: host_ms, or uniform in [1 − j, 1 + j]·host_ms with jitter j
    host = (
        s.host_ms * (1.0 + s.host_jitter * rng.uniform(-1.0, 1.0, n_req))
        if s.host_jitter
        else np.full(n_req, s.host_ms)
    )
    arrivals = [(float(host[i]), i) for i in range(s.clients)]  # heap of (time it reaches the scheduler, request)
    heapq.heapify(arrivals)
    next_send = s.clients
    waiting: deque[int] = deque()  # seen by the scheduler, prefill not finished (head may be partly prefilled)
    running = 0  # admitted requests, prefilling or decoding
    decoding: list[tuple[int, int]] = []  # heap of (decode iteration it finishes at, request)
    ctx_sum = 0.0  # Σ (isl + 1 − tokens_per_step · d at join) over decoding requests
    since_poll = 0
    poll = True
    finished = iterations = 0

    def finish_through(now: float) -> None:  # requests whose last decode step ended at ``now``
        nonlocal ctx_sum
        while decoding and decoding[0][0] <= d:
            at, r = heapq.heappop(decoding)
            ctx_sum -= isl[r] + 1 - s.tokens_per_step * (at - steps[r])
            end(r, now)

    def end(r: int, now: float) -> None:  # the client sends its next request at once
        nonlocal running, finished, next_send
        done[r] = now
        running -= 1
        finished += 1
        if next_send < n_req:
            sent[next_send] = now
            heapq.heappush(arrivals, (now + float(host[next_send]), next_send))
            next_send += 1

    while finished < n_req:
        if poll or not e.prefill_first:
            while arrivals and arrivals[0][0] <= t:
                waiting.append(heapq.heappop(arrivals)[1])
        nd = len(decoding)
        can_admit = bool(waiting) and (running < s.running_cap or admitted[waiting[0]])
        if can_admit:  # a prefill (prefill-first) or mixed iteration
            room = s.budget - (nd * (1 + s.draft) if e.decode_in_budget and not e.prefill_first else 0)
            chunks: list[tuple[int, float]] = []
            while waiting and room > 0 and (e.max_prompts is None or len(chunks) < e.max_prompts):
                r = waiting[0]
                if not admitted[r]:
                    if running >= s.running_cap:
                        break
                    admitted[r] = True
                    running += 1
                take = min(left[r], room)
                if take < left[r] and not e.chunked and chunks:
                    admitted[r] = False  # waits whole for the next iteration
                    running -= 1
                    break
                chunks.append((r, take))
                room -= take
                left[r] -= take
                if left[r] <= 0:
                    waiting.popleft()
            if chunks:
                dec = 0 if e.prefill_first else nd
                ctx = (ctx_sum / nd + s.tokens_per_step * d) if dec else 0.0
                tokens = sum(c for _, c in chunks)
                t += prices.mixed(dec, ctx, len(chunks), tokens / len(chunks))
                iterations += 1
                if dec:
                    d += 1
                    finish_through(t)
                for r, _ in chunks:
                    if left[r] <= 0:
                        first[r] = t
                        clump[r] = len(chunks)
                        if steps[r] <= 0:
                            end(r, t)
                        else:
                            heapq.heappush(decoding, (d + int(steps[r]), r))
                            ctx_sum += isl[r] + 1 - s.tokens_per_step * d
                poll, since_poll = True, 0
                continue
        if nd == 0:  # idle: wait for the next request (an idle engine polls at once)
            if not arrivals:
                raise RuntimeError("closed loop stalled: nothing running, waiting or arriving")
            t = max(t, arrivals[0][0])
            poll, since_poll = True, 0
            continue
        # a stretch of decode iterations up to the next event
        k = decoding[0][0] - d
        contexts = ctx_sum / nd + s.tokens_per_step * (d + np.arange(k))
        ends = t + np.cumsum(prices.decode(nd, contexts))
        stop = k - 1
        admissible = running < s.running_cap or (bool(waiting) and bool(admitted[waiting[0]]))
        if admissible and (arrivals or waiting):
            if e.prefill_first:  # seen at the first poll once it has arrived
                n_poll = max(s.recv_interval, 1)
                polls = np.arange(max(n_poll - since_poll - 1, 0), k, n_poll)
                if waiting:
                    due = polls
                else:
                    due = polls[ends[polls] >= arrivals[0][0]] if polls.size else polls
                if due.size:
                    stop = min(stop, int(due[0]))
            elif arrivals:
                stop = min(stop, int(np.searchsorted(ends, arrivals[0][0])))
        t = float(ends[stop])
        d += stop + 1
        iterations += stop + 1
        since_poll += stop + 1
        poll = since_poll >= max(s.recv_interval, 1)
        if poll:
            since_poll = 0
        finish_through(t)
    ttft = first - sent
    many = osl > 1
    tpot = (done[many] - first[many]) / (osl[many] - 1)
    return Result(float(ttft.mean()), float(tpot.mean()) if many.any() else 0.0, iterations, t, float(clump.mean()))


# --- driver: the dev rows validate prices -------------------------------------------------------------------------

# The figures compared, in print order: the analytic model (validate.predict_row); the simulation with validate's
# inputs; the same with the drawn lengths scaled so their mean is the nominal ISL/OSL the analytic model prices
# (the spread kept); the same as "sim" with the launch script's token budget where the recipe table has one.
# "sim~host": as "sim" with the request path spread ±50 % around its mean (Setup.host_jitter).
VARIANTS = ("analytic", "sim", "sim@L", "sim@script", "sim~host")
HOST_JITTER = 0.5


@dataclass(frozen=True)
class RowRun:
    """One row: its measurement and each VARIANTS figure (TTFT, TPOT in ms), the budgets, the simulation time (s)."""

    row_id: str
    backend: str
    system: str
    model: str
    conc: int
    isl: int
    osl: int
    spread: bool  # an InferenceMAX row: lengths uniform in [0.8 L, L]; else exact lengths (gap-analysis sweeps)
    meas: tuple[float, float]
    figures: dict[str, tuple[float, float]]
    clumps: tuple[float, float]  # the analytic model's clump, the simulated one (Result.clump)
    budget: int
    script_budget: int | None
    seconds: float


def row_setup(row: dict, max_iters: float, seed: int) -> tuple[Setup, StepPrices, Engine, int | None] | str:
    """The simulator's inputs for a row, exactly as validate.predict_row prices it (per attention-DP rank), and
    the launch script's token budget where the recipe table has one; a reason string when the row is skipped."""
    arch = load_model(row["model_path"])
    db = open_db(row["system"], row["backend"], engine_rules(row["backend"]).version)
    req = row_request(row, arch, db)
    q, _ = resolve_quant(db, arch, req.quant)
    step = step_model(db, req, q, "agg")
    lay = _fix_moe(_layout(row)) if arch.is_moe else _layout(row)
    isl, osl, conc = req.isl, req.osl, concurrency(row)
    mnt = token_budget(req)
    cap, _ = kv_capacity_tokens(db.system, arch, q, lay.tp, lay.pp, lay.dp, lay.moe_tp, lay.moe_ep, mnt, isl + osl)
    clients = max(int(round(conc / float(lay.dp))), 1)
    slots = math.floor(float(cap) / (isl + osl))
    rec = row_recipe(row)
    if rec and rec.max_running:
        slots = min(slots, rec.max_running)
    b = max(min(clients, slots), 1)
    tps = step.tokens_per_decode_step()
    if WAVES * clients * osl / tps / b > max_iters:
        return "too many iterations"
    setup = Setup(
        clients=clients,
        isl=isl,
        osl=osl,
        range_ratio=_range_ratio(row),
        budget=mnt,
        running_cap=b,
        recv_interval=int(req.scheduler_recv_interval),
        host_ms=request_path_ms(step),
        tokens_per_step=tps,
        draft=int(step.mtp_draft),
        seed=seed,
    )
    script = rec.max_num_tokens if rec else None
    top = 1.2 * max(mnt, script or 0, isl)
    prices = StepPrices(step, lay, b, 0.8 * isl, 1.2 * (isl + osl), int(top))
    return setup, prices, ENGINES[row["backend"]], script


def sample_rows(path: Path, every: int) -> list[dict]:
    """Every ``every``-th agg row of the core systems, in file order (deterministic)."""
    rows = [r for r in read_rows(path) if r["system"].strip() in CORE and r["mode"].strip() == "agg"]
    return rows[::every]


def run_rows(rows: list[dict], max_iters: float, seed: int) -> tuple[list[RowRun], dict[str, int]]:
    """Each row's VARIANTS figures; rows validate cannot predict, or too long to simulate, counted by reason."""
    runs: list[RowRun] = []
    skipped: dict[str, int] = {}
    for row in rows:
        p = predict_row(row)
        if p.reason is not None or p.ttft_ms is None or p.tpot_ms is None:
            skipped[p.reason or "no figure"] = skipped.get(p.reason or "no figure", 0) + 1
            continue
        row = {k: v.strip() if isinstance(v, str) else v for k, v in row.items()}
        t0 = time.perf_counter()
        got = row_setup(row, max_iters, seed)
        if isinstance(got, str):
            skipped[got] = skipped.get(got, 0) + 1
            continue
        setup, prices, engine, script = got
        scaled = replace(setup, length_scale=2.0 / (1.0 + setup.range_ratio))
        sims = {
            "sim": setup,
            "sim@L": scaled,
            "sim@script": replace(setup, budget=script) if script and script != setup.budget else None,
            "sim~host": replace(setup, host_jitter=HOST_JITTER),
        }
        figures = {"analytic": (p.ttft_ms, p.tpot_ms)}
        simulated = 0.0
        for name, su in sims.items():
            if su is not None:
                res = simulate(su, engine, prices)
                figures[name] = (res.ttft_ms, res.tpot_ms)
                simulated = res.clump if name == "sim" else simulated
        fits = max(min(setup.budget // setup.isl, setup.running_cap), 1)
        # the serving model's clump: what one budget fits while same-length cohorts persist
        analytic = float(fits if cohorts_persist(engine_rules(row["backend"]), setup.range_ratio >= 1.0) else 1)
        figures.setdefault("sim@script", figures["sim"])
        runs.append(
            RowRun(
                row_id=p.row_id,
                backend=row["backend"],
                system=row["system"],
                model=row["model_path"],
                conc=p.concurrency,
                isl=setup.isl,
                osl=setup.osl,
                spread=setup.range_ratio < 1.0,
                meas=(p.measured_ttft_ms, p.measured_tpot_ms),
                figures=figures,
                clumps=(analytic, simulated),
                budget=setup.budget,
                script_budget=script,
                seconds=time.perf_counter() - t0,
            )
        )
    return runs, skipped


def _err(pred: float, meas: float) -> float:
    return (pred - meas) / meas


def report(runs: list[RowRun]) -> None:
    """Print, per backend, TTFT/TPOT MdAPE and the signed median TTFT/TPOT error (%) by concurrency bin, for each
    of VARIANTS."""
    labels = [label for _, label in CONCURRENCY_BINS]
    groups = [("all", None)] + [(b, sp) for b in ("trtllm", "vllm", "sglang") for sp in (True, False)]
    for backend, spread in groups:
        sel = [r for r in runs if backend in ("all", r.backend) and spread in (None, r.spread)]
        if not sel:
            continue
        n_script = sum(r.script_budget is not None and r.script_budget != r.budget for r in sel)
        kind = {None: "", True: ", InferenceMAX lengths (spread 0.8)", False: ", exact lengths"}[spread]
        print(f"\n{backend}{kind}: {len(sel)} rows ({n_script} with a script budget other than validate's)")
        print(f"  {'':12s}{'MdAPE TTFT/TPOT':>17s}" + "".join(f"{lab:>14s}" for lab in labels))
        counts = "".join(f"{sum(concurrency_bin(r.conc) == lab for r in sel):>14d}" for lab in labels)
        print(f"  {'rows':12s}{'':>17s}{counts}")
        for name in VARIANTS:
            et = [_err(r.figures[name][0], r.meas[0]) for r in sel]
            ep = [_err(r.figures[name][1], r.meas[1]) for r in sel]
            cells = []
            for lab in labels:
                idx = [i for i, r in enumerate(sel) if concurrency_bin(r.conc) == lab]
                if idx:
                    mt = 100 * statistics.median(et[i] for i in idx)
                    mp = 100 * statistics.median(ep[i] for i in idx)
                    cells.append(f"{mt:+.0f}/{mp:+.0f}")
                else:
                    cells.append("-")
            mdape = f"{100 * statistics.median(map(abs, et)):5.1f}/{100 * statistics.median(map(abs, ep)):5.1f}"
            print(f"  {name:12s}{mdape:>17s}" + "".join(f"{c:>14s}" for c in cells))
        cells = []
        for lab in labels:
            sub = [r.clumps for r in sel if concurrency_bin(r.conc) == lab]
            a = statistics.median(x for x, _ in sub) if sub else 0.0
            b = statistics.median(y for _, y in sub) if sub else 0.0
            cells.append(f"{a:.0f}/{b:.1f}" if sub else "-")
        print(f"  {'clump a/sim':12s}{'(median prompts)':>17s}" + "".join(f"{c:>14s}" for c in cells))


def dump(runs: list[RowRun], path: str) -> None:
    """Every simulated row with its figures, for looking at kinds of rows."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        head = ["id", "system", "backend", "model", "isl", "osl", "conc", "budget", "script_budget", "meas_ttft"]
        head += [f"{v}_ttft" for v in VARIANTS] + ["meas_tpot"] + [f"{v}_tpot" for v in VARIANTS]
        head += ["clump_analytic", "clump_sim", "seconds"]
        w.writerow(head)
        for r in runs:
            w.writerow(
                [r.row_id, r.system, r.backend, r.model, r.isl, r.osl, r.conc, r.budget, r.script_budget or ""]
                + [f"{x:.2f}" for x in (r.meas[0], *(r.figures[v][0] for v in VARIANTS))]
                + [f"{x:.3f}" for x in (r.meas[1], *(r.figures[v][1] for v in VARIANTS))]
                + [f"{r.clumps[0]:.0f}", f"{r.clumps[1]:.2f}", f"{r.seconds:.2f}"]
            )


def _opt(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv and not argv[0].startswith("--") else DEV_CSV
    every = int(_opt(argv, "--every", "5"))
    max_iters = float(_opt(argv, "--max-iters", "2e5"))
    seed = int(_opt(argv, "--seed", "0"))
    t0 = time.perf_counter()
    runs, skipped = run_rows(sample_rows(path, every), max_iters, seed)
    print("signed median error TTFT/TPOT (%) by concurrency bin; variants: " + ", ".join(VARIANTS))
    report(runs)
    print(f"\nskipped: {', '.join(f'{k} {v}' for k, v in sorted(skipped.items())) or 'none'}")
    print(f"{len(runs)} rows simulated in {time.perf_counter() - t0:.0f} s")
    if "--dump" in argv:
        dump(runs, _opt(argv, "--dump", ""))


if __name__ == "__main__":
    main(sys.argv[1:])
