"""Constraint kinds: one small function each, registered in KINDS (a new kind = one function + one entry).

A constraint states its rule once, through a ``Scope``: row-local parts with ``keep_rows``
(a mask over a role's candidate rows) and deployment-level parts with ``require`` over
``gpus()``, ``whole_nodes()``, ``pick()`` and ``replicas()``. Three scopes read the same
function: FilterScope drops rows before the model is built, solver.disagg_model.ModelScope turns
``require`` into CP-SAT constraints, and EvalScope checks one concrete deployment (replica
counts, infeasibility explanations). Deployments are ``replicas`` x a unit of workers; the
model and the filters use replicas = replicas_min, the least any deployment has.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from costmodel import ROLES as ROLES  # the roles of each mode, defined once in costmodel.recipe
from costmodel import percentile_index
from costmodel import Candidates
from solver.errors import UserError
from solver.problem import Problem


class Why(Protocol):
    """The message of a row rule that left a role no rows, from the rows it saw (a protocol, not a
    Callable alias, so lambdas may bind loop variables as defaults)."""

    def __call__(self, t: Candidates, /) -> str: ...


class Message(Protocol):
    """The message of a deployment-level rule a deployment breaks (lambdas may bind defaults, as for Why)."""

    def __call__(self) -> str: ...


class Scope(Protocol):
    """What a constraint function sees; see the module docstring."""

    problem: Problem
    mode: str
    roles: tuple[str, ...]

    def rows(self, role: str) -> Candidates: ...
    def keep_rows(self, role: str, mask: np.ndarray, why: Why) -> None: ...
    def gpus(self, role: str | None = None) -> Any: ...
    def whole_nodes(self, gpus: Any) -> Any: ...
    def pick(self, role: str, values: np.ndarray) -> Any: ...
    def replicas(self) -> Any: ...
    def require(self, cond: Any, why: Message) -> None: ...


def node_budget(problem: Problem) -> int:
    """Nodes available: max_nodes, else the nodes the GPU budget spans (rounded up)."""
    t = problem.topology()
    return t.max_nodes if t.max_nodes is not None else -(-problem.total_gpus // t.gpus_per_node)


def _min(a: np.ndarray) -> str:
    return f"{np.nanmin(a):.4g}" if len(a) else "n/a"


def fixed(c: Scope) -> None:
    """Parallelism pinned by the user (e.g. tp=4) for every role."""
    for name, want in c.problem.constraints.fixed.items():
        for role in c.roles:
            r = c.rows(role)
            if not isinstance(getattr(r, name, None), np.ndarray) or name in ("ttft_ms", "tpot_ms", "req_per_s"):
                raise UserError(
                    f"constraints.fixed: unknown field {name!r} (use tp, pp, dp, moe_tp, moe_ep, gpus or batch)"
                )
            c.keep_rows(
                role,
                getattr(r, name) == want,
                lambda t, n=name, w=want, ro=role: (
                    f"fixed: no {ro} candidate has {n}={w} (available: {sorted(set(getattr(t, n).tolist()))})"
                ),
            )


def max_gpus_per_worker(c: Scope) -> None:
    """No worker larger than max_gpus_per_worker GPUs."""
    cap = c.problem.constraints.max_gpus_per_worker
    if cap is None:
        return
    for role in c.roles:
        c.keep_rows(
            role,
            c.rows(role).gpus <= cap,
            lambda t, ro=role: f"max_gpus_per_worker: the smallest {ro} worker needs {_min(t.gpus)} GPUs > {cap}",
        )


def topology(c: Scope) -> None:
    """Workers fit a node (or whole nodes); max_nodes caps GPUs; separate prefill/decode nodes."""
    p, t = c.problem, c.problem.topology()
    gpn, rmin = t.gpus_per_node, p.constraints.replicas_min
    for role in c.roles:
        g = c.rows(role).gpus
        if t.worker_within_node:
            c.keep_rows(
                role,
                g <= gpn,
                lambda r, ro=role: (
                    f"topology: the smallest {ro} worker needs {_min(r.gpus)} GPUs > {gpn} GPUs per node"
                ),
            )
        c.keep_rows(
            role,
            (g <= gpn) | (g % gpn == 0),
            lambda r, ro=role: f"topology: every {ro} worker spans nodes without using whole {gpn}-GPU nodes",
        )
        if t.max_nodes is not None:
            c.keep_rows(
                role,
                rmin * g <= t.max_nodes * gpn,
                lambda r, ro=role: (
                    f"topology: the smallest {ro} worker x {rmin} replicas needs {rmin * np.min(r.gpus)} GPUs > "
                    f"{t.max_nodes} nodes x {gpn}"
                ),
            )
    if t.max_nodes is not None:
        cap = t.max_nodes * gpn
        c.require(c.gpus() <= cap, lambda: f"topology: {c.gpus()} GPUs > {t.max_nodes} nodes x {gpn}")
    if t.separate_prefill_decode_nodes and c.mode == "disagg":
        nodes = node_budget(p)
        for role in c.roles:
            c.keep_rows(
                role,
                -(-rmin * c.rows(role).gpus // gpn) <= nodes - 1,
                lambda r, ro=role: (
                    f"topology: {ro} on separate nodes leaves no node for the other role ({nodes} nodes)"
                ),
            )
        c.require(
            c.whole_nodes(c.gpus("prefill")) + c.whole_nodes(c.gpus("decode")) <= nodes,
            lambda: f"topology: prefill and decode on separate nodes need more than {nodes} nodes",
        )


def gpu_budget(c: Scope) -> None:
    """All replicas together use at most total_gpus GPUs."""
    n, rmin = c.problem.total_gpus, c.problem.constraints.replicas_min
    for role in c.roles:
        c.keep_rows(
            role,
            rmin * c.rows(role).gpus <= n,
            lambda r, ro=role: (
                f"gpus: the smallest {ro} worker needs {_min(r.gpus)} GPUs"
                + (f" x {rmin} replicas" if rmin > 1 else "")
                + f" > {n}"
            ),
        )
    c.require(c.gpus() <= n, lambda: f"gpus: {c.gpus()} GPUs needed > {n}")


def role_gpu_budget(c: Scope) -> None:
    """Per-role caps on the GPUs of all workers of that role."""
    rmin = c.problem.constraints.replicas_min
    for role, cap in sorted(c.problem.constraints.role_gpu_budget.items()):
        if role not in ("agg", "prefill", "decode"):
            raise UserError(f"constraints.role_gpu_budget: unknown role {role!r} (use agg, prefill or decode)")
        if role not in c.roles:
            continue
        c.keep_rows(
            role,
            rmin * c.rows(role).gpus <= cap,
            lambda r, ro=role, k=cap: (
                f"role_gpu_budget: the smallest {ro} worker needs {rmin * np.min(r.gpus)} GPUs > {k}"
            ),
        )
        c.require(c.gpus(role) <= cap, lambda ro=role, k=cap: f"role_gpu_budget: {ro} needs {c.gpus(ro)} GPUs > {k}")


def replicas(c: Scope) -> None:
    """replicas_min <= replicas <= replicas_max (the minimum is built into every scope)."""
    hi = c.problem.constraints.replicas_max
    if hi is not None:
        c.require(c.replicas() <= hi, lambda: f"replicas: {c.replicas()} replicas > replicas_max {hi}")


def sla(c: Scope) -> None:
    """TTFT, TPOT, tokens/s/user and request-latency bounds (float comparisons, as verify does)."""
    s, osl = c.problem.sla, c.problem.surfaces.osl
    for role in c.roles:
        r = c.rows(role)
        if role != "decode" and s.ttft_ms is not None:
            c.keep_rows(
                role,
                r.ttft_ms <= s.ttft_ms,
                lambda t: f"ttft: lowest reachable TTFT is {_min(t.ttft_ms)} ms > {s.ttft_ms:g} ms" + _handoff_part(t),
            )
        if role != "prefill" and s.tpot_ms is not None:
            c.keep_rows(
                role,
                r.tpot_ms <= s.tpot_ms,
                lambda t: f"tpot: lowest reachable TPOT is {_min(t.tpot_ms)} ms > {s.tpot_ms:g} ms",
            )
        if role != "prefill" and s.min_tokens_per_s_per_user is not None:
            c.keep_rows(
                role,
                1000.0 / r.tpot_ms >= s.min_tokens_per_s_per_user,
                lambda t: (
                    f"tokens/s/user: highest reachable is {1000.0 / np.nanmin(t.tpot_ms):.4g} < "
                    f"{s.min_tokens_per_s_per_user:g}"
                ),
            )
        if role == "agg" and s.max_request_latency_ms is not None:
            c.keep_rows(
                role,
                r.ttft_ms + (osl - 1) * r.tpot_ms <= s.max_request_latency_ms,
                lambda t: (
                    f"request latency: lowest reachable is {_min(t.ttft_ms + (osl - 1) * t.tpot_ms)} ms > "
                    f"{s.max_request_latency_ms:g} ms"
                ),
            )
    if c.mode == "disagg" and s.max_request_latency_ms is not None:
        _request_latency(c, s.max_request_latency_ms, osl)


def sla_percentiles(c: Scope) -> None:
    """Percentile bounds on TTFT (agg, prefill rows) and TPOT (agg, decode rows), e.g. p90 TTFT <= 500 ms."""
    s = c.problem.sla
    for role in c.roles:
        r = c.rows(role)
        for name, bounds, skip in (("ttft", s.ttft_pct, "decode"), ("tpot", s.tpot_pct, "prefill")):
            table = getattr(r, f"{name}_pct")
            if role == skip or not bounds:
                continue
            if table is None:
                raise UserError(f"sla.{name}_ms: the {role} candidates carry no percentiles to bound")
            for level, limit in bounds:
                col = percentile_index(level)
                c.keep_rows(
                    role,
                    table[:, col] <= limit,
                    lambda t, n=name, lv=level, k=limit, i=col: (
                        f"{n}: lowest reachable p{lv} {n.upper()} is {_min(getattr(t, f'{n}_pct')[:, i])} ms > {k:g} ms"
                    ),
                )


def _handoff_part(t: Candidates) -> str:
    """For prefill rows: how the fastest row's TTFT splits into prefill and the KV hand-off to decode."""
    if t.handoff_ms is None or t.kv_transfer_ms is None or not len(t):
        return ""
    i = int(np.nanargmin(t.ttft_ms))
    h, x = float(t.handoff_ms[i]), float(t.kv_transfer_ms[i])
    return (
        f" (prefill {t.ttft_ms[i] - h:.4g} ms + hand-off {h:.4g} ms: KV transfer {x:.3g} ms, request path and"
        f" connector handshake {h - x:.4g} ms)"
    )


