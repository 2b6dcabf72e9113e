"""NVIDIA Dynamo bundles, written all at once or not at all: README.md, result.json, pareto.csv, top.csv,
pareto.svg, and per exported deployment (agg_1/, disagg_1/, …) k8s/, engine/, launch/, bench/ and README.md."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from costmodel import ROLES, mtp_settings
from solver.errors import InfeasibleError, UserError
from solver.export.names import grove_name_errors
from solver.export.placement import gpus_per_node, place, separate_roles
from solver.export.plot import pareto_svg
from solver.export.render import deployment_files, render
from solver.export.schema import DGD_SCHEMA, validate
from solver.document import document
from solver.result import Deployment, SolveResult

__all__ = ["export_bundle", "check_target", "chosen"]
ALL_ROLES = tuple(dict.fromkeys(r for roles in ROLES.values() for r in roles))  # agg, prefill, decode
PCT_KEYS = ("p50", "p90", "p95", "p99")  # costmodel.latency.PERCENTILES, as top.csv / pareto.csv columns
PCT_COLUMNS = tuple(f"{n}_{p}_ms" for n in ("ttft", "tpot") for p in PCT_KEYS)
ROLE_COLUMNS = ("workers", "gpus_per_worker", "tp", "pp", "attention_dp", "moe_tp", "ep", "batch", "max_num_tokens")
FIGURES = (
    "tokens_per_s_per_gpu_given",
    "gpus_given",
    "tokens_per_s_per_gpu",
    "tokens_per_s_per_user",
    "ttft_ms",
    "tpot_ms",
    "gpus_used",
    "concurrency",
    "tokens_per_s",
    "req_per_s",
    "replicas",
)


BUNDLE_MARKERS = ("result.json", "cluster.json")  # a folder holding one of these was written by aicsolve


def check_target(out_dir: str | Path, force: int, image: str | None = None) -> None:
    """UserError unless out_dir may be written and image is one word.

    force: 0 — out_dir must be absent or empty; 1 (--force) — it may also be an aicsolve bundle (a folder
    with result.json or cluster.json), which is replaced; 2 (--force given twice) — any folder, whatever it
    holds, is replaced. A symlink to a folder is followed: the folder it points to is the one written.
    """
    if image is not None and (not image or any(c.isspace() for c in image)):
        raise UserError(
            f"--image {image!r}: an image reference is one word without spaces, e.g. "
            "nvcr.io/nvidia/ai-dynamo/vllm-runtime:TAG."
        )
    out = _real(Path(out_dir))
    if out.exists() and not out.is_dir():
        raise UserError(f"--save-dir {out_dir} is a file, not a folder; name a folder (it is created when missing).")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UserError(
                f"--save-dir {out_dir} exists and is not empty; pass --force to replace it (the old folder "
                "is removed only once the new bundle is complete) or name another folder."
            )
        if force < 2 and not any((out / m).is_file() for m in BUNDLE_MARKERS):
            raise UserError(
                f"--save-dir {out_dir} is not an aicsolve bundle (it has no result.json), so --force does "
                "not replace it: everything in it would be deleted. Name another folder, or pass --force "
                "twice (--force --force) to replace this folder and all it holds."
            )
    anc = out.absolute().parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir() or not os.access(anc, os.W_OK | os.X_OK):
        raise UserError(
            f"cannot write --save-dir {out_dir}: {anc} is not a writable folder; pick a folder you can write to."
        )


def _real(out: Path) -> Path:
    """out with a symlink (chain) to it resolved: the bundle replaces the folder a link points to, not the link."""
    return Path(os.path.realpath(out)) if out.is_symlink() else out


def chosen(result: SolveResult, top_n: int) -> list[tuple[str, Deployment]]:
    """(folder, deployment) to export: per mode the best, then the next of the top list, top_n in all."""
    out = []
    for mode, best, top in (
        ("agg", result.best_agg, result.top_agg),
        ("disagg", result.best_disagg, result.top_disagg),
    ):
        picks = ([best] if best is not None else []) + [d for d in top if best is None or d.key() != best.key()]
        out += [(f"{mode}_{k}", d) for k, d in enumerate(picks[:top_n], 1)]
    return out


def export_bundle(
    result: SolveResult,
    spec: Any,
    out_dir: str | Path,
    top_n: int = 1,
    force: int = False,
    image: str | None = None,
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write the bundle of the best (and up to top_n per mode) deployments to out_dir; return the files."""
    out = Path(out_dir)
    if top_n < 1:
        raise UserError(f"--export-top must be at least 1; got {top_n}.")
    check_target(out, force, image)
    picks = chosen(result, top_n)
    if not picks:
        raise InfeasibleError(f"no deployment meets the SLA, so nothing was written to {out}.")
    files = bundle_files(result, spec, picks, image, notes)
    write_atomically(out, files)
    return [out / rel for rel in sorted(files)]


