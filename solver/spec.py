"""The spec YAML, validated against the table of keys (solver.specfields.FIELDS): every mistake
becomes a one-paragraph UserError naming the key path and where it was given."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
from pathlib import Path
from typing import Any

from costmodel.arch import ModelArch, UnknownModelError, UnsupportedModelError, load_model
from costmodel.config import DEFAULT_VERSIONS, Quant, SearchSpace, SurfaceRequest, mtp_settings
from costmodel.files import is_regular
from solver.errors import UserError
from solver.grid import check_grid
from solver.problem import Constraints, Problem, Sla, Topology
from solver.specfields import (FIELDS, FIXED_KEYS, FLAGS, MODES, NATIVE_QUANT, SCHEMA_PATH, Field,  # noqa: F401
                               _children, schema)
# Loader is also this module's API (solver.web read with it)
from solver.specyaml import Loader, YamlLimitError, brief, clip, parse, read_yaml  # noqa: F401
from solver.specyaml import show as _show


@dataclasses.dataclass(frozen=True)
class Spec:
    """A validated spec, every default filled in: the cost-model request plus the solver's inputs."""

    model: str  # as resolved: registry id or absolute path of a config.json
    arch: ModelArch
    request: SurfaceRequest
    total_gpus: int
    sla: Sla
    constraints: Constraints
    time_limit_s: float = 10.0
    seed: int = 0
    top_n: int = 5
    source: str = "<flags>"
    demand_rps: float | None = None  # requests/s to serve (demand.*); None: fill total_gpus
    weight: float = 1.0
    name: str | None = None

    def summary(self) -> dict[str, Any]:
        """The inputs as plain JSON values (for the report and --json)."""
        r, asdict = self.request, dataclasses.asdict
        return {"source": self.source, "model": self.arch.name, "system": r.system, "decode_system": r.decode_system,
                "backend": r.backend, "backend_version": r.version, "total_gpus": self.total_gpus, "isl": r.isl,
                "osl": r.osl, "modes": list(r.modes), "sla": asdict(self.sla), "quantization": asdict(r.quant),
                "mtp": {m: dict(zip(("draft_tokens", "acceptance"), mtp_settings(r, m))) for m in r.modes},
                "moe": self.arch.is_moe,
                "calibrated": r.calibration is not None}


class _Where:
    # Where each key path came from ("spec.yaml, line 7", "--set a.b=1", "--tpot 10"), for messages.
    def __init__(self, source: str, lines: dict[str, int] | None = None):
        self.source, self.at = source, {p: f"{source}, line {n}" for p, n in (lines or {}).items()}

    def __call__(self, path: str) -> str:
        if path not in self.at:  # "search.tp[3]" has no line of its own; "deployments[0].pools" has
            path = path.split("[")[0]
        while path and path not in self.at:  # fall back to the enclosing key's line
            path = path.rpartition(".")[0]
        return f"{self.at[path]}: " if path else (f"{self.source}: " if self.source != "<flags>" else "")


def _set(raw: dict, key: str, value: Any, label: str) -> None:
    *parents, leaf = key.split(".")
    for i, part in enumerate(parents):
        raw[part] = {} if raw.get(part) is None else raw[part]
        if not isinstance(raw[part], dict):
            raise UserError(f"{label}: '{'.'.join(parents[:i + 1])}' is {_show(raw[part])}, not a mapping, so it "
                            "has no sub-keys.")
        raw = raw[part]
    raw[leaf] = value


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...], _where: _Where | None = None) -> dict:
    """A copy of raw with each "dotted.key=value" applied (values parsed as YAML)."""
    out = copy.deepcopy(raw)
    for item in overrides:
        key, eq, text = (part.strip() for part in item.partition("="))
        shown = clip(item, 120)  # a 200 KB value is not quoted back in full
        if not eq or not key or "" in key.split("."):
            raise UserError(f"--set {shown!r}: expected KEY=VALUE with a dotted key, e.g. --set sla.ttft_ms=200.")
        try:
            value = parse(text, f"--set {shown}")[0] if text else None
        except YamlLimitError:
            raise
        except UserError:
            raise UserError(f"--set {shown}: {clip(text, 80)!r} is not valid YAML; quote strings, write lists as "
                            "[1, 2].") from None
        _set(out, key, value, f"--set {shown}")
        if _where is not None:
            _where.at[key] = f"--set {shown}"
    return out


