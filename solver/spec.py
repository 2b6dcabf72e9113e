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
from costmodel import Quant, SearchSpace, SurfaceRequest, Workload, context_tokens, mtp_settings
from costmodel import priced_moe_kernel, token_budget
from costmodel import is_regular
from solver.errors import UserError
from solver.grid import check_grid
from solver.problem import Constraints, Problem, Sla, Topology
from solver.specfields import FLAGS, MOE_DP, NATIVE_QUANT, SCHEMA_PATH, schema

# Loader is also this module's API (solver.web reads with it)
from solver.specyaml import Loader, YamlLimitError, brief, clip, parse, read_yaml  # noqa: F401
from solver.specyaml import show as _show
from solver.speckeys import Length, SlaKeys, SpecKeys
from solver.validation import Where, check


@dataclasses.dataclass(frozen=True)
class Spec:
    """A validated spec, every default filled in: the cost-model request plus the solver's inputs."""

    model: str  # as resolved: registry id or absolute path of a config.json
    arch: ModelArch
    request: SurfaceRequest
    total_gpus: int | None  # None only for a spec sized by demand or pools (solver.cluster sets it per member)
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

    def _moe_kernel(self, system: str) -> str | None:
        """The MoE kernel priced on ``system`` (at EP 1): its name, ``default`` for the engine's own; None for a
        dense model."""
        r = self.request
        if not self.arch.is_moe:
            return None
        return priced_moe_kernel(system, r.backend, r.version, self.arch, r.quant, r.moe_backend) or "default"

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
            "max_num_tokens": token_budget(r),
            "moe_backend": self._moe_kernel(r.system),
            "batch_wait": [r.batch_wait_iters, r.batch_wait_max_tokens_ratio],
            "decode_moe_backend": self._moe_kernel(r.decode_system) if r.decode_system else None,
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


def _check_data(k: SpecKeys, version: str, where: Where) -> None:
    """Measured data exist for the engine version on each system."""
    from costmodel import data_dir

    for key, system in (("system", k.system), ("decode_system", k.decode_system)):
        if not system:
            continue
        have = sorted(p.name for p in (data_dir() / "perf" / system / k.backend).glob("*"))
        if version not in have:
            raise UserError(
                f"{where('backend_version', 'backend', key)}backend_version: no measured data for {k.backend} "
                f"{version} on {system} ({key}); measured: {', '.join(have) or 'none'}."
            )


def _check_batch_wait(k: SpecKeys, where: Where) -> None:
    """serving.batch_wait_*: an engine setting only the engines whose file lists batch waiting have (TRT-LLM)."""
    from costmodel import engine_rules

    s = k.serving
    if (s.batch_wait_iters or s.batch_wait_max_tokens_ratio) and not engine_rules(k.backend).batch_waiting:
        key = "serving.batch_wait_iters" if s.batch_wait_iters else "serving.batch_wait_max_tokens_ratio"
        raise UserError(
            f"{where(key)}{key}: {k.backend} has no batch waiting (TRT-LLM's batch_wait_timeout_iters and "
            "batch_wait_max_tokens_ratio); drop the key or set it to 0, or use backend trtllm."
        )


