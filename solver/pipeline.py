"""The one-model pipeline, written once for the CLI, the web app and the exporters:

    load(path) -> Spec | Cluster    a spec file read and validated (a Cluster: deployments, pools or a demand)
    price(spec) -> Problem          the cost model over the spec's candidate grid (the slow part: seconds)
    run(problem) -> SolveResult     agg from the rows, disagg by CP-SAT (solver.optimize), each point re-verified
    document(spec, result, notes)   the `--json` document: {"input": the spec's summary and the cost model's
                                    notes, **result.to_dict()}; the bundle's result.json is the same document

The CLI reports progress between price and run; the web app calls solve (both at once). A one-model spec
never passes through solver.cluster; a cluster spec goes on to solver.cluster.solve.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from solver.problem import Problem
from solver.result import SolveResult
from solver.document import document, summary  # noqa: F401  (part of this module's API)
from solver.spec import Spec, is_cluster, read_raw, spec_from_raw, to_problem

if TYPE_CHECKING:
    from solver.cluster.problem import Cluster


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


def load(
    path: str | os.PathLike[str] | None, overrides: Sequence[str] = (), flags: dict[str, Any] | None = None
) -> Spec | Cluster:
    """A spec file (None: flags only) with the CLI's flags and --set overrides applied, validated: a one-model
    Spec, or a Cluster when it has deployments, pools or a demand (solver.spec.is_cluster). UserError on any
    mistake."""
    raw, where, base = read_raw(path, tuple(overrides), flags)
    if is_cluster(raw):
        from solver.cluster.spec import cluster_from_raw

        return cluster_from_raw(raw, where, base)
    return spec_from_raw(raw, source=where.source, base_dir=base, where=where)


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
