"""A cluster's Dynamo export: one bundle folder per model (as a one-model export writes it) plus a cluster
summary (README.md, cluster.json) that adds up; all written at once or not at all."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from solver.cluster.problem import Cluster
from solver.cluster.report import document, render
from solver.cluster.result import ClusterResult, Placement
from solver.errors import InfeasibleError
from solver.export import write_atomically, bundle_files, check_target
from solver.problem import Topology
from solver.result import SolveResult
from solver.spec import Spec


def folder_name(name: str) -> str:
    """A deployment name as a folder (and Kubernetes-friendly) name: lower case, digits and dashes."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", name.lower())).strip("-") or "model"


def member_spec(c: Cluster, p: Placement) -> Spec:
    """The one-model spec a placement amounts to: its systems, its GPUs, its pool's node size."""
    m = c.members[p.member]
    first = next(iter(p.systems.values()))
    decode = p.systems.get("decode")
    req = dataclasses.replace(m.spec.request, system=first, decode_system=decode if decode != first else None)
    old = m.spec.constraints.topology
    topo = Topology(gpus_per_node=c.pool(first).gpus_per_node, worker_within_node=bool(old and old.worker_within_node))
    # raw None: the member's own spec keys are not a spec of this placement; the cluster spec is the source
    return dataclasses.replace(
        m.spec,
        request=req,
        total_gpus=p.deployment.gpus_used,
        raw=None,
        constraints=dataclasses.replace(m.spec.constraints, topology=topo),
    )


def _one(p: Placement) -> SolveResult:
    d = p.deployment
    agg, disagg = (d, None) if d.mode == "agg" else (None, d)
    one = lambda x: (x,) if x is not None else ()  # noqa: E731
    return SolveResult(
        best_agg=agg,
        best_disagg=disagg,
        pareto_agg=one(agg),
        pareto_disagg=one(disagg),
        top_agg=one(agg),
        top_disagg=one(disagg),
        proven_optimal=True,
        solve_seconds=0.0,
        linearization_max_rel_error=0.0,
    )


def cluster_files(c: Cluster, r: ClusterResult, image: str | None = None) -> dict[str, str]:
    """Every file of the cluster bundle, rendered in memory: relative path -> text."""
    files: dict[str, str] = {}
    folders = []
    for p in r.placements:
        folder = folder_name(p.name)
        folders.append((folder, p))
        spec = member_spec(c, p)
        for rel, text in bundle_files(_one(p), spec, [(f"{p.deployment.mode}_1", p.deployment)], image).items():
            files[f"{folder}/{rel}"] = text
    files["cluster.json"] = json.dumps(document(c, r), indent=2) + "\n"
    lines = [
        "# Cluster deployment (aicsolve)",
        "",
        "```text",
        render(c, r).rstrip("\n"),
        "```",
        "",
        "| deployment | folder | mode | GPUs | systems |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {p.name} | [{f}/]({f}/README.md) | {p.deployment.mode} | {p.deployment.gpus_used} | "
        + ", ".join(f"{n} × {s}" for s, n in p.gpus_by_system.items())
        + " |"
        for f, p in folders
    ]
    lines += [
        "",
        f"Total: {r.gpus_used} GPUs. Each folder is a complete one-model bundle: apply its "
        "`disagg_1/k8s/deploy.yaml` or `agg_1/k8s/deploy.yaml`, then run its `bench/` script.",
        "",
    ]
    files["README.md"] = "\n".join(lines)
    return files


def export_cluster(
    c: Cluster, r: ClusterResult, out_dir: str | Path, force: int = False, image: str | None = None
) -> list[Path]:
    """Write the cluster bundle to out_dir (replacing a non-empty folder only with force); return the files."""
    out = Path(out_dir)
    check_target(out, force, image)
    if r.infeasible or not r.placements:
        raise InfeasibleError(f"no placement meets every demand and SLA, so nothing was written to {out}.")
    names = [folder_name(p.name) for p in r.placements]
    if len(set(names)) != len(names):
        raise InfeasibleError(
            f"deployment names {names} give the same folder twice; give each deployment a distinct name:."
        )
    files = cluster_files(c, r, image)
    write_atomically(out, files)
    return [out / rel for rel in sorted(files)]
