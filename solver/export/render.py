"""Jinja2 rendering of one deployment's files (manifest, engine configs, node scripts, benchmark, README).
Templates never quote values themselves: `y` makes a YAML-safe value, `sh`/`shjoin` a shell word."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import jinja2

from solver.export.loadgen import load_of
from solver.export.engine import TEMPLATES, RoleEngine, backend_data, max_seq_len, role_engines, role_system
from solver.export.names import dgd_name
from solver.export.placement import Placement, Slot
from solver.result import Deployment

K8S_ENGINE_DIR = "/engine"  # where the ConfigMap of engine YAMLs is mounted in worker pods
FRONTEND_PORT = 8000
SWEEP = (0.5, 1.0, 1.5)  # benchmark concurrencies, as multiples of the predicted concurrency
# PyYAML reads these raw characters as line breaks even inside double quotes, so they stay escaped.
_YAML_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\x85"}


class Shell(str):
    """A shell word already quoted (e.g. "$MODEL"): `sh` passes it through."""


def yaml_value(v: Any) -> str:
    """One-line YAML for a value: JSON, which YAML reads back exactly."""
    text = json.dumps(v, ensure_ascii=False)
    return "".join(_YAML_BREAKS.get(c, c) for c in text)


def sh(v: Any) -> str:
    """One shell word."""
    return v if isinstance(v, Shell) else shlex.quote(str(v))


def env() -> jinja2.Environment:
    """The template environment: strict, no autoescape, trailing newlines kept."""
    e = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    e.filters.update(y=yaml_value, sh=sh, shjoin=lambda ws: " ".join(sh(w) for w in ws))
    return e


_ENV = env()


def render(template: str, /, **ctx: Any) -> str:
    """Render one template (path relative to templates/)."""
    return _ENV.get_template(template).render(**ctx)


def model_names(spec: Any) -> tuple[str, str]:
    """(what the engines load, the served model name): the spec's model_path and served_model_name."""
    return spec.model_path, spec.served_model_name


def concurrencies(dep: Deployment) -> list[int]:
    """Benchmark concurrencies around the predicted one."""
    return sorted({max(1, round(dep.concurrency * f)) for f in SWEEP})


def deployment_files(
    dep: Deployment, folder: str, spec: Any, image: str | None, placement: Placement, extra: dict
) -> dict[str, str]:
    """Every file of one deployment's bundle: relative path -> text."""
    req = spec.request
    data = backend_data(req.backend, req.version)
    engines = role_engines(dep, spec)
    model, served = model_names(spec)
    name = dgd_name(served, req.backend, folder, [(e.service, placement.node_count(e.role) > 1) for e in engines])
    ckpt = spec.checkpoint
    ctx = dict(
        dep=dep,
        folder=folder,
        spec=spec,
        req=req,
        engines=engines,
        data=data,
        image=image or data["image"],
        model=model,
        served=served,
        name=name,
        placement=placement,
        port=FRONTEND_PORT,
        seq_limit=max_seq_len(spec),
        checkpoint_note=ckpt.note if ckpt is not None else "",
        **extra,
    )
    files = {
        f"engine/{e.role}.yaml": render(
            f"{req.backend}/engine.yaml.j2", e=e, role_system=role_system(req, e.role), **ctx
        )
        for e in engines
    }
    ctx["engine_texts"] = {f"{e.role}.yaml": files[f"engine/{e.role}.yaml"] for e in engines if e.engine_file}
    ctx["services"] = [_service(e, placement, model, served, _product(req, e.role)) for e in engines]
    files["k8s/deploy.yaml"] = render("common/deploy.yaml.j2", **ctx)
    for i, node in enumerate(placement.nodes):
        procs, addrs = _node_procs(i, node, engines, data, placement.gpus_per_node)
        files[f"launch/node_{i}_run.sh"] = render(
            "common/node_run.sh.j2", node=i, procs=procs, addrs=addrs, slots=node, **ctx
        )
    ctx["sweep"] = [(c, max(4 * c, 32), c) for c in concurrencies(dep)]  # (concurrency, requests, warm-up)
    ctx["load"] = load_of(spec, dep)
    script = render("common/run_aiperf.sh.j2", **ctx)
    files["bench/run_aiperf.sh"] = script
    files["bench/aiperf-job.yaml"] = render("common/aiperf_job.yaml.j2", script=script, **ctx)
    files["README.md"] = render("common/README.md.j2", **ctx)
    return files


