"""The terminal report of one solve: inputs and SLA, best agg vs disagg, an ASCII Pareto plot
(tokens/s/GPU against tokens/s/user) and the top-N tables. Pure text; no I/O."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from solver.result import Deployment, RoleConfig, SolveResult

MARKS = {"agg": "o", "disagg": "x"}
BOTH, SLA_MARK = "*", ":"


def sla_min_speed(sla: dict[str, Any]) -> float | None:
    """The tokens/s/user floor the SLA implies: max(1000 / tpot_ms, min_tokens_per_s_per_user)."""
    floors = [1000.0 / sla["tpot_ms"]] if sla.get("tpot_ms") else []
    floors += [sla["min_tokens_per_s_per_user"]] if sla.get("min_tokens_per_s_per_user") else []
    return max(floors) if floors else None


def _num(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def _input_lines(s: dict[str, Any]) -> list[str]:
    sla, q = s["sla"], s["quantization"]
    decode = f", decode on {s['decode_system']}" if s.get("decode_system") else ""
    bounds = [f"TTFT ≤ {sla['ttft_ms']:g} ms" if sla.get("ttft_ms") else "",
              f"TPOT ≤ {sla['tpot_ms']:g} ms" if sla.get("tpot_ms") else "",
              f"≥ {sla['min_tokens_per_s_per_user']:g} tokens/s/user" if sla.get("min_tokens_per_s_per_user") else "",
              f"request latency ≤ {sla['max_request_latency_ms']:g} ms" if sla.get("max_request_latency_ms") else ""]
    speed = sla_min_speed(sla)
    return [
        f"{s['model']} on {s['total_gpus']} × {s['system']}{decode} ({s['backend']} {s['backend_version']})"
        + ("; latencies calibrated with measured factors" if s.get("calibrated") else ""),
        f"  workload      ISL {s['isl']:,} tokens, OSL {s['osl']:,} tokens; modes: {', '.join(s['modes'])}",
        f"  quantization  gemm {q['gemm']}, kv cache {q['kv_cache']}, attention {q['attention']}"
        + (f", moe {q['moe']}" if s.get("moe", True) else "")
        + "".join(f"; MTP ({mode}) {m['draft_tokens']} drafted tokens/step at {m['acceptance']:g} acceptance"
                  for mode, m in s.get("mtp", {}).items() if m["draft_tokens"]),
        "  serving       scheduler reads new requests every "
        + (f"{n} iterations" if (n := s.get("scheduler_recv_interval", 1)) > 1 else "iteration")
        + (f"; disagg prefill pools planned at {s['prefill_utilisation']:.0%} load"
           if "disagg" in s["modes"] and "prefill_utilisation" in s else ""),
        "  SLA           " + (", ".join(b for b in bounds if b) or "none (throughput only)")
        + (f"  → each user ≥ {_num(speed)} tokens/s" if speed else ""),
    ]


def _one_line(d: Deployment) -> str:
    return (f"{_num(d.tokens_per_s_per_gpu)} tokens/s/GPU at {_num(d.tokens_per_s_per_user)} tokens/s/user "
            f"({d.gpus_used} GPUs, TTFT {_num(d.ttft_ms)} ms, TPOT {_num(d.tpot_ms, 2)} ms, "
            f"concurrency {d.concurrency:,})")


def infeasible_text(result: SolveResult, modes: list[str] | None = None) -> str:
    """The solver's explanation of why modes have no deployment: one line per mode where it gives them."""
    by_mode = result.stats.get("infeasible_by_mode")
    if isinstance(by_mode, dict) and by_mode:
        return "\n".join(f"{m}: {why}" for m, why in by_mode.items() if modes is None or m in modes)
    return str(result.stats.get("infeasible") or "no deployment meets the SLA and constraints.")


def _best_lines(result: SolveResult, modes: list[str]) -> list[str]:
    best = {"agg": result.best_agg, "disagg": result.best_disagg}
    lines = ["Best deployment per mode (tokens/s/GPU, higher is better)"]
    for mode in modes:
        lines.append(f"  {mode:<7} " + (_one_line(best[mode]) if best[mode] else "none meets the SLA"))
    if result.best_agg and result.best_disagg:
        ratio = result.best_disagg.tokens_per_s_per_gpu / result.best_agg.tokens_per_s_per_gpu
        lines.append(f"  disagg / agg = {ratio:.2f}× tokens/s/GPU → {'disagg' if ratio > 1 else 'agg'} wins")
    missing = [m for m in modes if best[m] is None]
    if missing:
        lines += ["", "Why not:", *("  " + line for line in infeasible_text(result, missing).splitlines())]
    return lines