def bundle_files(
    result: SolveResult, spec: Any, picks: list[tuple[str, Deployment]], image: str | None, notes: Sequence[str] = ()
) -> dict[str, str]:
    """Every file of the bundle, rendered in memory: relative path -> text."""
    gpn, apart = gpus_per_node(spec), separate_roles(spec)
    files: dict[str, str] = {}
    if getattr(spec, "raw", None) is not None:  # the spec as solved, so the bundle can be reproduced
        files["spec.yaml"] = (
            "# The spec this bundle was solved from (flags and overrides applied). Reproduce it with:"
            "\n#   aicsolve spec.yaml --save-dir DIR\n" + yaml.safe_dump(spec.raw, sort_keys=False)
        )
        if spec.source == "<flags>":
            spec = dataclasses.replace(spec, source="spec.yaml")
    for folder, dep in picks:
        placement = place(dep, gpn, apart)
        extra = dict(why=_why(result, spec, folder, dep), sla_text=_sla_text(spec), mtp_text=_mtp_text(spec, dep))
        for rel, text in deployment_files(dep, folder, spec, image, placement, extra).items():
            files[f"{folder}/{rel}"] = text
        _self_check(files[f"{folder}/k8s/deploy.yaml"], dep, placement.gpus_used())
    files["result.json"] = json.dumps(document(spec, result, notes), indent=2) + "\n"
    label = {d.key(): f for f, d in picks}
    files["pareto.csv"] = _csv(
        [(d, k) for ds in (result.pareto_agg, result.pareto_disagg) for k, d in enumerate(ds, 1)], label
    )
    files["top.csv"] = _csv([(d, k) for ds in (result.top_agg, result.top_disagg) for k, d in enumerate(ds, 1)], label)
    title = f"{spec.arch.name} on {spec.total_gpus} x {spec.request.system} ({spec.request.backend})"
    files["pareto.svg"] = pareto_svg(
        {"agg": result.pareto_agg, "disagg": result.pareto_disagg}, picks, spec.sla.min_speed(), title
    )
    files["README.md"] = render(
        "common/index.md.j2",
        picks=picks,
        spec=spec,
        req=spec.request,
        title=title,
        sla_text=_sla_text(spec),
        best=result.best(),
    )
    return files


def _csv(rows: list[tuple[Deployment, int]], label: dict) -> str:
    cols = ["mode", "rank", "exported", *FIGURES, *PCT_COLUMNS, *(f"{r}_{c}" for r in ALL_ROLES for c in ROLE_COLUMNS)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols, lineterminator="\n")
    w.writeheader()
    for d, k in rows:
        row = {"mode": d.mode, "rank": k, "exported": label.get(d.key(), ""), **{f: getattr(d, f) for f in FIGURES}}
        pct = d.percentiles()
        row |= {f"{n}_{p}_ms": pct[f"{n}_ms"][p] for n in ("ttft", "tpot") for p in PCT_KEYS if p in pct[f"{n}_ms"]}
        for r in d.roles:
            row |= {f"{r.role}_{c}": v for c, v in r.to_dict().items() if c in ROLE_COLUMNS}
        w.writerow(row)
    return buf.getvalue()


