"""The terminal report of one solve: inputs and SLA, best agg vs disagg, an ASCII Pareto plot
(tokens/s per GPU given against tokens/s/user) and the top-N tables. Pure text; no I/O.

tokens/s/GPU is always per GPU given (total tokens/s / total_gpus), as the solver ranks and peer
tools divide; a deployment that leaves GPUs idle also shows its figure per GPU used."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from costmodel import engine_rules

from solver.problem import Sla
from solver.result import Deployment, RoleConfig, SolveResult

MARKS = {"agg": "o", "disagg": "x"}
BOTH, SLA_MARK = "*", ":"


def duration(seconds: float) -> str:
    """A time with three significant digits in a unit that shows them: "0.412 ms", "12.3 ms", "1.23 s", "45.6 s"."""
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s" if seconds < 1000 else f"{seconds:,.0f} s"


def _num(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def _moe_kernel_text(s: dict[str, Any]) -> str:
    """The MoE kernel priced, on a backend whose recipe can select one (TRT-LLM moe_config.backend, vLLM's
    environment switches), per system when they differ; "" otherwise."""
    rules = engine_rules(s["backend"])
    main, decode = s.get("moe_backend"), s.get("decode_moe_backend")
    if main is None or not rules.moe_backend_tables:
        return ""
    by_switch = bool(rules.moe_backend_envs)  # the engine selects its kernels by environment, not by a config key

    def name(k: str | None) -> str:
        if k in (None, "default"):
            return "the engine default"
        limit = rules.moe_max_ep(k)
        switches = ", ".join(f"{v}={x}" for v, x in rules.moe_backend_env(k).items())
        return k + (f" at EP ≤ {limit}" if limit is not None else "") + (f" ({switches})" if switches else "")

    how = "" if by_switch else " (moe_config.backend)"
    if not s.get("decode_system") or decode == main:
        return f", MoE kernel {name(main)}{how}"
    return f", MoE kernel {name(main)} on {s['system']}, {name(decode)} on {s['decode_system']}{how}"


def _input_lines(s: dict[str, Any]) -> list[str]:
    sla, q = Sla.from_plain(s["sla"]), s["quantization"]
    decode = f", decode on {s['decode_system']}" if s.get("decode_system") else ""
    speed = sla.min_speed()
    return [
        f"{s['model']} on {s['total_gpus']} × {s['system']}{decode} ({s['backend']} {s['backend_version']})"
        + ("; latencies calibrated with measured factors" if s.get("calibrated") else ""),
        *_workload_lines(s),
        f"  quantization  gemm {q['gemm']}, kv cache {q['kv_cache']}, attention {q['attention']}"
        + (f", moe {q['moe']}" if s.get("moe", True) else ""),
        *_recipe_lines(s),
        *_checkpoint_lines(s.get("checkpoint")),
        "  serving       scheduler reads new requests every "
        + (f"{n} iterations" if (n := s.get("scheduler_recv_interval", 1)) > 1 else "iteration")
        + (f", token budget {t:,} per iteration" if (t := s.get("max_num_tokens")) else "")
        + _moe_kernel_text(s)
        + (
            f"; disagg prefill pools planned at {s['prefill_utilisation']:.0%} load"
            if "disagg" in s["modes"] and "prefill_utilisation" in s
            else ""
        ),
        "  SLA           "
        + (", ".join(sla.bounds()) or "none (throughput only)")
        + (f"  → each user ≥ {_num(speed)} tokens/s" if speed else ""),
    ]


def _workload_lines(s: dict[str, Any]) -> list[str]:
    """ISL/OSL (fixed, or the distribution and its mean), prefix hits, the load and where the workload came from."""
    w, modes = s.get("workload"), ", ".join(s["modes"])
    head = f"  workload      ISL {s['isl']:,} tokens, OSL {s['osl']:,} tokens"
    if not w or (
        len(w["isl"]["points"]) == 1
        and len(w["osl"]["points"]) == 1
        and not w["prefix_hit_rate"]
        and w["arrival"]["process"] == "closed"
    ):
        return [f"{head}; modes: {modes}"]
    lines = [f"  workload      ISL {w['isl']['text']}", f"                OSL {w['osl']['text']}"]
    if w["prefix_hit_rate"]:
        lines.append(f"                {w['prefix_hit_rate']:.0%} of prompt tokens served from the prefix cache")
    lines.append(f"                load: {w['arrival']['text']}; modes: {modes}")
    return lines + ([f"                from {w['source']}"] if w.get("source") else [])


def latency_lines(result: SolveResult, modes: list[str]) -> list[str]:
    """Mean and percentiles of TTFT and TPOT of each mode's best deployment (a small table)."""
    from costmodel import PERCENTILES

    best = {"agg": result.best_agg, "disagg": result.best_disagg}
    rows = []
    for mode in modes:
        d = best[mode]
        if d is None or not d.ttft_pct_ms:
            continue
        pct = d.percentiles()
        for name, digits in (("ttft_ms", 1), ("tpot_ms", 2)):
            rows.append(
                [
                    mode if name == "ttft_ms" else "",
                    name[:4].upper(),
                    *(_num(pct[name].get(k, float("nan")), digits) for k in ["mean"] + [f"p{p}" for p in PERCENTILES]),
                ]
            )
    if not rows:
        return []
    head = ["", "ms", "mean", *(f"p{p}" for p in PERCENTILES)]
    table = tabulate(
        rows,
        headers=head,
        tablefmt="simple",
        disable_numparse=True,
        colalign=("left", "left", *["right"] * (len(head) - 2)),
    )
    return [
        "Latency of the best deployments per request (mean and percentiles)",
        *("  " + line for line in table.splitlines()),
    ]