def _check_moe_backend(k: SpecKeys, version: str, arch: ModelArch, quant: Quant, where: Where) -> None:
    """serving.moe_backend, when it names a kernel: one the engine can select, measured for this model's experts at
    the priced dtype on each system, or for any experts at that dtype where the engine file reads the kernel's table
    for other experts (vLLM MARLIN); unset, the recipe takes a kernel only where measured; ``default`` needs no
    data."""
    from costmodel import engine_rules, moe_kernel_dtypes, priced_quant

    name = k.serving.moe_backend
    if name is None or name == "default":
        return
    at = f"{where('serving.moe_backend')}serving.moe_backend: {name}"
    kernels = engine_rules(k.backend).moe_kernels
    if name not in kernels:
        raise UserError(
            f"{at} is a kernel {k.backend} cannot select"
            + (
                f" (it selects {', '.join(kernels)})"
                if kernels
                else " (the key selects TRT-LLM's moe_config.backend and vLLM's MoE kernel switches)"
            )
            + "; drop the key, or write `default` for the engine's own kernel."
        )
    if not arch.is_moe:
        raise UserError(f"{at} selects an MoE kernel, but {arch.name} has no experts; drop the key.")
    for key, system in (("system", k.system), ("decode_system", k.decode_system)):
        if not system:
            continue
        have = moe_kernel_dtypes(system, k.backend, version, arch, name)
        moe = priced_quant(system, k.backend, version, arch, quant)[0].moe
        if moe not in have:
            raise UserError(
                f"{at} is not measured for {arch.name}'s {moe} experts on {system}"
                + (" (the decode system)" if key == "decode_system" else "")
                + f" (measured there for {', '.join(have) + ' experts' if have else 'none of this model'}); leave "
                "it unset for the recipe's choice, or write `default`."
            )


def _quant(k: SpecKeys, version: str, given: frozenset[str], arch: ModelArch, where: Where) -> tuple[Quant, str]:
    """The quantization priced (the spec's, else the checkpoint's and the engine's defaults), and a note when the
    expert dtype is the engine's default for this GPU ("" when not)."""
    from costmodel import engine_rules
    from costmodel import load_system

    q, note = k.quantization, ""
    gemm, moe = NATIVE_QUANT.get(arch.native_weight_dtype, ("bfloat16", "bfloat16"))
    kv = _recipe_kv(k, version, arch)  # read even when the spec gives kv_cache: broken data fails validation alike
    quant = Quant(
        gemm=q.gemm or gemm,
        kv_cache=q.kv_cache or kv,
        attention=q.attention or "bfloat16",
        moe=q.moe or moe,
    )
    if arch.is_moe and "quantization.moe" not in given:  # the expert kernel the engine runs by default on this GPU
        rule = engine_rules(k.backend).default_moe(arch, load_system(k.system).sm_version)
        if rule:
            quant = dataclasses.replace(quant, moe=rule.moe)
            how = f"set by {', '.join(f'{n}={x}' for n, x in rule.env)} on every worker" if rule.env else "its default"
            note = (
                f"experts {rule.moe}, the {k.backend} recipe for {arch.native_weight_dtype} "
                f"experts on {k.system}, {how} ({rule.source})"
            )
    for sysname, comp in ((s, c) for s in (k.system, k.decode_system) if s for c in ("gemm", "moe")):
        # Only an explicit choice is an error: for defaults the cost model substitutes a measured dtype.
        dtype = getattr(quant, comp)
        if f"quantization.{comp}" in given and not load_system(sysname).supports(dtype):
            at = where(f"quantization.{comp}", "system" if sysname == k.system else "decode_system")
            raise UserError(
                f"{at}quantization.{comp}: {dtype} needs FP4 tensor "
                f"cores, which {sysname} lacks (native weights of {arch.name}: {arch.native_weight_dtype})"
                "; pick fp8_block, fp8 or bfloat16, or a Blackwell system (b200_sxm, gb200)."
            )
    return quant, note