def kv_handoff(c: Scope) -> None:
    """Disagg prefill and decode workers of equal attention TP where the backend's KV connector needs it."""
    s = c.problem.surfaces
    if c.mode != "disagg" or not s.equal_attention_tp:
        return
    p, d = c.rows("prefill"), c.rows("decode")
    c.keep_rows(
        "prefill",
        np.isin(p.tp, d.tp),
        lambda t: f"kv hand-off: no decode worker has a prefill worker's attention TP; {s.kv_pair_rule}",
    )
    c.keep_rows(
        "decode",
        np.isin(d.tp, p.tp),
        lambda t: f"kv hand-off: no prefill worker has a decode worker's attention TP; {s.kv_pair_rule}",
    )
    c.require(c.pick("prefill", p.tp) == c.pick("decode", d.tp), lambda: f"kv hand-off: {s.kv_pair_rule}")


def _request_latency(c: Scope, limit: float, osl: int) -> None:
    """ttft(prefill row) + (osl-1) tpot(decode row) <= limit, exactly, as integer ranks.

    Ranks of the distinct decode TPOTs avoid rounding: kmax[i] counts the TPOT levels prefill
    row i tolerates (the float test is monotone in tpot), so the pair is valid iff rank <= kmax.
    """
    p, d = c.rows("prefill"), c.rows("decode")
    kmax, rank = latency_ranks(p.ttft_ms, d.tpot_ms, osl, limit)

    def why(_t: Candidates) -> str:
        low = float(np.min(p.ttft_ms) + (osl - 1) * np.min(d.tpot_ms)) if len(p) and len(d) else float("nan")
        return f"request latency: lowest reachable is {low:.4g} ms > {limit:g} ms"

    c.keep_rows("prefill", kmax >= 1, why)
    c.keep_rows("decode", rank <= (kmax.max() if len(kmax) else 0), why)
    c.require(c.pick("decode", rank) <= c.pick("prefill", kmax), lambda: why(p))


