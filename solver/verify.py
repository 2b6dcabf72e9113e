"""Independent re-evaluation of reported deployments with the full float formulas.

``evaluate`` fills a Deployment from ``agg_metrics`` / ``disagg_metrics``; ``check`` restates
every rule in plain float arithmetic (not through solver.constraints) so that it can catch a
model bug; ``verify`` raises on any violation.
"""

from __future__ import annotations

import math

from costmodel import PERCENTILES
from costmodel import ROLES, Candidates, agg_metrics, disagg_metrics
from solver.problem import Problem
from solver.result import Deployment, RoleConfig


class VerificationError(AssertionError):
    """A reported deployment breaks the SLA, the GPU budget or a constraint."""


def table(problem: Problem, role: str) -> Candidates:
    """The Candidates table of a role (raises if the cost model produced none)."""
    t = getattr(problem.surfaces, role)
    if t is None:
        raise VerificationError(f"no {role} candidates in the surfaces")
    return t


def evaluate(problem: Problem, mode: str, rows: dict[str, int], workers: dict[str, int], replicas: int) -> Deployment:
    """The deployment of ``replicas`` x (workers[role] of rows[role]) with float-model figures."""
    osl = problem.surfaces.osl
    if mode == "agg":
        m = agg_metrics(table(problem, "agg"), rows["agg"], replicas * workers["agg"], osl)
    else:
        m = disagg_metrics(
            table(problem, "prefill"),
            rows["prefill"],
            table(problem, "decode"),
            rows["decode"],
            replicas * workers["prefill"],
            replicas * workers["decode"],
            osl,
        )
    roles = []
    for role in ROLES[mode]:
        r = table(problem, role).row(rows[role])
        roles.append(
            RoleConfig(
                role=role,
                workers=int(workers[role]),
                tp=int(r["tp"]),
                pp=int(r["pp"]),
                dp=int(r["dp"]),
                moe_tp=int(r["moe_tp"]),
                moe_ep=int(r["moe_ep"]),
                gpus_per_worker=int(r["gpus"]),
                batch=int(r["batch"]),
                max_num_tokens=int(r["max_num_tokens"]),
                row=int(rows[role]),
            )
        )
    return Deployment(
        mode=mode,
        roles=tuple(roles),
        replicas=int(replicas),
        gpus_used=int(m["gpus_used"]),
        ttft_ms=m["ttft_ms"],
        tpot_ms=m["tpot_ms"],
        tokens_per_s=m["tokens_per_s"],
        tokens_per_s_per_gpu=m["tokens_per_s_per_gpu"],
        tokens_per_s_per_user=m["tokens_per_s_per_user"],
        concurrency=int(m["concurrency"]),
        req_per_s=m["req_per_s"],
        gpus_given=problem.total_gpus,
        ttft_pct_ms=m["ttft_pct_ms"],
        tpot_pct_ms=m["tpot_pct_ms"],
    )


def check(problem: Problem, d: Deployment) -> list[str]:
    """Every rule the deployment breaks, as messages (empty list = valid)."""
    k, sla, bad = problem.constraints, problem.sla, []
    if d.mode not in ROLES or tuple(r.role for r in d.roles) != ROLES[d.mode]:
        return [f"mode {d.mode!r} with roles {[r.role for r in d.roles]}"]
    if d.replicas < 1 or any(r.workers < 1 for r in d.roles):
        return ["replicas and workers must be >= 1"]
    ref = evaluate(problem, d.mode, {r.role: r.row for r in d.roles}, {r.role: r.workers for r in d.roles}, d.replicas)
    if ref != d:
        bad.append("figures differ from the float cost model")
    ttft, tpot, osl = ref.ttft_ms, ref.tpot_ms, problem.surfaces.osl
    if not (math.isfinite(ttft) and math.isfinite(tpot) and ttft > 0 and tpot > 0):
        bad.append(f"ttft {ttft} / tpot {tpot} not positive and finite")
    if sla.ttft_ms is not None and not ttft <= sla.ttft_ms:
        bad.append(f"ttft {ttft} > {sla.ttft_ms}")
    if sla.tpot_ms is not None and not tpot <= sla.tpot_ms:
        bad.append(f"tpot {tpot} > {sla.tpot_ms}")
    for name, bounds, pct in (("ttft", sla.ttft_pct, ref.ttft_pct_ms), ("tpot", sla.tpot_pct, ref.tpot_pct_ms)):
        for level, limit in bounds:
            got = dict(zip(PERCENTILES, pct)).get(level)
            if got is None or not got <= limit:
                bad.append(f"p{level} {name} {got} > {limit}")
    if sla.min_tokens_per_s_per_user is not None and not 1000.0 / tpot >= sla.min_tokens_per_s_per_user:
        bad.append(f"tokens/s/user {1000.0 / tpot} < {sla.min_tokens_per_s_per_user}")
    if sla.max_request_latency_ms is not None and not ttft + (osl - 1) * tpot <= sla.max_request_latency_ms:
        bad.append(f"request latency {ttft + (osl - 1) * tpot} > {sla.max_request_latency_ms}")
    if ref.gpus_used > problem.total_gpus:
        bad.append(f"gpus {ref.gpus_used} > {problem.total_gpus}")
    if d.replicas < k.replicas_min or (k.replicas_max is not None and d.replicas > k.replicas_max):
        bad.append(f"replicas {d.replicas} outside [{k.replicas_min}, {k.replicas_max}]")
    topo = problem.topology()
    gpn, role_gpus = topo.gpus_per_node, {}
    for r in d.roles:
        row = table(problem, r.role).row(r.row)
        g = row["gpus"]
        role_gpus[r.role] = d.replicas * r.workers * g
        if not (row["req_per_s"] > 0 and math.isfinite(row["req_per_s"])):
            bad.append(f"{r.role}: row {r.row} has no positive request rate")
        if k.max_gpus_per_worker is not None and g > k.max_gpus_per_worker:
            bad.append(f"{r.role}: {g} GPUs per worker > {k.max_gpus_per_worker}")
        for name, want in k.fixed.items():
            if row[name] != want:
                bad.append(f"{r.role}: {name}={row[name]} != fixed {want}")
        if r.role in k.role_gpu_budget and role_gpus[r.role] > k.role_gpu_budget[r.role]:
            bad.append(f"{r.role}: {role_gpus[r.role]} GPUs > role budget {k.role_gpu_budget[r.role]}")
        if topo.worker_within_node and g > gpn:
            bad.append(f"{r.role}: worker of {g} GPUs does not fit a {gpn}-GPU node")
        if g > gpn and g % gpn:
            bad.append(f"{r.role}: worker of {g} GPUs spans nodes without whole nodes")
    if topo.max_nodes is not None and ref.gpus_used > topo.max_nodes * gpn:
        bad.append(f"gpus {ref.gpus_used} > {topo.max_nodes} nodes x {gpn}")
    if topo.separate_prefill_decode_nodes and d.mode == "disagg":
        budget = topo.max_nodes if topo.max_nodes is not None else -(-problem.total_gpus // gpn)
        used = sum(-(-role_gpus[r] // gpn) for r in ("prefill", "decode"))
        if used > budget:
            bad.append(f"prefill and decode need {used} separate nodes > {budget}")
    return bad


def verify(problem: Problem, d: Deployment) -> Deployment:
    """Return ``d`` unchanged if it meets every rule, else raise VerificationError."""
    bad = check(problem, d)
    if bad:
        raise VerificationError(f"{d.mode} deployment {d.key()}: " + "; ".join(bad))
    return d