def _recipe_lines(s: dict[str, Any]) -> list[str]:
    """The engine recipe assumed beyond the quantization: MTP per mode, and defaults taken from the engine data."""
    mtp = [
        f"MTP ({mode}) {m['draft_tokens']} drafted tokens/step at {m['acceptance']:g} acceptance"
        if m["draft_tokens"]
        else f"MTP ({mode}) off"
        for mode, m in s.get("mtp", {}).items()
    ]
    parts = (mtp if s.get("mtp_layers") else []) + list(s.get("recipe_notes", ()))
    return [f"  recipe        {'; '.join(parts)}"] if parts else []


def _checkpoint_lines(c: dict[str, Any] | None) -> list[str]:
    """The weights the engines load: the checkpoint providing the priced quantization, or what to produce."""
    if not c:
        return []
    if c.get("note"):
        return [f"  checkpoint    {c['note']}"]
    return [f"  checkpoint    {c['hf_id']} ({c['provides']})"]


def _one_line(d: Deployment) -> str:
    used = (
        f"{d.gpus_used} GPUs"
        if d.gpus_used == d.gpus_given or not d.gpus_given
        else f"{d.gpus_used} of {d.gpus_given} GPUs, {_num(d.tokens_per_s_per_gpu)} per GPU used"
    )
    tail = lambda pct, digits: f" (p90 {_num(pct[1], digits)}, p99 {_num(pct[3], digits)})" if len(pct) == 4 else ""  # noqa: E731
    return (
        f"{_num(d.tokens_per_s_per_gpu_given)} tokens/s/GPU at {_num(d.tokens_per_s_per_user)} tokens/s/user "
        f"({used}, TTFT {_num(d.ttft_ms)} ms{tail(d.ttft_pct_ms, 1)}, TPOT {_num(d.tpot_ms, 2)} ms"
        f"{tail(d.tpot_pct_ms, 2)}, concurrency {d.concurrency:,})"
    )


# The rule a solver reason names first (solver.constraints messages: "gpus: 2 GPUs needed > 1") → what binds.
BINDS = {
    "gpus": "the GPU count",
    "ttft": "the TTFT bound",
    "tpot": "the TPOT bound",
    "tokens/s/user": "the tokens/s/user floor",
    "request latency": "the request-latency bound",
    "topology": "the topology constraints",
    "role_gpu_budget": "the role GPU budget",
    "max_gpus_per_worker": "the GPUs-per-worker cap",
    "fixed": "the fixed parallelism",
    "replicas": "the replica bounds",
}
SLA_RULES = ("ttft", "tpot", "tokens/s/user", "request latency")


def binding_rule(reason: str) -> str | None:
    """The rule key (a BINDS key) of a solver reason such as "smallest disagg deployment (…): gpus: 2 GPUs needed
    > 1"; None when the reason names no known rule."""
    return next((part for part in reason.split(": ") if part in BINDS), None)


def infeasible_headline(result: SolveResult, modes: list[str] | None = None) -> str:
    """ "No deployment meets the SLA" when only SLA bounds bind, else what rules each mode out (no final period)."""
    by_mode = result.stats.get("infeasible_by_mode")
    rules = (
        {m: binding_rule(why) for m, why in by_mode.items() if modes is None or m in modes}
        if isinstance(by_mode, dict)
        else {}
    )
    if not rules or all(r in SLA_RULES for r in rules.values() if r):
        return "No deployment meets the SLA"
    by_rule: dict[str | None, list[str]] = {}
    for m, r in rules.items():
        by_rule.setdefault(r, []).append(m)
    return "No deployment: " + "; ".join(
        f"{BINDS[r]} rules out {' and '.join(ms)}"
        if r
        else f"{' and '.join(ms)} {'has' if len(ms) == 1 else 'have'} none"
        for r, ms in by_rule.items()
    )