def latency_ranks(ttft_ms: np.ndarray, tpot_ms: np.ndarray, osl: int, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """(kmax per prefill row, rank per decode row): the pair meets ttft + (osl - 1) tpot <= limit iff rank <= kmax."""
    levels = np.unique(tpot_ms)
    kmax = (ttft_ms[:, None] + (osl - 1) * levels[None, :] <= limit).sum(axis=1)
    return kmax, np.searchsorted(levels, tpot_ms) + 1


# Filter order matters only for explanations: structural rules first, the SLA last.
KINDS: dict[str, Callable[[Scope], None]] = {
    "fixed": fixed,
    "max_gpus_per_worker": max_gpus_per_worker,
    "topology": topology,
    "gpu_budget": gpu_budget,
    "role_gpu_budget": role_gpu_budget,
    "replicas": replicas,
    "kv_handoff": kv_handoff,
    "sla": sla,
    "sla_percentiles": sla_percentiles,
}


def apply_all(scope: Scope) -> None:
    """Run every registered constraint kind on a scope."""
    for fn in KINDS.values():
        fn(scope)


class FilterScope:
    """Drops rows that fail row-local rules; remembers the first rule that emptied a role.

    Masks of one constraint function all index the tables it saw, so they are combined and
    applied when the function returns (``run``).
    """

    def __init__(self, problem: Problem, mode: str):
        self.problem, self.mode, self.roles = problem, mode, ROLES[mode]
        self.tables: dict[str, Candidates] = {}
        self.index: dict[str, np.ndarray] = {}
        self.reason: str | None = None
        for role in self.roles:
            t = getattr(problem.surfaces, role)
            if t is None or len(t) == 0:
                s = problem.surfaces
                self.reason = self.reason or (
                    f"no {role} worker of the search space has memory for the weights plus its requests' KV cache "
                    f"(ISL {s.isl:,}, OSL {s.osl:,}) on {s.system}; allow larger workers (search.tp, search.pp, "
                    "search.dp, max_gpus_per_worker) or shorten the workload"
                )
                t = _empty(role)
            self.tables[role], self.index[role] = t, np.arange(len(t))
        self._pending = {r: np.ones(len(t), bool) for r, t in self.tables.items()}
        for role, t in self.tables.items():
            lat = t.tpot_ms if role == "decode" else t.ttft_ms
            ok = np.isfinite(t.req_per_s) & (t.req_per_s > 0) & (t.gpus >= 1) & np.isfinite(lat) & (lat > 0)
            if role == "agg":
                ok &= np.isfinite(t.tpot_ms) & (t.tpot_ms > 0)
            self.keep_rows(role, ok, lambda r, ro=role: f"no {ro} candidate has a positive request rate")
        self._commit()

    def run(self) -> FilterScope:
        """Apply every registered kind's row rules, in registry order."""
        for fn in KINDS.values():
            fn(self)
            self._commit()
        return self

    def _commit(self) -> None:
        for role, keep in self._pending.items():
            ids = np.flatnonzero(keep)
            self.tables[role], self.index[role] = self.tables[role].take(ids), self.index[role][ids]
            self._pending[role] = np.ones(len(ids), bool)

    def rows(self, role: str) -> Candidates:
        return self.tables[role]

    def keep_rows(self, role: str, mask: np.ndarray, why: Why) -> None:
        before = self._pending[role]
        self._pending[role] = before & np.asarray(mask, bool)
        if before.any() and not self._pending[role].any() and self.reason is None:
            self.reason = why(self.tables[role].take(np.flatnonzero(before)))

    # Deployment-level rules are the model's and EvalScope's business: neutral values, no checks.
    def gpus(self, role: str | None = None) -> int:
        return 0

    def whole_nodes(self, gpus: Any) -> int:
        return 0

    def pick(self, role: str, values: np.ndarray) -> int:
        return 0

    def replicas(self) -> int:
        return 0

    def require(self, cond: Any, why: Message) -> None:
        pass


class EvalScope:
    """One concrete deployment: replicas x workers[role] of rows[role]; collects broken rules."""

    def __init__(self, problem: Problem, mode: str, rows: dict[str, int], workers: dict[str, int], replicas: int):
        self.problem, self.mode, self.roles = problem, mode, ROLES[mode]
        self.tables = {r: getattr(problem.surfaces, r).take(np.array([rows[r]])) for r in self.roles}
        self.workers, self.n = workers, replicas
        self.failures: list[str] = []

    def rows(self, role: str) -> Candidates:
        return self.tables[role]

    def keep_rows(self, role: str, mask: np.ndarray, why: Why) -> None:
        if not mask[0]:
            self.failures.append(why(self.tables[role]))

    def gpus(self, role: str | None = None) -> int:
        roles = self.roles if role is None else (role,)
        return sum(self.n * self.workers[r] * int(self.tables[r].gpus[0]) for r in roles)

    def whole_nodes(self, gpus: int) -> int:
        return -(-gpus // self.problem.topology().gpus_per_node)

    def pick(self, role: str, values: np.ndarray) -> Any:
        return values[0]

    def replicas(self) -> int:
        return self.n

    def require(self, cond: Any, why: Message) -> None:
        if not cond:
            self.failures.append(why())


def broken_rules(
    problem: Problem, mode: str, rows: dict[str, int], workers: dict[str, int], replicas: int
) -> list[str]:
    """Messages of every rule the deployment breaks (empty = feasible)."""
    s = EvalScope(problem, mode, rows, workers, replicas)
    apply_all(s)
    return s.failures


def _empty(role: str) -> Candidates:
    i, f = np.zeros(0, int), np.zeros(0)
    return Candidates(role, i, i, i, i, i, i, i, f, f, f, f, i)
