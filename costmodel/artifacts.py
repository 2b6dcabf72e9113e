"""Measurement rows from the aiperf results a bundle's benchmark job wrote, for `aicsolve calibrate`.

`aicsolve SPEC --save-dir DIR` writes, per exported deployment (agg_1/, disagg_1/, …), `bench/run_aiperf.sh`
(and the Kubernetes Job `bench/aiperf-job.yaml`), which runs `aiperf profile` once per concurrency N with
`--artifact-dir bench/artifacts/cN`. aiperf leaves `profile_export_aiperf.json` in that folder: one stats block
per metric (`{"unit": "ms", "avg": …, "p50": …}`; `time_to_first_token`, `inter_token_latency`,
`input_sequence_length`, `output_sequence_length`, `request_count`, …) and `input_config`, the run's resolved
configuration (`loadgen.concurrency`, `endpoint.model_names`, …). The bundle itself says what was measured:
`result.json` (`input`: model, system, backend and version, workload, quantization) and `top.csv` / `pareto.csv`
(the configuration of each exported folder, named in their `exported` column).

Each run becomes one row in the measurement CSV format (`costmodel.validate.COLUMNS`), so `validate.predict_row`
prices it like a row of silicon_dev.csv. A path may be a bundle, one deployment folder of it, its `bench/` or
`bench/artifacts/` folder, one `cN/` run folder, or one `profile_export_aiperf.json`; the bundle is found by
looking for `result.json` in the path and above it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from costmodel.errors import CostModelError
from costmodel.validate import COLUMNS

PROFILE = "profile_export_aiperf.json"
RUN_DIR = re.compile(r"c(\d+)")  # bench/run_aiperf.sh names each run's folder c<concurrency> …
RATE_DIR = re.compile(r"r(\d+(?:\.\d+)?)")  # … or r<requests/s> for an open-loop spec
PCT_KEYS = ("p50", "p90", "p95", "p99")  # the percentiles aiperf reports that the bundle predicts (top.csv)
TO_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "sec": 1e3, "seconds": 1e3}
MAX_RUNS = 100_000  # more aiperf results than this under one path is not a bundle
ROLE_KEYS = (
    ("batch_size", "batch"),
    ("tp_size", "tp"),
    ("pp_size", "pp"),
    ("attention_dp_size", "attention_dp"),
    ("moe_tp_size", "moe_tp"),
    ("moe_ep_size", "ep"),
)
HOW = (
    "calibrate reads a measurement CSV, or a bundle written by `aicsolve SPEC --save-dir DIR` (or one deployment "
    "folder of it, or the bench/artifacts/ folder inside one) after its bench/run_aiperf.sh has run"
)


class BadArtifactsError(CostModelError, ValueError):
    """A path calibrate cannot read as aiperf results of a bundle; the message names the file and what would work."""


@dataclass(frozen=True)
class Bundle:
    """What a bundle records about its deployments."""

    root: Path
    input: dict  # result.json's "input"
    configs: dict[str, dict[str, str]]  # exported folder -> its top.csv / pareto.csv row


def is_artifacts_path(path: Path) -> bool:
    """Whether calibrate should read `path` as aiperf results (a folder, or one aiperf summary) rather than a CSV."""
    return path.is_dir() or path.name == PROFILE


def read_artifact_rows(path: Path) -> tuple[list[dict], list[str]]:
    """The measurement rows of every aiperf run under `path`, and notes on runs skipped or doubtful.

    Raises BadArtifactsError (one paragraph naming the file) when the path is not in a bundle, the bundle's own files
    are damaged, an aiperf summary is not readable JSON, or no run has results.
    """
    root = _find_root(path)
    if root is None:
        raise BadArtifactsError(f"{path}: not a bundle folder: no result.json in it or in a folder above it; {HOW}.")
    bundle = _read_bundle(root)
    sel = path.resolve()
    if sel == root:
        folders = sorted(bundle.configs)
    else:
        folder = sel.relative_to(root).parts[0]
        if folder not in bundle.configs:
            raise BadArtifactsError(
                f"{path}: {folder} is not an exported deployment of the bundle {_show(root)} (its "
                f"top.csv names {', '.join(sorted(bundle.configs)) or 'none'}); name the bundle or one "
                "of those folders."
            )
        folders = [folder]
    rows: list[dict] = []
    notes: list[str] = []
    for folder in folders:
        base = sel if sel != root else root / folder
        files = [base] if base.is_file() else sorted(base.rglob(PROFILE))
        if len(files) > MAX_RUNS:
            raise BadArtifactsError(
                f"{path}: more than {MAX_RUNS:,} {PROFILE} files; name one bundle or deployment folder."
            )
        if base.is_dir():
            for d in sorted(
                p for p in base.rglob("*") if p.is_dir() and (RUN_DIR.fullmatch(p.name) or RATE_DIR.fullmatch(p.name))
            ):
                if not any(d.rglob(PROFILE)):
                    notes.append(f"{_show(d)}: no {PROFILE} (the aiperf run did not finish?); skipped.")
        if not files and sel == root:
            notes.append(f"{_show(root / folder)}: no aiperf results yet (bench/run_aiperf.sh writes them).")
        for f in files:
            row, note = _run_row(bundle, folder, f)
            if row is not None:
                rows.append(row)
            if note:
                notes.append(note)
    if not rows:
        where = _show(path) if sel != root else ", ".join(_show(root / f / "bench" / "artifacts") for f in folders)
        raise BadArtifactsError(
            f"{path}: no aiperf results with TTFT and TPOT to calibrate from (looked for {PROFILE} "
            f"under {where}). Run the deployment's bench/run_aiperf.sh against it first (each "
            "concurrency writes bench/artifacts/c<N>/); results of the Kubernetes Job "
            "(bench/aiperf-job.yaml, in /artifacts of its pod) belong in that deployment's "
            "bench/artifacts/." + "".join(f" {n}" for n in notes if "skipped" in n)[:2000]
        )
    return rows, notes


def _find_root(path: Path) -> Path | None:
    p = path.resolve()
    for cand in (p, *p.parents):
        if (cand / "result.json").is_file():
            return cand
    return None


def _show(p: Path) -> str:
    """A path as the user would type it: relative to the working folder when below it."""
    rel = os.path.relpath(p)
    return p.as_posix() if rel.startswith("..") else rel


def _read_text(f: Path) -> str:
    from costmodel.files import file_kind

    kind, size = file_kind(f)
    if kind == "other" or size > 64 << 20:  # a FIFO would block, /dev/zero would never end
        raise BadArtifactsError(f"cannot read {_show(f)}: not a regular file of at most 64 MB; {_damaged(f)}")
    try:
        return f.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise BadArtifactsError(f"{_show(f)}: not UTF-8 text (byte {e.start}); {_damaged(f)}") from None
    except OSError as e:
        raise BadArtifactsError(f"cannot read {_show(f)}: {e.strerror or e}.") from None


def _damaged(f: Path) -> str:
    if f.name == PROFILE:
        return (
            "the file is damaged: rerun that concurrency with the deployment's bench/run_aiperf.sh, or delete "
            "its folder to calibrate from the other runs."
        )
    return "the bundle is damaged: write it again with `aicsolve SPEC --save-dir DIR --force`."


def _load_json(f: Path) -> dict:
    text = _read_text(f)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadArtifactsError(
            f"{_show(f)}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); {_damaged(f)}"
        ) from None
    except RecursionError:
        raise BadArtifactsError(f"{_show(f)}: not valid JSON (nested too deeply); {_damaged(f)}") from None
    if not isinstance(doc, dict):
        raise BadArtifactsError(f"{_show(f)}: expected a JSON object, got {type(doc).__name__}; {_damaged(f)}")
    return doc


def _read_bundle(root: Path) -> Bundle:
    res = root / "result.json"
    doc = _load_json(res)
    inp = doc.get("input")
    inp = inp if isinstance(inp, dict) else {}
    need = ("model", "system", "backend", "backend_version", "isl", "osl")
    lacks = [k for k in need if inp.get(k) in (None, "")]
    if lacks:
        raise BadArtifactsError(
            f'{_show(res)}: not a result written by `aicsolve SPEC --save-dir` (its "input" lacks '
            f"{', '.join(lacks)}); {_damaged(res)}"
        )
    configs: dict[str, dict[str, str]] = {}
    for name in ("top.csv", "pareto.csv"):
        f = root / name
        if not f.is_file():
            continue
        try:
            with open(f, newline="", encoding="utf-8") as fh:
                table = list(csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise BadArtifactsError(
                f"{_show(f)}: cannot read as CSV ({getattr(e, 'strerror', None) or e}); {_damaged(f)}"
            ) from None
        for r in table:
            label = (r.get("exported") or "").strip()
            if label and label not in configs:
                configs[label] = r
    if not configs:
        raise BadArtifactsError(
            f"{_show(root)}: neither top.csv nor pareto.csv names an exported deployment (column "
            f"`exported`); {_damaged(res)}"
        )
    return Bundle(root, inp, configs)


def _stat(stats: dict, metric: str) -> tuple[float, str] | None:
    """A metric's mean (the median when aiperf gave no mean) and its unit; None when absent or not a number."""
    block = stats.get(metric)
    if not isinstance(block, dict):
        return None
    for key in ("avg", "p50"):
        v = block.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v), str(block.get("unit", "ms"))
    return None