def _axis_labels(width: int, marks: list[tuple[int, str]]) -> str:
    """Place each label centred on its column, skipping any that would overlap an earlier one."""
    line = [" "] * (width + 12)
    for col, text in marks:
        start = max(0, min(col - len(text) // 2, len(line) - len(text)))
        if all(c == " " for c in line[max(0, start - 1):start + len(text) + 1]):
            line[start:start + len(text)] = text
    return "".join(line).rstrip()


def pareto_plot(series: dict[str, list[tuple[float, float]]], sla_x: float | None, width: int = 60,
                height: int = 16) -> list[str]:
    """ASCII scatter of (tokens/s/user, tokens/s/GPU) per mode, with the SLA floor as a vertical line."""
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
    lines = ["  tokens/s/GPU"]
    lines += [f"{ylab.get(r, ''):>10} |{''.join(grid[r])}".rstrip() for r in range(height)]
    lines.append(f"{'':>10} +{'-' * width}")
    ticks = [(12 + col(x0), _num(x0, 0)), (12 + width - 1, _num(x1, 0))]
    ticks += [(12 + col(sla_x), f"SLA {_num(sla_x, 0)}")] if sla_x else []
    lines.append(_axis_labels(width, ticks))
    lines.append(f"{'tokens/s/user':>{12 + width // 2 + 6}}")
    legend = [f"{MARKS[m]} {m}" for m in series] + [f"{BOTH} both"]
    legend += [f"{SLA_MARK} SLA floor {_num(sla_x)} tokens/s/user"] if sla_x else []
    return lines + ["  " + "   ".join(legend)]


def _par(r: RoleConfig) -> str:
    return f"{r.tp}/{r.pp}/{r.dp}/{r.moe_ep}"


def top_table(deps: tuple[Deployment, ...] | list[Deployment], total_gpus: int) -> str:
    """One row per role of each deployment; the figures sit on its first role's row."""
    head = ["#", "role", "workers/\nreplica", "GPUs/\nworker", "tp/pp/\ndp/ep", "batch", "replicas", "GPUs\nused",
            "TTFT\nms", "TPOT\nms", "tokens/s\n/GPU", "tokens/s\n/user", "concur-\nrency"]
    rows = []
    for i, d in enumerate(deps, 1):
        for j, r in enumerate(d.roles):
            figures = [d.replicas, f"{d.gpus_used}/{total_gpus}", _num(d.ttft_ms), _num(d.tpot_ms, 2),
                       _num(d.tokens_per_s_per_gpu), _num(d.tokens_per_s_per_user), f"{d.concurrency:,}"]
            rows.append([i if j == 0 else "", r.role, r.workers, r.gpus_per_worker, _par(r), r.batch,
                         *(figures if j == 0 else [""] * len(figures))])
    return tabulate(rows, headers=head, tablefmt="simple", disable_numparse=True,
                    colalign=("right", "left", *["right"] * (len(head) - 2)))


def render(result: SolveResult, summary: dict[str, Any], top_n: int | None = None) -> str:
    """The whole report: inputs, best per mode and ratio, Pareto plot, top-N tables, solver notes."""
    modes = list(summary.get("modes") or ["agg", "disagg"])
    out = _input_lines(summary) + [""]
    if result.best() is None:
        out += ["No deployment meets the SLA.", *("  " + line for line in infeasible_text(result).splitlines())]
        return "\n".join(out) + "\n"
    out += _best_lines(result, modes) + [""]
    pareto = {"agg": result.pareto_agg, "disagg": result.pareto_disagg}
    series = {m: [(d.tokens_per_s_per_user, d.tokens_per_s_per_gpu) for d in pareto[m]] for m in modes}
    out += ["Pareto front"] + pareto_plot(series, sla_min_speed(summary["sla"])) + [""]
    top = {"agg": result.top_agg, "disagg": result.top_disagg}
    for mode in modes:
        deps = top[mode][:top_n] if top_n else top[mode]
        if deps:
            out += [f"Top {len(deps)} {mode}", top_table(deps, summary["total_gpus"]), ""]
    if not result.proven_optimal:
        out.append("not proven optimal (time limit)")
    note = f"solved in {result.solve_seconds:.1f} s"
    if result.linearization_max_rel_error:
        note += f"; linearization error ≤ {result.linearization_max_rel_error * 100:.2g}%"
    return "\n".join(out + [note]) + "\n"
