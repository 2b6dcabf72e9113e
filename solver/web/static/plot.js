// The Pareto plot as inline SVG (no library): tokens/s per GPU given (y) against tokens/s/user (x), one series per mode,
// the region meeting the SLA's per-user floor shaded, the best deployment of each mode ringed, hover for details.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = { agg: "#1f6fb4", disagg: "#e8730c" };

function niceTicks(lo, hi, n) {
  // Round steps (1, 2 or 5 × 10^k) covering [lo, hi].
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.floor(lo / step) * step; v < hi + step * 0.999; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function el(name, attrs, text) {
  const node = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(v) {
  return Math.abs(v) >= 100 ? v.toLocaleString("en-US", { maximumFractionDigits: 0 }) : String(+v.toPrecision(3));
}

function slaFloor(sla) {
  // The lowest tokens/s/user the SLA admits: 1000 / TPOT, or the explicit floor if higher.
  const vals = [];
  if (sla && sla.tpot_ms) vals.push(1000 / sla.tpot_ms);
  if (sla && sla.min_tokens_per_s_per_user) vals.push(sla.min_tokens_per_s_per_user);
  return vals.length ? Math.max(...vals) : null;
}

function deploymentKey(d) {
  return d.mode + "|" + d.replicas + "|" + d.roles.map((r) => `${r.role}:${r.row}:${r.workers}`).join(",");
}

function drawPareto(box, doc, describe) {
  // Replace box's <svg> with the plot of doc (the /api/solve document); describe(d) gives a tooltip's lines.
  const W = 820, H = 430, L = 72, R = 24, T = 16, B = 52;
  const series = { agg: doc.pareto.agg || [], disagg: doc.pareto.disagg || [] };
  const pts = [...series.agg, ...series.disagg];
  const floor = slaFloor(doc.input.sla);
  if (!pts.length) return drawEmpty(box, doc, W, H);
  const xs = pts.map((d) => d.tokens_per_s_per_user).concat(floor ? [floor] : []);
  const ys = pts.map((d) => d.tokens_per_s_per_gpu_given);
  const xlo = xs.length ? Math.min(...xs) * 0.9 : 0, xhi = xs.length ? Math.max(...xs) * 1.05 : 1;
  const xt = niceTicks(Math.max(0, xlo), xhi, 6), yt = niceTicks(0, (ys.length ? Math.max(...ys) : 1) * 1.08, 5);
  const x0 = xt[0], x1 = xt[xt.length - 1], y1 = yt[yt.length - 1];
  const pw = W - L - R, ph = H - T - B;
  const sx = (v) => L + (pw * (v - x0)) / (x1 - x0), sy = (v) => T + ph * (1 - v / y1);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": "Pareto front",
                          class: "pareto" });
  if (floor) {
    const fx = Math.max(L, Math.min(L + pw, sx(floor)));
    svg.append(el("rect", { x: fx, y: T, width: L + pw - fx, height: ph, class: "sla-region" }));
    svg.append(el("line", { x1: fx, y1: T, x2: fx, y2: T + ph, class: "sla-line" }));
    svg.append(el("text", { x: fx + 6, y: T + ph - 8, class: "sla-label" }, `meets the SLA: ≥ ${fmt(floor)} tokens/s/user`));
  }
  for (const v of xt) {
    svg.append(el("line", { x1: sx(v), y1: T, x2: sx(v), y2: T + ph, class: "grid" }));
    svg.append(el("text", { x: sx(v), y: T + ph + 18, "text-anchor": "middle" }, fmt(v)));
  }
  for (const v of yt) {
    svg.append(el("line", { x1: L, y1: sy(v), x2: L + pw, y2: sy(v), class: "grid" }));
    svg.append(el("text", { x: L - 8, y: sy(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  svg.append(el("rect", { x: L, y: T, width: pw, height: ph, class: "frame" }));
  svg.append(el("text", { x: L + pw / 2, y: H - 10, "text-anchor": "middle", class: "axis" }, "tokens/s/user"));
  svg.append(el("text", { transform: `translate(18 ${T + ph / 2}) rotate(-90)`, "text-anchor": "middle",
                          class: "axis" }, "tokens/s/GPU given"));
  const best = new Set([doc.best.agg, doc.best.disagg].filter(Boolean).map(deploymentKey));
  const tip = box.querySelector(".tip");
  for (const [mode, ds] of Object.entries(series)) {
    const line = [...ds].sort((a, b) => a.tokens_per_s_per_user - b.tokens_per_s_per_user);
    if (line.length > 1) {
      const xy = line.map((d) => `${sx(d.tokens_per_s_per_user).toFixed(1)},${sy(d.tokens_per_s_per_gpu_given).toFixed(1)}`);
      svg.append(el("polyline", { points: xy.join(" "), class: "front", stroke: COLORS[mode] }));
    }
    line.forEach((d) => {
      const cx = sx(d.tokens_per_s_per_user), cy = sy(d.tokens_per_s_per_gpu_given), key = deploymentKey(d);
      if (best.has(key)) svg.append(el("circle", { cx, cy, r: 9, class: "best-ring" }));
      const c = el("circle", { cx, cy, r: 5, fill: COLORS[mode], class: `point point-${mode}`, "data-key": key,
                               "data-mode": mode, "data-tokens-per-s-per-gpu": String(d.tokens_per_s_per_gpu_given) });
      c.addEventListener("mouseenter", () => showTip(box, tip, c, describe(d)));
      c.addEventListener("mouseleave", () => { tip.hidden = true; c.classList.remove("hl"); });
      svg.append(c);
    });
  }
  const modes = Object.keys(series);
  modes.forEach((m, i) => {
    const y = T + 16 + i * 18, x = L + pw - 200;
    svg.append(el("circle", { cx: x, cy: y - 4, r: 5, fill: COLORS[m] }));
    const n = series[m].length;
    svg.append(el("text", { x: x + 10, y, class: "legend" }, `${m} (${n ? n + " on the front" : "none"})`));
  });
  svg.append(el("circle", { cx: L + pw - 200, cy: T + 12 + modes.length * 18, r: 7, class: "best-ring" }));
  svg.append(el("text", { x: L + pw - 190, y: T + 16 + modes.length * 18, class: "legend" }, "best of the mode"));
  box.querySelector("svg")?.remove();
  box.prepend(svg);
}

function drawEmpty(box, doc, W, H) {
  // Nothing to plot: no axes (they would mean nothing), but why, per mode, from the solver's reasons.
  const svg = el("svg", { viewBox: `0 0 ${W} ${H / 2}`, width: "100%", role: "img", class: "pareto empty",
                          "aria-label": "Pareto front: no deployment" });
  svg.append(el("text", { x: W / 2, y: 60, "text-anchor": "middle", class: "empty-title" },
                "Nothing to plot: no deployment meets the spec"));
  Object.entries(doc.stats.infeasible_by_mode || {}).forEach(([mode, why], k) =>
    svg.append(el("text", { x: W / 2, y: 96 + 24 * k, "text-anchor": "middle", class: "empty-why" },
                  `${mode}: ${why}`)));
  box.querySelector("svg")?.remove();
  box.prepend(svg);
}

function showTip(box, tip, circle, lines) {
  tip.replaceChildren(...lines.map((t, i) => Object.assign(document.createElement(i ? "div" : "strong"),
                                                           { textContent: t })));
  tip.hidden = false;
  circle.classList.add("hl");
  const b = box.getBoundingClientRect(), c = circle.getBoundingClientRect();
  const left = c.left - b.left + 14, top = c.top - b.top + 14;
  tip.style.left = `${Math.min(left, b.width - tip.offsetWidth - 4)}px`;
  tip.style.top = `${top + tip.offsetHeight > b.height ? top - tip.offsetHeight - 24 : top}px`;
}

window.aicsolvePlot = { drawPareto, deploymentKey, slaFloor };
