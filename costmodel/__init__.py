"""Cost model: measured op timings composed into serving latency and throughput.

This package's namespace is its public API: what the solver, the CLI and the web app may ask. Everything else
(op tables, interpolation, step and memory models, quantization fallbacks, the importer's internals) is internal
and may change without notice; tests/test_architecture.py holds `solver` to these names.

Importing this package loads no data and no numerical library: each name is looked up in its module on first use
(PEP 562), so `aicsolve --help` stays fast. Every error raised on purpose derives from CostModelError.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> (internal module, name there). Generic names get a prefix here so the package reads plainly.
_PUBLIC: dict[str, tuple[str, str]] = {
    # errors, one base class
    "CostModelError": ("errors", "CostModelError"),
    "BadArtifactsError": ("artifacts", "BadArtifactsError"),
    "BadCalibrationError": ("calibrate", "BadCalibrationError"),
    "BadCsvError": ("validate", "BadCsvError"),
    "BadInputFileError": ("files", "BadInputFileError"),
    "CorruptDataError": ("tables", "CorruptDataError"),
    "DataNotFoundError": ("paths", "DataNotFoundError"),
    "MissingDataError": ("opdb", "MissingDataError"),
    "UnknownModelError": ("errors", "UnknownModelError"),
    "UnknownSystemError": ("system", "UnknownSystemError"),
    "UnsupportedModelError": ("errors", "UnsupportedModelError"),
    "WorkloadError": ("workload", "WorkloadError"),
    # model and system registries, checkpoints, data files
    "ModelArch": ("arch", "ModelArch"),
    "load_model": ("arch", "load_model"),
    "list_models": ("arch", "list_models"),
    "registry_problems": ("arch", "registry_problems"),
    "SYSTEMS": ("shipped", "SYSTEMS"),
    "BACKENDS": ("shipped", "BACKENDS"),
    "load_system": ("system", "load_system"),
    "node_size": ("system", "node_size"),
    "list_systems": ("system", "list_systems"),
    "Checkpoint": ("checkpoint", "Checkpoint"),
    "resolve_checkpoint": ("checkpoint", "resolve_checkpoint"),
    "data_dir": ("paths", "data_dir"),
    "measurement_sample": ("paths", "measurement_sample"),
    "is_regular": ("files", "is_regular"),
    "file_kind": ("files", "file_kind"),
    "read_bytes": ("files", "read_bytes"),
    "load_table": ("tables", "load_table"),
    "verify_data": ("datacheck", "verify_data"),
    "gemm_warnings": ("plausibility", "gemm_warnings"),
    "import_all": ("importer.run", "import_all"),
    # what is priced: requests, quantization, workloads, engine rules and recipes
    "SurfaceRequest": ("config", "SurfaceRequest"),
    "SearchSpace": ("config", "SearchSpace"),
    "Quant": ("config", "Quant"),
    "GEMM_DTYPES": ("config", "GEMM_DTYPES"),
    "KV_DTYPES": ("config", "KV_DTYPES"),
    "MOE_DTYPES": ("config", "MOE_DTYPES"),
    "context_tokens": ("config", "context_tokens"),
    "mtp_settings": ("config", "mtp_settings"),
    "workload_of": ("config", "workload_of"),
    "token_budget": ("config", "token_budget"),
    "Workload": ("workload", "Workload"),
    "Arrival": ("workload", "Arrival"),
    "fixed_lengths": ("workload", "fixed"),
    "histogram_lengths": ("workload", "histogram"),
    "lognormal_lengths": ("workload", "lognormal"),
    "read_trace": ("workload", "read_trace"),
    "engine_rules": ("engines", "engine_rules"),
    "KV_MEMORY_FRACTION": ("memory", "KV_MEMORY_FRACTION"),
    "Recipe": ("recipe", "Recipe"),
    "ROLES": ("recipe", "ROLES"),
    # feasibility
    "weight_fit": ("feasibility", "weight_fit"),
    "WeightFit": ("feasibility", "WeightFit"),
    "priced_quant": ("feasibility", "priced_quant"),
    "moe_kernel_dtypes": ("feasibility", "moe_kernel_dtypes"),
    "priced_moe_kernel": ("feasibility", "priced_moe_kernel"),
    "default_kv_cache": ("feasibility", "default_kv_cache"),
    "layouts": ("layout_rules", "layouts"),
    "why_no_layout": ("layout_rules", "why_no_layout"),
    "NoLayout": ("layout_rules", "NoLayout"),
    "worker_cap": ("layout_rules", "worker_cap"),
    "WorkerCap": ("layout_rules", "WorkerCap"),
    "batch_grid": ("build", "batch_grid"),
    "PREFILL_BATCHES": ("build", "PREFILL_BATCHES"),
    # surfaces and the metrics of a chosen deployment
    "build_surfaces": ("build", "build_surfaces"),
    "build_pair_surfaces": ("build", "build_pair_surfaces"),
    "Surfaces": ("surface", "Surfaces"),
    "Candidates": ("surface", "Candidates"),
    "agg_metrics": ("surface", "agg_metrics"),
    "disagg_metrics": ("surface", "disagg_metrics"),
    "PERCENTILES": ("latency", "PERCENTILES"),
    "percentile_index": ("latency", "percentile_index"),
    # validation against measured rows, and calibration from them
    "MEASUREMENT_COLUMNS": ("validate", "COLUMNS"),
    "read_rows": ("validate", "read_rows"),
    "predict_row": ("validate", "predict_row"),
    "score_predictions": ("scoring", "score"),
    "render_scores": ("scoring", "render"),
    "scores_json": ("scoring", "as_json"),
    "CALIBRATION_MIN_ROWS": ("calibrate", "MIN_ROWS"),
    "fit_calibration": ("calibrate", "fit"),
    "apply_calibration": ("calibrate", "apply"),
    "calibration_scored_rows": ("calibrate", "scored_rows"),
    "load_calibration": ("calibrate", "load"),
    "is_artifacts_path": ("artifacts", "is_artifacts_path"),
    "read_artifact_rows": ("artifacts", "read_artifact_rows"),
    "artifacts_percentile_table": ("artifacts", "percentile_table"),
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    """Each public name, looked up in its module at every access (so a test's monkeypatch there is seen)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'costmodel' has no attribute {name!r}")
    module, attr = _PUBLIC[name]
    return getattr(importlib.import_module(f"costmodel.{module}"), attr)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


if TYPE_CHECKING:  # the same names, for type checkers (tests/test_architecture.py checks both lists agree)
    from costmodel.arch import ModelArch, list_models, load_model
    from costmodel.arch import registry_problems
    from costmodel.artifacts import BadArtifactsError, is_artifacts_path, read_artifact_rows
    from costmodel.artifacts import percentile_table as artifacts_percentile_table
    from costmodel.build import PREFILL_BATCHES, batch_grid, build_pair_surfaces, build_surfaces
    from costmodel.calibrate import MIN_ROWS as CALIBRATION_MIN_ROWS
    from costmodel.calibrate import BadCalibrationError
    from costmodel.calibrate import apply as apply_calibration
    from costmodel.calibrate import fit as fit_calibration
    from costmodel.calibrate import load as load_calibration
    from costmodel.calibrate import scored_rows as calibration_scored_rows
    from costmodel.checkpoint import Checkpoint, resolve_checkpoint
    from costmodel.config import GEMM_DTYPES, KV_DTYPES, MOE_DTYPES, Quant, SearchSpace
    from costmodel.config import SurfaceRequest, context_tokens, mtp_settings, token_budget, workload_of
    from costmodel.datacheck import verify_data
    from costmodel.engines import engine_rules
    from costmodel.errors import CostModelError, UnknownModelError, UnsupportedModelError
    from costmodel.feasibility import (
        WeightFit,
        default_kv_cache,
        moe_kernel_dtypes,
        priced_moe_kernel,
        priced_quant,
        weight_fit,
    )
    from costmodel.files import BadInputFileError, file_kind, is_regular, read_bytes
    from costmodel.importer.run import import_all
    from costmodel.latency import PERCENTILES, percentile_index
    from costmodel.layout_rules import NoLayout, WorkerCap, layouts, why_no_layout, worker_cap
    from costmodel.memory import KV_MEMORY_FRACTION
    from costmodel.opdb import MissingDataError
    from costmodel.paths import DataNotFoundError, data_dir, measurement_sample
    from costmodel.plausibility import gemm_warnings
    from costmodel.recipe import ROLES, Recipe
    from costmodel.shipped import BACKENDS, SYSTEMS
    from costmodel.surface import Candidates, Surfaces, agg_metrics, disagg_metrics
    from costmodel.system import UnknownSystemError, list_systems, load_system, node_size
    from costmodel.tables import CorruptDataError, load_table
    from costmodel.validate import COLUMNS as MEASUREMENT_COLUMNS
    from costmodel.validate import BadCsvError, predict_row, read_rows
    from costmodel.scoring import as_json as scores_json
    from costmodel.scoring import render as render_scores
    from costmodel.scoring import score as score_predictions
    from costmodel.workload import Arrival, Workload, WorkloadError, read_trace
    from costmodel.workload import fixed as fixed_lengths
    from costmodel.workload import histogram as histogram_lengths
    from costmodel.workload import lognormal as lognormal_lengths
