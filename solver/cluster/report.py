"""The terminal report of a cluster solve: per model its placement and load, per pool its use, the totals."""

from __future__ import annotations

from tabulate import tabulate

from solver.cluster.problem import Cluster
from solver.cluster.result import ClusterResult, Placement
from solver.report import duration, worker_batch
from solver.result import RoleConfig

GOALS = {
    "min_cost": "least cost per hour that serves every demand",
    "min_gpus": "fewest GPUs that serve every demand",
    "max_goodput": "most weighted output tokens/s once every demand is met",
}


def _workers(r: RoleConfig, system: str, moe: bool) -> str:
    par = (
        f"TP{r.tp}"
        + (f" PP{r.pp}" if r.pp > 1 else "")
        + (f" attn-DP{r.dp}" if r.dp > 1 else "")
        + (f" MoE TP{r.moe_tp}×EP{r.moe_ep}" if moe else "")
    )
    return f"{r.workers} × {par}, batch {worker_batch(r)}/worker, {system}"


def _row(p: Placement, moe: bool) -> list:
    d = p.deployment
    roles = {r.role: _workers(r, p.systems[r.role], moe) for r in d.roles}
    margin = "" if p.margin is None else f"{100 * p.margin:+.1f}%"
    return [
        p.name,
        d.mode,
        roles.get("agg", roles.get("prefill", "")),
        roles.get("decode", ""),
        d.gpus_used,
        "" if p.demand_rps is None else f"{p.demand_rps:,.3g}",
        f"{d.req_per_s:,.3g}",
        margin,
        f"{d.ttft_ms:,.1f}",
        f"{d.tpot_ms:,.2f}",
        f"{d.tokens_per_s:,.0f}",
        "" if p.cost_per_hour is None else f"{p.cost_per_hour:,.2f}",
    ]


def _pool_line(c: Cluster) -> str:
    return " + ".join(
        (f"{p.gpus} × {p.system}" if p.gpus is not None else f"{p.system} (as many as needed)")
        + (f" (${p.price:g}/GPU-h)" if p.price else "")
        for p in c.pools
    )


def render(c: Cluster, r: ClusterResult) -> str:
    """The report as text (ends with a newline)."""
    out = [
        f"{len(c.members)} deployment{'s' * (len(c.members) > 1)} on {_pool_line(c)}",
        f"  objective     {GOALS[c.objective]}",
    ]
    for m in c.members:
        s, q = m.spec, m.spec.request
        load = f"{m.demand_rps:,.4g} requests/s" if m.demand_rps is not None else f"weight {m.weight:g}"
        sla = ", ".join(s.sla.bounds()) or "no SLA"
        out.append(
            f"  {m.name:13s} {s.arch.name} ({q.backend} {q.version}), ISL {q.isl:,} / OSL {q.osl:,}, {sla}; {load}"
        )
    out.append("")
    if r.infeasible:
        return "\n".join(out + [f"No placement: {r.infeasible}", ""])
    head = [
        "deployment",
        "mode",
        "agg / prefill workers",
        "decode workers",
        "GPUs",
        "demand\nreq/s",
        "capacity\nreq/s",
        "margin",
        "TTFT\nms",
        "TPOT\nms",
        "tokens/s",
        "$/hour",
    ]
    out += [
        tabulate(
            [_row(p, c.members[p.member].spec.arch.is_moe) for p in r.placements],
            head,
            disable_numparse=True,
            colalign=("left", "left", "left", "left") + ("right",) * 8,
        ),
        "",
    ]
    pct = [
        f"  {p.name}: TTFT {d.ttft_ms:,.1f} · {d.ttft_pct_ms[1]:,.1f} · {d.ttft_pct_ms[3]:,.1f} ms, TPOT "
        f"{d.tpot_ms:,.2f} · {d.tpot_pct_ms[1]:,.2f} · {d.tpot_pct_ms[3]:,.2f} ms"
        for p in r.placements
        if len((d := p.deployment).ttft_pct_ms) == 4 and len(d.tpot_pct_ms) == 4
    ]
    out += ["latency per request (mean · p90 · p99):", *pct, ""] if pct else []
    pools = [
        [
            p.system,
            f"{p.used}" + (f" / {p.available}" if p.available is not None else ""),
            "" if p.price is None else f"{p.used * p.price:,.2f}",
        ]
        for p in r.pools
    ]
    out += [
        tabulate(pools, ["pool", "GPUs used", "$/hour"], disable_numparse=True, colalign=("left", "right", "right")),
        "",
    ]
    unused = r.stats.get("unused") or {}
    out += [f"unused: {u['gpus']} of {c.pool(system).gpus} {system} GPUs; {u['why']}" for system, u in unused.items()]
    out += [""] * bool(unused)
    total = f"total: {r.gpus_used} GPUs"
    if r.cost_per_hour is not None and r.cost_per_hour > 0:
        tokens = sum(p.deployment.tokens_per_s for p in r.placements)
        total += (
            f", ${r.cost_per_hour:,.2f}/hour, ${r.cost_per_hour / (tokens * 3600) * 1e6:,.3f} per million "
            "output tokens at capacity"
        )
    if c.objective == "max_goodput":
        total += f", {r.weighted_tokens_per_s:,.0f} weighted output tokens/s"
    out.append(total)
    out.append(
        "figures: the full cost model at each worker's planned batch; a margin is spare capacity over the demand"
    )
    proof = (
        "proven optimal"
        if r.proven_optimal
        else f"NOT proven optimal: the time limit ({c.time_limit_s:g} s) ended the search; raise solver.time_limit_s"
    )
    out.append(
        f"{proof}; placement time {duration(r.solve_seconds)} (options and CP-SAT stages; pricing the "
        "candidates before it not included)"
    )
    return "\n".join(out) + "\n"


def summary(c: Cluster) -> dict:
    """The cluster's inputs as plain JSON values (the `input` of --json)."""
    return {
        "source": c.source,
        "objective": c.objective,
        "time_limit_s": c.time_limit_s,
        "seed": c.seed,
        "pools": [
            {"system": p.system, "gpus": p.gpus, "price": p.price, "gpus_per_node": p.gpus_per_node} for p in c.pools
        ],
        "deployments": [
            {
                "name": m.name,
                "demand_rps": m.demand_rps,
                "weight": m.weight,
                "systems": list(m.systems),
                "max_gpus": m.max_gpus,
                **_member_inputs(m.spec.summary()),
            }
            for m in c.members
        ],
    }


def document(c: Cluster, r: ClusterResult) -> dict:
    """The cluster's `--json` document, also the bundle's cluster.json: {"input": summary(c), **r.to_dict()}."""
    return {"input": summary(c), **r.to_dict()}


def _member_inputs(s: dict) -> dict:
    # The pools say where a member may run and how many GPUs exist; its validation-time stand-ins would mislead.
    return {k: v for k, v in s.items() if k not in ("system", "decode_system", "total_gpus", "source")}
