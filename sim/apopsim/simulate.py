"""One cell, from the library API: pre-equilibrate untreated, then treat."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from apopsim.engine.backends import integrator_for
from apopsim.engine.compiler import compile_model
from apopsim.engine.options import PreequilibrationOptions, SolverOptions
from apopsim.engine.segments import Schedule, integrate_segments
from apopsim.engine.steady_state import preequilibrate, untreated_parameters
from apopsim.engine.trajectory import Trajectory
from apopsim.model import Model


def simulate(
    model: Model,
    times_h: Iterable[float],
    doses_nM: Mapping[str, float] | None = None,
    schedule: Schedule | None = None,
    *,
    solver: SolverOptions | None = None,
    preequilibration: PreequilibrationOptions | None = None,
    y0: np.ndarray | None = None,
    parameters: Mapping[str, float] | None = None,
    **solver_kwargs,
) -> Trajectory:
    """Simulate one cell.

    Parameters
    ----------
    model
        A loaded model (:func:`apopsim.load_model`).
    times_h
        Output times in hours after treatment start (non-decreasing, >= 0). The run ends at the
        last one.
    doses_nM
        Drug concentrations in nM from ``t = 0`` h, keyed by drug name, alias or model symbol.
    schedule
        Extra changes ``(time_h, {drug_or_parameter: value})`` during the run; drug values in nM.
        A drug named in the schedule but not in ``doses_nM`` starts at 0 nM.
    solver
        :class:`SolverOptions`; or pass ``engine=``, ``method=``, ``rtol=``, ``atol=`` directly.
    preequilibration
        :class:`PreequilibrationOptions` (default: enabled). The untreated steady state is
        computed with every drug input at 0 nM.
    y0
        Initial state (amounts) to start from, instead of the model's initial values.
    parameters
        Parameter overrides (model units) applied for pre-equilibration and treatment.

    Returns
    -------
    Trajectory
        Concentrations in nM at ``times_h``.
    """
    solver = solver or SolverOptions(**solver_kwargs)
    pre = preequilibration or PreequilibrationOptions()
    times = np.asarray(list(times_h), dtype=float)
    if times.size == 0 or np.any(times < 0) or np.any(np.diff(times) < 0):
        raise ValueError("times_h must be a non-empty, non-decreasing list of hours >= 0")
    cm = compile_model(model)
    integrator = integrator_for(cm, solver)
    base = {**dict(parameters or {}), **untreated_parameters(model)}
    y = np.array(model.initial if y0 is None else y0, dtype=float)
    pre_h = 0.0
    if pre.enabled:
        y, pre_h = preequilibrate(cm, solver, y, cm.param_vector(base), pre)
    from apopsim.library import catalogue  # drug names -> model inputs: the catalogue's job

    resolve = catalogue().resolve
    treated = {**dict(parameters or {}), **resolve(model, doses_nM)}
    sched = [(t, resolve(model, c)) for t, c in schedule or ()]
    return integrate_segments(cm, integrator, y, {**base, **treated}, sched, times,
                              meta={"preequilibration_h": pre_h})
