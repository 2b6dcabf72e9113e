"""The checkpoint an engine loads to run a priced quantization: a registry release of the same model
(same ``base_model`` lineage, same architecture) whose weights are in the priced formats, or, when none is
known, the model to quantize and into what.

A checkpoint's weight formats are its GEMM weights and its routed experts' (MXFP4 and INT4 releases
quantize only the experts); fp8 per-tensor and fp8 block-scaled count as the same format when no exact
release exists (the engines run either with the fp8 kernels priced).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from costmodel.arch import ModelArch, base_model, list_models, load_model
from costmodel.config import Quant

# Weight format of each priced dtype (costmodel.config GEMM_DTYPES / MOE_DTYPES).
WEIGHT_FORMAT = {
    "bfloat16": "bf16",
    "fp8": "fp8",
    "fp8_block": "fp8_block",
    "nvfp4": "nvfp4",
    "w4a16_mxfp4": "mxfp4",
    "w4a8_mxfp4_mxfp8": "mxfp4",
    "int4_wo": "int4",
}
# (GEMM weights, routed-expert weights) of a checkpoint by its native dtype (ModelArch.native_weight_dtype).
CHECKPOINT_FORMATS = {
    "bf16": ("bf16", "bf16"),
    "fp16": ("bf16", "bf16"),
    "fp32": ("bf16", "bf16"),
    "fp8_block": ("fp8_block", "fp8_block"),
    "fp8": ("fp8", "fp8"),
    "nvfp4": ("nvfp4", "nvfp4"),
    "mxfp4": ("bf16", "mxfp4"),
    "int4": ("bf16", "int4"),
}
TOOLS = "NVIDIA ModelOpt or llm-compressor"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What the engines load. hf_id: the checkpoint (found: True), else the model to start from; provides:
    the priced weight formats ("gemm fp8_block", "gemm nvfp4, moe nvfp4"); note: "" when found, else what to
    produce; high_precision: the weight groups it keeps in bf16 (ModelArch.high_precision)."""

    hf_id: str
    provides: str
    found: bool
    note: str = ""
    high_precision: frozenset[str] = frozenset()

    def summary(self) -> dict[str, str | None]:
        """{hf_id, provides, note} as plain JSON values (note None when found)."""
        return {"hf_id": self.hf_id, "provides": self.provides, "note": self.note or None}


def _formats(a: ModelArch) -> tuple[str, str]:
    return CHECKPOINT_FORMATS.get(a.native_weight_dtype, (a.native_weight_dtype,) * 2)


def _shape(a: ModelArch) -> ModelArch:
    """The architecture without what quantization changes (name, weight dtype, bf16 groups)."""
    return replace(a, name="", native_weight_dtype="", high_precision=frozenset())


def _fp8(f: str) -> str:
    return "fp8" if f.startswith("fp8") else f


def resolve_checkpoint(model: str, arch: ModelArch, quant: Quant) -> Checkpoint:
    """The checkpoint providing the priced quantization (``quant``: as resolve_quant prices it) of ``model``
    (a registry id or alias, or a local config path) whose architecture is ``arch``."""
    want = (WEIGHT_FORMAT.get(quant.gemm, quant.gemm), WEIGHT_FORMAT.get(quant.moe, quant.moe) if arch.is_moe else "")
    provides = f"gemm {quant.gemm}" + (f", moe {quant.moe}" if arch.is_moe else "")
    root = base_model(model)
    family = [arch] + sorted(
        (load_model(h) for h, _ in list_models() if h != arch.name and base_model(h) == root), key=lambda a: a.name
    )
    family = [a for a in family if _shape(a) == _shape(arch)]
    have = [(a, _formats(a)[0], _formats(a)[1] if arch.is_moe else "") for a in family]
    for same in (lambda x, y: x == y, lambda x, y: _fp8(x) == _fp8(y)):
        hit = next((a for a, g, m in have if same(g, want[0]) and same(m, want[1])), None)
        if hit is not None:
            return Checkpoint(hit.name, provides, True, high_precision=hit.high_precision)
    start = next((a.name for a, g, m in have if (g, m or "bf16") == ("bf16", "bf16")), model)
    what = f"{quant.gemm} GEMM weights" + (f" and {quant.moe} experts" if arch.is_moe else "")
    note = (
        f"no known checkpoint of {root} has {what}: produce one (quantize {start} to {what}, e.g. with "
        f"{TOOLS}) and load it instead of {start}"
    )
    return Checkpoint(start, provides, False, note)
