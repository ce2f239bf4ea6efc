"""Chunks of work and what each cell ends with: pre-equilibrate a block of cells, treat a block
under one condition; one :class:`Fate` per cell and condition."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from apopsim.engine import (
    PreequilibrationOptions,
    SolverOptions,
    ThresholdEvent,
    compile_model,
    get_backend,
    integrate_segments,
    integrate_segments_many,
    integrator_for,
    preequilibrate_many,
)
from apopsim.engine.auto import single_cell_options
from apopsim.errors import SimulationError
from apopsim.model import Model


class Fate(enum.IntEnum):
    """What became of one cell under one condition (stored as ``int8`` arrays).

    ``DIED``: died during the run (time of death known). ``SURVIVED``: alive at the end of the
    run. ``DEAD_UNTREATED``: already dead in its own untreated steady state, so not a live cell at
    treatment start (excluded from fractions). ``FAILED``: its simulation failed (pre-equilibration
    or treatment, after a retry); excluded from fractions and reported.
    """

    DIED = 0
    SURVIVED = 1
    DEAD_UNTREATED = 2
    FAILED = 3

    @property
    def label(self) -> str:
        """Lower-case name as written to ``deaths.csv``: ``died``, ``survived``,
        ``dead_untreated`` or ``failed``."""
        return self.name.lower()


#: Fate labels indexed by :class:`Fate` value (``FATE_LABELS[Fate.DIED] == "died"``).
FATE_LABELS: tuple[str, ...] = tuple(f.label for f in Fate)


@dataclass(frozen=True)
class PreeqTask:
    """Pre-equilibrate a block of cells (untreated)."""

    model: Model
    solver: SolverOptions
    preeq: PreequilibrationOptions
    param_names: tuple[str, ...]
    param_values: np.ndarray  # (n, p)
    species_idx: tuple[int, ...]
    species_values: np.ndarray  # (n, s) amounts
    untreated: dict[str, float]
    cells: tuple[int, ...]


@dataclass(frozen=True)
class TreatTask:
    """Treat a block of pre-equilibrated cells under one condition."""

    model: Model
    solver: SolverOptions
    param_names: tuple[str, ...]
    param_values: np.ndarray  # (n, p)
    y0: np.ndarray  # (n, n_state)
    doses: dict[str, float]  # model symbol -> nM at t = 0
    schedule: tuple[tuple[float, dict[str, float]], ...]
    times: np.ndarray
    readouts: tuple[str, ...]
    event: ThresholdEvent  # the death rule: variable, threshold, direction, after
    condition: int
    cells: tuple[int, ...]


@dataclass
class PreeqResult:
    cells: tuple[int, ...]
    y0: np.ndarray
    errors: dict[int, str]


@dataclass
class TreatResult:
    condition: int
    cells: tuple[int, ...]
    fate: np.ndarray  # (n_cells,) int8 Fate values
    death_h: np.ndarray  # time of death (h after treatment); NaN unless fate is DIED
    traces: np.ndarray  # (n_cells, n_readouts, n_times) float64 (full precision)
    errors: dict[int, str]
    retried: int = 0


def run_preeq_task(task: PreeqTask) -> PreeqResult:
    """Pre-equilibrate the cells of ``task`` together (:func:`~apopsim.engine.
    preequilibrate_many`: one batched solver call per window, cells in parallel threads on the
    numba engine); failures are recorded per cell."""
    cm = compile_model(task.model)
    y0 = np.tile(task.model.initial, (len(task.cells), 1))
    y0[:, list(task.species_idx)] = task.species_values
    errors: dict[int, str] = {}
    if not task.preeq.enabled or not task.cells:
        return PreeqResult(task.cells, y0, errors)
    ps = np.array([cm.param_vector({**dict(zip(task.param_names, task.param_values[i])),
                                    **task.untreated}) for i in range(len(task.cells))])
    y0, _, errs = preequilibrate_many(cm, task.solver, y0, ps, task.preeq)
    for cell, err in zip(task.cells, errs):
        if err is not None:
            errors[cell] = f"pre-equilibration: {err}"
    return PreeqResult(task.cells, y0, errors)



def record_cell(tr: Any, event: Any, readouts: Sequence[str], i: int, fate: np.ndarray,
                death: np.ndarray, traces: np.ndarray) -> None:
    """Fill row ``i`` of a block's results from cell ``i``'s treatment trajectory ``tr``: dead
    untreated if the death rule ``event`` already holds at t = 0 (not a live cell: no traces),
    else died at the located crossing (h) or survived, and its ``readouts`` traces."""
    if event.crossed(tr[event.variable][0]):
        fate[i] = Fate.DEAD_UNTREATED
        return
    crossing = tr.meta["crossing_h"]
    if np.isfinite(crossing):
        fate[i], death[i] = Fate.DIED, crossing
    else:
        fate[i] = Fate.SURVIVED
    for j, name in enumerate(readouts):
        traces[i, j] = tr[name]

def run_treat_task(task: TreatTask) -> TreatResult:
    """Treat the cells of ``task`` together (:func:`~apopsim.engine.integrate_segments_many`:
    one batched solver call per schedule segment, cells in parallel threads on the numba
    engine); each cell whose solver fails is retried once alone under the back end's retry
    policy (numba: scipy BDF at rtol / 100), then recorded as failed."""
    cm = compile_model(task.model)
    solver = single_cell_options(task.solver)  # an unresolved "auto" runs scipy
    integ = integrator_for(cm, solver)
    retry_solver = get_backend(solver.engine).retry_options(solver)
    n, nt = len(task.cells), len(task.times)
    death = np.full(n, np.nan)
    fate = np.full(n, Fate.FAILED, dtype=np.int8)
    traces = np.full((n, len(task.readouts), nt), np.nan)
    errors: dict[int, str] = {}
    retried = 0

    ok = [i for i in range(n) if np.all(np.isfinite(task.y0[i]))]
    errors.update({task.cells[i]: "not pre-equilibrated" for i in range(n) if i not in ok})
    values = [{**dict(zip(task.param_names, task.param_values[i])), **task.doses} for i in ok]
    # every cell at once (cells in parallel threads on the numba engine), then the failed ones
    # one by one under the back end's retry policy
    first = integrate_segments_many(cm, integ, task.y0[ok], values, list(task.schedule),
                                    task.times, event=task.event)
    for i, vals, tr in zip(ok, values, first):
        cell = task.cells[i]
        if isinstance(tr, str):
            retried += 1
            try:
                tr = integrate_segments(cm, integrator_for(cm, retry_solver), task.y0[i], vals,
                                        list(task.schedule), task.times, event=task.event)
            except SimulationError as exc:
                errors[cell] = str(exc)
                continue
        record_cell(tr, task.event, task.readouts, i, fate, death, traces)
    return TreatResult(task.condition, task.cells, fate, death, traces, errors, retried)
