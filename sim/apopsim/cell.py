"""One cell, by drug name: pre-equilibrate the untreated cell, then treat it.

The bridge between the biology (drug names and aliases from the catalogue, drug inputs of a
model) and the engine, which only knows parameters and states.

Treatment runs on the compiled engine, or on the event integrator (:func:`simulate_events`) for
a model with SBML events or without ODE states and for species changed during the run (a bolus
after ``t = 0``, a clamp that starts or ends): there the model's events, the schedule and the
death rule are all SBML events, located by root finding
(:func:`apopsim.engine.sbml_events.simulate_sbml`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

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
from apopsim.engine.options import ThresholdEvent
from apopsim.model import Model

#: A change of a species during the run: ``(action, nM)`` with action ``"add"`` (the amount is
#: added), ``"set"`` (set to the concentration), ``"clamp"`` (set, then held: rate of change
#: zero) or ``"release"`` (a clamp ends; with a value, the species is also set to it, e.g. 0 nM
#: for a washout; with ``None`` it keeps its value).
SpeciesAction = tuple[str, float | None]
#: Species changes during the run: ``(time_h, {species: SpeciesAction})``.
SpeciesSchedule = Sequence[tuple[float, Mapping[str, SpeciesAction]]]
SPECIES_ACTIONS = ("add", "set", "clamp", "release")

#: Parameters the event path adds to the model (a model may not use these names).
ALIVE, DEATH_H, DIED, CLAMP_PREFIX = ("apopsim_alive", "apopsim_death_h", "apopsim_died",
                                      "apopsim_clamp_")


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
    species_schedule: SpeciesSchedule = (),
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
        Species -> concentration (nM) held from ``t = 0`` (rate of change zero) until a
        ``release`` in ``species_schedule``, else to the end.
    species_schedule
        Species changes during the run, ``(time_h, {species: (action, nM)})``
        (:data:`SpeciesSchedule`): a bolus (``add``), ``set``, ``clamp`` (held from then) or
        ``release`` (a clamp ends). Entries after ``t = 0`` run the cell on the event
        integrator (:func:`simulate_events`; scipy LSODA only), as do models with SBML events
        or without ODE states (these are not pre-equilibrated: a model with SBML events needs
        ``PreequilibrationOptions(enabled=False)``).
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
    species_schedule = [(float(t), dict(c)) for t, c in species_schedule]
    bad = sorted({k for _, c in species_schedule for k, (a, v) in c.items()
                  if k not in model.state or a not in SPECIES_ACTIONS
                  or (v is not None and not v >= 0)})
    if bad or any(t < 0 for t, _ in species_schedule):
        raise ValueError(f"species_schedule: {', '.join(map(repr, bad)) or 'a time'} must be "
                         f"species of model {model.name!r}, actions {SPECIES_ACTIONS}, values "
                         ">= 0 nM, times >= 0 h")
    events = needs_event_path(model, species_schedule)
    problems = event_path_problems(model, solver, pre, species_schedule)
    if problems:
        raise ValueError("; ".join(m for _, m in problems))
    base = {**dict(parameters or {}), **untreated_parameters(model)}
    y = np.array(model.initial if y0 is None else y0, dtype=float)
    pre_h = 0.0
    if pre.enabled and compiled_engine_runs(model):
        cm = compile_model(model)
        y, pre_h = preequilibrate(cm, solver, y, cm.param_vector(base), pre)
    from apopsim.library import catalogue

    def resolve(m: Model, doses: Mapping[str, float] | None) -> dict[str, float]:
        return catalogue().resolve(m, doses, serum_percent=serum_percent)

    treated = {**dict(parameters or {}), **resolve(model, doses_nM)}
    sched = [(t, resolve(model, c)) for t, c in schedule or ()]
    if add_nM or clamp_nM:
        from apopsim.inputs import apply_species

        species = {**{k: ("add", float(v)) for k, v in (add_nM or {}).items()},
                   **{k: ("clamp", float(v)) for k, v in (clamp_nM or {}).items()}}
        bad = [k for k, (_, v) in species.items() if k not in model.state or v < 0]
        if bad:
            raise ValueError(f"add_nM / clamp_nM: {', '.join(map(repr, bad))} must be species "
                             f"of model {model.name!r} with values >= 0 nM")
        y = apply_species(model, y[None, :], species)[0]
    if events:
        return simulate_events(model, y, {**base, **treated}, sched, times,
                               species_schedule=species_schedule, solver=solver,
                               clamped=list(clamp_nM or ()), meta={"preequilibration_h": pre_h})
    cm = compile_model(model)
    integrator = integrator_for(cm, solver)
    if clamp_nM:
        from apopsim.inputs import clamp_model

        cm = compile_model(clamp_model(model, list(clamp_nM)))
        integrator = integrator_for(cm, solver)
    return integrate_segments(cm, integrator, y, {**base, **treated}, sched, times,
                              meta={"preequilibration_h": pre_h})


# ====================================================================== the event path
def needs_event_path(model: Model, species_schedule: SpeciesSchedule = ()) -> bool:
    """True if a treatment must run through the event integrator
    (:func:`simulate_events`) instead of the compiled engine: the model has SBML events, no ODE
    state or compartments whose size a rule changes, or a species is changed by a schedule
    (``species_schedule`` has an entry)."""
    return (not compiled_engine_runs(model)
            or any(change for _, change in species_schedule))


def compiled_engine_runs(model: Model) -> bool:
    """True if the compiled engine can integrate ``model`` (and so pre-equilibrate it): it has
    ODE states, no SBML events and no compartment whose size a rule changes."""
    return bool(model.state) and not model.events and not getattr(
        model, "variable_compartments", ())


def event_path_problems(model: Model, solver: SolverOptions,
                        preequilibration: PreequilibrationOptions,
                        species_schedule: SpeciesSchedule = (),
                        holds_at_death: bool = False) -> list[tuple[str, str]]:
    """``(field, message)`` for each setting the event path cannot honour for ``model`` (empty
    if none, or if the model runs on the compiled engine): only the scipy engine's LSODA runs
    it (events are root-found on its dense output); a model with SBML events is simulated from
    its own initial state (pre-equilibration would have to integrate without its events); a
    dead cell's values cannot be held (``holds_at_death``: the death rule freezes or stops)
    while delayed SBML events queued before the death could still execute after it."""
    if not needs_event_path(model, species_schedule):
        return []
    why = (f"SBML event{'s' if len(model.events) > 1 else ''} "
           f"{', '.join(repr(e.id) for e in model.events)}" if model.events else
           "no ODE state variable" if not model.state else
           "compartments whose size a rule changes" if getattr(
               model, "variable_compartments", ()) else
           "a species input changed during the run")
    out = []
    if solver.engine not in ("scipy", "auto") or solver.method not in ("LSODA", None):
        out.append(("solver", f"model {model.name!r} has {why}: it runs on the event "
                    "integrator (scipy LSODA, events located by root finding); engine "
                    f"{solver.engine!r} method {solver.method!r} cannot honour it: set "
                    "solver: {engine: scipy} (method LSODA)"))
    if (model.events or getattr(model, "variable_compartments", ())) \
            and model.state and preequilibration.enabled:
        out.append(("preequilibration", f"model {model.name!r} has {why}: pre-equilibration "
                    "would integrate it without its events; set preequilibration: "
                    "{enabled: false} (the run starts from the model's initial state)"))
    delayed = [e.id for e in model.events if getattr(e, "delay", None) is not None]
    if holds_at_death and delayed:
        out.append(("population", f"model {model.name!r} has delayed SBML event(s) "
                    f"{', '.join(map(repr, delayed))}: an execution queued before a cell's death "
                    "would still change it after, so its values cannot be held at death; set "
                    "population: {stop_at_death: false} (deaths are still recorded)"))
    reserved = [k for k in (*model.parameters, *model.state)
                if k in (ALIVE, DEATH_H, DIED) or k.startswith(CLAMP_PREFIX)]
    if reserved:
        out.append(("model", f"model {model.name!r} uses the reserved name(s) "
                    f"{', '.join(map(repr, reserved))}"))
    return out


def _event_model(model: Model, y0: np.ndarray, values: Mapping[str, float],
                 schedule: Schedule, species_schedule: SpeciesSchedule, t_end: float,
                 event: ThresholdEvent | None, clamped: Iterable[str]) -> Model:
    """``model`` with the treatment written as SBML events (all located by root finding):
    parameter changes and species changes at their times, the death rule as an event that
    records its time (parameter :data:`DEATH_H`) and, unless the rule only records, switches
    every rate off (parameter :data:`ALIVE`: a dead cell's values are held from the crossing
    and the model's own events no longer fire). Clamped species get a rate of change
    ``(1 - clamp flag) x`` their own, so a clamp can start and end during the run."""
    import sympy as sp

    from apopsim.model import TIME, SbmlEvent

    hold = event is not None and event.after != "continue"
    clamped = set(clamped)
    toggled = sorted(clamped | {s for _, ch in species_schedule for s, (a, _) in ch.items()
                                if a in ("clamp", "release")})
    params = {**model.parameters, **{k: float(v) for k, v in values.items()},
              ALIVE: 1.0, DEATH_H: math.inf, DIED: 0.0,
              **{CLAMP_PREFIX + s: float(s in clamped) for s in toggled}}
    alive = sp.Symbol(ALIVE)
    reactions = tuple(replace(r, rate=r.rate * alive) for r in model.reactions)
    rules = {k: e * alive for k, e in model.rate_rules.items()}
    n = model.stoichiometry
    for s in toggled:
        i = model.state.index(s)
        if s in rules:
            net = rules[s]
        else:  # the reactions' net rate (amount/h) as a concentration rate (nM/h)
            net = sp.Add(*[sp.Float(float(n[i, j])) * reactions[j].rate
                           for j in np.nonzero(n[i])[0]])
            comp = model.species_compartment.get(s)
            if comp is not None and s not in model.only_substance:
                net = net / sp.Symbol(comp)
        rules[s] = (1 - sp.Symbol(CLAMP_PREFIX + s)) * net

    def guard(trigger):
        return sp.And(trigger, sp.Gt(alive, 0.5)) if hold else trigger

    assignment_rules = model.assignment_rules
    if hold:  # rules of time stop at the death too: time is held at the crossing for them
        held_time = sp.Min(TIME, sp.Symbol(DEATH_H))
        assignment_rules = {k: e.xreplace({TIME: held_time})
                            for k, e in model.assignment_rules.items()}

    events = [replace(ev, trigger=guard(ev.trigger)) for ev in model.events]
    changes: dict[float, dict[str, sp.Expr]] = {}
    for t, change in schedule or ():
        if 0 < t < t_end:
            changes.setdefault(float(t), {}).update(
                {k: sp.Float(float(v)) for k, v in change.items()})
    for t, change in species_schedule:
        if not 0 < t < t_end:
            continue
        out = changes.setdefault(float(t), {})
        for s, (action, conc) in change.items():
            if action not in SPECIES_ACTIONS:
                raise ValueError(f"unknown species action {action!r} for {s!r}")
            if action == "add":
                out[s] = sp.Symbol(s) + sp.Float(float(conc or 0.0))
            elif conc is not None:
                out[s] = sp.Float(float(conc))
            if action in ("clamp", "release"):
                out[CLAMP_PREFIX + s] = sp.Float(1.0 if action == "clamp" else 0.0)
    for k, (t, assign) in enumerate(sorted(changes.items())):
        events.append(SbmlEvent(f"apopsim_schedule_{k}", guard(sp.Ge(TIME, sp.Float(t))),
                                False, assign))
    if event is not None:
        v, thr = sp.Symbol(event.variable), sp.Float(event.threshold)
        crossed = sp.Gt(v, thr) if event.direction == "up" else sp.Lt(v, thr)
        assign = {DEATH_H: TIME, DIED: sp.Float(1.0)}
        if hold:
            assign[ALIVE] = sp.Float(0.0)
        events.append(SbmlEvent("apopsim_death", sp.And(crossed, sp.Lt(sp.Symbol(DIED), 0.5)),
                                False, assign))
    return replace(model, parameters=params, initial=np.array(y0, dtype=float),
                   reactions=reactions, rate_rules=rules, assignment_rules=assignment_rules,
                   events=tuple(events))


def simulate_events(model: Model, y0: np.ndarray, values: Mapping[str, float],
                    schedule: Schedule, times: np.ndarray, *,
                    species_schedule: SpeciesSchedule = (), solver: SolverOptions | None = None,
                    event: ThresholdEvent | None = None, clamped: Iterable[str] = (),
                    meta: dict | None = None) -> Trajectory:
    """Treat one cell on the event integrator
    (:func:`apopsim.engine.sbml_events.simulate_sbml`: LSODA, every event located by root
    finding on the step's dense output, never stepped over).

    The model's SBML events, the parameter ``schedule`` (``(time_h, {parameter: value})``),
    the ``species_schedule`` (:data:`SpeciesSchedule`, nM) and the death rule ``event`` all
    run as events. ``y0``: the state at ``t = 0`` (amounts; species inputs at ``t = 0`` already
    applied, ``clamped`` species set to their held value); ``values``: parameter values from
    ``t = 0`` (model units, drug inputs in nM); ``times``: output times (h), the last ends the
    run. The event's time is ``meta["crossing_h"]`` (``inf`` if never); with ``after`` freeze
    or stop, every value is held from the crossing itself (the compiled engine's freeze lets a
    cell run on to the freeze band first). Same :class:`Trajectory` as
    :func:`~apopsim.engine.integrate_segments`.
    """
    from apopsim.engine.sbml_events import simulate_sbml

    solver = solver or SolverOptions()
    times = np.asarray(times, dtype=float)
    y0, clamped = np.array(y0, dtype=float), set(clamped)
    values = dict(values)
    for t, change in schedule or ():  # parameter changes at t = 0 are starting values
        if t <= 0:
            values.update(change)
    for t, change in species_schedule:  # changes at t = 0 act on the starting state
        if t > 0:
            continue
        for s, (action, conc) in change.items():
            if action in ("clamp", "release"):
                (clamped.add if action == "clamp" else clamped.discard)(s)
            if conc is None:
                continue
            comp = model.species_compartment.get(s)
            size = 1.0 if comp is None or s in model.only_substance else \
                float(values.get(comp, model.parameters[comp]))
            i = model.state.index(s)
            y0[i] = y0[i] + conc * size if action == "add" else conc * size
    m2 = _event_model(model, y0, values, schedule, species_schedule, float(times[-1]), event,
                      clamped)
    res = simulate_sbml(m2, times, rtol=solver.rtol, atol=solver.atol)
    names = model.state + tuple(model.assignment_rules)
    values_arr = np.column_stack([res[k] for k in names]) if names else np.empty((len(times), 0))
    final = np.array([res[s][-1] * (res[c][-1] if (c := model.species_compartment.get(s))
                                    and s not in model.only_substance else 1.0)
                      for s in model.state])
    return Trajectory(times, names, values_arr,
                      dict(meta or {}, final_state=final, crossing_h=float(res[DEATH_H][-1])))
