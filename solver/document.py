"""The one-model `--json` document, assembled in one place: the CLI prints it, the web app returns it and the
bundle writes it as result.json (solver.pipeline re-exports both functions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from solver.result import SolveResult
from solver.spec import Spec


def summary(spec: Spec, notes: Sequence[str]) -> dict[str, Any]:
    """The document's "input": the spec's summary (Spec.summary) and the cost model's notes."""
    return {**spec.summary(), "notes": list(notes)}


def document(spec: Spec, result: SolveResult, notes: Sequence[str]) -> dict[str, Any]:
    """The `--json` document: {"input": summary(spec, notes), **result.to_dict()}."""
    return {"input": summary(spec, notes), **result.to_dict()}
