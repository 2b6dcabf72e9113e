// The page: fills the form from /api/models and /api/systems, posts the spec to /api/solve, shows the answer
// (best agg vs disagg, Pareto plot, top table) and downloads the Dynamo bundle from /api/bundle.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { systems: null, tab: "form", uploadName: null, lastBody: null };

async function api(path, body) {
  // fetch; a failure becomes an Error carrying the server's {"error"} message, worded as the CLI words it.
  let res;
  try {
    res = await fetch(path, body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (e) {
    throw new Error(`cannot reach the aicsolve server (${e.message}); is \`aicsolve webapp\` still running?`);
  }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return res;
}

function option(value, label) {
  return Object.assign(document.createElement("option"), { value, textContent: label ?? value });
}

function fill(select, options, preferred) {
  select.replaceChildren(...options);
  if (options.some((o) => o.value === preferred)) select.value = preferred;
}

function showError(msg) { $("error").textContent = msg; $("error").hidden = !msg; }
function status(msg) { $("status").textContent = msg; }

async function init() {
  let models, systems;
  try {
    [models, systems] = await Promise.all([api("/api/models").then((r) => r.json()),
                                           api("/api/systems").then((r) => r.json())]);
  } catch (e) { showError(e.message); return; }
  state.systems = systems;
  fill($("model"), models.models.map((m) => {
    const alias = m.aliases.find((a) => a === a.toUpperCase());
    return option(m.id, alias ? `${m.id} (${alias})` : m.id);
  }), "Qwen/Qwen3-32B");
  fill($("system"), systems.systems.map((s) => option(s.name)), "h200_sxm");
  for (const sel of document.querySelectorAll("select[data-kind]")) {
    fill(sel, [option("", "auto"), ...systems.quantization[sel.dataset.kind].map((q) => option(q))], "");
  }
  onSystem();
}

function onSystem() {
  const sys = state.systems.systems.find((s) => s.name === $("system").value);
  fill($("backend"), Object.keys(sys.backends).map((b) => option(b)), $("backend").value || "trtllm");
  onBackend();
}

function onBackend() {
  const sys = state.systems.systems.find((s) => s.name === $("system").value);
  const dflt = state.systems.default_versions[$("backend").value];
  fill($("backend_version"), (sys.backends[$("backend").value] || []).map(
    (v) => option(v, v === dflt ? `${v} (default)` : v)), dflt);
}

function setTab(tab) {
  state.tab = tab;
  $("pane-form").hidden = tab !== "form";
  $("pane-yaml").hidden = tab !== "yaml";
  $("tab-form").classList.toggle("active", tab === "form");
  $("tab-yaml").classList.toggle("active", tab === "yaml");
}

function num(id) {
  const v = $(id).value.trim();
  return v === "" ? null : Number(v);
}

function prune(obj) {
  // Drop nulls and empty sections: the spec's defaults apply to what is left out.
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    const w = v !== null && typeof v === "object" && !Array.isArray(v) ? prune(v) : v;
    if (w !== null && w !== undefined && !(typeof w === "object" && !Array.isArray(w) && !Object.keys(w).length)) {
      out[k] = w;
    }
  }
  return out;
}

function formSpec() {
  const quant = {};
  for (const sel of document.querySelectorAll("select[data-kind]")) quant[sel.dataset.kind] = sel.value || null;
  const within = $("worker_within_node").checked;
  return prune({
    model: $("model").value, system: $("system").value, backend: $("backend").value,
    backend_version: $("backend_version").value || null, total_gpus: num("total_gpus"),
    workload: { isl: num("isl"), osl: num("osl") },
    sla: { ttft_ms: num("ttft_ms"), tpot_ms: num("tpot_ms"), max_request_latency_ms: num("max_request_latency_ms"),
           min_tokens_per_s_per_user: num("min_tokens_per_s_per_user") },
    quantization: quant,
    modes: ["agg", "disagg"].filter((m) => $(`mode_${m}`).checked),
    constraints: {
      max_gpus_per_worker: num("max_gpus_per_worker"),
      replicas: { min: num("replicas_min"), max: num("replicas_max") },
      topology: within || num("max_nodes") !== null ? { worker_within_node: within, max_nodes: num("max_nodes") } : null,
    },
    solver: { time_limit_s: num("time_limit_s"), top_n: num("top_n") },
  });
}

function requestBody() {
  const overrides = $("overrides").value.split("\n").map((s) => s.trim()).filter(Boolean);
  if (state.tab === "yaml") {
    return { spec_yaml: $("spec_yaml").value, overrides, ...(state.uploadName ? { filename: state.uploadName } : {}) };
  }
  return { spec: formSpec(), overrides };
}

const f1 = (v) => v.toLocaleString("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const f2 = (v) => String(+v.toPrecision(3));

// Requests one worker runs per step over all its attention-DP ranks: the prefill batch is per DP rank in the
// document, agg and decode batches per worker (the CLI report's batch/worker column).
const workerBatch = (r) => (r.role === "prefill" ? r.batch * r.attention_dp : r.batch);

function layoutText(r) {
  // The full layout: TP, PP, attention DP, and the experts' MoE TP × EP for MoE models.
  const moe = state.moe ? ` MoE TP${r.moe_tp}×EP${r.ep}` : "";
  return `TP${r.tp} PP${r.pp}${r.attention_dp > 1 ? ` attn-DP${r.attention_dp}` : ""}${moe}`;
}

function roleText(r) {
  return `${r.workers}× ${r.role} ${layoutText(r)}, batch ${workerBatch(r)}/worker`;
}

function duration(s) {
  // Three significant digits in a unit that shows them (as the CLI report prints times).
  return s < 1 ? `${+(s * 1000).toPrecision(3)} ms` : `${+s.toPrecision(3)} s`;
}

function mtpText(i) {
  const on = Object.entries(i.mtp || {}).filter(([, m]) => m.draft_tokens > 0);
  return on.length ? on.map(([mode, m]) => `MTP (${mode}) ${m.draft_tokens} drafted tokens/step at ` +
                                           `${m.acceptance} acceptance`).join(", ")
                   : "no MTP (speculative decoding off)";
}

function infeasibleLines(doc) {
  // The solver's reason per mode that has no deployment ("gpus: 2 GPUs needed > 1" names the binding rule).
  return Object.entries(doc.stats.infeasible_by_mode || {}).map(([mode, why]) => `${mode}: ${why}`);
}

function percentilesText(d) {
  // "TTFT mean 257 · p50 190 · p90 420 · p99 1,005 ms; TPOT …": the mean and percentiles of one deployment.
  const lp = d.latency_percentiles;
  if (!lp || !("p90" in lp.ttft_ms)) return "";
  const one = (name, m, fmt) => `${name} mean ${fmt(m.mean)} · p50 ${fmt(m.p50)} · p90 ${fmt(m.p90)} · ` +
                                `p95 ${fmt(m.p95)} · p99 ${fmt(m.p99)} ms`;
  return `${one("TTFT", lp.ttft_ms, f1)}; ${one("TPOT", lp.tpot_ms, f2)}`;
}

function describe(d) {
  return [`${d.mode}: ${f1(d.tokens_per_s_per_gpu_given)} tokens/s/GPU given at ${f1(d.tokens_per_s_per_user)} tokens/s/user`,
          `TTFT ${f1(d.ttft_ms)} ms · TPOT ${f2(d.tpot_ms)} ms · concurrency ${d.concurrency}`,
          ...(percentilesText(d) ? [percentilesText(d)] : []),
          `${d.gpus_used} GPUs = ${d.replicas} replica(s) × (${d.roles.map(roleText).join(" + ")})`,
          ...d.roles.map((r) => `${r.role}: ${r.gpus_per_worker} GPUs/worker, ${layoutText(r)}, ` +
                                `batch ${workerBatch(r)}/worker, max ${r.max_num_tokens} tokens/step`)];
}

function slaText(sla) {
  const pct = (name, bounds) => (bounds || []).map(([lv, ms]) => `p${lv} ${name} ≤ ${ms} ms`);
  const parts = [sla.ttft_ms && `TTFT ≤ ${sla.ttft_ms} ms`, ...pct("TTFT", sla.ttft_pct),
                 sla.tpot_ms && `TPOT ≤ ${sla.tpot_ms} ms`, ...pct("TPOT", sla.tpot_pct),
                 sla.min_tokens_per_s_per_user && `≥ ${sla.min_tokens_per_s_per_user} tokens/s/user`,
                 sla.max_request_latency_ms && `request latency ≤ ${sla.max_request_latency_ms} ms`].filter(Boolean);
  return parts.length ? `SLA ${parts.join(", ")}` : "no SLA";
}

function workloadText(i) {
  // "ISL 4,000 · OSL 500", or the distributions, prefix hits and arrivals the spec gave.
  const w = i.workload;
  const plain = `ISL ${i.isl.toLocaleString()} · OSL ${i.osl.toLocaleString()}`;
  if (!w || (w.isl.points.length === 1 && w.osl.points.length === 1 && !w.prefix_hit_rate &&
             w.arrival.process === "closed")) return plain;
  return [`ISL ${w.isl.text}`, `OSL ${w.osl.text}`,
          ...(w.prefix_hit_rate ? [`${Math.round(w.prefix_hit_rate * 100)}% prefix-cache hits`] : []),
          w.arrival.text].join(" · ");
}

function line(tag, text, cls) {
  return Object.assign(document.createElement(tag), { textContent: text, className: cls || "" });
}

function renderSummary(doc) {
  const i = doc.input, q = i.quantization;
  const notes = [...i.notes];
  if (!doc.proven_optimal) notes.push("not proven optimal: the solver stopped at its time limit");
  $("summary").replaceChildren(
    line("h2", `${i.model} on ${i.total_gpus} × ${i.system} (${i.backend} ${i.backend_version})`),
    line("div", `${workloadText(i)} · ${slaText(i.sla)} · gemm ${q.gemm}, ` +
                `kv cache ${q.kv_cache}, attention ${q.attention}${i.moe ? `, moe ${q.moe}` : ""} · ` +
                `${mtpText(i)} · solver time ${duration(doc.solve_seconds)} (CP-SAT search, Pareto set, ` +
                "re-check; pricing the candidates not included)", "muted"),
    ...notes.map((n) => line("div", `note: ${n}`, "note")));
}

function bestCard(doc, mode, overall) {
  const d = doc.best[mode];
  const card = Object.assign(document.createElement("div"), { id: `best-${mode}`, className: `card bestcard ${mode}` });
  card.dataset.tokensPerSPerGpu = d ? String(d.tokens_per_s_per_gpu_given) : "";
  card.append(line("h3", mode === "agg" ? "Aggregated (agg)" : "Disaggregated (disagg)"));
  if (!d) {
    const why = (doc.stats.infeasible_by_mode || {})[mode];
    card.append(line("div", doc.input.modes.includes(mode) ? "none" : "not searched", "big none"),
                line("div", why || "", "muted"));
    return card;
  }
  if (d === overall) card.append(line("span", "best overall", "badge"));
  card.append(line("div", f1(d.tokens_per_s_per_gpu_given), "big"), line("div", "tokens/s/GPU given", "muted"),
              line("div", `${f1(d.tokens_per_s_per_user)} tokens/s/user · TTFT ${f1(d.ttft_ms)} ms · ` +
                          `TPOT ${f2(d.tpot_ms)} ms · ${d.gpus_used} of ${d.gpus_given} GPUs used`),
              ...(percentilesText(d) ? [line("div", percentilesText(d), "percentiles")] : []),
              line("div", `${d.replicas} × (${d.roles.map(roleText).join(" + ")})`, "config"));
  return card;
}

function renderTable(doc) {
  const head = ["mode", "#", "configuration", "GPUs", "TTFT ms", "TPOT ms", "tokens/s/GPU given", "tokens/s/user",
                "concurrency"];
  const tr = document.createElement("tr");
  tr.append(...head.map((h) => line("th", h)));
  const rows = [];
  for (const mode of ["agg", "disagg"]) {
    (doc.top[mode] || []).forEach((d, k) => {
      const row = document.createElement("tr");
      row.className = `row-${mode}`;
      row.dataset.tokensPerSPerGpu = String(d.tokens_per_s_per_gpu_given);
      const key = window.aicsolvePlot.deploymentKey(d);
      row.append(...[mode, k + 1, `${d.replicas} × (${d.roles.map(roleText).join(" + ")})`, d.gpus_used, f1(d.ttft_ms),
                     f2(d.tpot_ms), f1(d.tokens_per_s_per_gpu_given), f1(d.tokens_per_s_per_user), d.concurrency]
        .map((v) => line("td", String(v))));
      const points = () => document.querySelectorAll(`#plot circle.point[data-key="${CSS.escape(key)}"]`);
      row.addEventListener("mouseenter", () => points().forEach((c) => c.classList.add("hl")));
      row.addEventListener("mouseleave", () => points().forEach((c) => c.classList.remove("hl")));
      rows.push(row);
    });
  }
  if (!rows.length) {
    const empty = document.createElement("tr");
    empty.append(Object.assign(line("td", `no deployment: ${infeasibleLines(doc).join("; ")}`),
                               { colSpan: head.length }));
    rows.push(empty);
  }
  $("top").replaceChildren(line("thead", ""), line("tbody", ""));
  $("top").tHead.append(tr);
  $("top").tBodies[0].append(...rows);
}

function render(doc) {
  const overall = [doc.best.agg, doc.best.disagg].filter(Boolean)
    .reduce((a, b) => (a && a.tokens_per_s_per_gpu_given >= b.tokens_per_s_per_gpu_given ? a : b), null);
  state.moe = Boolean(doc.input.moe);
  renderSummary(doc);
  $("best").replaceChildren(bestCard(doc, "agg", overall), bestCard(doc, "disagg", overall));
  window.aicsolvePlot.drawPareto($("plot"), doc, describe);
  renderTable(doc);
  $("download").disabled = !overall;
  $("dl-status").textContent = overall ? "" : "nothing to export: no deployment found (the reasons are above)";
  $("results").hidden = false;
}

async function solve(ev) {
  ev.preventDefault();
  showError("");
  const body = requestBody(), t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
  $("run").disabled = true;
  status("solving…");
  const timer = setInterval(() => status(`solving… ${secs()} s`), 500);
  try {
    const doc = await (await api("/api/solve", body)).json();
    state.lastBody = body;
    render(doc);
    status(`done in ${secs()} s`);
  } catch (e) {
    $("results").hidden = true;
    showError(e.message);
    status("");
  } finally {
    clearInterval(timer);
    $("run").disabled = false;
  }
}

async function download() {
  const out = $("dl-status");
  const body = { ...state.lastBody, export_top: num("export_top") ?? 1 };
  if ($("image").value.trim()) body.image = $("image").value.trim();
  $("download").disabled = true;
  out.textContent = "writing the bundle…";
  try {
    const res = await api("/api/bundle", body);
    const blob = await res.blob();
    const name = (/filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "") || [])[1] || "bundle.zip";
    const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    Object.assign(out.dataset, { name, bytes: String(blob.size) });
    out.textContent = `downloaded ${name} (${(blob.size / 1024).toFixed(1)} KB)`;
  } catch (e) {
    out.textContent = "";
    showError(e.message);
  } finally {
    $("download").disabled = false;
  }
}

function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  file.text().then((text) => {
    $("spec_yaml").value = text;
    state.uploadName = file.name;
    $("upload-name").textContent = `loaded ${file.name}`;
  }, (e) => showError(`cannot read ${file.name}: ${e.message}`));
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").noValidate = true;  // the server words every mistake, as the CLI does
  $("form").addEventListener("submit", solve);
  $("system").addEventListener("change", onSystem);
  $("backend").addEventListener("change", onBackend);
  $("tab-form").addEventListener("click", () => setTab("form"));
  $("tab-yaml").addEventListener("click", () => setTab("yaml"));
  $("upload").addEventListener("change", upload);
  $("download").addEventListener("click", download);
  init();
});
