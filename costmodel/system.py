"""Hardware facts of one system (GPU type + node), read from data/systems/<name>.yaml."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from functools import lru_cache

import yaml

from costmodel.errors import CostModelError
from costmodel.paths import data_dir

# Bytes per element, and which tensor-core rate a dtype runs at.
DTYPE_BYTES = {
    "bfloat16": 2.0,
    "float16": 2.0,
    "fp8": 1.0,
    "fp8_block": 1.0,
    "nvfp4": 0.5625,
    "int4_wo": 0.5625,
    "w4a16_mxfp4": 0.53125,
    "w4a8_mxfp4_mxfp8": 0.53125,
    "int8": 1.0,
}
DTYPE_RATE = {
    "bfloat16": "bf16",
    "float16": "bf16",
    "fp8": "fp8",
    "fp8_block": "fp8",
    "nvfp4": "fp4",
    "int4_wo": "bf16",
    "w4a16_mxfp4": "bf16",
    "w4a8_mxfp4_mxfp8": "fp8",
    "int8": "int8",
}


class UnknownSystemError(CostModelError, ValueError):
    """The system name is not one we have data for."""


@dataclass(frozen=True, slots=True)
class System:
    """GPU and node facts; units in the names."""

    name: str
    mem_bytes: int
    mem_bw_bytes_per_s: float
    mem_bw_efficiency: float
    mem_latency_s: float
    tc_flops_per_s: dict[str, float]
    sm_version: int
    gpus_per_node: int
    gpus_per_rack: int
    intra_node_bw_bytes_per_s: float
    inter_node_bw_bytes_per_s: float
    inter_rack_bw_bytes_per_s: float
    p2p_latency_s: float
    nccl_reserved_bytes: dict[int, int]
    other_reserved_bytes: int
    nccl_version: str

    def flops(self, dtype: str) -> float:
        """Peak tensor-core FLOP/s for a compute dtype (bf16 if the system lacks the faster rate)."""
        rate = DTYPE_RATE.get(dtype, "bf16")
        return self.tc_flops_per_s.get(rate, self.tc_flops_per_s["bf16"])

    def supports(self, dtype: str) -> bool:
        """Whether the system has a tensor-core rate for this dtype."""
        return DTYPE_RATE.get(dtype, "bf16") in self.tc_flops_per_s

    def link_bw(self, num_gpus: int) -> float:
        """Per-GPU one-direction bandwidth of the slowest link a group of num_gpus spans."""
        if num_gpus <= self.gpus_per_node:
            return self.intra_node_bw_bytes_per_s
        if num_gpus <= self.gpus_per_rack:
            return self.inter_node_bw_bytes_per_s
        return self.inter_rack_bw_bytes_per_s


def list_systems() -> list[str]:
    """Names of the systems with hardware data."""
    return sorted(p.stem for p in (data_dir() / "systems").glob("*.yaml"))


def node_size(system: str, given: int | None = None) -> int:
    """GPUs per node that workers are placed on: the spec's constraints.topology.gpus_per_node (or a cluster
    pool's) when given, else the system's own node (data/systems/<system>.yaml). The one place this default is
    decided."""
    return given or load_system(system).gpus_per_node


@lru_cache(maxsize=16)
def load_system(name: str) -> System:
    """Load a system by name; unknown names get the nearest valid ones in the error."""
    path = data_dir() / "systems" / f"{name}.yaml"
    if not path.exists():
        known = list_systems()
        near = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(near)}?" if near else ""
        raise UnknownSystemError(f"unknown system '{name}'.{hint} Known systems: {', '.join(known)}.")
    return _system_from_file(path)


def _system_from_file(path) -> System:
    """A System from one data/systems YAML; CorruptDataError naming the file and the field on any damage."""
    from costmodel.files import BadInputFileError, read_text
    from costmodel.tables import CorruptDataError

    def bad(why: str) -> CorruptDataError:
        return CorruptDataError(f"data file {path} {why}; reinstall aicsolve or rerun the importer")

    try:
        raw = yaml.safe_load(read_text(path, 1 << 20, "system file"))
    except (BadInputFileError, yaml.YAMLError, RecursionError) as e:
        raise bad(f"is unreadable ({str(e).splitlines()[0][:160]})") from None

    def checked(keys: tuple[str, ...], integer: bool) -> int | float:
        v: object = raw
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not math.isfinite(v)
            or v < 0
            or (integer and v != int(v))
        ):
            raise bad(f"has no valid '{'.'.join(keys)}' ({'a whole' if integer else 'a'} number ≥ 0 expected)")
        return v

    def num(*keys: str) -> float:
        return float(checked(keys, False))

    def whole(*keys: str) -> int:
        return int(checked(keys, True))

    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise bad("has no 'name' string")
    gpu, mem = raw.get("gpu"), raw.get("memory")
    rates = gpu.get("tc_flops_per_s") if isinstance(gpu, dict) else None
    nccl = mem.get("nccl_reserved_bytes") if isinstance(mem, dict) else None
    if not isinstance(rates, dict) or "bf16" not in rates:
        raise bad("has no 'gpu.tc_flops_per_s' mapping with a bf16 rate")
    if not isinstance(nccl, dict) or not nccl:
        raise bad("has no 'memory.nccl_reserved_bytes' mapping")
    flops = {str(k): num("gpu", "tc_flops_per_s", k) for k in rates}
    if flops["bf16"] <= 0:
        raise bad("has a 'gpu.tc_flops_per_s.bf16' of 0")
    try:
        reserved = {int(k): whole("memory", "nccl_reserved_bytes", k) for k in nccl}
    except (TypeError, ValueError):
        raise bad("has 'memory.nccl_reserved_bytes' keys that are not GPU counts") from None
    positive = {
        k: num(*k.split("."))
        for k in (
            "gpu.mem_bytes",
            "gpu.mem_bw_bytes_per_s",
            "gpu.mem_bw_efficiency",
            "node.gpus_per_node",
            "node.gpus_per_rack",
            "node.intra_node_bw_bytes_per_s",
            "node.inter_node_bw_bytes_per_s",
            "node.inter_rack_bw_bytes_per_s",
        )
    }
    for k, v in positive.items():
        if v <= 0:
            raise bad(f"has '{k}' = 0 (a positive number expected)")
    if not isinstance(raw.get("nccl_version"), (str, int, float)):
        raise bad("has no 'nccl_version'")
    return System(
        name=raw["name"],
        mem_bytes=whole("gpu", "mem_bytes"),
        mem_bw_bytes_per_s=num("gpu", "mem_bw_bytes_per_s"),
        mem_bw_efficiency=num("gpu", "mem_bw_efficiency"),
        mem_latency_s=num("gpu", "mem_latency_s"),
        tc_flops_per_s=flops,
        sm_version=whole("gpu", "sm_version"),
        gpus_per_node=whole("node", "gpus_per_node"),
        gpus_per_rack=whole("node", "gpus_per_rack"),
        intra_node_bw_bytes_per_s=num("node", "intra_node_bw_bytes_per_s"),
        inter_node_bw_bytes_per_s=num("node", "inter_node_bw_bytes_per_s"),
        inter_rack_bw_bytes_per_s=num("node", "inter_rack_bw_bytes_per_s"),
        p2p_latency_s=num("node", "p2p_latency_s"),
        nccl_reserved_bytes=reserved,
        other_reserved_bytes=whole("memory", "other_reserved_bytes"),
        nccl_version=str(raw["nccl_version"]),
    )