def _expect(f: Field) -> str:
    kind = f.kind.rstrip("?")
    bound = (f" ≥ {f.ge:g}" if f.ge is not None else f" > {f.gt:g}" if f.gt is not None else "")
    bound += f" and ≤ {f.le:g}" if f.le is not None else ""
    bound += ", a power of two" if f.pow2 else ""
    # Lambdas: only the kind asked for is formatted (a scalar default would break the "ints" example).
    return {"str": lambda: f"one of: {', '.join(f.choices)}" if f.choices else "a string",
            "bool": lambda: "true or false", "int": lambda: f"an integer{bound}", "number": lambda: f"a number{bound}",
            "strs": lambda: f"a list of: {', '.join(f.choices)}", "list": lambda: "a non-empty list of mappings",
            "ints": lambda: f"a list of integers{bound}, e.g. [{', '.join(map(str, f.default or [1, 2, 4]))}]",
            "section": lambda: f"a mapping of: {', '.join(_children(f.path))}"}[kind]() + ", or null" * ("?" in f.kind)


def _nearest(word: str, options: list[str] | tuple[str, ...]) -> str | None:
    # difflib's ratio ties "modle" between "model" and "modes"; transposed letters should win.
    if len(word) > 100:  # no option is that long; difflib's cost grows with the length
        return None
    score = lambda o: difflib.SequenceMatcher(None, word, o).ratio() + 0.2 * (sorted(word) == sorted(o))  # noqa: E731
    best = max(options, key=score, default=None)
    return best if best is not None and score(best) >= 0.5 else None


def _ok(kind: str, f: Field, v: Any) -> tuple[bool, str]:  # (valid?, did-you-mean hint) for one scalar
    numeric = kind in ("int", "number")
    if not isinstance(v, {"str": str, "bool": bool, "int": int, "number": (int, float)}[kind]) or (
            numeric and (isinstance(v, bool) or not math.isfinite(v))):
        if kind == "int" and isinstance(v, float) and v.is_integer() and abs(v) < 1e18:  # 1e6 reads as a float
            return False, f" Write it as a whole number: {int(v)}."
        return False, f' Quote it: "{v}".' if kind == "str" and isinstance(v, (int, float)) else ""
    if numeric and f.cap is not None and v > f.cap:
        return False, f" The most accepted is {f.cap:,}."
    if f.choices and v not in f.choices:
        return False, f" Did you mean {near!r}?" if (near := _nearest(str(v), f.choices)) else ""
    low = (f.ge is None or v >= f.ge) and (f.gt is None or v > f.gt) and (f.le is None or v <= f.le) \
        if numeric else True
    return low and (not f.pow2 or (v & (v - 1)) == 0), ""


def _bad(where: _Where, path: str, f: Field, given: Any, extra: str = "") -> UserError:
    return UserError(f"{where(path)}{f.path} must be {_expect(f)}; got {_show(given)}.{extra} ({f.path}: {f.doc}.)")


