"""The spec YAML, validated against the table of keys (solver.specfields.FIELDS): every mistake
becomes a one-paragraph UserError naming the key path and where it was given."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from costmodel import ModelArch, UnknownModelError, UnsupportedModelError, load_model
from costmodel import Checkpoint, resolve_checkpoint
from costmodel import DEFAULT_VERSIONS, Quant, SearchSpace, SurfaceRequest, context_tokens, mtp_settings
from costmodel import is_regular
from solver.errors import UserError
from solver.grid import check_grid
from solver.problem import Constraints, Problem, Sla, Topology
from solver.specfields import FLAGS, MOE_DP, NATIVE_QUANT, SCHEMA_PATH, children, schema

# Loader is also this module's API (solver.web reads with it)
from solver.specyaml import Loader, YamlLimitError, brief, clip, parse, read_yaml  # noqa: F401
from solver.specyaml import show as _show
from solver.validation import Where, check


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
    recipe_notes: tuple[str, ...] = ()  # engine defaults the recipe took from data/engines, with their sources
    checkpoint: Checkpoint | None = None  # what the engines load for the priced quantization
    model_path: str = ""  # what the engines load: an HF id or a folder
    served_model_name: str = ""  # the name clients (and the benchmark) ask for

    @property
    def max_context_tokens(self) -> int:
        """Longest request to serve (prompt + answer, tokens): the engines' context limit."""
        return context_tokens(self.request)

    # The spec as given, flags and overrides applied, defaults not filled in: a bundle writes it as spec.yaml.
    raw: dict | None = dataclasses.field(default=None, compare=False, repr=False)

    def summary(self) -> dict[str, Any]:
        """The inputs as plain JSON values (for the report and --json)."""
        r, asdict = self.request, dataclasses.asdict
        return {
            "source": self.source,
            "model": self.arch.name,
            "system": r.system,
            "decode_system": r.decode_system,
            "backend": r.backend,
            "backend_version": r.version,
            "total_gpus": self.total_gpus,
            "isl": r.isl,
            "osl": r.osl,
            "max_context_tokens": self.max_context_tokens,
            "model_path": self.model_path,
            "served_model_name": self.served_model_name,
            "modes": list(r.modes),
            "sla": self.sla.plain(),
            "quantization": asdict(r.quant),
            "mtp": {m: dict(zip(("draft_tokens", "acceptance"), mtp_settings(r, m))) for m in r.modes},
            "moe": self.arch.is_moe,
            "mtp_layers": self.arch.mtp_layers,
            "recipe_notes": list(self.recipe_notes),
            "checkpoint": self.checkpoint.summary() if self.checkpoint is not None else None,
            "scheduler_recv_interval": r.scheduler_recv_interval,
            "prefill_utilisation": r.prefill_utilisation,
            "workload": _workload_summary(r),
            "calibrated": r.calibration is not None,
        }


def _workload_summary(r: SurfaceRequest) -> dict[str, Any]:
    """The workload as plain JSON: each length's label, mean, points and weights; prefix hits; arrivals."""
    from costmodel import workload_of

    w = workload_of(r)

    def dist(d: Any) -> dict[str, Any]:
        return {
            "label": d.label,
            "mean": d.mean,
            "text": d.describe(),
            "points": list(d.points),
            "weights": list(d.weights),
        }

    a = w.arrival
    return {
        "isl": dist(w.isl),
        "osl": dist(w.osl),
        "prefix_hit_rate": w.prefix_hit_rate,
        "source": w.source,
        "arrival": {"process": a.process, "rate_per_s": a.rate_per_s, "cv": a.cv, "text": a.describe()},
    }


def _set(raw: dict, key: str, value: Any, label: str) -> None:
    *parents, leaf = key.split(".")
    for i, part in enumerate(parents):
        raw[part] = {} if raw.get(part) is None else raw[part]
        if not isinstance(raw[part], dict):
            raise UserError(
                f"{label}: '{'.'.join(parents[: i + 1])}' is {_show(raw[part])}, not a mapping, so it has no sub-keys."
            )
        raw = raw[part]
    raw[leaf] = value