def _ms(stats: dict, metric: str, f: Path) -> float | None:
    got = _stat(stats, metric)
    if got is None:
        return None
    value, unit = got
    if unit not in TO_MS:
        raise BadArtifactsError(
            f"{_show(f)}: {metric} is in unit {unit!r}; expected one of {', '.join(TO_MS)}; {_damaged(f)}"
        )
    return value * TO_MS[unit]


def _concurrency(stats: dict, f: Path, folder_root: Path) -> tuple[int | None, str | None]:
    """Concurrency from input_config.loadgen.concurrency, else from the c<N> folder the script named; an open-loop
    run (an r<rate> folder) has none set, so its mean concurrency is Little's law: throughput x mean latency."""
    rated = any(RATE_DIR.fullmatch(d) for d in f.relative_to(folder_root).parts[:-1])
    if rated:
        rps, lat = _stat(stats, "request_throughput"), _ms(stats, "request_latency", f)
        if rps is None or lat is None or rps[0] <= 0 or lat <= 0:
            return None, None
        return max(1, round(rps[0] * lat / 1000.0)), None
    cfg = stats.get("input_config")
    loadgen = cfg.get("loadgen") if isinstance(cfg, dict) else None
    given = loadgen.get("concurrency") if isinstance(loadgen, dict) else None
    named = next(
        (int(m.group(1)) for d in f.relative_to(folder_root).parts[:-1][::-1] if (m := RUN_DIR.fullmatch(d))), None
    )
    if isinstance(given, int) and not isinstance(given, bool) and given > 0:
        note = (
            f"{_show(f)}: aiperf ran at concurrency {given}, not the {named} its folder name says; used {given}."
            if named is not None and named != given
            else None
        )
        return given, note
    return named, None