def _search(k: SpecKeys, given: frozenset[str], arch: ModelArch, where: Where) -> SearchSpace:
    """The grid the cost model evaluates: the search keys, attention DP only for MoE models, each key narrowed to
    its constraints.fixed value (no GPUs-per-worker cap yet: spec_from_raw sets it)."""
    s, fixed = k.search, k.constraints.fixed
    for key, value in (
        ("search.dp", s.dp),
        ("search.moe_ep", s.moe_ep),
        ("constraints.fixed.dp", fixed.dp),
        ("constraints.fixed.moe_ep", fixed.moe_ep),
        ("constraints.fixed.moe_tp", fixed.moe_tp),
    ):
        if not arch.is_moe and key in given and value not in ([1], 1):
            raise UserError(
                f"{where(key)}{key}: {arch.name} is a dense model, so attention data parallelism and "
                f"expert parallelism do not apply; got {value}, use 1 or drop the key."
            )

    def grid(name: str, values: list[int]) -> tuple[int, ...]:
        """values, narrowed to constraints.fixed's value of that name where one is given."""
        one = getattr(fixed, name)
        if one is None:
            return tuple(values)
        if f"search.{name}" in given and one not in values:
            raise UserError(
                f"{where('constraints.fixed.' + name)}constraints.fixed.{name} is {one} but search.{name} "
                f"{values} does not include it; add {one} to search.{name} or drop one."
            )
        return (one,)

    return SearchSpace(
        tp=grid("tp", s.tp),
        pp=grid("pp", s.pp),
        dp=grid("dp", s.dp or (list(MOE_DP) if arch.is_moe else [1])),
        moe_ep=grid("moe_ep", s.moe_ep or []) if s.moe_ep is not None or fixed.moe_ep is not None else None,
        max_batch_size=s.max_batch_size,
        batch_sizes=tuple(s.batch_sizes) if s.batch_sizes is not None else None,
    )


def _check_replicas(k: SpecKeys, where: Where) -> None:
    r = k.constraints.replicas
    if (r.max or math.inf) < r.min:
        raise UserError(f"{where('constraints.replicas')}constraints.replicas: min {r.min} exceeds max {r.max}.")


def _check_context(k: SpecKeys, isl: int, osl: int, arch: ModelArch, where: Where) -> None:
    """One isl + osl request fits the model's context window, and workload.max_context_tokens holds it and fits
    the window too (isl, osl: the workload's mean lengths)."""
    if isl + osl > arch.max_context > 0:
        at = where("workload")  # the flags that gave isl or osl, else the file's line
        raise UserError(
            f"{at}workload: isl + osl = {isl + osl} tokens "
            f"exceeds {arch.name}'s context window of {arch.max_context}; shorten isl or osl."
        )
    longest, need = k.workload.max_context_tokens, isl + osl
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


def _model_names(model: str, arch: ModelArch, ckpt: Checkpoint, k: SpecKeys, where: Where) -> tuple[str, str]:
    """(model_path, served_model_name): the spec's; else the checkpoint providing the priced quantization; for a
    local model its folder, served under the config's own HF id (_name_or_path) or, without one, the folder's name."""
    for key, name in (("model_path", k.model_path), ("served_model_name", k.served_model_name)):
        if name is not None and not name.strip():
            raise UserError(
                f"{where(key)}{key}: an empty name; give an HF id such as Qwen/Qwen3-32B"
                f"{' or a folder on the serving nodes' * (key == 'model_path')}, or drop the key to use "
                "the model's own."
            )
    p = Path(model)
    if not (p.is_absolute() and p.exists()):  # a registry model: the checkpoint's HF id
        return k.model_path or ckpt.hf_id, k.served_model_name or ckpt.hf_id
    folder = p.parent if p.is_file() else p
    own = arch.name if not arch.name.startswith(("/", ".", "~")) else folder.name  # a path is no name to serve
    return k.model_path or str(folder), k.served_model_name or own