def _check(raw: dict, prefix: str, where: _Where, values: dict, given: set) -> None:
    kids = _children(prefix)
    for key in raw:
        if str(key) not in kids:
            path = f"{prefix}.{key}" if prefix else str(key)
            near = _nearest(str(key), list(kids))
            hint = f" — did you mean '{prefix + '.' if prefix else ''}{near}'?" if near else "."
            scope = f"under '{prefix}'" if prefix else "at the top level"
            raise UserError(f"{where(path)}unknown key '{path}'{hint} Keys allowed {scope}: {', '.join(kids)}.")
    for name, f in kids.items():
        v = raw.get(name)
        if v is None and f.required and not any(raw.get(k) is not None for k in f.unless):
            flag = next((f" (or pass --{k.replace('_', '-')})" for k, p in FLAGS.items() if p == f.path), "")
            alt = " To size the deployment to a load instead, give demand.requests_per_s or demand.tokens_per_s." \
                if f.unless else ""
            raise UserError(f"{where(prefix)}missing required key '{f.path}'{flag}: {_expect(f)} ({f.doc}).{alt}")
        given |= {f.path} if v is not None else set()
        if f.kind == "section":
            if not isinstance(v, (dict, type(None))):
                raise _bad(where, f.path, f, v)
            _check(v or {}, f.path, where, values, given)
        elif v is None:
            values[f.path] = copy.deepcopy(f.default)
        elif f.kind.rstrip("?") == "list":  # its items are specs of their own: solver.cluster.spec checks them
            if not isinstance(v, list) or not v or not all(isinstance(x, dict) for x in v):
                raise _bad(where, f.path, f, v, " Write one mapping per item, e.g. - {model: …, workload: …}.")
            values[f.path] = v
        else:
            kind = f.kind.rstrip("?")
            many = kind in ("ints", "strs")
            if many and (not isinstance(v, list) or not v):
                one = clip(str(v), 40) if isinstance(v, (str, int, float)) else (f.default or ["…"])[0]
                raise _bad(where, f.path, f, v, f" Write a non-empty YAML list, e.g. [{one}] for one value.")
            for i, x in enumerate(v if many else [v]):
                ok, hint = _ok(kind.rstrip("s"), f, x)  # ints → int, strs → str; scalar kinds unchanged
                if not ok:
                    item = f" Offending item: {brief(x)}." if many else ""
                    raise _bad(where, f"{f.path}[{i}]" if many else f.path, f, v, item + hint)
            values[f.path] = (sorted(set(v), key=v.index) if kind == "strs" else sorted(set(v))) if many else v


def read_raw(path: str | Path | None, overrides: list[str] | tuple[str, ...] = (),
             flags: dict[str, Any] | None = None) -> tuple[dict, _Where, Path]:
    """A spec file (None: flags only) with FLAGS (name → value) then --set overrides applied, unvalidated:
    (raw dict, where each key came from, folder that relative paths start from)."""
    raw, lines = read_yaml(path) if path is not None else ({}, {})
    where = _Where(str(path) if path is not None else "<flags>", lines)
    for name, value in (flags or {}).items():
        if value is not None:
            where.at[FLAGS[name]] = f"--{name.replace('_', '-')} {clip(str(value), 80)}"
            _set(raw, FLAGS[name], value, where.at[FLAGS[name]])
    raw = apply_overrides(raw, overrides, where)
    return raw, where, Path(path).resolve().parent if path is not None else Path.cwd()


def load_spec(path: str | Path | None, overrides: list[str] | tuple[str, ...] = (),
              flags: dict[str, Any] | None = None, local_files: bool = True) -> Spec:
    """Read a one-model spec file (None: flags only), apply FLAGS then --set overrides, validate
    (local_files=False: see spec_from_raw)."""
    raw, where, base = read_raw(path, overrides, flags)
    return spec_from_raw(raw, source=where.source, base_dir=base, _where=where, local_files=local_files)


def _resolve_model(name: str, base: Path | None, where: _Where, local_files: bool = True) -> tuple[str, ModelArch]:
    target = name
    if local_files and len(name) <= 4096:  # longer is no file name (the OS refuses past 4,096 bytes)
        local = (base or Path.cwd()) / Path(name).expanduser()  # an absolute path stays as it is
        if is_regular(local) or is_regular(local / "config.json"):
            target = str(local.resolve())
    try:
        return target, load_model(target, paths=local_files)
    except (UnknownModelError, UnsupportedModelError, OSError, ValueError) as e:
        msg = str(e).split(" Known models are listed")[0]  # that tail names a Python API, not the CLI
        tail = "; a path to an HF config.json (relative to the spec file) works too." if local_files else "."
        raise UserError(f"{where('model')}model: {msg} `aicsolve models` lists the known ones{tail}") from None


