"""One cell, by drug name: pre-equilibrate the untreated cell, then treat it.

The bridge between the biology (drug names and aliases from the catalogue, drug inputs of a
model) and the engine, which only knows parameters and states.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from apopsim.engine import (
    PreequilibrationOptions,
    Schedule,
    SolverOptions,
    Trajectory,
    compile_model,
    integrate_segments,
    integrator_for,
    preequilibrate,
)
from apopsim.model import Model


def untreated_parameters(model: Model) -> dict[str, float]:
    """Parameter overrides that set every drug input of ``model`` to 0 nM."""
    return {k: 0.0 for k in model.drug_inputs}


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
    add_nM: Mapping[str, float] | None = None,
    clamp_nM: Mapping[str, float] | None = None,
    serum_percent: float = 10.0,
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
    add_nM
        Species -> concentration (nM) added to the pre-equilibrated cell at ``t = 0`` (a ligand
        that pre-equilibration would otherwise consume).
    clamp_nM
        Species -> concentration (nM) held from ``t = 0`` to the end (rate of change zero).
    serum_percent
        Serum in the medium, % FBS: doses are total concentrations, the model sees the free
        concentration (``models/drugs.yaml``, exposure). Default 10 %.

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
    from apopsim.library import catalogue

    def resolve(m: Model, doses: Mapping[str, float] | None) -> dict[str, float]:
        return catalogue().resolve(m, doses, serum_percent=serum_percent)

    treated = {**dict(parameters or {}), **resolve(model, doses_nM)}
    sched = [(t, resolve(model, c)) for t, c in schedule or ()]
    if add_nM or clamp_nM:
        from apopsim.inputs import apply_species, clamp_model

        species = {**{k: ("add", float(v)) for k, v in (add_nM or {}).items()},
                   **{k: ("clamp", float(v)) for k, v in (clamp_nM or {}).items()}}
        bad = [k for k, (_, v) in species.items() if k not in model.state or v < 0]
        if bad:
            raise ValueError(f"add_nM / clamp_nM: {', '.join(map(repr, bad))} must be species "
                             f"of model {model.name!r} with values >= 0 nM")
        y = apply_species(model, y[None, :], species)[0]
        if clamp_nM:
            cm = compile_model(clamp_model(model, list(clamp_nM)))
            integrator = integrator_for(cm, solver)
    return integrate_segments(cm, integrator, y, {**base, **treated}, sched, times,
                              meta={"preequilibration_h": pre_h})
