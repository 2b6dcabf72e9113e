"""The Pareto plot as a standalone SVG: tokens/s/user (x) against tokens/s per GPU given (y), no plotting library."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from solver.result import Deployment

W, H = 780, 480
LEFT, RIGHT, TOP, BOTTOM = 80, 230, 40, 60  # margins: the legend sits in the right one
COLORS = {"agg": "#1f77b4", "disagg": "#ff7f0e"}


def nice_ticks(hi: float, n: int = 5) -> list[float]:
    """0 and round steps (1, 2 or 5 x 10^k) up to at least hi."""
    if hi <= 0:
        return [0.0, 1.0]
    raw = hi / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(math.ceil(hi / step - 1e-9)) + 1)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or v == 0 else f"{v:g}"


def pareto_svg(
    fronts: dict[str, tuple[Deployment, ...]], chosen: list[tuple[str, Deployment]], bound: float | None, title: str
) -> str:
    """SVG text: one frontier per mode, chosen points ringed and labelled, the SLA bound as a dashed line."""
    pts = [d for ds in fronts.values() for d in ds] + [d for _, d in chosen]
    xt = nice_ticks(max([d.tokens_per_s_per_user for d in pts] + [bound or 0.0]) * 1.05)
    yt = nice_ticks(max([d.tokens_per_s_per_gpu_given for d in pts] + [0.0]) * 1.05)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    sx = lambda v: LEFT + pw * v / xt[-1]  # noqa: E731
    sy = lambda v: TOP + ph * (1 - v / yt[-1])  # noqa: E731
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2:.1f}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    if bound:  # users slower than the bound violate the SLA: shade that side
        out.append(f'<rect x="{LEFT}" y="{TOP}" width="{sx(bound) - LEFT:.1f}" height="{ph}" fill="#eeeeee"/>')
    for v in xt:
        out += [
            f'<line x1="{sx(v):.1f}" y1="{TOP}" x2="{sx(v):.1f}" y2="{TOP + ph}" stroke="#dddddd"/>',
            f'<text x="{sx(v):.1f}" y="{TOP + ph + 16}" text-anchor="middle">{_fmt(v)}</text>',
        ]
    for v in yt:
        out += [
            f'<line x1="{LEFT}" y1="{sy(v):.1f}" x2="{LEFT + pw}" y2="{sy(v):.1f}" stroke="#dddddd"/>',
            f'<text x="{LEFT - 6}" y="{sy(v) + 4:.1f}" text-anchor="end">{_fmt(v)}</text>',
        ]
    out += [
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>',
        f'<text x="{LEFT + pw / 2:.1f}" y="{H - 18}" text-anchor="middle">tokens/s/user</text>',
        f'<text transform="translate(20 {TOP + ph / 2:.1f}) rotate(-90)" text-anchor="middle">tokens/s/GPU given</text>',
    ]
    if bound:
        out += [
            f'<line x1="{sx(bound):.1f}" y1="{TOP}" x2="{sx(bound):.1f}" y2="{TOP + ph}" stroke="#d62728" '
            'stroke-dasharray="6 4" stroke-width="1.5"/>',
            # along the line, from the bottom up: the chosen points sit near its top
            f'<text transform="translate({sx(bound) + 14:.1f} {TOP + ph - 6}) rotate(-90)" fill="#d62728">'
            f"SLA: ≥ {_fmt(bound)} tokens/s/user</text>",
        ]
    for mode, ds in fronts.items():
        line = sorted(ds, key=lambda d: d.tokens_per_s_per_user)
        if line:
            xy = " ".join(f"{sx(d.tokens_per_s_per_user):.1f},{sy(d.tokens_per_s_per_gpu_given):.1f}" for d in line)
            out.append(f'<polyline points="{xy}" fill="none" stroke="{COLORS[mode]}" stroke-width="2"/>')
        out += [
            f'<circle cx="{sx(d.tokens_per_s_per_user):.1f}" cy="{sy(d.tokens_per_s_per_gpu_given):.1f}" r="3.5" '
            f'fill="{COLORS[mode]}"/>'
            for d in line
        ]
    for label, d in chosen:
        x, y = sx(d.tokens_per_s_per_user), sy(d.tokens_per_s_per_gpu_given)
        out += [
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="none" stroke="black" stroke-width="2"/>',
            f'<text x="{x + 10:.1f}" y="{y - 8:.1f}">{escape(label)}</text>',
        ]
    lx = LEFT + pw + 16
    legend = [(COLORS[m], f"{m} Pareto frontier" + ("" if fronts[m] else " (none)")) for m in fronts]
    legend.append(("black", "exported deployment"))
    for k, (color, text) in enumerate(legend):
        y = TOP + 10 + 20 * k
        out += [
            f'<line x1="{lx}" y1="{y}" x2="{lx + 18}" y2="{y}" stroke={quoteattr(color)} stroke-width="2"/>',
            f'<text x="{lx + 24}" y="{y + 4}">{escape(text)}</text>',
        ]
    y = TOP + 10 + 20 * len(legend)
    if bound:
        out += [
            f'<line x1="{lx}" y1="{y}" x2="{lx + 18}" y2="{y}" stroke="#d62728" stroke-dasharray="6 4"/>',
            f'<text x="{lx + 24}" y="{y + 4}">SLA bound</text>',
        ]
        y += 20
    out += _percentile_lines(chosen, lx, y + 10)
    return "\n".join([*out, "</svg>"]) + "\n"


def _percentile_lines(chosen: list[tuple[str, Deployment]], x: float, y: float) -> list[str]:
    """Mean and p90 / p99 of TTFT and TPOT of each exported deployment, as text lines in the legend column."""
    out = []
    for label, d in chosen:
        if len(d.ttft_pct_ms) != 4:
            continue
        t, p = d.ttft_pct_ms, d.tpot_pct_ms
        out += [
            f'<text x="{x}" y="{y:.0f}" font-size="11" font-weight="bold">{escape(label)} (mean · p90 · p99)</text>',
            f'<text x="{x}" y="{y + 14:.0f}" font-size="11">TTFT {_ms(d.ttft_ms)} · {_ms(t[1])} · {_ms(t[3])} ms</text>',
            f'<text x="{x}" y="{y + 28:.0f}" font-size="11">TPOT {d.tpot_ms:.2f} · {p[1]:.2f} · {p[3]:.2f} ms</text>',
        ]
        y += 48
    return out


def _ms(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
