"""Hardware facts of one system (GPU type + node), read from data/systems/<name>.yaml."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

import yaml

from costmodel.paths import data_dir

# Bytes per element, and which tensor-core rate a dtype runs at.
DTYPE_BYTES = {"bfloat16": 2.0, "float16": 2.0, "fp8": 1.0, "fp8_block": 1.0, "nvfp4": 0.5625,
               "int4_wo": 0.5625, "w4a16_mxfp4": 0.53125, "w4a8_mxfp4_mxfp8": 0.53125, "int8": 1.0}
DTYPE_RATE = {"bfloat16": "bf16", "float16": "bf16", "fp8": "fp8", "fp8_block": "fp8", "nvfp4": "fp4",
              "int4_wo": "bf16", "w4a16_mxfp4": "bf16", "w4a8_mxfp4_mxfp8": "fp8", "int8": "int8"}


class UnknownSystemError(ValueError):
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


@lru_cache(maxsize=16)
def load_system(name: str) -> System:
    """Load a system by name; unknown names get the nearest valid ones in the error."""
    path = data_dir() / "systems" / f"{name}.yaml"
    if not path.exists():
        known = list_systems()
        near = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(near)}?" if near else ""
        raise UnknownSystemError(f"unknown system '{name}'.{hint} Known systems: {', '.join(known)}.")
    raw = yaml.safe_load(path.read_text())
    g, n, m = raw["gpu"], raw["node"], raw["memory"]
    return System(
        name=raw["name"], mem_bytes=g["mem_bytes"], mem_bw_bytes_per_s=g["mem_bw_bytes_per_s"],
        mem_bw_efficiency=g["mem_bw_efficiency"], mem_latency_s=g["mem_latency_s"],
        tc_flops_per_s=dict(g["tc_flops_per_s"]), sm_version=g["sm_version"],
        gpus_per_node=n["gpus_per_node"], gpus_per_rack=n["gpus_per_rack"],
        intra_node_bw_bytes_per_s=n["intra_node_bw_bytes_per_s"],
        inter_node_bw_bytes_per_s=n["inter_node_bw_bytes_per_s"],
        inter_rack_bw_bytes_per_s=n["inter_rack_bw_bytes_per_s"], p2p_latency_s=n["p2p_latency_s"],
        nccl_reserved_bytes={int(k): int(v) for k, v in m["nccl_reserved_bytes"].items()},
        other_reserved_bytes=m["other_reserved_bytes"], nccl_version=raw["nccl_version"],
    )