def apply_overrides(
    raw: dict, overrides: list[str] | tuple[str, ...], where: Where | None = None, label: str = "--set"
) -> dict:
    """A copy of raw with each "dotted.key=value" applied (values parsed as YAML).

    label names an override in messages: the CLI's "--set"; the web page's "override"."""
    out = copy.deepcopy(raw)
    for item in overrides:
        key, eq, text = (part.strip() for part in item.partition("="))
        shown = clip(item, 120)  # a 200 KB value is not quoted back in full
        if not eq or not key or "" in key.split("."):
            raise UserError(f"{label} {shown!r}: expected KEY=VALUE with a dotted key, e.g. {label} sla.ttft_ms=200.")
        try:
            value = parse(text, f"{label} {shown}")[0] if text else None
        except YamlLimitError:
            raise
        except UserError:
            raise UserError(
                f"{label} {shown}: {clip(text, 80)!r} is not valid YAML; quote strings, write lists as [1, 2]."
            ) from None
        _set(out, key, value, f"{label} {shown}")
        if where is not None:
            where.at[key] = f"{label} {shown}"
            where.flagged.add(key)
    return out


def is_cluster(raw: dict) -> bool:
    """True when the spec asks for sizing or placement rather than one model on total_gpus."""
    arrival = raw.get("workload", {}).get("arrival") if isinstance(raw.get("workload"), dict) else None
    rate = arrival.get("rate_per_s") if isinstance(arrival, dict) else None  # an open-loop rate is a demand
    return any(raw.get(k) is not None for k in ("deployments", "pools", "demand")) or rate is not None


def read_raw(
    path: str | os.PathLike[str] | None,
    overrides: list[str] | tuple[str, ...] = (),
    flags: dict[str, Any] | None = None,
    label: str = "--set",
) -> tuple[dict, Where, Path]:
    """A spec file (None: flags only) with FLAGS (name → value) then --set overrides applied, unvalidated:
    (raw dict, where each key came from, folder that relative paths start from).

    flags None: not read by the CLI, so no message suggests a flag; label names an override (apply_overrides)."""
    raw, lines = read_yaml(path) if path is not None else ({}, {})
    where = Where(str(path) if path is not None else "<flags>", lines)
    where.cli = flags is not None
    for name, value in (flags or {}).items():
        if value is not None:
            where.at[FLAGS[name]] = f"--{name.replace('_', '-')} {clip(str(value), 80)}"
            where.flagged.add(FLAGS[name])
            _set(raw, FLAGS[name], value, where.at[FLAGS[name]])
    raw = apply_overrides(raw, overrides, where, label)
    return raw, where, Path(path).resolve().parent if path is not None else Path.cwd()


def load_spec(
    path: str | os.PathLike[str] | None,
    overrides: list[str] | tuple[str, ...] = (),
    flags: dict[str, Any] | None = None,
    label: str = "--set",
    local_files: bool = True,
) -> Spec:
    """Read a one-model spec file (None: flags only), apply FLAGS then overrides, validate (see read_raw;
    local_files=False: see spec_from_raw)."""
    raw, where, base = read_raw(path, overrides, flags, label)
    return spec_from_raw(raw, source=where.source, base_dir=base, where=where, local_files=local_files)


def spec_from_dict(
    raw: dict,
    overrides: list[str] | tuple[str, ...] = (),
    source: str = "<flags>",
    base_dir: Path | None = None,
    label: str = "--set",
    local_files: bool = True,
) -> Spec:
    """Validate a spec given as a mapping (the web form's), overrides applied: a value an override gave is blamed on
    it ("override sla.tpot=5: …"), the others on the source."""
    where = Where(source)
    return spec_from_raw(
        apply_overrides(raw, overrides, where, label),
        source=source,
        base_dir=base_dir,
        where=where,
        local_files=local_files,
    )


def _resolve_model(name: str, base: Path | None, where: Where, local_files: bool = True) -> tuple[str, ModelArch]:
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


