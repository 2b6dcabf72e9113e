"""Run the whole import: wheel → data/systems/*.yaml and data/perf/<system>/<backend>/<version>/."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import yaml

from costmodel.importer.convert import (
    ROOT,
    Wheel,
    convert_system_wide,
    convert_table,
    write_csv_gz,
)
from costmodel.engines import engine_rules
from costmodel.importer.sources import SOURCE_PACKAGE, SOURCE_VERSION, TABLES
from costmodel.shipped import BACKENDS, SYSTEMS


def convert_system_yaml(raw: dict, name: str) -> dict:
    """Our hardware record: units in the key names, values as in the source YAML."""
    gpu, node, misc = raw["gpu"], raw["node"], raw.get("misc", {})
    flops = {
        dt: gpu[f"{src}_tc_flops"]
        for dt, src in (("bf16", "bfloat16"), ("fp8", "fp8"), ("int8", "int8"), ("fp4", "fp4"))
        if f"{src}_tc_flops" in gpu
    }
    return {
        "name": name,
        "gpu": {
            "mem_bytes": int(gpu["mem_capacity"]),
            "mem_bw_bytes_per_s": float(gpu["mem_bw"]),
            "mem_bw_efficiency": float(gpu.get("mem_bw_empirical_scaling_factor", 1.0)),
            "mem_latency_s": float(gpu.get("mem_empirical_constant_latency", 0.0)),
            "tc_flops_per_s": {k: float(v) for k, v in flops.items()},
            "power_w": float(gpu.get("power", 0)),
            "sm_version": int(gpu["sm_version"]),
        },
        "node": {
            "gpus_per_node": int(node["num_gpus_per_node"]),
            "gpus_per_rack": int(node.get("num_gpus_per_rack", node["num_gpus_per_node"])),
            "intra_node_bw_bytes_per_s": float(node["intra_node_bw"]),
            "inter_node_bw_bytes_per_s": float(node["inter_node_bw"]),
            "inter_rack_bw_bytes_per_s": float(node.get("inter_rack_bw", node["inter_node_bw"])),
            "pcie_bw_bytes_per_s": float(node["pcie_bw"]),
            "p2p_latency_s": float(node["p2p_latency"]),
        },
        "memory": {
            "nccl_reserved_bytes": {int(k): int(v) for k, v in misc.get("nccl_mem", {}).items()},
            "other_reserved_bytes": int(misc.get("other_mem", 0)),
        },
        "nccl_version": str(misc["nccl_version"]),
    }


def moe_shapes() -> frozenset[tuple[int, int, int, int]]:
    """(hidden, expert inter, topk, experts) of every MoE model we ship: the MoE rows kept."""
    from costmodel.arch import list_models, load_model

    shapes = set()
    for hf_id, _ in list_models():
        a = load_model(hf_id)
        if a.num_experts:
            shapes.add((a.hidden, a.moe_intermediate, a.topk, a.num_experts))
    return frozenset(shapes)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def import_all(
    wheel_path: str,
    out: Path,
    log=print,
    systems: tuple[str, ...] = SYSTEMS,
    backends: dict[str, str] | None = None,
    shapes: frozenset | None = None,
) -> None:
    """Convert everything into a temporary folder, then swap it in: no half-written data. ``backends``: backend ->
    release to convert; None: every engine at the release of its engine file (``tables.version``)."""
    backends = {b: engine_rules(b).version for b in BACKENDS} if backends is None else backends
    wheel = Wheel(wheel_path)
    wheel_sha = _sha(Path(wheel_path).read_bytes())
    shapes = moe_shapes() if shapes is None else shapes
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="aicsolve-import-", dir=out))
    try:
        for system in systems:
            raw_yaml = wheel.read(f"{ROOT}{system}.yaml")
            sysrec = convert_system_yaml(yaml.safe_load(raw_yaml), system)
            sysrec["source"] = {"path": f"systems/{system}.yaml", "sha256": _sha(raw_yaml)}
            (tmp / "systems").mkdir(exist_ok=True)
            (tmp / "systems" / f"{system}.yaml").write_text(yaml.safe_dump(sysrec, sort_keys=False))
            sm = sysrec["gpu"]["sm_version"]
            for spec in (t for t in TABLES if t.system_wide):
                merged, prov = convert_system_wide(wheel, spec, system, sysrec["nccl_version"])
                _write(tmp / "perf" / system / "nccl" / sysrec["nccl_version"], {spec: (merged, prov)})
            for backend, version in backends.items():
                tables = {}
                for spec in (t for t in TABLES if not t.system_wide):
                    res = convert_table(wheel, spec, system, backend, version, sm, shapes)
                    if res is None:
                        if not spec.optional:
                            raise RuntimeError(f"{system}/{backend}/{version}: required table {spec.name} missing")
                        continue
                    tables[spec] = res
                _write(tmp / "perf" / system / backend / version, tables)
                log(f"{system}/{backend}/{version}: {sum(len(m) for m, _ in tables.values())} rows")
        source = {
            "package": SOURCE_PACKAGE,
            "version": SOURCE_VERSION,
            "wheel": Path(wheel_path).name,
            "wheel_sha256": wheel_sha,
            "license": "Apache-2.0",
            "copyright": "Copyright (c) 2025-2026 NVIDIA CORPORATION & AFFILIATES",
        }
        (tmp / "perf" / "SOURCE.json").write_text(json.dumps(source, indent=1, sort_keys=True) + "\n")
        for sub in ("systems", "perf"):
            dest = out / sub
            if dest.exists():
                shutil.rmtree(dest)
            (tmp / sub).rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write(folder: Path, tables: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, object]] = {"tables": {}}
    for spec, (merged, prov) in sorted(tables.items(), key=lambda kv: kv[0].name):
        blob = write_csv_gz(spec, merged)
        fname = f"{spec.name}.csv.gz"
        (folder / fname).write_bytes(blob)
        manifest["tables"][spec.name] = {
            "file": fname,
            "sha256": _sha(blob),
            "rows": len(merged),
            "keys": [ours for _, ours in spec.keys],
            "values_ms": [v.name for v in spec.values],
            "sources": prov,
        }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