def _check_semantics(v: dict, given: set, arch: ModelArch, where: _Where) -> dict[str, str]:
    """Checks across keys and against the data; narrows the search to fixed values; returns the quantization."""
    from costmodel.paths import data_dir
    from costmodel.system import load_system

    for key in filter(lambda k: v[k], ("system", "decode_system")):
        have = sorted(p.name for p in (data_dir() / "perf" / v[key] / v["backend"]).glob("*"))
        if v["backend_version"] not in have:
            raise UserError(f"{where('backend_version')}backend_version: no measured data for {v['backend']} "
                            f"{v['backend_version']} on {v[key]} ({key}); measured: {', '.join(have) or 'none'}.")
    if v["workload.isl"] + v["workload.osl"] > arch.max_context > 0:
        raise UserError(f"{where('workload')}workload: isl + osl = {v['workload.isl'] + v['workload.osl']} tokens "
                        f"exceeds {arch.name}'s context window of {arch.max_context}; shorten isl or osl.")
    gemm, moe = NATIVE_QUANT.get(arch.native_weight_dtype, ("bfloat16", "bfloat16"))
    defaults = dict(gemm=gemm, kv_cache="fp8", attention="bfloat16", moe=moe)
    quant = {k: v[f"quantization.{k}"] or d for k, d in defaults.items()}
    for sysname, comp in ((s, c) for s in (v["system"], v["decode_system"]) if s for c in ("gemm", "moe")):
        # Only an explicit choice is an error: for defaults the cost model substitutes a measured dtype.
        if f"quantization.{comp}" in given and not load_system(sysname).supports(quant[comp]):
            raise UserError(f"{where('quantization.' + comp)}quantization.{comp}: {quant[comp]} needs FP4 tensor "
                            f"cores, which {sysname} lacks (native weights of {arch.name}: {arch.native_weight_dtype})"
                            "; pick fp8_block, fp8 or bfloat16, or a Blackwell system (b200_sxm, gb200).")
    for key in ("search.dp", "search.moe_ep", "constraints.fixed.dp", "constraints.fixed.moe_ep",
                "constraints.fixed.moe_tp"):
        if not arch.is_moe and key in given and v[key] not in ([1], 1):
            raise UserError(f"{where(key)}{key}: {arch.name} is a dense model, so attention data parallelism and "
                            f"expert parallelism do not apply; got {v[key]}, use 1 or drop the key.")
    v["search.dp"] = v["search.dp"] or ([1, 2, 4, 8] if arch.is_moe else [1])
    for k in ("tp", "pp", "dp", "moe_ep"):  # a fixed value narrows the grid the cost model evaluates
        fixed = v[f"constraints.fixed.{k}"]
        if fixed is not None and f"search.{k}" in given and fixed not in v[f"search.{k}"]:
            raise UserError(f"{where('constraints.fixed.' + k)}constraints.fixed.{k} is {fixed} but search.{k} "
                            f"{v['search.' + k]} does not include it; add {fixed} to search.{k} or drop one.")
        v[f"search.{k}"] = [fixed] if fixed is not None else v[f"search.{k}"]
    if (v["constraints.replicas.max"] or math.inf) < (low := v["constraints.replicas.min"]):
        raise UserError(f"{where('constraints.replicas')}constraints.replicas: min {low} exceeds max "
                        f"{v['constraints.replicas.max']}.")
    return quant


def _load_calibration(name: str | None, base: Path | None, where: _Where, local_files: bool = True):
    from costmodel.calibrate import BadCalibrationError, load

    if name is None:
        return None
    if not local_files:
        raise UserError(f"{where('calibration')}calibration: this service reads no local files, so it takes no "
                        "calibration file; run the CLI (aicsolve SPEC.yaml) to apply one.")
    try:
        return load((base or Path.cwd()) / Path(name).expanduser())
    except BadCalibrationError as e:
        raise UserError(f"{where('calibration')}calibration: {e}. Write one with `aicsolve calibrate "
                        "MEASUREMENTS.csv --out FILE`.") from None