def _recipe_kv(k: SpecKeys, version: str, arch: ModelArch) -> str:
    """The default KV-cache dtype: the engine recipe's (bf16 for MLA where the backend lacks a fast fp8-KV kernel)."""
    if not arch.is_mla:
        return "fp8"
    from costmodel import default_kv_cache

    return default_kv_cache(k.system, k.backend, version, arch)


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
    from costmodel import engine_rules, node_size

    where = where or Where(source)
    checked = check(raw, where)
    k, given = checked.keys, checked.given
    model, arch = _resolve_model(k.model, base_dir, where, local_files)
    workload = _workload(k, given, arch, where, base_dir)
    isl, osl = max(1, round(workload.isl.mean)), max(1, round(workload.osl.mean))  # what the cost model prices
    version = k.backend_version or engine_rules(k.backend).version
    _check_data(k, version, where)
    _check_context(k, isl, osl, arch, where)
    quant, note = _quant(k, version, given, arch, where)
    _check_moe_backend(k, version, arch, quant, where)
    _check_batch_wait(k, where)
    search = _search(k, given, arch, where)
    _check_replicas(k, where)
    checkpoint = _checkpoint(model, arch, quant, k, version)
    # Price the weights the engines load: the groups that checkpoint keeps in bf16
    arch = dataclasses.replace(arch, high_precision=checkpoint.high_precision)
    path, served = _model_names(model, arch, checkpoint, k, where)
    c = k.constraints
    caps = {
        key: cap
        for key, cap in (
            ("search.max_gpus_per_worker", k.search.max_gpus_per_worker),
            ("constraints.max_gpus_per_worker", c.max_gpus_per_worker),
        )
        if cap
    }
    topology = None
    if "constraints.topology" in given:
        t = c.topology
        topology = Topology(
            node_size(k.system, t.gpus_per_node), t.worker_within_node, t.max_nodes, t.separate_prefill_decode_nodes
        )
        if topology.worker_within_node:  # no bigger worker can be placed
            caps["constraints.topology.gpus_per_node (worker_within_node)"] = topology.gpus_per_node
    demand = _demand(k, osl, where)
    search = dataclasses.replace(search, max_gpus_per_worker=min(caps.values()) if caps else None)
    constraints = Constraints(
        topology,
        c.replicas.min,
        c.replicas.max,
        c.max_gpus_per_worker,
        _given_values(c.fixed),
        _given_values(c.role_gpu_budget),
    )
    request = SurfaceRequest(
        model=arch,
        system=k.system,
        backend=k.backend,
        version=version,
        isl=isl,
        osl=osl,
        quant=quant,
        search=search,
        modes=tuple(k.modes),
        decode_system=k.decode_system,
        gpus_per_node=c.topology.gpus_per_node,
        mtp_draft=k.speculative.mtp_draft_tokens,
        mtp_accept=_float(k.speculative.mtp_acceptance),
        calibration=_load_calibration(k.calibration, base_dir, where, local_files),
        max_context=k.workload.max_context_tokens,
        total_gpus=k.total_gpus,
        scheduler_recv_interval=k.serving.scheduler_recv_interval,
        max_num_tokens=k.serving.max_num_tokens,
        moe_backend=k.serving.moe_backend,
        batch_wait_iters=k.serving.batch_wait_iters,
        batch_wait_max_tokens_ratio=float(k.serving.batch_wait_max_tokens_ratio),
        length_range_ratio=float(k.workload.length_range_ratio),
        prefill_utilisation=float(k.serving.prefill_utilisation),
        workload=None if workload.zero_variance else workload,
    )
    check_grid(request, caps, where)
    return Spec(
        model=model,
        arch=arch,
        request=request,
        total_gpus=k.total_gpus,
        sla=_sla(k.sla),
        constraints=constraints,
        time_limit_s=float(k.solver.time_limit_s),
        seed=k.solver.seed,
        top_n=k.solver.top_n,
        source=source,
        demand_rps=demand,
        weight=float(k.weight or 1.0),
        name=k.name,
        recipe_notes=(note,) if note else (),
        checkpoint=checkpoint,
        model_path=path,
        served_model_name=served,
        raw=_as_solved(raw, model, k.calibration, base_dir),
    )


def _given_values(section: Any) -> dict[str, Any]:
    """A section's keys that hold a value (constraints.fixed, constraints.role_gpu_budget), in FIELDS order."""
    return {key: x for key, x in dataclasses.asdict(section).items() if x is not None}


def _sla(s: SlaKeys) -> Sla:
    """The SLA: numbers bound means; a mapping's percentile keys become (level, ms) bounds."""
    means, pct = {}, {}
    for key, x in (("ttft_ms", s.ttft_ms), ("tpot_ms", s.tpot_ms)):
        if isinstance(x, dict):
            means[key] = x.get("mean")
            pct[key] = tuple(sorted((int(p[1:]), float(ms)) for p, ms in x.items() if p != "mean"))
        else:
            means[key] = None if x is None else float(x)
    return Sla(
        ttft_ms=means["ttft_ms"],
        tpot_ms=means["tpot_ms"],
        min_tokens_per_s_per_user=_float(s.min_tokens_per_s_per_user),
        max_request_latency_ms=_float(s.max_request_latency_ms),
        ttft_pct=pct.get("ttft_ms", ()),
        tpot_pct=pct.get("tpot_ms", ()),
    )