def infeasible_text(result: SolveResult, modes: list[str] | None = None) -> str:
    """The solver's explanation of why modes have no deployment: one line per mode where it gives them."""
    by_mode = result.stats.get("infeasible_by_mode")
    if isinstance(by_mode, dict) and by_mode:
        return "\n".join(f"{m}: {why}" for m, why in by_mode.items() if modes is None or m in modes)
    return str(result.stats.get("infeasible") or "no deployment meets the SLA and constraints.")


def _none(result: SolveResult, mode: str) -> str:
    why = (result.stats.get("infeasible_by_mode") or {}).get(mode)
    rule = binding_rule(why) if isinstance(why, str) else None
    return f"none: {BINDS[rule]} rules it out (Why not, below)" if rule else "none meets the SLA and constraints"


def _best_lines(result: SolveResult, modes: list[str]) -> list[str]:
    best = {"agg": result.best_agg, "disagg": result.best_disagg}
    lines = ["Best deployment per mode (output tokens/s per GPU given: total tokens/s / total_gpus, higher is better)"]
    for mode in modes:
        d = best[mode]
        lines.append(f"  {mode:<7} " + (_one_line(d) if d else _none(result, mode)))
    if result.best_agg and result.best_disagg:
        ratio = result.best_disagg.tokens_per_s / result.best_agg.tokens_per_s
        lines.append(
            f"  disagg / agg = {ratio:.2f}× tokens/s on the GPUs given → {'disagg' if ratio > 1 else 'agg'} wins"
        )
    missing = [m for m in modes if best[m] is None]
    if missing:
        lines += ["", "Why not:", *("  " + line for line in infeasible_text(result, missing).splitlines())]
    return lines