def spec_from_raw(raw: dict, source: str = "<flags>", base_dir: Path | None = None,
                  _where: _Where | None = None, local_files: bool = True) -> Spec:
    """Validate a raw spec dict into a Spec (UserError on any mistake).

    local_files=False: model is a registry name only and calibration is refused; no file is read.
    """
    from costmodel.system import load_system

    where, v, given = _where or _Where(source), {}, set()
    _check(raw, "", where, v, given)
    model, arch = _resolve_model(v["model"], base_dir, where, local_files)
    v["backend_version"] = v["backend_version"] or DEFAULT_VERSIONS[v["backend"]]
    quant = _check_semantics(v, given, arch, where)
    caps = {k: v[k] for k in ("search.max_gpus_per_worker", "constraints.max_gpus_per_worker") if v[k]}
    topology = None
    if "constraints.topology" in given:
        t = {k: v[f"constraints.topology.{k}"] for k in _children("constraints.topology")}
        topology = Topology(**{**t, "gpus_per_node": t["gpus_per_node"] or load_system(v["system"]).gpus_per_node})
        if topology.worker_within_node:  # no bigger worker can be placed
            caps["constraints.topology.gpus_per_node (worker_within_node)"] = topology.gpus_per_node
    demand = _demand(v, where)
    tup = lambda key: tuple(v[key]) if v[key] is not None else None  # noqa: E731
    search = SearchSpace(tp=tup("search.tp"), pp=tup("search.pp"), dp=tup("search.dp"), moe_ep=tup("search.moe_ep"),
                         max_batch_size=v["search.max_batch_size"], batch_sizes=tup("search.batch_sizes"),
                         max_gpus_per_worker=min(caps.values()) if caps else None)
    sub = lambda sec: {k: v[f"{sec}.{k}"] for k in _children(sec) if v[f"{sec}.{k}"] is not None}  # noqa: E731
    constraints = Constraints(topology, v["constraints.replicas.min"], v["constraints.replicas.max"],
                              v["constraints.max_gpus_per_worker"], sub("constraints.fixed"),
                              sub("constraints.role_gpu_budget"))
    request = SurfaceRequest(model=arch, system=v["system"], backend=v["backend"], version=v["backend_version"],
                             isl=v["workload.isl"], osl=v["workload.osl"], quant=Quant(**quant), search=search,
                             modes=tuple(v["modes"]), decode_system=v["decode_system"],
                             mtp_draft=v["speculative.mtp_draft_tokens"],
                             mtp_accept=_float(v["speculative.mtp_acceptance"]),
                             calibration=_load_calibration(v["calibration"], base_dir, where, local_files))
    check_grid(request, caps, where)
    return Spec(model=model, arch=arch, request=request, total_gpus=v["total_gpus"],
                sla=Sla(**{k: float(x) for k, x in sub("sla").items()}), constraints=constraints,
                time_limit_s=float(v["solver.time_limit_s"]), seed=v["solver.seed"], top_n=v["solver.top_n"],
                source=source, demand_rps=demand, weight=float(v["weight"] or 1.0), name=v["name"])


def _demand(v: dict, where: _Where) -> float | None:
    """demand.* as requests/s (tokens/s are output tokens, so / osl); None when absent."""
    rps, tps = v["demand.requests_per_s"], v["demand.tokens_per_s"]
    if rps is not None and tps is not None:
        raise UserError(f"{where('demand')}demand: give requests_per_s or tokens_per_s, not both "
                        f"(got {rps:g} requests/s and {tps:g} tokens/s).")
    return float(rps) if rps is not None else None if tps is None else float(tps) / v["workload.osl"]


def _float(x: Any) -> float | None:
    return None if x is None else float(x)


def to_request(spec: Spec) -> SurfaceRequest:
    """The cost-model request for a spec."""
    return spec.request


def to_problem(spec: Spec, surfaces: Any) -> Problem:
    """The solver's problem for a spec and the surfaces built from to_request(spec)."""
    return Problem(surfaces=surfaces, total_gpus=spec.total_gpus, sla=spec.sla, constraints=spec.constraints,
                   modes=spec.request.modes, time_limit_s=spec.time_limit_s, seed=spec.seed, top_n=spec.top_n)


if __name__ == "__main__":
    SCHEMA_PATH.write_text(json.dumps(schema(), indent=2, ensure_ascii=False) + "\n")