def _check_semantics(v: dict, given: set, arch: ModelArch, where: Where) -> dict[str, str]:
    """Checks across keys and against the data; narrows the search to fixed values; returns the quantization."""
    from costmodel import engine_rules
    from costmodel import data_dir
    from costmodel import load_system

    for key in filter(lambda k: v[k], ("system", "decode_system")):
        have = sorted(p.name for p in (data_dir() / "perf" / v[key] / v["backend"]).glob("*"))
        if v["backend_version"] not in have:
            raise UserError(
                f"{where('backend_version', 'backend', key)}backend_version: no measured data for {v['backend']} "
                f"{v['backend_version']} on {v[key]} ({key}); measured: {', '.join(have) or 'none'}."
            )
    if v["workload.isl"] + v["workload.osl"] > arch.max_context > 0:
        at = where("workload")  # the flags that gave isl or osl, else the file's line
        raise UserError(
            f"{at}workload: isl + osl = {v['workload.isl'] + v['workload.osl']} tokens "
            f"exceeds {arch.name}'s context window of {arch.max_context}; shorten isl or osl."
        )
    _check_context(v, arch, where)
    gemm, moe = NATIVE_QUANT.get(arch.native_weight_dtype, ("bfloat16", "bfloat16"))
    defaults = dict(gemm=gemm, kv_cache=_recipe_kv(v, arch), attention="bfloat16", moe=moe)
    quant = {k: v[f"quantization.{k}"] or d for k, d in defaults.items()}
    if arch.is_moe and "quantization.moe" not in given:  # the expert kernel the engine runs by default on this GPU
        rule = engine_rules(v["backend"]).default_moe(arch, load_system(v["system"]).sm_version)
        if rule:
            quant["moe"] = rule.moe
            how = f"set by {', '.join(f'{k}={x}' for k, x in rule.env)} on every worker" if rule.env else "its default"
            v["recipe_notes"] = [
                f"experts {rule.moe}, the {v['backend']} recipe for {arch.native_weight_dtype} "
                f"experts on {v['system']}, {how} ({rule.source})"
            ]
    for sysname, comp in ((s, c) for s in (v["system"], v["decode_system"]) if s for c in ("gemm", "moe")):
        # Only an explicit choice is an error: for defaults the cost model substitutes a measured dtype.
        if f"quantization.{comp}" in given and not load_system(sysname).supports(quant[comp]):
            at = where(f"quantization.{comp}", "system" if sysname == v["system"] else "decode_system")
            raise UserError(
                f"{at}quantization.{comp}: {quant[comp]} needs FP4 tensor "
                f"cores, which {sysname} lacks (native weights of {arch.name}: {arch.native_weight_dtype})"
                "; pick fp8_block, fp8 or bfloat16, or a Blackwell system (b200_sxm, gb200)."
            )
    for key in (
        "search.dp",
        "search.moe_ep",
        "constraints.fixed.dp",
        "constraints.fixed.moe_ep",
        "constraints.fixed.moe_tp",
    ):
        if not arch.is_moe and key in given and v[key] not in ([1], 1):
            raise UserError(
                f"{where(key)}{key}: {arch.name} is a dense model, so attention data parallelism and "
                f"expert parallelism do not apply; got {v[key]}, use 1 or drop the key."
            )
    v["search.dp"] = v["search.dp"] or (list(MOE_DP) if arch.is_moe else [1])
    for k in ("tp", "pp", "dp", "moe_ep"):  # a fixed value narrows the grid the cost model evaluates
        fixed = v[f"constraints.fixed.{k}"]
        if fixed is not None and f"search.{k}" in given and fixed not in v[f"search.{k}"]:
            raise UserError(
                f"{where('constraints.fixed.' + k)}constraints.fixed.{k} is {fixed} but search.{k} "
                f"{v['search.' + k]} does not include it; add {fixed} to search.{k} or drop one."
            )
        v[f"search.{k}"] = [fixed] if fixed is not None else v[f"search.{k}"]
    if (v["constraints.replicas.max"] or math.inf) < (low := v["constraints.replicas.min"]):
        at = where("constraints.replicas")
        raise UserError(f"{at}constraints.replicas: min {low} exceeds max {v['constraints.replicas.max']}.")
    return quant


def _check_context(v: dict, arch: ModelArch, where: Where) -> None:
    """workload.max_context_tokens holds one isl + osl request and fits the model's context window."""
    longest, need = v["workload.max_context_tokens"], v["workload.isl"] + v["workload.osl"]
    if longest is None:
        return
    key = "workload.max_context_tokens"
    if longest < need:
        raise UserError(
            f"{where(key)}{key}: {longest} tokens is shorter than one request of the workload "
            f"(isl + osl = {need}); give at least {need}, or drop the key to serve exactly isl + osl."
        )
    if longest > arch.max_context > 0:
        raise UserError(
            f"{where(key)}{key}: {longest} tokens exceeds {arch.name}'s context window of "
            f"{arch.max_context} (max_position_embeddings); give at most {arch.max_context}."
        )


