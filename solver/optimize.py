"""The solver's entry point: ``solve(problem) -> SolveResult``.

The objective is the deployment's output tokens/s on the GPUs given (total_gpus), i.e. tokens/s
per GPU given: what a user with that many GPUs gets, and what peer tools divide by. A deployment
that leaves GPUs idle is charged for them, so a unit of 32 GPUs that is the most efficient per GPU
used does not beat a 48-GPU deployment serving more in total on 48 GPUs.

Agg comes straight from the rows: each row's deployment is as many replicas as the rules admit.
Disagg is replicas_min copies of one unit (x prefill + y decode workers) whose request rate T
CP-SAT maximizes (the unit fills total_gpus / replicas_min). Every lower bound prunes rows whose
continuous bound (G/replicas_min)/(g_i/P_i + min g_j/D_j) falls below it. A final lexicographic
solve picks the lowest TPOT, then fewest GPUs, then lowest TTFT among the optimal units.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import overload

import numpy as np

from solver.constraints import FilterScope, broken_rules
from solver.disagg_model import Unit, add_hint, build, exclude_pair, maximize_throughput, role_gpu_cap, settle
from solver.pareto import agg_front, agg_order, disagg_front, disagg_top, front_filter, undominated
from solver.problem import Problem
from solver.result import Deployment, SolveResult
from solver.cpsat import NUM_WORKERS, Outcome, run
from solver.units import max_rel_error, rate_scale, scaled
from solver.verify import evaluate, table, verify

WARM_ROWS = (4, 8)  # cheapest prefill / decode rows of the warm-start model
# Heuristic lower bound: many row pairs x few worker counts, few pairs x all counts, rule checks.
HEUR_ROWS, HEUR_COUNT, HEUR_DEEP, HEUR_CHECKS = (16, 128), 16, 8, 12
BOUND_SLACK = 1e-12  # float slack on row bounds: rows that can tie the bound stay in


EXACT_COUNTS, SPARSE_COUNTS = 4096, 2048  # worker counts tried one by one, then geometrically beyond


def worker_counts(most: int) -> np.ndarray:
    """Worker counts the heuristic tries: every count up to EXACT_COUNTS, then SPARSE_COUNTS geometric steps
    to most (ratios change by < 0.2 % between them there), so that a million GPUs cost what 6,000 do
    (every count: 8 million cells per array, 0.5 s and ~0.6 GB per call)."""
    if most <= EXACT_COUNTS:
        return np.arange(1, most + 1)
    far = np.geomspace(EXACT_COUNTS + 1, most, SPARSE_COUNTS).astype(np.int64)
    return np.unique(np.concatenate([np.arange(1, EXACT_COUNTS + 1), far, [most]]))


class DisaggSearch:
    """Canonical best disagg unit over a subset of decode rows, by CP-SAT (see module docstring)."""

    def __init__(self, problem: Problem, tables: dict, index: dict, scale: float, deadline: float, stats: dict):
        self.problem, self.tables, self.index, self.scale = problem, tables, index, scale
        self.deadline, self.stats, self.proven = deadline, stats, True
        self.rate = {r: scaled(t.req_per_s, scale) for r, t in tables.items()}
        self.cost = {r: tables[r].gpus / self.rate[r].astype(float) for r in tables}  # GPUs per scaled rate unit
        self.pool: dict[tuple[int, int], Unit] = {}  # best feasible unit seen per row pair
        self.max_gpus = problem.total_gpus // problem.constraints.replicas_min  # GPUs of one unit

    def decode_tpots(self) -> np.ndarray:
        return self.tables["decode"].tpot_ms

    def decode_tpot(self, row: int) -> float:
        return float(table(self.problem, "decode").tpot_ms[row])

    def best(self, decode_ok: np.ndarray, excluded: frozenset = frozenset()) -> Unit | None:
        """Max T, then min TPOT, GPUs, TTFT, over decode rows in decode_ok and pairs not excluded."""
        lower = self._pool_best(decode_ok, excluded)
        guess = self._heuristic(decode_ok, excluded)
        lower = guess if guess is not None and guess.beats(lower) else lower
        if lower is None:  # a small model of the cheapest rows, then the whole one
            lower = self._maximize(decode_ok, excluded, None, WARM_ROWS)
            lower = lower or self._maximize(decode_ok, excluded, None, None)
            if lower is None:
                return None
        while True:  # settle: proves lower optimal and breaks ties, or finds a better unit
            um = self._model(decode_ok, excluded, lower, None)
            settle(um, lower)
            out = self._run(um, proof=True)
            if out.unit is None or not out.unit.beats(lower):
                return out.unit or lower
            lower = self._maximize(decode_ok, excluded, out.unit, None)

    def _heuristic(self, decode_ok: np.ndarray, excluded: frozenset) -> Unit | None:
        """A good feasible unit without a solver: cheap rows, balanced worker counts, rules checked.

        Many row pairs with few workers, then the few cheapest pairs with every worker count the
        budget allows (filling a large budget takes many workers).
        """
        jd = np.flatnonzero(decode_ok)
        ip = np.argsort(self.cost["prefill"], kind="stable")
        jd = jd[np.argsort(self.cost["decode"][jd], kind="stable")]
        cands = self._balanced(ip[: HEUR_ROWS[0], None], jd[None, : HEUR_ROWS[1]], HEUR_COUNT)
        a, b = (x.ravel() for x in np.meshgrid(ip[: HEUR_ROWS[0]], jd[: HEUR_ROWS[1] // 4], indexing="ij"))
        fresh = [(self.index["prefill"][i], self.index["decode"][j]) not in excluded for i, j in zip(a, b)]
        a, b = a[fresh], b[fresh]
        deep = np.argsort(self.cost["prefill"][a] + self.cost["decode"][b], kind="stable")[:HEUR_DEEP]
        cands += self._balanced(a[deep, None], b[deep, None], self.problem.total_gpus)
        rmin = self.problem.constraints.replicas_min
        cands = [
            c
            for c in sorted(set(cands))
            if (int(self.index["prefill"][c[1]]), int(self.index["decode"][c[2]])) not in excluded
        ]
        for _, i, j, x, y in cands[:HEUR_CHECKS]:
            rows = {"prefill": int(self.index["prefill"][i]), "decode": int(self.index["decode"][j])}
            if not broken_rules(self.problem, "disagg", rows, {"prefill": x, "decode": y}, rmin):
                thr = min(x * int(self.rate["prefill"][i]), y * int(self.rate["decode"][j]))
                gpus = x * int(self.tables["prefill"].gpus[i]) + y * int(self.tables["decode"].gpus[j])
                return Unit((rows["prefill"], rows["decode"]), (x, y), thr, gpus)
        return None

    def _balanced(self, ip: np.ndarray, jd: np.ndarray, count: int) -> list[tuple]:
        """(-rate, i, j, x, y) of the best units of row pairs (ip, jd: broadcastable 2-D indices)
        with x or y = 1..count and the other just enough to keep up."""
        ip, jd = np.broadcast_arrays(ip, jd)
        P, gp = self.rate["prefill"][ip][:, :, None], self.tables["prefill"].gpus[ip][:, :, None]
        D, gd = self.rate["decode"][jd][:, :, None], self.tables["decode"].gpus[jd][:, :, None]
        cap_p, cap_d = role_gpu_cap(self.problem, "prefill"), role_gpu_cap(self.problem, "decode")
        top = self.problem.total_gpus // self.problem.constraints.replicas_min
        most = max(cap_p // int(gp.min(initial=1)), cap_d // int(gd.min(initial=1)))
        n = worker_counts(max(1, min(count, most)))[None, None, :]
        out = []
        # x workers and just enough y to keep up (and vice versa): fewer would idle the other side
        for x, y in ((n, -(-n * P // D)), (-(-n * D // P), n)):
            x, y = np.broadcast_arrays(x, y)
            g = x * gp + y * gd
            ok = (x * gp <= cap_p) & (y * gd <= cap_d) & (g <= top)
            ratio = np.where(ok, np.minimum(x * P, y * D).astype(float), -1.0)  # the unit's rate
            c = ratio.argmax(axis=2)  # best count per pair, so that the list holds many pairs
            best = np.take_along_axis(ratio, c[:, :, None], axis=2)[:, :, 0].ravel()
            for f in np.argsort(-best, kind="stable")[: 2 * HEUR_CHECKS]:
                a, b = np.unravel_index(f, c.shape)
                if best[f] > 0:
                    k = c[a, b]
                    out.append((-float(best[f]), int(ip[a, b]), int(jd[a, b]), int(x[a, b, k]), int(y[a, b, k])))
        return out

    def _pool_best(self, decode_ok: np.ndarray, excluded: frozenset) -> Unit | None:
        allowed = set(self.index["decode"][decode_ok].tolist())
        best = None
        for u in self.pool.values():
            if u.rows[1] in allowed and u.rows not in excluded and u.beats(best):
                best = u
        return best

    def _rows(self, decode_ok: np.ndarray, lower: Unit | None, warm: tuple[int, int] | None) -> dict:
        keep = {"prefill": np.ones(len(self.tables["prefill"]), bool), "decode": decode_ok.copy()}
        if lower is not None:  # continuous bound: T <= G/(g_i/P_i + g_j/D_j) for any counts on G GPUs
            lam = lower.thr / self.max_gpus * (1 - BOUND_SLACK)
            cp, cd = self.cost["prefill"], self.cost["decode"]
            keep["prefill"] &= 1.0 / (cp + cd[keep["decode"]].min(initial=np.inf)) >= lam
            keep["decode"] &= 1.0 / (cd + cp[keep["prefill"]].min(initial=np.inf)) >= lam
        if warm is not None:
            for role, k in zip(("prefill", "decode"), warm):
                ids = np.flatnonzero(keep[role])
                keep[role][:] = False
                keep[role][ids[np.argsort(self.cost[role][ids], kind="stable")[:k]]] = True
        return keep

    def _model(self, decode_ok, excluded, lower, warm):
        keep = self._rows(decode_ok, lower, warm)
        if not all(k.any() for k in keep.values()):
            return None
        ids = {r: np.flatnonzero(k) for r, k in keep.items()}
        um = build(
            self.problem,
            {r: self.tables[r].take(i) for r, i in ids.items()},
            {r: self.index[r][i] for r, i in ids.items()},
            self.scale,
        )
        for pair in sorted(excluded):
            exclude_pair(um, pair)
        add_hint(um, lower)
        return um

    @overload
    def _maximize(
        self, decode_ok: np.ndarray, excluded: frozenset, lower: Unit, warm: tuple[int, int] | None
    ) -> Unit: ...
    @overload
    def _maximize(
        self, decode_ok: np.ndarray, excluded: frozenset, lower: None, warm: tuple[int, int] | None
    ) -> Unit | None: ...

    def _maximize(
        self, decode_ok: np.ndarray, excluded: frozenset, lower: Unit | None, warm: tuple[int, int] | None
    ) -> Unit | None:
        """The highest-rate unit over the rows the bound from ``lower`` keeps (``warm``: the cheapest few)."""
        um = self._model(decode_ok, excluded, lower, warm)
        if um is None:
            return lower
        maximize_throughput(um)
        out = self._run(um, proof=warm is None)
        return out.unit if out.unit is not None and out.unit.beats(lower) else lower

    def _run(self, um, proof: bool) -> Outcome:
        left = self.deadline - time.perf_counter()
        out = Outcome("TIME_LIMIT", None, None) if left <= 0 else run(um, left, self.problem.seed)
        self.stats["solver_status"][out.status] += 1
        if proof and not out.proven:
            self.proven = False
        if out.unit is not None and out.unit.beats(self.pool.get(out.unit.rows)):
            self.pool[out.unit.rows] = out.unit
        return out


def max_replicas(problem: Problem, mode: str, rows: dict, workers: dict) -> int | None:
    """Most replicas (>= replicas_min) every rule admits, None if not even replicas_min fits."""
    lo = problem.constraints.replicas_min
    if broken_rules(problem, mode, rows, workers, lo):
        return None
    unit = sum(w * int(getattr(problem.surfaces, r).gpus[rows[r]]) for r, w in workers.items())
    hi = max(lo, min(problem.constraints.replicas_max or problem.total_gpus, problem.total_gpus // unit))
    while lo < hi:  # every rule is an upper bound that grows with replicas: bisect
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if not broken_rules(problem, mode, rows, workers, mid) else (lo, mid - 1)
    return lo


def _agg(problem: Problem, stats: dict) -> tuple:
    fs = FilterScope(problem, "agg").run()
    t, idx = fs.tables["agg"], fs.index["agg"]
    stats["candidates"]["agg"] = {"rows": len(problem.surfaces.agg or ()), "after_filters": len(t)}
    if fs.reason:
        return None, (), (), fs.reason
    # Deployment-level rules see an agg row only through its GPUs, so feasibility is per size.
    reps = {}
    for g in np.unique(t.gpus):
        k = int(idx[np.flatnonzero(t.gpus == g)[0]])
        reps[int(g)] = max_replicas(problem, "agg", {"agg": k}, {"agg": 1})
    ok = np.array([reps[int(g)] is not None for g in t.gpus], bool)
    if not ok.any():
        k = int(idx[np.argmin(t.gpus)])
        why = broken_rules(problem, "agg", {"agg": k}, {"agg": 1}, problem.constraints.replicas_min)
        return None, (), (), "smallest agg deployment: " + why[0]
    t, idx = t.take(np.flatnonzero(ok)), idx[ok]
    fits = {g: r for g, r in reps.items() if r is not None}
    n = np.array([fits[int(g)] for g in t.gpus])  # each row's deployment: as many replicas as the rules admit
    order = agg_order(n * t.req_per_s * problem.surfaces.osl / problem.total_gpus, t.tpot_ms, n * t.gpus, t.ttft_ms)
    dep = lambda i: evaluate(problem, "agg", {"agg": int(idx[i])}, {"agg": 1}, fits[int(t.gpus[i])])  # noqa: E731
    undom = undominated(t.gpus, t.req_per_s, t.ttft_ms, t.tpot_ms)
    top = [dep(i) for i in [i for i in order if undom[i]][: problem.top_n]]
    return dep(order[0]), front_filter([dep(i) for i in agg_front(order, t.tpot_ms)]), tuple(top), None


def _disagg(problem: Problem, deadline: float, stats: dict) -> tuple:
    fs = FilterScope(problem, "disagg").run()
    tables, index = fs.tables, fs.index
    stats["candidates"]["disagg"] = {
        r: {"rows": len(getattr(problem.surfaces, r) or ()), "after_filters": len(tables[r])} for r in tables
    }
    if fs.reason:
        return None, (), (), fs.reason, True, 0.0
    lat = {"prefill": "ttft_ms", "decode": "tpot_ms"}
    for r, t in tables.items():
        keep = np.flatnonzero(undominated(t.gpus, t.req_per_s, getattr(t, lat[r])))
        tables[r], index[r] = t.take(keep), index[r][keep]
        stats["candidates"]["disagg"][r]["modelled"] = len(keep)
    rates = np.concatenate([tables["prefill"].req_per_s, tables["decode"].req_per_s])
    n = problem.total_gpus // problem.constraints.replicas_min
    scale = rate_scale(rates, n, n)
    stats["rate_scale"] = scale
    search = DisaggSearch(problem, tables, index, scale, deadline, stats)
    front = disagg_front(search)
    best = front[0] if front else None
    top = disagg_top(search, best, problem.top_n)
    err = max_rel_error(rates, scale)
    if best is None:
        return None, (), (), _explain_disagg(problem, tables, index), search.proven, err

    def dep(u: Unit) -> Deployment:  # replicas_min copies: the unit already fills total_gpus / replicas_min
        rows, workers = dict(zip(("prefill", "decode"), u.rows)), dict(zip(("prefill", "decode"), u.workers))
        assert not broken_rules(problem, "disagg", rows, workers, problem.constraints.replicas_min), (
            f"CP-SAT unit {u} breaks a rule at replicas_min"
        )
        return evaluate(problem, "disagg", rows, workers, problem.constraints.replicas_min)

    return dep(best), front_filter([dep(u) for u in front]), tuple(dep(u) for u in top), None, search.proven, err


def _explain_disagg(problem: Problem, tables: dict, index: dict) -> str:
    """Why no unit exists: the rules the smallest prefill+decode pair breaks."""
    rows = {
        r: int(index[r][np.lexsort((t.ttft_ms if r == "prefill" else t.tpot_ms, t.gpus))[0]]) for r, t in tables.items()
    }
    why = broken_rules(problem, "disagg", rows, {"prefill": 1, "decode": 1}, problem.constraints.replicas_min)
    if why:
        return "smallest disagg deployment (1 prefill + 1 decode worker): " + why[0]
    return "no prefill/decode combination meets the GPU, topology, role-budget and latency rules together"


def solve(problem: Problem) -> SolveResult:
    """Best agg and disagg deployments, their Pareto sets and top-N lists, all verified."""
    t0 = time.perf_counter()
    stats: dict = {"num_workers": NUM_WORKERS, "seed": problem.seed, "solver_status": Counter(), "candidates": {}}
    reasons: dict[str, str] = {}
    best = {"agg": None, "disagg": None}
    front = {"agg": (), "disagg": ()}
    top = {"agg": (), "disagg": ()}
    proven, err = True, 0.0
    if "agg" in problem.modes:
        best["agg"], front["agg"], top["agg"], why = _agg(problem, stats)
        if why:
            reasons["agg"] = why
    if "disagg" in problem.modes:
        best["disagg"], front["disagg"], top["disagg"], why, proven, err = _disagg(
            problem, t0 + problem.time_limit_s, stats
        )
        if why:
            reasons["disagg"] = why
    for d in [*best.values(), *front["agg"], *front["disagg"], *top["agg"], *top["disagg"]]:
        if d is not None:
            verify(problem, d)
    stats["solver_status"] = dict(sorted(stats["solver_status"].items()))
    stats["solves"] = sum(stats["solver_status"].values())
    if reasons:
        stats["infeasible"] = "; ".join(f"{m}: {w}" for m, w in sorted(reasons.items()))
        stats["infeasible_by_mode"] = reasons
    return SolveResult(
        best_agg=best["agg"],
        best_disagg=best["disagg"],
        pareto_agg=front["agg"],
        pareto_disagg=front["disagg"],
        top_agg=top["agg"],
        top_disagg=top["disagg"],
        proven_optimal=proven,
        solve_seconds=time.perf_counter() - t0,
        linearization_max_rel_error=err,
        stats=stats,
    )
