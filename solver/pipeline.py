"""The one-model pipeline, written once for the CLI, the web app and the exporters:

    price(spec) -> Problem          the cost model over the spec's candidate grid (the slow part: seconds)
    run(problem) -> SolveResult     agg from the rows, disagg by CP-SAT (solver.optimize), each point re-verified
    document(spec, result, notes)   the `--json` document: {"input": the spec's summary and the cost model's
                                    notes, **result.to_dict()}; the bundle's result.json is the same document

A spec comes from solver.spec (load_spec, spec_from_dict); the CLI reports progress between price and run,
the web app calls solve (both at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from solver.problem import Problem
from solver.result import SolveResult
from solver.spec import Spec, to_problem


@dataclass(frozen=True)
class Solved:
    """One solve of a spec: the problem it priced and the solver's result."""

    spec: Spec
    problem: Problem
    result: SolveResult

    @property
    def notes(self) -> tuple[str, ...]:
        """What the cost model assumed or fell back on while pricing (printed as `note:` lines)."""
        return tuple(self.problem.surfaces.notes)

    def document(self) -> dict[str, Any]:
        """The `--json` document of this solve."""
        return document(self.spec, self.result, self.notes)


def price(spec: Spec) -> Problem:
    """The solver's problem: the cost model's surfaces over the spec's layouts x batch sizes, and its rules."""
    from costmodel import build_surfaces

    return to_problem(spec, build_surfaces(spec.request))


def run(problem: Problem) -> SolveResult:
    """The best deployment per mode, the Pareto fronts and the top list (solver.optimize.solve)."""
    from solver.optimize import solve as optimize

    return optimize(problem)


def solve(spec: Spec) -> Solved:
    """price then run."""
    problem = price(spec)
    return Solved(spec, problem, run(problem))


def summary(spec: Spec, notes: Sequence[str]) -> dict[str, Any]:
    """The document's "input": the spec's summary (Spec.summary) and the cost model's notes."""
    return {**spec.summary(), "notes": list(notes)}


def document(spec: Spec, result: SolveResult, notes: Sequence[str]) -> dict[str, Any]:
    """The `--json` document: {"input": summary(spec, notes), **result.to_dict()}."""
    return {"input": summary(spec, notes), **result.to_dict()}