def _axis_labels(width: int, marks: list[tuple[int, str]]) -> str:
    """Place each label centred on its column, skipping any that would overlap an earlier one."""
    line = [" "] * (width + 12)
    for col, text in marks:
        start = max(0, min(col - len(text) // 2, len(line) - len(text)))
        if all(c == " " for c in line[max(0, start - 1) : start + len(text) + 1]):
            line[start : start + len(text)] = text
    return "".join(line).rstrip()


def pareto_plot(
    series: dict[str, list[tuple[float, float]]], sla_x: float | None, width: int = 60, height: int = 16
) -> list[str]:
    """ASCII scatter of (tokens/s/user, tokens/s per GPU given) per mode, with the SLA floor as a vertical line."""
    pts = [p for s in series.values() for p in s]
    if not pts:
        return []
    xs = [x for x, _ in pts] + ([sla_x] if sla_x else [])
    lo, hi = min(xs), max(xs)
    pad = (hi - lo) * 0.05 or max(hi * 0.05, 1.0)  # one point alone still gets a visible span
    x0, x1, y1 = max(0.0, lo - pad), hi + pad, max(y for _, y in pts) * 1.08 or 1.0
    col = lambda x: min(width - 1, max(0, round((x - x0) / (x1 - x0) * (width - 1))))  # noqa: E731
    row = lambda y: height - 1 - min(height - 1, max(0, round(y / y1 * (height - 1))))  # noqa: E731
    grid = [[" "] * width for _ in range(height)]
    if sla_x:
        for r in range(height):
            grid[r][col(sla_x)] = SLA_MARK
    for mode, mpts in series.items():
        for x, y in mpts:
            c = grid[row(y)][col(x)]
            grid[row(y)][col(x)] = BOTH if c not in (" ", SLA_MARK, MARKS[mode]) else MARKS[mode]
    ylab = {0: _num(y1, 0), height // 2: _num(y1 / 2, 0), height - 1: "0"}
    lines = ["  tokens/s/GPU (GPUs given)"]
    lines += [f"{ylab.get(r, ''):>10} |{''.join(grid[r])}".rstrip() for r in range(height)]
    lines.append(f"{'':>10} +{'-' * width}")
    ticks = [(12 + col(x0), _num(x0, 0)), (12 + width - 1, _num(x1, 0))]
    ticks += [(12 + col(sla_x), f"SLA {_num(sla_x, 0)}")] if sla_x else []
    lines.append(_axis_labels(width, ticks))
    lines.append(f"{'tokens/s/user':>{12 + width // 2 + 6}}")
    legend = [f"{MARKS[m]} {m}" for m in series] + [f"{BOTH} both"]
    legend += [f"{SLA_MARK} SLA floor {_num(sla_x)} tokens/s/user"] if sla_x else []
    return lines + ["  " + "   ".join(legend)]


def worker_batch(r: RoleConfig) -> int:
    """Requests one worker runs per engine step, over all its attention-DP ranks: a prefill role's batch is
    counted per DP rank by the cost model (RoleConfig.batch), an agg or decode role's per worker."""
    return r.batch * r.dp if r.role == "prefill" else r.batch


BATCH_NOTE = (
    "batch/worker: requests one worker runs per step over all its attention-DP ranks (prefill: per "
    "prefill step; agg, decode: its concurrency). Layout: TP and PP per worker, attention DP ranks, and "
    "for MoE models the experts' MoE TP × MoE EP, as the bundle's engine configuration sets them."
)


def top_table(deps: tuple[Deployment, ...] | list[Deployment], total_gpus: int, moe: bool = True) -> str:
    """One row per role of each deployment, its full layout (MoE TP and EP for MoE models); the figures sit on its
    first role's row. The batch is per worker for every role (worker_batch)."""
    layout = ["TP", "PP", "attn\nDP", *(["MoE\nTP", "MoE\nEP"] if moe else [])]
    head = [
        "#",
        "role",
        "workers/\nreplica",
        "GPUs/\nworker",
        *layout,
        "batch/\nworker",
        "replicas",
        "GPUs\nused",
        "TTFT\nms",
        "TPOT\nms",
        "tokens/s\n/GPU given",
        "tokens/s\n/user",
        "concur-\nrency",
    ]
    rows = []
    for i, d in enumerate(deps, 1):
        for j, r in enumerate(d.roles):
            figures = [
                d.replicas,
                f"{d.gpus_used}/{total_gpus}",
                _num(d.ttft_ms),
                _num(d.tpot_ms, 2),
                _num(d.tokens_per_s_per_gpu_given),
                _num(d.tokens_per_s_per_user),
                f"{d.concurrency:,}",
            ]
            par = [r.tp, r.pp, r.dp, *([r.moe_tp, r.moe_ep] if moe else [])]
            rows.append(
                [
                    i if j == 0 else "",
                    r.role,
                    r.workers,
                    r.gpus_per_worker,
                    *par,
                    f"{worker_batch(r):,}",
                    *(figures if j == 0 else [""] * len(figures)),
                ]
            )
    return tabulate(
        rows,
        headers=head,
        tablefmt="simple",
        disable_numparse=True,
        colalign=("right", "left", *["right"] * (len(head) - 2)),
    )


def render(result: SolveResult, summary: dict[str, Any], top_n: int | None = None) -> str:
    """The whole report: inputs, best per mode and ratio, Pareto plot, top-N tables, solver notes."""
    modes = list(summary.get("modes") or ["agg", "disagg"])
    out = _input_lines(summary) + [""]
    if result.best() is None:
        out += [infeasible_headline(result) + ".", *("  " + line for line in infeasible_text(result).splitlines())]
        return "\n".join(out) + "\n"
    out += _best_lines(result, modes) + [""]
    pareto = {"agg": result.pareto_agg, "disagg": result.pareto_disagg}
    series = {m: [(d.tokens_per_s_per_user, d.tokens_per_s_per_gpu_given) for d in pareto[m]] for m in modes}
    out += ["Pareto front"] + pareto_plot(series, Sla.from_plain(summary["sla"]).min_speed()) + [""]
    lat = latency_lines(result, modes)
    out += lat + [""] if lat else []
    top = {"agg": result.top_agg, "disagg": result.top_disagg}
    for mode in modes:
        deps = top[mode][:top_n] if top_n else top[mode]
        if deps:
            out += [f"Top {len(deps)} {mode}", top_table(deps, summary["total_gpus"], summary.get("moe", True)), ""]
    out += [BATCH_NOTE, ""]
    if not result.proven_optimal:
        out.append("not proven optimal (time limit)")
    note = (
        f"solver time {duration(result.solve_seconds)} (CP-SAT search, Pareto set, re-check; pricing the "
        "candidates before it not included)"
    )
    if result.linearization_max_rel_error:
        note += f"; linearization error ≤ {result.linearization_max_rel_error * 100:.2g}%"
    return "\n".join(out + [note]) + "\n"
