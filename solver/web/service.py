"""The web API's work, free of HTTP: a request body → a validated Spec → the CLI's `--json` document or a
bundle zip. Every mistake is a UserError worded as the CLI words it."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from solver.errors import UserError

if TYPE_CHECKING:
    from solver.pipeline import Solved

MAX_TIME_LIMIT_S = 30.0  # solver.time_limit_s is capped at this from the web
MAX_OVERRIDES, MAX_EXPORT_TOP = 100, 10
OVERRIDE = "override"  # how messages name one of the page's overrides (the CLI's --set)
MAX_DEPTH = 64  # JSON nesting of a posted spec, as for a spec file (solver.specyaml.MAX_DEPTH)
LIGHT_CANDIDATES, LIGHT_GPUS = 2_000, 512  # a solve this small takes about a second: it gets its own lane
BODY_KEYS = ("spec_yaml", "spec", "overrides", "filename", "export_top", "image")
_SHAPE = (
    'the request body is a JSON object: {"spec_yaml": "<spec YAML text>", "overrides": ["key=value", ...]} '
    'or {"spec": {<spec keys>}, "overrides": [...]}'
)


class _Named(os.PathLike[str]):
    """A file path that prints as the name the user gave it, so messages read like the CLI's."""

    def __init__(self, real: Path, name: str):
        self.real, self.name = real, name

    def __fspath__(self) -> str:
        return str(self.real)

    def __str__(self) -> str:
        return self.name


def models() -> dict:
    """The bundled models: {"models": [{"id", "aliases"}]}."""
    from costmodel import list_models

    return {"models": [{"id": hf_id, "aliases": aliases} for hf_id, aliases in list_models()]}


def systems() -> dict:
    """Systems with their measured backends and versions, the default versions and the dtype choices."""
    from costmodel import BACKENDS, GEMM_DTYPES, KV_DTYPES, MOE_DTYPES, CostModelError, engine_rules
    from costmodel import data_dir
    from costmodel import list_systems, load_system

    out = []
    for name in list_systems():
        backends: dict[str, list[str]] = {}
        for p in sorted((data_dir() / "perf" / name).glob("*/*")):
            if p.is_dir() and p.parent.name != "nccl":
                backends.setdefault(p.parent.name, []).append(p.name)
        try:
            gpn = load_system(name).gpus_per_node
        except CostModelError:  # a damaged system file: the form's node-size hint is not worth failing the list over
            gpn = None
        out.append({"name": name, "gpus_per_node": gpn, "backends": backends})
    return {
        "systems": out,
        "default_versions": {b: engine_rules(b).version for b in BACKENDS},
        "quantization": {
            "gemm": list(GEMM_DTYPES),
            "kv_cache": list(KV_DTYPES),
            "attention": ["bfloat16", "fp8"],
            "moe": list(MOE_DTYPES),
        },
    }


def parse_body(body: Any) -> tuple[str | dict, list[str], str]:
    """(spec YAML text or spec dict, overrides, source name) of a request body; UserError if malformed."""
    if not isinstance(body, dict):
        raise UserError(f"{_SHAPE}.")
    unknown = sorted(set(body) - set(BODY_KEYS))
    if unknown:
        raise UserError(f"unknown request key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(BODY_KEYS)}.")
    if ("spec_yaml" in body) == ("spec" in body):
        raise UserError(f"give exactly one of spec_yaml and spec: {_SHAPE}.")
    overrides = body.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise UserError('overrides must be a list of "key=value" strings, e.g. ["sla.ttft_ms=200"].')
    if len(overrides) > MAX_OVERRIDES:
        raise UserError(f"at most {MAX_OVERRIDES} overrides; got {len(overrides)}.")
    if _depth(body.get("spec")) > MAX_DEPTH:
        raise UserError(f"spec is nested more than {MAX_DEPTH} levels deep; a spec is a few levels of key: value.")
    if "spec" in body:
        if not isinstance(body["spec"], dict):
            raise UserError("spec must be a JSON object of spec keys (model, system, total_gpus, workload, ...).")
        return body["spec"], overrides, "<flags>"
    if not isinstance(body["spec_yaml"], str):
        raise UserError("spec_yaml must be a string holding the spec YAML.")
    name = body.get("filename")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(name))[:100] if isinstance(name, str) else ""
    return body["spec_yaml"], overrides, name or "spec.yaml"