def _sla_text(spec: Any) -> str:
    bounds = spec.sla.bounds()
    return "SLA " + ", ".join(bounds) if bounds else "no SLA"


def _mtp_text(spec: Any, dep: Deployment) -> str:
    draft, accept = mtp_settings(spec.request, dep.mode)
    return (
        f"MTP: {draft} drafted tokens per decode step, acceptance {accept:g} assumed in the prediction."
        if draft
        else "No speculative decoding (MTP)."
    )


def _why(result: SolveResult, spec: Any, folder: str, dep: Deployment) -> str:
    mode, k = folder.rsplit("_", 1)
    given = f"tokens/s per GPU given (of {spec.total_gpus})"
    head = (
        f"The highest {given} among the {mode} deployments meeting the SLA"
        if k == "1"
        else f"Number {k} by {given} among the {mode} deployments meeting the SLA (exported with --export-top)"
    )
    other = "disagg" if mode == "agg" else "agg"
    rival = result.best_disagg if mode == "agg" else result.best_agg
    if rival is not None:
        gain = dep.tokens_per_s_per_gpu_given / rival.tokens_per_s_per_gpu_given - 1.0
        tail = (
            f"; the best {other} deployment reaches {rival.tokens_per_s_per_gpu_given:.1f} tokens/s per GPU "
            f"given, so this one is {abs(gain):.0%} {'higher' if gain >= 0 else 'lower'}."
        )
    elif other in spec.request.modes:
        tail = f"; no {other} deployment meets the SLA."
    else:
        tail = f"; {other} was not searched (modes: {', '.join(spec.request.modes)})."
    best = " This is the overall best." if dep is result.best() else ""
    return head + tail + best


def _self_check(manifest: str, dep: Deployment, placed: int) -> None:
    # A bundle that contradicts the configuration is a bug: stop before anything is written.
    docs = [d for d in yaml.safe_load_all(manifest) if d and d.get("kind") == "DynamoGraphDeployment"]
    errs = [e for d in docs for e in validate(d, DGD_SCHEMA)] if len(docs) == 1 else ["not one DGD document"]
    if not errs:
        errs += grove_name_errors(docs[0])
        svc = docs[0]["spec"]["services"].values()
        gpus = sum(
            s["replicas"] * int(s["resources"]["limits"]["gpu"]) * s.get("multinode", {}).get("nodeCount", 1)
            for s in svc
            if s["componentType"] == "worker"
        )
        errs += [f"manifest GPUs {gpus} / placed {placed} != gpus_used {dep.gpus_used}"] * (
            gpus != dep.gpus_used or placed != dep.gpus_used
        )
    if errs:
        raise RuntimeError("exported manifest is inconsistent: " + "; ".join(errs))


def _write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if path.suffix == ".sh":
        path.chmod(0o755)


def write_atomically(out: Path, files: dict[str, str]) -> None:
    """Write into a temporary folder beside out, then swap it in; on any failure nothing changes.

    Ctrl+C or SIGTERM (which the CLI turns into SystemExit) while the files are written removes the
    temporary folder; the swap and the removal of the old folder run with both signals held back, so an
    interrupt there waits until the new bundle is in place and nothing half-done is left.
    """
    out = _real(out)
    parent = out.absolute().parent
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
        for rel, text in files.items():
            _write_file(tmp / rel, text)
        tmp.chmod(0o755)  # mkdtemp makes it private
        with _signals_held():
            old = tmp.with_name(tmp.name + ".old")
            if out.exists():  # --force (or an empty folder): keep the old one until the new one is in place
                out.rename(old)
            try:
                tmp.rename(out)
            except BaseException:
                if old.exists():
                    old.rename(out)
                raise
            tmp = None
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        raise UserError(f"cannot write --save-dir {out}: {e.strerror or e}; nothing was written.") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


class _signals_held:
    """Hold SIGINT and SIGTERM back inside the block (delivered when it ends); a no-op where signals cannot be
    masked."""

    def __enter__(self) -> None:
        import signal

        self.mask = None
        if hasattr(signal, "pthread_sigmask"):
            self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