def _model_names(model: str, arch: ModelArch, ckpt: Checkpoint, v: dict, where: Where) -> tuple[str, str]:
    """(model_path, served_model_name): the spec's; else the checkpoint providing the priced quantization; for a
    local model its folder, served under the config's own HF id (_name_or_path) or, without one, the folder's name."""
    for key in ("model_path", "served_model_name"):
        if v[key] is not None and not v[key].strip():
            raise UserError(
                f"{where(key)}{key}: an empty name; give an HF id such as Qwen/Qwen3-32B"
                f"{' or a folder on the serving nodes' * (key == 'model_path')}, or drop the key to use "
                "the model's own."
            )
    p = Path(model)
    if not (p.is_absolute() and p.exists()):  # a registry model: the checkpoint's HF id
        return v["model_path"] or ckpt.hf_id, v["served_model_name"] or ckpt.hf_id
    folder = p.parent if p.is_file() else p
    own = arch.name if not arch.name.startswith(("/", ".", "~")) else folder.name  # a path is no name to serve
    return v["model_path"] or str(folder), v["served_model_name"] or own


def _recipe_kv(v: dict, arch: ModelArch) -> str:
    """The default KV-cache dtype: the engine recipe's (bf16 for MLA where the backend lacks a fast fp8-KV kernel)."""
    if not arch.is_mla:
        return "fp8"
    from costmodel import default_kv_cache

    return default_kv_cache(v["system"], v["backend"], v["backend_version"], arch)


def _load_calibration(name: str | None, base: Path | None, where: Where, local_files: bool = True):
    from costmodel import BadCalibrationError, load_calibration as load

    if name is None:
        return None
    if not local_files:
        raise UserError(
            f"{where('calibration')}calibration: this service reads no local files, so it takes no "
            "calibration file; run the CLI (aicsolve SPEC.yaml) to apply one."
        )
    try:
        return load((base or Path.cwd()) / Path(name).expanduser())
    except BadCalibrationError as e:
        raise UserError(
            f"{where('calibration')}calibration: {e}. Write one with `aicsolve calibrate MEASUREMENTS.csv --out FILE`."
        ) from None


def spec_from_raw(
    raw: dict,
    source: str = "<flags>",
    base_dir: Path | None = None,
    where: Where | None = None,
    local_files: bool = True,
) -> Spec:
    """Validate a raw spec dict into a Spec (UserError on any mistake).

    local_files=False: model is a registry name only and calibration is refused; no file is read.
    """
    from costmodel import node_size

    where = where or Where(source)
    checked = check(raw, where)
    v: dict[str, Any] = dict(checked.values)  # dotted key path -> value; the checks across keys below fill in more
    given = set(checked.given)
    model, arch = _resolve_model(v["model"], base_dir, where, local_files)
    workload = _workload(v, given, arch, where, base_dir)
    v["backend_version"] = v["backend_version"] or DEFAULT_VERSIONS[v["backend"]]
    quant = _check_semantics(v, given, arch, where)
    checkpoint = _checkpoint(model, arch, Quant(**quant), v)
    # Price the weights the engines load: the groups that checkpoint keeps in bf16
    arch = dataclasses.replace(arch, high_precision=checkpoint.high_precision)
    path, served = _model_names(model, arch, checkpoint, v, where)
    caps = {k: v[k] for k in ("search.max_gpus_per_worker", "constraints.max_gpus_per_worker") if v[k]}
    topology = None
    if "constraints.topology" in given:
        t = {k: v[f"constraints.topology.{k}"] for k in children("constraints.topology")}
        topology = Topology(**{**t, "gpus_per_node": node_size(v["system"], t["gpus_per_node"])})
        if topology.worker_within_node:  # no bigger worker can be placed
            caps["constraints.topology.gpus_per_node (worker_within_node)"] = topology.gpus_per_node
    demand = _demand(v, where)
    ints = lambda key: tuple(v[key])  # noqa: E731  (tp, pp and dp are set by now)
    maybe = lambda key: tuple(v[key]) if v[key] is not None else None  # noqa: E731
    search = SearchSpace(
        tp=ints("search.tp"),
        pp=ints("search.pp"),
        dp=ints("search.dp"),
        moe_ep=maybe("search.moe_ep"),
        max_batch_size=v["search.max_batch_size"],
        batch_sizes=maybe("search.batch_sizes"),
        max_gpus_per_worker=min(caps.values()) if caps else None,
    )
    sub = lambda sec: {k: v[f"{sec}.{k}"] for k in children(sec) if v[f"{sec}.{k}"] is not None}  # noqa: E731
    constraints = Constraints(
        topology,
        v["constraints.replicas.min"],
        v["constraints.replicas.max"],
        v["constraints.max_gpus_per_worker"],
        sub("constraints.fixed"),
        sub("constraints.role_gpu_budget"),
    )
    request = SurfaceRequest(
        model=arch,
        system=v["system"],
        backend=v["backend"],
        version=v["backend_version"],
        isl=v["workload.isl"],
        osl=v["workload.osl"],
        quant=Quant(**quant),
        search=search,
        modes=tuple(v["modes"]),
        decode_system=v["decode_system"],
        gpus_per_node=v["constraints.topology.gpus_per_node"],
        mtp_draft=v["speculative.mtp_draft_tokens"],
        mtp_accept=_float(v["speculative.mtp_acceptance"]),
        calibration=_load_calibration(v["calibration"], base_dir, where, local_files),
        max_context=v["workload.max_context_tokens"],
        total_gpus=v["total_gpus"],
        scheduler_recv_interval=v["serving.scheduler_recv_interval"],
        length_range_ratio=float(v["workload.length_range_ratio"]),
        prefill_utilisation=float(v["serving.prefill_utilisation"]),
        workload=None if workload.zero_variance else workload,
    )
    check_grid(request, caps, where)
    return Spec(
        model=model,
        arch=arch,
        request=request,
        total_gpus=v["total_gpus"],
        sla=_sla(v),
        constraints=constraints,
        time_limit_s=float(v["solver.time_limit_s"]),
        seed=v["solver.seed"],
        top_n=v["solver.top_n"],
        source=source,
        demand_rps=demand,
        weight=float(v["weight"] or 1.0),
        name=v["name"],
        recipe_notes=tuple(v.get("recipe_notes", ())),
        checkpoint=checkpoint,
        model_path=path,
        served_model_name=served,
        raw=_as_solved(raw, model, v["calibration"], base_dir),
    )