def _depth(v: Any) -> int:
    """Nesting depth of a JSON value, without recursion (a 100,000-deep body would overflow the stack)."""
    deepest, stack = 0, [(v, 1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, (dict, list)):
            deepest = max(deepest, d)
            if deepest > MAX_DEPTH:
                break
            stack.extend((y, d + 1) for y in (x.values() if isinstance(x, dict) else x))
    return deepest


def _looks_like_path(model: str) -> bool:
    from costmodel import list_models

    s = model.strip()
    if s.lower() in {k.lower() for hf_id, aliases in list_models() for k in (hf_id, *aliases)}:
        return False
    return (
        s.lower().endswith((".json", ".yaml", ".yml"))
        or "\\" in s
        or s.startswith(("/", "~", "."))
        or ".." in s
        or s.count("/") > 1
        or os.path.isabs(s)
    )


def _reject_paths(raw: Any, overrides: list[str]) -> None:
    """The web app reads no local files: a model given as a path, or a calibration file, is refused."""
    from solver.specyaml import parse

    seen: dict[str, list] = {"model": [], "calibration": [], "workload.trace": []}
    deployments = raw.get("deployments") if isinstance(raw, dict) else None
    items = [raw, *(deployments if isinstance(deployments, list) else [])]
    for key in seen:
        head, _, leaf = key.partition(".")
        for item in filter(lambda x: isinstance(x, dict), items):
            sub = item.get(head)
            if leaf and isinstance(sub, dict) and leaf in sub:
                seen[key].append(sub[leaf])
            elif not leaf and key in item and item is raw:
                seen[key].append(item[key])
    for item in overrides:
        key, eq, text = (part.strip() for part in item.partition("="))
        if eq and key in seen:
            try:
                seen[key].append(parse(text, "--set")[0] if text else None)
            except UserError:  # load_spec words the YAML error
                pass
    for m in seen["model"]:
        if isinstance(m, str) and _looks_like_path(m):
            raise UserError(
                f"model: {m!r} looks like a path; the web app accepts only model ids and aliases "
                "(GET /api/models, or `aicsolve models`). For a local config.json run the CLI: "
                "aicsolve SPEC.yaml."
            )
    if any(t is not None for t in seen["workload.trace"]):
        raise UserError(
            "workload.trace: the web app reads no local files; give the lengths as distributions "
            "(workload.isl: {lognormal: {mean: 4000, p90: 8000}}), or run the CLI (aicsolve SPEC.yaml) "
            "with the trace."
        )
    if any(c is not None for c in seen["calibration"]):
        raise UserError(
            "calibration: the web app reads no calibration files; run the CLI (aicsolve SPEC.yaml) to apply one."
        )


def _peek(text: str, name: str) -> Any:
    """The YAML text parsed (None when it is not valid YAML: load_spec words that error); a UserError for
    text past the bounds of solver.specyaml (size, aliases, depth)."""
    from solver.specyaml import YamlLimitError, parse

    try:
        return parse(text, name)[0]
    except YamlLimitError:
        raise
    except UserError:
        return None


def load(body: Any):
    """The validated Spec of a request body, its solver time limit capped at MAX_TIME_LIMIT_S."""
    from solver.spec import apply_overrides, is_cluster, load_spec, spec_from_dict

    spec_in, overrides, name = parse_body(body)
    raw = spec_in if isinstance(spec_in, dict) else _peek(spec_in, name)
    if isinstance(raw, dict) and is_cluster(apply_overrides(raw, overrides, label=OVERRIDE)):
        raise UserError(
            f"{name}: a spec with demand, pools or deployments is a cluster spec; the web page solves one "
            "model on total_gpus. Run it with the CLI: aicsolve SPEC.yaml (--save-dir for the bundles)."
        )
    _reject_paths(raw, overrides)
    # local_files=False: the model is looked up in the registry only and no path is ever opened, so an answer
    # says nothing about the server's disk (a file that exists reads like one that does not).
    if isinstance(spec_in, dict):
        spec = spec_from_dict(spec_in, overrides, source=name, label=OVERRIDE, local_files=False)
    else:
        with tempfile.TemporaryDirectory(prefix="aicsolve-web-") as d:
            real = Path(d) / "spec.yaml"
            try:
                real.write_text(spec_in, encoding="utf-8")
            except UnicodeEncodeError:
                raise UserError(f"{name}: not UTF-8 text; save the spec as UTF-8 YAML.") from None
            spec = load_spec(_Named(real, name), overrides, label=OVERRIDE, local_files=False)
    return dataclasses.replace(spec, time_limit_s=min(spec.time_limit_s, MAX_TIME_LIMIT_S))


_CACHE: OrderedDict[str, Solved] = OrderedDict()
_CACHE_SIZE = 16
_LOCK = threading.Lock()


def solve(body: Any) -> Solved:
    """Solve a request body as `aicsolve SPEC --json` does (the last few solves are remembered for /api/bundle)."""
    from solver.pipeline import solve as solve_spec

    spec = load(body)  # validated before the cache is read: a repeated bad body gets its error every time
    key = json.dumps({k: body.get(k) for k in ("spec_yaml", "spec", "overrides", "filename")}, sort_keys=True)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    solved = solve_spec(spec)
    with _LOCK:
        _CACHE[key] = solved
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return solved


def is_light(body: Any) -> bool:
    """Whether a request body is a small solve (few candidates and GPUs, about a second): such requests run in
    a lane of their own, so they never wait behind large ones. False for a body that does not validate."""
    from costmodel import batch_grid, layouts
    from solver.errors import user_error_types

    try:
        spec = load(body)
    except user_error_types():  # the solve itself reports the error
        return False
    s = spec.request.search
    batches = len(s.batch_sizes) if s.batch_sizes else len(batch_grid(s.max_batch_size))
    return len(layouts(spec.request)) * batches <= LIGHT_CANDIDATES and spec.total_gpus <= LIGHT_GPUS


def bundle(body: Any) -> tuple[str, bytes]:
    """(file name, zip bytes) of the Dynamo bundle that `--save-dir` writes for a request body."""
    from solver.export import export_bundle

    top = body.get("export_top", 1) if isinstance(body, dict) else 1
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_EXPORT_TOP:
        raise UserError(f"export_top must be a whole number from 1 to {MAX_EXPORT_TOP}; got {top!r}.")
    image = body.get("image") or None
    if image is not None and not isinstance(image, str):
        raise UserError(f"image must be a string (a container image reference); got {image!r}.")
    s = solve(body)
    stem = re.sub(
        r"[^A-Za-z0-9._-]+", "-", f"aicsolve-{s.spec.arch.name}-{s.spec.request.system}-{s.spec.total_gpus}gpu"
    ).strip("-")
    with tempfile.TemporaryDirectory(prefix="aicsolve-web-") as d:
        out = Path(d) / "bundle"
        export_bundle(s.result, s.spec, out, top, False, image, notes=s.notes)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(out.rglob("*")):
                if p.is_file():  # ZipFile.write keeps the mode bits: launch scripts stay executable
                    zf.write(p, f"{stem}/{p.relative_to(out).as_posix()}")
    return f"{stem}.zip", buf.getvalue()