def _run_row(bundle: Bundle, folder: str, f: Path) -> tuple[dict | None, str | None]:
    """One aiperf run as a measurement row, or (None, why it was skipped)."""
    stats = _load_json(f)
    conc, note = _concurrency(stats, f, bundle.root / folder)
    if conc is None and any(RATE_DIR.fullmatch(d) for d in f.relative_to(bundle.root / folder).parts[:-1]):
        return None, (
            f"{_show(f)}: an open-loop run without request_throughput and request_latency, so its mean "
            "concurrency is unknown; skipped."
        )
    if conc is None:
        raise BadArtifactsError(
            f"{_show(f)}: cannot tell the concurrency of this run: no input_config.loadgen.concurrency "
            "and no c<N> folder above it (bench/run_aiperf.sh writes each run to "
            "bench/artifacts/c<N>/); move it into such a folder."
        )
    ttft, tpot = _ms(stats, "time_to_first_token", f), _ms(stats, "inter_token_latency", f)
    if ttft is None or tpot is None or ttft <= 0 or tpot <= 0:
        errors = _stat(stats, "error_request_count")
        why = (
            f"{int(errors[0]):,} request(s) failed, see its error_summary"
            if errors and errors[0] > 0
            else "aiperf measures them only for --streaming runs"
        )
        return None, f"{_show(f)}: no time_to_first_token / inter_token_latency ({why}); skipped."
    inp, cfg = bundle.input, bundle.configs[folder]
    decode_system = inp.get("decode_system")
    if (cfg.get("mode") or "").strip() == "disagg" and decode_system not in (None, "", inp["system"]):
        return None, (
            f"{_show(f)}: decode ran on {decode_system}, prefill on {inp['system']}; a measurement row "
            "holds one system, so this run is skipped."
        )
    isl = _stat(stats, "input_sequence_length")
    osl = _stat(stats, "output_sequence_length")
    given_quant = inp.get("quantization")
    quant = given_quant if isinstance(given_quant, dict) else {}
    row: dict[str, object] = dict.fromkeys(COLUMNS, "")
    mode = (cfg.get("mode") or "").strip()
    row.update(
        id=f"{bundle.root.name}/{f.parent.relative_to(bundle.root).as_posix()}",
        backend=str(inp["backend"]),
        backend_version=str(inp["backend_version"]),
        model_path=str(inp["model"]),
        system=str(inp["system"]),
        mode=mode,
        # what aiperf counted (the tokenizer's lengths), else what the bundle asked for
        isl=str(round(isl[0]) if isl and isl[0] >= 1 else inp["isl"]),
        osl=str(round(osl[0]) if osl and osl[0] >= 1 else inp["osl"]),
        precision=str(quant.get("gemm", "")),
        gemm_quant_mode=str(quant.get("gemm", "")),
        moe_quant_mode=str(quant.get("moe", "")),
        silicon_ttft_ms=repr(ttft),
        silicon_tpot_ms=repr(tpot),
    )
    try:
        replicas = int(cfg["replicas"])
        if mode == "agg":
            workers = int(cfg["agg_workers"]) * replicas
            # predict_row prices one agg worker at its share of the requests in flight
            per_worker = max(1, round(conc / workers))
            row.update({col: cfg[f"agg_{key}"] for col, key in ROLE_KEYS})
            source_conc = per_worker
        elif mode == "disagg":
            for role in ("prefill", "decode"):
                row.update({f"{role}_{col}": cfg[f"{role}_{key}"] for col, key in ROLE_KEYS})
                row[f"{role}_num_workers"] = str(int(cfg[f"{role}_workers"]) * replicas)
            source_conc = conc
        else:
            raise ValueError(f"mode {mode!r}")
    except (KeyError, ValueError, TypeError, ZeroDivisionError) as e:
        raise BadArtifactsError(
            f"{_show(bundle.root)}: the top.csv / pareto.csv row of {folder} is incomplete ({e}); "
            f"{_damaged(bundle.root / 'result.json')}"
        ) from None
    row["silicon_data_source"] = f"aiperf {_show(f)}; silicon_concurrency={source_conc}; total_concurrency={conc}"
    row["percentiles"] = _percentiles(stats, cfg, f)
    return row, note