# GPU feature discovery's nvidia.com/gpu.product node label per system (check yours with
# `kubectl get nodes -L nvidia.com/gpu.product`); written only where one deployment spans two GPU types.
GPU_PRODUCT = {
    "h100_sxm": "NVIDIA-H100-80GB-HBM3",
    "h200_sxm": "NVIDIA-H200",
    "b200_sxm": "NVIDIA-B200",
    "gb200": "NVIDIA-GB200",
    "b300_sxm": "NVIDIA-B300-SXM6-AC",
    "gb300": "NVIDIA-GB300",
}


def _product(req: Any, role: str) -> str | None:
    if req.decode_system in (None, req.system):
        return None
    return GPU_PRODUCT.get(role_system(req, role))


def _service(e: RoleEngine, placement: Placement, model: str, served: str, product: str | None = None) -> dict:
    nodes = placement.node_count(e.role)
    return dict(
        name=e.service,
        role=e.role,
        replicas=e.count,
        nodes=nodes,
        product=product,
        gpu=placement.gpus_per_node if nodes > 1 else e.gpus_per_worker,
        module=e.module,
        args=[e.model_flag, model, "--served-model-name", served, *e.args(f"{K8S_ENGINE_DIR}/{e.role}.yaml")],
        env=[{"name": k, "value": v} for k, v in e.kernel_env.items()],
    )


def _addr(node: int) -> str:
    return f"${{NODE_{node}_ADDR}}"


def _fill(words: list, **values: Any) -> list:
    # Placeholders in backend.yaml words ({head}, {hosts}, ...) become double-quoted shell words.
    return [Shell('"' + w.format(**values) + '"') if "{" in str(w) else w for w in words]


def _node_procs(
    i: int, node: tuple[Slot, ...], engines: list[RoleEngine], data: dict, gpn: int
) -> tuple[list[dict], list[int]]:
    """Processes node i starts (dicts for node_run.sh.j2) and the other nodes whose address it needs."""
    procs: list[dict[str, Any]] = (
        [
            dict(
                label="frontend",
                env={},
                argv=["python3", "-m", "dynamo.frontend", "--http-port", FRONTEND_PORT],
                foreground=[],
                log="frontend.log",
                note="",
            )
        ]
        if i == 0
        else []
    )
    by_role = {e.role: e for e in engines}
    mn = data["multinode"]
    for s in node:
        e = by_role[s.role]
        offset = s.slot * gpn
        env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, s.gpus)), **e.env(offset)}
        argv = [
            "python3",
            "-m",
            e.module,
            e.model_flag,
            Shell('"$MODEL"'),
            "--served-model-name",
            Shell('"$SERVED"'),
            *e.args(Shell(f'"$BUNDLE/engine/{e.role}.yaml"'), offset),
        ]
        label = f"{s.role}_{s.worker}"
        proc: dict[str, Any] = dict(label=label, env=env, argv=argv, foreground=[], log=f"{label}.log", note="")
        if s.spans:
            head = s.nodes[0]
            values = dict(
                head=_addr(head),
                gpus=e.gpus_per_worker,
                nodes=len(s.nodes),
                rank=s.rank,
                hosts=",".join(f"{_addr(n)}:{gpn}" for n in s.nodes),
            )
            where = f"node {s.rank + 1} of {len(s.nodes)} (nodes {', '.join(map(str, s.nodes))})"
            if s.rank == 0:
                proc.update(
                    argv=[*_fill(mn["prefix"], **values), *argv, *_fill(mn["args"], **values)],
                    foreground=_fill(mn["head_pre"], **values),
                    note=where,
                )
            elif mn["followers"] == "worker":
                proc.update(argv=[*argv, *_fill(mn["args"], **values)], note=where)
            elif mn["followers"] == "none":
                proc = dict(proc, argv=[], note=f"{where}: its ranks here are started from node {head}")
            else:
                proc.update(env={}, argv=_fill(mn["followers"], **values), note=where)
        procs.append(proc)
    used = " ".join(str(w) for p in procs for w in [*p["argv"], *p["foreground"]])
    return procs, sorted({int(n) for n in re.findall(r"\$\{NODE_(\d+)_ADDR\}", used)})