def _workload(k: SpecKeys, given: frozenset[str], arch: ModelArch, where: Where, base: Path | None) -> Workload:
    """The workload's distributions and arrivals (costmodel.workload).

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

    w = k.workload
    pts, trace, source = w.distribution_points, None, ""
    if w.trace is not None:
        for key in ("workload.isl", "workload.osl"):
            if key in given:
                raise UserError(f"{where(key)}{key}: workload.trace gives the lengths; drop {key} or the trace.")
        path = (base or Path.cwd()) / Path(w.trace).expanduser()
        try:
            trace = read_trace(path, pts)
        except WorkloadError as e:
            raise UserError(f"{where('workload.trace')}workload.trace: {e}.") from None
        a = trace.arrival
        source = (
            f"trace {path.name}: {trace.requests:,} requests over {trace.span_s:,.0f} s "
            f"({a.rate_per_s:,.3g} requests/s, inter-arrival CV {a.cv:.2f})"
        )

    def dist(key: str, x: Length):
        try:
            if trace is not None:
                return trace.isl if key == "workload.isl" else trace.osl
            if isinstance(x, dict) and "lognormal" in x:
                return lognormal(x["lognormal"]["mean"], x["lognormal"]["p90"], pts)
            return histogram(x["histogram"]) if isinstance(x, dict) else fixed(int(x))
        except WorkloadError as e:
            raise UserError(f"{where(key)}{key}: {e}.") from None

    isl, osl = dist("workload.isl", w.isl), dist("workload.osl", w.osl)
    limit = w.max_context_tokens or (arch.max_context if arch.max_context > 0 else None)
    if limit and not (isl.fixed and osl.fixed):
        osl = osl.clipped(limit - 1)
        if limit - osl.longest < 1:
            raise UserError(
                f"{where('workload.osl')}workload.osl: the longest answer ({osl.longest:,} tokens) leaves no "
                f"room for a prompt in the context limit of {limit:,} tokens; shorten the OSL."
            )
        isl = isl.clipped(limit - osl.longest)
    proc, rate, cv = w.arrival.process, w.arrival.rate_per_s, w.arrival.cv
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
    return Workload(isl, osl, float(w.prefix_hit_rate), Arrival(proc, _float(rate), cv), source)


def _checkpoint(model: str, arch: ModelArch, quant: Quant, k: SpecKeys, version: str) -> Checkpoint:
    """The checkpoint providing the quantization as the cost model prices it on the (first) system."""
    from costmodel import priced_quant
    from solver.errors import user_error_types

    try:
        quant, _ = priced_quant(k.system, k.backend, version, arch, quant)
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


def _demand(k: SpecKeys, osl: int, where: Where) -> float | None:
    """demand.* as requests/s (tokens/s are output tokens, so / osl, the mean answer length); None when absent."""
    rps, tps, rate = k.demand.requests_per_s, k.demand.tokens_per_s, k.workload.arrival.rate_per_s
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
    return float(rps) if rps is not None else None if tps is None else float(tps) / osl


def _float(x: Any) -> float | None:
    return None if x is None else float(x)


def to_request(spec: Spec) -> SurfaceRequest:
    """The cost-model request for a spec."""
    return spec.request


def to_problem(spec: Spec, surfaces: Any) -> Problem:
    """The solver's problem for a spec and the surfaces built from to_request(spec)."""
    # Validation requires total_gpus unless demand or pools size the deployment, and solver.cluster gives each
    # member its own: a spec reaching here without one is a programming error.
    assert spec.total_gpus is not None, "to_problem needs a spec with total_gpus"
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