def _percentiles(stats: dict, cfg: dict[str, str], f: Path) -> dict[str, dict[str, float]]:
    """Measured TTFT / TPOT percentiles of a run (ms) and those the bundle predicted for the deployment at its planned
    load (top.csv ttft_p90_ms, …): {"ttft": {"measured_p90": …, "predicted_p90": …}, "tpot": {…}}."""
    out: dict[str, dict[str, float]] = {}
    for name, metric in (("ttft", "time_to_first_token"), ("tpot", "inter_token_latency")):
        block, got = stats.get(metric), {}
        unit = str(block.get("unit", "ms")) if isinstance(block, dict) else "ms"
        for p in PCT_KEYS:
            v = block.get(p) if isinstance(block, dict) else None
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and unit in TO_MS:
                got[f"measured_{p}"] = float(v) * TO_MS[unit]
            try:
                got[f"predicted_{p}"] = float(cfg[f"{name}_{p}_ms"])
            except (KeyError, TypeError, ValueError):
                pass
        out[name] = got
    return out


def percentile_table(rows: list[dict]) -> str:
    """Measured against predicted p50 / p90 / p99 of TTFT and TPOT per aiperf run (ms); "" when no run has any.

    The prediction is the deployment's at its planned load; runs at other loads are shown for the trend."""
    lines = []
    for r in rows:
        pct = r.get("percentiles") or {}
        cells = []
        for name in ("ttft", "tpot"):
            got = pct.get(name, {})
            for p in ("p50", "p90", "p99"):
                m, pr = got.get(f"measured_{p}"), got.get(f"predicted_{p}")
                cells.append(f"{m:,.4g}" if m is not None else "-")
                cells.append(f"{pr:,.4g}" if pr is not None else "-")
        if any(c != "-" for c in cells[::2]):
            lines.append([r["id"], *cells])
    if not lines:
        return ""
    from tabulate import tabulate

    head = ["run"] + [
        f"{n} {p}\n{w}" for n in ("TTFT", "TPOT") for p in ("p50", "p90", "p99") for w in ("measured", "predicted")
    ]
    return tabulate(lines, headers=head, tablefmt="simple", disable_numparse=True)
