"""Run one CP-SAT solve deterministically and read the unit back (extraction is separate from building)."""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

from solver.constraints import ROLES
from solver.disagg_model import Unit, UnitModel

# One worker: CP-SAT's portfolio with several workers races threads, so answers could vary.
NUM_WORKERS = 1


@dataclass(frozen=True)
class Outcome:
    """Status name, the unit found (None when none) and whether the status is a proof."""

    status: str
    unit: Unit | None
    objective: int | None

    @property
    def proven(self) -> bool:
        """OPTIMAL or INFEASIBLE: the solver finished its search."""
        return self.status in ("OPTIMAL", "INFEASIBLE")


def run(um: UnitModel, time_limit_s: float, seed: int) -> Outcome:
    """Solve with a fixed seed, one worker and a time limit; map the status to its name."""
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers = NUM_WORKERS
    p.random_seed = seed
    p.max_time_in_seconds = max(time_limit_s, 1e-3)
    # Dual presolve would relax thr == min(rates) to thr <= rates (thr is only maximized); the
    # search then raises that slack one unit per "improving" solution and never finishes.
    p.keep_all_feasible_solutions_in_presolve = True
    status = solver.solve(um.model)
    name = solver.status_name(status)
    if status == cp_model.MODEL_INVALID:
        raise RuntimeError(f"invalid CP-SAT model: {um.model.validate()}")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Outcome(name, None, None)
    obj = int(round(solver.objective_value)) if um.model.has_objective() else None
    return Outcome(name, extract(um, solver), obj)


def extract(um: UnitModel, solver: cp_model.CpSolver) -> Unit:
    """The chosen rows and worker counts; rate and GPUs recomputed exactly from them."""
    rows, workers, rates, gpus = [], [], [], 0
    for role in ROLES["disagg"]:
        k = next(i for i, b in enumerate(um.use[role]) if solver.boolean_value(b))
        w = int(solver.value(um.count[role]))
        rows.append(int(um.index[role][k]))
        workers.append(w)
        rates.append(w * int(um.rate[role][k]))
        gpus += w * int(um.tables[role].gpus[k])
    return Unit(rows=(rows[0], rows[1]), workers=(workers[0], workers[1]), thr=min(rates), gpus=gpus)