def _sla(v: dict) -> Sla:
    """The SLA: numbers bound means; a mapping's percentile keys become (level, ms) bounds."""
    means, pct = {}, {}
    for k in ("ttft_ms", "tpot_ms"):
        x = v[f"sla.{k}"]
        if isinstance(x, dict):
            means[k] = x.get("mean")
            pct[k] = tuple(sorted((int(p[1:]), float(ms)) for p, ms in x.items() if p != "mean"))
        else:
            means[k] = None if x is None else float(x)
    return Sla(
        ttft_ms=means["ttft_ms"],
        tpot_ms=means["tpot_ms"],
        min_tokens_per_s_per_user=_float(v["sla.min_tokens_per_s_per_user"]),
        max_request_latency_ms=_float(v["sla.max_request_latency_ms"]),
        ttft_pct=pct.get("ttft_ms", ()),
        tpot_pct=pct.get("tpot_ms", ()),
    )


def _workload(v: dict, given: set, arch: ModelArch, where: Where, base: Path | None):
    """The workload's distributions and arrivals (costmodel.workload); sets workload.isl / osl to their means.

    Distributions are cut at the context limit (workload.max_context_tokens, else the model's window): engines
    refuse longer requests."""
    from costmodel import (
        Arrival,
        Workload,
        WorkloadError,
        fixed_lengths as fixed,
        histogram_lengths as histogram,
        lognormal_lengths as lognormal,
        read_trace,
    )

    pts, trace, source = v["workload.distribution_points"], None, ""
    if v["workload.trace"] is not None:
        for k in ("workload.isl", "workload.osl"):
            if k in given:
                raise UserError(f"{where(k)}{k}: workload.trace gives the lengths; drop {k} or the trace.")
        path = (base or Path.cwd()) / Path(v["workload.trace"]).expanduser()
        try:
            trace = read_trace(path, pts)
        except WorkloadError as e:
            raise UserError(f"{where('workload.trace')}workload.trace: {e}.") from None
        a = trace.arrival
        source = (
            f"trace {path.name}: {trace.requests:,} requests over {trace.span_s:,.0f} s "
            f"({a.rate_per_s:,.3g} requests/s, inter-arrival CV {a.cv:.2f})"
        )

    def dist(key: str):
        x = v[key]
        try:
            if trace is not None:
                return trace.isl if key == "workload.isl" else trace.osl
            if isinstance(x, dict) and "lognormal" in x:
                return lognormal(x["lognormal"]["mean"], x["lognormal"]["p90"], pts)
            return histogram(x["histogram"]) if isinstance(x, dict) else fixed(int(x))
        except WorkloadError as e:
            raise UserError(f"{where(key)}{key}: {e}.") from None

    isl, osl = dist("workload.isl"), dist("workload.osl")
    limit = v["workload.max_context_tokens"] or (arch.max_context if arch.max_context > 0 else None)
    if limit and not (isl.fixed and osl.fixed):
        osl = osl.clipped(limit - 1)
        if limit - osl.longest < 1:
            raise UserError(
                f"{where('workload.osl')}workload.osl: the longest answer ({osl.longest:,} tokens) leaves no "
                f"room for a prompt in the context limit of {limit:,} tokens; shorten the OSL."
            )
        isl = isl.clipped(limit - osl.longest)
    proc, rate, cv = (v[f"workload.arrival.{k}"] for k in ("process", "rate_per_s", "cv"))
    proc = proc or ("gamma" if trace is not None else "poisson" if rate else "closed")
    if proc == "closed" and rate:
        raise UserError(
            f"{where('workload.arrival')}workload.arrival: a closed loop has no arrival rate (its clients "
            "send the next request when the last ends); drop rate_per_s, or use process poisson or gamma."
        )
    if cv is not None and proc != "gamma":
        raise UserError(
            f"{where('workload.arrival.cv')}workload.arrival.cv: a coefficient of variation describes "
            f"gamma inter-arrival times, not {proc}; set process: gamma or drop cv."
        )
    cv = float(cv) if cv is not None else trace.arrival.cv if trace is not None and proc == "gamma" else 1.0
    v["workload.isl"], v["workload.osl"] = max(1, round(isl.mean)), max(1, round(osl.mean))
    return Workload(isl, osl, float(v["workload.prefix_hit_rate"]), Arrival(proc, _float(rate), cv), source)


def _checkpoint(model: str, arch: ModelArch, quant: Quant, v: dict) -> Checkpoint:
    """The checkpoint providing the quantization as the cost model prices it on the (first) system."""
    from costmodel import priced_quant
    from solver.errors import user_error_types

    try:
        quant, _ = priced_quant(v["system"], v["backend"], v["backend_version"], arch, quant)
    except user_error_types():  # missing or broken data: build_surfaces reports it, naming the file
        pass
    return resolve_checkpoint(model, arch, quant)


def _as_solved(raw: dict, model: str, calibration: str | None, base: Path | None) -> dict:
    """The raw spec with its file paths made absolute, so that it reproduces the solve from any folder."""
    out = copy.deepcopy(raw)
    out["model"] = model  # a registry id, or the resolved path of a config.json
    if calibration is not None:
        out["calibration"] = str(((base or Path.cwd()) / Path(calibration).expanduser()).resolve())
    return out


def _demand(v: dict, where: Where) -> float | None:
    """demand.* as requests/s (tokens/s are output tokens, so / osl); None when absent."""
    rps, tps, rate = v["demand.requests_per_s"], v["demand.tokens_per_s"], v["workload.arrival.rate_per_s"]
    if rate is not None and (rps is not None or tps is not None):
        at = where("demand", "workload.arrival.rate_per_s")
        raise UserError(
            f"{at}demand: workload.arrival.rate_per_s ({rate:g} requests/s) is the load to serve; "
            "give it or demand, not both."
        )
    if rate is not None:
        return float(rate)
    if rps is not None and tps is not None:
        at = where("demand")
        raise UserError(
            f"{at}demand: give requests_per_s or tokens_per_s, not both (got {rps:g} requests/s and {tps:g} tokens/s)."
        )
    return float(rps) if rps is not None else None if tps is None else float(tps) / v["workload.osl"]


def _float(x: Any) -> float | None:
    return None if x is None else float(x)


def to_request(spec: Spec) -> SurfaceRequest:
    """The cost-model request for a spec."""
    return spec.request


def to_problem(spec: Spec, surfaces: Any) -> Problem:
    """The solver's problem for a spec and the surfaces built from to_request(spec)."""
    return Problem(
        surfaces=surfaces,
        total_gpus=spec.total_gpus,
        sla=spec.sla,
        constraints=spec.constraints,
        modes=spec.request.modes,
        time_limit_s=spec.time_limit_s,
        seed=spec.seed,
        top_n=spec.top_n,
    )


if __name__ == "__main__":
    SCHEMA_PATH.write_text(json.dumps(schema(), indent=2, ensure_ascii=False) + "\n")
